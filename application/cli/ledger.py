"""``kiosk ledger``: the day's takings (収納日計) on the command line: show a day's ledger
(as a table, or CSV for the accounting office in UTF-8 or CP932), close a day with the cash
counted in each drawer, and reconcile its cashless lines with Stripe's balance transactions.

Exit codes: 0 done; 1 refused (counted cash wrong or missing, the day closed already, a
mismatch found); 2 configuration or usage error.
"""

from __future__ import annotations

import getpass
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import click
from sqlalchemy.orm import Session

from application.schema import SchemaOutdated, require_current_schema
from kiosk.catalog import CatalogError, load_catalog
from kiosk.config import ConfigError, Settings, load_settings
from kiosk.db import engine_from_settings, make_session_factory, transaction
from kiosk.privacy import PrivacyError
from payments.balance import reconcile_day
from payments.ledger import (
    CSV_ENCODINGS,
    CountInvalid,
    DayAlreadyClosed,
    DayLedger,
    DayNotOver,
    close_day,
    day_ledger,
    encode_csv,
    ledger_csv,
)
from payments.provider import PaymentError

COUNT_PROBLEMS = {
    "missing": "no count given",
    "unknown": "no such drawer",
    "negative": "a count cannot be negative",
    "reason_required": "differs from the expected amount: give --reason DRAWER=TEXT",
}


def _day(_ctx: click.Context, _param: click.Parameter, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected YYYY-MM-DD") from None


def _pairs(values: tuple[str, ...], *, number: bool) -> dict[str, object]:
    result: dict[str, object] = {}
    for item in values:
        drawer, sep, value = item.partition("=")
        if not sep or not drawer.strip():
            raise click.BadParameter(f"{item!r}: expected DRAWER=VALUE")
        if number:
            if not re.fullmatch(r"-?\d{1,9}", value.strip().replace(",", "")):
                raise click.BadParameter(f"{item!r}: the counted cash is a number of yen")
            result[drawer.strip()] = int(value.strip().replace(",", ""))
        else:
            result[drawer.strip()] = value
    return result


@contextmanager
def _ledger_session() -> Iterator[tuple[Settings, list[str], Session]]:
    try:
        settings = load_settings()
        drawers = [c.code for c in load_catalog(settings.catalog or None).counters]
        engine = engine_from_settings(settings, pool_size=1)
        require_current_schema(engine)
    except (ConfigError, PrivacyError, SchemaOutdated, CatalogError) as e:
        click.echo(f"kiosk: {e}", err=True)
        sys.exit(2)
    try:
        with transaction(make_session_factory(engine)) as session:
            yield settings, drawers, session
    finally:
        engine.dispose()


def _names(settings: Settings) -> dict[str, str]:
    catalog = load_catalog(settings.catalog or None)
    return {p.code: p.names["ja"] for p in catalog.procedures}


def _print(ledger: DayLedger, names: dict[str, str]) -> None:
    state = (
        f"closed {ledger.closed_at:%Y-%m-%d %H:%M} UTC by {ledger.closed_by}"
        if ledger.closed_at
        else "open"
    )
    click.echo(f"収納日計表 {ledger.day.isoformat()} ({state})")
    click.echo(f"{'procedure':<22}{'method':<8}{'count':>6}{'gross':>10}{'refunds':>10}{'net':>10}")
    for line in (*ledger.lines, ledger.total):
        label = names.get(line.procedure_code, line.procedure_code)
        click.echo(
            f"{label:<22}{line.method:<8}{line.count:>6}{line.gross_yen:>10}"
            f"{line.refunds_yen:>10}{line.net_yen:>10}"
        )
    click.echo("drawer  float  cash_in  cash_out  expected  counted  difference  reason")
    for d in ledger.drawers:
        counted = "-" if d.counted_yen is None else str(d.counted_yen)
        diff = "-" if d.difference_yen is None else str(d.difference_yen)
        click.echo(
            f"{d.drawer:<7}{d.float_yen:>6}{d.cash_in_yen:>9}{d.cash_out_yen:>10}"
            f"{d.expected_yen:>10}{counted:>9}{diff:>12}  {d.reason}"
        )
    for late in ledger.late:
        click.echo(
            f"adjustment: {late.procedure_code} {late.method} {late.amount_yen} "
            f"(from {late.origin_day.isoformat()}, closed)"
        )
    if ledger.prior_year_refunds_yen:
        click.echo(f"refunds of earlier fiscal years (過年度): {ledger.prior_year_refunds_yen}")


@click.group(name="ledger")
def command() -> None:
    """The day's takings (収納日計): show, close, reconcile."""


@command.command("show")
@click.argument("day", callback=_day)
@click.option(
    "--csv",
    "as_csv",
    is_flag=True,
    help="CSV: "
    + ",".join(("procedure_code", "method", "count", "gross_yen", "refunds_yen", "net_yen"))
    + ", TOTAL last.",
)
@click.option("--encoding", type=click.Choice(CSV_ENCODINGS), default="utf-8", show_default=True)
def show(day: date, as_csv: bool, encoding: str) -> None:
    """The ledger of DAY (YYYY-MM-DD): per procedure and payment method the count, gross,
    refunds and net; the cash each drawer should hold; whether the day is closed."""
    with _ledger_session() as (settings, drawers, session):
        ledger = day_ledger(session, day, drawers=drawers, float_yen=settings.cash_float_yen)
    if as_csv:
        sys.stdout.buffer.write(encode_csv(ledger_csv(ledger), encoding))
        sys.stdout.buffer.flush()
        return
    _print(ledger, _names(settings))


@command.command("close")
@click.argument("day", callback=_day)
@click.option(
    "--counted",
    multiple=True,
    metavar="DRAWER=YEN",
    required=True,
    help="The cash counted in a drawer (one per counter); give every drawer.",
)
@click.option(
    "--reason",
    multiple=True,
    metavar="DRAWER=TEXT",
    help="Why a drawer's count differs from what it should hold.",
)
def close(day: date, counted: tuple[str, ...], reason: tuple[str, ...]) -> None:
    """Close DAY: record the counted cash per drawer and any difference (過不足) with its
    reason, and lock the day (later corrections go on a later day)."""
    counts = _pairs(counted, number=True)
    reasons = _pairs(reason, number=False)
    user = re.sub(r"[^\w.@-]", "_", getpass.getuser())[:40] or "unknown"
    try:
        with _ledger_session() as (settings, drawers, session):
            ledger = close_day(
                session,
                day,
                counts,  # type: ignore[arg-type]
                drawers=drawers,
                float_yen=settings.cash_float_yen,
                actor=f"cli:{user}",
                reasons=reasons,  # type: ignore[arg-type]
            )
    except CountInvalid as e:
        for drawer, problem in e.errors.items():
            click.echo(f"kiosk: drawer {drawer}: {COUNT_PROBLEMS[problem]}", err=True)
        click.echo("kiosk: nothing was recorded; the day stays open", err=True)
        sys.exit(1)
    except DayAlreadyClosed as e:
        click.echo(f"kiosk: {day.isoformat()} was closed already by {e.closed_by}", err=True)
        sys.exit(1)
    except DayNotOver:
        click.echo(f"kiosk: {day.isoformat()} has not begun; it cannot be closed", err=True)
        sys.exit(1)
    click.echo(
        f"ledger close: day={day.isoformat()} gross_yen={ledger.total.gross_yen} "
        f"refunds_yen={ledger.total.refunds_yen} net_yen={ledger.total.net_yen} "
        f"cash_difference_yen={ledger.cash_difference_yen}"
    )


@command.command("reconcile")
@click.argument("day", callback=_day)
def reconcile(day: date) -> None:
    """Compare DAY's cashless ledger lines with the Stripe account's balance transactions
    of that day; print every mismatch (exit 1 if any)."""
    from payments.stripe_common import StripeAccountBalance, StripeConnection

    with _ledger_session() as (settings, _drawers, session):
        source = None
        if settings.stripe_api_key:
            source = StripeAccountBalance(
                StripeConnection(settings.stripe_api_key, settings.stripe_api_base)
            )
        try:
            report = reconcile_day(session, day, source)
        except PaymentError as e:
            click.echo(f"kiosk: Stripe cannot be reached: {e}", err=True)
            sys.exit(1)
        finally:
            if source is not None:
                source.close()
    click.echo(report.line())
    for mismatch in report.mismatches:
        click.echo(mismatch.line())
    for provider, lines in report.not_reconcilable.items():
        click.echo(
            f"not reconcilable: {lines} line(s) of provider {provider} (no balance transactions)"
        )
    sys.exit(1 if report.mismatches else 0)
