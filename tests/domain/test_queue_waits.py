"""Honest waits: a range from the queue's recent service times, pulled towards the
catalog's default, never under a floor, never "no wait" while anyone is ahead."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from kiosk.calling import call_next, call_ticket, complete, start_serving
from kiosk.counters import get_counter
from kiosk.overview import ticket_status
from kiosk.snapshots import ticket_views
from kiosk.waits import MIN_SERVICE_S, ServiceTimes, WaitEstimate, estimate, estimate_wait
from tests.domain.conftest import NOW, STAFF, Db

MIN = timedelta(minutes=1)
NONE = ServiceTimes(0, None, None)


def _served(db: Db, seconds: list[int], procedures: tuple[str, ...] = ("juminhyo",)) -> None:
    """Serve one ticket per entry of ``seconds`` at counter 1 (or 3 for moving)."""
    counter = "3" if "tenkyo" in procedures else "1"
    for i, duration in enumerate(seconds):
        tid = db.issue(list(procedures), now=NOW - timedelta(hours=2))
        with db.tx() as s:
            t = call_ticket(s, db.ticket(s, tid), get_counter(s, counter), actor=STAFF, now=NOW)
            start_serving(s, t, actor=STAFF, now=NOW + i * MIN)
            complete(s, t, actor=STAFF, now=NOW + i * MIN + timedelta(seconds=duration))


def test_no_history_is_the_catalog_default_give_or_take_half() -> None:
    """Without service history: people ahead x the default / counters, +- the spread of
    that many services at half the default each."""
    wait = estimate(4, 300, NONE, 2)
    assert wait.expected_s == 600
    assert (wait.low_s, wait.high_s) == (600 - 150, 600 + 150)  # sqrt(4) x 150 / 2
    assert wait.minutes() == (5, 15)  # 7.5-12.5 minutes, said in fives


def test_nobody_ahead_is_zero_and_one_ahead_is_at_least_a_minute() -> None:
    """Zero people ahead is "you are next" (0, 0); one ahead is never under a minute."""
    assert estimate(0, 300, NONE, 3) == WaitEstimate(0, 0, 0, 0)
    assert estimate(0, 300, NONE, 3).minutes() == (0, 0)
    quick = estimate(1, 60, ServiceTimes(20, 1.0, 1.0), 5)
    assert quick.low_s >= MIN_SERVICE_S // 5 and quick.minutes()[0] >= 1


@pytest.mark.parametrize(
    ("low_s", "high_s", "minutes"),
    [
        (30, 50, (1, 1)),
        (130, 290, (2, 5)),
        (400, 620, (5, 15)),  # 6-11 said as 5-15
        (700, 1100, (10, 20)),
        (3000, 4000, (50, 70)),
    ],
)
def test_minutes_are_told_as_people_say_them(low_s: int, high_s: int, minutes: tuple) -> None:
    """The range in whole minutes, rounded out to 5 above 10 minutes ("10-20")."""
    assert WaitEstimate(3, (low_s + high_s) // 2, low_s, high_s).minutes() == minutes


def test_one_instant_service_does_not_drive_the_estimate_to_zero(db: Db) -> None:
    """A service completed the second it started moves the estimate a little: with three
    people ahead it still says several minutes (the issue's 「待ち時間なし」 bug)."""
    _served(db, [0])
    waiting = [db.issue(now=NOW + (i + 1) * MIN) for i in range(4)]
    with db.tx() as s:
        last = db.ticket(s, waiting[-1])
        wait = estimate_wait(s, last)
        assert wait.people_ahead == 3
        typical = (5 * 300 + 0) / 6  # the default seen 5 times, the instant service once
        assert wait.expected_s == math.ceil(3 * typical / 3)
        assert wait.minutes()[0] >= 2
        status = ticket_status(s, last.token)
        assert status.wait_minutes == wait.minutes() and status.wait_minutes != (0, 0)


def test_a_run_of_instant_services_stops_at_the_floor(db: Db) -> None:
    """Twenty services of one second each: the per-person time is the floor (a quarter of
    the default, at least a minute), not one second."""
    _served(db, [1] * 20)
    waiting = [db.issue(now=NOW + (i + 1) * MIN) for i in range(7)]
    with db.tx() as s:
        wait = estimate_wait(s, db.ticket(s, waiting[-1]))
    floor = max(MIN_SERVICE_S, 300 / 4)
    assert wait.people_ahead == 6
    assert wait.expected_s == math.ceil(6 * floor / 3)
    assert wait.low_s == math.floor(6 * floor / 3)


def test_varied_service_times_widen_the_range(db: Db) -> None:
    """The same mean with a wider spread of recent services gives a wider range."""
    _served(db, [300] * 10)
    waiting = [db.issue(now=NOW + (i + 1) * MIN) for i in range(11)]
    with db.tx() as s:
        narrow = estimate_wait(s, db.ticket(s, waiting[-1]))
    assert narrow.people_ahead == 10
    wide = estimate(10, 300, ServiceTimes(10, 300.0, (60.0**2 + 540.0**2) / 2), 3)
    assert narrow.expected_s == wide.expected_s
    assert wide.high_s - wide.low_s > narrow.high_s - narrow.low_s


def test_service_times_count_per_stop_and_queue(db: Db) -> None:
    """A ticket served at the moving counter then at certificates adds its first service to
    the moving queue's estimate and its second to the certificates queue's."""
    _served(db, [1200], procedures=("juminhyo", "tenkyo"))
    moving = [db.issue(["tenkyo"], now=NOW + (i + 1) * MIN) for i in range(2)]
    with db.tx() as s:
        routed_on = call_next(s, get_counter(s, "1"), actor=STAFF, now=NOW + 30 * MIN)
        assert routed_on is not None and routed_on.display_number == "D-001"
        start_serving(s, routed_on, actor=STAFF, now=NOW + 30 * MIN)
        complete(s, routed_on, actor=STAFF, now=NOW + 32 * MIN)
        wait = estimate_wait(s, db.ticket(s, moving[-1]))
    assert wait.people_ahead == 1
    # moving: default 900 s seen 5 times and 1,200 s once; one open counter (3).
    assert wait.expected_s == math.ceil((5 * 900 + 1200) / 6)
    certificates = [db.issue(now=NOW + 40 * MIN) for _ in range(2)]
    with db.tx() as s:
        views = ticket_views(s, certificates)
        status = ticket_status(s, db.ticket(s, certificates[-1]).token)
    assert views[certificates[-1]] == status
    # certificates: default 300 s seen 5 times and 120 s once; three counters.
    assert status.estimated_wait_s == math.ceil((5 * 300 + 120) / 6 / 3)
