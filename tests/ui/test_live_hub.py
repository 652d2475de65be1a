"""The hub (``application.live.LiveHub``) on its own: bursts of changes make few reads, a
database that fails for a while is waited out, tickets nobody watches are not read."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from application.live import LiveHub, LiveUpdate
from kiosk.calling import call_next
from kiosk.counters import get_counter
from kiosk.db import transaction
from tests.ui.staffkit import paid_ticket
from ui.services import services_of


class Listener:
    def __init__(self) -> None:
        self.updates: list[LiveUpdate] = []
        self.lock = threading.Lock()

    def publish(self, update: LiveUpdate) -> None:
        with self.lock:
            self.updates.append(update)

    def wait_for(self, predicate: Any, timeout: float = 3.0) -> LiveUpdate:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for update in self.updates:
                    if predicate(update):
                        return update
            time.sleep(0.01)
        raise AssertionError(f"no such update: {self.updates[-3:]}")


@pytest.fixture
def app(make_app):
    return make_app(sim_terminal_auto="approve")


def _hub(app: Any, sessions: Any = None, **options: float) -> tuple[LiveHub, Listener]:
    hub = LiveHub(services_of(app).engine, sessions or services_of(app).sessions, **options)
    listener = Listener()
    hub.add_listener(listener)
    return hub.start(), listener


def test_a_burst_of_changes_is_read_a_few_times_not_once_each(app):
    """Twelve tickets issued and called in quick succession: the board ends right, after
    far fewer full reads than changes (reads are at least min_interval_s apart)."""
    hub, listener = _hub(app, poll_s=0.02, refresh_s=60, min_interval_s=0.5)
    try:
        listener.wait_for(lambda u: u.board is not None)
        before = hub.reads
        started = time.monotonic()
        tickets = [paid_ticket(app) for _ in range(6)]
        for _ in range(6):
            with transaction(services_of(app).sessions) as s:
                call_next(s, get_counter(s, "1"), actor="staff:test")
        listener.wait_for(
            lambda u: (
                u.board is not None
                and u.board["calls"]
                and u.board["calls"][0]["number"] == tickets[-1]["number"]
            )
        )
        elapsed = time.monotonic() - started
        assert hub.reads - before <= elapsed / 0.5 + 2
    finally:
        hub.stop()


def test_a_failing_database_is_waited_out(app):
    """Reads that fail (the database away) are retried; once it is back the board comes."""
    real = services_of(app).sessions
    failures = [3]

    def flaky() -> Any:
        if failures[0] > 0:
            failures[0] -= 1
            raise OperationalError("SELECT 1", {}, Exception("database is away"))
        return real()

    hub, listener = _hub(app, sessions=flaky, poll_s=0.05, refresh_s=1, min_interval_s=0.05)
    try:
        update = listener.wait_for(lambda u: u.board is not None, timeout=10)
        assert update.board["calls"] == []
        assert hub.running and failures[0] == 0
    finally:
        hub.stop()
    assert not hub.running


def test_views_for_watched_tokens_only_and_none_for_unknown(app):
    """A watched token gets its view, an unknown one None; an unwatched one is not read
    again after a change."""
    first, second = paid_ticket(app), paid_ticket(app)
    hub, listener = _hub(app, poll_s=0.02, refresh_s=60, min_interval_s=0.02)
    try:
        hub.watch(first["token"])
        hub.watch("no-such-token")
        listener.wait_for(
            lambda u: "no-such-token" in u.tickets and u.tickets["no-such-token"] is None
        )
        listener.wait_for(lambda u: (u.tickets.get(first["token"]) or {}).get("people_ahead") == 0)
        hub.watch(second["token"])
        listener.wait_for(lambda u: (u.tickets.get(second["token"]) or {}).get("people_ahead") == 1)
        hub.unwatch(second["token"])
        mark = len(listener.updates)
        with transaction(services_of(app).sessions) as s:
            call_next(s, get_counter(s, "1"), actor="staff:test")
        listener.wait_for(lambda u: (u.tickets.get(first["token"]) or {}).get("status") == "called")
        assert all(second["token"] not in u.tickets for u in listener.updates[mark:])
        assert hub.status()["tickets_watched"] == 2  # first and the unknown one
    finally:
        hub.stop()
