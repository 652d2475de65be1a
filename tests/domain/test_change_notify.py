"""PostgreSQL: ticket, counter and queue changes notify the live hubs at commit (migration
0005), once per transaction, never for a rollback or a change that no board shows."""

from __future__ import annotations

import psycopg
import pytest

from application.live import CHANNEL
from kiosk.calling import call_next, complete, start_serving
from kiosk.counters import get_counter, set_counter_open
from tests.domain.conftest import NOW, STAFF, Db

pytestmark = pytest.mark.postgres


def _listener(db: Db) -> psycopg.Connection:
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = psycopg.connect(url, autocommit=True)
    conn.execute(f"LISTEN {CHANNEL}")
    return conn


def _received(conn: psycopg.Connection, timeout: float = 0.5) -> int:
    return sum(1 for _ in conn.notifies(timeout=timeout))


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_committed_ticket_change_notifies_once(db: Db) -> None:
    """Issuing (several statements on tickets) and calling each notify exactly once, at
    commit; a rolled-back call notifies nothing."""
    with _listener(db) as conn:
        tid = db.issue(now=NOW)
        assert _received(conn) == 1
        with db.tx() as s:
            call_next(s, get_counter(s, "1"), actor=STAFF, now=NOW)
            start_serving(s, db.ticket(s, tid), actor=STAFF, now=NOW)
            assert _received(conn, 0.2) == 0  # not before the commit
        assert _received(conn) == 1
        with pytest.raises(RuntimeError), db.tx() as s:
            complete(s, db.ticket(s, tid), actor=STAFF, now=NOW)
            raise RuntimeError("roll back")
        assert _received(conn) == 0


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_counter_changes_notify_and_case_only_changes_do_not(db: Db) -> None:
    """Closing a counter (estimates change) notifies; opening a case (no ticket) does not."""
    with _listener(db) as conn:
        with db.tx() as s:
            set_counter_open(s, get_counter(s, "3"), False, actor=STAFF, now=NOW)
        assert _received(conn) == 1
        with db.tx() as s:
            db.ready_case(s)
        assert _received(conn) == 0
