"""Waiting: how many people are ahead of a ticket and how long it is likely to wait.

An estimate is the mean of the queue's latest service times (its catalog default before
any) x people ahead / open counters serving the queue. Each figure is one prebuilt
statement with bound parameters, since ``quote_wait`` runs inside every ticket issue.

Ordering (the same as call-next's): higher ``priority`` first, then the original issue
time (``sort_at``), then the ticket id.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from kiosk.models import Counter, Queue, Ticket, TicketStatus, counter_queues

T = TicketStatus
RECENT_SERVICE_SAMPLE = 20


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


def quote_wait(
    session: Session,
    queue: Queue,
    day: date,
    priority: int,
    sort_at: datetime,
    ticket_id: int | None,
) -> tuple[int, int]:
    """(people ahead, estimated wait in seconds) in one statement, for a ticket at
    (``priority``, ``sort_at``) in ``queue`` on ``day``; ``ticket_id`` None: one being
    issued now (everyone issued at the same instant counts as ahead)."""
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
