"""``kiosk db upgrade`` / ``kiosk db current``: the database schema (Alembic migrations)."""

from __future__ import annotations

import sys

import click
from sqlalchemy import Engine

from application.schema import current_revision, head_revision, upgrade
from kiosk.config import ConfigError, load_settings
from kiosk.db import engine_from_settings
from kiosk.privacy import PrivacyError


@click.group("db")
def command() -> None:
    """Database schema: migrate and inspect."""


def _engine() -> Engine:
    try:
        return engine_from_settings(load_settings(), pool_size=1)
    except (ConfigError, PrivacyError) as e:
        click.echo(f"kiosk: configuration error: {e}", err=True)
        sys.exit(2)


@command.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def upgrade_command(revision: str) -> None:
    """Create or migrate the schema to the version this code needs."""
    engine = _engine()
    before = current_revision(engine)
    upgrade(engine, revision)
    after = current_revision(engine)
    engine.dispose()
    click.echo(f"kiosk: database schema {before or 'empty'} -> {after}")


@command.command("current")
def current_command() -> None:
    """Show the schema revision of the database and the one this code needs.
    Exits 1 when they differ."""
    engine = _engine()
    current, head = current_revision(engine), head_revision()
    engine.dispose()
    click.echo(f"database: {current or 'empty'}\ncode needs: {head}")
    if current != head:
        click.echo("kiosk: schema outdated: run `kiosk db upgrade`", err=True)
        sys.exit(1)
