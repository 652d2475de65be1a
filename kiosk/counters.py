"""Queues and counters as rows: installing the catalog's, looking them up by code, and
opening or closing a counter (closed counters cannot call; estimates count open ones)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk import audit
from kiosk.catalog import Catalog
from kiosk.errors import NotFound
from kiosk.models import Counter, Queue


def install_catalog(session: Session, catalog: Catalog) -> None:
    """Create or update the catalog's queues and counters (matched by code). Queues and
    counters that left the catalog are kept: history refers to them."""
    queues = {q.code: q for q in session.scalars(select(Queue))}
    for spec in catalog.queues:
        queue = queues.get(spec.code) or Queue(code=spec.code)
        queue.prefix = spec.prefix
        queue.names = dict(spec.names)
        queue.default_service_s = spec.default_service_s
        queue.route_rank = spec.route_rank
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
