"""Statistics of a business day: per queue (issued, served, no-show, waits, service
times) and tickets issued per hour, for the statistics page and the API.

Computed from tickets and their stops, which hold no personal data: the figures survive purge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.clock import TOKYO
from kiosk.models import Queue, Ticket, TicketStatus, TicketStop

T = TicketStatus


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
    """Per queue: issued, no-show and the waits (issue to first call) by the queue that
    issued the number; served and the mean service time by the queue that served (a
    ticket that visits several queues is served once in each). Survives purge (tickets
    hold no personal data)."""
    result = []
    for queue in session.scalars(select(Queue).order_by(Queue.id)):
        rows = session.execute(
            select(Ticket.status, Ticket.actual_wait_s).where(
                Ticket.origin_queue_id == queue.id, Ticket.business_day == day
            )
        ).all()
        services: list[int] = [
            service_s
            for service_s in session.scalars(
                select(TicketStop.service_s)
                .join(Ticket, Ticket.id == TicketStop.ticket_id)
                .where(
                    TicketStop.queue_id == queue.id,
                    TicketStop.service_s.is_not(None),
                    Ticket.business_day == day,
                )
            )
            if service_s is not None
        ]
        waits = [w for _, w in rows if w is not None]
        result.append(
            QueueDayStats(
                queue=queue.code,
                issued=len(rows),
                served=len(services),
                no_show=sum(1 for st, _ in rows if st is T.NO_SHOW),
                mean_wait_s=sum(waits) / len(waits) if waits else None,
                p90_wait_s=_p90(waits),
                mean_service_s=sum(services) / len(services) if services else None,
            )
        )
    return result


@dataclass(frozen=True)
class DayStatistics:
    """Charts of the statistics page: tickets issued per hour (Tokyo) and waits per queue."""

    day: date
    per_hour: tuple[int, ...]  # 24 buckets, local hour of issue
    queues: tuple[QueueDayStats, ...]


def day_statistics(session: Session, day: date) -> DayStatistics:
    """Per-hour issue counts and per-queue statistics of ``day``."""
    hours = [0] * 24
    for (issued_at,) in session.execute(select(Ticket.issued_at).where(Ticket.business_day == day)):
        hours[issued_at.astimezone(TOKYO).hour] += 1
    return DayStatistics(day, tuple(hours), tuple(daily_stats(session, day)))
