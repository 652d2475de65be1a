"""KIOSK_MODE: production refuses every simulator at start-up with one line naming the
variable; the simulator panel exists only in simulation and answers only this machine or a
logged-in member of staff; ``serve`` warns when simulation listens beyond loopback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

from application.cli import cli
from application.cli.serve import startup_warnings
from kiosk.config import ConfigError, load_settings
from tests.ui.conftest import upgraded_database
from tests.ui.genuine.kit import ward_trust
from tests.ui.staffkit import add_staff, login

LIVE_STRIPE = {
    "payments": "stripe_terminal",
    "stripe_api_key": "sk_live_x",
    "stripe_webhook_secret": "whsec_x",
    "stripe_reader_id": "tmr_x",
}

# What production needs besides real hardware: the address phones reach, and a real
# ticket printer or none.
PRODUCTION_ADDRESSES = {"public_url": "https://madoguchi.city.example.lg.jp", "printer": "none"}


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"card_reader": "sim", **LIVE_STRIPE}, "KIOSK_CARD_READER=sim"),
        ({"card_reader": "sim-direct", **LIVE_STRIPE}, "KIOSK_CARD_READER=sim-direct"),
        ({"card_reader": "pcsc", "payments": "sim"}, "KIOSK_PAYMENTS=sim"),
        (
            {"card_reader": "pcsc", **LIVE_STRIPE, "stripe_api_base": "http://127.0.0.1:8421"},
            "KIOSK_STRIPE_API_BASE=http://127.0.0.1:8421",
        ),
        ({"card_reader": "pcsc", **LIVE_STRIPE, "printer": "sim"}, "KIOSK_PRINTER=sim"),
    ],
)
def test_production_refuses_each_simulator_naming_the_variable(
    make_app: Callable[..., Flask], settings: dict[str, Any], named: str
) -> None:
    """A simulated reader or card, the simulated terminal, a Stripe stand-in and the
    simulated ticket printer each stop start-up with a single line that names the variable
    to change."""
    with pytest.raises(ConfigError) as refused:
        make_app(mode="production", **settings)
    message = str(refused.value)
    assert message.startswith("KIOSK_MODE=production refuses " + named)
    assert "\n" not in message


def test_production_refuses_the_tests_crash_points(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """KIOSK_TEST_CRASH_AT makes the process kill itself at a payment transition (the crash
    tests): a production service refuses to start with it set."""
    monkeypatch.setenv("KIOSK_TEST_CRASH_AT", "after_intent_created")
    with pytest.raises(ConfigError) as refused:
        make_app(mode="production", card_reader="pcsc", reader_name="No Such Reader", **LIVE_STRIPE)
    assert str(refused.value) == (
        "KIOSK_MODE=production refuses KIOSK_TEST_CRASH_AT (the tests' crash points): unset it"
    )


def test_an_unknown_mode_is_refused(make_app: Callable[..., Flask]) -> None:
    """KIOSK_MODE accepts simulation or production, nothing else."""
    with pytest.raises(ConfigError, match="KIOSK_MODE='demo'"):
        make_app(mode="demo")


def test_production_with_real_hardware_starts_and_has_no_simulator_panel(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    """A real reader, the ward's trust files and live Stripe configuration start in
    production; /sim/ and its actions do not exist there, and the health report names no
    simulated persona."""
    app = make_app(
        mode="production",
        card_reader="pcsc",
        reader_name="No Such Reader",
        **LIVE_STRIPE,
        **PRODUCTION_ADDRESSES,
        **ward_trust(tmp_path / "trust"),
    )
    client = app.test_client()
    assert client.get("/sim/").status_code == 404
    assert client.post("/sim/terminal", data={"action": "approve"}).status_code == 404
    assert "simulated_persona" not in client.get("/healthz").get_json()["card_reader"]


def test_simulation_with_nothing_simulated_has_no_panel(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    """Real reader, real payments and no printer in simulation mode: nothing to simulate,
    no /sim/."""
    app = make_app(
        card_reader="pcsc",
        reader_name="No Such Reader",
        printer="none",
        **LIVE_STRIPE,
        **ward_trust(tmp_path),
    )
    assert app.test_client().get("/sim/").status_code == 404


def test_the_panel_answers_this_machine_only(make_app: Callable[..., Flask]) -> None:
    """The panel answers a browser on this machine; another address, or a request a proxy
    forwarded (X-Forwarded-For), is sent to the staff log-in and nothing is done."""
    app = make_app(sim_persona="yamada")
    here = app.test_client()
    assert here.get("/sim/").status_code == 200
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.168.10.23"
    away = elsewhere.get("/sim/")
    assert away.status_code == 302 and "/staff/login" in away.headers["Location"]
    removed = elsewhere.post("/sim/card", data={"action": "remove"})
    assert removed.status_code == 302 and "/staff/login" in removed.headers["Location"]
    forwarded = here.post(
        "/sim/card", data={"action": "remove"}, headers={"X-Forwarded-For": "192.168.10.23"}
    )
    assert forwarded.status_code == 302 and "/staff/login" in forwarded.headers["Location"]
    from ui.services import services_of

    assert services_of(app).simulation.reader.persona is not None  # type: ignore[union-attr]


def test_the_panel_answers_a_logged_in_member_of_staff_from_elsewhere(
    make_app: Callable[..., Flask],
) -> None:
    """Staff training from another PC: after the console log-in the panel opens."""
    app = make_app(sim_persona="yamada")
    add_staff(app, "trainer", "staff")
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "192.168.10.23"
    login(client, "trainer")
    assert client.get("/sim/").status_code == 200


def test_serve_warns_when_simulation_listens_beyond_loopback() -> None:
    """Simulation on 0.0.0.0 gets a warning; on loopback, or in production, none."""
    assert startup_warnings(load_settings({"host": "0.0.0.0"}, environ={}))
    assert (
        "simulation mode on 0.0.0.0"
        in startup_warnings(load_settings({"host": "0.0.0.0"}, environ={}))[0]
    )
    assert startup_warnings(load_settings({"host": "127.0.0.1"}, environ={})) == []
    assert startup_warnings(load_settings({"host": "::1"}, environ={})) == []
    assert (
        startup_warnings(load_settings({"host": "0.0.0.0", "mode": "production"}, environ={})) == []
    )


def test_the_simulator_commands_refuse_production(tmp_path: Path) -> None:
    """``kiosk sim personas`` lists the demo residents in simulation and refuses in
    production."""
    env = {"KIOSK_DATA_DIR": str(tmp_path), "KIOSK_DATABASE_URL": upgraded_database(tmp_path)}
    runner = CliRunner()
    listed = runner.invoke(cli, ["sim", "personas", "--state", str(tmp_path / "s.json")], env=env)
    assert listed.exit_code == 0 and "yamada" in listed.output
    refused = runner.invoke(
        cli,
        ["sim", "personas", "--state", str(tmp_path / "s.json")],
        env={**env, "KIOSK_MODE": "production"},
    )
    assert refused.exit_code != 0
    assert "KIOSK_MODE=production: the simulator commands are not available" in refused.output


def test_checkout_needs_a_return_url_that_is_a_page_of_the_service(
    make_app: Callable[..., Flask],
) -> None:
    """stripe_checkout without KIOSK_STRIPE_RETURN_URL stops start-up naming it; the page
    it should point at, /pay/done, exists and says the kiosk shows the outcome."""
    with pytest.raises(ConfigError, match="KIOSK_STRIPE_RETURN_URL"):
        make_app(
            payments="stripe_checkout", stripe_api_key="sk_test_x", stripe_webhook_secret="whsec_x"
        )
    page = make_app().test_client().get("/pay/done?lang=en")
    assert page.status_code == 200
    assert "The kiosk screen shows whether the payment went through" in page.get_data(as_text=True)
