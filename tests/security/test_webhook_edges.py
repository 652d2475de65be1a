"""Issue 10, webhooks: a signature dated in the future is refused like a stale one, and a
validly signed event that we cannot read (not JSON, not an object, fields missing or of the
wrong type) or do not know is acknowledged with a 2xx, never a 500, and changes nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from kiosk.models import AuditEvent
from payments.collect import start_payment
from payments.models import Payment, ProviderEventRecord
from payments.stripe_common import WEBHOOK_FUTURE_SKEW_S
from tests.payments.conftest import (
    KIOSK,
    Db,
    Resident,
    confirmed_case,
    tickets_of,
)


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


def _counts(database: Db) -> tuple[int, int, list[str]]:
    """(audit rows, recorded events, payment states): what a webhook could change."""
    with database.tx() as s:
        audits = s.scalar(select(func.count()).select_from(AuditEvent)) or 0
        events = s.scalar(select(func.count()).select_from(ProviderEventRecord)) or 0
        states = [p.status.value for p in s.scalars(select(Payment).order_by(Payment.id))]
    return audits, events, states


def _signed(r: Resident, body: bytes, *, at: int | None = None) -> str:
    """A valid Stripe-Signature over the exact ``body`` bytes."""
    import hashlib
    import hmac

    assert r.server is not None
    t = int(time.time()) if at is None else at
    secret = r.server.standin.webhook_secret.encode()
    mac = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def test_future_dated_signature_is_rejected(
    app: Flask,
    db: Db,
    terminal_resident: Resident,
) -> None:
    """A correctly signed success event dated beyond the allowed skew is refused with 400
    and pays nothing; the same event signed now is applied."""
    case_id = confirmed_case(db)
    start_payment(db.sessions, terminal_resident.provider, case_id, actor=KIOSK)
    terminal_resident.pay(None)  # type: ignore[arg-type]
    assert terminal_resident.server is not None
    (event,) = terminal_resident.server.standin.events_of("payment_intent.succeeded")
    client = app.test_client()
    before = _counts(db)
    for ahead in (WEBHOOK_FUTURE_SKEW_S + 30, 3600, 86400 * 365):
        body, header = terminal_resident.server.standin.sign(
            event, timestamp=int(time.time()) + ahead
        )
        answer = client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": header})
        assert answer.status_code == 400, (ahead, answer.data)
    assert _counts(db) == before
    with db.tx() as s:
        assert tickets_of(s, case_id) == 0
    slightly_ahead = int(time.time()) + 5  # clocks differ a little: that is still fine
    body, header = terminal_resident.server.standin.sign(event, timestamp=slightly_ahead)
    ok = client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": header})
    assert ok.status_code == 200 and ok.get_json() == {"outcome": "applied"}
    with db.tx() as s:
        assert tickets_of(s, case_id) == 1


MALFORMED: list[Any] = [
    b"this is not json",
    b"[1, 2, 3]",
    b"null",
    b'"a string"',
    b"{}",
    b'{"id": "evt_x", "object": "event"}',
    b'{"id": "evt_x", "type": "payment_intent.succeeded"}',
    b'{"id": "evt_x", "type": "payment_intent.succeeded", "data": {}}',
    b'{"id": "evt_x", "type": "payment_intent.succeeded", "data": {"object": {}}}',
    b'{"id": "evt_x", "type": "payment_intent.succeeded", "data": {"object": {"id": {"a": 1}}}}',
    b'{"id": "evt_x", "type": "payment_intent.succeeded", "data": {"object": {"id": 7}}}',
    b'{"id": 12, "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1"}}}',
    b'{"id": "evt_x", "type": 5, "data": {"object": {"id": "pi_1"}}}',
    b'{"id": "evt_x", "type": "checkout.session.completed", "data": {"object": []}}',
    b'{"id": "evt_x", "type": "charge.refunded", "data": {"object": {"payment_intent": [1]}}}',
    b'{"id": "evt_x", "type": "terminal.reader.action_failed", "data": {"object": '
    b'{"action": {"process_payment_intent": {"payment_intent": 3}}}}}',
    ("{" + '"id": "' + "e" * 500 + '", "type": "x.y", "data": {"object": {}}}').encode(),
    b"\xff\xfe not utf-8",
]


def test_signed_malformed_events_are_acknowledged_and_change_nothing(
    app: Flask,
    db: Db,
    terminal_resident: Resident,
) -> None:
    """Every validly signed body we cannot read gets 200 (Stripe stops retrying), never a
    500, and leaves payments, recorded events and the audit trail as they were."""
    case_id = confirmed_case(db)
    start_payment(db.sessions, terminal_resident.provider, case_id, actor=KIOSK)
    client = app.test_client()
    before = _counts(db)
    for body in MALFORMED:
        if body.startswith(b"\xff"):
            # Stripe signs text: a body that is not UTF-8 cannot carry a valid signature.
            header = f"t={int(time.time())},v1={'0' * 64}"
            answer = client.post(
                "/webhooks/stripe", data=body, headers={"Stripe-Signature": header}
            )
            assert answer.status_code == 400, answer.data
            continue
        answer = client.post(
            "/webhooks/stripe",
            data=body,
            headers={"Stripe-Signature": _signed(terminal_resident, body)},
        )
        assert answer.status_code == 200, (body[:80], answer.status_code, answer.data)
        assert answer.get_json() == {"outcome": "malformed"}, body[:80]
    assert _counts(db) == before


def test_signed_unknown_event_type_is_acknowledged(
    app: Flask,
    db: Db,
    terminal_resident: Resident,
) -> None:
    """A validly signed event of a type we do not use is acknowledged (200, ``ignored``)
    and moves no payment."""
    case_id = confirmed_case(db)
    start_payment(db.sessions, terminal_resident.provider, case_id, actor=KIOSK)
    _audits, _events, states = _counts(db)
    event = {
        "id": "evt_unknown_type",
        "object": "event",
        "type": "customer.tax_id.created",
        "created": int(time.time()),
        "data": {"object": {"id": "txi_1", "object": "tax_id"}},
    }
    assert terminal_resident.server is not None
    body, header = terminal_resident.server.standin.sign(event)
    answer = app.test_client().post(
        "/webhooks/stripe", data=body, headers={"Stripe-Signature": header}
    )
    assert answer.status_code == 200 and answer.get_json() == {"outcome": "ignored"}
    assert _counts(db)[2] == states
