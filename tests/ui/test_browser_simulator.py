"""The simulator panel in a real browser (Debian's Chromium): a trainer refunds part of a
payment on the terminal's own menu, then reconciles, and sees the service catch up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.ui.browser import BROWSER_MARKS, Served, shot
from tests.ui.staffkit import paid_ticket

pytestmark = BROWSER_MARKS


def test_trainer_refunds_at_the_terminal_and_reconciles(
    serve: Callable[..., Served], page: Any
) -> None:
    """Pick a payment, refund ¥100 at the terminal: the panel shows it as not recorded yet;
    "reconcile now" records it (payment partially refunded); controls are touch-sized."""
    served = serve(sim_terminal_auto="approve", sim_persona="yamada")
    first, second = paid_ticket(served.app), paid_ticket(served.app)
    page.goto(f"{served.url}/sim/?lang=en")
    rows = page.locator("#sim-taken tbody tr")
    assert rows.count() == 2
    assert first["number"] in rows.nth(1).inner_text()  # newest first
    options = page.locator("#sim-refund-payment option")
    assert options.nth(0).inner_text().startswith(second["number"])
    page.select_option("#sim-refund-payment", index=1)
    ref = page.eval_on_selector("#sim-refund-payment", "el => el.value")
    page.fill("#sim-refund-amount", "100")
    page.click("#sim-refund")
    page.wait_for_selector("p.notice")
    assert "Refunded ¥100 at the terminal" in page.inner_text("p.notice")
    row = page.locator(f"#sim-taken tr[data-ref='{ref}']")
    assert "not recorded yet" in row.inner_text()
    shot(page, "en-sim-refund-01-at-terminal")

    page.click("#sim-reconcile")
    page.wait_for_selector("p.notice")
    assert "found in 1 payment." in page.inner_text("p.notice")
    row = page.locator(f"#sim-taken tr[data-ref='{ref}']")
    assert row.get_attribute("data-status") == "partially_refunded"
    assert "not recorded yet" not in row.inner_text()
    small = page.evaluate(
        """() => Array.from(document.querySelectorAll(
                '#sim-refund-payment, #sim-refund-amount, #sim-refund, #sim-reconcile'))
            .filter((el) => el.getBoundingClientRect().height < 44).map((el) => el.id)"""
    )
    assert small == []
    shot(page, "en-sim-refund-02-reconciled")
    page.goto(f"{served.url}/sim/?lang=ja")
    shot(page, "ja-sim-refund")
