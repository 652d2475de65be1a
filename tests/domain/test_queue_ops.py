"""Queue operations: numbering, ordering, every staff operation, waits, tokens, stats."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from kiosk.calling import (
    call_next,
    call_ticket,
    complete,
    hold,
    mark_no_show,
    recall,
    resume,
    return_no_show,
    start_serving,
    transfer,
)
from kiosk.counters import get_counter, get_queue, set_counter_open
from kiosk.errors import CounterClosed, InvalidTransition, NotFound
from kiosk.models import CaseStatus, Priority, TicketStatus
from kiosk.overview import recent_calls, ticket_status
from kiosk.statistics import daily_stats
from kiosk.waits import estimate_wait, people_ahead
from tests.domain.conftest import NOW, STAFF, TODAY, Db

MIN = timedelta(minutes=1)


def _numbers(db: Db, ids: list[int]) -> list[str]:
    with db.tx() as s:
        return [db.ticket(s, i).display_number for i in ids]


def test_numbers_per_queue_and_daily_reset(db: Db) -> None:
    """Each queue counts A-001, A-002... per business day; the next Tokyo day restarts."""
    ids = [db.issue(["juminhyo"], now=NOW + i * MIN) for i in range(3)]
    ids.append(db.issue(["tax_certificate"], now=NOW + 5 * MIN))
    # 15:30 UTC is 00:30 the next day in Tokyo: a new business day.
    tomorrow = NOW.replace(hour=15)
    ids.append(db.issue(["juminhyo"], now=tomorrow))
    assert _numbers(db, ids) == ["A-001", "A-002", "A-003", "B-001", "A-001"]
    with db.tx() as s:
        first, last = db.ticket(s, ids[0]), db.ticket(s, ids[-1])
        assert first.id != last.id and first.number == last.number == 1
        assert last.business_day == TODAY + timedelta(days=1)


def test_priority_before_first_come(db: Db) -> None:
    """Support, then appointment, then the rest, each in issue order."""
    normal1 = db.issue(now=NOW)
    appointment = db.issue(now=NOW + MIN, priority=Priority.APPOINTMENT)
    normal2 = db.issue(now=NOW + 2 * MIN)
    support = db.issue(now=NOW + 3 * MIN, priority=Priority.SUPPORT)
    called = []
    with db.tx() as s:
        counter = get_counter(s, "1")
        while (t := call_next(s, counter, actor=STAFF, now=NOW + 10 * MIN)) is not None:
            called.append(t.id)
    assert called == [support, appointment, normal1, normal2]


def test_call_next_spans_the_counters_queues_only(db: Db) -> None:
    """Counter 1 serves certificates and tax, oldest first; the moving queue is not its."""
    moving = db.issue(["tenkyo"], now=NOW)
    tax = db.issue(["tax_certificate"], now=NOW + MIN)
    cert = db.issue(["juminhyo"], now=NOW + 2 * MIN)
    with db.tx() as s:
        counter = get_counter(s, "1")
        order = [call_next(s, counter, actor=STAFF, now=NOW + 5 * MIN) for _ in range(3)]
        assert [t.id if t else None for t in order] == [tax, cert, None]
        other = call_next(s, get_counter(s, "3"), actor=STAFF, now=NOW + 5 * MIN)
        assert other is not None and other.id == moving


def test_call_specific_recall_no_show_and_return(db: Db) -> None:
    """Call a chosen ticket, recall it, mark no-show, bring it back to its old place."""
    first = db.issue(now=NOW)
    second = db.issue(now=NOW + MIN)
    later = NOW + 10 * MIN
    with db.tx() as s:
        counter = get_counter(s, "2")
        t2 = call_ticket(s, db.ticket(s, second), counter, actor=STAFF, now=later)
        assert t2.status is TicketStatus.CALLED and t2.counter_id == counter.id
        assert t2.actual_wait_s == 9 * 60
        recall(s, t2, actor=STAFF, now=later + MIN)
        assert t2.call_count == 2 and t2.called_at == later + MIN
        mark_no_show(s, t2, actor=STAFF, now=later + 2 * MIN)
        assert t2.status is TicketStatus.NO_SHOW and t2.case.status is CaseStatus.NO_SHOW
        with pytest.raises(InvalidTransition):
            recall(s, t2, actor=STAFF, now=later)
        return_no_show(s, t2, actor=STAFF, now=later + 3 * MIN)
        assert t2.status is TicketStatus.WAITING and t2.case.status is CaseStatus.QUEUED
        # Back at its original place: ahead of nobody issued earlier, behind `first`.
        assert people_ahead(s, t2) == 1
        nxt = call_next(s, counter, actor=STAFF, now=later + 4 * MIN)
        assert nxt is not None and nxt.id == first
        assert t2.actual_wait_s == 9 * 60  # the first call's wait is what counts


def test_no_show_can_be_called_directly(db: Db) -> None:
    """A no-show who turns up can be called straight to a counter."""
    tid = db.issue(now=NOW)
    with db.tx() as s:
        counter = get_counter(s, "1")
        t = call_next(s, counter, actor=STAFF, now=NOW)
        mark_no_show(s, t, actor=STAFF, now=NOW)
        call_ticket(s, t, counter, actor=STAFF, now=NOW + MIN)
        assert t.id == tid and t.status is TicketStatus.CALLED and t.call_count == 2


def test_hold_and_resume_keep_place(db: Db) -> None:
    """A held ticket is skipped by call-next and returns to its place when resumed."""
    first = db.issue(now=NOW)
    second = db.issue(now=NOW + MIN)
    third = db.issue(now=NOW + 2 * MIN)
    with db.tx() as s:
        counter = get_counter(s, "1")
        held = hold(s, db.ticket(s, first), actor=STAFF, now=NOW + 3 * MIN)
        assert held.status is TicketStatus.HELD
        assert call_next(s, counter, actor=STAFF, now=NOW + 4 * MIN).id == second
        resume(s, held, actor=STAFF, now=NOW + 5 * MIN)
        assert call_next(s, counter, actor=STAFF, now=NOW + 6 * MIN).id == first
        assert call_next(s, counter, actor=STAFF, now=NOW + 7 * MIN).id == third
        with pytest.raises(InvalidTransition):
            resume(s, held, actor=STAFF, now=NOW)


def test_transfer_keeps_number_and_place(db: Db) -> None:
    """A ticket moved to another queue keeps its number and is ordered by issue time."""
    moving_old = db.issue(["juminhyo"], now=NOW)  # A-001, issued first
    moving_new = db.issue(["tenkyo"], now=NOW + MIN)  # D-001, issued later
    with db.tx() as s:
        counter1 = get_counter(s, "1")
        t = call_next(s, counter1, actor=STAFF, now=NOW + 2 * MIN)
        start_serving(s, t, actor=STAFF, now=NOW + 3 * MIN)
        transfer(s, t, queue=get_queue(s, "moving"), actor=STAFF, now=NOW + 4 * MIN)
        assert t.status is TicketStatus.WAITING and t.display_number == "A-001"
        assert t.case.status is CaseStatus.QUEUED
        assert people_ahead(s, t) == 0
        assert people_ahead(s, db.ticket(s, moving_new)) == 1
        counter3 = get_counter(s, "3")
        assert call_next(s, counter3, actor=STAFF, now=NOW + 5 * MIN).id == moving_old
        assert call_next(s, counter3, actor=STAFF, now=NOW + 5 * MIN).id == moving_new


def test_transfer_to_a_counter_reserves_the_ticket(db: Db) -> None:
    """A ticket transferred to counter 2 is called only by counter 2, even across queues."""
    tid = db.issue(["tenkyo"], now=NOW)
    with db.tx() as s:
        t = db.ticket(s, tid)
        transfer(s, t, counter=get_counter(s, "2"), actor=STAFF, now=NOW)
        assert call_next(s, get_counter(s, "3"), actor=STAFF, now=NOW) is None
        got = call_next(s, get_counter(s, "2"), actor=STAFF, now=NOW)
        assert got is not None and got.id == tid
        with pytest.raises(ValueError):
            transfer(s, got, actor=STAFF, now=NOW)


def test_serving_and_completion_times(db: Db) -> None:
    """start_serving then complete records the service time; done tickets are final."""
    tid = db.issue(now=NOW)
    with db.tx() as s:
        t = call_next(s, get_counter(s, "1"), actor=STAFF, now=NOW + MIN)
        with pytest.raises(InvalidTransition):
            complete(s, t, actor=STAFF, now=NOW)
        start_serving(s, t, actor=STAFF, now=NOW + 2 * MIN)
        complete(s, t, actor=STAFF, now=NOW + 9 * MIN)
        assert t.id == tid and t.service_s == 7 * 60 and t.case.status is CaseStatus.DONE
        with pytest.raises(InvalidTransition):
            hold(s, t, actor=STAFF, now=NOW)


def test_closed_counter_cannot_call(db: Db) -> None:
    """A closed counter gets CounterClosed; opening it again works."""
    db.issue(now=NOW)
    with db.tx() as s:
        counter = get_counter(s, "1")
        set_counter_open(s, counter, False, actor=STAFF, now=NOW)
        with pytest.raises(CounterClosed):
            call_next(s, counter, actor=STAFF, now=NOW)
        set_counter_open(s, counter, True, actor=STAFF, now=NOW)
        assert call_next(s, counter, actor=STAFF, now=NOW) is not None


def test_people_ahead_and_estimated_wait(db: Db) -> None:
    """Wait = people ahead x the queue's typical service time (recent ones pulled towards
    the catalog default) / its open counters, give or take the spread of that many
    services; the phone and the quote show the same figures."""
    # Two certificates served in 4 and 6 minutes: mean 300 s, standard deviation 60 s.
    for minutes in (4, 6):
        tid = db.issue(now=NOW)
        with db.tx() as s:
            t = call_next(s, get_counter(s, "1"), actor=STAFF, now=NOW)
            assert t.id == tid
            start_serving(s, t, actor=STAFF, now=NOW)
            complete(s, t, actor=STAFF, now=NOW + minutes * MIN)
    waiting = [db.issue(now=NOW + (i + 1) * MIN) for i in range(4)]
    # Pulled towards the default (300 s, spread 150 s) as if it had been seen 5 times.
    typical = (5 * 300 + 2 * 300) / 7
    spread = math.sqrt((5 * 150**2 + 2 * 60**2) / 7)
    with db.tx() as s:
        last = db.ticket(s, waiting[-1])
        assert people_ahead(s, last) == 3
        # Counters 1, 2 and 3 all serve certificates.
        wait = estimate_wait(s, last)
        assert wait.expected_s == math.ceil(typical * 3 / 3)
        assert wait.low_s == math.floor(typical - math.sqrt(3) * spread / 3)
        assert wait.high_s == math.ceil(typical + math.sqrt(3) * spread / 3)
        assert wait.minutes() == (3, 7)
        assert last.quoted_wait_s == wait.expected_s
        set_counter_open(s, get_counter(s, "3"), False, actor=STAFF, now=NOW)
        wait = estimate_wait(s, last)
        assert wait.expected_s == math.ceil(typical * 3 / 2)
        status = ticket_status(s, last.token)
        assert (status.number, status.people_ahead, status.status) == ("A-006", 3, "waiting")
        assert status.estimated_wait_s == 450 and status.counter is None
        assert (status.wait_low_s, status.wait_high_s) == (wait.low_s, wait.high_s)
        assert status.wait_minutes == wait.minutes()


def test_quoted_wait_uses_default_without_history(db: Db) -> None:
    """With no service history the queue's default service time is used at issue."""
    db.issue(["tenkyo"], now=NOW)
    second = db.issue(["tenkyo"], now=NOW + MIN)
    with db.tx() as s:
        # moving: default 900 s, one person ahead, one open counter (3).
        assert db.ticket(s, second).quoted_wait_s == 900


def test_token_is_unguessable_and_unique(db: Db) -> None:
    """Status tokens are long random URL-safe strings, unique per ticket."""
    ids = [db.issue(now=NOW + i * MIN) for i in range(20)]
    with db.tx() as s:
        tokens = [db.ticket(s, i).token for i in ids]
        assert len(set(tokens)) == len(tokens)
        for token in tokens:
            assert len(token) >= 43  # 32 random bytes in base64url
            assert set(token) <= set(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            )
        # Random bytes: across 20 tokens nearly every symbol of the alphabet shows up.
        assert len(set("".join(tokens))) > 55
        with pytest.raises(NotFound):
            ticket_status(s, tokens[0][:-1] + ("A" if tokens[0][-1] != "A" else "B"))
        with pytest.raises(NotFound):
            ticket_status(s, "")


def test_daily_statistics(db: Db) -> None:
    """Per queue: issued, served, no-show, mean and p90 wait, mean service time."""
    ids = [db.issue(now=NOW) for _ in range(4)]
    with db.tx() as s:
        counter = get_counter(s, "1")
        for i, minutes in enumerate((2, 4, 6)):
            t = call_next(s, counter, actor=STAFF, now=NOW + minutes * MIN)
            assert t.id == ids[i]
            if i == 2:
                mark_no_show(s, t, actor=STAFF, now=NOW + 7 * MIN)
                continue
            start_serving(s, t, actor=STAFF, now=NOW + minutes * MIN)
            complete(s, t, actor=STAFF, now=NOW + (minutes + 5 + i) * MIN)
    with db.tx() as s:
        stats = {st.queue: st for st in daily_stats(s, TODAY)}
        cert = stats["certificates"]
        assert (cert.issued, cert.served, cert.no_show) == (4, 2, 1)
        assert cert.mean_wait_s == 240.0 and cert.p90_wait_s == 360.0
        assert cert.mean_service_s == 330.0
        assert stats["tax"].issued == 0 and stats["tax"].mean_wait_s is None


def test_board_shows_called_numbers(db: Db) -> None:
    """The board lists called tickets with their counter, newest call first."""
    db.issue(now=NOW)
    db.issue(now=NOW)
    with db.tx() as s:
        call_next(s, get_counter(s, "1"), actor=STAFF, now=NOW + MIN)
        call_next(s, get_counter(s, "2"), actor=STAFF, now=NOW + 2 * MIN)
        board = recent_calls(s, TODAY)
        assert [(b.number, b.counter_code) for b in board] == [("A-002", "2"), ("A-001", "1")]


def test_ticket_audit_rows(db: Db) -> None:
    """Every queue operation leaves an audit row naming the ticket and the actor."""
    tid = db.issue(now=NOW)
    with db.tx() as s:
        t = db.ticket(s, tid)
        hold(s, t, actor="staff:7", now=NOW)
        resume(s, t, actor="staff:7", now=NOW)
        call_ticket(s, t, get_counter(s, "1"), actor="staff:7", now=NOW)
        recall(s, t, actor="staff:7", now=NOW)
        start_serving(s, t, actor="staff:7", now=NOW)
        complete(s, t, actor="staff:7", now=NOW)
        from kiosk.audit import events_for_case

        actions = [e.action for e in events_for_case(s, t.case_id) if e.ticket_id == tid]
        assert [a for a in actions if a.startswith("ticket.")] == [
            "ticket.issued",
            "ticket.held",
            "ticket.resumed",
            "ticket.called",
            "ticket.recalled",
            "ticket.serving",
            "ticket.done",
        ]
