"""Money at the counter: cash with change into a drawer, the counter's own terminal for a
difference after an amendment, refunds of a difference (through the provider or in cash),
exemptions, and every refusal leaving nothing half-written (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from application.registry import simulated_payments
from hardware_sim.terminal import SimulatedTerminal
from kiosk import cases
from kiosk.amendments import Amendment, amend_case
from kiosk.calling import call_ticket, complete, start_serving
from kiosk.counter_cases import NothingDue, grant_exemption, open_counter_case, serve_at_counter
from kiosk.counters import get_counter
from kiosk.errors import FeeDue
from kiosk.models import Case, CaseStatus
from payments.collect import refresh_payment, start_payment
from payments.counter import (
    KeyReused,
    PaymentInProgress,
    TooLittleTendered,
    WrongAmount,
    payments_total,
    refund_at_counter,
    refund_difference,
    start_counter_payment,
    take_cash,
)
from payments.ledger import (
    CountInvalid,
    DayAlreadyClosed,
    DayClosed,
    book_exemption,
    close_day,
    day_ledger,
    ledger_totals,
)
from payments.models import CashMovement, LedgerEntry, Payment, PaymentRefund
from payments.provider import RefundNotAllowed
from payments.states import get_payment
from tests.domain.conftest import TODAY, make_card
from tests.payments.conftest import KIOSK, NOW, STAFF, Db, confirmed_case

CHIEF = "staff:chief"
DRAWERS = ("1", "2", "3")
FLOAT = 30_000


def _counter_case(db: Db, procedures: tuple[str, ...] = ("juminhyo",), counter: str = "1") -> int:
    with db.tx() as s:
        case = open_counter_case(
            s, list(procedures), catalog=db.catalog, actor=STAFF, card=make_card(), now=NOW
        )
        cases.confirm_case(s, case, catalog=db.catalog, actor=STAFF, now=NOW)
        serve_at_counter(s, case, get_counter(s, counter), actor=STAFF, now=NOW)
        return case.id


def _ledger(db: Db, day=TODAY):  # type: ignore[no-untyped-def]
    with db.tx() as s:
        return day_ledger(s, day, drawers=DRAWERS, float_yen=FLOAT)


def _kiosk_paid(db: Db, provider, procedures=("juminhyo",)) -> int:  # type: ignore[no-untyped-def]
    case_id = confirmed_case(db, procedures)
    payment = start_payment(db.sessions, provider, case_id, actor=KIOSK, now=NOW)
    provider.terminal.approve(payment.provider_ref)
    with db.tx() as s:
        refresh_payment(s, provider, payment.public_id, now=NOW)
    return case_id


def test_cash_payment_gives_change_books_the_ledger_and_fills_the_drawer(db: Db) -> None:
    """1,000 yen tendered for 300: change 700, the due settled, one ledger line for
    juminhyo/cash, 300 more expected in drawer 1, and the case can be completed."""
    case_id = _counter_case(db)
    with db.tx() as s:
        taken = take_cash(
            s, case_id, amount_yen=300, tendered_yen=1000, counter_code="1", actor=STAFF, now=NOW
        )
        assert taken.change_yen == 700 and taken.payment.method == "cash"
        case = s.get(Case, case_id)
        assert case is not None and case.due_yen == 0
        complete(s, case.ticket, actor=STAFF, now=NOW)
        assert case.status is CaseStatus.DONE
    ledger = _ledger(db)
    assert [(x.procedure_code, x.method, x.count, x.gross_yen) for x in ledger.lines] == [
        ("juminhyo", "cash", 1, 300)
    ]
    drawer = {d.drawer: d for d in ledger.drawers}["1"]
    assert (drawer.cash_in_yen, drawer.expected_yen) == (300, FLOAT + 300)


def test_cash_refusals_record_nothing(db: Db) -> None:
    """Too little tendered, a wrong amount, nothing due, a closed day: each refused with
    its own error and no payment, ledger line or cash movement left behind."""
    case_id = _counter_case(db)
    attempts = [
        (dict(amount_yen=300, tendered_yen=200), TooLittleTendered),
        (dict(amount_yen=600, tendered_yen=1000), WrongAmount),
        (dict(amount_yen=0, tendered_yen=1000), WrongAmount),
    ]
    for kwargs, error in attempts:
        with pytest.raises(error), db.tx() as s:
            take_cash(s, case_id, counter_code="1", actor=STAFF, now=NOW, **kwargs)  # type: ignore[arg-type]
    free = _counter_case(db, ("inkan_toroku",))
    with pytest.raises(NothingDue), db.tx() as s:
        take_cash(s, free, amount_yen=300, tendered_yen=300, counter_code="1", actor=STAFF, now=NOW)
    with db.tx() as s:
        close_day(
            s,
            TODAY,
            {"1": FLOAT, "2": FLOAT, "3": FLOAT},
            drawers=DRAWERS,
            float_yen=FLOAT,
            actor=CHIEF,
            now=NOW,
        )
    with pytest.raises(DayClosed), db.tx() as s:
        take_cash(
            s, case_id, amount_yen=300, tendered_yen=300, counter_code="1", actor=STAFF, now=NOW
        )
    with db.tx() as s:
        assert s.scalar(select(func.count(Payment.id))) == 0
        assert s.scalar(select(func.count(LedgerEntry.id))) == 0
        assert s.scalar(select(func.count(CashMovement.id))) == 0
        case = s.get(Case, case_id)
        assert case is not None and case.due_yen == 300


def test_idempotency_key_replays_and_refuses_another_request(db: Db) -> None:
    """The same Idempotency-Key records once and answers the same change; the key with
    another amount is refused."""
    case_id = _counter_case(db)
    with db.tx() as s:
        first = take_cash(
            s,
            case_id,
            amount_yen=300,
            tendered_yen=500,
            counter_code="1",
            actor=STAFF,
            request_key="k-1",
            now=NOW,
        )
    with db.tx() as s:
        again = take_cash(
            s,
            case_id,
            amount_yen=300,
            tendered_yen=500,
            counter_code="1",
            actor=STAFF,
            request_key="k-1",
            now=NOW,
        )
        assert again.replayed and again.payment.public_id == first.payment.public_id
        assert again.change_yen == 200
    with pytest.raises(KeyReused), db.tx() as s:
        take_cash(
            s,
            case_id,
            amount_yen=300,
            tendered_yen=1000,
            counter_code="1",
            actor=STAFF,
            request_key="k-1",
            now=NOW,
        )
    with db.tx() as s:
        assert s.scalar(select(func.count(Payment.id))) == 1
        assert s.scalar(select(func.count(LedgerEntry.id))) == 1


def test_added_copy_is_collected_on_the_counter_terminal(db: Db) -> None:
    """Paid 300 at the kiosk, a copy added at the counter: the 300 difference is a second
    payment of the same case on the counter's own terminal; both show in the ledger."""
    kiosk = simulated_payments(SimulatedTerminal())
    counter = simulated_payments(SimulatedTerminal(terminal_id="counter-1"))
    case_id = _kiosk_paid(db, kiosk)
    with db.tx() as s:
        amend_case(
            s,
            case_id,
            Amendment(fields={"juminhyo": {"copies": 2}}),
            catalog=db.catalog,
            actor=STAFF,
            now=NOW,
        )
    payment = start_counter_payment(
        db.sessions, counter, case_id, counter_code="1", actor=STAFF, now=NOW
    )
    assert payment.status.value == "pending" and payment.amount_yen == 300
    assert payment.sequence == 2
    with pytest.raises(PaymentInProgress), db.tx() as s:
        take_cash(
            s, case_id, amount_yen=300, tendered_yen=300, counter_code="1", actor=STAFF, now=NOW
        )
    counter.terminal.approve(payment.provider_ref)
    with db.tx() as s:
        refresh_payment(s, counter, payment.public_id, now=NOW)
        case = s.get(Case, case_id)
        assert case is not None and case.due_yen == 0 and case.fee_yen == 600
    lines = _ledger(db).lines
    assert [(x.procedure_code, x.method, x.count, x.gross_yen) for x in lines] == [
        ("juminhyo", "card", 2, 600)
    ]


def test_removed_procedure_is_refunded_through_the_provider_or_in_cash(db: Db) -> None:
    """A procedure removed after paying: the supervisor gives the difference back, once
    through the provider (a partial refund) and once in cash; the case stays open, the
    ledger's refund lines belong to the removed procedure."""
    kiosk = simulated_payments(SimulatedTerminal())
    for cash in (False, True):
        case_id = _kiosk_paid(db, kiosk, ("juminhyo", "inkan"))
        with db.tx() as s:
            amend_case(
                s, case_id, Amendment(remove=["inkan"]), catalog=db.catalog, actor=STAFF, now=NOW
            )
        with db.tx() as s:
            refunds = refund_difference(
                s,
                case_id,
                provider_for=lambda p: kiosk,
                cash=cash,
                counter_code="2",
                actor=CHIEF,
                reason="印鑑登録証明書は不要",
                now=NOW,
            )
            assert [r.amount_yen for r in refunds] == [300]
            assert refunds[0].method == ("cash" if cash else "provider")
            case = s.get(Case, case_id)
            assert case is not None and case.due_yen == 0
            assert case.status is CaseStatus.QUEUED  # not refunded: juminhyo goes on
            with pytest.raises(NothingDue):
                refund_difference(
                    s,
                    case_id,
                    provider_for=lambda p: kiosk,
                    cash=cash,
                    counter_code="2",
                    actor=CHIEF,
                    reason="x",
                    now=NOW,
                )
    ledger = _ledger(db)
    cells = {(x.procedure_code, x.method): (x.gross_yen, x.refunds_yen) for x in ledger.lines}
    assert cells == {
        ("juminhyo", "card"): (600, 0),
        ("inkan", "card"): (600, 300),
        ("inkan", "cash"): (0, 300),
    }
    assert {d.drawer: d.cash_out_yen for d in ledger.drawers}["2"] == 300


def test_refund_larger_than_paid_is_refused(db: Db) -> None:
    """Giving back more than a payment holds is refused, in cash and through the provider."""
    kiosk = simulated_payments(SimulatedTerminal())
    case_id = _kiosk_paid(db, kiosk)
    with db.tx() as s:
        public_id = s.scalars(select(Payment.public_id).where(Payment.case_id == case_id)).one()
    for cash in (True, False):
        with pytest.raises(RefundNotAllowed), db.tx() as s:
            refund_at_counter(
                s,
                public_id,
                provider_for=lambda p: kiosk,
                cash=cash,
                counter_code="1",
                actor=CHIEF,
                reason="x",
                amount_yen=301,
                now=NOW,
            )
    with db.tx() as s:
        assert s.scalar(select(func.count(PaymentRefund.id))) == 0
        assert get_payment(s, public_id).refunded_yen == 0


def test_full_cash_refund_of_a_cash_paid_case_refunds_it(db: Db) -> None:
    """The resident changes their mind at the counter: all of a cash payment given back
    refunds the case and cancels its ticket, as a full card refund does."""
    case_id = _counter_case(db)
    with db.tx() as s:
        taken = take_cash(
            s, case_id, amount_yen=300, tendered_yen=300, counter_code="1", actor=STAFF, now=NOW
        )
    with db.tx() as s:
        refund_at_counter(
            s,
            taken.payment.public_id,
            provider_for=lambda p: None,
            cash=True,
            counter_code="1",
            actor=CHIEF,
            reason="取りやめ",
            now=NOW,
        )
        case = s.get(Case, case_id)
        assert case is not None and case.status is CaseStatus.REFUNDED
    drawer = {d.drawer: d for d in _ledger(db).drawers}["1"]
    assert (drawer.cash_in_yen, drawer.cash_out_yen, drawer.expected_yen) == (300, 300, FLOAT)


def test_exemption_after_payment_is_given_back_and_counted_in_the_ledger(db: Db) -> None:
    """公用請求 after the resident paid: the payment is due back, the exempt line is counted
    (method 'exempt', 0 yen) and the case completes once the money is back."""
    kiosk = simulated_payments(SimulatedTerminal())
    case_id = _kiosk_paid(db, kiosk)
    with db.tx() as s:
        case = s.get(Case, case_id)
        assert case is not None
        grant_exemption(s, case, kind="official_request", basis="福祉事務所", actor=CHIEF, now=NOW)
        book_exemption(s, case, now=NOW)
    with db.tx() as s:
        refund_difference(
            s,
            case_id,
            provider_for=lambda p: kiosk,
            cash=False,
            counter_code="1",
            actor=CHIEF,
            reason="公用請求",
            now=NOW,
        )
        case = s.get(Case, case_id)
        assert case is not None and case.due_yen == 0 and case.status is CaseStatus.QUEUED
    cells = {(x.procedure_code, x.method): x for x in _ledger(db).lines}
    assert cells[("juminhyo", "exempt")].count == 1
    assert cells[("juminhyo", "card")].net_yen == 0


def test_closing_a_day(db: Db) -> None:
    """Counted cash per drawer: missing, negative and unexplained differences are refused
    all at once; a difference with a reason is recorded; a second close is refused; a late
    provider payment goes to the next day as an adjustment line."""
    case_id = _counter_case(db)
    with db.tx() as s:
        take_cash(
            s, case_id, amount_yen=300, tendered_yen=300, counter_code="1", actor=STAFF, now=NOW
        )
    with pytest.raises(CountInvalid) as info, db.tx() as s:
        close_day(
            s,
            TODAY,
            {"1": FLOAT + 200, "2": -1},
            drawers=DRAWERS,
            float_yen=FLOAT,
            actor=CHIEF,
            now=NOW,
        )
    assert info.value.errors == {"1": "reason_required", "2": "negative", "3": "missing"}
    with db.tx() as s:
        closed = close_day(
            s,
            TODAY,
            {"1": FLOAT + 200, "2": FLOAT, "3": FLOAT},
            drawers=DRAWERS,
            float_yen=FLOAT,
            actor=CHIEF,
            reasons={"1": "釣銭の渡し誤り"},
            now=NOW,
        )
        assert closed.closed and closed.cash_difference_yen == -100
    with pytest.raises(DayAlreadyClosed), db.tx() as s:
        close_day(
            s,
            TODAY,
            {"1": FLOAT, "2": FLOAT, "3": FLOAT},
            drawers=DRAWERS,
            float_yen=FLOAT,
            actor=CHIEF,
            now=NOW,
        )
    # A card payment the provider reports on the closed day lands on the next day.
    kiosk = simulated_payments(SimulatedTerminal())
    late = _kiosk_paid(db, kiosk)
    tomorrow = _ledger(db, TODAY + timedelta(days=1))
    assert tomorrow.total.gross_yen == 300 and [x.origin_day for x in tomorrow.late] == [TODAY]
    assert _ledger(db).total.gross_yen == 300  # the closed day did not change
    with db.tx() as s:
        assert s.get(Case, late) is not None


def test_ledger_equals_payment_and_refund_rows(db: Db) -> None:
    """After cash, card, a difference and refunds, the ledger's payment and refund lines
    sum to exactly the payment and refund rows; a re-added procedure is due again."""
    kiosk = simulated_payments(SimulatedTerminal())
    first = _counter_case(db, ("juminhyo", "inkan"))
    with db.tx() as s:
        take_cash(
            s, first, amount_yen=600, tendered_yen=1000, counter_code="1", actor=STAFF, now=NOW
        )
    second = _kiosk_paid(db, kiosk, ("juminhyo", "inkan"))
    with db.tx() as s:
        amend_case(s, second, Amendment(remove=["inkan"]), catalog=db.catalog, actor=STAFF, now=NOW)
        refund_difference(
            s,
            second,
            provider_for=lambda p: kiosk,
            cash=True,
            counter_code="3",
            actor=CHIEF,
            reason="x",
            now=NOW,
        )
        paid, refunded, _ = ledger_totals(s)
        assert (paid, refunded) == payments_total(s) == (1200, 300)
    with db.tx() as s:
        amend_case(s, second, Amendment(add=["inkan"]), catalog=db.catalog, actor=STAFF, now=NOW)
        case = s.get(Case, second)
        assert case is not None and case.due_yen == 300
        call_ticket(s, case.ticket, get_counter(s, "1"), actor=STAFF, now=NOW)
        start_serving(s, case.ticket, actor=STAFF, now=NOW)
    with pytest.raises(FeeDue), db.tx() as s:
        complete(s, s.get(Case, second).ticket, actor=STAFF, now=NOW)  # type: ignore[union-attr]
