"""Live phone views read for many tickets at once (``kiosk.snapshots``): the same numbers as
the status page, at a cost that grows with the queues watched, not the tickets."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event

from kiosk.calling import (
    call_next,
    call_ticket,
    complete,
    hold,
    mark_no_show,
    start_serving,
    transfer,
)
from kiosk.counters import get_counter, get_queue, set_counter_open
from kiosk.models import Priority
from kiosk.overview import ticket_status
from kiosk.snapshots import ticket_ids_by_token, ticket_views
from tests.domain.conftest import NOW, STAFF, Db

MIN = timedelta(minutes=1)


def _busy_day(db: Db) -> list[int]:
    """Tickets in every state: served history, priorities, a hold, a transfer, a call to a
    counter, a no-show, a closed counter, another queue, and a ticket of yesterday."""
    for minutes in (3, 7):
        tid = db.issue(now=NOW)
        with db.tx() as s:
            t = call_next(s, get_counter(s, "1"), actor=STAFF, now=NOW)
            assert t is not None and t.id == tid
            start_serving(s, t, actor=STAFF, now=NOW)
            complete(s, t, actor=STAFF, now=NOW + minutes * MIN)
    ids = [db.issue(now=NOW + (i + 1) * MIN) for i in range(6)]
    ids.append(db.issue(now=NOW + 2 * MIN, priority=Priority.SUPPORT))
    ids.append(db.issue(["tenkyo"], now=NOW + 3 * MIN))
    ids.append(db.issue(["tenkyo"], now=NOW + 4 * MIN))
    ids.append(db.issue(now=NOW - timedelta(days=1)))
    with db.tx() as s:
        hold(s, db.ticket(s, ids[2]), actor=STAFF, now=NOW + 10 * MIN)
        call_ticket(s, db.ticket(s, ids[4]), get_counter(s, "2"), actor=STAFF, now=NOW + 11 * MIN)
        called = call_ticket(
            s, db.ticket(s, ids[5]), get_counter(s, "1"), actor=STAFF, now=NOW + 12 * MIN
        )
        mark_no_show(s, called, actor=STAFF, now=NOW + 13 * MIN)
        transfer(s, db.ticket(s, ids[8]), actor=STAFF, queue=get_queue(s, "certificates"))
        set_counter_open(s, get_counter(s, "3"), False, actor=STAFF, now=NOW)
    return ids


def test_views_equal_the_status_page_for_every_state(db: Db) -> None:
    """For each ticket the batch view has exactly the status page's number, status, people
    ahead, estimated wait, quoted wait and counter."""
    ids = _busy_day(db)
    with db.tx() as s:
        tokens = {db.ticket(s, i).token: i for i in ids}
        expected = {i: ticket_status(s, token) for token, i in tokens.items()}
    with db.tx() as s:
        views = ticket_views(s, ids)
        assert ticket_ids_by_token(s, list(tokens) + ["no-such-token", "x" * 65]) == tokens
    assert set(views) == set(ids)
    for ticket_id, status in expected.items():
        view = views[ticket_id]
        assert view.number == status.number
        assert view.status == status.status
        assert view.people_ahead == status.people_ahead, status.number
        assert view.estimated_wait_s == status.estimated_wait_s, status.number
        assert view.quoted_wait_s == status.quoted_wait_s
        assert view.counter == status.counter
    shown = {v.status for v in views.values()}
    assert {"waiting", "held", "called", "no_show"} <= shown
    assert any(v.people_ahead > 1 and v.estimated_wait_s > 0 for v in views.values())
    assert views[ids[4]].counter and views[ids[4]].counter["ja"] == "2番窓口"


def test_statements_grow_with_queues_not_tickets(db: Db) -> None:
    """Reading 3 or 30 waiting tickets of one queue costs the same number of statements."""
    ids = [db.issue(now=NOW + i * timedelta(seconds=10)) for i in range(30)]
    counts = []
    for watched in (ids[:3], ids):
        seen = [0]

        def _count(*_args: object, seen: list[int] = seen) -> None:
            seen[0] += 1

        event.listen(db.engine, "before_cursor_execute", _count)
        try:
            with db.tx() as s:
                views = ticket_views(s, watched)
        finally:
            event.remove(db.engine, "before_cursor_execute", _count)
        assert [views[i].people_ahead for i in watched] == list(range(len(watched)))
        counts.append(seen[0])
    assert counts[0] == counts[1] <= 4, counts


def test_nothing_to_read_costs_nothing(db: Db) -> None:
    """No ids, no tokens: no statement, empty answers."""
    with db.tx() as s:
        assert ticket_views(s, []) == {}
        assert ticket_ids_by_token(s, []) == {}
