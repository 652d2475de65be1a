"""A 住民票 + 戸籍 case in a real browser: one number called at two counters (counter 2 for
the family register, then counter 1 for certificates), the phone page and the board saying
where it goes next; axe over every staff page on the way (log-in, counter, queue, case,
A4 form, receipt, statistics, accounts) and the board. Screenshots:
``test-artifacts/screenshots/route-*.png``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.ui.browser import BROWSER_MARKS, Served, shot
from tests.ui.staffkit import PASSWORD, add_staff
from tests.ui.test_browser_a11y import Audit
from tests.ui.test_route_screens import routed_ticket

pytestmark = BROWSER_MARKS


def _staff_at(browser: Any, url: str, counter: str, audit: Audit | None) -> Any:
    """A staff browser logged in as the admin at ``counter`` (the log-in and counter pages
    checked by ``audit``)."""
    ctx = browser.new_context(viewport={"width": 1366, "height": 900}, locale="ja-JP")
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{url}/staff/login?lang=en")
    if audit:
        audit.check(page, "staff-login")
    page.fill("#username", "chief")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/staff/counter")
    if audit:
        audit.check(page, "staff-counter")
    page.locator("form", has=page.locator(f'input[name=counter][value="{counter}"]')).locator(
        "button[name=choose]"
    ).click()
    page.wait_for_url("**/staff/")
    page.goto(f"{url}/staff/?lang=en")  # logging in starts a fresh session
    return page


def test_one_number_called_at_two_counters(serve: Callable[..., Served], browser: Any) -> None:
    """Counter 2 serves the family register and sends the number on ("done here: on to
    certificates"); the phone page says "next: certificates" before and the board lists it
    as moving on after; counter 1 calls the same number first and completes it; the case
    view shows both stops done. Every staff page, the board and the phone page pass axe
    (nothing serious or critical; nothing moderate on the phone page)."""
    served = serve(sim_terminal_auto="approve", sim_persona="yamada")
    add_staff(served.app, "chief", "admin")
    t = routed_ticket(served.app)
    audit = Audit()

    phone = browser.new_page(viewport={"width": 390, "height": 800})
    phone.goto(f"{served.url}/t/{t['token']}?lang=en")
    assert phone.inner_text("#ticket-next") == "Next: Certificates"
    audit.check(phone, "phone-routed")
    shot(phone, "route-1-phone", full_page=False)

    desk2 = _staff_at(browser, served.url, "2", audit)
    desk2.click("#call-next")
    desk2.wait_for_selector(".s-route-line")
    desk2.click("button[data-op='serve']")
    desk2.wait_for_selector("button[data-op='complete-all']")
    audit.check(desk2, "staff-queue-serving")
    shot(desk2, "route-2-counter2-serving")
    desk2.click("button[data-op='complete']")
    desk2.wait_for_selector(f"text={t['number']} goes on to its next queue")
    shot(desk2, "route-3-counter2-routed")

    board = browser.new_page(viewport={"width": 1600, "height": 900})
    board.goto(f"{served.url}/board/")
    board.wait_for_selector("#moving-on-box:not([hidden])")
    assert t["number"] in board.inner_text("#moving-on")
    audit.check(board, "board-moving-on")
    shot(board, "route-4-board", full_page=False)
    phone.wait_for_function("() => document.getElementById('ticket-next').hidden", timeout=10_000)
    assert phone.inner_text("#ticket-queue") == "Certificates"

    desk1 = _staff_at(browser, served.url, "1", None)
    desk1.click("#call-next")
    desk1.wait_for_selector("button[data-op='serve']")
    assert t["number"] in desk1.inner_text(".s-current-ticket")
    desk1.click("button[data-op='serve']")
    desk1.click("button[data-op='complete']")
    desk1.wait_for_selector(f"text={t['number']} is done.")
    shot(desk1, "route-5-counter1-done")

    desk1.goto(f"{served.url}/staff/cases/{t['case_id']}")
    assert desk1.locator("#case-route li").count() == 2
    audit.check(desk1, "staff-case")
    shot(desk1, "route-6-case")
    receipt = desk1.locator("a[href*='/receipt']").first.get_attribute("href")
    desk1.goto(f"{served.url}/staff/cases/{t['case_id']}/print")
    audit.check(desk1, "staff-print")
    desk1.goto(f"{served.url}{receipt}")
    audit.check(desk1, "staff-receipt")
    for name in ("stats", "admin"):
        desk1.goto(f"{served.url}/staff/{name}")
        audit.check(desk1, f"staff-{name}")

    print("\n".join(["axe violations:", *audit.seen]))
    assert audit.problems == [], "\n".join(audit.problems)
    assert [v for v in audit.seen if v.startswith("phone") and "(minor)" not in v] == []
    assert len(audit.pages) == 10
