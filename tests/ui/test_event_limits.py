"""The event server's limits: streams per client address and in all, the trusted proxy's
forwarded address, who may read the streams (CORS), pings, lifetime, idle sockets."""

from __future__ import annotations

import socket
import time

import pytest

from tests.ui.livekit import SseClient, start_live
from ui.event_server import StreamLimits


def test_per_address_and_total_caps_answer_429_and_503_then_admit_again(make_app):
    """Two streams per address, three in all: the third from one address gets 429, the
    fourth in all 503 (both with Retry-After); a closed stream frees its place."""
    app = make_app(events_max_per_address=2, events_max_streams=3)
    live = start_live(app)
    try:
        url = f"http://127.0.0.1:{live.server.port}/board/events"
        first, second = SseClient(url), SseClient(url)
        assert (first.status, second.status) == (200, 200)
        refused = SseClient(url)
        assert refused.status == 429 and refused.headers["retry-after"] == "30"
        assert "from this address" in refused.body
        third = SseClient(url, source_address="127.0.0.2")
        assert third.status == 200
        full = SseClient(url, source_address="127.0.0.3")
        assert full.status == 503 and full.headers["retry-after"] == "30"
        assert live.server.streams == 3 and live.server.refused == 2
        first.close()
        deadline = time.monotonic() + 3
        while live.server.streams > 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        again = SseClient(url)
        assert again.status == 200
        for client in (second, third, again):
            client.close()
    finally:
        live.stop()


def test_forwarded_address_is_believed_from_the_trusted_proxy_only(make_app):
    """Behind the trusted proxy each forwarded client has its own cap; from anyone else
    X-Forwarded-For changes nothing."""
    trusting = start_live(make_app(trusted_proxy="127.0.0.1", events_max_per_address=1))
    try:
        url = f"http://127.0.0.1:{trusting.server.port}/board/events"
        a = SseClient(url, {"X-Forwarded-For": "192.0.2.1, 10.1.2.3"})
        b = SseClient(url, {"X-Forwarded-For": "10.1.2.4"})
        again = SseClient(url, {"X-Forwarded-For": "10.1.2.3"})
        assert (a.status, b.status, again.status) == (200, 200, 429)
        spoofed = SseClient(url, {"X-Forwarded-For": "10.1.2.9"}, source_address="127.0.0.2")
        spoofed_again = SseClient(url, {"X-Forwarded-For": "10.1.2.8"}, source_address="127.0.0.2")
        assert (spoofed.status, spoofed_again.status) == (200, 429)
        for client in (a, b, spoofed):
            client.close()
    finally:
        trusting.stop()


def test_only_pages_of_this_host_may_read_the_streams(make_app):
    """CORS: an Origin with this host name (another port: the embedded default) is allowed
    by name; another site's is not."""
    live = start_live(make_app())
    try:
        url = f"http://127.0.0.1:{live.server.port}/board/events"
        own = SseClient(url, {"Origin": "http://127.0.0.1:8080"})
        assert own.headers["access-control-allow-origin"] == "http://127.0.0.1:8080"
        other = SseClient(url, {"Origin": "http://attacker.example"})
        assert other.status == 200 and "access-control-allow-origin" not in other.headers
        plain = SseClient(url)
        assert "access-control-allow-origin" not in plain.headers
        for client in (own, other, plain):
            client.close()
    finally:
        live.stop()


def test_quiet_streams_ping_end_with_bye_and_stop_ends_them(make_app):
    """A quiet stream gets ping comments, ends with ``bye`` after its lifetime (the
    browser reconnects), and stopping the server ends every stream at once."""
    limits = StreamLimits(ping_s=0.1, lifetime_s=1.0)
    live = start_live(make_app(), limits=limits)
    url = f"http://127.0.0.1:{live.server.port}/board/events"
    try:
        short = SseClient(url)
        assert short.ended.wait(3)
        assert short.comments >= 3
        assert [e for _, e, _ in short.events] == ["board", "bye"]
    finally:
        live.stop()
    live = start_live(make_app(), limits=StreamLimits(lifetime_s=60))
    held = SseClient(f"http://127.0.0.1:{live.server.port}/board/events")
    held.wait_for(lambda kind, _data: kind == "board")
    started = time.monotonic()
    live.stop()
    assert held.ended.wait(3) and time.monotonic() - started < 3
    assert held.events[-1][1] == "bye"


def test_sockets_that_send_no_request_are_closed(make_app):
    """A connection that sends nothing, or half a request line, is closed after the idle
    timeout: silent sockets cannot pile up on the event port."""
    live = start_live(make_app(), limits=StreamLimits(idle_timeout_s=0.5))
    try:
        silent = socket.create_connection(("127.0.0.1", live.server.port))
        partial = socket.create_connection(("127.0.0.1", live.server.port))
        partial.sendall(b"GET /board/ev")
        for sock in (silent, partial):
            sock.settimeout(5)
            started = time.monotonic()
            assert sock.recv(1024) == b""  # closed by the server
            assert time.monotonic() - started < 3
            sock.close()
    finally:
        live.stop()


@pytest.mark.parametrize("path", ["/board/state", "/", "/t/x"])
def test_the_event_port_serves_nothing_else(make_app, path):
    """Only the two stream paths exist on the event port."""
    live = start_live(make_app())
    try:
        assert SseClient(f"http://127.0.0.1:{live.server.port}{path}").status == 404
    finally:
        live.stop()
