"""Refunds made outside the service (Stripe's Dashboard, Stripe itself, the simulated
terminal's own menu): found from signed refund webhooks and by reconciliation, recorded once
with the provider as the actor, a full refund refunding the case, a partial one not."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk import audit
from kiosk.clock import utcnow
from kiosk.models import AuditEvent, Ticket, TicketStatus
from payments.collect import refresh_payment, start_payment
from payments.events import handle_webhook
from payments.models import PaymentRefund, PaymentStatus
from payments.provider import InvalidSignature
from payments.reconcile import REFUND_WINDOW, Reconciler, reconcile
from payments.refunds import refund_payment
from payments.states import get_payment
from tests.payments.conftest import (
    KIOSK,
    STAFF,
    Db,
    Resident,
    case_status,
    confirmed_case,
    tickets_of,
)


def _paid(db: Db, r: Resident) -> tuple[int, str, str]:
    """A case paid through ``r`` (recorded by polling, no webhook): case id, payment id,
    provider ref."""
    case_id = confirmed_case(db)
    payment = start_payment(db.sessions, r.provider, case_id, actor=KIOSK)
    r.pay(payment)  # type: ignore[arg-type]  (anything with a provider_ref)
    with db.tx() as s:
        paid = refresh_payment(s, r.provider, payment.public_id)
        assert paid.status is PaymentStatus.SUCCEEDED
        assert paid.provider_ref
        return case_id, paid.public_id, paid.provider_ref


def _last(r: Resident, type_: str) -> dict:
    assert r.server is not None
    events = r.server.standin.events_of(type_)
    assert events, f"the stand-in sent no {type_}"
    return events[-1]


def _deliver(db: Db, r: Resident, event: dict, **sign: object) -> str:
    assert r.server is not None
    body, header = r.server.standin.sign(event, **sign)  # type: ignore[arg-type]
    with db.tx() as s:
        return handle_webhook(s, r.provider, body, header)


def _refunds(s: Session, public_id: str) -> list[tuple[str, int, str | None]]:
    payment = get_payment(s, public_id)
    rows = s.scalars(select(PaymentRefund).where(PaymentRefund.payment_id == payment.id))
    return [(r.actor, r.amount_yen, r.refund_ref) for r in rows]


def _audit(s: Session, case_id: int) -> list[AuditEvent]:
    return audit.events_for_case(s, case_id)


def _ticket_status(s: Session, case_id: int) -> TicketStatus:
    ticket = s.scalars(select(Ticket).where(Ticket.case_id == case_id)).one()
    s.refresh(ticket)
    return ticket.status


# --- webhooks ------------------------------------------------------------------------------


def test_dashboard_full_refund_webhook_refunds_payment_and_case(
    db: Db, terminal_resident: Resident
) -> None:
    """A full refund made in Stripe's Dashboard arrives as charge.refunded: the payment and
    the case are refunded, the waiting ticket cancelled, audited as payment:stripe_terminal
    with Stripe's refund id; refund.created and a replay change nothing more."""
    r = terminal_resident
    case_id, public_id, pi = _paid(db, r)
    assert r.refund_outside is not None
    refund_id = r.refund_outside(pi, None)
    assert _deliver(db, r, _last(r, "charge.refunded")) == "applied"
    actor = "payment:stripe_terminal"
    with db.tx() as s:
        payment = get_payment(s, public_id)
        assert payment.status is PaymentStatus.REFUNDED and payment.refunded_yen == 300
        assert case_status(s, case_id) == "refunded"
        assert _ticket_status(s, case_id) is TicketStatus.CANCELLED
        assert _refunds(s, public_id) == [(actor, 300, refund_id)]
        rows = _audit(s, case_id)
        (moved,) = [e for e in rows if e.action == "payment.refunded"]
        assert moved.actor == actor
        assert moved.detail["refund_ref"] == refund_id
        assert moved.detail["source"] == "provider"
        assert ("case.refunded", actor) in [(e.action, e.actor) for e in rows]
        before = len(rows)
    assert _deliver(db, r, _last(r, "refund.created")) == "applied"
    assert _deliver(db, r, _last(r, "charge.refunded")) == "duplicate"
    with db.tx() as s:
        assert len(_audit(s, case_id)) == before
        assert _refunds(s, public_id) == [(actor, 300, refund_id)]


def test_dashboard_partial_refund_keeps_the_case(db: Db, checkout_resident: Resident) -> None:
    """A partial Dashboard refund of a Checkout (PayPay) payment, refund.created first:
    the payment is partially refunded and audited; the case keeps its place in the queue."""
    r = checkout_resident
    case_id, public_id, cs = _paid(db, r)
    assert r.refund_outside is not None
    refund_id = r.refund_outside(cs, 100)
    assert _deliver(db, r, _last(r, "refund.created")) == "applied"
    assert _deliver(db, r, _last(r, "charge.refunded")) == "applied"
    actor = "payment:stripe_checkout"
    with db.tx() as s:
        payment = get_payment(s, public_id)
        assert payment.status is PaymentStatus.PARTIALLY_REFUNDED
        assert payment.refunded_yen == 100
        assert case_status(s, case_id) == "queued"
        assert _ticket_status(s, case_id) is TicketStatus.WAITING
        assert _refunds(s, public_id) == [(actor, 100, refund_id)]
        (moved,) = [e for e in _audit(s, case_id) if e.action == "payment.partially_refunded"]
        assert moved.actor == actor and moved.detail["refund_ref"] == refund_id
        assert moved.detail["refunded_yen"] == 100


def test_our_own_refund_is_not_recorded_twice(db: Db, terminal_resident: Resident) -> None:
    """Stripe's events about a refund staff made through the service change nothing."""
    r = terminal_resident
    case_id, public_id, _ = _paid(db, r)
    with db.tx() as s:
        mine = refund_payment(
            s, r.provider, public_id, actor=STAFF, reason="部数の誤り", amount_yen=100
        )
        mine_ref = mine.refund_ref
    with db.tx() as s:
        before = len(_audit(s, case_id))
    assert _deliver(db, r, _last(r, "refund.created")) == "applied"
    assert _deliver(db, r, _last(r, "charge.refunded")) == "applied"
    with db.tx() as s:
        assert _refunds(s, public_id) == [(STAFF, 100, mine_ref)]
        payment = get_payment(s, public_id)
        assert payment.refunded_yen == 100
        assert payment.status is PaymentStatus.PARTIALLY_REFUNDED
        assert len(_audit(s, case_id)) == before


def test_refund_event_racing_our_own_refund_waits_for_it(
    db: Db, terminal_resident: Resident
) -> None:
    """charge.refunded delivered while the staff refund's transaction is still open waits
    on the payment's lock and then finds the refund already recorded: one refund row."""
    r = terminal_resident
    case_id, public_id, _ = _paid(db, r)
    at_stripe = threading.Event()
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def staff() -> None:
        try:
            with db.tx() as s:
                refund_payment(s, r.provider, public_id, actor=STAFF, reason="取消")
                at_stripe.set()
                time.sleep(0.5)  # the webhook arrives before our commit
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
            at_stripe.set()

    def webhook() -> None:
        try:
            at_stripe.wait(10)
            outcomes.append(_deliver(db, r, _last(r, "charge.refunded")))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=staff), threading.Thread(target=webhook)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert errors == []
    assert outcomes == ["applied"]
    with db.tx() as s:
        assert [actor for actor, _, _ in _refunds(s, public_id)] == [STAFF]
        assert get_payment(s, public_id).status is PaymentStatus.REFUNDED
        assert case_status(s, case_id) == "refunded"
        refunded = [e for e in _audit(s, case_id) if e.action == "payment.refunded"]
        assert [e.actor for e in refunded] == [STAFF]


def test_refund_event_before_the_success_event(db: Db, terminal_resident: Resident) -> None:
    """Out of order: charge.refunded arrives before payment_intent.succeeded. The payment is
    re-read (paid, ticket issued), then refunded (ticket cancelled); the late success event
    is stale and changes nothing."""
    r = terminal_resident
    case_id = confirmed_case(db)
    payment = start_payment(db.sessions, r.provider, case_id, actor=KIOSK)
    assert payment.provider_ref
    r.pay(payment)  # type: ignore[arg-type]
    succeeded = _last(r, "payment_intent.succeeded")
    assert r.refund_outside is not None
    r.refund_outside(payment.provider_ref, None)
    assert _deliver(db, r, _last(r, "charge.refunded")) == "applied"
    with db.tx() as s:
        assert get_payment(s, payment.public_id).status is PaymentStatus.REFUNDED
        assert case_status(s, case_id) == "refunded"
        assert tickets_of(s, case_id) == 1
        assert _ticket_status(s, case_id) is TicketStatus.CANCELLED
    assert _deliver(db, r, succeeded) == "stale"
    with db.tx() as s:
        assert get_payment(s, payment.public_id).status is PaymentStatus.REFUNDED
        assert case_status(s, case_id) == "refunded"
        assert tickets_of(s, case_id) == 1


def test_forged_refund_event_changes_nothing(db: Db, terminal_resident: Resident) -> None:
    """A refund event signed with another secret, or too old, is refused by the SDK's check
    before anything is read or written."""
    r = terminal_resident
    case_id, public_id, pi = _paid(db, r)
    assert r.refund_outside is not None
    r.refund_outside(pi, None)
    event = _last(r, "charge.refunded")
    with pytest.raises(InvalidSignature):
        _deliver(db, r, event, secret="whsec_attacker")
    with pytest.raises(InvalidSignature):
        _deliver(db, r, event, timestamp=int(time.time()) - 600)
    with db.tx() as s:
        assert get_payment(s, public_id).status is PaymentStatus.SUCCEEDED
        assert case_status(s, case_id) == "queued"
        assert _refunds(s, public_id) == []


# --- reconciliation ------------------------------------------------------------------------


def test_reconcile_finds_a_refund_whose_webhook_was_lost(db: Db, resident: Resident) -> None:
    """No refund webhook arrives (lost, or the simulated terminal, which sends none): the
    reconciliation reads the refunds, refunds payment and case once; a second run finds
    nothing new."""
    case_id, public_id, ref = _paid(db, resident)
    assert resident.refund_outside is not None
    refund_id = resident.refund_outside(ref, None)
    with db.tx() as s:
        report = reconcile(s, resident.provider)
    assert report.refunds_found == [public_id] and report.unreachable == []
    assert "refunds_found=1" in report.line()
    actor = f"payment:{resident.provider.name}"
    with db.tx() as s:
        assert get_payment(s, public_id).status is PaymentStatus.REFUNDED
        assert case_status(s, case_id) == "refunded"
        assert _refunds(s, public_id) == [(actor, 300, refund_id)]
        before = len(_audit(s, case_id))
    with db.tx() as s:
        assert reconcile(s, resident.provider).refunds_found == []
    with db.tx() as s:
        assert len(_audit(s, case_id)) == before


def test_reconcile_partial_refunds_at_the_terminal(db: Db, sim_resident: Resident) -> None:
    """Refunds on the simulated terminal's own menu, part then the rest, are recorded by
    reconciliation: partially refunded (the case stays queued), then refunded."""
    r = sim_resident
    assert r.terminal is not None
    case_id, public_id, ref = _paid(db, r)
    r.terminal.refund_at_terminal(ref, 100)
    with db.tx() as s:
        assert reconcile(s, r.provider).refunds_found == [public_id]
    with db.tx() as s:
        payment = get_payment(s, public_id)
        assert payment.status is PaymentStatus.PARTIALLY_REFUNDED
        assert payment.refunded_yen == 100
        assert case_status(s, case_id) == "queued"
    r.terminal.refund_at_terminal(ref)
    with db.tx() as s:
        assert reconcile(s, r.provider).refunds_found == [public_id]
    with db.tx() as s:
        payment = get_payment(s, public_id)
        assert payment.status is PaymentStatus.REFUNDED and payment.refunded_yen == 300
        assert case_status(s, case_id) == "refunded"
        moves = [
            (e.action, e.actor, e.detail["amount_yen"])
            for e in _audit(s, case_id)
            if e.action in ("payment.partially_refunded", "payment.refunded")
        ]
        assert moves == [
            ("payment.partially_refunded", "payment:sim", 100),
            ("payment.refunded", "payment:sim", 200),
        ]


def test_reconcile_reads_refunds_only_within_the_window(db: Db, sim_resident: Resident) -> None:
    """Payments that succeeded longer ago than the refund window, and runs without it, cost
    no provider request and record nothing."""
    r = sim_resident
    assert r.terminal is not None
    _, public_id, ref = _paid(db, r)
    r.terminal.refund_at_terminal(ref, 100)
    later = utcnow() + REFUND_WINDOW + timedelta(hours=1)
    with db.tx() as s:
        assert reconcile(s, r.provider, now=later).refunds_found == []
        assert reconcile(s, r.provider, refund_window=None).refunds_found == []
    with db.tx() as s:
        assert get_payment(s, public_id).status is PaymentStatus.SUCCEEDED
    with db.tx() as s:
        wide = reconcile(s, r.provider, now=later, refund_window=timedelta(days=30))
        assert wide.refunds_found == [public_id]


def test_reconciler_reads_refunds_in_turns(db: Db, sim_resident: Resident) -> None:
    """The background Reconciler reads at most ``refund_batch`` payments per run and goes on
    after the last one at the next run, then starts over."""
    r = sim_resident
    assert r.terminal is not None
    paid = [_paid(db, r) for _ in range(3)]
    for _, _, ref in paid:
        r.terminal.refund_at_terminal(ref, 100)
    reconciler = Reconciler(db.sessions, r.provider, interval_s=60, timeout_s=120, refund_batch=2)
    assert reconciler.run_once().refunds_found == [paid[0][1], paid[1][1]]
    assert reconciler.run_once().refunds_found == [paid[2][1]]
    r.terminal.refund_at_terminal(paid[0][2], 100)
    assert reconciler.run_once().refunds_found == [paid[0][1]]  # started over
    with db.tx() as s:
        assert [get_payment(s, p).refunded_yen for _, p, _ in paid] == [200, 100, 100]


def test_refund_failed_later_is_audited(db: Db, terminal_resident: Resident) -> None:
    """A recorded refund that the provider later reports failed keeps its row, gets the new
    status and an audit row for staff (money cannot be un-refunded by us)."""
    r = terminal_resident
    case_id, public_id, pi = _paid(db, r)
    assert r.refund_outside is not None and r.server is not None
    refund_id = r.refund_outside(pi, 100)
    assert _deliver(db, r, _last(r, "refund.created")) == "applied"
    assert _deliver(db, r, r.server.standin.fail_refund(refund_id)) == "applied"
    with db.tx() as s:
        row = s.scalars(select(PaymentRefund).where(PaymentRefund.refund_ref == refund_id)).one()
        assert row.status == "failed"
        (changed,) = [e for e in _audit(s, case_id) if e.action == "payment.refund_status"]
        assert changed.actor == "payment:stripe_terminal"
        assert (changed.detail["from"], changed.detail["to"]) == ("succeeded", "failed")
