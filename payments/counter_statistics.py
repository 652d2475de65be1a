"""What a section chief asks of the counter: how long a case takes at the counter per
procedure (called -> completed; a case opened at the counter from its intake), how many
cases started at a kiosk and how many at a counter, and how many payments (and yen) were
cash or cashless, per day or per month.

Read from tickets, cases' procedure codes and ledger lines, which hold no personal data, so
the figures survive purge. Read-only.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kiosk.models import Case, CaseProcedure, Ticket, TicketStatus
from payments.ledger import CASH
from payments.models import LedgerEntry


@dataclass(frozen=True)
class HandlingTime:
    """Counter handling time of one procedure over a period, in seconds."""

    procedure_code: str
    cases: int
    mean_s: float
    median_s: float
    p90_s: float


@dataclass(frozen=True)
class CounterStatistics:
    """One period (a day or a month)."""

    period: str
    first_day: date
    last_day: date
    handling: tuple[HandlingTime, ...]
    cases_kiosk: int
    cases_counter: int
    payments_cash: int
    payments_cashless: int
    yen_cash: int
    yen_cashless: int

    @staticmethod
    def _share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def counter_share(self) -> float | None:
        """Cases started at a counter, of all cases that got a ticket."""
        return self._share(self.cases_counter, self.cases_kiosk + self.cases_counter)

    @property
    def cash_share(self) -> float | None:
        """Cash payments, of all payments taken."""
        return self._share(self.payments_cash, self.payments_cash + self.payments_cashless)

    @property
    def cash_yen_share(self) -> float | None:
        return self._share(self.yen_cash, self.yen_cash + self.yen_cashless)


def month_bounds(day: date) -> tuple[date, date]:
    """The first and last day of ``day``'s month."""
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(q * len(ordered)) - 1)])


def counter_statistics(
    session: Session, first_day: date, last_day: date, period: str
) -> CounterStatistics:
    """The counter's figures for business days ``first_day`` .. ``last_day`` (``period``
    labels them, e.g. ``2026-04`` or ``2026-04-01``)."""
    done = session.execute(
        select(
            Ticket.case_id,
            Ticket.first_called_at,
            Ticket.serving_at,
            Ticket.completed_at,
        ).where(
            Ticket.business_day.between(first_day, last_day),
            Ticket.status == TicketStatus.DONE,
            Ticket.completed_at.is_not(None),
        )
    ).all()
    seconds = {}
    for case_id, called, serving, completed in done:
        start = called or serving  # a case opened at the counter is never called
        if start is not None and completed is not None:
            seconds[case_id] = max(0.0, (completed - start).total_seconds())
    per_procedure: dict[str, list[float]] = {}
    if seconds:
        rows = session.execute(
            select(CaseProcedure.case_id, CaseProcedure.procedure_code).where(
                CaseProcedure.case_id.in_(list(seconds))
            )
        )
        for case_id, code in rows:
            per_procedure.setdefault(code, []).append(seconds[case_id])
    handling = tuple(
        HandlingTime(
            code,
            len(values),
            sum(values) / len(values),
            _percentile(values, 0.5),
            _percentile(values, 0.9),
        )
        for code, values in sorted(per_procedure.items())
    )
    channels = dict(
        session.execute(
            select(Case.channel, func.count(Case.id))
            .join(Ticket, Ticket.case_id == Case.id)
            .where(Ticket.business_day.between(first_day, last_day))
            .group_by(Case.channel)
        ).all()
    )
    paid = session.execute(
        select(
            LedgerEntry.method,
            func.count(func.distinct(LedgerEntry.payment_id)),
            func.sum(LedgerEntry.amount_yen),
        )
        .where(
            LedgerEntry.ledger_day.between(first_day, last_day),
            LedgerEntry.kind == "payment",
        )
        .group_by(LedgerEntry.method)
    ).all()
    cash = [0, 0]
    cashless = [0, 0]
    for method, count, total in paid:  # one method per payment: counts add up
        into = cash if method == CASH else cashless
        into[0] += int(count)
        into[1] += int(total or 0)
    return CounterStatistics(
        period=period,
        first_day=first_day,
        last_day=last_day,
        handling=handling,
        cases_kiosk=int(channels.get("kiosk", 0)),
        cases_counter=int(channels.get("counter", 0)),
        payments_cash=cash[0],
        payments_cashless=cashless[0],
        yen_cash=cash[1],
        yen_cashless=cashless[1],
    )


def day_and_month(session: Session, day: date) -> tuple[CounterStatistics, CounterStatistics]:
    """The figures of ``day`` and of its month."""
    first, last = month_bounds(day)
    return (
        counter_statistics(session, day, day, day.isoformat()),
        counter_statistics(session, first, last, day.strftime("%Y-%m")),
    )


def statistics_csv(periods: tuple[CounterStatistics, ...]) -> str:
    """The figures as CSV, one value per row: ``period,metric,key,value`` (metrics:
    handling_cases, handling_mean_s, handling_median_s, handling_p90_s per procedure;
    cases per channel; payments and yen per ``cash`` / ``cashless``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(("period", "metric", "key", "value"))
    for stats in periods:
        for h in stats.handling:
            for metric, value in (
                ("handling_cases", h.cases),
                ("handling_mean_s", round(h.mean_s)),
                ("handling_median_s", round(h.median_s)),
                ("handling_p90_s", round(h.p90_s)),
            ):
                writer.writerow((stats.period, metric, h.procedure_code, value))
        writer.writerow((stats.period, "cases", "kiosk", stats.cases_kiosk))
        writer.writerow((stats.period, "cases", "counter", stats.cases_counter))
        writer.writerow((stats.period, "payments", "cash", stats.payments_cash))
        writer.writerow((stats.period, "payments", "cashless", stats.payments_cashless))
        writer.writerow((stats.period, "yen", "cash", stats.yen_cash))
        writer.writerow((stats.period, "yen", "cashless", stats.yen_cashless))
    return out.getvalue()
