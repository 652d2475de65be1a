"""Live streams in a real browser (Debian's Chromium): the phone redraws its ticket from
stream events without fetching the page again, and a board whose stream is refused falls
back to polling and still shows the call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kiosk.calling import call_next
from kiosk.counters import get_counter
from kiosk.db import transaction
from tests.ui.browser import BROWSER_MARKS, Served, shot
from tests.ui.livekit import SseClient
from tests.ui.staffkit import paid_ticket
from ui.services import services_of

pytestmark = BROWSER_MARKS


def _call(served: Served, counter: str = "1") -> None:
    with transaction(services_of(served.app).sessions) as s:
        call_next(s, get_counter(s, counter), actor="staff:test")


def test_phone_redraws_from_the_stream_without_fetching_the_page(
    serve: Callable[..., Served], browser: Any
) -> None:
    """People ahead and then "called: Counter 2" appear in place, in the page's language,
    while the page itself is never fetched again (its poll is 15 s away)."""
    served = serve(sim_persona="yamada", sim_terminal_auto="approve")
    paid_ticket(served.app)
    mine = paid_ticket(served.app)
    phone = browser.new_page(viewport={"width": 390, "height": 800})
    fetched: list[str] = []
    phone.on("request", lambda r: fetched.append(r.url) if f"/t/{mine['token']}" in r.url else None)
    phone.goto(f"{served.url}/t/{mine['token']}?lang=en")
    assert "1 person" in phone.inner_text("#ticket-state")
    phone.wait_for_function("() => !!document.getElementById('ticket-words')")
    loaded = len(fetched)
    _call(served)
    phone.wait_for_function(
        "() => document.getElementById('ticket-state').innerText.includes('0 people')",
        timeout=3_000,
    )
    _call(served, "2")
    phone.wait_for_selector("#ticket-state .called[role=alert]", timeout=3_000)
    assert "Counter 2" in phone.inner_text("#ticket-state")
    assert phone.locator("#ticket-state .called svg").count() == 1  # the bell icon
    shot(phone, "phone-live-called")
    assert [u for u in fetched[loaded:] if "/events" not in u] == []
    phone.close()


def test_refused_board_polls_and_still_shows_the_call(
    serve: Callable[..., Served], browser: Any
) -> None:
    """With the address's one stream taken, the board's stream gets 429: it shows the state
    by polling ("polling") and a call appears within the polling interval."""
    served = serve(sim_persona="yamada", sim_terminal_auto="approve", events_max_per_address=1)
    ticket = paid_ticket(served.app)
    holder = SseClient(f"http://127.0.0.1:{served.live.server.port}/board/events")
    assert holder.status == 200
    board = browser.new_page(viewport={"width": 1600, "height": 900})
    board.goto(f"{served.url}/board/")
    board.wait_for_selector('#live[data-state="polling"]', timeout=10_000)
    _call(served)
    board.wait_for_function(
        "n => document.querySelector('.b-latest .b-number')?.textContent === n",
        arg=ticket["number"],
        timeout=8_000,
    )
    holder.close()
    board.close()
