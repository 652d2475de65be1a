"""The catalog's route (which queue a multi-queue ticket visits first) and the migration
that gives every ticket its stops."""

from __future__ import annotations

import os
from datetime import date, datetime
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from application.schema import alembic_config, upgrade
from kiosk.catalog import CatalogError, load_catalog
from kiosk.db import make_engine
from tests.support.pgcluster import PgCluster


def _with_route(tmp_path: Path, route: str) -> Path:
    source = Path(load_catalog().source)
    text_ = source.read_text()
    old = 'route = ["moving", "family_register", "tax", "certificates"]'
    assert old in text_
    path = tmp_path / "ward.toml"
    path.write_text(text_.replace(old, route, 1))
    (tmp_path / "towns-chiyoda.csv").write_bytes((source.parent / "towns-chiyoda.csv").read_bytes())
    return path


def test_shipped_route_puts_notifications_before_certificates() -> None:
    """The demo ward: moving, family register, tax, then certificates (a copy of the
    residence record shows the new address)."""
    catalog = load_catalog()
    assert catalog.route(["certificates", "moving"]) == ("moving", "certificates")
    assert catalog.route(["certificates", "tax", "family_register", "certificates"]) == (
        "family_register",
        "tax",
        "certificates",
    )
    with pytest.raises(KeyError):
        catalog.route(["nowhere"])


def test_queues_left_out_of_the_route_follow_in_catalog_order(tmp_path: Path) -> None:
    """A route naming only the moving queue puts it first, the rest as the file lists them."""
    catalog = load_catalog(_with_route(tmp_path, 'route = ["moving"]'))
    assert [q.route_rank for q in catalog.queues] == [1, 2, 3, 0]


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        ('route = ["moving", "elsewhere"]', "route: unknown queue(s) elsewhere"),
        ('route = ["tax", "moving", "tax"]', "route: queue(s) listed twice: tax"),
        ('route = "moving"', "route must be a list of queue codes"),
    ],
)
def test_a_broken_route_names_file_line_and_reason(tmp_path: Path, route: str, reason: str) -> None:
    """An unknown or repeated queue in the route stops the service with file and line."""
    path = _with_route(tmp_path, route)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    line = path.read_text().splitlines().index(route) + 1
    assert (caught.value.path, caught.value.line, caught.value.reason) == (str(path), line, reason)


def _ticket_before_routes(engine: Engine) -> None:
    """One served ticket written at the schema before routes (0011's parent)."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    parent = script.get_revision("0011").down_revision
    assert isinstance(parent, str)
    upgrade(engine, parent)
    day = date(2026, 4, 1)
    at = datetime(2026, 4, 1, 1, 0)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO queues (id, code, prefix, names, default_service_s) "
                "VALUES (1, 'certificates', 'A', '{}', 300)"
            )
        )
        conn.execute(
            text("INSERT INTO counters (id, code, names, is_open) VALUES (1, '1', '{}', true)")
        )
        conn.execute(
            text(
                "INSERT INTO cases (id, status, language, channel, priority, opened_by, "
                "business_day, created_at, updated_at, fee_yen, card_integrity) VALUES "
                "(1, 'done', 'ja', 'kiosk', 0, 'kiosk:k1', :day, :at, :at, 300, 'verified')"
            ),
            {"day": day, "at": at},
        )
        conn.execute(
            text(
                "INSERT INTO tickets (id, case_id, origin_queue_id, queue_id, business_day, "
                "number, display_number, status, priority, token, issued_at, sort_at, "
                "counter_id, serving_at, completed_at, call_count, quoted_wait_s, service_s) "
                "VALUES (1, 1, 1, 1, :day, 1, 'A-001', 'done', 0, 'tok', :at, :at, 1, :at, "
                ":done, 1, 0, 240)"
            ),
            {"day": day, "at": at, "done": datetime(2026, 4, 1, 1, 4)},
        )


def _check_backfill(engine: Engine) -> None:
    upgrade(engine)
    with engine.connect() as conn:
        stops = conn.execute(
            text(
                "SELECT ticket_id, position, queue_id, counter_id, service_s, completed_at "
                "FROM ticket_stops"
            )
        ).all()
        ticket = conn.execute(text("SELECT stop, stops FROM tickets")).one()
        rank = conn.execute(text("SELECT route_rank FROM queues")).scalar_one()
    assert [tuple(s[:5]) for s in stops] == [(1, 0, 1, 1, 240)]
    assert str(stops[0][5])[:19] == "2026-04-01 01:04:00"  # SQLite answers text
    assert tuple(ticket) == (0, 1) and rank == 0


def test_migration_gives_every_ticket_one_stop_sqlite(tmp_path: Path) -> None:
    """Upgrading a SQLite database with tickets: each becomes a one-stop route whose stop
    keeps its counter and service time (the estimates keep their history)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}", os.urandom(32))
    try:
        _ticket_before_routes(engine)
        _check_backfill(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_migration_gives_every_ticket_one_stop_postgresql(pg_cluster: PgCluster) -> None:
    """The same on PostgreSQL."""
    url = pg_cluster.create_database("routes_backfill")
    engine = make_engine(url, os.urandom(32), pool_size=1)
    try:
        _ticket_before_routes(engine)
        _check_backfill(engine)
    finally:
        engine.dispose()
        pg_cluster.drop_database("routes_backfill")
