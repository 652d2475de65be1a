"""Webhooks: signature and staleness checks, de-duplication, reordering, and the Flask
endpoint (Stripe Terminal and Checkout events from the stand-in, signed like Stripe's)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from flask import Flask

from kiosk import audit
from payments.collect import start_payment
from payments.events import handle_webhook
from payments.models import PaymentStatus
from payments.provider import InvalidSignature
from payments.states import get_payment
from tests.payments.conftest import (
    KIOSK,
    Db,
    Resident,
    case_status,
    confirmed_case,
    tickets_of,
)


def _started(db: Db, r: Resident) -> tuple[int, str, str]:
    case_id = confirmed_case(db)
    payment = start_payment(db.sessions, r.provider, case_id, actor=KIOSK)
    assert payment.provider_ref
    return case_id, payment.public_id, payment.provider_ref


def _deliver(db: Db, r: Resident, event: dict, **sign: object) -> str:
    assert r.server is not None
    body, header = r.server.standin.sign(event, **sign)  # type: ignore[arg-type]
    with db.tx() as s:
        return handle_webhook(s, r.provider, body, header)


def _event(r: Resident, type_: str) -> dict:
    assert r.server is not None
    (event,) = r.server.standin.events_of(type_)[-1:]
    return event


def test_succeeded_webhook_pays_and_queues(db: Db, terminal_resident: Resident) -> None:
    """payment_intent.succeeded moves the payment, the case and issues one ticket."""
    case_id, public_id, _ = _started(db, terminal_resident)
    terminal_resident.pay(None)  # type: ignore[arg-type]
    assert _deliver(db, terminal_resident, _event(terminal_resident, "payment_intent.succeeded"))
    with db.tx() as s:
        assert get_payment(s, public_id).status is PaymentStatus.SUCCEEDED
        assert case_status(s, case_id) == "queued"
        assert tickets_of(s, case_id) == 1


def test_every_event_in_order_gives_one_ticket(db: Db, terminal_resident: Resident) -> None:
    """All events of a paid Terminal payment, delivered in order, give exactly one ticket."""
    case_id, public_id, _ = _started(db, terminal_resident)
    terminal_resident.pay(None)  # type: ignore[arg-type]

    def handle(body: bytes, header: str) -> None:
        with db.tx() as s:
            handle_webhook(s, terminal_resident.provider, body, header)

    terminal_resident.deliver_events(handle)
    with db.tx() as s:
        assert get_payment(s, public_id).status is PaymentStatus.SUCCEEDED
        assert tickets_of(s, case_id) == 1


def test_duplicate_event_changes_nothing(db: Db, terminal_resident: Resident) -> None:
    """The same event delivered twice is a no-op the second time (same audit trail)."""
    case_id, _, _ = _started(db, terminal_resident)
    terminal_resident.pay(None)  # type: ignore[arg-type]
    event = _event(terminal_resident, "payment_intent.succeeded")
    assert _deliver(db, terminal_resident, event) == "applied"
    with db.tx() as s:
        before = len(audit.events_for_case(s, case_id))
    assert _deliver(db, terminal_resident, event) == "duplicate"
    with db.tx() as s:
        assert len(audit.events_for_case(s, case_id)) == before
        assert tickets_of(s, case_id) == 1


def test_reordered_failure_after_success_changes_nothing(
    db: Db, terminal_resident: Resident
) -> None:
    """A failure event that arrives after the success (older attempt) is re-read and ignored."""
    case_id, public_id, _ = _started(db, terminal_resident)
    terminal_resident.decline(None, "card_declined")  # type: ignore[arg-type,misc]
    failed = _event(terminal_resident, "payment_intent.payment_failed")
    reader_failed = _event(terminal_resident, "terminal.reader.action_failed")
    # The resident tries another card on the same PaymentIntent and it works.
    assert terminal_resident.server is not None
    client = terminal_resident.provider.client  # type: ignore[attr-defined]
    client.v1.terminal.readers.process_payment_intent(
        "tmr_standin_kiosk1", params={"payment_intent": failed["data"]["object"]["id"]}
    )
    terminal_resident.pay(None)  # type: ignore[arg-type]
    assert _deliver(db, terminal_resident, _event(terminal_resident, "payment_intent.succeeded"))
    assert _deliver(db, terminal_resident, failed) == "stale"
    assert _deliver(db, terminal_resident, reader_failed) == "stale"
    with db.tx() as s:
        assert get_payment(s, public_id).status is PaymentStatus.SUCCEEDED
        assert case_status(s, case_id) == "queued"
        assert tickets_of(s, case_id) == 1


def test_bad_signature_is_rejected_without_change(db: Db, terminal_resident: Resident) -> None:
    """A body signed with another secret raises InvalidSignature and changes nothing."""
    case_id, public_id, _ = _started(db, terminal_resident)
    terminal_resident.pay(None)  # type: ignore[arg-type]
    event = _event(terminal_resident, "payment_intent.succeeded")
    with pytest.raises(InvalidSignature):
        _deliver(db, terminal_resident, event, secret="whsec_attacker")
    with db.tx() as s:
        assert get_payment(s, public_id).status is PaymentStatus.PENDING
        assert tickets_of(s, case_id) == 0


def test_tampered_body_is_rejected(db: Db, terminal_resident: Resident) -> None:
    """Changing one byte of a signed body makes it invalid."""
    _started(db, terminal_resident)
    terminal_resident.pay(None)  # type: ignore[arg-type]
    assert terminal_resident.server is not None
    body, header = terminal_resident.server.standin.sign(
        _event(terminal_resident, "payment_intent.succeeded")
    )
    with pytest.raises(InvalidSignature), db.tx() as s:
        handle_webhook(s, terminal_resident.provider, body.replace(b"300", b"30"), header)


def test_stale_timestamp_is_rejected(db: Db, terminal_resident: Resident) -> None:
    """A correctly signed event older than five minutes is refused as a replay."""
    _, public_id, _ = _started(db, terminal_resident)
    terminal_resident.pay(None)  # type: ignore[arg-type]
    event = _event(terminal_resident, "payment_intent.succeeded")
    with pytest.raises(InvalidSignature):
        _deliver(db, terminal_resident, event, timestamp=int(time.time()) - 600)
    with db.tx() as s:
        assert get_payment(s, public_id).status is PaymentStatus.PENDING


def test_checkout_completed_and_expired(db: Db, checkout_resident: Resident) -> None:
    """checkout.session.completed pays one case; checkout.session.expired expires another."""
    paid_case, paid_id, _ = _started(db, checkout_resident)
    checkout_resident.pay(service_view(db, checkout_resident, paid_id))
    assert _deliver(db, checkout_resident, _event(checkout_resident, "checkout.session.completed"))
    other_case, other_id, other_ref = _started(db, checkout_resident)
    checkout_resident.provider.client.v1.checkout.sessions.expire(other_ref)  # type: ignore[attr-defined]
    assert _deliver(db, checkout_resident, _event(checkout_resident, "checkout.session.expired"))
    with db.tx() as s:
        assert get_payment(s, paid_id).status is PaymentStatus.SUCCEEDED
        assert get_payment(s, paid_id).method == "paypay"
        assert tickets_of(s, paid_case) == 1
        assert get_payment(s, other_id).status is PaymentStatus.EXPIRED
        assert case_status(s, other_case) == "awaiting_payment"


def service_view(db: Db, r: Resident, public_id: str):  # type: ignore[no-untyped-def]
    with db.tx() as s:
        return r.provider.status(get_payment(s, public_id).provider_ref or "")


# --- the Flask endpoint ------------------------------------------------------------------


@pytest.fixture
def app(db: Db, terminal_resident: Resident) -> Iterator[Flask]:
    from ui.webhooks import bp

    app = Flask(__name__)
    # Only what the webhook endpoint uses of the services (ui.services.current_services).
    app.extensions["kiosk"] = SimpleNamespace(
        sessions=db.sessions, payments=terminal_resident.provider
    )
    app.register_blueprint(bp)
    yield app


def test_endpoint_accepts_signed_and_rejects_forged(
    app: Flask, db: Db, terminal_resident: Resident
) -> None:
    """POST /webhooks/stripe: 200 and a ticket for a signed event, 400 for a forged one."""
    case_id, _, _ = _started(db, terminal_resident)
    terminal_resident.pay(None)  # type: ignore[arg-type]
    assert terminal_resident.server is not None
    event = _event(terminal_resident, "payment_intent.succeeded")
    body, header = terminal_resident.server.standin.sign(event)
    client = app.test_client()
    forged = client.post(
        "/webhooks/stripe", data=body, headers={"Stripe-Signature": header.replace("v1=", "v1=0")}
    )
    assert forged.status_code == 400
    unsigned = client.post("/webhooks/stripe", data=body)
    assert unsigned.status_code == 400
    with db.tx() as s:
        assert tickets_of(s, case_id) == 0
    ok = client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": header})
    assert ok.status_code == 200 and ok.get_json() == {"outcome": "applied"}
    again = client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": header})
    assert again.get_json() == {"outcome": "duplicate"}
    with db.tx() as s:
        assert tickets_of(s, case_id) == 1


def test_endpoint_answers_200_to_unknown_objects(app: Flask, terminal_resident: Resident) -> None:
    """A verified event about an object we never created is acknowledged, not retried."""
    assert terminal_resident.server is not None
    event = {
        "id": "evt_unknown1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {"object": {"id": "pi_not_ours", "object": "payment_intent", "metadata": {}}},
    }
    body, header = terminal_resident.server.standin.sign(event)
    resp = app.test_client().post(
        "/webhooks/stripe", data=body, headers={"Stripe-Signature": header}
    )
    assert resp.status_code == 200
    assert json.loads(resp.data) == {"outcome": "unknown_payment"}
