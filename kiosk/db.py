"""Engines, sessions and transactions (the schema version is ``application.schema``).

SQLite (default): a file in the data folder, WAL journal, a busy timeout, and every
transaction opened with ``BEGIN IMMEDIATE``: writers queue up on the database lock at the
start instead of failing halfway with "database is locked" when a read turns into a write.
``secure_delete`` overwrites freed content, so purged ciphertext does not linger in pages.

PostgreSQL (``postgresql+psycopg://...``): READ COMMITTED; queue operations take row
locks themselves (``FOR UPDATE``, ``SKIP LOCKED`` for call-next).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, bindparam, create_engine, event, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from kiosk.config import Settings
from kiosk.privacy import attach_cipher, load_data_key, make_private_dir, make_private_file

SQLITE_BUSY_TIMEOUT_S = 30


class DatabaseBusy(RuntimeError):
    """SQLite: no write transaction could start within the busy timeout."""


def make_engine(
    url: str, data_key: bytes, *, pool_size: int = 10, echo: bool = False, pre_ping: bool = True
) -> Engine:
    """An engine for ``url`` that encrypts personal columns with ``data_key``.

    For a SQLite file URL the parent folder is created (0700) and the database file too
    (0600) before SQLite opens it, so the database and its WAL and shared-memory files are
    never readable by other users; existing ones are made private. ``pool_size`` matters for
    PostgreSQL with many threads (one connection per concurrent session). ``pre_ping``
    (PostgreSQL) checks pooled connections before use, surviving server restarts at the
    cost of one round trip per transaction.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_sqlite_files(Path(parsed.database))
        engine = create_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=pool_size,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
        )
        _install_sqlite_hooks(engine)
    else:
        engine = create_engine(
            url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=pre_ping
        )
    return attach_cipher(engine, data_key)


SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def _private_sqlite_files(database: Path) -> None:
    make_private_dir(database.parent)
    make_private_file(database)
    for suffix in SQLITE_SIDE_FILES:
        side = database.with_name(database.name + suffix)
        if side.exists():
            make_private_file(side)


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so "begin" below decides.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    # Threads of this process queue on a lock before BEGIN IMMEDIATE: SQLite's own busy
    # handler polls with growing sleeps, which under many writers costs most of the time
    # (p99 above a second); a lock hands over at once. Other processes still meet
    # SQLite's file lock and busy timeout as before.
    writer = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if not writer.acquire(timeout=SQLITE_BUSY_TIMEOUT_S):
            raise DatabaseBusy(
                f"no SQLite write slot within {SQLITE_BUSY_TIMEOUT_S}s "
                "(a thread holding two transactions at once?)"
            )
        conn.info["kiosk.writer"] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(conn)
            raise

    def _release(conn: Any) -> None:
        if conn.info.pop("kiosk.writer", False):
            writer.release()

    # SQLAlchemy fires "commit"/"rollback" *before* it ends the DBAPI transaction. Handing
    # the slot over there let the next writer's BEGIN IMMEDIATE meet a COMMIT still in
    # progress and fall into SQLite's sleeping busy handler while holding the slot (every
    # other writer waiting behind it). So the transaction is ended here, then the slot
    # handed over; SQLAlchemy's own commit/rollback that follows finds no transaction
    # and does nothing. If ending it here fails, SQLAlchemy's call repeats it and raises
    # the wrapped error; the slot is handed over anyway (SQLite's own lock still guards,
    # and a slot kept on a commit that later succeeds would never be released).
    @event.listens_for(engine, "commit")
    def _on_commit(conn: Any) -> None:
        if "kiosk.writer" not in conn.info:
            return
        try:
            conn.connection.dbapi_connection.commit()
        except Exception:  # raised again, wrapped, by SQLAlchemy's own commit
            pass
        finally:
            _release(conn)

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn: Any) -> None:
        if "kiosk.writer" not in conn.info:
            return
        try:
            conn.connection.dbapi_connection.rollback()
        except Exception:  # SQLAlchemy's own rollback follows and raises
            pass
        finally:
            _release(conn)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (views render after it)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit when the block ends, roll back if it raises."""
    with session_factory() as session, session.begin():
        yield session


# --- hot-path writes -------------------------------------------------------------------


_UPDATE_BY_ID: dict[Table, Any] = {}


def table_of(model: type[Any]) -> Table:
    """A mapped class's Core table (``__table__`` is typed as a bare FromClause)."""
    table = model.__table__
    assert isinstance(table, Table), model
    return table


def inserted_id(result: Any) -> int:
    """The primary key of the one row a Core INSERT wrote."""
    key = result.inserted_primary_key
    assert key is not None, "not a single-row INSERT"
    return int(key[0])


def write_row(session: Session, obj: Any, values: dict[str, Any]) -> None:
    """Write ``values`` to ``obj``'s row now (one Core UPDATE by id, bound through the column
    types, so encrypted columns stay encrypted) and record them on the object as loaded, so
    the unit of work has nothing left to flush for them: on the hot transitions a flush cost
    more CPU than the statement. A rollback expires the object as usual."""
    table = type(obj).__table__
    stmt = _UPDATE_BY_ID.get(table)
    if stmt is None:
        # Built once per table and reused: building and cache-keying it per call costs CPU.
        stmt = _UPDATE_BY_ID[table] = update(table).where(table.c.id == bindparam("pk_id"))
    session.connection().execute(stmt, {**values, "pk_id": obj.id})
    for key, value in values.items():
        set_committed_value(obj, key, value)


def engine_from_settings(settings: Settings, *, pool_size: int = 10) -> Engine:
    """The app's engine: ``settings.effective_database_url`` with the data key from
    KIOSK_DATA_KEY or the key file in the data folder (created 0600 on first run)."""
    key = load_data_key(settings.data_key, settings.data_dir)
    return make_engine(settings.effective_database_url, key, pool_size=pool_size)
