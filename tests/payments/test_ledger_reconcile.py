"""``kiosk ledger reconcile``'s core: a day's cashless ledger lines against the Stripe
account's balance transactions, listed through the real stripe SDK from the stand-in."""

from __future__ import annotations

from datetime import date

from application.registry import simulated_payments
from hardware_sim.terminal import SimulatedTerminal
from kiosk.cases import confirm_case
from kiosk.counter_cases import open_counter_case, serve_at_counter
from kiosk.counters import get_counter
from payments.balance import reconcile_day
from payments.collect import refresh_payment, start_payment
from payments.counter import take_cash
from payments.refunds import refund_payment
from tests.domain.conftest import TODAY, make_card
from tests.payments.conftest import KIOSK, NOW, STAFF, Db, Resident, confirmed_case

CHIEF = "staff:chief"


def _pay(db: Db, r: Resident) -> str:
    case_id = confirmed_case(db)
    payment = start_payment(db.sessions, r.provider, case_id, actor=KIOSK, now=NOW)
    r.pay(payment)  # type: ignore[arg-type]
    with db.tx() as s:
        refresh_payment(s, r.provider, payment.public_id, now=NOW)
    return payment.public_id


def _on_the_day(r: Resident, day: date = TODAY) -> None:
    """Stamp the stand-in's balance transactions inside the business day the test pins."""
    assert r.server is not None
    for i, txn in enumerate(r.server.standin.balance_transactions):
        txn["created"] = int(NOW.timestamp()) + i


def test_matching_day_reports_fees_and_nothing_else(db: Db, terminal_resident: Resident) -> None:
    """Two card payments and a partial refund: every line matched, Stripe's 3.6 % fee
    summed, no mismatch; cash lines are not the provider's business."""
    first = _pay(db, terminal_resident)
    _pay(db, terminal_resident)
    with db.tx() as s:
        refund_payment(
            s, terminal_resident.provider, first, actor=CHIEF, reason="x", amount_yen=100, now=NOW
        )
    with db.tx() as s:
        case = open_counter_case(
            s, ["juminhyo"], catalog=db.catalog, actor=STAFF, card=make_card(), now=NOW
        )
        confirm_case(s, case, catalog=db.catalog, actor=STAFF, now=NOW)
        serve_at_counter(s, case, get_counter(s, "1"), actor=STAFF, now=NOW)
        take_cash(
            s, case.id, amount_yen=300, tendered_yen=300, counter_code="1", actor=STAFF, now=NOW
        )
    _on_the_day(terminal_resident)
    with db.tx() as s:
        report = reconcile_day(s, TODAY, terminal_resident.provider)  # type: ignore[arg-type]
    assert report.mismatches == [] and report.matched == 3
    assert (report.gross_yen, report.fee_yen) == (500, 22)
    assert report.net_yen == 478 and report.not_reconcilable == {}
    assert "matched=3 mismatches=0" in report.line()


def test_every_mismatch_is_reported(db: Db, terminal_resident: Resident) -> None:
    """A payment Stripe does not show, one with another amount and a Stripe transaction of
    nothing of ours: three mismatches, each named."""
    missing = _pay(db, terminal_resident)
    _pay(db, terminal_resident)
    standin = terminal_resident.server.standin  # type: ignore[union-attr]
    standin.balance_transactions.pop(0)  # the first payment's charge
    standin.balance_transactions[0]["amount"] = 250
    standin._balance("charge", 700, 25, "ch_from_elsewhere")
    _on_the_day(terminal_resident)
    with db.tx() as s:
        report = reconcile_day(s, TODAY, terminal_resident.provider)  # type: ignore[arg-type]
    kinds = sorted((m.kind, m.ours_yen, m.theirs_yen) for m in report.mismatches)
    assert kinds == [
        ("amount_differs", 300, 250),
        ("missing_at_provider", 300, None),
        ("unknown_at_provider", None, 700),
    ]
    assert any(m.ref == missing for m in report.mismatches)
    assert report.matched == 0
    assert all(line.startswith("mismatch: ") for line in (m.line() for m in report.mismatches))


def test_simulated_payments_are_not_reconcilable(db: Db) -> None:
    """Without Stripe every cashless line is counted as not reconcilable, never as matched."""
    provider = simulated_payments(SimulatedTerminal(auto="approve"))
    case_id = confirmed_case(db)
    payment = start_payment(db.sessions, provider, case_id, actor=KIOSK, now=NOW)
    with db.tx() as s:
        refresh_payment(s, provider, payment.public_id, now=NOW)
        report = reconcile_day(s, TODAY, None)
    assert report.not_reconcilable == {"sim": 1} and report.matched == 0
