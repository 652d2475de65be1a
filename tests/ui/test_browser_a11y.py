"""Automated accessibility check: axe-core (axe-playwright-python) on every kiosk step, the
on-screen keyboard, the receipt, the stop screen and the phone pages, in Debian's Chromium.

Only WCAG 2.0/2.1 A and AA rules run (tags wcag2a, wcag2aa, wcag21a, wcag21aa); a violation
of impact serious or critical fails the test. No rule is switched off.
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

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = {"serious", "critical"}


class Audit:
    """Runs axe on pages and keeps the blocking violations of each, by page name."""

    def __init__(self) -> None:
        from axe_playwright_python.sync_playwright import Axe

        self.axe = Axe()
        self.pages: list[str] = []
        self.problems: list[str] = []
        self.seen: list[str] = []  # every violation, any impact (printed for the log)
        self.unsure: list[str] = []  # what axe could not decide ("needs review")

    def check(self, page: Any, name: str) -> None:
        page.wait_for_load_state("load")
        results = self.axe.run(
            page,
            options={
                "runOnly": {"type": "tag", "values": WCAG_TAGS},
                "resultTypes": ["violations"],
            },
        ).response
        assert results["passes"], f"axe checked nothing on {name}"
        self.pages.append(name)
        self.seen.extend(f"{name}: {v['id']} ({v['impact']})" for v in results["violations"])
        self.unsure.extend(
            f"{name}: {v['id']} " + "; ".join(" ".join(n["target"]) for n in v["nodes"][:4])
            for v in results.get("incomplete", [])
        )
        for v in results["violations"]:
            if v["impact"] in BLOCKING:
                targets = "; ".join(" ".join(n["target"]) for n in v["nodes"][:5])
                self.problems.append(f"{name}: {v['id']} ({v['impact']}) {targets}")


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_kiosk_screen_passes_axe(
    serve: Callable[..., Served], page: Any, browser: Any, lang: str
) -> None:
    """Welcome, procedures, fields (with errors and with the keyboard open), card, PIN pad,
    check, pay, terminal progress, ticket, receipt, phone status and phone receipt have no
    serious or critical WCAG 2.1 A/AA violation."""
    audit = Audit()
    served = serve()
    page.goto(f"{served.url}/kiosk/?lang={lang}")
    audit.check(page, "welcome")
    page.click("#start")
    page.wait_for_url(re.compile(r"/kiosk/procedures$"))
    audit.check(page, "procedures")
    page.click("label.choice-card:has(input[value='juminhyo'])")
    page.click("label.choice-card:has(input[value='koseki'])")
    page.click("main button[type=submit].btn-primary")
    page.wait_for_url(re.compile(r"/kiosk/fields$"))
    audit.check(page, "fields")
    page.click("main button[type=submit].btn-primary")
    page.wait_for_selector("#error-summary")
    audit.check(page, "fields-errors")
    page.click("#f-koseki-honseki")
    page.wait_for_selector("#osk:not([hidden])")
    page.click("#osk .osk-tab[data-layout='kana']")
    audit.check(page, "fields-keyboard-kana")
    shot(page, f"{lang}-a11y-keyboard")
    for key in ("か", "た", "ま"):
        page.locator("#osk").get_by_role("button", name=key, exact=True).first.click()
    page.click("#osk .osk-tab[data-layout='latin']")
    audit.check(page, "fields-keyboard-latin")
    page.click("#f-koseki-hittousha")
    page.click("#osk .osk-tab[data-layout='kana']")
    page.locator("#osk").get_by_role("button", name="や", exact=True).first.click()
    page.click("#osk [data-done]")
    page.click("main button[type=submit].btn-primary")
    page.wait_for_url(re.compile(r"/kiosk/card$"))
    page.wait_for_selector("#card-state[data-state='waiting']")
    audit.check(page, "card")
    place_card(page, served, "yamada")
    audit.check(page, "pin")
    press_pin(page, "0000")
    page.wait_for_selector("#pin-error")
    audit.check(page, "pin-wrong")
    press_pin(page, "1234")
    page.wait_for_url(re.compile(r"/kiosk/check$"))
    audit.check(page, "check")
    page.click("#confirm")
    page.wait_for_url(re.compile(r"/kiosk/pay$"))
    audit.check(page, "pay")
    page.click("#pay-start")
    page.wait_for_selector("#pay-progress")
    audit.check(page, "pay-terminal")
    served.terminal.approve()
    page.wait_for_url(re.compile(r"/kiosk/ticket$"))
    audit.check(page, "ticket")
    page.click("#receipt")
    page.wait_for_url(re.compile(r"/kiosk/receipt$"))
    audit.check(page, "receipt")
    shot(page, f"{lang}-a11y-receipt")
    page.click("#receipt-back")
    page.wait_for_url(re.compile(r"/kiosk/ticket$"))
    page.click("[data-call-staff] button")
    page.wait_for_selector("#toast:not([hidden])")
    audit.check(page, "ticket-staff-called")

    with services_of(served.app).sessions() as s:
        from kiosk.models import Ticket

        token = s.query(Ticket).one().token
    phone = browser.new_page(viewport={"width": 390, "height": 800})
    phone.goto(f"{served.url}/t/{token}")
    audit.check(phone, "phone-status")
    phone.click("#receipt-link")
    phone.wait_for_url(re.compile(r"/receipt"))
    audit.check(phone, "phone-receipt")
    shot(phone, f"{lang}-a11y-phone-receipt")
    phone.goto(f"{served.url}/t/not-a-token")
    audit.check(phone, "phone-missing")
    phone.close()

    page.click("#finish")
    page.wait_for_selector("#take-card")
    audit.check(page, "take-card")
    finish_and_take_card(page, served, finish=None)
    served.rig.insert("yamada")  # the card's counters persist across taking it out
    served.rig.card.set_tries(TEXT_PIN, 1)
    served.rig.remove()
    page.click("#start")
    page.click("label.choice-card:has(input[value='inkan'])")
    page.click("main button[type=submit].btn-primary")
    page.click("main button[type=submit].btn-primary")
    place_card(page, served, "yamada")
    assert page.locator(".stop").count() == 1
    audit.check(page, "stop")

    print("\n".join(["axe violations:", *audit.seen, "needs review:", *audit.unsure]))
    assert len(audit.pages) == 20
    assert audit.problems == [], "\n".join(audit.problems)


def test_phone_page_updates_in_place(
    serve: Callable[..., Served], browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without <meta refresh> (axe: meta-refresh) the phone page still follows the ticket:
    a call shows up in its live region without a reload."""
    import ui.phone
    from tests.ui.staffkit import PASSWORD, add_staff, paid_ticket

    monkeypatch.setattr(ui.phone, "REFRESH_S", 1)
    served = serve(sim_persona="yamada", sim_terminal_auto="approve")
    ticket = paid_ticket(served.app)
    add_staff(served.app, "clerk", "staff")
    phone = browser.new_page(viewport={"width": 390, "height": 800})
    phone.goto(f"{served.url}/t/{ticket['token']}?lang=en")
    assert phone.locator("meta[http-equiv=refresh]").count() == 0
    phone.evaluate("window.samePage = true")
    client = served.app.test_client()
    login = client.post("/api/staff/login", json={"username": "clerk", "password": PASSWORD})
    auth = {"Authorization": f"Bearer {login.get_json()['token']}"}
    assert client.post("/api/staff/counters/1/call-next", headers=auth).status_code == 200
    phone.wait_for_selector("#ticket-live .called[role=alert]", timeout=8_000)
    assert "Counter 1" in phone.inner_text("#ticket-live")
    assert phone.evaluate("window.samePage") is True  # updated in place, not reloaded
    phone.close()
