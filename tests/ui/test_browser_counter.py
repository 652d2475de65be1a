"""The counter desk in a real browser (Debian's Chromium via Playwright): a member of staff
at counter 1 and the counter's customer display, two browser contexts on the app under
waitress, and the kiosk paying cash at the counter, and closing a day with a cash difference.
Screenshots go to ``test-artifacts/screenshots/counter-*.png``."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from kiosk.db import transaction
from kiosk.models import Case, CaseStatus
from payments.collect import refresh_payment, start_payment
from tests.ui.browser import BROWSER_MARKS, press_pin, shot
from tests.ui.conftest import enrol_as_kiosk_screen
from tests.ui.staffkit import PASSWORD, PERSONA_NAME, add_staff, open_confirmed_case
from ui.services import services_of

pytestmark = BROWSER_MARKS


@pytest.fixture
def served(serve: Any) -> tuple[Any, str]:
    """The app under waitress; yamada's card lies on counter 1's own (simulated) reader."""
    running = serve()
    services_of(running.app).simulation.counter_readers["1"].insert("yamada")
    add_staff(running.app, "clerk", "staff")
    return running.app, running.url


def _logged_in(browser: Any, url: str, size: dict[str, int], username: str = "clerk") -> Any:
    context = browser.new_context(viewport=size, locale="ja-JP")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{url}/staff/login")
    page.fill("#username", username)
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


def test_kiosk_visit_pays_cash_at_the_counter(served: tuple[Any, str], browser: Any) -> None:
    """At the kiosk: 住民票 -> PIN -> check -> "pay in cash at the counter": the number at
    once with the amount to pay; at counter 1 the case cannot be completed until the cash
    is taken, then it is."""
    app, url = served
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    enrol_as_kiosk_screen(context)  # the kiosk's own screen (its device cookie)
    kiosk = context.new_page()
    kiosk.set_default_timeout(10_000)
    kiosk.goto(f"{url}/kiosk/?lang=ja")
    kiosk.click("#start")
    kiosk.wait_for_url(re.compile(r"/kiosk/procedures$"))
    kiosk.click("label.choice-card:has(input[value='juminhyo'])")
    kiosk.click("main button[type=submit].btn-primary")
    kiosk.wait_for_url(re.compile(r"/kiosk/fields$"))
    kiosk.click("main button[type=submit].btn-primary")
    kiosk.wait_for_url(re.compile(r"/kiosk/card$"))
    services_of(app).simulation.reader.insert("yamada")  # one card, one visit: placed now
    kiosk.wait_for_url(re.compile(r"/kiosk/pin$"))
    press_pin(kiosk, "1234")
    kiosk.wait_for_url(re.compile(r"/kiosk/check$"))
    kiosk.click("#confirm")
    kiosk.wait_for_url(re.compile(r"/kiosk/pay$"))
    shot(kiosk, "counter-kiosk-1-pay")
    kiosk.click("#pay-cash")
    kiosk.wait_for_url(re.compile(r"/kiosk/ticket$"))
    assert "300円" in kiosk.inner_text("main")
    shot(kiosk, "counter-kiosk-2-ticket")

    with services_of(app).sessions() as s:
        case_id = s.scalars(select(Case.id)).one()
    staff = _logged_in(browser, url, {"width": 1366, "height": 900})
    staff.goto(f"{url}/staff/cases/{case_id}")
    assert staff.locator("#take-cash").count() == 1
    staff.fill("#tendered", "500")
    staff.click("#take-cash")
    staff.wait_for_load_state()
    shot(staff, "counter-kiosk-3-staff-paid")
    assert "おつり 200円" in staff.inner_text("main")
    with services_of(app).sessions() as s:
        assert s.scalars(select(Case.due_yen)).one() == 0


def test_closing_a_day_with_a_cash_difference(served: tuple[Any, str], browser: Any) -> None:
    """A supervisor closes the day with drawer 1 short by 100 yen: refused without a reason,
    closed with one; the A4 日計表 shows the difference and the reason."""
    app, url = served
    add_staff(app, "chief", "supervisor")
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="ja-JP")
    chief = context.new_page()
    chief.set_default_timeout(10_000)
    chief.goto(f"{url}/staff/login")
    chief.fill("#username", "chief")
    chief.fill("#password", PASSWORD)
    chief.click("button[type=submit]")
    chief.wait_for_url("**/staff/counter")
    chief.goto(f"{url}/staff/ledger")
    for drawer in ("1", "2", "3"):
        chief.fill(f"#counted_{drawer}", "30000")
    chief.fill("#counted_1", "29900")
    chief.click("#close-day")
    chief.wait_for_selector(".s-flash-error")
    shot(chief, "counter-ledger-1-no-reason")
    for drawer in ("1", "2", "3"):
        chief.fill(f"#counted_{drawer}", "30000")
    chief.fill("#counted_1", "29900")
    chief.fill("#reason_1", "釣銭の渡し誤り")
    chief.click("#close-day")
    chief.wait_for_selector(".s-flash-ok")
    assert chief.locator("#close-day").count() == 0
    shot(chief, "counter-ledger-2-closed")
    day = chief.locator('input[name="day"]').input_value()
    chief.goto(f"{url}/staff/ledger/{day}/print")
    printed = chief.inner_text("body")
    assert "収納日計表" in printed and "釣銭の渡し誤り" in printed and "-100" in printed
    shot(chief, "counter-ledger-3-print")


def test_amendments_collect_a_difference_and_refund_one(
    served: tuple[Any, str], browser: Any
) -> None:
    """On a case paid at the kiosk (住民票 + 印鑑登録証明書, 600 yen): adding a copy makes 300
    due, taken in cash at counter 1; removing the 印鑑 procedure makes 300 due back, which a
    supervisor gives back through the card; the case's history lists both amendments."""
    app, url = served
    add_staff(app, "chief", "supervisor")
    services_of(app).simulation.reader.insert("yamada")
    case_id = open_confirmed_case(app, ("juminhyo", "inkan"))
    services = services_of(app)
    services.simulation.terminal.auto = "approve"
    payment = start_payment(services.sessions, services.payments, case_id, actor="kiosk:test")
    with transaction(services.sessions) as s:
        refresh_payment(s, services.payments, payment.public_id)
    chief = _logged_in(browser, url, {"width": 1366, "height": 900}, "chief")
    chief.goto(f"{url}/staff/cases/{case_id}/amend")
    chief.fill('[name="juminhyo.copies"]', "2")
    shot(chief, "counter-amend-1-add-copy")
    with chief.expect_navigation():
        chief.click("#save-amendment")
    chief.goto(f"{url}/staff/cases/{case_id}")
    assert "300円" in chief.inner_text("#due")
    chief.fill("#tendered", "300")
    with chief.expect_navigation():
        chief.click("#take-cash")
    assert chief.inner_text("#due") == "なし"
    shot(chief, "counter-amend-2-collected")

    chief.goto(f"{url}/staff/cases/{case_id}/amend")
    chief.check("#remove-inkan")
    with chief.expect_navigation():
        chief.click("#save-amendment")
    chief.goto(f"{url}/staff/cases/{case_id}")
    assert "返金する額 300円" in chief.inner_text("#due")
    chief.check('#refund-difference input[value="provider"]')
    chief.fill("#diff-reason", "印鑑登録証明書は不要")
    shot(chief, "counter-amend-3-refund")
    with chief.expect_navigation():
        chief.click("#give-back")
    assert chief.inner_text("#due") == "なし"
    shot(chief, "counter-amend-4-refunded")
    with services.sessions() as s:
        assert s.get(Case, case_id).fee_yen == 600  # type: ignore[union-attr]
