"""Counter work on tickets: call the next one or a particular one, recall, no-show and
its return, transfer, hold and resume, start serving, complete.

Every operation here locks its ticket and then moves it with ``kiosk.tickets.move_ticket``
(which locks the case after it: the lock order is defined there); the caller commits once.

Concurrency: call-next picks the first waiting ticket with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so two counters never get the same ticket and neither waits for the other; a
ticket locked by a counter whose transaction then rolls back is still waiting, never lost.

Ordering: higher ``priority`` first (support, then appointment, then normal), then the
original issue time (``sort_at``, kept by transfers and no-show returns), then the id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session

from kiosk import audit
from kiosk.clock import aware, business_day
from kiosk.db import write_row
from kiosk.errors import CounterClosed, InvalidTransition
from kiosk.models import Counter, Queue, Ticket, TicketStatus, counter_queues
from kiosk.tickets import (
    finish_stop,
    lock_ticket,
    move_stop,
    move_ticket,
    require_status,
    serve_stop,
)

T = TicketStatus


def _mark_called(
    session: Session, ticket: Ticket, counter: Counter, *, actor: str, now: datetime
) -> Ticket:
    values: dict[str, Any] = {
        "counter_id": counter.id,
        "called_at": now,
        "call_count": ticket.call_count + 1,
    }
    if ticket.first_called_at is None:
        values["first_called_at"] = now
        values["actual_wait_s"] = max(0, int((now - ticket.issued_at).total_seconds()))
    move_ticket(
        session,
        ticket,
        T.CALLED,
        actor=actor,
        now=now,
        detail={"counter": counter.code},
        values=values,
    )
    return ticket


_SERVED = select(counter_queues.c.queue_id).where(
    counter_queues.c.counter_id == bindparam("counter_id")
)
_CALL_NEXT = (
    select(Ticket)
    .where(
        Ticket.status == T.WAITING,
        Ticket.business_day == bindparam("business_day"),
        or_(
            and_(Ticket.queue_id.in_(_SERVED), Ticket.target_counter_id.is_(None)),
            Ticket.target_counter_id == bindparam("counter_id"),
        ),
    )
    .order_by(Ticket.priority.desc(), Ticket.sort_at, Ticket.id)
    .limit(1)
    .with_for_update(skip_locked=True)
    .execution_options(populate_existing=True)
)


def call_next(
    session: Session, counter: Counter, *, actor: str, now: datetime | None = None
) -> Ticket | None:
    """Call the next ticket for ``counter`` across the queues it serves (plus tickets
    transferred to it): highest priority, then oldest. Returns None when nobody waits.

    Safe with many counters at once: never the same ticket twice, never one skipped.
    Raises CounterClosed for a closed counter. Only tickets of today's business day count.
    """
    now = aware(now)
    if not counter.is_open:
        raise CounterClosed(f"counter {counter.code} is closed")
    params = {"counter_id": counter.id, "business_day": business_day(now)}
    ticket = session.scalars(_CALL_NEXT, params).first()
    if ticket is None:
        return None
    return _mark_called(session, ticket, counter, actor=actor, now=now)


def call_ticket(
    session: Session,
    ticket: Ticket,
    counter: Counter,
    *,
    actor: str,
    now: datetime | None = None,
) -> Ticket:
    """Call one particular ticket (waiting, held or no-show) to ``counter``."""
    now = aware(now)
    if not counter.is_open:
        raise CounterClosed(f"counter {counter.code} is closed")
    ticket = lock_ticket(session, ticket.id)
    return _mark_called(session, ticket, counter, actor=actor, now=now)


def recall(session: Session, ticket: Ticket, *, actor: str, now: datetime | None = None) -> Ticket:
    """Announce a called ticket again (the board re-chimes on the new ``called_at``)."""
    now = aware(now)
    ticket = lock_ticket(session, ticket.id)
    if ticket.status is not T.CALLED:
        raise InvalidTransition("ticket", ticket.id, ticket.status.value, "recalled")
    write_row(session, ticket, {"called_at": now, "call_count": ticket.call_count + 1})
    audit.record(
        session,
        actor,
        "ticket.recalled",
        case_id=ticket.case_id,
        ticket_id=ticket.id,
        detail={"number": ticket.display_number, "call_count": ticket.call_count},
        now=now,
    )
    session.flush()
    return ticket


def mark_no_show(
    session: Session, ticket: Ticket, *, actor: str, now: datetime | None = None
) -> Ticket:
    """A called resident did not come: called -> no_show (they can come back)."""
    ticket = lock_ticket(session, ticket.id)
    move_ticket(session, ticket, T.NO_SHOW, actor=actor, now=aware(now))
    session.flush()
    return ticket


def return_no_show(
    session: Session, ticket: Ticket, *, actor: str, now: datetime | None = None
) -> Ticket:
    """A no-show came back: waiting again at its original place (it was called once)."""
    ticket = lock_ticket(session, ticket.id)
    require_status(ticket, T.NO_SHOW, "returned")
    move_ticket(
        session,
        ticket,
        T.WAITING,
        actor=actor,
        now=aware(now),
        action="ticket.returned",
        values={"counter_id": None},
    )
    session.flush()
    return ticket


def transfer(
    session: Session,
    ticket: Ticket,
    *,
    actor: str,
    queue: Queue | None = None,
    counter: Counter | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Send a ticket to another queue and/or reserve it for one counter. It keeps its
    number and its place (ordering by original issue time) and waits again if it had been
    called or was being served. A held ticket stays held."""
    if queue is None and counter is None:
        raise ValueError("transfer needs a queue or a counter")
    now = aware(now)
    ticket = lock_ticket(session, ticket.id)
    detail = {"queue": queue.code if queue else None, "counter": counter.code if counter else None}
    if ticket.status in (T.CALLED, T.SERVING):
        move_ticket(
            session,
            ticket,
            T.WAITING,
            actor=actor,
            now=now,
            action="ticket.transferred",
            detail=detail,
        )
    elif ticket.status in (T.WAITING, T.HELD):
        audit.record(
            session,
            actor,
            "ticket.transferred",
            case_id=ticket.case_id,
            ticket_id=ticket.id,
            detail={"number": ticket.display_number, **detail},
            now=now,
        )
    else:
        raise InvalidTransition("ticket", ticket.id, ticket.status.value, "transferred")
    values: dict[str, Any] = {
        "target_counter_id": counter.id if counter is not None else None,
        "counter_id": None,
        "serving_at": None,
    }
    if queue is not None:
        values["queue_id"] = queue.id
        move_stop(session, ticket, queue)
    write_row(session, ticket, values)
    session.flush()
    return ticket


def hold(session: Session, ticket: Ticket, *, actor: str, now: datetime | None = None) -> Ticket:
    """Park a waiting ticket (resident stepped away, missing document): not called until
    resumed; it keeps its place."""
    ticket = lock_ticket(session, ticket.id)
    move_ticket(session, ticket, T.HELD, actor=actor, now=aware(now))
    session.flush()
    return ticket


def resume(session: Session, ticket: Ticket, *, actor: str, now: datetime | None = None) -> Ticket:
    """A held ticket waits again at its original place."""
    ticket = lock_ticket(session, ticket.id)
    require_status(ticket, T.HELD, "resumed")
    move_ticket(session, ticket, T.WAITING, actor=actor, now=aware(now), action="ticket.resumed")
    session.flush()
    return ticket


def start_serving(
    session: Session, ticket: Ticket, *, actor: str, now: datetime | None = None
) -> Ticket:
    """The resident arrived at the counter: called -> serving."""
    now = aware(now)
    ticket = lock_ticket(session, ticket.id)
    move_ticket(session, ticket, T.SERVING, actor=actor, now=now, values={"serving_at": now})
    serve_stop(session, ticket, now=now)
    session.flush()
    return ticket


def complete(
    session: Session,
    ticket: Ticket,
    *,
    actor: str,
    now: datetime | None = None,
    whole_case: bool = False,
) -> Ticket:
    """Served here: the service time of this stop feeds the queue's wait estimates. At the
    ticket's last stop serving -> done; before it the ticket is routed on, with its number,
    to the head of its next stop's queue (serving -> waiting). ``whole_case``: this counter
    did the rest too, so the ticket is done (see ``kiosk.tickets.finish_stop``)."""
    now = aware(now)
    ticket = lock_ticket(session, ticket.id)
    finish_stop(session, ticket, actor=actor, now=now, whole_case=whole_case)
    session.flush()
    return ticket
