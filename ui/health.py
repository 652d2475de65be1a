"""``/healthz``: what ward IT needs to see at a glance: database, card reader, payments, the
ticket printer (when one is configured: asked within about a second); the trust
configuration of the genuine-card checks; and the offline voice (reported, but optional:
without it the board only chimes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, jsonify, redirect, url_for
from sqlalchemy import text

from ui.services import current_services
from ui.voice import health as voice

bp = Blueprint("health", __name__)


def _database() -> dict[str, Any]:
    engine = current_services().engine
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as e:  # noqa: BLE001 - any failure is what this endpoint reports
        return {"ok": False, "backend": engine.url.get_backend_name(), "error": type(e).__name__}
    return {"ok": True, "backend": engine.url.get_backend_name()}


def _card_reader() -> dict[str, Any]:
    services = current_services()
    status = services.card_reader.status()
    kind = services.settings.card_reader
    report: dict[str, Any] = {
        "ok": status.reader_present,
        "kind": kind,
        "reader": status.reader_name,
        "reader_present": status.reader_present,
        "card_present": status.card_present,
    }
    rig = services.simulation.reader if services.simulation is not None else None
    if rig is not None:
        report["simulated_persona"] = rig.persona.key if rig.persona else None
    return report


# A ward's CRL download runs daily: a CRL this close to its next update is worth a warning.
CRL_WARNING_AHEAD = timedelta(days=1)


def _card_trust(now: datetime | None = None) -> dict[str, Any]:
    """Which chains are configured (and from where), what the ward requires, the JPKI CRLs'
    next updates. Not ok when procedures need the JPKI check and a CRL is past its next
    update: every JPKI check then fails (revocation unknown) until a current one is
    configured and the service restarted."""
    services = current_services()
    trust, policy = services.card_trust, services.card_policy
    now = now or datetime.now(UTC)
    wanting = [spec.code for spec in services.catalog.procedures if spec.jpki_check]
    jpki_needed = policy.jpki_everywhere or bool(wanting)
    warnings: list[str] = []
    crls = None
    stale = False
    if trust.jpki_crls is not None:
        crls = []
        for crl in trust.jpki_crls:
            issuer = crl.issuer.rfc4514_string()
            next_update = crl.next_update_utc
            current = next_update is not None and crl.last_update_utc <= now <= next_update
            crls.append(
                {
                    "issuer": issuer,
                    "next_update": next_update.isoformat() if next_update else None,
                    "current": current,
                }
            )
            if not current:
                stale = True
                warnings.append(
                    f"the JPKI CRL of {issuer} is not current (next update "
                    f"{next_update.isoformat() if next_update else 'none'}): JPKI checks fail "
                    "until a current CRL is configured (KIOSK_JPKI_CRL) and the service restarted"
                )
            elif next_update is not None and next_update - now < CRL_WARNING_AHEAD:
                warnings.append(
                    f"the JPKI CRL of {issuer} is due for renewal at {next_update.isoformat()}"
                )
    elif jpki_needed:
        warnings.append("KIOSK_JPKI_CRL is not set: the JPKI check cannot see revoked certificates")
    return {
        "ok": not (stale and jpki_needed),
        "source": services.card_trust_source,
        "required": list(policy.required),
        # Which visits ask for the JPKI PIN: every one (KIOSK_CARD_CHECKS has jpki), or
        # those with these procedures (jpki_check = true in the catalog).
        "jpki_check_everywhere": policy.jpki_everywhere,
        "jpki_check_procedures": wanting,
        "card_chain": {"configured": bool(trust.cvc_keys), "keys": len(trust.cvc_keys)},
        "jpki_chain": {
            "configured": bool(trust.jpki_anchors),
            "anchors": len(trust.jpki_anchors),
            "crls": crls,
        },
        "warnings": warnings,
    }


def _payments() -> dict[str, Any]:
    services = current_services()
    provider, reconciler = services.payments, services.reconciler
    running = reconciler is not None and reconciler.running
    return {"ok": running, "provider": provider.name, "reconciler_running": running}


def _printer() -> dict[str, Any] | None:
    """The ticket printer, asked now (at most about 1.5 s), or None without one. Paper out,
    cover open, offline or no answer make it not ok: the kiosk still gives tickets on the
    screen, but staff must look at it."""
    services = current_services()
    printer = services.printer
    if printer is None:
        return None
    return {**printer.health().to_json(), "printer": printer.name}


@bp.get("/")
def home() -> Any:
    """The service's root is the resident kiosk (what a kiosk browser opens)."""
    return redirect(url_for("kiosk.welcome"))


@bp.get("/healthz")
def healthz() -> Any:
    """200 when every part is usable, 503 otherwise; the body says which part is not.
    ``voice`` says whether spoken guidance is available; it never makes the service
    unhealthy (the screens and the board's chime work without it)."""
    parts = {
        "database": _database(),
        "card_reader": _card_reader(),
        "card_trust": _card_trust(),
        "payments": _payments(),
    }
    printer = _printer()
    if printer is not None:
        parts["printer"] = printer
    healthy = all(part["ok"] for part in parts.values())
    status = 200 if healthy else 503
    return jsonify(
        status="ok" if healthy else "degraded", **parts, voice=voice(), live=_live()
    ), status


def _live() -> dict[str, Any] | None:
    """The live streams of this process (None when it serves none, e.g. in tests)."""
    service = current_services().live
    if service is None:
        return None
    return service.status()
