"""Tickets: the ticket state machine, issuing a case's ticket, and the case transitions
that take the ticket with them (cancelling or refunding a queued case).

State machine (``TICKET_TRANSITIONS``)::

    waiting <-> held;  waiting | held | no_show -> called -> serving -> done (at its last stop)
    called -> no_show -> waiting (returns to its old place) | called
    called | serving -> waiting   (transfer: same number, same place by issue time)
    serving -> waiting            (routed on: its next stop's queue, same number, at the head)
    waiting | held | called | serving | no_show -> cancelled (the case was cancelled/refunded)

One-stop routing: a case with procedures in several queues gets ONE ticket whose route is
those queues in the catalog's ``route`` order (``Queue.route_rank``), one ``TicketStop``
each. The first stop numbers it (its prefix and daily series); completing a stop that is not
the last routes the ticket on (``kiosk.calling.complete``) and ``done`` is only reachable
from the last stop (``move_ticket`` refuses it earlier: the case is not finished).

``move_ticket`` is the only place that assigns ``Ticket.status``; the case moves with its
ticket through the case state machine (``kiosk.cases.transition_case``). What staff do at
the counter (call, serve, transfer, ...) is in ``kiosk.calling``, on top of this module.

Lock order: **the ticket row, then its case row.** Call-next locks a ticket first (``FOR
UPDATE SKIP LOCKED``) and only then its case, so everything that locks both takes them in
that order, and this module is where that happens: ``move_ticket`` expects its ticket
locked (``lock_ticket``, or call-next's own query in ``kiosk.calling``) and locks the
case; ``cancel_case`` and ``mark_refunded`` go through ``_lock_ticket_then_case``.
``kiosk.cases`` knows nothing of tickets and locks a case alone, so a counter calling and
a resident's cancellation or refund never wait on each other in a cycle. Issuing locks
the case alone too: its ticket does not exist yet. The payments package locks its
payment row before any of these (``payments.states``).

Each operation takes a Session, locks the rows it changes, moves the ticket and its case
together and writes audit rows; the caller commits once. On SQLite every transaction is
``BEGIN IMMEDIATE`` (see ``kiosk.db``): writers run one at a time and the same code is
trivially exclusive.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session, load_only
from sqlalchemy.orm.session import make_transient_to_detached

from kiosk import audit
from kiosk.cases import STATE_COLUMNS, lock_case, lock_case_state, refusal, transition_case
from kiosk.clock import aware, business_day
from kiosk.counters import get_queue
from kiosk.db import inserted_id, table_of, write_row
from kiosk.errors import InvalidTransition, NotFound
from kiosk.models import (
    Case,
    CaseProcedure,
    CaseStatus,
    Counter,
    Queue,
    Ticket,
    TicketStatus,
    TicketStop,
)
from kiosk.numbering import next_number
from kiosk.waits import quote_wait

log = logging.getLogger(__name__)

T = TicketStatus
S = CaseStatus
TICKET_TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    T.WAITING: frozenset({T.CALLED, T.HELD, T.CANCELLED}),
    T.HELD: frozenset({T.WAITING, T.CALLED, T.CANCELLED}),
    T.CALLED: frozenset({T.SERVING, T.NO_SHOW, T.WAITING, T.CANCELLED}),
    T.SERVING: frozenset({T.DONE, T.WAITING, T.CANCELLED}),
    T.NO_SHOW: frozenset({T.WAITING, T.CALLED, T.CANCELLED}),
    T.DONE: frozenset(),
    T.CANCELLED: frozenset(),
}
# The case moves with its ticket; waiting <-> held is a ticket-only matter.
_CASE_FOR_TICKET = {
    T.CALLED: S.CALLED,
    T.SERVING: S.SERVING,
    T.NO_SHOW: S.NO_SHOW,
    T.WAITING: S.QUEUED,
    T.DONE: S.DONE,
}
TOKEN_BYTES = 32  # 256 bits: the status page URL is the only thing guarding it


def get_ticket(session: Session, ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id}")
    return ticket


# --- locking and moving -----------------------------------------------------------------------


# Hot-path statements are built once (with bound parameters): building and hashing an
# expression tree on every call cost more CPU than running the statement on SQLite.
_LOCK_TICKET = (
    select(Ticket)
    .where(Ticket.id == bindparam("ticket_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_LOCK_TICKET_OF_CASE = (
    select(Ticket)
    .where(Ticket.case_id == bindparam("case_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


def lock_ticket(session: Session, ticket_id: int) -> Ticket:
    """The ticket, row-locked with fresh state; NotFound if absent. First of the lock order."""
    ticket = session.scalars(_LOCK_TICKET, {"ticket_id": ticket_id}).one_or_none()
    if ticket is None:
        raise NotFound(f"ticket {ticket_id}")
    return ticket


def _lock_ticket_then_case(session: Session, case_id: int) -> tuple[Ticket | None, Case]:
    """The case's ticket (None if it has none yet) and the case, row-locked in the lock
    order; NotFound if there is no such case."""
    ticket = session.scalars(_LOCK_TICKET_OF_CASE, {"case_id": case_id}).one_or_none()
    return ticket, lock_case(session, case_id)


def _move_case(
    session: Session,
    case: Case,
    target: CaseStatus,
    *,
    actor: str,
    now: datetime | None,
    ticket_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> Case:
    # Decided, audited and written at once by the case state machine: nothing left to flush.
    return transition_case(
        session,
        case,
        target,
        actor=actor,
        now=now,
        ticket_id=ticket_id,
        detail=detail,
        write_now=True,
    )


def require_status(ticket: Ticket, status: TicketStatus, operation: str) -> None:
    """InvalidTransition unless ``ticket`` is in ``status``: for operations that share a
    target state (waiting) and differ in where they may start from."""
    if ticket.status is not status:
        raise InvalidTransition("ticket", ticket.id, ticket.status.value, operation)


def move_ticket(
    session: Session,
    ticket: Ticket,
    target: TicketStatus,
    *,
    actor: str,
    now: datetime,
    action: str | None = None,
    detail: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
) -> Ticket:
    """Move the (locked) ticket and its case; the only place that assigns Ticket.status.
    Raises InvalidTransition if either machine refuses. ``values``: other ticket columns
    written in the same UPDATE; ``action``: the audit action (default ``ticket.<target>``)."""
    if target not in TICKET_TRANSITIONS[ticket.status]:
        raise InvalidTransition("ticket", ticket.id, ticket.status.value, target.value)
    if target is T.DONE and (values or {}).get("stop", ticket.stop) < ticket.stops - 1:
        raise InvalidTransition(
            "ticket", ticket.id, ticket.status.value, target.value, "further stops remain"
        )
    previous = ticket.status
    case_target = _CASE_FOR_TICKET.get(target)
    with audit.batched(session):  # the case's and the ticket's rows in one insert
        if case_target is not None:
            case = lock_case_state(session, ticket.case_id)  # after the ticket: the lock order
            if case.status is not case_target:
                _move_case(session, case, case_target, actor=actor, now=now, ticket_id=ticket.id)
        write_row(session, ticket, {"status": target, **(values or {})})
        audit.record(
            session,
            actor,
            action or f"ticket.{target.value}",
            case_id=ticket.case_id,
            ticket_id=ticket.id,
            detail={
                "from": previous.value,
                "to": target.value,
                "number": ticket.display_number,
                **(detail or {}),
            },
            now=now,
        )
    log.info(
        "ticket %s: %s -> %s by %s", ticket.display_number, previous.value, target.value, actor
    )
    return ticket


# --- issuing ------------------------------------------------------------------------------


# Issuing starts with one statement: the case row-locked (state columns only, as
# ``lock_case_state``) and the id of its ticket if it already has one (idempotency); the
# second reads the queues of its procedures (its route).
_LOCK_CASE_FOR_ISSUE = (
    select(Case, select(Ticket.id).where(Ticket.case_id == Case.id).scalar_subquery())
    .where(Case.id == bindparam("case_id"))
    .options(load_only(*(getattr(Case, name) for name in STATE_COLUMNS), raiseload=False))
    .with_for_update(of=Case)
    .execution_options(populate_existing=True)
)
_ROUTE = (
    select(CaseProcedure.queue_code, Queue)
    .outerjoin(Queue, Queue.code == CaseProcedure.queue_code)
    .where(CaseProcedure.case_id == bindparam("case_id"))
    .order_by(CaseProcedure.position)
)
_INSERT_TICKET = insert(table_of(Ticket))
_INSERT_STOPS = insert(table_of(TicketStop))
_TICKET_NULLS = (
    "target_counter_id",
    "counter_id",
    "first_called_at",
    "called_at",
    "serving_at",
    "completed_at",
    "actual_wait_s",
    "service_s",
)
_TICKET_OF_CASE = select(Ticket).where(Ticket.case_id == bindparam("case_id"))


def case_route(session: Session, case_id: int) -> list[Queue]:
    """The queues of the case's procedures in the order its ticket visits them (the
    catalog's route: ``Queue.route_rank``, then the queue's id), each once. NotFound names a
    procedure's queue that is not installed."""
    rows = session.execute(_ROUTE, {"case_id": case_id}).all()
    if not rows:
        raise NotFound(f"case {case_id} has no procedure")
    queues: dict[str, Queue] = {}
    for code, queue in rows:
        queues[code] = queue if queue is not None else get_queue(session, code)
    return sorted(queues.values(), key=lambda q: (q.route_rank, q.id))


def issue_ticket(
    session: Session,
    case: Case,
    *,
    actor: str,
    now: datetime | None = None,
    at_counter: Counter | None = None,
) -> Ticket:
    """The ticket of a paid (or confirmed fee-free) case, waiting in the first queue of its
    route (:func:`case_route`: one stop per queue of its procedures, in the catalog's route
    order), numbered by that queue; the case becomes queued and the quoted wait is stored. A
    confirmed case whose fee is left to pay at the counter (``due_yen`` equal to the fee:
    ``kiosk.counter_cases``) gets its ticket too.

    ``at_counter``: the case was opened at that counter and the resident is there: the
    ticket is issued straight into serving at it (its first stop served there; the board
    never calls it) and the case becomes serving.

    Idempotent: a case that already has a ticket gets that ticket back (a payment webhook
    may arrive twice). Other states raise InvalidTransition.
    """
    now = aware(now)
    row = session.execute(_LOCK_CASE_FOR_ISSUE, {"case_id": case.id}).one_or_none()
    if row is None:
        raise NotFound(f"case {case.id}")
    case, ticket_id = row
    if ticket_id is not None:
        return get_ticket(session, ticket_id)
    due_at_counter = case.fee_yen > 0 and case.due_yen == case.fee_yen
    if at_counter is not None:
        ready = case.status is S.CONFIRMED and (case.fee_yen == 0 or due_at_counter)
    else:
        ready = (
            case.status is S.PAID
            or (case.status is S.CONFIRMED and (case.fee_yen == 0 or due_at_counter))
            or (case.status is S.AWAITING_PAYMENT and due_at_counter)
        )
    if not ready:
        # The ticket column was read with the statement's snapshot, taken before the
        # lock wait: a concurrent issue for this case may have committed meanwhile.
        existing = session.scalars(_TICKET_OF_CASE, {"case_id": case.id}).one_or_none()
        if existing is not None:
            return existing
        raise InvalidTransition(
            "case",
            case.id,
            case.status.value,
            S.QUEUED.value,
            "a ticket needs a paid or fee-free confirmed case",
        )
    route = case_route(session, case.id)
    queue = route[0]
    day = business_day(now)
    # The quote is read before the number is taken: the daily-sequence row stays locked
    # from the upsert to the commit, so everything done after it serialises the kiosks.
    quoted = quote_wait(session, queue, day, case.priority, now, None).expected_s
    number = next_number(session, queue.id, day)
    values: dict[str, Any] = {
        "case_id": case.id,
        "origin_queue_id": queue.id,
        "queue_id": queue.id,
        "business_day": day,
        "number": number,
        "display_number": f"{queue.prefix}-{number:03d}",
        "status": T.WAITING,
        "priority": case.priority,
        "token": secrets.token_urlsafe(TOKEN_BYTES),
        "issued_at": now,
        "sort_at": now,
        "call_count": 0,
        "quoted_wait_s": quoted,
        "stop": 0,
        "stops": len(route),
        **dict.fromkeys(_TICKET_NULLS),
    }
    if at_counter is not None:
        # Served where it was opened: no wait, no call (the board shows calls only).
        values.update(status=T.SERVING, counter_id=at_counter.id, serving_at=now, quoted_wait_s=0)
    # A Core insert, then the object joins the session as if loaded (every column set):
    # no unit-of-work flush for the busiest insert.
    result = session.connection().execute(_INSERT_TICKET, values)
    ticket = Ticket(id=inserted_id(result), **values)
    make_transient_to_detached(ticket)
    session.add(ticket)
    session.connection().execute(
        _INSERT_STOPS,
        [
            {
                "ticket_id": ticket.id,
                "position": position,
                "queue_id": stop_queue.id,
                "counter_id": at_counter.id if at_counter and position == 0 else None,
                "arrived_at": now if position == 0 else None,
                "serving_at": now if at_counter and position == 0 else None,
                "completed_at": None,
                "service_s": None,
            }
            for position, stop_queue in enumerate(route)
        ],
    )
    detail: dict[str, Any] = {
        "number": ticket.display_number,
        "quoted_wait_s": ticket.quoted_wait_s,
        "route": [q.code for q in route],
    }
    if at_counter is not None:
        detail["serving_at_counter"] = at_counter.code
    target = S.SERVING if at_counter is not None else S.QUEUED
    with audit.batched(session):
        _move_case(session, case, target, actor=actor, now=now, ticket_id=ticket.id)
        audit.record(
            session,
            actor,
            "ticket.issued",
            case_id=case.id,
            ticket_id=ticket.id,
            detail=detail,
            now=now,
        )
    log.info("ticket %s issued for case %s", ticket.display_number, case.id)
    return ticket


# --- stops of the route -----------------------------------------------------------------------

# A ticket routed on from an earlier stop goes ahead of every ticket issued today: its place
# in line is its issue time moved back by this much (more than a business day), so tickets
# routed on keep their own order (by issue time) among themselves.
HEAD_OF_LINE = timedelta(days=1)

_stops = table_of(TicketStop)
_SERVE_STOP = (
    update(_stops)
    .where(_stops.c.ticket_id == bindparam("b_ticket"), _stops.c.position == bindparam("b_stop"))
    .values(serving_at=bindparam("b_at"), counter_id=bindparam("b_counter"))
)
_CLOSE_STOP = (
    update(_stops)
    .where(_stops.c.ticket_id == bindparam("b_ticket"), _stops.c.position == bindparam("b_stop"))
    .values(
        completed_at=bindparam("b_at"),
        service_s=bindparam("b_service"),
        counter_id=bindparam("b_counter"),
    )
)
_CLOSE_LATER_STOPS = (
    update(_stops)
    .where(
        _stops.c.ticket_id == bindparam("b_ticket"),
        _stops.c.position > bindparam("b_stop"),
        _stops.c.position < bindparam("b_until"),
    )
    .values(completed_at=bindparam("b_at"), counter_id=bindparam("b_counter"))
)
_ARRIVE_AT_STOP = (
    update(_stops)
    .where(_stops.c.ticket_id == bindparam("b_ticket"), _stops.c.position == bindparam("b_stop"))
    .values(arrived_at=bindparam("b_at"))
)
_MOVE_STOP = (
    update(_stops)
    .where(_stops.c.ticket_id == bindparam("b_ticket"), _stops.c.position == bindparam("b_stop"))
    .values(queue_id=bindparam("b_queue"))
)
_LATER_STOPS = (
    select(_stops.c.position, _stops.c.queue_id)
    .where(_stops.c.ticket_id == bindparam("b_ticket"), _stops.c.position > bindparam("b_stop"))
    .order_by(_stops.c.position)
)


def serve_stop(session: Session, ticket: Ticket, *, now: datetime) -> None:
    """Record on the (locked) ticket's current stop that its counter started serving."""
    session.execute(
        _SERVE_STOP,
        {"b_ticket": ticket.id, "b_stop": ticket.stop, "b_at": now, "b_counter": ticket.counter_id},
    )


def move_stop(session: Session, ticket: Ticket, queue: Queue) -> None:
    """A staff transfer to ``queue``: the (locked) ticket's current stop is served there."""
    session.execute(_MOVE_STOP, {"b_ticket": ticket.id, "b_stop": ticket.stop, "b_queue": queue.id})


def finish_stop(
    session: Session,
    ticket: Ticket,
    *,
    actor: str,
    now: datetime,
    whole_case: bool = False,
) -> Ticket:
    """The (locked, serving) ticket's counter finished its current stop: the stop records
    its service time, then the ticket is routed on to the head of its next stop's queue
    (serving -> waiting, audited ``ticket.routed``), or, at its last stop, done.

    Later stops in the queue it was just served in are closed with it (served there
    already), and so are all later stops when ``whole_case``: the counter did everything.
    Closed stops that were not served keep no service time (it would skew the estimates).
    Raises InvalidTransition unless the ticket is being served.
    """
    require_status(ticket, T.SERVING, T.DONE.value)
    service = None
    if ticket.serving_at is not None:
        service = max(0, int((now - ticket.serving_at).total_seconds()))
    session.execute(
        _CLOSE_STOP,
        {
            "b_ticket": ticket.id,
            "b_stop": ticket.stop,
            "b_at": now,
            "b_service": service,
            "b_counter": ticket.counter_id,
        },
    )
    total = (ticket.service_s or 0) + (service or 0) if service is not None else ticket.service_s
    following = None
    if ticket.stop < ticket.stops - 1 and not whole_case:
        later = session.execute(_LATER_STOPS, {"b_ticket": ticket.id, "b_stop": ticket.stop})
        following = next(((pos, q) for pos, q in later if q != ticket.queue_id), None)
    until = following[0] if following is not None else ticket.stops
    if until > ticket.stop + 1:
        session.execute(
            _CLOSE_LATER_STOPS,
            {
                "b_ticket": ticket.id,
                "b_stop": ticket.stop,
                "b_until": until,
                "b_at": now,
                "b_counter": ticket.counter_id,
            },
        )
    if following is None:
        return move_ticket(
            session,
            ticket,
            T.DONE,
            actor=actor,
            now=now,
            detail={"closed_stops": until - ticket.stop - 1} if until > ticket.stop + 1 else None,
            values={"completed_at": now, "service_s": total, "stop": ticket.stops - 1},
        )
    position, queue_id = following
    came_from, going_to = session.get(Queue, ticket.queue_id), session.get(Queue, queue_id)
    session.execute(_ARRIVE_AT_STOP, {"b_ticket": ticket.id, "b_stop": position, "b_at": now})
    return move_ticket(
        session,
        ticket,
        T.WAITING,
        actor=actor,
        now=now,
        action="ticket.routed",
        detail={
            "queue_from": came_from.code if came_from else None,
            "queue": going_to.code if going_to else None,
            "stop": position + 1,
            "stops": ticket.stops,
        },
        values={
            "queue_id": queue_id,
            "stop": position,
            "sort_at": ticket.issued_at - HEAD_OF_LINE,
            "counter_id": None,
            "target_counter_id": None,
            "serving_at": None,
            "service_s": total,
        },
    )


# --- closing a case with its ticket -----------------------------------------------------------


def _cancel_ticket(
    session: Session, ticket: Ticket | None, *, actor: str, now: datetime | None
) -> None:
    """Cancel the (locked) ticket unless it is finished; the case transition is the
    caller's."""
    if ticket is not None and T.CANCELLED in TICKET_TRANSITIONS[ticket.status]:
        move_ticket(session, ticket, T.CANCELLED, actor=actor, now=aware(now))


def cancel_case(
    session: Session, case: Case, *, actor: str, now: datetime | None = None, reason: str = ""
) -> Case:
    """-> cancelled (resident gave up, time-out, staff). A waiting ticket is cancelled too.
    Paid cases raise InvalidTransition: they are refunded instead."""
    ticket, case = _lock_ticket_then_case(session, case.id)
    if case.status is S.CANCELLED:
        return case
    if case.status in (S.QUEUED, S.NO_SHOW) and not refusal(case, S.CANCELLED):
        _cancel_ticket(session, ticket, actor=actor, now=now)
    return _move_case(
        session, case, S.CANCELLED, actor=actor, now=now, detail={"reason": reason[:64]}
    )


def mark_refunded(session: Session, case: Case, *, actor: str, now: datetime | None = None) -> Case:
    """-> refunded (staff-approved refund done by the payment service). Idempotent when
    already refunded. A waiting ticket of the case is cancelled with it."""
    ticket, case = _lock_ticket_then_case(session, case.id)
    if case.status is S.REFUNDED:
        return case
    _cancel_ticket(session, ticket, actor=actor, now=now)
    return _move_case(session, case, S.REFUNDED, actor=actor, now=now)
