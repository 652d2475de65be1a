"""Fixtures of the domain and queue tests.

``db`` runs each test on SQLite and on PostgreSQL, each time on a fresh database copied
from a migrated template (a file copy for SQLite, ``CREATE DATABASE ... TEMPLATE`` for
PostgreSQL), so tests use real commits across connections, as concurrency tests need.
The PostgreSQL cluster is started by the tests themselves (``tests/support/pgcluster.py``); if it
cannot start the tests fail rather than skip.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from application.schema import upgrade
from cardreader.model import CardInfo, Integrity, Sex
from kiosk import cases
from kiosk.catalog import Catalog, load_catalog
from kiosk.counters import install_catalog
from kiosk.db import make_engine, make_session_factory, transaction
from kiosk.models import Case, Priority, Ticket
from kiosk.tickets import get_ticket, issue_ticket
from tests.support.pgcluster import PgCluster, PgClusterError, start_cluster

# 09:30 in Tokyo on 2026-04-01 (a Wednesday).
NOW = datetime(2026, 4, 1, 0, 30, tzinfo=UTC)
TODAY = date(2026, 4, 1)
KIOSK = "kiosk:k1"
STAFF = "staff:s1"
INDIVIDUAL_NUMBER = "987654321098"
_names = itertools.count()


def make_card(
    *,
    family_name: str = "渡辺",
    given_name: str = "花子",
    address: str = "東京都港区芝公園四丁目二番八号",
    birth_date: date = date(1980, 2, 17),
    individual_number: str | None = None,
    integrity: Integrity = Integrity.VERIFIED,
) -> CardInfo:
    return CardInfo(
        family_name=family_name,
        given_name=given_name,
        address=address,
        birth_date=birth_date,
        sex=Sex.FEMALE,
        integrity=integrity,
        individual_number=individual_number,
    )


@dataclass
class Db:
    """One fresh database: its backend name, engine, session factory and catalog."""

    backend: str
    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    catalog: Catalog
    sqlite_path: Path | None = None

    @contextmanager
    def tx(self) -> Iterator[Session]:
        with transaction(self.sessions) as session:
            yield session

    def stored_bytes(self) -> bytes:
        """Everything the database holds as bytes: the SQLite files, or every row of every
        table as PostgreSQL text (bytea shows as hex, so ciphertext stays unreadable)."""
        if self.sqlite_path is not None:
            blob = b""
            for suffix in ("", "-wal", "-shm"):
                p = Path(str(self.sqlite_path) + suffix)
                if p.exists():
                    blob += p.read_bytes()
            return blob
        chunks = []
        with self.engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                rows = conn.execute(text(f'SELECT t::text FROM "{table}" t')).scalars()
                chunks.extend(rows)
        return "\n".join(chunks).encode()

    # --- factories ---------------------------------------------------------------------

    def open_case(
        self,
        s: Session,
        procedures: Sequence[str] = ("juminhyo",),
        *,
        card: CardInfo | None = None,
        now: datetime = NOW,
        priority: Priority = Priority.NORMAL,
        language: str = "ja",
    ) -> Case:
        return cases.open_case(
            s,
            card or make_card(),
            list(procedures),
            catalog=self.catalog,
            actor=KIOSK,
            now=now,
            priority=priority,
            language=language,
        )

    def ready_case(
        self,
        s: Session,
        procedures: Sequence[str] = ("juminhyo",),
        *,
        fields: dict[str, dict[str, object]] | None = None,
        now: datetime = NOW,
        priority: Priority = Priority.NORMAL,
        card: CardInfo | None = None,
    ) -> Case:
        """A case confirmed and, when it has a fee, paid: ready for a ticket."""
        case = self.open_case(s, procedures, now=now, priority=priority, card=card)
        defaults = {
            "koseki": {"honseki": "東京都港区芝公園四丁目", "hittousha": "渡辺一郎"},
            "tenkyo": {
                "new_address": {"town": "霞が関", "chome": 1, "ban": 1, "go": 1},
                "moving_date": "2026-03-30",
            },
            "tenshutsu": {"destination_address": "大阪府大阪市北区", "moving_date": "2026-04-10"},
            "tax_certificate": {"fiscal_years": [2025]},
        }
        for code in procedures:
            values = (fields or {}).get(code) or defaults.get(code)
            if values:
                cases.set_resident_fields(
                    s, case, code, values, catalog=self.catalog, actor=KIOSK, now=now
                )
        cases.confirm_case(s, case, catalog=self.catalog, actor=KIOSK, now=now)
        if case.fee_yen:
            cases.mark_awaiting_payment(s, case, actor="payment:sim", now=now)
            cases.mark_paid(s, case, actor="payment:sim", now=now)
        return case

    def issue(
        self,
        procedures: Sequence[str] = ("juminhyo",),
        *,
        now: datetime = NOW,
        priority: Priority = Priority.NORMAL,
    ) -> int:
        """A ticket in its own committed transaction; returns the ticket id."""
        with self.tx() as s:
            case = self.ready_case(s, procedures, now=now, priority=priority)
            return issue_ticket(s, case, actor="payment:sim", now=now).id

    def ticket(self, s: Session, ticket_id: int) -> Ticket:
        return get_ticket(s, ticket_id)


@pytest.fixture(scope="session")
def data_key() -> bytes:
    return os.urandom(32)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


def _prepare(engine: Engine, catalog: Catalog) -> None:
    upgrade(engine)
    with transaction(make_session_factory(engine)) as s:
        install_catalog(s, catalog)
    engine.dispose()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    try:
        cluster = start_cluster()
    except PgClusterError as e:
        pytest.fail(f"throwaway PostgreSQL did not start: {e}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_template(pg_cluster: PgCluster, data_key: bytes, catalog: Catalog) -> str:
    url = pg_cluster.create_database("kiosk_template")
    _prepare(make_engine(url, data_key, pool_size=1), catalog)
    return "kiosk_template"


@pytest.fixture(scope="session")
def sqlite_template(
    tmp_path_factory: pytest.TempPathFactory, data_key: bytes, catalog: Catalog
) -> Path:
    path = tmp_path_factory.mktemp("template") / "kiosk.sqlite3"
    engine = make_engine(f"sqlite:///{path}", data_key, pool_size=1)
    _prepare(engine, catalog)  # disposing the last connection checkpoints the WAL
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(
    request: pytest.FixtureRequest, tmp_path: Path, data_key: bytes, catalog: Catalog
) -> Iterator[Db]:
    """A fresh, migrated database with the catalog's queues and counters installed."""
    if request.param == "sqlite":
        path = tmp_path / "kiosk.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
        engine = make_engine(url, data_key, pool_size=20)
        yield Db("sqlite", url, engine, make_session_factory(engine), catalog, path)
        engine.dispose()
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    template = request.getfixturevalue("pg_template")
    name = f"t{os.getpid()}_{next(_names)}"
    url = cluster.create_database(name, template=template)
    engine = make_engine(url, data_key, pool_size=20)
    yield Db("postgresql", url, engine, make_session_factory(engine), catalog)
    engine.dispose()
    cluster.drop_database(name)
