"""Calls for help from the kiosks, on every staff console page.

A resident pressed "Call staff" (``kiosk.help``): every console page shows the alert at
once (kiosk, screen, since when) with a sound, until a member of staff acknowledges it
("I'm going"); the kiosk's screen then tells the resident that someone is coming. Pages
follow the alerts live on the event server (``GET /staff/help/events?key=...``, see
``ui.event_server``) with a stream key signed here: the event server has no session of its
own, so the page carries proof that a logged-in member of staff opened it (valid for
:data:`STREAM_KEY_MAX_AGE_S`, kept nowhere, saying only whose page it was). Without a
stream the page asks ``/staff/help.json`` every few seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, flash, g, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeTimedSerializer

from kiosk.clock import utcnow
from kiosk.db import transaction
from kiosk.help import HelpAlert, acknowledge_help, help_board
from kiosk.staff import get_staff
from ui.live_links import stream_url
from ui.staff import bp
from ui.staff.console import back, sessions

STREAM_KEY_SALT = "kiosk.staff-help-stream"
STREAM_KEY_MAX_AGE_S = 12 * 3600
# What staff read for the screen the resident was on.
SCREEN_LABELS: dict[str, Any] = {
    "welcome": _l("Welcome screen"),
    "procedures": _l("Choosing procedures"),
    "fields": _l("Entering details"),
    "card": _l("Placing the card"),
    "pin": _l("Entering the PIN"),
    "check": _l("Checking the application"),
    "pay": _l("Paying"),
    "ticket": _l("Ticket"),
    "take_card": _l("Taking the card back"),
    "printer": _l("The ticket printer cannot print"),
    "other": _l("Another screen"),
}


def _serializer(secret_key: str | bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=STREAM_KEY_SALT)


def stream_key(staff_id: int) -> str:
    """A stream key for the logged-in member of staff's console page (call in a request)."""
    from flask import current_app

    return str(_serializer(current_app.secret_key or "").dumps({"sid": staff_id}))


def staff_stream_key_check(app: Flask) -> Callable[[str], bool]:
    """For the event server: whether a key was signed by this app's console for a member of
    staff, within :data:`STREAM_KEY_MAX_AGE_S`."""
    serializer = _serializer(app.secret_key or "")

    def valid(key: str) -> bool:
        if len(key) > 512:
            return False
        try:
            data = serializer.loads(key, max_age=STREAM_KEY_MAX_AGE_S)
        except BadSignature:  # also SignatureExpired
            return False
        return isinstance(data, dict) and isinstance(data.get("sid"), int)

    return valid


def alert_json(alert: HelpAlert) -> dict[str, Any]:
    """An alert with the words the console shows (the screen's label, local times)."""
    return {
        **alert.to_json(),
        "screen_label": str(SCREEN_LABELS.get(alert.screen, SCREEN_LABELS["other"])),
        "raised_time": format_datetime(alert.raised_at, "HH:mm:ss"),
        "acknowledged_time": (
            format_datetime(alert.acknowledged_at, "HH:mm:ss") if alert.acknowledged_at else None
        ),
        "waited_s": alert.waited_s(),
    }


def _alerts() -> list[HelpAlert]:
    with sessions()() as s:
        return list(help_board(s).alerts)


@bp.context_processor
def _help_context() -> dict[str, Any]:
    """Every console page of a logged-in member of staff gets the alerts and where to
    follow them."""
    staff = g.get("staff")
    if staff is None:
        return {"help_live": None}
    stream = stream_url("/staff/help/events")
    return {
        "help_live": {
            "alerts": [alert_json(a) for a in _alerts()],
            "stream": f"{stream}?key={stream_key(staff.id)}" if stream else "",
            "poll": url_for("staff.help_json"),
            "labels": {code: str(label) for code, label in SCREEN_LABELS.items()},
        }
    }


@bp.get("/help.json")
def help_json() -> ResponseReturnValue:
    """The calls for help now (open, and acknowledged in the last minutes), for a console
    page that has no stream."""
    return jsonify(alerts=[alert_json(a) for a in _alerts()], now=utcnow().isoformat())


@bp.post("/help/<int:help_id>/acknowledge")
def help_acknowledge(help_id: int) -> ResponseReturnValue:
    """ "I'm going": the alert leaves every console and the kiosk tells the resident that
    someone is coming (audited; a second acknowledgement changes nothing)."""
    with transaction(sessions()) as s:
        staff = get_staff(s, g.staff.id)
        outcome = acknowledge_help(s, help_id, staff)
    alert = outcome.alert
    if outcome.acknowledged_now:
        flash(
            _(
                "Thank you. The resident at %(kiosk)s is told that you are coming.",
                kiosk=alert.kiosk_id,
            )
        )
    else:
        flash(
            _(
                "%(name)s is already going to %(kiosk)s.",
                name=alert.acknowledged_by or "",
                kiosk=alert.kiosk_id,
            )
        )
    if request.accept_mimetypes.best == "application/json":
        return jsonify(alert=alert_json(alert), acknowledged_now=outcome.acknowledged_now)
    return back()
