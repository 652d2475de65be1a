"""Tickets: the ticket state machine, issuing a case's ticket, and the case transitions
that take the ticket with them (cancelling or refunding a queued case).

State machine (``TICKET_TRANSITIONS``)::

    waiting <-> held;  waiting | held | no_show -> called -> serving -> done
    called -> no_show -> waiting (returns to its old place) | called
    called | serving -> waiting   (transfer: same number, same place by issue time)
    waiting | held | called | serving | no_show -> cancelled (the case was cancelled/refunded)

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
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session, load_only
from sqlalchemy.orm.session import make_transient_to_detached

from kiosk import audit
from kiosk.cases import STATE_COLUMNS, lock_case, lock_case_state, refusal, transition_case
from kiosk.clock import aware, business_day
from kiosk.counters import get_queue
from kiosk.db import inserted_id, table_of, write_row
from kiosk.errors import InvalidTransition, NotFound
from kiosk.models import Case, CaseProcedure, CaseStatus, Counter, Queue, Ticket, TicketStatus
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
# ``lock_case_state``), the id of its ticket if it already has one (idempotency) and the
# queue of its first procedure.
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
    .options(load_only(*(getattr(Case, name) for name in STATE_COLUMNS), raiseload=False))
    .with_for_update(of=Case)
    .execution_options(populate_existing=True)
)
_INSERT_TICKET = insert(table_of(Ticket))
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


def issue_ticket(
    session: Session,
    case: Case,
    *,
    actor: str,
    now: datetime | None = None,
    at_counter: Counter | None = None,
) -> Ticket:
    """The ticket of a paid (or confirmed fee-free) case, in the queue of its first
    procedure; the case becomes queued and the quoted wait is stored. A confirmed case whose
    fee is left to pay at the counter (``due_yen`` equal to the fee: ``kiosk.counter_cases``)
    gets its ticket too.

    ``at_counter``: the case was opened at that counter and the resident is there: the
    ticket is issued straight into serving at it (the board never calls it) and the case
    becomes serving.

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
    if queue is None:  # no procedure line, or its queue is not installed: say which
        queue = get_queue(session, case.procedures[0].queue_code)
    day = business_day(now)
    # The quote is read before the number is taken: the daily-sequence row stays locked
    # from the upsert to the commit, so everything done after it serialises the kiosks.
    _, quoted = quote_wait(session, queue, day, case.priority, now, None)
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
    detail: dict[str, Any] = {
        "number": ticket.display_number,
        "quoted_wait_s": ticket.quoted_wait_s,
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
