"""What the live screens show, read once for all of them.

The display boards and the residents' phones follow the queues live. One process may hold
hundreds of them open, so what they show is read once per change for everyone
(``application.live``), never once per screen: the board's content is
:func:`kiosk.overview.board_state`; the phones' is :func:`ticket_views`, which reads each
watched queue's waiting line once and places every watched ticket in it.

:func:`ticket_views` gives the same numbers as :func:`kiosk.overview.ticket_status` (people
ahead, estimated wait, counter once called); a test pins the two together. Numbers,
statuses and counter names only: nothing here holds personal data.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection
from datetime import date, datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from kiosk.models import Counter, Queue, Ticket, TicketStatus, TicketStop
from kiosk.overview import TicketStatusView
from kiosk.waits import (
    OPEN_COUNTERS,
    SERVICE_COUNT,
    SERVICE_MEAN,
    SERVICE_MEAN_SQUARE,
    ServiceTimes,
    estimate,
    service_times,
)

T = TicketStatus
TOKEN_MAX_LENGTH = 64
_NO_INPUTS = (0, ServiceTimes(0, None, None), 0)  # nobody ahead: no estimate


def ticket_ids_by_token(session: Session, tokens: Collection[str]) -> dict[str, int]:
    """Ticket id of each known token (unknown or malformed tokens are left out)."""
    wanted = [t for t in tokens if t and len(t) <= TOKEN_MAX_LENGTH]
    if not wanted:
        return {}
    rows = session.execute(select(Ticket.token, Ticket.id).where(Ticket.token.in_(wanted)))
    return {token: ticket_id for token, ticket_id in rows}


_WAITING_LINE = (
    select(Ticket.priority, Ticket.sort_at, Ticket.id)
    .where(
        Ticket.queue_id == bindparam("queue_id"),
        Ticket.business_day == bindparam("business_day"),
        Ticket.status == T.WAITING,
    )
    .order_by(Ticket.priority.desc(), Ticket.sort_at, Ticket.id)
)
# The estimate's inputs are kiosk.waits' own subqueries: the same figures as the status page.
_ESTIMATE_INPUTS = select(
    Queue.default_service_s, SERVICE_COUNT, SERVICE_MEAN, SERVICE_MEAN_SQUARE, OPEN_COUNTERS
).where(Queue.id == bindparam("queue_id"))


def _line_key(priority: int, sort_at: datetime, ticket_id: int) -> tuple[int, datetime, int]:
    # Calling order: higher priority first, then the original issue time, then the id.
    return (-priority, sort_at, ticket_id)


def ticket_views(session: Session, ticket_ids: Collection[int]) -> dict[int, TicketStatusView]:
    """The phone view of every ticket in ``ticket_ids`` that exists.

    Statements: one for the tickets, then per (queue, day) that has a waiting or held
    ticket among them one for its waiting line and one per queue for the estimate's
    inputs, one for the routes of tickets that visit several queues and one for the
    counters of called tickets: the cost grows with the number of queues watched, not with
    the number of tickets.
    """
    if not ticket_ids:
        return {}
    rows = session.execute(
        select(
            Ticket.id,
            Ticket.display_number,
            Ticket.status,
            Ticket.queue_id,
            Ticket.business_day,
            Ticket.priority,
            Ticket.sort_at,
            Ticket.quoted_wait_s,
            Ticket.counter_id,
            Ticket.stop,
            Ticket.stops,
            Queue.names,
        )
        .join(Queue, Queue.id == Ticket.queue_id)
        .where(Ticket.id.in_(list(ticket_ids)))
    ).all()
    in_line = [r for r in rows if r.status in (T.WAITING, T.HELD)]
    lines: dict[tuple[int, date], list[tuple[int, datetime, int]]] = {}
    for queue_id, day in {(r.queue_id, r.business_day) for r in in_line}:
        lines[(queue_id, day)] = [
            _line_key(*row)
            for row in session.execute(_WAITING_LINE, {"queue_id": queue_id, "business_day": day})
        ]
    inputs: dict[int, tuple[int, ServiceTimes, int]] = {}
    for queue_id in {r.queue_id for r in in_line}:
        default_s, count, mean, mean_square, open_counters = session.execute(
            _ESTIMATE_INPUTS, {"queue_id": queue_id}
        ).one()
        inputs[queue_id] = (
            int(default_s),
            service_times(count, mean, mean_square),
            int(open_counters or 0),
        )
    routes: dict[int, list[dict[str, str]]] = {r.id: [dict(r.names)] for r in rows}
    multi = [r.id for r in rows if r.stops > 1]
    if multi:
        routes.update({ticket_id: [] for ticket_id in multi})
        stops = session.execute(
            select(TicketStop.ticket_id, Queue.names)
            .join(Queue, Queue.id == TicketStop.queue_id)
            .where(TicketStop.ticket_id.in_(multi))
            .order_by(TicketStop.ticket_id, TicketStop.position)
        )
        for ticket_id, names in stops:
            routes[ticket_id].append(dict(names))
    counter_ids = {r.counter_id for r in rows if r.status is T.CALLED and r.counter_id}
    counter_names = (
        {
            c.id: dict(c.names)
            for c in session.scalars(select(Counter).where(Counter.id.in_(counter_ids)))
        }
        if counter_ids
        else {}
    )
    views = {}
    for r in rows:
        ahead = 0
        if r.status in (T.WAITING, T.HELD):
            line = lines[(r.queue_id, r.business_day)]
            ahead = bisect_left(line, _line_key(r.priority, r.sort_at, r.id))
        default_s, times, open_counters = inputs.get(r.queue_id, _NO_INPUTS)
        wait = estimate(ahead, default_s, times, open_counters)
        views[r.id] = TicketStatusView(
            number=r.display_number,
            status=r.status.value,
            people_ahead=wait.people_ahead,
            estimated_wait_s=wait.expected_s,
            quoted_wait_s=r.quoted_wait_s,
            counter=counter_names.get(r.counter_id) if r.status is T.CALLED else None,
            wait_low_s=wait.low_s,
            wait_high_s=wait.high_s,
            wait_minutes=wait.minutes(),
            queue=dict(r.names),
            route=tuple(routes[r.id]),
            stop=r.stop,
        )
    return views
