"""Log in and log out of the staff console (a new session on log-in: no fixation).

The session carries the account's ``session_version`` (``kiosk.staff``): logging out ends
every console session and API token of the account on the server, so a cookie captured
before the log-out opens nothing afterwards."""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlsplit

from flask import g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from kiosk.db import transaction
from kiosk.staff import actor_of, authenticate, end_sessions, get_staff
from ui.errors import describe
from ui.staff import bp
from ui.staff.console import forget_staff, sessions


@bp.get("/login")
def login() -> ResponseReturnValue:
    """The log-in form."""
    if g.staff is not None:
        return redirect(url_for("staff.overview"))
    return render_template("staff/login.html", next=request.args.get("next", ""))


@bp.post("/login")
def login_submit() -> ResponseReturnValue:
    """Check the password (failures counted per address, lock-out of that address after
    five); a new session on success (no fixation: the old session's content is dropped)."""
    username = request.form.get("username", "").strip()[:64]
    password = request.form.get("password", "")
    with transaction(sessions()) as s:
        result = authenticate(s, username, password, address=request.remote_addr or "")
    if result.staff is None:
        code = "account_locked" if result.locked_until else "login_failed"
        _c, status, message = describe(code)
        return render_template("staff/login.html", error=message, next="", username=username), (
            status
        )
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    session["staff_id"] = result.staff.id
    session["staff_ver"] = result.staff.session_version
    session["staff_seen"] = time.time()
    session["csrf"] = secrets.token_urlsafe(32)
    target = request.form.get("next", "")
    if target.startswith("/staff") and not urlsplit(target).netloc and "login" not in target:
        return redirect(target)
    return redirect(url_for("staff.counter"))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the staff member's sessions: this one and every other console session and API
    token of the account (the server forgets them, not only this browser)."""
    if g.staff is not None:
        with transaction(sessions()) as s:
            staff = get_staff(s, g.staff.id)
            end_sessions(s, staff, actor=actor_of(staff), reason="logout")
    forget_staff()
    session.pop("csrf", None)
    return redirect(url_for("staff.login"))
