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

import math
from bisect import bisect_left
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from kiosk.models import Counter, Queue, Ticket, TicketStatus, counter_queues

T = TicketStatus
# The wait estimate averages a queue's latest service times (kiosk.waits uses the same).
RECENT_SERVICE_SAMPLE = 20
TOKEN_MAX_LENGTH = 64


@dataclass(frozen=True)
class TicketView:
    """One ticket as the resident's phone shows it (the same fields as the status page)."""

    number: str
    status: str
    people_ahead: int
    estimated_wait_s: int
    quoted_wait_s: int
    counter: dict[str, str] | None  # names of the counter, only while called

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "status": self.status,
            "people_ahead": self.people_ahead,
            "estimated_wait_s": self.estimated_wait_s,
            "quoted_wait_s": self.quoted_wait_s,
            "counter": self.counter,
        }


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
_RECENT_SERVICE = (
    select(Ticket.service_s)
    .where(Ticket.queue_id == bindparam("queue_id"), Ticket.service_s.is_not(None))
    .order_by(Ticket.completed_at.desc())
    .limit(RECENT_SERVICE_SAMPLE)
    .subquery()
)
_ESTIMATE_INPUTS = select(
    Queue.default_service_s,
    select(func.avg(_RECENT_SERVICE.c.service_s)).scalar_subquery(),
    select(func.count(Counter.id))
    .join(counter_queues, counter_queues.c.counter_id == Counter.id)
    .where(counter_queues.c.queue_id == bindparam("queue_id"), Counter.is_open.is_(True))
    .scalar_subquery(),
).where(Queue.id == bindparam("queue_id"))


def _line_key(priority: int, sort_at: datetime, ticket_id: int) -> tuple[int, datetime, int]:
    # Calling order: higher priority first, then the original issue time, then the id.
    return (-priority, sort_at, ticket_id)


def ticket_views(session: Session, ticket_ids: Collection[int]) -> dict[int, TicketView]:
    """The phone view of every ticket in ``ticket_ids`` that exists.

    Statements: one for the tickets, then per (queue, day) that has a waiting or held
    ticket among them one for its waiting line and one per queue for the estimate's
    inputs, and one for the counters of called tickets: the cost grows with the number of
    queues watched, not with the number of tickets.
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
        ).where(Ticket.id.in_(list(ticket_ids)))
    ).all()
    in_line = [r for r in rows if r.status in (T.WAITING, T.HELD)]
    lines: dict[tuple[int, date], list[tuple[int, datetime, int]]] = {}
    for queue_id, day in {(r.queue_id, r.business_day) for r in in_line}:
        lines[(queue_id, day)] = [
            _line_key(*row)
            for row in session.execute(_WAITING_LINE, {"queue_id": queue_id, "business_day": day})
        ]
    inputs: dict[int, tuple[int, Any, int]] = {}
    for queue_id in {r.queue_id for r in in_line}:
        default_s, mean, open_counters = session.execute(
            _ESTIMATE_INPUTS, {"queue_id": queue_id}
        ).one()
        inputs[queue_id] = (int(default_s), mean, int(open_counters or 0))
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
        wait = 0
        if r.status in (T.WAITING, T.HELD):
            line = lines[(r.queue_id, r.business_day)]
            ahead = bisect_left(line, _line_key(r.priority, r.sort_at, r.id))
            default_s, mean, open_counters = inputs[r.queue_id]
            service = float(mean) if mean is not None else float(default_s)
            wait = math.ceil(service * ahead / max(1, open_counters))
        counter = counter_names.get(r.counter_id) if r.status is T.CALLED else None
        views[r.id] = TicketView(
            number=r.display_number,
            status=r.status.value,
            people_ahead=ahead,
            estimated_wait_s=wait,
            quoted_wait_s=r.quoted_wait_s,
            counter=counter,
        )
    return views
