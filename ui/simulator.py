"""The simulator panel (registered only when the card reader or the payments are simulated).

Demo and staff training: put a persona's card on the reader or take it away, see and set its
PIN tries, inject card faults, and act at the simulated payment terminal (approve, decline,
time out). Each form posts one action and comes back to the panel.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest

bp = Blueprint("simulator", __name__, url_prefix="/sim")

TEXT_PIN = 0x0011  # the card-info-input-support PIN the kiosk uses
DECLINE_CODES = ("card_declined", "insufficient_funds", "expired_card")


def _rig() -> Any:
    return current_app.extensions.get("kiosk.card_simulator")


def _terminal() -> Any:
    return getattr(current_app.extensions.get("kiosk.payments"), "terminal", None)


@bp.after_request
def _no_store(response):  # type: ignore[no-untyped-def]
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
def panel() -> ResponseReturnValue:
    """Reader, card, faults and terminal at a glance."""
    rig, terminal = _rig(), _terminal()
    card = rig.card if rig is not None else None
    return render_template(
        "simulator/panel.html",
        rig=rig,
        persona=rig.persona if rig is not None else None,
        personas=sorted(rig.personas.values(), key=lambda p: p.key) if rig is not None else [],
        tries=card.tries_left(TEXT_PIN) if card is not None else None,
        faults=rig.faults if rig is not None else None,
        terminal=terminal,
        current=terminal.current if terminal is not None else None,
        decline_codes=DECLINE_CODES,
    )


def _int(name: str, low: int, high: int) -> int:
    try:
        value = int(request.form.get(name, ""))
    except ValueError:
        raise BadRequest(f"{name}: not a number") from None
    if not low <= value <= high:
        raise BadRequest(f"{name}: out of range")
    return value


@bp.post("/card")
def card_action() -> ResponseReturnValue:
    """insert (persona), remove, tries (set the PIN tries left)."""
    rig = _rig()
    if rig is None:
        raise BadRequest("no simulated reader")
    action = request.form.get("action")
    if action == "insert":
        key = request.form.get("persona", "")
        if key not in rig.personas:
            raise BadRequest("unknown persona")
        rig.insert(key)
        flash(_("Card inserted."))
    elif action == "remove":
        rig.remove()
        flash(_("Card removed."))
    elif action == "tries":
        if rig.card is None:
            raise BadRequest("no card")
        rig.card.set_tries(TEXT_PIN, _int("tries", 0, 3))
        flash(_("PIN tries set."))
    else:
        raise BadRequest("unknown action")
    return redirect(url_for("simulator.panel"))


@bp.post("/faults")
def faults_action() -> ResponseReturnValue:
    """Set or clear card faults: pull after N commands, delay, corrupt, hang."""
    rig = _rig()
    if rig is None:
        raise BadRequest("no simulated reader")
    if request.form.get("action") == "clear":
        rig.faults.clear()
    else:
        remove_after = request.form.get("remove_after", "").strip()
        rig.faults.set(
            remove_after=_int("remove_after", 0, 100) if remove_after else None,
            delay_s=_int("delay_ms", 0, 5000) / 1000 if request.form.get("delay_ms") else 0.0,
            corrupt=request.form.get("corrupt") == "on",
            hang=request.form.get("hang") == "on",
        )
    flash(_("Card faults updated."))
    return redirect(url_for("simulator.panel"))


@bp.post("/terminal")
def terminal_action() -> ResponseReturnValue:
    """Act at the terminal on the payment it shows: approve, decline (code), time out."""
    terminal = _terminal()
    if terminal is None or terminal.current is None:
        flash(_("No payment is waiting on the terminal."))
        return redirect(url_for("simulator.panel")), 303
    action = request.form.get("action")
    if action == "approve":
        terminal.approve()
    elif action == "decline":
        code = request.form.get("code", "card_declined")
        if code not in DECLINE_CODES:
            raise BadRequest("unknown decline code")
        terminal.decline(code)
    elif action == "time_out":
        terminal.time_out()
    else:
        raise BadRequest("unknown action")
    flash(_("Terminal: done."))
    return redirect(url_for("simulator.panel"))
