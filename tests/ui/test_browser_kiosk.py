"""The resident kiosk in a real browser: Debian's Chromium driven by Playwright (PyPI).

The app runs under waitress on a free 127.0.0.1 port in a thread, with the in-process
simulated card (``sim-direct``) and the simulated payment terminal. Screenshots of every
kiosk step go to ``test-artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.ui.browser import (
    BROWSER_MARKS,
    TEXT_PIN,
    Served,
    finish_and_take_card,
    place_card,
    press_pin,
    shot,
)
from ui.services import services_of

pytestmark = BROWSER_MARKS


def start_and_choose(page: Any, served: Served, lang: str, prefix: str) -> None:
    page.goto(f"{served.url}/kiosk/?lang={lang}")
    assert page.locator("html").get_attribute("lang") == lang
    shot(page, f"{prefix}-01-welcome")
    page.click("#start")
    page.wait_for_url(re.compile(r"/kiosk/procedures$"))
    page.click("label.choice-card:has(input[value='juminhyo'])")
    page.click("label.choice-card:has(input[value='inkan'])")
    shot(page, f"{prefix}-02-procedures")
    page.click("button[type=submit].btn-primary")
    page.wait_for_url(re.compile(r"/kiosk/fields$"))
    page.click("[data-target='f-juminhyo-copies'][data-step='1']")
    shot(page, f"{prefix}-03-fields")
    page.click("main button[type=submit].btn-primary")
    page.wait_for_url(re.compile(r"/kiosk/card$"))


@pytest.mark.parametrize(
    ("lang", "texts"),
    [
        ("ja", {"check": "カードから", "declined": "カードが 使えませんでした", "wait": "待ち"}),
        ("en", {"check": "came from your card", "declined": "declined", "wait": "wait"}),
    ],
)
def test_full_resident_journey(
    serve: Callable[..., Served], page: Any, browser: Any, lang: str, texts: dict[str, str]
) -> None:
    """Welcome to ticket on the simulator: live card state, a wrong then the right PIN, a
    declined then approved payment (via the simulator panel), the ticket and the phone page."""
    served = serve()
    prefix = f"{lang}"
    start_and_choose(page, served, lang, prefix)

    page.wait_for_selector("#card-state[data-state='waiting']")
    shot(page, f"{prefix}-04-card-waiting")
    place_card(page, served, "yamada")
    press_pin(page, "0000")
    page.wait_for_selector("#pin-error")
    assert "2" in page.inner_text("#tries")
    shot(page, f"{prefix}-05-pin-wrong")
    press_pin(page, "1234")
    page.wait_for_url(re.compile(r"/kiosk/check$"))
    assert "山田" in page.inner_text(".from-card")
    assert texts["check"] in page.inner_text(".badge-card")
    shot(page, f"{prefix}-06-check")
    assert page.inner_text("#total").replace(",", "").count("900") == 1

    page.click("#confirm")
    page.wait_for_url(re.compile(r"/kiosk/pay$"))
    shot(page, f"{prefix}-07-pay")
    page.click("#pay-start")
    page.wait_for_selector("#pay-progress")
    shot(page, f"{prefix}-08-pay-terminal")

    panel = page.context.new_page()
    panel.goto(f"{served.url}/sim/?lang={lang}")
    panel.select_option("#sim-decline-code", "card_declined")
    panel.click("#sim-decline")
    page.wait_for_selector("#pay-failure")
    assert texts["declined"] in page.inner_text("#pay-failure")
    shot(page, f"{prefix}-09-pay-declined")
    page.click("#pay-start")
    page.wait_for_selector("#pay-progress")
    panel.goto(f"{served.url}/sim/?lang={lang}")
    shot(panel, f"{prefix}-sim-panel")
    panel.click("#sim-approve")
    page.wait_for_url(re.compile(r"/kiosk/ticket$"))
    assert page.inner_text("#ticket-number") == "A-001"
    shot(page, f"{prefix}-10-ticket")

    qr_target = page.inner_html(".ticket-qr")
    assert "<svg" in qr_target
    with services_of(served.app).sessions() as s:
        from kiosk.models import Ticket

        token = s.query(Ticket).one().token
    phone = browser.new_page(viewport={"width": 390, "height": 800})
    phone.goto(f"{served.url}/t/{token}")
    assert phone.locator("html").get_attribute("lang") == lang
    assert "A-001" in phone.inner_text(".ticket-number")
    shot(phone, f"{prefix}-11-phone")
    phone.close()

    finish_and_take_card(page, served)
    assert page.url.endswith("/kiosk/")
    assert len(services_of(served.app).visits.store) == 0


def test_one_try_left_stops_before_the_pin_pad(serve: Callable[..., Served], page: Any) -> None:
    """With one PIN try left the kiosk shows 'please go to the counter' and no PIN pad."""
    served = serve()
    served.rig.insert("takahashi")  # the counters persist across taking it out
    served.rig.card.set_tries(TEXT_PIN, 1)
    served.rig.remove()
    start_and_choose(page, served, "ja", "stop")
    place_card(page, served, "takahashi")
    assert page.locator(".stop").count() == 1
    assert page.locator(".pinpad").count() == 0
    assert "窓口" in page.inner_text("h1")
    shot(page, "ja-12-pin-one-try-left")
    assert served.rig.card.tries_left(TEXT_PIN) == 1


def test_inactivity_warns_then_wipes_everything(serve: Callable[..., Served], page: Any) -> None:
    """Idle on the pay step: a warning with 'continue' (which keeps the visit), then the wipe
    cancels the pending payment and the case and leaves no card data on the page."""
    served = serve(idle_timeout_s=6, idle_warning_s=4)
    start_and_choose(page, served, "en", "idle")
    place_card(page, served, "yamada")
    press_pin(page, "1234")
    page.wait_for_url(re.compile(r"/kiosk/check$"))
    page.click("#confirm")
    page.click("#pay-start")
    page.wait_for_selector("#pay-progress")
    assert served.terminal.current is not None

    page.wait_for_selector("#idle:not([hidden])", timeout=8_000)
    shot(page, "en-13-idle-warning")
    page.click("#idle-continue")
    assert page.locator("#idle").is_hidden()
    assert page.url.endswith("/kiosk/pay")

    page.wait_for_selector("#idle:not([hidden])", timeout=8_000)
    page.wait_for_url(re.compile(r"/kiosk/take-card\?ended=1$"), timeout=10_000)
    assert "山田" not in page.content()
    finish_and_take_card(page, served, finish=None)
    page.wait_for_url(re.compile(r"/kiosk/\?ended=1$"), timeout=10_000)
    shot(page, "en-14-after-wipe")
    assert "山田" not in page.content()
    assert served.terminal.current is None
    assert len(services_of(served.app).visits.store) == 0
    from kiosk.models import Case, CaseStatus
    from payments.models import Payment, PaymentStatus

    with services_of(served.app).sessions() as s:
        assert s.query(Case).one().status is CaseStatus.CANCELLED
        assert s.query(Payment).one().status is PaymentStatus.CANCELLED
    page.go_back()
    assert "山田" not in page.content()
