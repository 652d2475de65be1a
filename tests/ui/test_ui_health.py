"""``/healthz`` and the app factory's start-up checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from application.schema import SchemaOutdated, schema_is_current
from kiosk import db
from kiosk.config import ConfigError
from kiosk.privacy import load_data_key
from tests.support.waiting import wait_until
from tests.ui.genuine.kit import ward_trust
from ui.services import services_of


def test_healthz_reports_every_part_on_the_embedded_default(make_app):
    """With the in-process simulator the service is healthy and sees the demo card."""
    client = make_app().test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True, "backend": "sqlite"}
    assert body["card_reader"]["reader_present"] is True
    assert body["card_reader"]["card_present"] is True
    assert body["card_reader"]["simulated_persona"] == "yamada"
    assert body["payments"] == {"ok": True, "provider": "sim", "reconciler_running": True}


def test_healthz_follows_card_removal(make_app):
    """Taking the simulated card out shows up as card_present false, still healthy."""
    app = make_app()
    services_of(app).simulation.reader.remove()
    body = app.test_client().get("/healthz").get_json()
    assert body["card_reader"]["card_present"] is False
    assert body["status"] == "ok"


def test_healthz_is_503_when_the_reader_is_missing(make_app, tmp_path):
    """A PC/SC reader name that matches nothing makes the service report itself degraded."""
    app = make_app(card_reader="pcsc", reader_name="No Such Reader 99", **ward_trust(tmp_path))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["card_reader"]["reader_present"] is False


def test_outdated_schema_refuses_to_start_and_names_the_fix(tmp_path: Path):
    """An empty database stops create_app with the command that fixes it."""
    from ui import create_app

    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    with pytest.raises(SchemaOutdated, match="kiosk db upgrade"):
        create_app({"data_dir": tmp_path, "database_url": url, "card_reader": "sim-direct"})


def test_bad_configuration_names_the_variable(tmp_path: Path):
    """An unknown card reader kind fails at start-up naming KIOSK_CARD_READER."""
    from ui import create_app

    with pytest.raises(ConfigError, match="KIOSK_CARD_READER"):
        create_app({"data_dir": tmp_path, "card_reader": "usb"})


@pytest.mark.pcsc
def test_healthz_sees_the_simulated_card_through_pcscd(make_app, pcscd, vpcd_port):
    """In ``sim`` mode the demo card is plugged into pcscd and seen through PC/SC."""
    app = make_app(card_reader="sim", sim_vpcd_port=vpcd_port)
    client = app.test_client()
    body = wait_until(
        lambda: (b := client.get("/healthz").get_json())["card_reader"]["card_present"] and b,
        timeout_s=10,
        message="the card in pcscd's reader",
    )
    assert body["card_reader"]["reader"] == pcscd
    assert body["card_reader"]["card_present"] is True
    assert services_of(app).card_reader.pin_tries_left() == 3
    engine = db.make_engine(
        app.config["KIOSK_SETTINGS"].effective_database_url,
        load_data_key("", app.config["KIOSK_SETTINGS"].data_dir),
    )
    assert schema_is_current(engine)
    engine.dispose()


def test_app_runs_the_payment_reconciler_until_shutdown(make_app):
    """The service reconciles payments in the background from start-up and stops on shutdown."""
    app = make_app()
    reconciler = services_of(app).reconciler
    assert reconciler.running
    services_of(app).close()
    assert not reconciler.running


def test_root_opens_the_resident_kiosk(make_app):
    """The service's root URL (what a kiosk browser is pointed at) leads to the kiosk."""
    response = make_app().test_client().get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/kiosk/")


def test_app_serves_the_stripe_webhook_endpoint(make_app):
    """The webhook endpoint is part of the app and rejects an unsigned body with 400."""
    response = (
        make_app()
        .test_client()
        .post(
            "/webhooks/stripe", data=b'{"id": "evt_1"}', headers={"Stripe-Signature": "t=1,v1=00"}
        )
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "invalid signature"}
