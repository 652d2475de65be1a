"""Read-only views of the queues for the staff console, the display board and the
resident's phone: counts per queue, open tickets, recent calls, one ticket's status.
Numbers, statuses and counters only: nothing here holds personal data (statistics of a
day are in ``kiosk.statistics``).

``change_marker`` is the board's cheap "has anything changed?" question: every ticket
change writes an audit row in the same transaction (``kiosk.tickets``), so the newest audit
id moves whenever the board may need to change, whichever process made the change.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from kiosk.errors import NotFound
from kiosk.models import AuditEvent, Counter, Queue, Ticket, TicketStatus, TicketStop
from kiosk.waits import estimate_wait

T = TicketStatus
OPEN_STATUSES = (T.WAITING, T.HELD, T.CALLED, T.SERVING, T.NO_SHOW)


@dataclass(frozen=True)
class QueueCounts:
    code: str
    prefix: str
    names: dict[str, str]
    waiting: int
    held: int
    called: int
    serving: int
    no_show: int
    done: int


@dataclass(frozen=True)
class TicketRow:
    """A ticket as the console lists it (the case id opens the audited case view);
    ``stop`` / ``stops``: where it is on its route (0 first) and how many queues it visits."""

    id: int
    number: str
    status: str
    queue: str
    counter: str | None
    target_counter: str | None
    priority: int
    issued_at: datetime
    called_at: datetime | None
    case_id: int
    stop: int = 0
    stops: int = 1


@dataclass(frozen=True)
class RouteStop:
    """One queue of a ticket's route as staff see it. ``state``: ``done`` (served in this
    queue), ``closed`` (finished at an earlier counter, not served here), ``current`` (the
    ticket is in this queue now) or ``later``; ``counter``: the code of the counter that
    served it."""

    position: int
    queue_code: str
    queue: dict[str, str]
    state: str
    counter: str | None
    completed_at: datetime | None


def routes_of(session: Session, ticket_ids: Collection[int]) -> dict[int, tuple[RouteStop, ...]]:
    """The route of each ticket in ``ticket_ids`` (numbers, queues, counters: nothing
    personal), in one statement."""
    if not ticket_ids:
        return {}
    rows = session.execute(
        select(
            TicketStop.ticket_id,
            TicketStop.position,
            TicketStop.completed_at,
            TicketStop.service_s,
            Ticket.stop,
            Queue.code,
            Queue.names,
            Counter.code,
        )
        .join(Ticket, Ticket.id == TicketStop.ticket_id)
        .join(Queue, Queue.id == TicketStop.queue_id)
        .outerjoin(Counter, Counter.id == TicketStop.counter_id)
        .where(TicketStop.ticket_id.in_(list(ticket_ids)))
        .order_by(TicketStop.ticket_id, TicketStop.position)
    )
    routes: dict[int, list[RouteStop]] = {}
    for ticket_id, position, completed_at, service_s, stop, code, names, counter in rows:
        if completed_at is not None:
            state = "done" if service_s is not None else "closed"
        else:
            state = "current" if position == stop else "later"
        routes.setdefault(ticket_id, []).append(
            RouteStop(position, code, dict(names), state, counter, completed_at)
        )
    return {ticket_id: tuple(stops) for ticket_id, stops in routes.items()}


def route_of_case(session: Session, case_id: int) -> tuple[RouteStop, ...]:
    """The route of the case's ticket (empty before it has one)."""
    ticket_id = session.scalar(select(Ticket.id).where(Ticket.case_id == case_id))
    return routes_of(session, [ticket_id]).get(ticket_id, ()) if ticket_id else ()


def queue_counts(session: Session, day: date) -> list[QueueCounts]:
    """Per queue (where tickets wait now): how many wait, are held, called, ... today."""
    rows = session.execute(
        select(Ticket.queue_id, Ticket.status, func.count(Ticket.id))
        .where(Ticket.business_day == day)
        .group_by(Ticket.queue_id, Ticket.status)
    ).all()
    counts: dict[int, dict[TicketStatus, int]] = {}
    for queue_id, status, n in rows:
        counts.setdefault(queue_id, {})[status] = int(n)
    result = []
    for q in session.scalars(select(Queue).order_by(Queue.id)):
        c = counts.get(q.id, {})
        result.append(
            QueueCounts(
                q.code,
                q.prefix,
                dict(q.names),
                c.get(T.WAITING, 0),
                c.get(T.HELD, 0),
                c.get(T.CALLED, 0),
                c.get(T.SERVING, 0),
                c.get(T.NO_SHOW, 0),
                c.get(T.DONE, 0),
            )
        )
    return result


def open_tickets(session: Session, day: date, limit: int = 200) -> list[TicketRow]:
    """Today's unfinished tickets in calling order (priority, then issue time)."""
    queues = {q.id: q.code for q in session.scalars(select(Queue))}
    counters = {c.id: c.code for c in session.scalars(select(Counter))}
    stmt = (
        select(Ticket)
        .where(Ticket.business_day == day, Ticket.status.in_(OPEN_STATUSES))
        .order_by(Ticket.priority.desc(), Ticket.sort_at, Ticket.id)
        .limit(limit)
    )
    return [
        TicketRow(
            t.id,
            t.display_number,
            t.status.value,
            queues.get(t.queue_id, "?"),
            counters.get(t.counter_id) if t.counter_id else None,
            counters.get(t.target_counter_id) if t.target_counter_id else None,
            t.priority,
            t.issued_at,
            t.called_at,
            t.case_id,
            t.stop,
            t.stops,
        )
        for t in session.scalars(stmt)
    ]


def change_marker(session: Session) -> int:
    """The newest audit row id: changes whenever a ticket changes (cheap: primary key)."""
    return int(session.scalar(select(func.max(AuditEvent.id))) or 0)


@dataclass(frozen=True)
class BoardCall:
    number: str
    counter: str
    counter_names: dict[str, str]
    called_at: str
    call_count: int


@dataclass(frozen=True)
class BoardMove:
    """A number routed on to its next queue (``queue``: that queue's names), waiting there."""

    number: str
    queue_code: str
    queue: dict[str, str]


@dataclass(frozen=True)
class BoardState:
    """What the display board shows: latest calls (newest first), waiting counts, and the
    numbers routed on to their next queue that wait there (latest first)."""

    calls: tuple[BoardCall, ...]
    waiting: tuple[tuple[str, str, dict[str, str], int], ...]  # code, prefix, names, count
    moving_on: tuple[BoardMove, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "calls": [
                {
                    "number": c.number,
                    "counter": c.counter,
                    "counter_names": c.counter_names,
                    "called_at": c.called_at,
                    "call_count": c.call_count,
                }
                for c in self.calls
            ],
            "waiting": [
                {"queue": code, "prefix": prefix, "names": names, "waiting": n}
                for code, prefix, names, n in self.waiting
            ],
            "moving_on": [
                {"number": m.number, "queue": m.queue_code, "names": m.queue}
                for m in self.moving_on
            ],
        }


def board_state(session: Session, day: date, limit: int = 8) -> BoardState:
    """The board's content for business day ``day``."""
    calls = tuple(
        BoardCall(
            e.number,
            e.counter_code,
            e.counter,
            e.called_at.isoformat(timespec="milliseconds"),
            e.call_count,
        )
        for e in recent_calls(session, day, limit)
    )
    waiting = tuple((q.code, q.prefix, q.names, q.waiting) for q in queue_counts(session, day))
    return BoardState(calls, waiting, moving_on(session, day, limit))


def moving_on(session: Session, day: date, limit: int = 8) -> tuple[BoardMove, ...]:
    """Tickets of ``day`` routed on from an earlier stop and waiting in their next queue,
    the latest arrival first (the board says "D-001: next, Certificates")."""
    stmt = (
        select(Ticket.display_number, Queue.code, Queue.names)
        .join(Queue, Queue.id == Ticket.queue_id)
        .join(
            TicketStop,
            (TicketStop.ticket_id == Ticket.id) & (TicketStop.position == Ticket.stop),
        )
        .where(Ticket.business_day == day, Ticket.status == T.WAITING, Ticket.stop > 0)
        .order_by(TicketStop.arrived_at.desc(), Ticket.id.desc())
        .limit(limit)
    )
    return tuple(BoardMove(n, code, dict(names)) for n, code, names in session.execute(stmt))


@dataclass(frozen=True)
class TicketStatusView:
    """What the resident's phone shows (no personal data).

    ``estimated_wait_s`` is the expected wait, ``wait_low_s`` .. ``wait_high_s`` its honest
    range and ``wait_minutes`` that range as people are told it (``kiosk.waits``).
    ``queue``: the names of the queue the ticket waits in now; ``route``: the names of every
    queue it visits, in order, and ``stop`` its place in them (0 first)."""

    number: str
    status: str
    people_ahead: int
    estimated_wait_s: int
    quoted_wait_s: int
    counter: dict[str, str] | None
    wait_low_s: int = 0
    wait_high_s: int = 0
    wait_minutes: tuple[int, int] = (0, 0)
    queue: dict[str, str] | None = None
    route: tuple[dict[str, str], ...] = ()
    stop: int = 0

    @property
    def next_queue(self) -> dict[str, str] | None:
        """The names of the queue after this one on the route (None at the last stop)."""
        return self.route[self.stop + 1] if self.stop + 1 < len(self.route) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "status": self.status,
            "people_ahead": self.people_ahead,
            "estimated_wait_s": self.estimated_wait_s,
            "wait_low_s": self.wait_low_s,
            "wait_high_s": self.wait_high_s,
            "wait_minutes": list(self.wait_minutes),
            "quoted_wait_s": self.quoted_wait_s,
            "counter": self.counter,
            "queue": self.queue,
            "route": list(self.route),
            "stop": self.stop,
        }


def ticket_by_token(session: Session, token: str) -> Ticket:
    """The ticket of a status-page token; NotFound for anything else."""
    ticket = None
    if token and len(token) <= 64:
        ticket = session.scalars(select(Ticket).where(Ticket.token == token)).one_or_none()
    if ticket is None:
        raise NotFound("no ticket for this link")
    return ticket


_ROUTE_NAMES = (
    select(Queue.names)
    .join(TicketStop, TicketStop.queue_id == Queue.id)
    .where(TicketStop.ticket_id == bindparam("ticket_id"))
    .order_by(TicketStop.position)
)


def ticket_status(session: Session, token: str) -> TicketStatusView:
    """Status-page data for a token (read-only, no audit: it shows nothing personal)."""
    ticket = ticket_by_token(session, token)
    counter = session.get(Counter, ticket.counter_id) if ticket.counter_id else None
    queue = session.get(Queue, ticket.queue_id)
    wait = estimate_wait(session, ticket)
    if ticket.stops > 1:
        route = tuple(
            dict(names) for names in session.scalars(_ROUTE_NAMES, {"ticket_id": ticket.id})
        )
    else:
        route = (dict(queue.names),) if queue is not None else ()
    return TicketStatusView(
        number=ticket.display_number,
        status=ticket.status.value,
        people_ahead=wait.people_ahead,
        estimated_wait_s=wait.expected_s,
        quoted_wait_s=ticket.quoted_wait_s,
        counter=dict(counter.names) if counter and ticket.status is T.CALLED else None,
        wait_low_s=wait.low_s,
        wait_high_s=wait.high_s,
        wait_minutes=wait.minutes(),
        queue=dict(queue.names) if queue is not None else None,
        route=route,
        stop=ticket.stop,
    )


@dataclass(frozen=True)
class BoardEntry:
    number: str
    counter_code: str
    counter: dict[str, str]
    called_at: datetime
    call_count: int


def recent_calls(session: Session, day: date, limit: int = 10) -> list[BoardEntry]:
    """Called tickets of the day, newest call first, for the display board."""
    stmt = (
        select(Ticket, Counter)
        .join(Counter, Counter.id == Ticket.counter_id)
        .where(
            Ticket.business_day == day,
            Ticket.status.in_((T.CALLED, T.SERVING)),
            # Served at the counter where the case was opened: never called, not on the board.
            Ticket.called_at.is_not(None),
        )
        .order_by(Ticket.called_at.desc())
        .limit(limit)
    )
    return [
        BoardEntry(t.display_number, c.code, dict(c.names), t.called_at, t.call_count)
        for t, c in session.execute(stmt)
        if t.called_at is not None
    ]
