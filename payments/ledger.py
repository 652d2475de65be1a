"""The day's takings (収納日計): ledger lines booked as money moves, the day's ledger per
procedure and payment method, the cash each drawer should hold, and closing a day.

Booking. Every payment that succeeds (kiosk or counter, card, QR or cash) and every refund
(through the service, made outside it, or cash given back) books ledger lines
(``LedgerEntry``) in the transaction that records it: one line per procedure the money
belongs to. A payment's amount goes to the procedures of its case that are not paid yet (in
the case's order); a refund comes first from procedures that hold more than their fee now
(removed, fewer copies, exempt), then from the case's last procedures. So the ledger is,
line for line, the sum of the payment and refund rows, and a test checks exactly that.

Days. A line counts on the business day the money moved (Asia/Tokyo). A closed day is never
written again: cash at a counter on a closed day is refused (:class:`DayClosed`); money the
service cannot refuse (a card payment or refund reported late by the provider) is booked on
the next open day, its ``origin_day`` saying where it belongs (an adjustment line). The day's
row in ``ledger_days`` is the lock: bookings share it, the closing takes it alone.

Closing. A supervisor counts each drawer (one per counter: its code); the expected amount is
the change fund (``KIOSK_CASH_FLOAT_YEN``) plus cash taken minus cash given back; any
difference (現金過不足) is recorded with its reason; then the day is locked.

Functions take a Session, may flush, never commit.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kiosk import audit
from kiosk.catalog import fiscal_year
from kiosk.clock import aware, business_day
from kiosk.errors import DomainError
from kiosk.models import Case
from payments.models import (
    CashMovement,
    DrawerCount,
    LedgerDay,
    LedgerEntry,
    Payment,
    PaymentRefund,
)

log = logging.getLogger(__name__)

CASH = "cash"
EXEMPT = "exempt"
CSV_COLUMNS = ("procedure_code", "method", "count", "gross_yen", "refunds_yen", "net_yen")
CSV_ENCODINGS = ("utf-8", "cp932")
# How payment methods are named in the ledger (a provider's own words vary).
_METHODS = {"card_present": "card", "card": "card", "paypay": "paypay", CASH: CASH}
LATEST_OPEN_DAY_SEARCH = 366  # a year of closed days in a row would be a mistake


class LedgerError(DomainError):
    """Root of the ledger's refusals."""


class DayClosed(LedgerError):
    """The business day is closed: nothing more is booked on it (``day``)."""

    def __init__(self, day: date) -> None:
        super().__init__(f"the ledger of {day.isoformat()} is closed")
        self.day = day


class DayAlreadyClosed(LedgerError):
    """The day was closed before (by ``closed_by``): a second closing changes nothing."""

    def __init__(self, day: date, closed_by: str | None) -> None:
        super().__init__(f"the ledger of {day.isoformat()} was closed already")
        self.day, self.closed_by = day, closed_by


class DayNotOver(LedgerError):
    """A day that has not begun cannot be closed."""


class CountInvalid(LedgerError):
    """Counted cash is wrong or missing: ``errors`` maps each drawer to ``missing``,
    ``unknown``, ``negative`` or ``reason_required`` (a difference needs its reason)."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"drawer {k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


def ledger_method(payment: Payment) -> str:
    """How the ledger names the payment's method: ``cash``, ``card``, ``paypay``, or the
    provider's word (the provider's name when it gave none)."""
    if payment.provider == CASH:
        return CASH
    method = payment.method or payment.provider
    return _METHODS.get(method, method)[:32]


# --- the day's lock ---------------------------------------------------------------------------


def _insert_day(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(LedgerDay).on_conflict_do_nothing(index_elements=[LedgerDay.day])


def lock_day(session: Session, day: date, *, exclusive: bool = False) -> LedgerDay:
    """The day's row, created if needed and locked: shared by bookings (many at once),
    exclusive for the closing, so a booking never lands on a day being closed. (SQLite runs
    one writer at a time anyway.)"""
    session.execute(_insert_day(session.get_bind().dialect.name).values(day=day))
    stmt = (
        select(LedgerDay)
        .where(LedgerDay.day == day)
        .with_for_update(read=not exclusive)
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).one()


def booking_day(session: Session, now: datetime, *, refuse_closed: bool) -> date:
    """The ledger day for money that moves at ``now``: its business day; when that day is
    closed, DayClosed (``refuse_closed``: cash at the counter) or the next open day (money
    the provider reports, which cannot be refused)."""
    day = business_day(now)
    for _ in range(LATEST_OPEN_DAY_SEARCH):
        row = lock_day(session, day)
        if row.closed_at is None:
            return day
        if refuse_closed:
            raise DayClosed(day)
        day += timedelta(days=1)
    raise DayClosed(day)  # pragma: no cover - a year of closed days


def is_closed(session: Session, day: date) -> bool:
    """Whether the ledger of ``day`` is closed (no lock)."""
    return bool(session.scalar(select(LedgerDay.closed_at).where(LedgerDay.day == day)))


# --- allocation to procedures ---------------------------------------------------------------


def _booked(session: Session, case_id: int) -> dict[str, int]:
    rows = session.execute(
        select(LedgerEntry.procedure_code, func.sum(LedgerEntry.amount_yen))
        .where(LedgerEntry.case_id == case_id)
        .group_by(LedgerEntry.procedure_code)
    )
    return {code: int(total or 0) for code, total in rows}


def allocate_payment(
    lines: Sequence[tuple[str, int]], booked: Mapping[str, int], amount: int
) -> list[tuple[str, int]]:
    """Split a payment of ``amount`` over procedure ``lines`` ((code, fee) in case order):
    each takes what its fee still lacks (fee - ``booked``), in order; anything left over
    goes to the first line. Returns (code, yen) with yen > 0, summing to ``amount``."""
    parts: dict[str, int] = {}
    left = amount
    for code, fee in lines:
        take = min(left, max(0, fee - booked.get(code, 0)))
        if take:
            parts[code] = parts.get(code, 0) + take
            left -= take
    if left:
        first = lines[0][0] if lines else "-"
        parts[first] = parts.get(first, 0) + left
    return [(code, yen) for code, yen in parts.items() if yen]


def allocate_refund(
    lines: Sequence[tuple[str, int]], booked: Mapping[str, int], amount: int
) -> list[tuple[str, int]]:
    """Split a refund of ``amount`` over the procedures that hold money: first those that
    hold more than their fee now (removed ones hold it all), then the others from the last
    line back. Returns (code, yen) with yen > 0, summing to ``amount``."""
    fees = dict(lines)
    order = [code for code in booked if code not in fees] + [code for code, _ in lines]
    parts: dict[str, int] = {}
    left = amount
    for code in order:  # what is held beyond the fee
        take = min(left, max(0, booked.get(code, 0) - fees.get(code, 0)))
        if take:
            parts[code] = take
            left -= take
    for code in reversed([c for c, _ in lines]):  # then what is held at all
        take = min(left, max(0, booked.get(code, 0) - parts.get(code, 0)))
        if take:
            parts[code] = parts.get(code, 0) + take
            left -= take
    if left:
        last = lines[-1][0] if lines else (order[0] if order else "-")
        parts[last] = parts.get(last, 0) + left
    return [(code, yen) for code, yen in parts.items() if yen]


def _lines_of(case: Case) -> list[tuple[str, int]]:
    return [(line.procedure_code, line.fee_yen) for line in case.procedures]


def _payment_origin(session: Session, payment: Payment) -> date:
    day = session.scalar(
        select(func.min(LedgerEntry.origin_day)).where(
            LedgerEntry.payment_id == payment.id, LedgerEntry.kind == "payment"
        )
    )
    return day or business_day(payment.succeeded_at or payment.created_at)


# --- booking ------------------------------------------------------------------------------------


def book_payment(session: Session, payment: Payment, *, now: datetime | None = None) -> date:
    """Book a payment that has just succeeded: one line per procedure it pays. Cash on a
    closed day raises DayClosed (the caller's transaction rolls back: nothing recorded);
    other money goes to the next open day. Returns the ledger day."""
    now = aware(now)
    day = booking_day(session, now, refuse_closed=payment.provider == CASH)
    origin = business_day(now)
    parts = allocate_payment(
        _lines_of(payment.case), _booked(session, payment.case_id), payment.amount_yen
    )
    method = ledger_method(payment)
    for code, yen in parts:
        session.add(
            LedgerEntry(
                ledger_day=day,
                origin_day=origin,
                fiscal_year=fiscal_year(origin),
                kind="payment",
                procedure_code=code,
                method=method,
                amount_yen=yen,
                case_id=payment.case_id,
                payment_id=payment.id,
                counter_code=payment.counter_code,
                booked_at=now,
            )
        )
    session.flush()
    return day


def book_refund(session: Session, refund: PaymentRefund, *, now: datetime | None = None) -> date:
    """Book a refund just recorded: lines against the procedures it gives money back for,
    on the fiscal year of the payment it refunds. Cash given back on a closed day raises
    DayClosed; a refund made at the provider goes to the next open day."""
    now = aware(now)
    payment = refund.payment
    cash = refund.method == CASH
    day = booking_day(session, now, refuse_closed=cash)
    origin = _payment_origin(session, payment)
    parts = allocate_refund(
        _lines_of(payment.case), _booked(session, payment.case_id), refund.amount_yen
    )
    method = CASH if cash else ledger_method(payment)
    for code, yen in parts:
        session.add(
            LedgerEntry(
                ledger_day=day,
                origin_day=origin,
                fiscal_year=fiscal_year(origin),
                kind="refund",
                procedure_code=code,
                method=method,
                amount_yen=-yen,
                case_id=payment.case_id,
                payment_id=payment.id,
                refund_id=refund.id,
                counter_code=refund.counter_code if cash else payment.counter_code,
                booked_at=now,
            )
        )
    session.flush()
    return day


def book_exemption(session: Session, case: Case, *, now: datetime | None = None) -> date:
    """Book an exemption: one zero line per procedure of the case (method ``exempt``), so
    the day's sheet counts exempt certificates. Returns the ledger day."""
    now = aware(now)
    day = booking_day(session, now, refuse_closed=False)
    origin = business_day(now)
    for line in case.procedures:
        session.add(
            LedgerEntry(
                ledger_day=day,
                origin_day=origin,
                fiscal_year=fiscal_year(origin),
                kind="exemption",
                procedure_code=line.procedure_code,
                method=EXEMPT,
                amount_yen=0,
                case_id=case.id,
                booked_at=now,
            )
        )
    session.flush()
    return day


def record_cash_movement(
    session: Session,
    *,
    day: date,
    drawer: str,
    amount_yen: int,
    payment: Payment,
    actor: str,
    now: datetime,
    refund: PaymentRefund | None = None,
    tendered_yen: int | None = None,
) -> CashMovement:
    """Cash into (``amount_yen`` > 0, with what was ``tendered`` and the change) or out of
    (< 0) a drawer on ledger day ``day``."""
    movement = CashMovement(
        ledger_day=day,
        drawer=drawer,
        amount_yen=amount_yen,
        tendered_yen=tendered_yen,
        change_yen=None if tendered_yen is None else tendered_yen - amount_yen,
        payment_id=payment.id,
        refund_id=refund.id if refund is not None else None,
        actor=actor,
        at=now,
    )
    session.add(movement)
    session.flush()
    return movement


# --- the day's ledger ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerLine:
    """One row of the day's takings: a procedure and a method (``TOTAL`` for the sum)."""

    procedure_code: str
    method: str
    count: int
    gross_yen: int
    refunds_yen: int

    @property
    def net_yen(self) -> int:
        return self.gross_yen - self.refunds_yen

    def csv_row(self) -> list[str]:
        return [
            self.procedure_code,
            self.method,
            str(self.count),
            str(self.gross_yen),
            str(self.refunds_yen),
            str(self.net_yen),
        ]


@dataclass(frozen=True)
class DrawerView:
    """One drawer: the change fund, cash in and out, what it should hold, and once the day
    is closed what was counted and the difference (with its reason)."""

    drawer: str
    float_yen: int
    cash_in_yen: int
    cash_out_yen: int
    counted_yen: int | None = None
    difference_yen: int | None = None
    reason: str = ""

    @property
    def expected_yen(self) -> int:
        return self.float_yen + self.cash_in_yen - self.cash_out_yen


@dataclass(frozen=True)
class LateLine:
    """A line booked on this day for money that moved on an earlier, already closed day
    (``origin_day``): an adjustment, never an edit of the closed day."""

    origin_day: date
    procedure_code: str
    method: str
    amount_yen: int


@dataclass(frozen=True)
class DayLedger:
    """The takings of one business day: lines per procedure and method, their total, the
    drawers, lines that belong to earlier days, refunds of earlier fiscal years, and who
    closed the day when."""

    day: date
    lines: tuple[LedgerLine, ...]
    total: LedgerLine
    drawers: tuple[DrawerView, ...]
    late: tuple[LateLine, ...] = ()
    prior_year_refunds_yen: int = 0
    closed_at: datetime | None = None
    closed_by: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    @property
    def cash_difference_yen(self) -> int:
        return sum(d.difference_yen or 0 for d in self.drawers)


def _drawer_sums(session: Session, day: date) -> dict[str, tuple[int, int]]:
    """Cash in and out per drawer on ``day`` (portable: no two-argument min/max in SQL)."""
    totals: dict[str, list[int]] = {}
    rows = session.execute(
        select(CashMovement.drawer, CashMovement.amount_yen).where(CashMovement.ledger_day == day)
    )
    for drawer, amount in rows:
        entry = totals.setdefault(drawer, [0, 0])
        if amount > 0:
            entry[0] += amount
        else:
            entry[1] -= amount
    return {d: (i, o) for d, (i, o) in totals.items()}


def day_ledger(session: Session, day: date, *, drawers: Sequence[str], float_yen: int) -> DayLedger:
    """The ledger of ``day``: lines per (procedure, method) sorted by code and method,
    their total, the drawers (``drawers`` plus any that moved cash), late lines and the
    closing if any. Read-only."""
    rows = session.execute(
        select(
            LedgerEntry.procedure_code,
            LedgerEntry.method,
            LedgerEntry.kind,
            func.count(LedgerEntry.id),
            func.sum(LedgerEntry.amount_yen),
        )
        .where(LedgerEntry.ledger_day == day)
        .group_by(LedgerEntry.procedure_code, LedgerEntry.method, LedgerEntry.kind)
    )
    cells: dict[tuple[str, str], list[int]] = {}
    for code, method, kind, count, amount in rows:
        cell = cells.setdefault((code, method), [0, 0, 0])
        if kind == "refund":
            cell[2] += -int(amount or 0)
        else:
            cell[0] += int(count)
            cell[1] += int(amount or 0)
    lines = tuple(
        LedgerLine(code, method, *cells[(code, method)]) for code, method in sorted(cells)
    )
    total = LedgerLine(
        "TOTAL",
        "",
        sum(line.count for line in lines),
        sum(line.gross_yen for line in lines),
        sum(line.refunds_yen for line in lines),
    )
    moved = _drawer_sums(session, day)
    counts = {
        c.drawer: c for c in session.scalars(select(DrawerCount).where(DrawerCount.day == day))
    }
    names = list(dict.fromkeys([*drawers, *sorted(moved), *sorted(counts)]))
    drawer_views = tuple(
        DrawerView(
            drawer=name,
            float_yen=counts[name].float_yen if name in counts else float_yen,
            cash_in_yen=moved.get(name, (0, 0))[0],
            cash_out_yen=moved.get(name, (0, 0))[1],
            counted_yen=counts[name].counted_yen if name in counts else None,
            difference_yen=counts[name].difference_yen if name in counts else None,
            reason=counts[name].reason if name in counts else "",
        )
        for name in names
    )
    # Booked here because the day the money moved was closed by then.
    late = tuple(
        LateLine(business_day(e.booked_at), e.procedure_code, e.method, e.amount_yen)
        for e in session.scalars(
            select(LedgerEntry).where(LedgerEntry.ledger_day == day).order_by(LedgerEntry.id)
        )
        if business_day(e.booked_at) != day
    )
    prior = session.scalar(
        select(func.sum(LedgerEntry.amount_yen)).where(
            LedgerEntry.ledger_day == day,
            LedgerEntry.kind == "refund",
            LedgerEntry.fiscal_year < fiscal_year(day),
        )
    )
    closing = session.get(LedgerDay, day)
    return DayLedger(
        day=day,
        lines=lines,
        total=total,
        drawers=drawer_views,
        late=late,
        prior_year_refunds_yen=-int(prior or 0),
        closed_at=closing.closed_at if closing else None,
        closed_by=closing.closed_by if closing else None,
    )


def ledger_csv(ledger: DayLedger) -> str:
    """The ledger as CSV: the header ``procedure_code,method,count,gross_yen,refunds_yen,
    net_yen``, one row per line, a final ``TOTAL`` row; CRLF line ends (what accounting
    systems read)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for line in (*ledger.lines, ledger.total):
        writer.writerow(line.csv_row())
    return out.getvalue()


def encode_csv(text: str, encoding: str) -> bytes:
    """``utf-8`` or ``cp932`` (Shift_JIS as Windows writes it, which municipal systems
    read); ValueError for another encoding."""
    if encoding not in CSV_ENCODINGS:
        raise ValueError(f"encoding {encoding!r}: expected {' or '.join(CSV_ENCODINGS)}")
    return text.encode(encoding)


# --- closing a day ------------------------------------------------------------------------------


def close_day(
    session: Session,
    day: date,
    counted: Mapping[str, int],
    *,
    drawers: Sequence[str],
    float_yen: int,
    actor: str,
    reasons: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> DayLedger:
    """Close the ledger of ``day``: ``counted`` yen per drawer (every drawer of
    ``drawers`` and any that moved cash that day), a reason for each drawer whose count
    differs from what it should hold; the counts and differences are recorded and the day
    is locked (``actor``: a supervisor; the caller checks the role).

    Raises DayNotOver (a day after today), DayAlreadyClosed, CountInvalid (every problem
    at once; nothing recorded).
    """
    now = aware(now)
    reasons = reasons or {}
    if day > business_day(now):
        raise DayNotOver(f"{day.isoformat()} has not begun")
    row = lock_day(session, day, exclusive=True)
    if row.closed_at is not None:
        raise DayAlreadyClosed(day, row.closed_by)
    ledger = day_ledger(session, day, drawers=drawers, float_yen=float_yen)
    expected = {d.drawer: d for d in ledger.drawers}
    errors: dict[str, str] = {}
    for name in expected:
        if name not in counted:
            errors[name] = "missing"
    for name, yen in counted.items():
        if name not in expected:
            errors[name] = "unknown"
        elif yen < 0:
            errors[name] = "negative"
        elif yen != expected[name].expected_yen and not (reasons.get(name) or "").strip():
            errors[name] = "reason_required"
    if errors:
        raise CountInvalid(errors)
    differences = {}
    for name, view in expected.items():
        difference = counted[name] - view.expected_yen
        differences[name] = difference
        session.add(
            DrawerCount(
                day=day,
                drawer=name,
                float_yen=view.float_yen,
                expected_yen=view.expected_yen,
                counted_yen=counted[name],
                difference_yen=difference,
                reason=(reasons.get(name) or "").strip()[:200] if difference else "",
                counted_by=audit.check_actor(actor),
                counted_at=now,
            )
        )
    row.closed_at, row.closed_by = now, actor
    session.flush()
    audit.record(
        session,
        actor,
        "ledger.closed",
        detail={
            "day": day.isoformat(),
            "gross_yen": ledger.total.gross_yen,
            "refunds_yen": ledger.total.refunds_yen,
            "differences_yen": differences,
        },
        now=now,
    )
    log.info("ledger %s closed by %s", day.isoformat(), actor)
    return day_ledger(session, day, drawers=drawers, float_yen=float_yen)


def ledger_totals(session: Session) -> tuple[int, int, int]:
    """(sum of payment lines, sum of refund lines, lines) over the whole ledger: what the
    invariant test compares with the payment and refund rows."""
    payments = session.scalar(
        select(func.sum(LedgerEntry.amount_yen)).where(LedgerEntry.kind == "payment")
    )
    refunds = session.scalar(
        select(func.sum(LedgerEntry.amount_yen)).where(LedgerEntry.kind == "refund")
    )
    count = session.scalar(select(func.count(LedgerEntry.id)))
    return int(payments or 0), -int(refunds or 0), int(count or 0)
