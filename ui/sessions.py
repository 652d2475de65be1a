"""The signed session cookie and the kiosk's server-side visit store.

The cookie (Flask's signed session) holds only the language and a random visit id. What a
visit accumulates (chosen procedures, the fields typed in, the case and payment ids) lives
in :class:`VisitStore`, in this process: one kiosk service runs per kiosk PC (its card
reader is local), so the store is as local as the reader. Card data is never here: it goes
into the case (encrypted at rest by the domain). The PIN is never stored anywhere.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask

from kiosk.config import Settings

SECRET_FILE = "secret_key"


def load_secret_key(settings: Settings) -> str:
    """``KIOSK_SECRET_KEY``, else the data dir's 0600 key file (created on first run)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="ascii").strip()


@dataclass
class Visit:
    """One resident's trip through the kiosk screens (no personal data, no PIN)."""

    id: str
    language: str
    created: float
    touched: float
    procedures: list[str] = field(default_factory=list)
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    case_id: int | None = None
    payment_id: str | None = None
    ticket_token: str | None = None
    card_seen: bool = False


class VisitStore:
    """Visits by id, expiring ``idle_timeout_s`` (plus a grace for the page's own timer)
    after the last request. ``on_expire`` is called for each expired visit (to cancel its
    payment and case) outside the store's lock. Thread-safe."""

    GRACE_S = 15.0

    def __init__(
        self,
        idle_timeout_s: float,
        on_expire: Callable[[Visit], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.on_expire = on_expire
        self._clock = clock
        self._lock = threading.Lock()
        self._visits: dict[str, Visit] = {}

    def start(self, language: str) -> Visit:
        """A new visit with a fresh unguessable id."""
        now = self._clock()
        visit = Visit(secrets.token_urlsafe(24), language, now, now)
        with self._lock:
            self._visits[visit.id] = visit
        self.sweep()
        return visit

    def get(self, visit_id: str | None, *, touch: bool = True) -> Visit | None:
        """The live visit ``visit_id`` (touched unless ``touch`` is False), or None."""
        self.sweep()
        if not visit_id:
            return None
        with self._lock:
            visit = self._visits.get(visit_id)
            if visit is not None and touch:
                visit.touched = self._clock()
            return visit

    def end(self, visit_id: str | None) -> Visit | None:
        """Forget the visit and return it (None if there was none)."""
        if not visit_id:
            return None
        with self._lock:
            return self._visits.pop(visit_id, None)

    def sweep(self) -> list[Visit]:
        """Drop visits idle for longer than the timeout; returns them after ``on_expire``."""
        limit = self._clock() - self.idle_timeout_s - self.GRACE_S
        with self._lock:
            expired = [v for v in self._visits.values() if v.touched < limit]
            for visit in expired:
                del self._visits[visit.id]
        for visit in expired:
            if self.on_expire is not None:
                self.on_expire(visit)
        return expired

    def __len__(self) -> int:
        with self._lock:
            return len(self._visits)


def init_sessions(app: Flask, settings: Settings) -> None:
    """Signed session cookie (``HttpOnly``, ``SameSite=Strict``) and the visit store
    (``app.extensions["kiosk.visits"]``; the kiosk blueprint sets its ``on_expire``)."""
    app.secret_key = load_secret_key(settings)
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_NAME="kiosk_session",
    )
    app.extensions["kiosk.visits"] = VisitStore(settings.idle_timeout_s)
