"""Waiting: how many people are ahead of a ticket and how long it is likely to wait.

An honest estimate is a range, and never "no wait" while anyone is ahead:

- **Per person**, the queue's typical service time is the mean of its latest
  :data:`RECENT_SERVICE_SAMPLE` service times (per stop: a ticket that visits several
  queues adds one to each), pulled towards the catalog's ``default_service_s`` as if that
  default had been seen :data:`PRIOR_WEIGHT` times. One very quick (or very slow) service
  moves it a little, a run of them moves it a lot; with no history it is the default.
- It is never less than a **floor**: a quarter of the default, and at least
  :data:`MIN_SERVICE_S` (nobody is called, walks to the counter and is served in seconds),
  so a few instant completions cannot drive the estimate to zero.
- The **wait** is people ahead x that time / the open counters serving the queue, give or
  take one standard deviation of the sum of that many services (the spread of the recent
  service times, pulled towards half the default the same way): "about 10-20 minutes".
  The low end never goes under the floor x people ahead / counters.

:class:`WaitEstimate.minutes` rounds the range for people (to 5 minutes above 10). The
resident sees the range on the ticket screen and the phone; ``quoted_wait_s`` (kept on the
ticket at issue) is the expected value, compared with the actual wait in the statistics.

Each figure is one prebuilt statement with bound parameters, since ``quote_wait`` runs
inside every ticket issue. Ordering (the same as call-next's): higher ``priority`` first,
then the place in line (``sort_at``), then the ticket id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Float, and_, bindparam, cast, func, or_, select
from sqlalchemy.orm import Session

from kiosk.models import Counter, Queue, Ticket, TicketStatus, TicketStop, counter_queues

T = TicketStatus
RECENT_SERVICE_SAMPLE = 20
# The catalog's default service time weighs as much as this many observed services.
PRIOR_WEIGHT = 5
# Nobody is served in less than this (called, walks over, shows the card, signs).
MIN_SERVICE_S = 60
# Without history, service times are assumed to spread by half the default.
PRIOR_SPREAD = 0.5


@dataclass(frozen=True)
class ServiceTimes:
    """A queue's latest service times, summarised: how many, their mean and the mean of
    their squares (None when there are none)."""

    count: int
    mean: float | None
    mean_square: float | None


@dataclass(frozen=True)
class WaitEstimate:
    """People ahead and the likely wait in seconds: ``low_s`` .. ``high_s`` around the
    expected ``expected_s``. All zero when nobody is ahead."""

    people_ahead: int
    expected_s: int
    low_s: int
    high_s: int

    def minutes(self) -> tuple[int, int]:
        """The range in whole minutes as people are told it: (0, 0) when nobody is ahead
        ("you are next"), otherwise at least one minute; above 10 minutes the ends are
        rounded out to 5 minutes (10-20, not 12-18). Equal ends mean "about N minutes"."""
        if self.people_ahead <= 0:
            return 0, 0
        low = max(1, self.low_s // 60)
        high = max(low, math.ceil(self.high_s / 60))
        if high > 10:
            high = math.ceil(high / 5) * 5
            if low >= 5:
                low = low // 5 * 5
        return low, high


def estimate(
    people_ahead: int, default_service_s: int, times: ServiceTimes, open_counters: int
) -> WaitEstimate:
    """The wait of someone with ``people_ahead`` in a queue whose catalog default service
    time is ``default_service_s``, with its recent service ``times`` and ``open_counters``
    open counters serving it (see the module docstring for the reasoning)."""
    if people_ahead <= 0:
        return WaitEstimate(0, 0, 0, 0)
    default = float(default_service_s)
    n = times.count if times.mean is not None else 0
    mean = times.mean or 0.0
    variance = max(0.0, (times.mean_square or 0.0) - mean * mean) if n else 0.0
    typical = (PRIOR_WEIGHT * default + n * mean) / (PRIOR_WEIGHT + n)
    spread = math.sqrt(
        (PRIOR_WEIGHT * (PRIOR_SPREAD * default) ** 2 + n * variance) / (PRIOR_WEIGHT + n)
    )
    floor = max(float(MIN_SERVICE_S), default / 4)
    counters = max(1, open_counters)
    expected = people_ahead * max(floor, typical) / counters
    half_width = math.sqrt(people_ahead) * spread / counters
    low = max(people_ahead * floor / counters, expected - half_width)
    high = max(low, expected + half_width)
    return WaitEstimate(people_ahead, math.ceil(expected), math.floor(low), math.ceil(high))


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
# The queue's latest service times, per stop (ix_ticket_stops_queue_served), and the open
# counters serving it.
_RECENT_SERVICE = (
    select(cast(TicketStop.service_s, Float).label("s"))
    .where(TicketStop.queue_id == bindparam("queue_id"), TicketStop.service_s.is_not(None))
    .order_by(TicketStop.completed_at.desc())
    .limit(RECENT_SERVICE_SAMPLE)
    .subquery()
)
SERVICE_COUNT = select(func.count(_RECENT_SERVICE.c.s)).scalar_subquery()
SERVICE_MEAN = select(func.avg(_RECENT_SERVICE.c.s)).scalar_subquery()
SERVICE_MEAN_SQUARE = select(func.avg(_RECENT_SERVICE.c.s * _RECENT_SERVICE.c.s)).scalar_subquery()
OPEN_COUNTERS = (
    select(func.count(Counter.id))
    .join(counter_queues, counter_queues.c.counter_id == Counter.id)
    .where(counter_queues.c.queue_id == bindparam("queue_id"), Counter.is_open.is_(True))
    .scalar_subquery()
)
_ESTIMATE_INPUTS = select(SERVICE_COUNT, SERVICE_MEAN, SERVICE_MEAN_SQUARE, OPEN_COUNTERS)
_QUOTE = {
    by_id: select(
        _COUNT_AHEAD[by_id].scalar_subquery(),
        SERVICE_COUNT,
        SERVICE_MEAN,
        SERVICE_MEAN_SQUARE,
        OPEN_COUNTERS,
    )
    for by_id in (False, True)
}


def service_times(count: Any, mean: Any, mean_square: Any) -> ServiceTimes:
    """ServiceTimes from the three aggregate columns as a database returns them."""
    return ServiceTimes(
        int(count or 0),
        float(mean) if mean is not None else None,
        float(mean_square) if mean_square is not None else None,
    )


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


def quote_wait(
    session: Session,
    queue: Queue,
    day: date,
    priority: int,
    sort_at: datetime,
    ticket_id: int | None,
) -> WaitEstimate:
    """The estimate, in one statement, for a ticket at (``priority``, ``sort_at``) in
    ``queue`` on ``day``; ``ticket_id`` None: one being issued now (everyone issued at the
    same instant counts as ahead)."""
    params = _ahead_params(queue.id, day, priority, sort_at, ticket_id)
    ahead, count, mean, mean_square, open_counters = session.execute(
        _QUOTE[ticket_id is not None], params
    ).one()
    return estimate(
        int(ahead or 0),
        queue.default_service_s,
        service_times(count, mean, mean_square),
        int(open_counters or 0),
    )


def people_ahead(session: Session, ticket: Ticket) -> int:
    """Waiting tickets that will be called before this one in its queue (0 once called)."""
    if ticket.status not in (T.WAITING, T.HELD):
        return 0
    return _count_ahead(
        session, ticket.queue_id, ticket.business_day, ticket.priority, ticket.sort_at, ticket.id
    )


def estimate_wait(session: Session, ticket: Ticket) -> WaitEstimate:
    """The ticket's estimate in the queue it waits in now (all zero once called)."""
    queue = session.get(Queue, ticket.queue_id)
    assert queue is not None
    ahead = people_ahead(session, ticket)
    if ahead == 0:
        return estimate(0, queue.default_service_s, ServiceTimes(0, None, None), 0)
    count, mean, mean_square, open_counters = session.execute(
        _ESTIMATE_INPUTS, {"queue_id": queue.id}
    ).one()
    return estimate(
        ahead,
        queue.default_service_s,
        service_times(count, mean, mean_square),
        int(open_counters or 0),
    )
