"""The printed ticket in a real browser (Debian's Chromium): a resident pays, the ticket and
the receipt come out of the simulated printer (their PNGs looked at and decoded), then the
paper runs out and the ticket screen tells the resident what to do."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from typing import Any

from kiosk.models import Ticket
from tests.ui.browser import BROWSER_MARKS, Served, press_pin, shot
from tests.ui.test_browser_kiosk import start_and_choose
from tests.ui.test_ticket_printing import ARTIFACTS, PUBLIC, qr_texts
from ui.services import services_of

pytestmark = BROWSER_MARKS


def test_printed_ticket_then_paper_out(serve: Callable[..., Served], page: Any) -> None:
    """The ticket screen says the ticket is printed; the simulator panel shows the printed
    ticket and receipt; the QR codes on paper and on the screen decode to the phone page at
    KIOSK_PUBLIC_URL; with the paper out, "Print ticket" ends in the message to photograph
    the QR code or ask staff."""
    served = serve(public_url=PUBLIC, sim_terminal_auto="approve")
    start_and_choose(page, served, "ja", "ja-print")
    served.rig.insert("yamada")
    page.wait_for_url(re.compile(r"/kiosk/pin$"))
    press_pin(page, "1234")
    page.wait_for_url(re.compile(r"/kiosk/check$"))
    page.click("#confirm")
    page.wait_for_url(re.compile(r"/kiosk/pay$"))
    page.click("#pay-start")
    page.wait_for_url(re.compile(r"/kiosk/ticket$"))
    page.wait_for_selector("#print-state[data-state='printed']", timeout=20_000)
    assert "プリンターから 取って" in page.inner_text("#print-state")
    shot(page, "ja-print-01-ticket-printed")

    printer = services_of(served.app).simulation.printer  # type: ignore[union-attr]
    receipt, ticket = printer.last_pages(2)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(ticket.png, ARTIFACTS / "browser-ticket-ja.png")
    shutil.copy(receipt.png, ARTIFACTS / "browser-receipt-ja.png")
    with services_of(served.app).sessions() as s:
        token = s.query(Ticket).one().token
    assert qr_texts(ticket.png) == [f"{PUBLIC}/t/{token}"]
    on_screen = page.locator(".ticket-qr").screenshot(path=str(ARTIFACTS / "screen-qr-ja.png"))
    assert on_screen and qr_texts(ARTIFACTS / "screen-qr-ja.png") == [f"{PUBLIC}/t/{token}"]

    panel = page.context.new_page()
    panel.goto(f"{served.url}/sim/?lang=ja")
    images = panel.locator("#sim-printed img")
    assert images.count() == 2
    assert panel.evaluate(
        "() => Array.from(document.querySelectorAll('#sim-printed img'))"
        ".every((img) => img.complete && img.naturalWidth === 576)"
    )
    shot(panel, "ja-print-02-sim-panel")
    panel.click("#sim-printer-paper_out")
    panel.wait_for_selector("p.notice")
    assert "paper_out" in panel.inner_text("#sim-printer-faults")

    page.click("#print-again")
    page.wait_for_url(re.compile(r"/kiosk/ticket$"))
    page.wait_for_selector("#print-state[data-state='failed']", timeout=20_000)
    assert "QRコードの 写真を とるか" in page.inner_text("#print-state")
    assert page.get_attribute("#print-state", "data-problem") == "paper_out"
    shot(page, "ja-print-03-paper-out")
    assert len(printer.last_pages(10)) == 2
