"""One-stop routing: a case with procedures in several queues has one ticket that visits
them in the catalog's route order, keeping its number, at the head of each next queue."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from kiosk.audit import events_for_case
from kiosk.calling import (
    call_next,
    call_ticket,
    complete,
    mark_no_show,
    return_no_show,
    start_serving,
    transfer,
)
from kiosk.counters import get_counter, get_queue
from kiosk.errors import InvalidTransition
from kiosk.models import CaseStatus, Ticket, TicketStatus, TicketStop
from kiosk.overview import board_state, ticket_status
from kiosk.snapshots import ticket_views
from kiosk.statistics import daily_stats
from kiosk.tickets import move_ticket
from tests.domain.conftest import NOW, STAFF, TODAY, Db

MIN = timedelta(minutes=1)


def _serve(
    db: Db, counter: str, *, at: timedelta, minutes: int, ticket: int | None = None, **kw: bool
) -> Ticket:
    """Call the next ticket (or ``ticket``) at ``counter``, serve it and complete it
    ``minutes`` later."""
    with db.tx() as s:
        desk = get_counter(s, counter)
        if ticket is None:
            t = call_next(s, desk, actor=STAFF, now=NOW + at)
        else:
            t = call_ticket(s, db.ticket(s, ticket), desk, actor=STAFF, now=NOW + at)
        assert t is not None, f"nobody waits for counter {counter}"
        start_serving(s, t, actor=STAFF, now=NOW + at)
        complete(s, t, actor=STAFF, now=NOW + at + minutes * MIN, **kw)
        return t


def _stops(db: Db, ticket_id: int) -> list[TicketStop]:
    with db.tx() as s:
        rows = s.scalars(
            select(TicketStop).where(TicketStop.ticket_id == ticket_id).order_by("position")
        ).all()
        s.expunge_all()
        return list(rows)


def test_route_follows_the_catalog_and_the_first_stop_numbers(db: Db) -> None:
    """A 住民票 with a 転居届 is one ticket: moving first (its D series), then certificates;
    a 転居届 alone stays a one-stop ticket."""
    both = db.issue(["juminhyo", "tenkyo"], now=NOW)
    alone = db.issue(["tenkyo"], now=NOW + MIN)
    with db.tx() as s:
        t = db.ticket(s, both)
        assert (t.display_number, t.queue.code, t.stop, t.stops) == ("D-001", "moving", 0, 2)
        assert (db.ticket(s, alone).stops, db.ticket(s, alone).display_number) == (1, "D-002")
        assert s.scalars(select(Ticket).where(Ticket.case_id == t.case_id)).all() == [t]
    stops = _stops(db, both)
    with db.tx() as s:
        codes = [get_queue(s, c).id for c in ("moving", "certificates")]
    assert [(st.position, st.queue_id) for st in stops] == list(enumerate(codes))
    assert stops[0].arrived_at == NOW and stops[1].arrived_at is None


def test_completing_a_stop_puts_the_same_number_at_the_head_of_the_next_queue(db: Db) -> None:
    """Done at the moving counter, D-001 waits first in certificates (before tickets issued
    earlier), counter 1 calls it next, and only then is the case done."""
    early = db.issue(["juminhyo"], now=NOW - 30 * MIN)  # waits in certificates already
    routed = db.issue(["juminhyo", "tenkyo"], now=NOW)
    _serve(db, "3", at=MIN, minutes=12, ticket=routed)
    with db.tx() as s:
        t = db.ticket(s, routed)
        assert (t.status, t.queue.code, t.stop, t.display_number) == (
            TicketStatus.WAITING,
            "certificates",
            1,
            "D-001",
        )
        assert t.case.status is CaseStatus.QUEUED and t.counter_id is None
        assert ticket_status(s, t.token).people_ahead == 0
        assert ticket_status(s, db.ticket(s, early).token).people_ahead == 1
    second = _serve(db, "1", at=14 * MIN, minutes=3)
    assert second.id == routed
    with db.tx() as s:
        t = db.ticket(s, routed)
        assert t.status is TicketStatus.DONE and t.case.status is CaseStatus.DONE
        assert t.service_s == 15 * 60  # both stops
    stops = _stops(db, routed)
    assert [st.service_s for st in stops] == [12 * 60, 3 * 60]
    assert [st.arrived_at for st in stops] == [NOW, NOW + 13 * MIN]


def test_tickets_routed_on_keep_their_issue_order(db: Db) -> None:
    """Two tickets routed into certificates are called in the order they were issued,
    whichever finished its first stop first, and both before fresh certificate tickets."""
    first = db.issue(["juminhyo", "koseki"], now=NOW)  # family register, then certificates
    second = db.issue(["juminhyo", "koseki"], now=NOW + MIN)
    fresh = db.issue(["juminhyo"], now=NOW + 2 * MIN)
    with db.tx() as s:
        counter = get_counter(s, "2")  # serves certificates and the family register
        one = call_ticket(s, db.ticket(s, second), counter, actor=STAFF, now=NOW + 3 * MIN)
        start_serving(s, one, actor=STAFF, now=NOW + 3 * MIN)
        complete(s, one, actor=STAFF, now=NOW + 4 * MIN)
        two = call_ticket(s, db.ticket(s, first), counter, actor=STAFF, now=NOW + 5 * MIN)
        start_serving(s, two, actor=STAFF, now=NOW + 5 * MIN)
        complete(s, two, actor=STAFF, now=NOW + 6 * MIN)
        called = [call_next(s, get_counter(s, "1"), actor=STAFF, now=NOW + 7 * MIN)]
        called.append(call_next(s, get_counter(s, "1"), actor=STAFF, now=NOW + 7 * MIN))
        called.append(call_next(s, get_counter(s, "1"), actor=STAFF, now=NOW + 7 * MIN))
        assert [t.id for t in called if t] == [first, second, fresh]


def test_done_is_refused_before_the_last_stop(db: Db) -> None:
    """The state machine: a ticket with a stop to go cannot be made done; a serving ticket
    is the only one that can be completed."""
    tid = db.issue(["juminhyo", "tenkyo"], now=NOW)
    with db.tx() as s:
        t = call_next(s, get_counter(s, "3"), actor=STAFF, now=NOW)
        with pytest.raises(InvalidTransition):
            complete(s, t, actor=STAFF, now=NOW)  # called, not serving
        start_serving(s, t, actor=STAFF, now=NOW)
        with pytest.raises(InvalidTransition, match="further stops"):
            move_ticket(s, t, TicketStatus.DONE, actor=STAFF, now=NOW)
    with db.tx() as s:
        assert db.ticket(s, tid).status is TicketStatus.SERVING


def test_routing_is_audited(db: Db) -> None:
    """The audit trail says where the ticket went: issued with its route, routed from
    moving to certificates (stop 2 of 2), then called, served, done."""
    tid = db.issue(["juminhyo", "tenkyo"], now=NOW)
    _serve(db, "3", at=MIN, minutes=5)
    _serve(db, "1", at=7 * MIN, minutes=2)
    with db.tx() as s:
        events = [e for e in events_for_case(s, db.ticket(s, tid).case_id) if e.ticket_id == tid]
        actions = [e.action for e in events if e.action.startswith("ticket.")]
        assert actions == [
            "ticket.issued",
            "ticket.called",
            "ticket.serving",
            "ticket.routed",
            "ticket.called",
            "ticket.serving",
            "ticket.done",
        ]
        issued = next(e for e in events if e.action == "ticket.issued")
        assert issued.detail["route"] == ["moving", "certificates"]
        routed = next(e for e in events if e.action == "ticket.routed")
        assert routed.actor == STAFF
        assert routed.detail == {
            "from": "serving",
            "to": "waiting",
            "number": "D-001",
            "queue_from": "moving",
            "queue": "certificates",
            "stop": 2,
            "stops": 2,
        }
        case_moves = [e.action for e in events if e.action.startswith("case.")]
        assert "case.queued" in case_moves


def test_whole_case_at_one_counter_closes_the_rest_unserved(db: Db) -> None:
    """Counter 3 serves moving and certificates: when its clerk does both, the ticket is
    done there; the certificates stop is closed with no service time of its own."""
    tid = db.issue(["juminhyo", "tenkyo"], now=NOW)
    _serve(db, "3", at=MIN, minutes=20, whole_case=True)
    with db.tx() as s:
        t = db.ticket(s, tid)
        assert t.status is TicketStatus.DONE and t.stop == 1
        assert t.case.status is CaseStatus.DONE
        done = next(e for e in events_for_case(s, t.case_id) if e.action == "ticket.done")
        assert done.detail["closed_stops"] == 1
    stops = _stops(db, tid)
    assert [st.service_s for st in stops] == [20 * 60, None]
    assert stops[1].completed_at == NOW + 21 * MIN
    with db.tx() as s:
        stats = {st.queue: st for st in daily_stats(s, TODAY)}
    assert (stats["moving"].issued, stats["moving"].served) == (1, 1)
    assert stats["moving"].mean_service_s == 20 * 60
    assert (stats["certificates"].issued, stats["certificates"].served) == (0, 0)


def test_a_transfer_moves_the_current_stop(db: Db) -> None:
    """Staff sending a routed ticket's first stop to the certificates queue by hand: it is
    served there, and the later certificates stop is then closed with it (not twice)."""
    tid = db.issue(["juminhyo", "tenkyo"], now=NOW)
    with db.tx() as s:
        transfer(s, db.ticket(s, tid), actor=STAFF, queue=get_queue(s, "certificates"))
    _serve(db, "1", at=MIN, minutes=4)
    with db.tx() as s:
        assert db.ticket(s, tid).status is TicketStatus.DONE
        certificates = get_queue(s, "certificates").id
    stops = _stops(db, tid)
    assert [(st.queue_id, st.service_s) for st in stops] == [
        (certificates, 4 * 60),
        (certificates, None),
    ]


def test_no_show_at_the_second_stop_returns_there(db: Db) -> None:
    """A resident who misses the call at the next counter comes back to that queue, still
    at its head."""
    tid = db.issue(["juminhyo", "tenkyo"], now=NOW)
    db.issue(["juminhyo"], now=NOW + MIN)
    _serve(db, "3", at=2 * MIN, minutes=5)
    with db.tx() as s:
        t = call_next(s, get_counter(s, "1"), actor=STAFF, now=NOW + 8 * MIN)
        assert t.id == tid
        mark_no_show(s, t, actor=STAFF, now=NOW + 10 * MIN)
        return_no_show(s, t, actor=STAFF, now=NOW + 11 * MIN)
        assert (t.status, t.queue.code, t.stop) == (TicketStatus.WAITING, "certificates", 1)
        assert call_next(s, get_counter(s, "2"), actor=STAFF, now=NOW + 12 * MIN).id == tid


def test_phone_and_board_show_the_next_stop(db: Db) -> None:
    """The status page and the live phone views name the queue now and the one after it;
    the board lists a number routed on with the queue it now waits for."""
    tid = db.issue(["juminhyo", "tenkyo"], now=NOW)
    with db.tx() as s:
        token = db.ticket(s, tid).token
        before = ticket_status(s, token)
        assert before.queue["en"] == "Change of address"
        assert [r["en"] for r in before.route] == ["Change of address", "Certificates"]
        assert before.stop == 0 and before.next_queue["ja"] == "証明書"
        assert board_state(s, TODAY).moving_on == ()
    _serve(db, "3", at=MIN, minutes=5)
    with db.tx() as s:
        after = ticket_status(s, token)
        assert after.queue["en"] == "Certificates" and after.next_queue is None
        assert after.stop == 1 and after.status == "waiting"
        view = ticket_views(s, [tid])[tid]
        assert view == after
        assert view.to_json()["route"][1]["ko"] == "증명서"
        board = board_state(s, TODAY)
        assert [(m.number, m.queue["en"]) for m in board.moving_on] == [("D-001", "Certificates")]
        assert board.to_json()["moving_on"] == [
            {"number": "D-001", "queue": "certificates", "names": dict(after.queue)}
        ]
    _serve(db, "1", at=7 * MIN, minutes=1)
    with db.tx() as s:
        assert board_state(s, TODAY).moving_on == ()
