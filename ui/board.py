"""The display board: latest called numbers with their counters and waiting counts per
queue, on a big screen, with a chime on each call. Numbers only, never names.

Live updates are server-sent events (``/board/events``). The stream learns of calls through
the database, never through this process's memory, so a call made by any instance (another
kiosk PC's service, the API, the CLI) reaches every board: the generator asks for the
newest audit id every :data:`POLL_S` and sends the board state when it changed. A stream
lives at most :data:`STREAM_S` seconds (the browser reconnects at once, ``retry: 1000``), so
a waitress worker thread is never held for ever and shutdown is never blocked for long.

After the chime the board speaks each new call (or recall) in ``KIOSK_ANNOUNCE_LANGUAGES``,
in that order, with audio from ``/api/voice/call.wav`` (offline espeak-ng, ``ui.voice``):
the ticket number and the counter, nothing else. Without a voice it only chimes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template
from flask.typing import ResponseReturnValue

from kiosk.clock import business_day
from kiosk.overview import board_state, change_marker
from ui.services import current_services
from ui.voice import announce_languages

bp = Blueprint("board", __name__, url_prefix="/board")

POLL_S = 0.3
STREAM_S = 30.0
PING_S = 10.0


def _state() -> dict[str, Any]:
    with current_services().sessions() as s:
        return board_state(s, business_day()).to_json()


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'"
    )
    return response


@bp.get("/")
def board() -> ResponseReturnValue:
    """The board page, rendered with the current state (works without JavaScript too)."""
    return render_template(
        "board/board.html", state=_state(), announce_languages=announce_languages()
    )


@bp.get("/state")
def state() -> ResponseReturnValue:
    """The board state as JSON (for clients that poll instead of streaming)."""
    return jsonify(_state())


def board_events(
    sessions: Any, *, poll_s: float = POLL_S, lifetime_s: float = STREAM_S
) -> Iterator[str]:
    """SSE lines: ``board`` events with the state whenever it changed, pings, then ``bye``
    when the stream's lifetime is over. One short read transaction per poll."""
    yield "retry: 1000\n\n"
    deadline = time.monotonic() + lifetime_s
    marker: int | None = None
    sent: dict[str, Any] | None = None
    last_write = time.monotonic()
    while time.monotonic() < deadline:
        with sessions() as s:
            current = change_marker(s)
            fresh = board_state(s, business_day()).to_json() if current != marker else None
        marker = current
        if fresh is not None and fresh != sent:
            sent = fresh
            last_write = time.monotonic()
            yield f"id: {current}\nevent: board\ndata: {json.dumps(fresh, ensure_ascii=False)}\n\n"
        elif time.monotonic() - last_write > PING_S:
            last_write = time.monotonic()
            yield ": ping\n\n"
        time.sleep(poll_s)
    yield "event: bye\ndata: {}\n\n"


@bp.get("/events")
def events() -> ResponseReturnValue:
    """Server-sent events: the board state on every change (within ~0.3 s of the commit)."""
    config = current_app.config
    stream = board_events(
        current_services().sessions,
        poll_s=float(config.get("BOARD_POLL_S", POLL_S)),
        lifetime_s=float(config.get("BOARD_STREAM_S", STREAM_S)),
    )
    response = Response(stream, mimetype="text/event-stream")
    response.headers["X-Accel-Buffering"] = "no"
    return response
