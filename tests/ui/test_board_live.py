"""Display board: live calls over server-sent events through the database, numbers only."""

from __future__ import annotations

import json
import threading
import time

import pytest

from kiosk.calling import call_next
from kiosk.counters import get_counter
from kiosk.db import transaction
from tests.ui.staffkit import PERSONA_NAME, paid_ticket
from ui.services import services_of


@pytest.fixture
def app(make_app):
    """The board's app (simulator, auto-approving payments) with a short stream lifetime."""
    app = make_app(sim_terminal_auto="approve")
    app.config["BOARD_STREAM_S"] = 4.0
    return app


def _read_events(response, sink: list, stop: threading.Event) -> None:
    buffer = ""
    for chunk in response.response:
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            lines = dict(
                line.split(": ", 1)
                for line in block.splitlines()
                if ": " in line and line[0] != ":"
            )
            if lines.get("event"):
                sink.append((time.monotonic(), lines["event"], lines.get("data", "")))
        if stop.is_set():
            break


def test_board_page_shows_numbers_and_counters_never_names(app):
    """The board page lists the called number with its counter and no personal data."""
    info = paid_ticket(app)
    with transaction(services_of(app).sessions) as s:
        call_next(s, get_counter(s, "1"), actor="staff:test")
    html = app.test_client().get("/board/").get_data(as_text=True)
    assert info["number"] in html and "1番窓口" in html
    assert PERSONA_NAME not in html
    state = app.test_client().get("/board/state").get_json()
    assert state["calls"][0]["number"] == info["number"]
    assert PERSONA_NAME not in json.dumps(state, ensure_ascii=False)


def test_sse_shows_a_call_made_by_another_app_instance_within_a_second(app, make_app):
    """A call committed by a second app on the same database reaches the stream in < 1 s."""
    info = paid_ticket(app)
    other = make_app(sim_terminal_auto="approve")  # another instance, same database file
    response = app.test_client().get("/board/events", buffered=False)
    assert response.mimetype == "text/event-stream"
    events: list = []
    stop = threading.Event()
    reader = threading.Thread(target=_read_events, args=(response, events, stop), daemon=True)
    reader.start()
    deadline = time.monotonic() + 3
    while not events and time.monotonic() < deadline:
        time.sleep(0.02)
    assert events and events[0][1] == "board"  # the initial state
    assert json.loads(events[0][2])["calls"] == []
    with transaction(services_of(other).sessions) as s:
        call_next(s, get_counter(s, "2"), actor="staff:other")
    called_at = time.monotonic()
    while time.monotonic() < called_at + 2 and len(events) < 2:
        time.sleep(0.02)
    stop.set()
    assert len(events) >= 2, events
    seen_at, kind, data = events[1]
    board = json.loads(data)
    assert kind == "board"
    assert board["calls"][0]["number"] == info["number"]
    assert board["calls"][0]["counter"] == "2"
    assert seen_at - called_at < 1.0
    assert PERSONA_NAME not in data
    reader.join(timeout=6)
    response.close()


def test_sse_stream_ends_after_its_lifetime_with_a_retry_hint(app):
    """A stream says retry and ends by itself (bounded life: shutdown never waits long)."""
    app.config["BOARD_STREAM_S"] = 0.5
    response = app.test_client().get("/board/events", buffered=False)
    started = time.monotonic()
    body = b"".join(response.response).decode()
    response.close()
    assert body.startswith("retry: 1000")
    assert "event: bye" in body
    assert time.monotonic() - started < 3


def test_chime_and_live_script_are_served_locally(app):
    """The board's script (SSE + Web Audio chime) and styles come from this app, no CDN."""
    html = app.test_client().get("/board/").get_data(as_text=True)
    assert "/static/board.js" in html and "https://" not in html
    with app.test_client().get("/static/board.js") as script:
        js = script.get_data(as_text=True)
    assert "EventSource" in js and "createOscillator" in js
