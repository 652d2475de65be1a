"""Crash and reconciliation: the service "dies" between steps and comes back.

The kill is simulated in-process: the unit of work is abandoned by an exception raised
between two steps (its transaction rolls back, as it would if the process died), then a new
provider instance ("after restart") runs ``reconcile``. The Stripe side (the stand-in) keeps
its state, as Stripe does. Checked: exactly one charge and exactly one ticket.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from pytest_mock import MockerFixture

from kiosk.clock import utcnow
from payments.collect import create_payment, start_payment, submit_payment
from payments.events import handle_webhook
from payments.models import PaymentStatus
from payments.provider import ProviderUnavailable
from payments.reconcile import Reconciler, ReconcileReport, reconcile
from payments.states import get_payment, payments_of_case, transition_payment
from tests.payments.conftest import (
    KIOSK,
    Db,
    Resident,
    _terminal,
    case_status,
    confirmed_case,
    tickets_of,
)


class Crash(BaseException):
    """The process dying (BaseException: no ``except Exception`` may swallow it)."""


LATER = timedelta(minutes=3)


def _succeeded_charges(r: Resident, public_id: str) -> int:
    assert r.server is not None
    return sum(
        1
        for pi in r.server.standin.payment_intents.values()
        if pi["metadata"].get("payment_id") == public_id and pi["status"] == "succeeded"
    )


def _intents_for(r: Resident, public_id: str) -> int:
    assert r.server is not None
    return sum(
        1
        for pi in r.server.standin.payment_intents.values()
        if pi["metadata"].get("payment_id") == public_id
    )


def _create(db: Db, r: Resident) -> tuple[int, str]:
    case_id = confirmed_case(db)
    with db.tx() as s:
        payment = create_payment(s, case_id, provider_name=r.provider.name, actor=KIOSK)
        return case_id, payment.public_id


def _crash_after_start(db: Db, r: Resident, public_id: str) -> None:
    with pytest.raises(Crash), db.tx() as s:
        submit_payment(s, r.provider, public_id)
        raise Crash  # killed after the PaymentIntent exists, before our commit


def test_killed_after_intent_created_then_paid(db: Db, terminal_resident: Resident) -> None:
    """Killed after the PaymentIntent was created; the resident paid meanwhile; after restart
    and reconciliation: one PaymentIntent, one charge, one ticket."""
    case_id, public_id = _create(db, terminal_resident)
    _crash_after_start(db, terminal_resident, public_id)
    with db.tx() as s:
        assert get_payment(s, public_id).provider_ref is None  # lost with the crash
    terminal_resident.pay(None)  # type: ignore[arg-type]
    assert terminal_resident.server is not None
    restarted = _terminal(terminal_resident.server)
    try:
        with db.tx() as s:
            report = reconcile(s, restarted.provider, now=utcnow() + LATER)
        assert report.repaired == [public_id]
        again = []
        with db.tx() as s:
            again = reconcile(s, restarted.provider, now=utcnow() + LATER).repaired
        assert again == []

        def handle(body: bytes, header: str) -> None:
            with db.tx() as s:
                handle_webhook(s, restarted.provider, body, header)

        restarted.deliver_events(handle)  # the webhooks arrive late, after reconciliation
    finally:
        restarted.provider.close()
    with db.tx() as s:
        assert get_payment(s, public_id).status is PaymentStatus.SUCCEEDED
        assert tickets_of(s, case_id) == 1
    assert _intents_for(terminal_resident, public_id) == 1
    assert _succeeded_charges(terminal_resident, public_id) == 1


def test_killed_after_intent_created_nobody_paid(db: Db, terminal_resident: Resident) -> None:
    """Killed after the PaymentIntent was created and nobody paid: reconciliation cancels it
    at Stripe and here; no charge, no ticket, the case still awaits payment."""
    case_id, public_id = _create(db, terminal_resident)
    _crash_after_start(db, terminal_resident, public_id)
    with db.tx() as s:
        reconcile(s, terminal_resident.provider, now=utcnow() + LATER)
    with db.tx() as s:
        assert get_payment(s, public_id).status is PaymentStatus.CANCELLED
        assert case_status(s, case_id) == "awaiting_payment"
        assert tickets_of(s, case_id) == 0
    assert _succeeded_charges(terminal_resident, public_id) == 0
    assert terminal_resident.server is not None
    (reader,) = terminal_resident.server.standin.reader_objects.values()
    assert reader["action"] is None


def test_killed_after_success_before_ticket(
    db: Db, terminal_resident: Resident, mocker: MockerFixture
) -> None:
    """Killed while handling the success webhook, before the ticket: after restart,
    reconciliation records the payment and issues exactly one ticket; the redelivered
    webhook changes nothing."""
    case_id = confirmed_case(db)
    payment = start_payment(db.sessions, terminal_resident.provider, case_id, actor=KIOSK)
    terminal_resident.pay(None)  # type: ignore[arg-type]
    assert terminal_resident.server is not None
    (event,) = terminal_resident.server.standin.events_of("payment_intent.succeeded")
    body, header = terminal_resident.server.standin.sign(event)
    crash = mocker.patch("payments.states.issue_ticket", side_effect=Crash)
    with pytest.raises(Crash), db.tx() as s:
        handle_webhook(s, terminal_resident.provider, body, header)
    assert crash.called
    mocker.stop(crash)  # "restart": the real code again
    with db.tx() as s:
        assert tickets_of(s, case_id) == 0
        reconcile(s, terminal_resident.provider, now=utcnow() + LATER)
    with db.tx() as s:
        handle_webhook(s, terminal_resident.provider, body, header)
    with db.tx() as s:
        handle_webhook(s, terminal_resident.provider, body, header)
    with db.tx() as s:
        assert get_payment(s, payment.public_id).status is PaymentStatus.SUCCEEDED
        assert case_status(s, case_id) == "queued"
        assert tickets_of(s, case_id) == 1
    assert _succeeded_charges(terminal_resident, payment.public_id) == 1


def test_succeeded_committed_without_ticket_is_repaired(db: Db, sim_resident: Resident) -> None:
    """A payment committed as succeeded whose case never got its ticket gets exactly one."""
    case_id = confirmed_case(db)
    payment = start_payment(db.sessions, sim_resident.provider, case_id, actor=KIOSK)
    with db.tx() as s:
        row = get_payment(s, payment.public_id)
        transition_payment(s, row, PaymentStatus.SUCCEEDED, actor="payment:sim")
    for _ in range(2):
        with db.tx() as s:
            report = reconcile(s, sim_resident.provider)
    assert report.tickets_issued == []  # the second run found nothing left to do
    with db.tx() as s:
        assert case_status(s, case_id) == "queued"
        assert tickets_of(s, case_id) == 1


def test_abandoned_pending_payment_is_cancelled(db: Db, sim_resident: Resident) -> None:
    """A pending payment past the kiosk's time-out is cancelled by reconciliation."""
    case_id = confirmed_case(db)
    payment = start_payment(db.sessions, sim_resident.provider, case_id, actor=KIOSK)
    with db.tx() as s:
        assert reconcile(s, sim_resident.provider).repaired == []  # not yet timed out
    with db.tx() as s:
        report = reconcile(s, sim_resident.provider, timeout_s=60, now=utcnow() + LATER)
        assert report.repaired == [payment.public_id]
        assert get_payment(s, payment.public_id).status is PaymentStatus.CANCELLED
    assert sim_resident.terminal is not None and sim_resident.terminal.current is None


def test_late_success_after_cancel_is_recorded(db: Db, sim_resident: Resident) -> None:
    """Money taken after we marked the payment failed is recorded by reconciliation."""
    case_id = confirmed_case(db)
    payment = start_payment(db.sessions, sim_resident.provider, case_id, actor=KIOSK)
    with db.tx() as s:
        row = get_payment(s, payment.public_id)
        transition_payment(s, row, PaymentStatus.FAILED, actor="payment:sim")
    assert sim_resident.terminal is not None
    sim_resident.terminal.approve(payment.provider_ref)
    with db.tx() as s:
        reconcile(s, sim_resident.provider)
    with db.tx() as s:
        assert get_payment(s, payment.public_id).status is PaymentStatus.SUCCEEDED
        assert tickets_of(s, case_id) == 1


def test_rate_limited_stripe_is_unavailable_and_charges_nothing(
    db: Db, terminal_resident: Resident
) -> None:
    """Stripe answering 429 is ProviderUnavailable: no PaymentIntent, the case is kept."""
    assert terminal_resident.server is not None
    terminal_resident.server.standin.fail_next(1, status=429)
    case_id = confirmed_case(db)
    with pytest.raises(ProviderUnavailable):
        start_payment(db.sessions, terminal_resident.provider, case_id, actor=KIOSK)
    with db.tx() as s:
        assert case_status(s, case_id) == "awaiting_payment"
        (payment,) = payments_of_case(s, case_id)
        assert payment.status is PaymentStatus.FAILED
    assert terminal_resident.server.standin.payment_intents == {}


def test_connection_error_on_reader_call_is_unavailable(
    db: Db, terminal_resident: Resident, mocker: MockerFixture
) -> None:
    """A connection error on process_payment_intent (mocked: the stand-in cannot drop a
    connection halfway) is ProviderUnavailable and the case is kept awaiting payment."""
    import stripe

    mocker.patch.object(
        type(terminal_resident.provider.client.v1.terminal.readers),  # type: ignore[attr-defined]
        "process_payment_intent",
        side_effect=stripe.APIConnectionError("connection reset"),
    )
    case_id = confirmed_case(db)
    with pytest.raises(ProviderUnavailable):
        start_payment(db.sessions, terminal_resident.provider, case_id, actor=KIOSK)
    with db.tx() as s:
        assert case_status(s, case_id) == "awaiting_payment"
        assert tickets_of(s, case_id) == 0


def test_background_reconciler_runs_at_start(db: Db, sim_resident: Resident) -> None:
    """The Reconciler thread runs once at start-up and repairs a missing ticket."""
    import threading as _threading

    case_id = confirmed_case(db)
    payment = start_payment(db.sessions, sim_resident.provider, case_id, actor=KIOSK)
    with db.tx() as s:
        row = get_payment(s, payment.public_id)
        transition_payment(s, row, PaymentStatus.SUCCEEDED, actor="payment:sim")
    done = _threading.Event()
    reports: list[ReconcileReport] = []

    def seen(report: ReconcileReport) -> None:
        reports.append(report)
        done.set()

    reconciler = Reconciler(
        db.sessions, sim_resident.provider, interval_s=60, timeout_s=120, on_report=seen
    ).start()
    try:
        assert done.wait(10)
    finally:
        reconciler.stop()
    assert reports[0].tickets_issued == [payment.public_id]
    with db.tx() as s:
        assert tickets_of(s, case_id) == 1
