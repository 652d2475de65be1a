"""The audit trail: who did what to which case, when.

Every case and ticket transition, every staff view of a case and every purge writes one
row, in the same transaction as the change it records (so there is never a change without
its audit row, nor the reverse). ``detail`` must hold no personal data: codes, ids,
statuses, counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from kiosk.clock import aware
from kiosk.db import inserted_id, table_of
from kiosk.models import AuditEvent

# "staff:<id>", "kiosk:<id>", "counter:<code>", "payment:<provider>", or "system".
_ACTOR = re.compile(r"^(system|(staff|kiosk|counter|payment|cli):[\w.@-]{1,48})$")


_INSERT = insert(table_of(AuditEvent))
_BATCH = "kiosk.audit.batch"


class InvalidActor(ValueError):
    """The actor string is not one of the documented forms."""


def check_actor(actor: str) -> str:
    """Return ``actor`` if it is well-formed, else raise InvalidActor."""
    if not _ACTOR.match(actor):
        raise InvalidActor(f"actor {actor!r}: expected system or staff:/kiosk:/counter:/... id")
    return actor


def record(
    session: Session,
    actor: str,
    action: str,
    *,
    case_id: int | None = None,
    ticket_id: int | None = None,
    detail: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Write one audit row in ``session``'s transaction, at once (a Core insert: rows are
    never updated, so they need no unit-of-work tracking). Rows get ids in the order they
    are recorded. Returns the event as a detached object carrying the new id (read it, do
    not add it to a session); inside :func:`batched` the row is written when the block
    ends and the returned event has no id yet.
    """
    values = {
        "at": aware(now),
        "actor": check_actor(actor),
        "action": action,
        "case_id": case_id,
        "ticket_id": ticket_id,
        "detail": detail or {},
    }
    pending = session.info.get(_BATCH)
    if pending is not None:
        pending.append(values)
        return AuditEvent(**values)
    # On the session's connection, not session.execute: that would autoflush pending
    # changes first and split a transition's one UPDATE per row into several.
    result = session.connection().execute(_INSERT, values)
    return AuditEvent(id=inserted_id(result), **values)


@contextmanager
def batched(session: Session) -> Iterator[None]:
    """Within the block, :func:`record` collects rows; they are written together (one
    multi-row insert, in recording order) when the block ends normally. For a ticket
    transition that also moves its case: two rows, one statement. Nothing written if
    the block raises (its transaction is being rolled back anyway). Nestable."""
    if _BATCH in session.info:
        yield
        return
    pending: list[dict[str, Any]] = []
    session.info[_BATCH] = pending
    try:
        yield
    finally:
        del session.info[_BATCH]
    if pending:
        session.connection().execute(_INSERT, pending)


def events_for_case(session: Session, case_id: int) -> list[AuditEvent]:
    """The audit rows of one case, oldest first."""
    stmt = select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.id)
    return list(session.scalars(stmt))
