"""``kiosk payments reconcile`` from the command line."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from application.cli import cli
from tests.ui.conftest import upgraded_database


def test_reconcile_command_reports_a_clean_database(tmp_path: Path) -> None:
    """On a database with nothing to repair the command prints a zero report and exits 0."""
    url = upgraded_database(tmp_path)
    env = {"KIOSK_DATA_DIR": str(tmp_path), "KIOSK_DATABASE_URL": url, "KIOSK_PAYMENTS": "sim"}
    result = CliRunner().invoke(cli, ["payments", "reconcile"], env=env)
    assert result.exit_code == 0, result.output
    assert (
        "reconcile: checked=0 repaired=0 tickets_issued=0 unreachable=0 refunds_found=0"
        in result.output
    )


def test_reconcile_command_takes_a_refund_window(tmp_path: Path) -> None:
    """--refund-days N sets how far back refunds made outside the service are looked for
    (0 skips it); a negative number is a usage error."""
    url = upgraded_database(tmp_path)
    env = {"KIOSK_DATA_DIR": str(tmp_path), "KIOSK_DATABASE_URL": url, "KIOSK_PAYMENTS": "sim"}
    for days in ("0", "180"):
        result = CliRunner().invoke(cli, ["payments", "reconcile", "--refund-days", days], env=env)
        assert result.exit_code == 0, result.output
        assert "refunds_found=0" in result.output
    bad = CliRunner().invoke(cli, ["payments", "reconcile", "--refund-days", "-1"], env=env)
    assert bad.exit_code == 2


def test_reconcile_command_refuses_bad_configuration(tmp_path: Path) -> None:
    """Stripe chosen without keys is a configuration error (exit 2) naming the variable."""
    env = {"KIOSK_DATA_DIR": str(tmp_path), "KIOSK_PAYMENTS": "stripe_terminal"}
    result = CliRunner().invoke(cli, ["payments", "reconcile"], env=env)
    assert result.exit_code == 2
    assert "KIOSK_STRIPE_API_KEY" in result.output
