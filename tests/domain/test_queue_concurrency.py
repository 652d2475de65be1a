"""Many counters and kiosks at once, with real commits on separate connections."""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Callable

from sqlalchemy import select

from kiosk.calling import call_next
from kiosk.counters import get_counter
from kiosk.models import Ticket, TicketStatus
from tests.domain.conftest import NOW, Db

THREADS = 8


def _run_threads(count: int, work: Callable[[int], None]) -> None:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as e:  # noqa: BLE001 - reported to the test thread below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors


def test_concurrent_issue_never_repeats_a_number(db: Db) -> None:
    """Eight kiosks issuing at once get numbers 1..N in one queue, none twice."""
    per_thread = 8

    def issue(_: int) -> None:
        for _ in range(per_thread):
            db.issue(["juminhyo"], now=NOW)

    _run_threads(THREADS, issue)
    with db.tx() as s:
        numbers = list(s.scalars(select(Ticket.number)))
    assert sorted(numbers) == list(range(1, THREADS * per_thread + 1))


def test_concurrent_call_next_gives_each_ticket_once(db: Db) -> None:
    """Counters calling at once never share a ticket and leave none behind."""
    total = 48
    ids = [db.issue(["juminhyo"], now=NOW) for _ in range(total)]
    got: list[tuple[int, int]] = []
    lock = threading.Lock()
    counter_codes = ["1", "2", "3"]

    def call(i: int) -> None:
        while True:
            with db.tx() as s:
                counter = get_counter(s, counter_codes[i % 3])
                ticket = call_next(s, counter, actor=f"staff:{i}", now=NOW)
                if ticket is None:
                    return
                tid = ticket.id
            with lock:
                got.append((i, tid))

    _run_threads(THREADS, call)
    tally = Tally(tid for _, tid in got)
    assert sorted(tally) == sorted(ids)
    assert set(tally.values()) == {1}
    with db.tx() as s:
        tickets = list(s.scalars(select(Ticket)))
        assert {t.status for t in tickets} == {TicketStatus.CALLED}
        assert {t.call_count for t in tickets} == {1}
    # Several counters really took part (the test exercised concurrency).
    assert len({i for i, _ in got}) > 1


def test_calls_and_issues_interleaved(db: Db) -> None:
    """Kiosks issuing while counters call: afterwards every ticket is called once or waits."""
    issued: list[int] = []
    called: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()

    def work(i: int) -> None:
        if i < 4:
            for _ in range(10):
                tid = db.issue(["juminhyo"], now=NOW)
                with lock:
                    issued.append(tid)
            return
        idle = 0
        while idle < 20 and not stop.is_set():
            with db.tx() as s:
                t = call_next(s, get_counter(s, "2"), actor=f"staff:{i}", now=NOW)
                tid = t.id if t else None
            if tid is None:
                idle += 1
                continue
            with lock:
                called.append(tid)

    _run_threads(THREADS, work)
    assert len(called) == len(set(called))
    with db.tx() as s:
        waiting = set(s.scalars(select(Ticket.id).where(Ticket.status == TicketStatus.WAITING)))
    assert set(called) | waiting == set(issued)
    assert not set(called) & waiting
