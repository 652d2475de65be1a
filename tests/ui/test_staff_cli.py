"""``kiosk staff add``: the first admin of a ward, password from stdin."""

from __future__ import annotations

from click.testing import CliRunner

from application.cli import cli
from tests.ui.conftest import upgraded_database
from tests.ui.staffkit import login


def test_staff_add_creates_an_admin_who_can_log_in(tmp_path, make_app, monkeypatch):
    """The CLI reads the password from stdin; the new admin logs in to the console."""
    url = upgraded_database(tmp_path)
    monkeypatch.setenv("KIOSK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KIOSK_DATABASE_URL", url)
    runner = CliRunner()
    result = runner.invoke(
        cli, ["staff", "add", "--role", "admin", "chief"], input="s3cret-pass-word\n"
    )
    assert result.exit_code == 0, result.output
    assert "created with role admin" in result.output
    weak = runner.invoke(cli, ["staff", "add", "bob"], input="short\n")
    assert weak.exit_code == 1 and "WeakPassword" in weak.output
    listing = runner.invoke(cli, ["staff", "list"])
    assert "chief\tadmin\tactive" in listing.output and "s3cret" not in listing.output
    app = make_app(database_url=url)
    client = app.test_client()
    assert login(client, "chief", "s3cret-pass-word").status_code == 302
    assert client.get("/staff/admin").status_code == 200
