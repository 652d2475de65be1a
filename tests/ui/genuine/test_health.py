"""``/healthz`` reports the trust configuration of the genuine-card checks: which chains are
configured and from where, what the ward requires, the JPKI CRL's next update; a CRL past it
makes the service degraded when procedures need the JPKI check."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask

from tests.ui.genuine.kit import ward_trust


def test_the_simulator_reports_its_test_keys_and_a_current_crl(
    genuine_app: Callable[..., Flask],
) -> None:
    """In simulation the chains are configured from the simulator's test keys (source
    simulator), the ward requires integrity, chip and card chain, the 転出届 asks for the
    JPKI check, and the CRL is current with its next update given."""
    body = genuine_app("yamada").test_client().get("/healthz").get_json()
    trust = body["card_trust"]
    assert trust["ok"] is True and body["status"] == "ok"
    assert trust["source"] == "simulator"
    assert trust["required"] == ["integrity", "chip", "card_chain"]
    assert trust["jpki_check_procedures"] == ["tenshutsu"]
    assert trust["jpki_check_everywhere"] is False
    assert trust["card_chain"] == {"configured": True, "keys": 1}
    assert trust["jpki_chain"]["configured"] is True and trust["jpki_chain"]["anchors"] == 2
    [crl] = trust["jpki_chain"]["crls"]
    assert crl["current"] is True
    assert datetime.fromisoformat(crl["next_update"]) > datetime.now(UTC)
    assert trust["warnings"] == []


def test_a_crl_past_its_next_update_is_a_warning_and_degrades_the_service(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    """A ward's CRL issued nine days ago for seven: not current; JPKI checks would fail, so
    /healthz is 503 and says which CRL and what to do."""
    settings = ward_trust(tmp_path / "trust", now=datetime.now(UTC) - timedelta(days=9))
    response = make_app(sim_persona="", **settings).test_client().get("/healthz")
    assert response.status_code == 503
    trust = response.get_json()["card_trust"]
    assert trust["ok"] is False and trust["source"] == "configured"
    assert trust["jpki_chain"]["crls"][0]["current"] is False
    [warning] = trust["warnings"]
    assert "not current" in warning and "KIOSK_JPKI_CRL" in warning


def test_a_crl_about_to_expire_warns_and_no_crl_says_revocation_is_unseen(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    """A CRL due within a day still lets the service be healthy, with a warning; without a
    CRL the service is healthy and warns that revoked certificates go unseen."""
    soon = datetime.now(UTC) - timedelta(days=6, hours=12)
    due = (
        make_app(sim_persona="", **ward_trust(tmp_path / "due", now=soon))
        .test_client()
        .get("/healthz")
    )
    assert due.status_code == 200
    assert "due for renewal" in due.get_json()["card_trust"]["warnings"][0]
    unseen = (
        make_app(sim_persona="", **ward_trust(tmp_path / "none", crl=False))
        .test_client()
        .get("/healthz")
    )
    trust = unseen.get_json()["card_trust"]
    assert unseen.status_code == 200 and trust["jpki_chain"]["crls"] is None
    assert trust["warnings"] == [
        "KIOSK_JPKI_CRL is not set: the JPKI check cannot see revoked certificates"
    ]
