"""Purging personal data once a case is over.

A case keeps its personal data until the end of the business day it last changed on (the
day it closed: done, cancelled, a no-show or refunded; for a case that never closed, the
day it was last moved on), plus ``retention_days``; after that ``purge`` overwrites every
personal column with NULL (name, address, birth date, sex, individual number, the fields
the resident typed, the basis of an exemption and what counter staff corrected in an
amendment), **whatever the case's state**: a case left queued, half-paid or stuck
by a crash is no reason to keep a resident's data for ever (the end-of-day close,
``application.closing``, cancels what can be cancelled first; the rest keeps its state,
tickets, fees and payments, just not the personal data). Tickets, fees, statuses and the
audit trail stay, so statistics survive; each purged case gets a ``case.purged`` audit row.

Irreversible: the columns hold only AES-GCM ciphertext to begin with, SQLite runs with
``secure_delete`` (freed cells are zeroed) and ``kiosk purge`` checkpoints the WAL /
vacuums the PostgreSQL tables afterwards so old row versions do not linger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session

from kiosk import audit
from kiosk.clock import TOKYO, aware, business_day
from kiosk.models import Case, CaseAmendment, CaseProcedure


@dataclass(frozen=True)
class PurgeResult:
    purged_case_ids: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.purged_case_ids)


def purge_cutoff(now: datetime, retention_days: int = 0) -> datetime:
    """Cases last changed (closed, or moved on while open) before this instant are
    purgeable: the start (Asia/Tokyo) of the business day ``retention_days`` days before
    today's."""
    day = business_day(now) - timedelta(days=retention_days)
    return datetime(day.year, day.month, day.day, tzinfo=TOKYO)


def purge(
    session: Session,
    *,
    actor: str = "system",
    now: datetime | None = None,
    retention_days: int = 0,
) -> PurgeResult:
    """Remove the personal data of every case past retention, whatever its state; returns
    their ids. Already purged cases are skipped, so running it twice is harmless."""
    now = aware(now)
    if retention_days < 0:
        raise ValueError("retention_days must be >= 0")
    cutoff = purge_cutoff(now, retention_days)
    ids = list(
        session.scalars(
            select(Case.id)
            .where(
                func.coalesce(Case.closed_at, Case.updated_at) < cutoff,
                Case.purged_at.is_(None),
            )
            .order_by(Case.id)
            .with_for_update()
        )
    )
    if ids:
        session.execute(
            update(Case)
            .where(Case.id.in_(ids))
            .values(
                family_name=None,
                given_name=None,
                address=None,
                birth_date=None,
                sex=None,
                individual_number=None,
                exemption_basis=None,
                purged_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(CaseProcedure)
            .where(CaseProcedure.case_id.in_(ids))
            .values(resident_fields=None)
            .execution_options(synchronize_session=False)
        )
        # What counter staff corrected (values before and after) goes with the case.
        session.execute(
            update(CaseAmendment)
            .where(CaseAmendment.case_id.in_(ids))
            .values(changes=None)
            .execution_options(synchronize_session=False)
        )
        for case_id in ids:
            audit.record(
                session,
                actor,
                "case.purged",
                case_id=case_id,
                detail={"cutoff": cutoff.isoformat()},
                now=now,
            )
        session.flush()
        session.expire_all()
    return PurgeResult(tuple(ids))


def compact_storage(engine: Engine) -> None:
    """After a purge, make freed personal-data bytes unreachable: checkpoint and truncate
    the SQLite WAL (old page versions live there) or VACUUM the PostgreSQL tables."""
    if engine.dialect.name == "sqlite":
        # The raw connection is in driver autocommit (see kiosk.db), as VACUUM requires.
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.execute("VACUUM")
            cursor.close()
        finally:
            raw.close()
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM cases"))
            conn.execute(text("VACUUM case_procedures"))
            conn.execute(text("VACUUM case_amendments"))
