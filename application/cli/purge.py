"""``kiosk purge``: irreversibly remove personal data of every case past retention, then
close the earlier days (cancel the cases they left open)."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from application.closing import close_open_cases
from application.schema import SchemaOutdated, require_current_schema
from kiosk.clock import aware, business_day
from kiosk.config import ConfigError, load_settings
from kiosk.db import engine_from_settings, make_session_factory, transaction
from kiosk.privacy import PrivacyError
from kiosk.retention import compact_storage, purge


@click.command("purge")
@click.option(
    "--now",
    "now_text",
    default=None,
    metavar="ISO",
    help="Pretend it is this instant (ISO 8601 with offset), e.g. for a catch-up run.",
)
@click.option("--retention-days", type=int, default=None, help="Default KIOSK_RETENTION_DAYS.")
def command(now_text: str | None, retention_days: int | None) -> None:
    """Delete name, address, birth date, individual number and typed fields of every case
    whose last business day (plus retention) is over, whatever its state; then cancel the
    cases earlier days left open (abandoned visits, fee-free tickets nobody came back for).
    Statistics and the audit trail stay; each deletion and cancellation is audited."""
    try:
        settings = load_settings()
        now = datetime.fromisoformat(now_text) if now_text else None
        if now is not None and now.tzinfo is None:
            raise ConfigError("--now needs a UTC offset, e.g. 2026-04-01T09:00:00+09:00")
        engine = engine_from_settings(settings, pool_size=1)
        require_current_schema(engine)
    except (ConfigError, PrivacyError, SchemaOutdated, ValueError) as e:
        click.echo(f"kiosk: {e}", err=True)
        sys.exit(2)
    days = settings.retention_days if retention_days is None else retention_days
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        result = purge(session, actor="cli:purge", now=now, retention_days=days)
    with transaction(sessions) as session:
        closed = close_open_cases(
            session, before=business_day(aware(now)), actor="cli:purge", now=now
        )
    compact_storage(engine)
    engine.dispose()
    click.echo(f"kiosk: purged personal data of {result.count} case(s)")
    click.echo(
        f"kiosk: closed earlier days: {len(closed.cancelled)} case(s) cancelled, "
        f"{len(closed.left)} left for reconciliation or a staff refund"
    )
