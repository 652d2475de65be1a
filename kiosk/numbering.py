"""Daily ticket numbers: one counter row per queue and business day (``daily_sequences``).

A number is taken by an upsert that row-locks that queue's row for the day until the
commit, so concurrent kiosks issuing into the same queue take turns and never share a
number; the unique key (origin queue, business day, number) on tickets backs it up.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kiosk.models import DailySequence


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


# Built once per dialect (both have INSERT ... ON CONFLICT ... RETURNING).
_NEXT_NUMBER = {
    "postgresql": _number_upsert(postgresql.insert),
    "sqlite": _number_upsert(sqlite.insert),
}


def next_number(session: Session, queue_id: int, day: date) -> int:
    """The next number of ``queue_id`` on business day ``day`` (1 for the day's first).
    The day's row stays locked until the caller's transaction ends."""
    stmt = _NEXT_NUMBER[session.get_bind().dialect.name]
    return int(session.execute(stmt, {"queue_id": queue_id, "business_day": day}).scalar_one())
