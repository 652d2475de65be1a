"""The display board: latest called numbers with their counters and waiting counts per
queue, on a big screen, with a chime on each call. Numbers only, never names.

Live updates are server-sent events from the event server (``ui.event_server``, fed by the
process's one hub, ``application.live``), which holds no worker thread; the page gets the
stream's URL (``ui.live_links``) and polls ``/board/state`` when it has none or loses it.
``/board/events`` on this (WSGI) app is only kept for pages loaded before that move: it
answers at once with the current state and a retry hint, and is never held open.

After the chime the board speaks each new call (or recall) in ``KIOSK_ANNOUNCE_LANGUAGES``,
in that order, with audio from ``/api/voice/call.wav`` (offline espeak-ng, ``ui.voice``):
the ticket number and the counter, nothing else. Without a voice it only chimes.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, render_template
from flask.typing import ResponseReturnValue

from kiosk.clock import business_day
from kiosk.overview import board_state
from ui.live_links import stream_url
from ui.services import current_services
from ui.voice import announce_languages

bp = Blueprint("board", __name__, url_prefix="/board")

# Pages from before the event server reconnect to /board/events this often (ms).
COMPAT_RETRY_MS = 5000


def _state() -> dict[str, Any]:
    with current_services().sessions() as s:
        return board_state(s, business_day()).to_json()


@bp.after_request
def _headers(response: Response) -> Response:
    # CSP (with the live stream's origin), frames, sniffing: the app's (ui.headers).
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
def board() -> ResponseReturnValue:
    """The board page, rendered with the current state (works without JavaScript too)."""
    return render_template(
        "board/board.html",
        state=_state(),
        announce_languages=announce_languages(),
        events_url=stream_url("/board/events"),
    )


@bp.get("/state")
def state() -> ResponseReturnValue:
    """The board state as JSON (for clients that poll instead of streaming)."""
    return jsonify(_state())


@bp.get("/events")
def events() -> ResponseReturnValue:
    """For board pages loaded before the streams moved to the event server: the current
    state once and a retry hint, then the response ends (it never holds a worker)."""
    body = (
        f"retry: {COMPAT_RETRY_MS}\n\n"
        f"event: board\ndata: {json.dumps(_state(), ensure_ascii=False)}\n\n"
    )
    response = Response(body, mimetype="text/event-stream")
    response.headers["X-Accel-Buffering"] = "no"
    return response
