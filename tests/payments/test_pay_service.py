"""The payment service over a real database: start, pay, decline, cancel, refund, exactly one
ticket, provider unreachable."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from kiosk import audit
from kiosk.errors import InvalidTransition
from payments.collect import cancel_payment, refresh_payment, start_payment
from payments.models import Payment, PaymentStatus
from payments.provider import ProviderUnavailable, RefundNotAllowed
from payments.refunds import refund_payment
from payments.states import get_payment, payments_of_case
from tests.payments.conftest import (
    KIOSK,
    STAFF,
    Db,
    Resident,
    case_status,
    confirmed_case,
    tickets_of,
)


def _pay(db: Db, r: Resident) -> tuple[int, str]:
    case_id = confirmed_case(db)
    payment = start_payment(db.sessions, r.provider, case_id, actor=KIOSK)
    assert payment.status is PaymentStatus.PENDING
    assert r.terminal is not None
    r.terminal.approve(payment.provider_ref)
    with db.tx() as s:
        refresh_payment(s, r.provider, payment.public_id)
    return case_id, payment.public_id


def test_paid_case_is_queued_with_one_ticket(db: Db, sim_resident: Resident) -> None:
    """Start, pay and poll: the payment succeeds, the case is queued with one ticket."""
    case_id, public_id = _pay(db, sim_resident)
    with db.tx() as s:
        payment = get_payment(s, public_id)
        assert payment.status is PaymentStatus.SUCCEEDED
        assert payment.amount_yen == 300 and payment.idempotency_key.endswith(public_id)
        assert case_status(s, case_id) == "queued"
        assert tickets_of(s, case_id) == 1


def test_polling_again_changes_nothing(db: Db, sim_resident: Resident) -> None:
    """Polling a succeeded payment again issues no second ticket and no new audit rows."""
    case_id, public_id = _pay(db, sim_resident)
    with db.tx() as s:
        before = len(audit.events_for_case(s, case_id))
    for _ in range(3):
        with db.tx() as s:
            refresh_payment(s, sim_resident.provider, public_id)
    with db.tx() as s:
        assert tickets_of(s, case_id) == 1
        assert len(audit.events_for_case(s, case_id)) == before


def test_concurrent_polls_issue_one_ticket(db: Db, sim_resident: Resident) -> None:
    """Eight threads polling the same paid payment at once still make exactly one ticket."""
    case_id = confirmed_case(db)
    payment = start_payment(db.sessions, sim_resident.provider, case_id, actor=KIOSK)
    assert sim_resident.terminal is not None
    sim_resident.terminal.approve(payment.provider_ref)
    errors: list[BaseException] = []

    def poll() -> None:
        try:
            with db.tx() as s:
                refresh_payment(s, sim_resident.provider, payment.public_id)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=poll) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.tx() as s:
        assert tickets_of(s, case_id) == 1


def test_decline_keeps_the_case_and_a_retry_pays(db: Db, sim_resident: Resident) -> None:
    """A declined card fails the payment, keeps the case awaiting payment; a new attempt pays."""
    case_id = confirmed_case(db)
    terminal = sim_resident.terminal
    assert terminal is not None
    first = start_payment(db.sessions, sim_resident.provider, case_id, actor=KIOSK)
    terminal.decline("expired_card", first.provider_ref)
    with db.tx() as s:
        failed = refresh_payment(s, sim_resident.provider, first.public_id)
        assert failed.status is PaymentStatus.FAILED
        assert failed.failure_code == "expired_card"
        assert case_status(s, case_id) == "awaiting_payment"
    second = start_payment(db.sessions, sim_resident.provider, case_id, actor=KIOSK)
    assert second.public_id != first.public_id
    terminal.approve(second.provider_ref)
    with db.tx() as s:
        refresh_payment(s, sim_resident.provider, second.public_id)
        assert case_status(s, case_id) == "queued"
        assert tickets_of(s, case_id) == 1


def test_double_tap_on_pay_is_one_payment(db: Db, sim_resident: Resident) -> None:
    """Starting twice while a payment is open returns the same payment."""
    case_id = confirmed_case(db)
    one = start_payment(db.sessions, sim_resident.provider, case_id, actor=KIOSK)
    two = start_payment(db.sessions, sim_resident.provider, case_id, actor=KIOSK)
    assert one.public_id == two.public_id


def test_paid_case_cannot_be_paid_again(db: Db, sim_resident: Resident) -> None:
    """A case with a succeeded payment refuses a new payment."""
    case_id, _ = _pay(db, sim_resident)
    with pytest.raises(InvalidTransition):
        start_payment(db.sessions, sim_resident.provider, case_id, actor=KIOSK)


def test_unreachable_provider_keeps_the_case_and_charges_nothing(
    db: Db, sim_resident: Resident
) -> None:
    """Provider down: ProviderUnavailable, the case stays awaiting payment, nothing charged."""
    case_id = confirmed_case(db)
    assert sim_resident.terminal is not None
    sim_resident.terminal.offline = True
    with pytest.raises(ProviderUnavailable):
        start_payment(db.sessions, sim_resident.provider, case_id, actor=KIOSK)
    sim_resident.terminal.offline = False
    with db.tx() as s:
        assert case_status(s, case_id) == "awaiting_payment"
        (payment,) = payments_of_case(s, case_id)
        assert payment.status is PaymentStatus.FAILED
        assert payment.failure_code == "provider_unavailable"
        assert tickets_of(s, case_id) == 0
    assert sim_resident.terminal.current is None  # nothing was ever put on the terminal


def test_cancel_pending_then_cancel_after_payment(db: Db, sim_resident: Resident) -> None:
    """Cancelling a pending payment cancels it; cancelling one already paid keeps it paid."""
    terminal = sim_resident.terminal
    assert terminal is not None
    case_id = confirmed_case(db)
    p1 = start_payment(db.sessions, sim_resident.provider, case_id, actor=KIOSK)
    with db.tx() as s:
        cancelled = cancel_payment(s, sim_resident.provider, p1.public_id, actor=KIOSK)
        assert cancelled.status is PaymentStatus.CANCELLED
    p2 = start_payment(db.sessions, sim_resident.provider, case_id, actor=KIOSK)
    terminal.approve(p2.provider_ref)
    with db.tx() as s:
        kept = cancel_payment(s, sim_resident.provider, p2.public_id, actor=KIOSK)
        assert kept.status is PaymentStatus.SUCCEEDED
        assert tickets_of(s, case_id) == 1


def test_partial_then_full_refund_is_audited(db: Db, sim_resident: Resident) -> None:
    """Staff refunds part, then the rest: both audited with actor; the case ends refunded."""
    case_id, public_id = _pay(db, sim_resident)
    with db.tx() as s:
        refund = refund_payment(
            s, sim_resident.provider, public_id, actor=STAFF, reason="部数の誤り", amount_yen=100
        )
        assert refund.amount_yen == 100 and refund.refund_ref
        assert get_payment(s, public_id).status is PaymentStatus.PARTIALLY_REFUNDED
        assert case_status(s, case_id) == "queued"
    with db.tx() as s:
        refund_payment(s, sim_resident.provider, public_id, actor=STAFF, reason="取消")
        payment = get_payment(s, public_id)
        assert payment.status is PaymentStatus.REFUNDED and payment.refunded_yen == 300
        assert case_status(s, case_id) == "refunded"
        actions = [(e.action, e.actor) for e in audit.events_for_case(s, case_id)]
        assert ("payment.partially_refunded", STAFF) in actions
        assert ("payment.refunded", STAFF) in actions
        assert [r.reason for r in payment.refunds] == ["部数の誤り", "取消"]


def test_refund_rules(db: Db, sim_resident: Resident) -> None:
    """Refunds need a staff actor and a reason, and never exceed what was paid."""
    _, public_id = _pay(db, sim_resident)
    with db.tx() as s:
        with pytest.raises(ValueError):
            refund_payment(s, sim_resident.provider, public_id, actor=KIOSK, reason="x")
        with pytest.raises(ValueError):
            refund_payment(s, sim_resident.provider, public_id, actor=STAFF, reason=" ")
        with pytest.raises(RefundNotAllowed):
            refund_payment(
                s, sim_resident.provider, public_id, actor=STAFF, reason="x", amount_yen=301
            )
        assert get_payment(s, public_id).refunded_yen == 0


def test_database_refuses_a_second_live_payment(db: Db, sim_resident: Resident) -> None:
    """The database itself holds the one-live-payment-per-case invariant."""
    from sqlalchemy.exc import IntegrityError

    case_id = confirmed_case(db)
    p1 = start_payment(db.sessions, sim_resident.provider, case_id, actor=KIOSK)
    with pytest.raises(IntegrityError), db.tx() as s:
        original = s.scalars(select(Payment).where(Payment.public_id == p1.public_id)).one()
        s.add(
            Payment(
                public_id="pay_dup",
                case_id=case_id,
                amount_yen=300,
                provider="sim",
                idempotency_key="kiosk-pay_dup",
                status=PaymentStatus.PENDING,
                refunded_yen=0,
                kiosk_id="",
                created_at=original.created_at,
                updated_at=original.created_at,
            )
        )
        s.flush()
