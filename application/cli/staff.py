"""``kiosk staff``: staff console accounts (the first admin of a ward is created here)."""

from __future__ import annotations

import sys

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from application.schema import SchemaOutdated, require_current_schema
from kiosk.config import ConfigError, load_settings
from kiosk.db import engine_from_settings, make_session_factory, transaction
from kiosk.models import StaffRole
from kiosk.privacy import PrivacyError
from kiosk.staff import StaffError, create_staff, list_staff


def _sessions() -> tuple[Engine, sessionmaker[Session]]:
    try:
        settings = load_settings()
        engine = engine_from_settings(settings, pool_size=1)
        require_current_schema(engine)
    except (ConfigError, PrivacyError, SchemaOutdated) as e:
        click.echo(f"kiosk: {e}", err=True)
        sys.exit(2)
    return engine, make_session_factory(engine)


@click.group("staff")
def command() -> None:
    """Staff console accounts."""


@command.command("add")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice([r.value for r in StaffRole]),
    default=StaffRole.STAFF.value,
    show_default=True,
)
@click.option("--name", "display_name", default="", help="Name shown in the console.")
def add(username: str, role: str, display_name: str) -> None:
    """Create an account; the password is read from stdin (first line), never from the
    command line (it would end up in the shell history and the process list)."""
    password = sys.stdin.readline().rstrip("\r\n")
    engine, sessions = _sessions()
    try:
        with transaction(sessions) as session:
            create_staff(
                session,
                username,
                password,
                StaffRole(role),
                actor="cli:staff",
                display_name=display_name,
            )
    except StaffError as e:
        click.echo(f"kiosk: cannot create {username!r}: {type(e).__name__}: {e}", err=True)
        sys.exit(1)
    finally:
        engine.dispose()
    click.echo(f"kiosk: staff account {username!r} created with role {role}")


@command.command("list")
def list_command() -> None:
    """Accounts with their role and state (no password hashes)."""
    engine, sessions = _sessions()
    with sessions() as session:
        for staff in list_staff(session):
            state = "active" if staff.active else "disabled"
            if staff.locked_until is not None:
                state += f", locked until {staff.locked_until.isoformat(timespec='seconds')}"
            click.echo(f"{staff.username}\t{staff.role.value}\t{state}")
    engine.dispose()
