"""The phone follows its ticket live: one view per ticket from the hub's per-queue read,
pushed on every change (people ahead, called to counter N), never one query per phone."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from sqlalchemy import event

from kiosk.calling import call_next, complete, start_serving
from kiosk.counters import get_counter
from kiosk.db import transaction
from kiosk.tickets import get_ticket
from tests.ui.livekit import SseClient, start_live
from tests.ui.staffkit import PERSONA_NAME, paid_ticket
from ui.services import services_of


@pytest.fixture
def app(make_app):
    return make_app(sim_terminal_auto="approve")


@pytest.fixture
def live(app):
    service = start_live(app)
    yield service
    service.stop()


def _call(app, counter: str = "1"):
    with transaction(services_of(app).sessions) as s:
        return call_next(s, get_counter(s, counter), actor="staff:test").id


def test_phone_stream_follows_the_ticket_to_the_counter(app, live):
    """People ahead falls as others are called; then "called to counter 2" with the
    counter's names; at the end ``end``; no personal data on the way."""
    first, second, mine = paid_ticket(app), paid_ticket(app), paid_ticket(app)
    phone = SseClient(f"http://127.0.0.1:{live.server.port}/t/{mine['token']}/events")
    assert phone.status == 200
    _, _, view = phone.wait_for(lambda kind, _data: kind == "ticket")
    assert view["number"] == mine["number"] and view["status"] == "waiting"
    assert view["people_ahead"] == 2 and view["counter"] is None
    assert _call(app) == first["ticket_id"]
    phone.wait_for(lambda kind, data: kind == "ticket" and data["people_ahead"] == 1)
    assert _call(app) == second["ticket_id"]
    phone.wait_for(lambda kind, data: kind == "ticket" and data["people_ahead"] == 0)
    assert _call(app, "2") == mine["ticket_id"]
    called_at = time.monotonic()
    seen_at, _, view = phone.wait_for(lambda kind, data: data and data["status"] == "called")
    assert seen_at - called_at < 1.0
    assert view["counter"]["ja"] == "2番窓口" and view["counter"]["en"] == "Counter 2"
    with transaction(services_of(app).sessions) as s:
        ticket = get_ticket(s, mine["ticket_id"])
        start_serving(s, ticket, actor="staff:test")
        complete(s, ticket, actor="staff:test")
    phone.wait_for(lambda kind, _data: kind == "end")
    assert phone.ended.wait(2)
    assert [e for _, e, _ in phone.events if e == "ticket"][-1:] == ["ticket"]
    assert json.loads(phone.events[-2][2])["status"] == "done"
    assert all(PERSONA_NAME not in data for _, _, data in phone.events)
    later = SseClient(f"http://127.0.0.1:{live.server.port}/t/{mine['token']}/events")
    assert later.ended.wait(3)  # a finished ticket: its view, then the stream ends
    assert [e for _, e, _ in later.events] == ["ticket", "end"]


def test_unknown_or_malformed_token_is_404(live):
    """No stream for a token that is no ticket's (nor for a malformed one)."""
    base = f"http://127.0.0.1:{live.server.port}"
    assert SseClient(f"{base}/t/{'A' * 43}/events").status == 404
    assert SseClient(f"{base}/t/{'A' * 65}/events").status == 404
    assert SseClient(f"{base}/t/a.b/events").status == 404
    assert live.server.streams == 0


def test_many_phones_and_boards_cost_the_hub_the_same_reads(app, live):
    """With 30 phones on 30 tickets and 10 boards, a change costs the hub a handful of
    statements (one read for everyone), and every phone gets its own new place."""
    tickets = [paid_ticket(app) for _ in range(30)]
    base = f"http://127.0.0.1:{live.server.port}"
    # From four loopback addresses: 40 streams from one would pass its cap of 20.
    phones = [
        SseClient(f"{base}/t/{t['token']}/events", source_address=f"127.0.0.{2 + i % 4}")
        for i, t in enumerate(tickets)
    ]
    boards = [
        SseClient(f"{base}/board/events", source_address=f"127.0.0.{2 + i % 4}") for i in range(10)
    ]
    assert {c.status for c in phones + boards} == {200}
    for i, phone in enumerate(phones):
        phone.wait_for(lambda kind, data, i=i: kind == "ticket" and data["people_ahead"] == i)
    for board in boards:
        board.wait_for(lambda kind, _data: kind == "board")
    hub = live.hub
    statements = [0]
    lock = threading.Lock()

    def _count(*_args: object) -> None:
        if threading.current_thread().name == "kiosk-live-hub":
            with lock:
                statements[0] += 1

    engine = services_of(app).engine
    time.sleep(0.3)  # the hub settles (its first reads for the new phones are done)
    event.listen(engine, "before_cursor_execute", _count)
    try:
        reads_before = hub.reads
        _call(app)
        for i, phone in enumerate(phones[1:]):
            phone.wait_for(lambda kind, data, i=i: kind == "ticket" and data["people_ahead"] == i)
        for board in boards:
            board.wait_for(lambda kind, data: kind == "board" and data["calls"])
        reads = hub.reads - reads_before
    finally:
        event.remove(engine, "before_cursor_execute", _count)
    assert reads >= 1
    # A read: the marker poll, the board (calls, counts, queues), the tickets, one queue's
    # line and estimate inputs; marker polls (every 50 ms here) come on top.
    assert statements[0] <= reads * 12 + 40, (statements[0], reads)
    for client in phones + boards:
        client.close()


def test_phone_page_gives_the_stream_and_its_words(app, live):
    """The status page names its stream, allows it in the CSP and carries its words (in
    the page's language, placeholders kept) for redrawing from an event."""
    mine = paid_ticket(app)
    response = app.test_client().get(
        f"/t/{mine['token']}?lang=en", base_url="http://127.0.0.1:8080"
    )
    html = response.get_data(as_text=True)
    assert f'data-events="http://127.0.0.1:{live.server.port}/t/{mine["token"]}/events"' in html
    csp = response.headers["Content-Security-Policy"]
    assert f"connect-src 'self' http://127.0.0.1:{live.server.port};" in csp
    assert "frame-ancestors 'none'" in csp
    words = json.loads(
        re.search(r'<script type="application/json" id="ticket-words">(.*?)</script>', html).group(
            1
        )
    )
    assert words["lang"] == "en"
    assert words["people"] == ["%(num)d person", "%(num)d people"]
    assert "%(counter)s" in words["called"]
    ja = app.test_client().get(f"/t/{mine['token']}?lang=ja").get_data(as_text=True)
    assert "%(counter)s" in ja and '"lang": "ja"' in ja
