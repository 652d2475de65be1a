"""Display board: live calls over server-sent events from the event server (fed through the
database by the process's hub), numbers only; the WSGI app never holds a stream open."""

from __future__ import annotations

import json
import re
import time

import pytest

from kiosk.calling import call_next
from kiosk.counters import get_counter
from kiosk.db import transaction
from tests.ui.livekit import SseClient, start_live
from tests.ui.staffkit import PERSONA_NAME, paid_ticket
from ui.services import services_of


@pytest.fixture
def app(make_app):
    """The board's app (simulator, auto-approving payments)."""
    return make_app(sim_terminal_auto="approve")


@pytest.fixture
def live(app):
    """The app's hub and event server, as ``kiosk serve`` starts them."""
    service = start_live(app)
    yield service
    service.stop()


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


def test_stream_shows_a_call_made_by_another_app_instance_within_a_second(app, make_app, live):
    """A call committed by a second app on the same database reaches the stream in < 1 s."""
    info = paid_ticket(app)
    other = make_app(sim_terminal_auto="approve")  # another instance, same database file
    board = SseClient(f"http://127.0.0.1:{live.server.port}/board/events")
    assert board.status == 200
    assert board.headers["content-type"].startswith("text/event-stream")
    _, kind, first = board.wait_for(lambda kind, _data: kind == "board")
    assert first["calls"] == [] and first["waiting"][0]["waiting"] == 1
    with transaction(services_of(other).sessions) as s:
        call_next(s, get_counter(s, "2"), actor="staff:other")
    called_at = time.monotonic()
    seen_at, _, state = board.wait_for(lambda kind, data: kind == "board" and data["calls"])
    assert state["calls"][0]["number"] == info["number"]
    assert state["calls"][0]["counter"] == "2"
    assert seen_at - called_at < 1.0
    assert all(PERSONA_NAME not in data for _, _, data in board.events)
    board.close()


def test_wsgi_board_events_answers_at_once_and_ends(app):
    """``/board/events`` on the WSGI app (pages from before the event server) sends the
    state once with a retry hint and ends: it cannot hold a worker thread."""
    paid_ticket(app)
    started = time.monotonic()
    response = app.test_client().get("/board/events", buffered=False)
    body = b"".join(response.response).decode()
    response.close()
    assert time.monotonic() - started < 2
    assert response.mimetype == "text/event-stream"
    assert body.startswith("retry: 5000")
    data = json.loads(re.search(r"event: board\ndata: (.*)\n\n", body).group(1))
    assert data["waiting"][0]["waiting"] == 1 and data["calls"] == []


def test_board_page_points_at_the_event_server_and_allows_it(app, live):
    """Embedded default: the page streams from its own host name on the event port, and
    the CSP's connect-src allows exactly that origin."""
    response = app.test_client().get("/board/", base_url="http://127.0.0.1:8080")
    html = response.get_data(as_text=True)
    url = f"http://127.0.0.1:{live.server.port}/board/events"
    assert f'data-events="{url}"' in html
    assert 'data-state="/board/state"' in html
    csp = response.headers["Content-Security-Policy"]
    assert f"connect-src 'self' http://127.0.0.1:{live.server.port};" in csp


def test_behind_the_proxy_the_page_streams_from_its_own_origin(make_app):
    """``KIOSK_EVENTS_URL=/`` (reverse proxy): same-origin path, connect-src 'self'; with
    no event server and no setting the page has no stream and polls."""
    proxied = make_app(events_url="/")
    response = proxied.test_client().get("/board/")
    assert 'data-events="/board/events"' in response.get_data(as_text=True)
    assert "connect-src 'self';" in response.headers["Content-Security-Policy"]
    alone = make_app()
    assert 'data-events=""' in alone.test_client().get("/board/").get_data(as_text=True)


def test_chime_and_live_script_are_served_locally(app):
    """The board's script (SSE + polling fallback + Web Audio chime) and styles come from
    this app, no CDN."""
    html = app.test_client().get("/board/").get_data(as_text=True)
    assert "/static/board.js" in html and "https://" not in html
    with app.test_client().get("/static/board.js") as script:
        js = script.get_data(as_text=True)
    assert "EventSource" in js and "createOscillator" in js and "data-state" in js
