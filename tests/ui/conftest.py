"""App fixtures in the style of flaskr's: ``make_app`` builds an app on a fresh SQLite file.

Apps get a known kiosk device key (``DEVICE_KEY``) and their test clients, like the
browsers of the ``page`` fixture, present it as the enrolled kiosk screen does (issue 10:
visits and card operations answer only to it). The security tests take it away.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from application.schema import upgrade
from kiosk import db
from kiosk.privacy import load_data_key
from tests.ui.api_contract import ContractCheckedClient
from ui.services import services_of

DEVICE_KEY = "test-device-key-of-the-kiosk-0123456789abcdef"
DEVICE_HEADER = "HTTP_X_KIOSK_DEVICE"


class KioskScreenClient(ContractCheckedClient):
    """A test client that presents the kiosk's device key (``X-Kiosk-Device``), as the
    kiosk's enrolled browser does with its cookie, and checks every ``/api`` response
    against the OpenAPI document."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.environ_base[DEVICE_HEADER] = DEVICE_KEY


def enrol_as_kiosk_screen(context: Any) -> None:
    """Give a Playwright browser context the kiosk's device cookie for every app served on
    127.0.0.1 (as ``/device/`` sets it on the kiosk's own screen)."""
    context.add_cookies(
        [{"name": "kiosk_device", "value": DEVICE_KEY, "domain": "127.0.0.1", "path": "/"}]
    )


def upgraded_database(data_dir: Path) -> str:
    """Create the data folder's SQLite database at the current schema; return its URL."""
    url = f"sqlite:///{data_dir / 'kiosk.sqlite3'}"
    engine = db.make_engine(url, load_data_key("", data_dir))
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Factory: ``make_app(card_reader="sim-direct", **settings)``; apps are shut down after."""
    from ui import create_app

    apps: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        settings: dict[str, Any] = {
            "data_dir": tmp_path,
            "card_reader": "sim-direct",
            "device_key": DEVICE_KEY,
        }
        settings.update(overrides)
        if "database_url" not in settings:
            settings["database_url"] = upgraded_database(tmp_path)
        app = create_app(settings)
        app.config["TESTING"] = True
        app.test_client_class = KioskScreenClient  # every /api response is checked
        apps.append(app)
        return app

    yield build
    for app in apps:
        services_of(app).close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Debian Chromium per browser test module."""
    from playwright.sync_api import sync_playwright

    from tests.ui.browser import launch_chromium

    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


@pytest.fixture
def serve(make_app: Callable[..., Flask]) -> Iterator[Callable[..., Any]]:
    """Factory: ``serve(**settings)`` starts the app under waitress; stopped after the test."""
    from tests.ui.browser import Served

    servers: list[Served] = []

    def start(**settings: Any) -> Served:
        settings.setdefault("sim_persona", "")
        served = Served(make_app(**settings))
        servers.append(served)
        return served

    yield start
    for served in servers:
        served.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh kiosk-sized browser page (1280 x 900), enrolled as the kiosk's screen (the
    device cookie of every app served on 127.0.0.1)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    enrol_as_kiosk_screen(context)
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    context.close()
