"""The real-browser harness shared by the ``test_browser_*`` modules.

Debian's Chromium (``/usr/bin/chromium``, installed by ``scripts/setup.sh --test``) driven
by Playwright from PyPI; never a downloaded browser. The app runs under waitress on a free
127.0.0.1 port in a thread, with its live streams' hub and event server beside it. Fixtures
(``browser``, ``serve``, ``page``) live in ``tests/ui/conftest.py``; screenshots go to
``test-artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from ui.services import services_of

# Playwright's driver pipes and greenlet emit these at interpreter level; they are not ours.
BROWSER_MARKS = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:playwright.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:greenlet.*"),
]

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying the closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
TEXT_PIN = 0x0011


class Served:
    """An app served by waitress on 127.0.0.1 in a thread."""

    def __init__(self, app: Flask) -> None:
        from waitress import create_server

        from tests.ui.livekit import start_live

        self.app = app
        # As `kiosk serve`: the live streams (boards, phones) on their own port beside it.
        self.live = start_live(app)
        self.server = create_server(app, host="127.0.0.1", port=0, threads=6)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"  # type: ignore[union-attr]
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    @property
    def rig(self) -> Any:
        return services_of(self.app).simulation.reader

    @property
    def terminal(self) -> Any:
        return services_of(self.app).payments.terminal

    def close(self) -> None:
        self.live.stop()
        self.server.close()
        self.thread.join(timeout=5)


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium, headless (fails, never skips, when it is missing)."""
    assert CHROMIUM.exists(), "Debian's chromium is needed: apt-get install chromium"
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def shot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot as ``test-artifacts/screenshots/<name>.png``."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def press_pin(page: Any, pin: str) -> None:
    """Type ``pin`` on the kiosk's on-screen PIN pad and confirm."""
    for digit in pin:
        page.click(f".pinpad [data-digit='{digit}']")
    page.click("#pin-ok")


def place_card(page: Any, served: Served, persona: str = "yamada") -> None:
    """As a resident does under "one card, one visit": once the card screen shows, place
    ``persona``'s card on the reader and wait for the PIN screen."""
    import re

    page.wait_for_url(re.compile(r"/kiosk/card$"))
    served.rig.insert(persona)
    page.wait_for_url(re.compile(r"/kiosk/pin$"))


def finish_and_take_card(page: Any, served: Served, *, finish: str | None = "#finish") -> None:
    """End the visit (click ``finish``; ``None`` when it already ended, e.g. an idle wipe)
    with the card still on the reader: "Please take your card" until it is taken, then
    the welcome page."""
    import re

    if finish is not None:
        page.click(finish)
    page.wait_for_url(re.compile(r"/kiosk/take-card"))
    page.wait_for_selector("#take-card")
    served.rig.remove()
    page.wait_for_url(re.compile(r"/kiosk/(\?.*)?$"))
