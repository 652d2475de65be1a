"""Live updates for display boards and residents' phones: one hub per process.

Why this shape. Boards and phones keep a stream open for as long as they are shown; a ward
has several boards and every waiting resident may follow their ticket, and anyone on the
LAN can open more. When each stream held a waitress worker thread and polled the database
itself, 16 open boards froze the whole service. Now:

* **One hub per process** (:class:`LiveHub`, a background thread) learns that something
  changed and reads what the screens show **once per change for all of them**: the board
  state (:func:`kiosk.overview.board_state`) and the phone view of every watched ticket
  (:func:`kiosk.snapshots.ticket_views`: one read of each watched queue's waiting line,
  never one query per phone). It hands the result to its listeners, which fan it out.
* **Learning of changes** goes through the database, never through process memory, so a
  call made by any process (another kiosk PC's service, the CLI) reaches every board:
  on PostgreSQL the hub ``LISTEN``s on :data:`CHANNEL`; triggers on ``tickets``,
  ``counters`` and ``queues`` (migration 0005) ``pg_notify`` in the same transaction as the
  change, so the notice arrives exactly when the change is committed and visible. On SQLite
  (one machine) the hub reads the newest audit id (``kiosk.overview.change_marker``, a
  primary-key lookup, about 0.3 ms) every :attr:`LiveHub.poll_s` (0.1 s): writers there are
  serialised, so that id moves with every committed ticket change. Either way the hub also re-reads
  everything every :attr:`LiveHub.refresh_s` (a lost connection, a notice missed while
  reconnecting, the business day turning over at midnight) and sends only what differs.
* **Help at the kiosks** rides along: each full read also reads the open "Call staff"
  requests and those acknowledged lately (:func:`kiosk.help.help_board`, one indexed
  read), for every staff console and for the kiosk waiting to hear that someone is coming.
  Raising and acknowledging write audit rows (SQLite's marker moves) and, on PostgreSQL,
  notify through the trigger of migration 0006.
* **Bursts are coalesced**: changes arriving while the hub reads, or within
  :attr:`LiveHub.min_interval_s` of the last read, make one more read, not one each. A
  board gets the newest state; it never needs the ones in between (it shows the latest
  calls and counts, and finds new calls by comparing).
* **Streams are served asynchronously** beside the WSGI app (``ui.event_server``: aiohttp
  on its own event loop in a thread of the same process), where an open stream costs a
  socket and a few hundred bytes, not a thread: hundreds per process, capped per client
  address and in total. waitress keeps its threads for the kiosk, staff and API requests.

:func:`start_live_updates` starts the hub and the event server for an app and returns the
:class:`LiveService` whose ``stop()`` ends both; ``kiosk serve`` calls it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from kiosk.clock import business_day
from kiosk.help import help_board
from kiosk.overview import board_state, change_marker
from kiosk.snapshots import ticket_ids_by_token, ticket_views

log = logging.getLogger(__name__)

# The PostgreSQL notification channel the triggers of migration 0005 notify.
CHANNEL = "kiosk_changes"


@dataclass(frozen=True)
class LiveUpdate:
    """What changed since the previous update.

    ``board``: the new board state (``BoardState.to_json()``), None when unchanged.
    ``tickets``: phone token -> the ticket's new view (``TicketView.to_json()``), or None
    when there is no ticket with that token (the stream should end: not found).
    ``help``: the help requests now (``HelpBoard.to_json()``), None when unchanged.
    """

    board: dict[str, Any] | None = None
    tickets: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    help: dict[str, Any] | None = None


class LiveListener(Protocol):
    """Receives the hub's updates (the event server)."""

    def publish(self, update: LiveUpdate) -> None:
        """Called on the hub's thread after each read that found a difference. Must return
        at once (hand the update to its own thread or loop) and must not raise."""
        ...


class LiveHub:
    """The process's one watcher of the queues (see the module docstring).

    Thread-safe: :meth:`watch`, :meth:`unwatch` and :meth:`board` may be called from any
    thread; listeners are called on the hub's own thread.
    """

    def __init__(
        self,
        engine: Engine,
        sessions: sessionmaker[Session],
        *,
        poll_s: float = 0.1,
        refresh_s: float = 5.0,
        min_interval_s: float = 0.2,
    ) -> None:
        self.poll_s = poll_s
        self.refresh_s = refresh_s
        self.min_interval_s = min_interval_s
        self._engine = engine
        self._sessions = sessions
        self._listen = engine.url.get_backend_name() == "postgresql"
        self._listeners: list[LiveListener] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._dirty = True
        self._wanted: set[str] = set()  # tokens some stream shows
        self._fresh: set[str] = set()  # tokens whose view must be sent at the next read
        self._ids: dict[str, int] = {}  # token -> ticket id, once read
        self._views: dict[str, dict[str, Any]] = {}  # token -> last view sent
        self._board: dict[str, Any] | None = None
        self._help: dict[str, Any] | None = None
        self._marker: int | None = None
        self._listening = False
        self._threads: list[threading.Thread] = []
        self.reads = 0  # full reads made (for tests and benchmarks)

    # --- life -----------------------------------------------------------------------------

    def start(self) -> LiveHub:
        """Start the hub's thread (and on PostgreSQL its listener); the first read of the
        board happens at once on that thread."""
        worker = threading.Thread(target=self._run, name="kiosk-live-hub", daemon=True)
        self._threads = [worker]
        if self._listen:
            conninfo = self._engine.url.set(drivername="postgresql").render_as_string(
                hide_password=False
            )
            self._threads.append(
                threading.Thread(
                    target=self._listen_loop,
                    args=(conninfo,),
                    name="kiosk-live-listen",
                    daemon=True,
                )
            )
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the threads (the listener ends within about a second)."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=timeout)

    @property
    def running(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def status(self) -> dict[str, Any]:
        """For ``/healthz``: running, how it learns of changes, tickets watched."""
        return {
            "running": self.running,
            "source": "listen" if self._listen else "poll",
            "listening": self._listening if self._listen else None,
            "tickets_watched": len(self._wanted),
        }

    # --- subscribers ----------------------------------------------------------------------

    def add_listener(self, listener: LiveListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def board(self) -> dict[str, Any] | None:
        """The latest board state read (None before the first read)."""
        return self._board

    def help(self) -> dict[str, Any] | None:
        """The latest help requests read (``HelpBoard.to_json()``; None before the first
        read)."""
        return self._help

    def watch(self, token: str) -> None:
        """Follow the ticket of ``token``: its view (or None: no such ticket) comes in an
        update soon, and again whenever it changes."""
        with self._lock:
            self._wanted.add(token)
            self._fresh.add(token)
        self._wake.set()

    def unwatch(self, token: str) -> None:
        """Stop following ``token`` (nobody shows it any more)."""
        with self._lock:
            self._wanted.discard(token)
            self._fresh.discard(token)
            self._ids.pop(token, None)
            self._views.pop(token, None)

    def changed(self) -> None:
        """Something may have changed: read again soon (the listener's and tests' way in)."""
        self._dirty = True
        self._wake.set()

    # --- the hub's thread -----------------------------------------------------------------

    def _run(self) -> None:
        last_read = float("-inf")
        next_refresh = 0.0
        next_poll = 0.0
        failures = 0
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                if not self._listen and now >= next_poll:
                    next_poll = now + self.poll_s
                    self._poll_marker()
                if now >= next_refresh:
                    self._dirty = True
                with self._lock:
                    pending = bool(self._fresh)
                if self._dirty and now - last_read >= self.min_interval_s:
                    self._dirty = False
                    last_read = now
                    next_refresh = now + self.refresh_s
                    self._read(full=True)
                elif pending:
                    self._read(full=False)
                failures = 0
            except Exception as e:  # noqa: BLE001 - the hub must outlive any failed read
                # The database is away (restart, network, a busy SQLite file): keep the
                # screens as they are and try again; say so once per streak, without details
                # that could carry data.
                failures += 1
                self._dirty = True
                if failures == 1:
                    log.warning("live updates: database read failed (%s)", type(e).__name__)
                self._stop.wait(min(5.0, 0.5 * failures))
                continue
            waits = [next_refresh - now]
            if not self._listen:
                waits.append(next_poll - now)
            if self._dirty:
                waits.append(last_read + self.min_interval_s - now)
            self._wake.wait(max(0.0, min(waits)))
            self._wake.clear()

    def _poll_marker(self) -> None:
        with self._sessions() as s:
            marker = change_marker(s)
        if marker != self._marker:
            self._marker = marker
            self._dirty = True

    def _read(self, *, full: bool) -> None:
        """Read the board (``full``) and the views of the tickets watched (all of them when
        ``full``, else only newly asked ones); publish what differs."""
        with self._lock:
            fresh, self._fresh = self._fresh, set()
            unknown = {t for t in fresh if t not in self._ids}
            ids = {t: self._ids[t] for t in (self._wanted if full else fresh) if t in self._ids}
        with self._sessions() as s:
            board = board_state(s, business_day()).to_json() if full else None
            help_now = help_board(s).to_json() if full else None
            found = ticket_ids_by_token(s, unknown) if unknown else {}
            ids.update(found)
            views = ticket_views(s, set(ids.values())) if ids else {}
        if full:
            self.reads += 1
        new_board = new_help = None
        if board is not None and board != self._board:
            self._board = new_board = board
        if help_now is not None and help_now != self._help:
            self._help = new_help = help_now
        tickets: dict[str, dict[str, Any] | None] = {}
        with self._lock:
            for token in unknown - found.keys():
                if token in self._wanted:
                    tickets[token] = None  # no such ticket: its streams end
            for token, ticket_id in ids.items():
                if token not in self._wanted:
                    continue  # nobody shows it any more
                view = views.get(ticket_id)
                if view is None:  # the ticket is gone (tickets are never deleted today)
                    self._ids.pop(token, None)
                    tickets[token] = None
                    continue
                self._ids[token] = ticket_id
                data = view.to_json()
                if token in fresh or self._views.get(token) != data:
                    self._views[token] = data
                    tickets[token] = data
            listeners = list(self._listeners)
        if new_board is None and new_help is None and not tickets:
            return
        update = LiveUpdate(board=new_board, tickets=tickets, help=new_help)
        for listener in listeners:
            try:
                listener.publish(update)
            except Exception:  # noqa: BLE001 - one broken listener must not stop the others
                log.exception("live updates: a listener failed")

    # --- PostgreSQL: LISTEN ---------------------------------------------------------------

    def _listen_loop(self, conninfo: str) -> None:
        """Hold a LISTEN connection; every notice (and every reconnect) marks the hub dirty."""
        import psycopg

        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._listening = True
                    backoff = 0.5
                    self.changed()  # whatever happened while nobody listened
                    while not self._stop.is_set():
                        for _notice in conn.notifies(timeout=1.0):
                            self.changed()
            except psycopg.Error as e:
                log.warning("live updates: LISTEN connection lost (%s)", type(e).__name__)
            finally:
                self._listening = False
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 10.0)


class LiveStreams(Protocol):
    """Running live streams as the rest of the service sees them (the hub plus the event
    server of ``ui.event_server``): where browsers reach them, and how they stop."""

    @property
    def port(self) -> int:
        """The TCP port the event server listens on."""
        ...

    def status(self) -> dict[str, Any]:
        """The hub's state and the open streams, for ``/healthz``."""
        ...

    def stop(self) -> None:
        """Close every stream and stop the hub (idempotent)."""
        ...
