"""The ledger's invariant under randomised days at the counter: after every operation
(card payments at the kiosk, cash at the counter chosen at the kiosk, counter cases, cash,
the counter's terminal approving or declining, amendments, exemptions, refunds of
differences and of payments, bad requests, closing days), on SQLite and PostgreSQL:

- the ledger's payment lines sum to the taken payments' amounts and its refund lines to
  the refund rows, payment by payment and refund by refund;
- each drawer's cash movements equal the day's cash lines of that drawer;
- a closed day never changes.

A seeded random loop (not Hypothesis): every run replays the same seeds, bounded in time.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from application.registry import simulated_payments
from hardware_sim.terminal import SimulatedTerminal
from kiosk import cases
from kiosk.amendments import Amendment, amend_case
from kiosk.calling import call_ticket, complete, start_serving
from kiosk.clock import business_day
from kiosk.counter_cases import (
    grant_exemption,
    leave_fee_to_counter,
    open_counter_case,
    serve_at_counter,
)
from kiosk.counters import get_counter
from kiosk.errors import DomainError
from kiosk.models import Case, CaseStatus, TicketStatus
from kiosk.tickets import issue_ticket
from payments.collect import refresh_payment, start_payment
from payments.counter import refund_at_counter, refund_difference, start_counter_payment, take_cash
from payments.ledger import book_exemption, close_day, day_ledger
from payments.models import CashMovement, LedgerEntry, Payment, PaymentRefund
from payments.provider import PaymentError
from payments.states import TAKEN
from tests.domain.conftest import make_card
from tests.payments.conftest import KIOSK, STAFF, Db

CHIEF = "staff:chief"
DRAWERS = ("1", "2", "3")
FLOAT = 20_000
SEEDS = (11, 23, 57)
STEPS = 60
PROCEDURES = ("juminhyo", "inkan", "juminhyo_kisai", "mibun", "koseki")
FIELDS = {
    "koseki": {"honseki": "東京都千代田区九段南一丁目", "hittousha": "髙橋一郎"},
    "mibun": {"honseki": "東京都千代田区九段南一丁目"},
}


class Day:
    """The simulated office: a clock, the kiosk's terminal and each counter's."""

    def __init__(self, db: Db, rng: random.Random) -> None:
        self.db, self.rng = db, rng
        self.now = datetime(2026, 4, 1, 0, 5, tzinfo=UTC)  # 09:05 in Tokyo
        self.kiosk = simulated_payments(SimulatedTerminal())
        self.counters = {c: simulated_payments(SimulatedTerminal()) for c in DRAWERS}
        self.closed: dict[object, tuple[int, int]] = {}

    def tick(self) -> datetime:
        self.now += timedelta(minutes=self.rng.randint(1, 9))
        return self.now

    def provider_for(self, payment: Payment):  # type: ignore[no-untyped-def]
        return self.counters[payment.counter_code] if payment.counter_code else self.kiosk

    def cases_where(self, predicate: Callable[[Case], bool]) -> list[int]:
        with self.db.tx() as s:
            return [c.id for c in s.scalars(select(Case).order_by(Case.id)) if predicate(c)]

    # --- operations (each may be refused: nothing may be half-written) -------------------

    def kiosk_card(self) -> None:
        with self.db.tx() as s:
            case = self._opened(s, kiosk=True)
            cases.confirm_case(s, case, catalog=self.db.catalog, actor=KIOSK, now=self.now)
            case_id = case.id
        payment = start_payment(self.db.sessions, self.kiosk, case_id, actor=KIOSK, now=self.tick())
        if self.rng.random() < 0.8:
            self.kiosk.terminal.approve(payment.provider_ref)
        else:
            self.kiosk.terminal.decline("card_declined", payment.provider_ref)
        with self.db.tx() as s:
            refresh_payment(s, self.kiosk, payment.public_id, now=self.tick())

    def kiosk_cash(self) -> None:
        with self.db.tx() as s:
            case = self._opened(s, kiosk=True)
            cases.confirm_case(s, case, catalog=self.db.catalog, actor=KIOSK, now=self.now)
            leave_fee_to_counter(s, case, actor=KIOSK, now=self.now)
            issue_ticket(s, case, actor=KIOSK, now=self.now)

    def counter_case(self) -> None:
        with self.db.tx() as s:
            case = self._opened(s, kiosk=False)
            cases.confirm_case(s, case, catalog=self.db.catalog, actor=STAFF, now=self.now)
            counter = get_counter(s, self.rng.choice(DRAWERS))
            serve_at_counter(s, case, counter, actor=STAFF, now=self.now)

    def _opened(self, s, *, kiosk: bool) -> Case:  # type: ignore[no-untyped-def]
        chosen = self.rng.sample(PROCEDURES[:3], self.rng.randint(1, 2))
        if kiosk:
            case = cases.open_case(
                s, make_card(), chosen, catalog=self.db.catalog, actor=KIOSK, now=self.tick()
            )
        else:
            case = open_counter_case(
                s, chosen, catalog=self.db.catalog, actor=STAFF, card=make_card(), now=self.tick()
            )
        if self.rng.random() < 0.4:
            cases.set_resident_fields(
                s,
                case,
                chosen[0],
                {"copies": self.rng.randint(1, 3)},
                catalog=self.db.catalog,
                actor=KIOSK,
                now=self.now,
            )
        return case

    def pay_cash(self) -> None:
        owing = self.cases_where(lambda c: c.due_yen > 0)
        if not owing:
            return
        case_id = self.rng.choice(owing)
        with self.db.tx() as s:
            due = s.get(Case, case_id).due_yen  # type: ignore[union-attr]
        amount = due if self.rng.random() < 0.85 else due + self.rng.choice((-100, 100))
        tendered = amount + self.rng.choice((0, 0, 200, 700, -50))
        with self.db.tx() as s:
            take_cash(
                s,
                case_id,
                amount_yen=amount,
                tendered_yen=tendered,
                counter_code=self.rng.choice(DRAWERS),
                actor=STAFF,
                now=self.tick(),
                request_key=f"k{self.rng.randint(0, 40)}",
            )

    def pay_terminal(self) -> None:
        owing = self.cases_where(lambda c: c.due_yen > 0)
        if not owing:
            return
        code = self.rng.choice(DRAWERS)
        provider = self.counters[code]
        payment = start_counter_payment(
            self.db.sessions,
            provider,
            self.rng.choice(owing),
            counter_code=code,
            actor=STAFF,
            now=self.tick(),
        )
        if self.rng.random() < 0.75:
            provider.terminal.approve(payment.provider_ref)
        else:
            provider.terminal.decline("insufficient_funds", payment.provider_ref)
        with self.db.tx() as s:
            refresh_payment(s, provider, payment.public_id, now=self.tick())

    def amend(self) -> None:
        open_cases = self.cases_where(
            lambda c: c.status in (CaseStatus.QUEUED, CaseStatus.SERVING, CaseStatus.CALLED)
        )
        if not open_cases:
            return
        case_id = self.rng.choice(open_cases)
        with self.db.tx() as s:
            have = [line.procedure_code for line in s.get(Case, case_id).procedures]  # type: ignore[union-attr]
        roll = self.rng.random()
        if roll < 0.35:
            missing = [p for p in PROCEDURES if p not in have]
            code = self.rng.choice(missing)
            amendment = Amendment(add=[code], fields={code: FIELDS[code]} if code in FIELDS else {})
        elif roll < 0.6 and len(have) > 1:
            amendment = Amendment(remove=[self.rng.choice(have)])
        else:
            code = self.rng.choice([h for h in have if h in PROCEDURES[:4]] or have)
            amendment = Amendment(fields={code: {"copies": self.rng.randint(1, 4)}})
        with self.db.tx() as s:
            amend_case(s, case_id, amendment, catalog=self.db.catalog, actor=STAFF, now=self.tick())

    def exempt(self) -> None:
        candidates = self.cases_where(
            lambda c: c.status in (CaseStatus.QUEUED, CaseStatus.SERVING) and not c.exemption
        )
        if not candidates:
            return
        with self.db.tx() as s:
            case = s.get(Case, self.rng.choice(candidates))
            assert case is not None
            grant_exemption(
                s, case, kind="statutory", basis="生活保護", actor=CHIEF, now=self.tick()
            )
            book_exemption(s, case, now=self.now)

    def refund_owed(self) -> None:
        owed = self.cases_where(lambda c: c.due_yen < 0)
        if not owed:
            return
        with self.db.tx() as s:
            refund_difference(
                s,
                self.rng.choice(owed),
                provider_for=self.provider_for,
                cash=self.rng.random() < 0.5,
                counter_code=self.rng.choice(DRAWERS),
                actor=CHIEF,
                reason="差額",
                now=self.tick(),
            )

    def refund_payment(self) -> None:
        with self.db.tx() as s:
            taken = [
                p.public_id
                for p in s.scalars(select(Payment).where(Payment.status.in_(list(TAKEN))))
                if p.refunded_yen < p.amount_yen
            ]
        if not taken:
            return
        with self.db.tx() as s:
            refund_at_counter(
                s,
                self.rng.choice(taken),
                provider_for=self.provider_for,
                cash=self.rng.random() < 0.5,
                counter_code=self.rng.choice(DRAWERS),
                actor=CHIEF,
                reason="返金",
                amount_yen=self.rng.choice((None, 100, 300, 10_000)),
                now=self.tick(),
            )

    def serve_and_complete(self) -> None:
        waiting = self.cases_where(lambda c: c.status in (CaseStatus.QUEUED, CaseStatus.SERVING))
        if not waiting:
            return
        with self.db.tx() as s:
            case = s.get(Case, self.rng.choice(waiting))
            assert case is not None and case.ticket is not None
            ticket = case.ticket
            if ticket.status is TicketStatus.WAITING:
                call_ticket(s, ticket, get_counter(s, "1"), actor=STAFF, now=self.tick())
                start_serving(s, ticket, actor=STAFF, now=self.now)
            complete(s, ticket, actor=STAFF, now=self.now)

    def close(self) -> None:
        day = business_day(self.now)
        with self.db.tx() as s:
            ledger = day_ledger(s, day, drawers=DRAWERS, float_yen=FLOAT)
            counted = {d.drawer: d.expected_yen for d in ledger.drawers}
            reasons = {}
            if self.rng.random() < 0.5:
                counted["1"] += self.rng.choice((-500, 1000))
                reasons["1"] = "過不足"
            close_day(
                s,
                day,
                counted,
                drawers=DRAWERS,
                float_yen=FLOAT,
                actor=CHIEF,
                reasons=reasons,
                now=self.now,
            )
        self.closed[day] = self._day_sums(day)
        if self.rng.random() < 0.7:  # the next morning; else staff go on after closing
            self.now = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)

    # --- the invariant ---------------------------------------------------------------------

    def _day_sums(self, day: object) -> tuple[int, int]:
        with self.db.tx() as s:
            total = s.scalar(
                select(func.coalesce(func.sum(LedgerEntry.amount_yen), 0)).where(
                    LedgerEntry.ledger_day == day
                )
            )
            count = s.scalar(
                select(func.count(LedgerEntry.id)).where(LedgerEntry.ledger_day == day)
            )
        return int(total), int(count)

    def check(self) -> None:
        with self.db.tx() as s:
            for payment in s.scalars(select(Payment)):
                booked = s.scalar(
                    select(func.coalesce(func.sum(LedgerEntry.amount_yen), 0)).where(
                        LedgerEntry.payment_id == payment.id, LedgerEntry.kind == "payment"
                    )
                )
                expected = payment.amount_yen if payment.status in TAKEN else 0
                assert booked == expected, (payment, booked)
                assert payment.refunded_yen == sum(r.amount_yen for r in payment.refunds)
            for refund in s.scalars(select(PaymentRefund)):
                booked = s.scalar(
                    select(func.sum(LedgerEntry.amount_yen)).where(
                        LedgerEntry.refund_id == refund.id
                    )
                )
                assert booked == -refund.amount_yen, (refund.id, booked)
            cash_lines = s.execute(
                select(LedgerEntry.ledger_day, func.sum(LedgerEntry.amount_yen))
                .where(LedgerEntry.method == "cash")
                .group_by(LedgerEntry.ledger_day)
            ).all()
            drawers = dict(
                s.execute(
                    select(CashMovement.ledger_day, func.sum(CashMovement.amount_yen)).group_by(
                        CashMovement.ledger_day
                    )
                ).all()
            )
            assert {d: int(v) for d, v in cash_lines} == {d: int(v) for d, v in drawers.items()}
        for day, sums in self.closed.items():
            assert self._day_sums(day) == sums, f"closed day {day} changed"


OPERATIONS = (
    ("kiosk_card", 3),
    ("kiosk_cash", 2),
    ("counter_case", 3),
    ("pay_cash", 4),
    ("pay_terminal", 2),
    ("amend", 3),
    ("exempt", 1),
    ("refund_owed", 2),
    ("refund_payment", 2),
    ("serve_and_complete", 2),
    ("close", 1),
)


@pytest.mark.parametrize("seed", SEEDS)
def test_ledger_equals_its_payment_and_refund_rows(db: Db, seed: int) -> None:
    """A seeded random day (STEPS operations): the invariant holds after every one, refused
    operations included."""
    rng = random.Random(seed)
    office = Day(db, rng)
    names = [name for name, weight in OPERATIONS for _ in range(weight)]
    done: dict[str, int] = {}
    for _ in range(STEPS):
        name = rng.choice(names)
        try:
            getattr(office, name)()
            done[name] = done.get(name, 0) + 1
        except (DomainError, PaymentError, ValueError):
            done[f"{name}:refused"] = done.get(f"{name}:refused", 0) + 1
        office.check()
    assert sum(v for k, v in done.items() if not k.endswith(":refused")) > STEPS // 3, done
