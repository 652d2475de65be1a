"""The signed session cookie of every browser surface.

The cookie (Flask's signed session) holds only the language, the kiosk's random visit id
(what the visit accumulates lives in ``application.visits.VisitStore``) and, on the staff
console, who is logged in and the CSRF token. Card data is never in it; neither is a PIN.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask, has_request_context, request
from flask.sessions import SecureCookieSessionInterface

from kiosk.config import Settings
from kiosk.privacy import make_private_dir

SECRET_FILE = "secret_key"


def load_secret_key(settings: Settings) -> str:
    """``KIOSK_SECRET_KEY``, else the data dir's 0600 key file (created on first run)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.data_dir) / SECRET_FILE
    make_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="ascii").strip()


class AutoSecureSessionInterface(SecureCookieSessionInterface):
    """The session cookie gets ``Secure`` whenever the request came over HTTPS (behind a
    TLS proxy that waitress trusts), so the same app works on the kiosk's loopback too."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or (
            has_request_context() and request.is_secure
        )


def init_sessions(app: Flask, settings: Settings) -> None:
    """Signed session cookie: ``HttpOnly``, ``SameSite=Strict``, ``Secure`` over HTTPS."""
    app.secret_key = load_secret_key(settings)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_NAME="kiosk_session",
    )
    app.session_interface = AutoSecureSessionInterface()
