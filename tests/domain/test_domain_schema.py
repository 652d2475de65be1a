"""Schema: migrations match the models, outdated schemas are refused, the CLI works."""

from __future__ import annotations

import importlib
import os
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner

from application.cli import cli
from application.schema import SchemaOutdated, require_current_schema, schema_is_current
from kiosk.db import make_engine
from kiosk.models import Base
from tests.domain.conftest import NOW, Db


def test_migrations_match_the_models(db: Db) -> None:
    """After `upgrade` the database has exactly the tables and columns the models declare."""
    # The payment tables live on the same metadata and have their own migration.
    importlib.import_module("payments.models")
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert schema_is_current(db.engine)


def test_empty_database_is_refused_with_the_fix(tmp_path: Path) -> None:
    """An unmigrated database makes require_current_schema name `kiosk db upgrade`."""
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}", os.urandom(32))
    try:
        assert not schema_is_current(engine)
        with pytest.raises(SchemaOutdated, match="run `kiosk db upgrade`"):
            require_current_schema(engine)
    finally:
        engine.dispose()


def test_cli_db_upgrade_current_and_purge(tmp_path: Path, db: Db) -> None:
    """`kiosk db current` flags an empty database, `upgrade` fixes it, `purge` runs."""
    env = {"KIOSK_DATA_DIR": str(tmp_path / "var"), "KIOSK_DATABASE_URL": ""}
    if db.backend == "postgresql":
        env["KIOSK_DATABASE_URL"] = db.url.replace("/t", "/cli_t", 1)
        from tests.domain.conftest import _names  # noqa: F401 - same cluster, new database

        cluster = db.url.split("?")[1]
        name = db.url.split("/")[-1].split("?")[0] + "_cli"
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        env["KIOSK_DATABASE_URL"] = f"postgresql+psycopg://kiosk@/{name}?{cluster}"
    runner = CliRunner()
    current = runner.invoke(cli, ["db", "current"], env=env)
    assert current.exit_code == 1 and "kiosk db upgrade" in current.output
    upgraded = runner.invoke(cli, ["db", "upgrade"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    assert "empty -> " in upgraded.output
    assert runner.invoke(cli, ["db", "current"], env=env).exit_code == 0
    later = (NOW + timedelta(days=1)).isoformat()
    purged = runner.invoke(cli, ["purge", "--now", later], env=env)
    assert purged.exit_code == 0, purged.output
    assert "purged personal data of 0 case(s)" in purged.output
    naive = runner.invoke(cli, ["purge", "--now", "2026-04-02T09:00:00"], env=env)
    assert naive.exit_code == 2 and "UTC offset" in naive.output
