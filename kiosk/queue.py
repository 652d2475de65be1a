"""Tickets, queues and counters: issuing, calling, serving, waiting-time estimates, stats.

Ticket state machine (``TICKET_TRANSITIONS``)::

    waiting <-> held;  waiting | held | no_show -> called -> serving -> done
    called -> no_show -> waiting (returns to its old place) | called
    called | serving -> waiting   (transfer: same number, same place by issue time)
    waiting | held | called | serving | no_show -> cancelled (the case was cancelled/refunded)

Each operation takes a Session, locks the rows it changes, moves the ticket and its case
together and writes audit rows; the caller commits once. Concurrency:

* call-next picks the first waiting ticket with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
  so two counters never get the same ticket and neither waits for the other; a ticket
  locked by a counter whose transaction then rolls back is still waiting, never lost.
  On SQLite every transaction is ``BEGIN IMMEDIATE`` (see ``kiosk.db``): writers run one
  at a time and the same code is trivially exclusive.
* Numbers come from an upsert on ``daily_sequences`` (row lock per queue and day) and are
  backed by the unique key (origin queue, business day, number).

Ordering: higher ``priority`` first (support, then appointment, then normal), then the
original issue time (``sort_at``, kept by transfers and no-show returns), then the id.
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, load_only
from sqlalchemy.orm.session import make_transient_to_detached

from kiosk import audit
from kiosk.cases import transition_case
from kiosk.catalog import Catalog
from kiosk.clock import aware, business_day
from kiosk.db import write_row
from kiosk.errors import DomainError, InvalidTransition, NotFound
from kiosk.models import (
    Case,
    CaseProcedure,
    CaseStatus,
    Counter,
    DailySequence,
    Queue,
    Ticket,
    TicketStatus,
    counter_queues,
)

log = logging.getLogger(__name__)

T = TicketStatus
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
    T.CALLED: CaseStatus.CALLED,
    T.SERVING: CaseStatus.SERVING,
    T.NO_SHOW: CaseStatus.NO_SHOW,
    T.WAITING: CaseStatus.QUEUED,
    T.DONE: CaseStatus.DONE,
}
TOKEN_BYTES = 32  # 256 bits: the status page URL is the only thing guarding it
RECENT_SERVICE_SAMPLE = 20


class CounterClosed(DomainError):
    """A closed counter tried to call a ticket."""


# --- set-up -------------------------------------------------------------------------------


def install_catalog(session: Session, catalog: Catalog) -> None:
    """Create or update the catalog's queues and counters (matched by code). Queues and
    counters that left the catalog are kept: history refers to them."""
    queues = {q.code: q for q in session.scalars(select(Queue))}
    for spec in catalog.queues:
        queue = queues.get(spec.code) or Queue(code=spec.code)
        queue.prefix = spec.prefix
        queue.names = dict(spec.names)
        queue.default_service_s = spec.default_service_s
        session.add(queue)
        queues[spec.code] = queue
    session.flush()
    counters = {c.code: c for c in session.scalars(select(Counter))}
    for cspec in catalog.counters:
        counter = counters.get(cspec.code) or Counter(code=cspec.code, is_open=True)
        counter.names = dict(cspec.names)
        counter.queues = [queues[code] for code in cspec.queues]
        session.add(counter)
    session.flush()


def get_queue(session: Session, code: str) -> Queue:
    queue = session.scalars(select(Queue).where(Queue.code == code)).one_or_none()
    if queue is None:
        raise NotFound(f"queue {code!r} (has the catalog been installed?)")
    return queue


def get_counter(session: Session, code: str) -> Counter:
    counter = session.scalars(select(Counter).where(Counter.code == code)).one_or_none()
    if counter is None:
        raise NotFound(f"counter {code!r}")
    return counter


def get_ticket(session: Session, ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id}")
    return ticket


def set_counter_open(
    session: Session, counter: Counter, is_open: bool, *, actor: str, now: datetime | None = None
) -> Counter:
    """Open or close a counter (closed counters cannot call; estimates count open ones)."""
    counter.is_open = is_open
    audit.record(
        session,
        actor,
        "counter.opened" if is_open else "counter.closed",
        detail={"counter": counter.code},
        now=now,
    )
    session.flush()
    return counter


# --- the state machine --------------------------------------------------------------------


# Hot-path statements are built once (with bound parameters): building and hashing an
# expression tree on every call cost more CPU than running the statement on SQLite.
_LOCK_TICKET = (
    select(Ticket)
    .where(Ticket.id == bindparam("ticket_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
# Like ``cases.lock_case`` but loading only what a transition reads and writes: the
# personal columns are not fetched (nor decrypted) on the hot paths; they stay loadable.
_CASE_STATE_ONLY = load_only(
    Case.status, Case.fee_yen, Case.priority, Case.updated_at, Case.closed_at, raiseload=False
)
_LOCK_CASE_STATE = (
    select(Case)
    .where(Case.id == bindparam("case_id"))
    .options(_CASE_STATE_ONLY)
    .with_for_update()
    .execution_options(populate_existing=True)
)


def _lock_ticket(session: Session, ticket_id: int) -> Ticket:
    ticket = session.scalars(_LOCK_TICKET, {"ticket_id": ticket_id}).one_or_none()
    if ticket is None:
        raise NotFound(f"ticket {ticket_id}")
    return ticket


def _lock_case_state(session: Session, case_id: int) -> Case:
    """The case row-locked with fresh state (status, fee, timestamps only)."""
    case = session.scalars(_LOCK_CASE_STATE, {"case_id": case_id}).one_or_none()
    if case is None:
        raise NotFound(f"case {case_id}")
    return case


def _transition_case(
    session: Session, case: Case, target: CaseStatus, *, actor: str, now: datetime, ticket_id: int
) -> None:
    # Decided, audited and written at once by the case state machine: nothing left to flush.
    transition_case(
        session, case, target, actor=actor, now=now, ticket_id=ticket_id, write_now=True
    )


def _require(ticket: Ticket, status: TicketStatus, operation: str) -> None:
    # Operations sharing a target state (waiting) differ in where they may start from.
    if ticket.status is not status:
        raise InvalidTransition("ticket", ticket.id, ticket.status.value, operation)


def _move(
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
    ``values``: other ticket columns written in the same UPDATE."""
    if target not in TICKET_TRANSITIONS[ticket.status]:
        raise InvalidTransition("ticket", ticket.id, ticket.status.value, target.value)
    previous = ticket.status
    case_target = _CASE_FOR_TICKET.get(target)
    with audit.batched(session):  # the case's and the ticket's rows in one insert
        if case_target is not None:
            case = _lock_case_state(session, ticket.case_id)
            if case.status is not case_target:
                _transition_case(
                    session, case, case_target, actor=actor, now=now, ticket_id=ticket.id
                )
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


def _number_upsert(insert: Any) -> Any:
    return (
        insert(DailySequence)
        .values(
            queue_id=bindparam("queue_id"), business_day=bindparam("business_day"), last_number=1
        )
        .on_conflict_do_update(
            index_elements=[DailySequence.queue_id, DailySequence.business_day],
            set_={"last_number": DailySequence.last_number + 1},
        )
        .returning(DailySequence.last_number)
    )


_NEXT_NUMBER = {
    "postgresql": _number_upsert(postgresql.insert),
    "sqlite": _number_upsert(sqlite.insert),
}
# Issuing starts with one statement: the case row-locked (state columns only), the id of
# its ticket if it already has one (idempotency) and the queue of its first procedure.
_FIRST_QUEUE_CODE = (
    select(CaseProcedure.queue_code)
    .where(CaseProcedure.case_id == Case.id)
    .order_by(CaseProcedure.position)
    .limit(1)
    .scalar_subquery()
)
_LOCK_CASE_FOR_ISSUE = (
    select(Case, select(Ticket.id).where(Ticket.case_id == Case.id).scalar_subquery(), Queue)
    .outerjoin(Queue, Queue.code == _FIRST_QUEUE_CODE)
    .where(Case.id == bindparam("case_id"))
    .options(_CASE_STATE_ONLY)
    .with_for_update(of=Case)
    .execution_options(populate_existing=True)
)
_INSERT_TICKET = insert(Ticket.__table__)
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


def _next_number(session: Session, queue_id: int, day: date) -> int:
    stmt = _NEXT_NUMBER[session.get_bind().dialect.name]
    return int(session.execute(stmt, {"queue_id": queue_id, "business_day": day}).scalar_one())


def issue_ticket(
    session: Session,
    case: Case,
    *,
    actor: str,
    now: datetime | None = None,
) -> Ticket:
    """The ticket of a paid (or confirmed fee-free) case, in the queue of its first
    procedure; the case becomes queued and the quoted wait is stored.

    Idempotent: a case that already has a ticket gets that ticket back (a payment webhook
    may arrive twice). Other states raise InvalidTransition.
    """
    now = aware(now)
    row = session.execute(_LOCK_CASE_FOR_ISSUE, {"case_id": case.id}).one_or_none()
    if row is None:
        raise NotFound(f"case {case.id}")
    case, ticket_id, queue = row
    if ticket_id is not None:
        return get_ticket(session, ticket_id)
    ready = case.status is CaseStatus.PAID or (
        case.status is CaseStatus.CONFIRMED and case.fee_yen == 0
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
            CaseStatus.QUEUED.value,
            "a ticket needs a paid or fee-free confirmed case",
        )
    if queue is None:  # no procedure line, or its queue is not installed: say which
        queue = get_queue(session, case.procedures[0].queue_code)
    day = business_day(now)
    # The quote is read before the number is taken: the daily-sequence row stays locked
    # from the upsert to the commit, so everything done after it serialises the kiosks.
    _, quoted = _quote(session, queue, day, case.priority, now, None)
    number = _next_number(session, queue.id, day)
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
        **dict.fromkeys(_TICKET_NULLS),
    }
    # A Core insert, then the object joins the session as if loaded (every column set):
    # no unit-of-work flush for the busiest insert.
    result = session.connection().execute(_INSERT_TICKET, values)
    ticket = Ticket(id=result.inserted_primary_key[0], **values)
    make_transient_to_detached(ticket)
    session.add(ticket)
    with audit.batched(session):
        _transition_case(
            session, case, CaseStatus.QUEUED, actor=actor, now=now, ticket_id=ticket.id
        )
        audit.record(
            session,
            actor,
            "ticket.issued",
            case_id=case.id,
            ticket_id=ticket.id,
            detail={"number": ticket.display_number, "quoted_wait_s": ticket.quoted_wait_s},
            now=now,
        )
    log.info("ticket %s issued for case %s", ticket.display_number, case.id)
    return ticket


# --- calling --------------------------------------------------------------------------------


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
    _move(
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
    ticket = _lock_ticket(session, ticket.id)
    return _mark_called(session, ticket, counter, actor=actor, now=now)


def recall(session: Session, ticket: Ticket, *, actor: str, now: datetime | None = None) -> Ticket:
    """Announce a called ticket again (the board re-chimes on the new ``called_at``)."""
    now = aware(now)
    ticket = _lock_ticket(session, ticket.id)
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
    ticket = _lock_ticket(session, ticket.id)
    _move(session, ticket, T.NO_SHOW, actor=actor, now=aware(now))
    session.flush()
    return ticket


def return_no_show(
    session: Session, ticket: Ticket, *, actor: str, now: datetime | None = None
) -> Ticket:
    """A no-show came back: waiting again at its original place (it was called once)."""
    ticket = _lock_ticket(session, ticket.id)
    _require(ticket, T.NO_SHOW, "returned")
    _move(
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
    ticket = _lock_ticket(session, ticket.id)
    detail = {"queue": queue.code if queue else None, "counter": counter.code if counter else None}
    if ticket.status in (T.CALLED, T.SERVING):
        _move(
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
    write_row(session, ticket, values)
    session.flush()
    return ticket


def hold(session: Session, ticket: Ticket, *, actor: str, now: datetime | None = None) -> Ticket:
    """Park a waiting ticket (resident stepped away, missing document): not called until
    resumed; it keeps its place."""
    ticket = _lock_ticket(session, ticket.id)
    _move(session, ticket, T.HELD, actor=actor, now=aware(now))
    session.flush()
    return ticket


def resume(session: Session, ticket: Ticket, *, actor: str, now: datetime | None = None) -> Ticket:
    """A held ticket waits again at its original place."""
    ticket = _lock_ticket(session, ticket.id)
    _require(ticket, T.HELD, "resumed")
    _move(session, ticket, T.WAITING, actor=actor, now=aware(now), action="ticket.resumed")
    session.flush()
    return ticket


def start_serving(
    session: Session, ticket: Ticket, *, actor: str, now: datetime | None = None
) -> Ticket:
    """The resident arrived at the counter: called -> serving."""
    now = aware(now)
    ticket = _lock_ticket(session, ticket.id)
    _move(session, ticket, T.SERVING, actor=actor, now=now, values={"serving_at": now})
    session.flush()
    return ticket


def complete(
    session: Session, ticket: Ticket, *, actor: str, now: datetime | None = None
) -> Ticket:
    """Served: serving -> done; the service time feeds the wait estimates."""
    now = aware(now)
    ticket = _lock_ticket(session, ticket.id)
    values: dict[str, Any] = {"completed_at": now}
    if ticket.serving_at is not None:
        values["service_s"] = max(0, int((now - ticket.serving_at).total_seconds()))
    _move(session, ticket, T.DONE, actor=actor, now=now, values=values)
    session.flush()
    return ticket


def lock_ticket_of_case(session: Session, case_id: int) -> Ticket | None:
    """The case's ticket, row-locked (tickets are locked before cases everywhere, so
    cancel and call-next cannot deadlock)."""
    stmt = (
        select(Ticket)
        .where(Ticket.case_id == case_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.scalars(stmt).one_or_none()


def cancel_ticket_of_case(
    session: Session, case: Case, *, actor: str, now: datetime | None = None
) -> Ticket | None:
    """Cancel the case's ticket if it has one that is not finished (used by cancel and
    refund; the case transition is the caller's)."""
    ticket = lock_ticket_of_case(session, case.id)
    if ticket is None or T.CANCELLED not in TICKET_TRANSITIONS[ticket.status]:
        return ticket
    return _move(session, ticket, T.CANCELLED, actor=actor, now=aware(now))


# --- waiting ----------------------------------------------------------------------------------


def _ahead_condition(tie_break_by_id: bool) -> Any:
    """Waiting tickets of the queue and day ahead of (priority, sort_at[, ticket_id])."""
    if tie_break_by_id:
        earlier = or_(
            Ticket.sort_at < bindparam("sort_at"),
            and_(Ticket.sort_at == bindparam("sort_at"), Ticket.id < bindparam("ticket_id")),
        )
    else:  # a ticket being issued: everyone issued at the same instant is ahead
        earlier = Ticket.sort_at <= bindparam("sort_at")
    return and_(
        Ticket.queue_id == bindparam("queue_id"),
        Ticket.business_day == bindparam("business_day"),
        Ticket.status == T.WAITING,
        or_(
            Ticket.priority > bindparam("priority"),
            and_(Ticket.priority == bindparam("priority"), earlier),
        ),
    )


_COUNT_AHEAD = {
    by_id: select(func.count(Ticket.id)).where(_ahead_condition(by_id)) for by_id in (False, True)
}
# Mean of the queue's latest service times (ix_tickets_queue_completed) and the open
# counters serving it.
_RECENT_SERVICE = (
    select(Ticket.service_s)
    .where(Ticket.queue_id == bindparam("queue_id"), Ticket.service_s.is_not(None))
    .order_by(Ticket.completed_at.desc())
    .limit(RECENT_SERVICE_SAMPLE)
    .subquery()
)
_MEAN_SERVICE = select(func.avg(_RECENT_SERVICE.c.service_s)).scalar_subquery()
_OPEN_COUNTERS = (
    select(func.count(Counter.id))
    .join(counter_queues, counter_queues.c.counter_id == Counter.id)
    .where(counter_queues.c.queue_id == bindparam("queue_id"), Counter.is_open.is_(True))
    .scalar_subquery()
)
_ESTIMATE_INPUTS = select(_MEAN_SERVICE, _OPEN_COUNTERS)
_QUOTE = {
    by_id: select(_COUNT_AHEAD[by_id].scalar_subquery(), _MEAN_SERVICE, _OPEN_COUNTERS)
    for by_id in (False, True)
}


def _ahead_params(
    queue_id: int, day: date, priority: int, sort_at: datetime, ticket_id: int | None
) -> dict[str, Any]:
    params = {"queue_id": queue_id, "business_day": day, "priority": priority, "sort_at": sort_at}
    if ticket_id is not None:
        params["ticket_id"] = ticket_id
    return params


def _count_ahead(
    session: Session,
    queue_id: int,
    day: date,
    priority: int,
    sort_at: datetime,
    ticket_id: int | None,
) -> int:
    params = _ahead_params(queue_id, day, priority, sort_at, ticket_id)
    return int(session.scalar(_COUNT_AHEAD[ticket_id is not None], params) or 0)


def _wait_s(mean: Any, default_service_s: int, ahead: int, open_counters: Any) -> int:
    service = float(mean) if mean is not None else float(default_service_s)
    return math.ceil(service * ahead / max(1, int(open_counters or 0)))


def _estimate(session: Session, queue: Queue, ahead: int) -> int:
    mean, open_counters = session.execute(_ESTIMATE_INPUTS, {"queue_id": queue.id}).one()
    return _wait_s(mean, queue.default_service_s, ahead, open_counters)


def _quote(
    session: Session,
    queue: Queue,
    day: date,
    priority: int,
    sort_at: datetime,
    ticket_id: int | None,
) -> tuple[int, int]:
    """(people ahead, estimated wait in seconds) in one statement."""
    params = _ahead_params(queue.id, day, priority, sort_at, ticket_id)
    ahead, mean, open_counters = session.execute(_QUOTE[ticket_id is not None], params).one()
    people = int(ahead or 0)
    return people, _wait_s(mean, queue.default_service_s, people, open_counters)


def people_ahead(session: Session, ticket: Ticket) -> int:
    """Waiting tickets that will be called before this one in its queue (0 once called)."""
    if ticket.status not in (T.WAITING, T.HELD):
        return 0
    return _count_ahead(
        session, ticket.queue_id, ticket.business_day, ticket.priority, ticket.sort_at, ticket.id
    )


def estimate_wait(session: Session, ticket: Ticket) -> int:
    """Seconds until the ticket is likely called: mean of the queue's last 20 service
    times (or its default) x people ahead / open counters serving the queue."""
    queue = session.get(Queue, ticket.queue_id)
    assert queue is not None
    return _estimate(session, queue, people_ahead(session, ticket))


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
        .where(Ticket.business_day == day, Ticket.status.in_((T.CALLED, T.SERVING)))
        .order_by(Ticket.called_at.desc())
        .limit(limit)
    )
    return [
        BoardEntry(t.display_number, c.code, dict(c.names), t.called_at, t.call_count)
        for t, c in session.execute(stmt)
        if t.called_at is not None
    ]


# --- statistics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueDayStats:
    """One queue on one business day. Waits are issue-to-first-call in seconds."""

    queue: str
    issued: int
    served: int
    no_show: int
    mean_wait_s: float | None
    p90_wait_s: float | None
    mean_service_s: float | None


def _p90(values: list[int]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[math.ceil(0.9 * len(ordered)) - 1])  # nearest rank


def daily_stats(session: Session, day: date) -> list[QueueDayStats]:
    """Per queue (by the queue that issued the number): issued, served, no-show, mean and
    p90 wait, mean service time. Survives purge (tickets hold no personal data)."""
    result = []
    for queue in session.scalars(select(Queue).order_by(Queue.id)):
        rows = session.execute(
            select(Ticket.status, Ticket.actual_wait_s, Ticket.service_s).where(
                Ticket.origin_queue_id == queue.id, Ticket.business_day == day
            )
        ).all()
        waits = [w for _, w, _ in rows if w is not None]
        services = [s for st, _, s in rows if st is T.DONE and s is not None]
        result.append(
            QueueDayStats(
                queue=queue.code,
                issued=len(rows),
                served=sum(1 for st, _, _ in rows if st is T.DONE),
                no_show=sum(1 for st, _, _ in rows if st is T.NO_SHOW),
                mean_wait_s=sum(waits) / len(waits) if waits else None,
                p90_wait_s=_p90(waits),
                mean_service_s=sum(services) / len(services) if services else None,
            )
        )
    return result
