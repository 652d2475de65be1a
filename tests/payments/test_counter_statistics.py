"""The section chief's counter figures (payments.counter_statistics): handling time per
procedure from the intake at the counter to completion, kiosk vs counter cases, cash vs
cashless payments, per day and per month, and the CSV."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from application.registry import simulated_payments
from hardware_sim.terminal import SimulatedTerminal
from kiosk.calling import complete
from kiosk.models import Case
from payments.counter import take_cash
from payments.counter_statistics import day_and_month, month_bounds, statistics_csv
from tests.domain.conftest import TODAY
from tests.payments.conftest import NOW, STAFF, Db
from tests.payments.test_counter_money import _counter_case, _kiosk_paid


def test_month_bounds_cover_the_whole_month() -> None:
    """February of a leap year ends on the 29th; December ends on the 31st."""
    assert month_bounds(date(2028, 2, 10)) == (date(2028, 2, 1), date(2028, 2, 29))
    assert month_bounds(date(2026, 12, 31)) == (date(2026, 12, 1), date(2026, 12, 31))


def test_counter_figures_of_the_day_and_month(db: Db) -> None:
    """A counter case paid 300 yen cash and completed 6 minutes after its intake and a kiosk
    case paid cashless: one counter and one kiosk case, one payment each way, a 360 s
    handling time for juminhyo, and the same figures in the CSV."""
    case_id = _counter_case(db)
    with db.tx() as s:
        take_cash(
            s, case_id, amount_yen=300, tendered_yen=500, counter_code="1", actor=STAFF, now=NOW
        )
        case = s.get(Case, case_id)
        assert case is not None and case.ticket is not None
        complete(s, case.ticket, actor=STAFF, now=NOW + timedelta(minutes=6))
    _kiosk_paid(db, simulated_payments(SimulatedTerminal()))
    with db.tx() as s:
        day, month = day_and_month(s, TODAY)
    for stats in (day, month):
        assert (stats.cases_counter, stats.payments_cash, stats.yen_cash) == (1, 1, 300)
        assert stats.cases_kiosk == 1
        assert (stats.payments_cashless, stats.yen_cashless) == (1, 300)
        assert stats.cash_share == 0.5
        assert [(h.procedure_code, h.cases, h.mean_s) for h in stats.handling] == [
            ("juminhyo", 1, 360.0)
        ]
    assert month.period == TODAY.strftime("%Y-%m") and day.period == TODAY.isoformat()
    rows = list(csv.reader(io.StringIO(statistics_csv((day, month)))))
    assert rows[0] == ["period", "metric", "key", "value"]
    assert [day.period, "handling_mean_s", "juminhyo", "360"] in rows
    assert [month.period, "payments", "cash", "1"] in rows
    assert [month.period, "yen", "cashless", "300"] in rows


def test_an_empty_day_has_no_shares(db: Db) -> None:
    """With nothing done the shares are unknown (None), not a division by zero."""
    with db.tx() as s:
        day, _month = day_and_month(s, TODAY - timedelta(days=400))
    assert day.handling == () and day.counter_share is None and day.cash_share is None
