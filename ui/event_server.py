"""The live event endpoint: server-sent events for display boards and phones, served
asynchronously beside the WSGI app so an open stream holds no worker thread.

aiohttp's server runs on its own asyncio event loop in a thread of the ``kiosk serve``
process (the hub, ``application.live``, feeds it). An open stream is a socket and a small
object waiting on an ``asyncio.Event``: hundreds per process cost a few megabytes and no
thread, while waitress keeps its threads for the kiosk, staff and API requests.

Paths (the reverse proxy of ``deploy/`` routes exactly these here):

``GET /board/events``
    ``event: board`` with the board state (numbers and counters only, never names) at once
    and on every change.
``GET /t/<token>/events``
    ``event: ticket`` with the phone view of the ticket behind ``token`` (number, status,
    people ahead, estimated wait, counter once called) at once and on every change; 404
    for an unknown token; ``event: end`` after a finished or cancelled ticket.
``GET /staff/help/events?key=<stream key>``
    ``event: help`` with the kiosks' calls for staff (open ones, and those acknowledged in
    the last minutes: kiosk, screen, times, who is going; no personal data) at once and on
    every change. Staff consoles only: the key is the signed, expiring one the console page
    was given (``ui.staff.help_calls``); without a valid key 403.
``GET /kiosk/help/<token>/events``
    ``event: help`` with the state of one kiosk's call (``open``, then ``acknowledged``:
    someone is coming), then ``event: end``; 404 for a token the hub does not know.

Every stream starts with ``retry:``, sends ``: ping`` comments when quiet (dead clients
are found, proxies keep the connection), lives at most :attr:`StreamLimits.lifetime_s`
(the browser reconnects at once) and ends with ``event: bye``. Limits: at most
:attr:`StreamLimits.max_per_address` streams per client address (429 with Retry-After)
and :attr:`StreamLimits.max_streams` in all (503 with Retry-After). Behind the trusted
reverse proxy (``KIOSK_TRUSTED_PROXY``) the client address is the last one the proxy put
in ``X-Forwarded-For``. A browser on a page of this service's host name (another port,
the embedded default) may read the streams (CORS); no other origin may. Nothing is
logged per request: the phone's token is in its path.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import threading
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiohttp import web
from flask import Flask

from application.live import LiveHub, LiveUpdate
from ui.services import services_of
from ui.staff.help_calls import staff_stream_key_check

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FINAL_STATUSES = frozenset({"done", "cancelled"})
RETRY_MS = 3000


class LiveSource(Protocol):
    """What the event server needs of the hub (``application.live.LiveHub``)."""

    def board(self) -> dict[str, Any] | None:
        """The latest board state, None before the first read."""
        ...

    def watch(self, token: str) -> None:
        """Follow a phone token: its view (or None) comes in a later update."""
        ...

    def unwatch(self, token: str) -> None:
        """Nobody shows this token any more."""
        ...

    def help(self) -> dict[str, Any] | None:
        """The latest help requests (``HelpBoard.to_json()``), None before the first read."""
        ...


@dataclass(frozen=True)
class StreamLimits:
    """How many streams, how long, how patient."""

    max_streams: int = 1000
    max_per_address: int = 20
    ping_s: float = 15.0
    lifetime_s: float = 900.0
    write_timeout_s: float = 10.0
    first_view_timeout_s: float = 5.0
    # A connection that sends no request (or an unfinished one) is closed after this.
    idle_timeout_s: float = 15.0
    retry_after_s: int = 30

    @classmethod
    def from_settings(cls, settings: Any) -> StreamLimits:
        return cls(
            max_streams=settings.events_max_streams,
            max_per_address=settings.events_max_per_address,
        )


def sse(event: str, data: Any) -> bytes:
    """One server-sent event (JSON data on a single line)."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


class _Stream:
    """One open stream: the newest frame not yet written, and a wake-up."""

    __slots__ = ("frame", "wake", "ended", "gone")

    def __init__(self) -> None:
        self.frame: bytes | None = None
        self.wake = asyncio.Event()
        self.ended = False  # stop after writing what is pending (shutdown, final status)
        self.gone = False  # the ticket does not exist

    def offer(self, frame: bytes) -> None:
        self.frame = frame  # a newer state replaces an unwritten older one
        self.wake.set()

    def end(self, *, gone: bool = False) -> None:
        self.ended = True
        self.gone = self.gone or gone
        self.wake.set()


class EventServer:
    """The aiohttp server of the live streams, on its own loop and thread.

    ``start(host, port)`` binds and serves; ``stop()`` ends every stream with ``bye`` and
    closes the port. :meth:`publish` is the hub's listener entry (any thread).
    """

    def __init__(
        self,
        hub: LiveSource,
        *,
        limits: StreamLimits | None = None,
        trusted_proxy: str = "",
        staff_key_valid: Callable[[str], bool] | None = None,
    ) -> None:
        self.limits = limits or StreamLimits()
        self.trusted_proxy = trusted_proxy
        # Checks a staff console's stream key (ui.staff.help_calls); None: no staff streams.
        self._staff_key_valid = staff_key_valid
        self._help_streams: set[_Stream] = set()
        self._help_frame: bytes | None = None
        self._help_states: dict[str, str] = {}
        self._kiosk_help_streams: dict[str, set[_Stream]] = {}
        self._hub = hub
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._board_streams: set[_Stream] = set()
        self._board_frame: bytes | None = None
        self._ticket_streams: dict[str, set[_Stream]] = {}
        self._ticket_frames: dict[str, bytes] = {}
        self._finished: set[str] = set()  # tokens whose ticket is done or cancelled
        self._per_address: Tally[str] = Tally()
        self._open = 0
        self.port = 0
        self.refused = 0  # streams refused by a limit (for tests and benchmarks)

    # --- life -----------------------------------------------------------------------------

    def start(self, host: str, port: int) -> EventServer:
        """Bind ``host``:``port`` (0: any free port, see :attr:`port`) and serve in a new
        thread. Raises OSError when the address cannot be bound."""
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(host, port, ready, failure), name="kiosk-events", daemon=True
        )
        self._thread.start()
        ready.wait(30)
        if failure:
            self._thread.join(timeout=5)
            raise failure[0]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """End every stream (``bye``), close the port and the loop. Stopping a server that
        is stopped (or never started) does nothing."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or not thread.is_alive() or loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout)
        except Exception:  # noqa: BLE001 - stopping anyway
            log.exception("event server: unclean shutdown")
        thread.join(timeout=timeout)

    @property
    def streams(self) -> int:
        """Streams open now."""
        return self._open

    def _run(
        self, host: str, port: int, ready: threading.Event, failure: list[BaseException]
    ) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve(host, port))
        except BaseException as e:  # noqa: BLE001 - handed to start()'s caller
            failure.append(e)
            ready.set()
            loop.close()
            return
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _serve(self, host: str, port: int) -> None:
        app = web.Application()
        app.router.add_get("/board/events", self._board, allow_head=False)
        app.router.add_get("/t/{token}/events", self._ticket, allow_head=False)
        app.router.add_get("/staff/help/events", self._staff_help, allow_head=False)
        app.router.add_get("/kiosk/help/{token}/events", self._kiosk_help, allow_head=False)
        runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            # A client that goes away ends its stream at once (frees its place under the
            # caps), not at the next ping.
            handler_cancellation=True,
            shutdown_timeout=2.0,
            keepalive_timeout=self.limits.idle_timeout_s,
            max_line_size=4096,
            max_field_size=4096,
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port, backlog=512, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def _shutdown(self) -> None:
        self._stopping = True
        for stream in self._all_streams():
            stream.end()
        if self._runner is not None:
            await self._runner.cleanup()
        assert self._loop is not None
        self._loop.call_soon(self._loop.stop)

    def _all_streams(self) -> list[_Stream]:
        streams = list(self._board_streams) + list(self._help_streams)
        for subscribers in (*self._ticket_streams.values(), *self._kiosk_help_streams.values()):
            streams.extend(subscribers)
        return streams

    # --- from the hub ---------------------------------------------------------------------

    def publish(self, update: LiveUpdate) -> None:
        """The hub's listener: hand the update to the loop (called on the hub's thread)."""
        loop = self._loop
        if loop is None or self._stopping:
            return
        try:
            loop.call_soon_threadsafe(self._deliver, update)
        except RuntimeError:  # the loop closed meanwhile
            pass

    def _deliver(self, update: LiveUpdate) -> None:
        if update.help is not None:
            self._deliver_help(update.help)
        if update.board is not None:
            frame = sse("board", update.board)
            self._board_frame = frame
            for stream in self._board_streams:
                stream.offer(frame)
        for token, view in update.tickets.items():
            subscribers = self._ticket_streams.get(token, ())
            if view is None:
                self._ticket_frames.pop(token, None)
                for stream in subscribers:
                    stream.end(gone=True)
                continue
            frame = sse("ticket", view)
            self._ticket_frames[token] = frame
            final = view.get("status") in _FINAL_STATUSES
            if final:
                self._finished.add(token)
            for stream in subscribers:
                stream.offer(frame)
                if final:
                    stream.end()

    def _deliver_help(self, board: dict[str, Any]) -> None:
        frame = sse("help", {"alerts": board.get("alerts", [])})  # tokens stay here
        self._help_frame = frame
        for stream in self._help_streams:
            stream.offer(frame)
        self._help_states = dict(board.get("states", {}))
        for token, subscribers in self._kiosk_help_streams.items():
            self._offer_kiosk_help(token, subscribers)

    def _offer_kiosk_help(self, token: str, subscribers: set[_Stream]) -> None:
        state = self._help_states.get(token)
        if state is None:
            return  # not (yet) in the hub's read: the stream waits for the next update
        frame = sse("help", {"state": state})
        for stream in subscribers:
            stream.offer(frame)
            if state == "acknowledged":
                stream.end()

    # --- handlers -------------------------------------------------------------------------

    async def _board(self, request: web.Request) -> web.StreamResponse:
        return await self._broadcast(request, self._board_streams, self._first_board_frame)

    def _first_board_frame(self) -> bytes | None:
        if self._board_frame is None and (board := self._hub.board()) is not None:
            return sse("board", board)
        return self._board_frame

    async def _broadcast(
        self,
        request: web.Request,
        streams: set[_Stream],
        first_frame: Callable[[], bytes | None],
    ) -> web.StreamResponse:
        """A stream that every client of ``streams`` shares (the board, staff alerts): it
        starts with the latest frame, then gets each new one."""
        address = self._client_address(request)
        refusal = self._admit(request, address)
        if refusal is not None:
            return refusal
        stream = _Stream()
        streams.add(stream)
        try:
            if (frame := first_frame()) is not None:
                stream.offer(frame)
            return await self._stream(request, stream)
        finally:
            streams.discard(stream)
            self._release(address)

    async def _ticket(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        if not _TOKEN.fullmatch(token):
            return self._plain(request, 404, "not found")
        address = self._client_address(request)
        refusal = self._admit(request, address)
        if refusal is not None:
            return refusal
        stream = _Stream()
        subscribers = self._ticket_streams.setdefault(token, set())
        first = not subscribers
        subscribers.add(stream)
        try:
            if first or token not in self._ticket_frames:
                self._hub.watch(token)  # the view (or "no such ticket") comes from the hub
            else:
                stream.offer(self._ticket_frames[token])
                if token in self._finished:
                    stream.end()
            try:
                async with asyncio.timeout(self.limits.first_view_timeout_s):
                    await stream.wake.wait()
            except TimeoutError:
                return self._plain(request, 503, "busy, try again", retry=True)
            if stream.gone:
                return self._plain(request, 404, "not found")
            return await self._stream(request, stream)
        finally:
            subscribers.discard(stream)
            if not subscribers:
                self._ticket_streams.pop(token, None)
                self._ticket_frames.pop(token, None)
                self._finished.discard(token)
                self._hub.unwatch(token)
            self._release(address)

    async def _staff_help(self, request: web.Request) -> web.StreamResponse:
        key = request.query.get("key", "")
        if self._staff_key_valid is None or not key or not self._staff_key_valid(key):
            return self._plain(request, 403, "a staff console's stream key is needed")
        return await self._broadcast(request, self._help_streams, self._first_help_frame)

    def _first_help_frame(self) -> bytes | None:
        if self._help_frame is None and (board := self._hub.help()) is not None:
            return sse("help", {"alerts": board.get("alerts", [])})
        return self._help_frame

    async def _kiosk_help(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        if not _TOKEN.fullmatch(token):
            return self._plain(request, 404, "not found")
        address = self._client_address(request)
        refusal = self._admit(request, address)
        if refusal is not None:
            return refusal
        stream = _Stream()
        subscribers = self._kiosk_help_streams.setdefault(token, set())
        subscribers.add(stream)
        try:
            if not self._help_states and (board := self._hub.help()) is not None:
                self._help_states = dict(board.get("states", {}))
            self._offer_kiosk_help(token, {stream})
            try:
                # A call raised a moment ago is in the hub's next read.
                async with asyncio.timeout(self.limits.first_view_timeout_s):
                    await stream.wake.wait()
            except TimeoutError:
                return self._plain(request, 404, "not found")
            return await self._stream(request, stream)
        finally:
            subscribers.discard(stream)
            if not subscribers:
                self._kiosk_help_streams.pop(token, None)
            self._release(address)

    async def _stream(self, request: web.Request, stream: _Stream) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
                "X-Content-Type-Options": "nosniff",
                **self._cors(request),
            }
        )
        loop = asyncio.get_running_loop()
        # Spread the reconnects of boards opened together.
        deadline = loop.time() + self.limits.lifetime_s * random.uniform(0.8, 1.0)
        try:
            await response.prepare(request)
            await self._write(response, f"retry: {RETRY_MS}\n\n".encode())
            while not self._stopping:
                if stream.frame is not None:
                    frame, stream.frame = stream.frame, None
                    stream.wake.clear()
                    await self._write(response, frame)
                if stream.ended:
                    break
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    # asyncio.timeout, not wait_for: no extra task per wait and stream.
                    async with asyncio.timeout(min(self.limits.ping_s, remaining)):
                        await stream.wake.wait()
                except TimeoutError:
                    await self._write(response, b": ping\n\n")
            await self._write(
                response,
                b"event: end\ndata: {}\n\n"
                if stream.ended and not self._stopping
                else b"event: bye\ndata: {}\n\n",
            )
        except (ConnectionError, TimeoutError):
            pass  # the client went away or stopped reading: nothing left to do
        return response

    async def _write(self, response: web.StreamResponse, data: bytes) -> None:
        # A client that stops reading fills its socket buffer; then it is dropped.
        async with asyncio.timeout(self.limits.write_timeout_s):
            await response.write(data)

    # --- limits ---------------------------------------------------------------------------

    def _client_address(self, request: web.Request) -> str:
        peer = request.remote or "?"
        if self.trusted_proxy and peer == self.trusted_proxy:
            forwarded = request.headers.get("X-Forwarded-For", "")
            last = forwarded.rsplit(",", 1)[-1].strip()
            if last:
                return last
        return peer

    def _admit(self, request: web.Request, address: str) -> web.Response | None:
        """Count the stream in, or say why not (the caller releases what it was admitted)."""
        if self._stopping:
            return self._plain(request, 503, "shutting down", retry=True)
        if self._open >= self.limits.max_streams:
            self.refused += 1
            return self._plain(request, 503, "too many open streams on this service", retry=True)
        if self._per_address[address] >= self.limits.max_per_address:
            self.refused += 1
            return self._plain(request, 429, "too many open streams from this address", retry=True)
        self._open += 1
        self._per_address[address] += 1
        return None

    def _release(self, address: str) -> None:
        self._open -= 1
        self._per_address[address] -= 1
        if self._per_address[address] <= 0:
            del self._per_address[address]

    def _plain(
        self, request: web.Request, status: int, text: str, *, retry: bool = False
    ) -> web.Response:
        headers = {"Cache-Control": "no-store", **self._cors(request)}
        if retry:
            headers["Retry-After"] = str(self.limits.retry_after_s)
        return web.Response(status=status, text=text, headers=headers)

    @staticmethod
    def _cors(request: web.Request) -> dict[str, str]:
        """Pages of this service's host name (on another port: the embedded default) may
        read the streams; other sites may not."""
        origin = request.headers.get("Origin")
        if not origin:
            return {}
        try:
            origin_host = urlsplit(origin).hostname
            own_host = urlsplit(f"//{request.host}").hostname
        except ValueError:
            return {}
        if origin_host and origin_host == own_host:
            return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        return {"Vary": "Origin"}


@dataclass
class LiveService:
    """The hub and the event server of one process, started together."""

    hub: LiveHub
    server: EventServer

    @property
    def port(self) -> int:
        """The port the event server listens on."""
        return self.server.port

    def status(self) -> dict[str, Any]:
        """The hub's state and the open streams, for ``/healthz``."""
        return {**self.hub.status(), "streams": self.server.streams}

    def stop(self) -> None:
        """Close the streams (each gets a ``bye``), then stop the hub."""
        self.server.stop()
        self.hub.stop()


def start_live_updates(
    app: Flask,
    *,
    host: str,
    port: int,
    hub_options: dict[str, float] | None = None,
    limits: StreamLimits | None = None,
) -> LiveService:
    """Start the hub and the event server (``host``:``port``, 0 = any free port) for
    ``app``; the app's pages then point their streams at it. Raises OSError when the port
    cannot be bound. The app's services hold it (``Services.live``) and stop it first when
    they close. ``hub_options`` (LiveHub's timings)
    and ``limits`` (default: from the settings) are for tests and benchmarks."""
    services = services_of(app)
    settings = services.settings
    hub = LiveHub(services.engine, services.sessions, **(hub_options or {}))
    server = EventServer(
        hub,
        limits=limits or StreamLimits.from_settings(settings),
        trusted_proxy=settings.trusted_proxy,
        staff_key_valid=staff_stream_key_check(app),
    )
    hub.add_listener(server)
    hub.start()
    try:
        server.start(host, port)
    except BaseException:
        hub.stop()
        raise
    service = LiveService(hub, server)
    services.attach_live(service)
    return service
