"""Test helpers for the live streams: an SSE client on a plain socket reader, and the app
with its hub and event server started as ``kiosk serve`` starts them."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

from ui.event_server import LiveService, StreamLimits, start_live_updates

# Quick hub for tests: notices are read within 50 ms, everything re-read every second.
FAST_HUB = {"poll_s": 0.05, "refresh_s": 1.0, "min_interval_s": 0.05}


def start_live(app: Flask, limits: StreamLimits | None = None, **hub_options: float) -> LiveService:
    """The app's hub and event server on a free 127.0.0.1 port (stop with ``.stop()``)."""
    return start_live_updates(
        app, host="127.0.0.1", port=0, hub_options={**FAST_HUB, **hub_options}, limits=limits
    )


class SseClient:
    """One event stream read on a thread: ``events`` holds (monotonic time, event, data).

    ``status`` and ``headers`` are the response's; a non-200 answer is read whole into
    ``body`` and nothing is streamed. ``https`` URLs use ``context`` (e.g. trusting a test
    certificate).
    """

    def __init__(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        *,
        source_address: str | None = None,
        timeout: float = 10.0,
        context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(url)
        source = (source_address, 0) if source_address else None
        if parts.scheme == "https":
            self.conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=timeout, source_address=source, context=context
            )
        else:
            self.conn = http.client.HTTPConnection(
                parts.hostname, parts.port, timeout=timeout, source_address=source
            )
        target = f"{parts.path}?{parts.query}" if parts.query else parts.path
        self.conn.request("GET", target, headers={"Accept": "text/event-stream", **(headers or {})})
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.headers = {k.lower(): v for k, v in self.response.getheaders()}
        self.events: list[tuple[float, str, str]] = []
        self.comments = 0
        self.ended = threading.Event()
        self.body = ""
        if self.status != 200:
            self.body = self.response.read().decode()
            self.conn.close()
            self.ended.set()
            return
        # Quiet streams only send a ping every 15 s: read with a longer patience than that.
        if self.conn.sock is not None:
            self.conn.sock.settimeout(60)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        event, data = "", ""
        try:
            while True:
                line = self.response.readline()
                if not line:
                    break
                text = line.decode().rstrip("\r\n")
                if text.startswith(":"):
                    self.comments += 1
                elif text.startswith("event: "):
                    event = text[7:]
                elif text.startswith("data: "):
                    data = text[6:]
                elif text == "":
                    if event:
                        self.events.append((time.monotonic(), event, data))
                    event, data = "", ""
        except (OSError, ValueError, http.client.HTTPException, AttributeError):
            pass  # closed under the reader by close()
        finally:
            self.response.close()
            self.conn.close()
            self.ended.set()

    def wait_for(
        self, predicate: Callable[[str, Any], bool], timeout: float = 3.0, start: int = 0
    ) -> tuple[float, str, Any]:
        """The first event from index ``start`` on with ``predicate(event, data)`` true
        (data parsed as JSON); AssertionError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, kind, data in self.events[start:]:
                parsed = json.loads(data) if data else None
                if predicate(kind, parsed):
                    return at, kind, parsed
            time.sleep(0.01)
        raise AssertionError(f"no matching event within {timeout}s: {self.events[-5:]}")

    def close(self) -> None:
        try:
            self.conn.sock and self.conn.sock.shutdown(2)  # type: ignore[func-returns-value]
        except OSError:
            pass
        self.conn.close()
