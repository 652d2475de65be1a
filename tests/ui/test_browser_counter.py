"""The counter desk in a real browser (Debian's Chromium via Playwright): a member of staff
at counter 1 and the counter's customer display, two browser contexts on the app under
waitress. Screenshots go to ``test-artifacts/screenshots/counter-*.png``."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from kiosk.models import Case, CaseStatus
from tests.ui.browser import BROWSER_MARKS, press_pin, shot
from tests.ui.staffkit import PASSWORD, PERSONA_NAME, add_staff
from ui.services import services_of

pytestmark = BROWSER_MARKS


@pytest.fixture
def served(serve: Any) -> tuple[Any, str]:
    """The app under waitress; yamada's card lies on counter 1's own (simulated) reader."""
    running = serve()
    services_of(running.app).simulation.counter_readers["1"].insert("yamada")
    add_staff(running.app, "clerk", "staff")
    return running.app, running.url


def _logged_in(browser: Any, url: str, size: dict[str, int]) -> Any:
    context = browser.new_context(viewport=size, locale="ja-JP")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{url}/staff/login")
    page.fill("#username", "clerk")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/staff/counter")
    page.locator("form", has=page.locator('input[name=counter][value="1"]')).locator(
        "button[name=choose]"
    ).click()
    page.wait_for_url("**/staff/")
    return page


def test_counter_intake_with_the_customer_display_and_the_card_read_at_the_counter(
    served: tuple[Any, str], browser: Any
) -> None:
    """New case -> 住民票 -> the resident types the PIN on the display (the staff page has no
    PIN field) -> the prefilled form on both screens -> checked on the display -> cash with
    change on both screens -> completed."""
    app, url = served
    display = _logged_in(browser, url, {"width": 1024, "height": 768})
    display.goto(f"{url}/display/pair")
    display.click("#pair")
    display.wait_for_selector("#welcome")
    shot(display, "counter-1-display-welcome")

    staff = _logged_in(browser, url, {"width": 1366, "height": 900})
    staff.goto(f"{url}/staff/desk")
    staff.wait_for_selector("#display-state.s-open")
    staff.click("#new-case")
    staff.check('input[data-procedure="juminhyo"]')
    shot(staff, "counter-2-staff-procedures")
    staff.click("#read-card")
    assert staff.locator('input[name="pin"]').count() == 0

    display.wait_for_selector(".pinpad")
    shot(display, "counter-3-display-pin")
    press_pin(display, "1234")
    display.wait_for_selector("#display-confirm")
    assert PERSONA_NAME in display.inner_text("#display-name")
    shot(display, "counter-4-display-check")
    staff.wait_for_selector("#case-name")
    assert PERSONA_NAME in staff.inner_text("#case-name")
    shot(staff, "counter-5-staff-prefilled")

    display.click("#display-confirm")
    display.wait_for_selector("#display-pay")
    staff.wait_for_selector("#take-cash")
    staff.fill("#tendered", "1000")
    staff.click("#take-cash")
    staff.wait_for_selector("#change")
    assert "700" in staff.inner_text("#change")
    shot(staff, "counter-6-staff-paid")
    display.wait_for_selector("#display-change")
    assert "700" in display.inner_text("#display-change")
    shot(display, "counter-7-display-change")
    with staff.expect_navigation():
        staff.click("#complete")
    with services_of(app).sessions() as s:
        statuses = s.scalars(select(Case.status)).all()
    assert statuses == [CaseStatus.DONE]
