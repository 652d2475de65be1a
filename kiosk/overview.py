"""Read-only views of the queues for the staff console, the display board and the
resident's phone: counts per queue, open tickets, recent calls, one ticket's status.
Numbers, statuses and counters only: nothing here holds personal data (statistics of a
day are in ``kiosk.statistics``).

``change_marker`` is the board's cheap "has anything changed?" question: every ticket
change writes an audit row in the same transaction (``kiosk.tickets``), so the newest audit
id moves whenever the board may need to change, whichever process made the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kiosk.errors import NotFound
from kiosk.models import AuditEvent, Counter, Queue, Ticket, TicketStatus
from kiosk.waits import estimate_wait, people_ahead

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
    """A ticket as the console lists it (the case id opens the audited case view)."""

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
class BoardState:
    """What the display board shows: latest calls (newest first) and waiting counts."""

    calls: tuple[BoardCall, ...]
    waiting: tuple[tuple[str, str, dict[str, str], int], ...]  # code, prefix, names, count

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
    return BoardState(calls, waiting)


@dataclass(frozen=True)
class TicketStatusView:
    """What the resident's phone shows (no personal data)."""

    number: str
    status: str
    people_ahead: int
    estimated_wait_s: int
    quoted_wait_s: int
    counter: dict[str, str] | None


def ticket_by_token(session: Session, token: str) -> Ticket:
    """The ticket of a status-page token; NotFound for anything else."""
    ticket = None
    if token and len(token) <= 64:
        ticket = session.scalars(select(Ticket).where(Ticket.token == token)).one_or_none()
    if ticket is None:
        raise NotFound("no ticket for this link")
    return ticket


def ticket_status(session: Session, token: str) -> TicketStatusView:
    """Status-page data for a token (read-only, no audit: it shows nothing personal)."""
    ticket = ticket_by_token(session, token)
    counter = session.get(Counter, ticket.counter_id) if ticket.counter_id else None
    return TicketStatusView(
        number=ticket.display_number,
        status=ticket.status.value,
        people_ahead=people_ahead(session, ticket),
        estimated_wait_s=estimate_wait(session, ticket),
        quoted_wait_s=ticket.quoted_wait_s,
        counter=dict(counter.names) if counter and ticket.status is T.CALLED else None,
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
