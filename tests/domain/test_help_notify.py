"""PostgreSQL: a kiosk's call for staff and its acknowledgement notify the live hubs at
commit (migration 0010's trigger), so every staff console of every process shows it."""

from __future__ import annotations

import psycopg
import pytest

from application.live import CHANNEL
from kiosk.help import acknowledge_help, raise_help
from kiosk.models import Staff, StaffRole
from kiosk.staff import create_staff
from tests.domain.conftest import NOW, Db

pytestmark = pytest.mark.postgres


def _listener(db: Db) -> psycopg.Connection:
    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = psycopg.connect(url, autocommit=True)
    conn.execute(f"LISTEN {CHANNEL}")
    return conn


def _received(conn: psycopg.Connection, timeout: float = 0.5) -> int:
    return sum(1 for _ in conn.notifies(timeout=timeout))


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_raising_and_acknowledging_a_call_notify_once_each(db: Db) -> None:
    """One notice for the call (even pressed twice in one transaction), one for the
    acknowledgement; nothing before the commit."""
    with db.tx() as s:
        staff = create_staff(s, "sato", "correct-horse-42", StaffRole.STAFF, actor="cli:test")
        staff_id = staff.id
    with _listener(db) as conn:
        with db.tx() as s:
            request = raise_help(s, "kiosk-1", "pin", now=NOW)
            raise_help(s, "kiosk-1", "check", now=NOW)
            help_id = request.id
            assert _received(conn, 0.2) == 0
        assert _received(conn) == 1
        with db.tx() as s:
            acknowledge_help(s, help_id, s.get(Staff, staff_id), now=NOW)
        assert _received(conn) == 1
