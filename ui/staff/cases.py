"""The prefilled case in clear (every opening audited), its A4 print for the resident's
signature, receipts and refunds (supervisors)."""

from __future__ import annotations

from typing import Any

from flask import flash, g, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import force_locale
from flask_babel import gettext as _
from pydantic import ValidationError

from kiosk.cases import CardCheckRecord, view_case
from kiosk.db import transaction
from kiosk.models import StaffRole
from kiosk.overview import route_of_case
from payments.states import payments_of_case
from ui.api.request_models import RefundRequest
from ui.errors import describe
from ui.i18n import domain_language, localized
from ui.kiosk import OPTION_LABELS
from ui.receipts import receipt_context, receipt_for_payment
from ui.services import current_services
from ui.staff import bp
from ui.staff.console import actor, back, catalog, counter_code, role_required, sessions
from ui.staff.desk import case_context
from ui.words import address_part_rows, payment_method


def _field_rows(detail: Any, *, parts: bool = True) -> list[tuple[Any, list[tuple[str, str]]]]:
    """Per procedure line: its labelled fields in the console's language; an address in the
    ward also lists its parts (町名, 丁目, 番, 号, building) unless ``parts`` is false."""
    out = []
    for line in detail.procedures:
        try:
            spec = catalog().procedure(line.code)
        except KeyError:
            spec = None
        rows = []
        for name, value in line.fields.items():
            field = spec.field_spec(name) if spec else None
            label = localized(field.label) if field else name
            if value is None or value == "" or value == []:
                text = "—"
            elif isinstance(value, bool):
                text = _("Yes") if value else _("No")
            elif isinstance(value, list):
                text = ", ".join(str(v) for v in value)
            elif field is not None and field.kind == "choice":
                text = str(OPTION_LABELS.get(value, value))
            elif isinstance(value, dict) and field is not None and field.kind == "ward_address":
                rows.append((label, str(value.get("address") or "—")))
                if parts:
                    parts_of = address_part_rows(value, domain_language())
                    rows.extend((f"{label}: {part}", text) for part, text in parts_of)
                continue
            else:
                text = str(value)
            rows.append((label, text))
        out.append((line, rows))
    return out


def card_check_rows(checks: CardCheckRecord) -> list[tuple[str, str, str]]:
    """The card read's checks for staff: (the check, what it found, ``ok`` / ``failed`` /
    ``not_checked``). "verified" only where the check proves it (README "Genuine cards")."""
    integrity = (
        (_("the data matches its signature on the card"), "ok")
        if checks.integrity == "verified"
        else (_("the data does not match its signature"), "failed")
    )
    if checks.chip_authenticated is None:
        chip = (_("not checked"), "not_checked")
    elif checks.chip_authenticated:
        chip = (_("the chip signed our challenge"), "ok")
    else:
        chip = (_("the chip did not sign our challenge"), "failed")
    chains = {
        "verified": None,
        "chain_invalid": _("no chain to a key or certificate the ward trusts"),
        "signature_invalid": _("a signature on the chain does not verify"),
        "expired": _("the certificate has expired"),
        "revoked": _("the certificate is revoked"),
        "not_checked": _("not checked"),
    }

    def chain(value: str, verified: str) -> tuple[str, str]:
        if value == "verified":
            return verified, "ok"
        return chains.get(value) or value, "not_checked" if value == "not_checked" else "failed"

    return [
        (_("Data consistent"), *integrity),
        (_("Chip present"), *chip),
        (_("Card chain"), *chain(checks.card_chain, _("chain to the J-LIS key verified"))),
        (
            _("JPKI"),
            *chain(
                checks.jpki_chain,
                _("user authentication certificate verified, signed with the resident's PIN"),
            ),
        ),
    ]


def _case_page(case_id: int, template: str) -> ResponseReturnValue:
    lang = domain_language()
    with transaction(sessions()) as s:
        detail = view_case(s, case_id, actor=actor(), catalog=catalog())
        route = route_of_case(s, case_id)
        payments = [
            {
                "public_id": p.public_id,
                "status": p.status.value,
                "amount_yen": p.amount_yen,
                "refunded_yen": p.refunded_yen,
                "method": payment_method(p.method or "", lang),
                "provider": p.provider,
                "has_receipt": p.status.value in ("succeeded", "partially_refunded", "refunded"),
            }
            for p in payments_of_case(s, case_id)
        ]
    if template == "staff/print.html":  # the form itself is always Japanese
        with force_locale("ja"):
            return render_template(
                template, case=detail, lines=_field_rows(detail, parts=False), payments=payments
            )
    return render_template(
        template,
        case=detail,
        lines=_field_rows(detail),
        payments=payments,
        route=route,
        queue_label=_queue_label,
        counter_label=_counter_label,
        can_refund=g.staff.role.rank >= StaffRole.SUPERVISOR.rank,
        checks=card_check_rows(detail.card_checks),
        **case_context(case_id),
    )


def _queue_label(code: str) -> str:
    queue = next((q for q in catalog().queues if q.code == code), None)
    return f"{queue.prefix} {localized(queue.names)}" if queue else code


def _counter_label(code: str | None) -> str:
    counter = next((c for c in catalog().counters if c.code == code), None)
    return localized(counter.names) if counter else (code or "—")


@bp.get("/cases/<int:case_id>")
def case(case_id: int) -> ResponseReturnValue:
    """The prefilled, paid case in clear (audited), its payments and receipt."""
    return _case_page(case_id, "staff/case.html")


@bp.get("/cases/<int:case_id>/print")
def case_print(case_id: int) -> ResponseReturnValue:
    """The A4 application with the card data filled in, for the resident's signature
    (audited like the case view)."""
    return _case_page(case_id, "staff/print.html")


@bp.get("/payments/<public_id>/receipt")
def receipt(public_id: str) -> ResponseReturnValue:
    """The printable receipt of a payment (no personal data on it)."""
    receipt = receipt_for_payment(public_id[:64], domain_language())
    return render_template("staff/receipt.html", **receipt_context(receipt))


@bp.post("/payments/<public_id>/refund")
@role_required(StaffRole.SUPERVISOR)
def refund(public_id: str) -> ResponseReturnValue:
    """Refund (all, or ``amount_yen``) with a reason: supervisors and admins only."""
    # The JSON API's refund model reads the form too: one rule for reason and amount.
    form = {key: request.form.get(key, "").strip() for key in ("reason", "amount_yen")}
    try:
        asked = RefundRequest.model_validate_strings({k: v for k, v in form.items() if v})
    except ValidationError:
        flash(str(describe("invalid_field")[2]), "error")
        return back()
    desks = current_services().counter_desk
    assert desks is not None
    # Through the provider that took it (the kiosk's or a counter's), or in cash from my
    # counter's drawer (always so for a cash payment): ``application.counter_desk``.
    desks.refund(
        counter_code(),
        public_id[:64],
        staff=g.staff,
        cash=request.form.get("method") == "cash",
        reason=asked.reason,
        amount_yen=asked.amount_yen,
    )
    flash(_("The refund was made."), "ok")
    return back()
