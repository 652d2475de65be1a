"""``kiosk payments``: payment maintenance (reconciliation with the provider)."""

from __future__ import annotations

import sys

import click

from kiosk.config import ConfigError, load_settings


@click.group(name="payments")
def command() -> None:
    """Cashless payment tools."""


@command.command("reconcile")
@click.option(
    "--timeout",
    "timeout_s",
    type=int,
    default=None,
    help="Cancel open payments older than this (default KIOSK_PAYMENT_TIMEOUT_S).",
)
@click.option(
    "--refund-days",
    type=click.IntRange(min=0),
    default=None,
    help="Look for refunds made outside the service (e.g. in Stripe's Dashboard) in payments "
    "that succeeded in the last N days (default 7; 0 skips it). One provider request per "
    "payment.",
)
def reconcile_command(timeout_s: int | None, refund_days: int | None) -> None:
    """Compare open and recent payments with the provider and repair them: record payments
    taken while we were down, issue missing tickets, cancel abandoned ones, record refunds
    made outside the service; free this kiosk's payment reader from an action nobody waits
    for and cancel this kiosk's cases a crash left half-way (application.recovery). Safe
    to repeat, also while the service runs."""
    from datetime import timedelta

    from application.recovery import STALE_AFTER, return_stuck_cases, settle_left_payments
    from application.registry import build_payment_provider, check_settings
    from application.schema import require_current_schema
    from kiosk import db
    from payments.reconcile import REFUND_WINDOW, reconcile

    try:
        settings = load_settings()
        check_settings(settings)
    except ConfigError as e:
        click.echo(f"kiosk: configuration error: {e}", err=True)
        sys.exit(2)
    if refund_days is None:
        window: timedelta | None = REFUND_WINDOW
    else:
        window = timedelta(days=refund_days) if refund_days else None
    engine = db.engine_from_settings(settings, pool_size=2)
    provider, _terminal = build_payment_provider(settings)
    try:
        require_current_schema(engine)
        sessions = db.make_session_factory(engine)
        recovery = settle_left_payments(
            sessions, provider, kiosk_id=settings.kiosk_id, stale_after=STALE_AFTER
        )
        with db.transaction(sessions) as session:
            report = reconcile(
                session,
                provider,
                timeout_s=timeout_s or settings.payment_timeout_s,
                refund_window=window,
            )
        return_stuck_cases(sessions, recovery, kiosk_id=settings.kiosk_id, stale_after=STALE_AFTER)
        click.echo(report.line())
        click.echo(recovery.line())
        for public_id in [*report.unreachable, *recovery.unreachable]:
            click.echo(f"unreachable: {public_id}", err=True)
        sys.exit(1 if report.unreachable or recovery.unreachable else 0)
    finally:
        provider.close()
        engine.dispose()
