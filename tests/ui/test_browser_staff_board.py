"""Staff console and display board in a real browser (Debian's Chromium via Playwright).

The app runs under waitress on a free 127.0.0.1 port in a thread. A staff member logs in,
picks counter 1, calls the next ticket; the board, open in a second browser context, shows
the number with the counter within about a second; the staff member serves and completes
it. Screenshots go to ``test-artifacts/screenshots/staff-*.png`` and ``board-*.png``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.ui.browser import BROWSER_MARKS, shot
from tests.ui.staffkit import PASSWORD, PERSONA_NAME, add_staff, paid_ticket

pytestmark = BROWSER_MARKS


@pytest.fixture
def served(serve: Any) -> tuple[Any, str]:
    """The app under waitress (simulated card and auto-approving terminal) and its URL."""
    running = serve(sim_terminal_auto="approve", sim_persona="yamada")
    return running.app, running.url


def test_staff_calls_and_completes_while_the_board_shows_the_call(served, browser):
    """Log in, call next: the board shows number and counter within ~1 s; then complete."""
    app, url = served
    add_staff(app, "chief", "admin")
    first = paid_ticket(app)
    second = paid_ticket(app)  # stays waiting: the board shows a waiting count

    board_ctx = browser.new_context(viewport={"width": 1600, "height": 900}, locale="ja-JP")
    board = board_ctx.new_page()
    board.set_default_timeout(10_000)
    board.goto(f"{url}/board/")
    board.wait_for_selector('#live[data-state="live"]')
    assert board.locator('.b-count[data-queue="certificates"]').inner_text() == "2"
    shot(board, "board-1-waiting", full_page=False)

    staff_ctx = browser.new_context(viewport={"width": 1366, "height": 900}, locale="ja-JP")
    staff = staff_ctx.new_page()
    staff.set_default_timeout(10_000)
    staff.goto(f"{url}/staff/")
    assert "/staff/login" in staff.url
    shot(staff, "staff-1-login")
    staff.fill("#username", "chief")
    staff.fill("#password", PASSWORD)
    staff.click("button[type=submit]")
    staff.wait_for_url("**/staff/counter")
    shot(staff, "staff-2-counter")
    staff.locator("form", has=staff.locator('input[name=counter][value="1"]')).locator(
        "button[name=choose]"
    ).click()
    staff.wait_for_url("**/staff/")
    assert first["number"] in staff.inner_text("main")
    shot(staff, "staff-3-queue")

    staff.click("#call-next")
    clicked = time.monotonic()
    latest = board.locator(".b-latest .b-number")
    latest.wait_for(state="visible", timeout=3_000)
    board.wait_for_function(
        "n => document.querySelector('.b-latest .b-number')?.textContent === n",
        arg=first["number"],
        timeout=3_000,
    )
    elapsed = time.monotonic() - clicked
    assert elapsed < 1.5, f"board showed the call after {elapsed:.2f}s"
    assert "1番窓口" in board.inner_text(".b-latest")
    assert board.locator('.b-count[data-queue="certificates"]').inner_text() == "1"
    assert PERSONA_NAME not in board.content()
    board.wait_for_timeout(400)
    shot(board, "board-2-called", full_page=False)

    staff.wait_for_selector(f'.s-current-ticket[data-ticket="{first["number"]}"]')
    shot(staff, "staff-4-called")
    staff.click('.s-mine button[data-op="serve"]')
    staff.wait_for_selector('.s-mine button[data-op="complete"]')
    staff.click(f".s-mine a[href$='/staff/cases/{first['case_id']}']")
    staff.wait_for_selector("[data-payment-status=succeeded]")
    assert PERSONA_NAME in staff.inner_text("main")
    shot(staff, "staff-5-case")
    staff.goto(f"{url}/staff/cases/{first['case_id']}/print")
    assert "署名" in staff.inner_text("body")
    loaded = staff.evaluate(
        "() => new FontFace('FormJPServed', 'url(/static/staff-fonts/form-jp.woff2)')"
        ".load().then(f => f.status)"
    )
    assert loaded == "loaded"  # the served Japanese font is a valid web font
    shot(staff, "staff-6-print")
    staff.goto(f"{url}/staff/")
    staff.click('.s-mine button[data-op="complete"]')
    staff.wait_for_selector(".s-flash-ok")
    assert "完了" in staff.inner_text(".s-flash-ok")
    assert staff.locator(".s-current-ticket").count() == 0
    assert second["number"] in staff.inner_text("main")
    shot(staff, "staff-7-completed")
    staff.goto(f"{url}/staff/stats")
    assert staff.locator("svg.s-chart").count() == 2
    shot(staff, "staff-8-stats")
    staff.goto(f"{url}/staff/admin")
    shot(staff, "staff-9-admin")
    board.wait_for_function("() => !document.querySelector('.b-latest')", timeout=3_000)
    shot(board, "board-3-after-complete", full_page=False)
    staff_ctx.close()
    board_ctx.close()
