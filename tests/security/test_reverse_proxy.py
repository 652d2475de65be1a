"""The ward's shape (issue 10): Debian's nginx with the shipped ``deploy/nginx`` files, TLS
with a certificate made here, in front of a real ``kiosk serve``. Idle and slow clients,
endless and huge uploads stop at nginx; live streams pass through it unbuffered."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.security.conftest import (
    Front,
    RunningService,
    add_staff_and_login,
    issue_tickets,
    p95,
    start_front,
    start_service,
    stop_front,
    timed_gets,
)
from tests.ui.livekit import SseClient

pytestmark = pytest.mark.slow

PAGES = ["/healthz", "/kiosk/", "/board/state", "/staff/login"]


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[RunningService, Front]]:
    """``kiosk serve`` configured as deploy/systemd/kiosk.env says, nginx in front."""
    service = start_service(
        tmp_path, events_url="/", trusted_proxy="127.0.0.1", events_max_per_address="3"
    )
    try:
        front = start_front(service)
        try:
            yield service, front
        finally:
            stop_front(front)
    finally:
        service.stop()


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_pages_and_streams_through_tls(proxied: tuple[RunningService, Front]) -> None:
    """Over TLS: pages answer with HSTS, the board page streams from its own origin, a
    call reaches a board stream through nginx (unbuffered) within a second, and the access
    log never holds a phone's token."""
    service, front = proxied
    page = requests.get(f"{front.url}/board/", verify=front.cafile, timeout=10)
    assert page.status_code == 200 and "max-age=" in page.headers["Strict-Transport-Security"]
    assert 'data-events="/board/events"' in page.text
    assert "connect-src 'self';" in page.headers["Content-Security-Policy"]
    assert "nginx/" not in page.headers.get("Server", "")
    redirect = requests.get(f"{front.http_url}/kiosk/", allow_redirects=False, timeout=10)
    assert redirect.status_code == 301 and redirect.headers["Location"].startswith("https://")
    tickets = issue_tickets(service, 1)
    context = ssl.create_default_context(cafile=front.cafile)
    board = SseClient(f"{front.url}/board/events", context=context)
    assert board.status == 200
    board.wait_for(lambda kind, data: kind == "board" and data["waiting"][0]["waiting"] == 1)
    phone = SseClient(f"{front.url}/t/{tickets[0]['token']}/events", context=context)
    phone.wait_for(lambda kind, data: kind == "ticket" and data["status"] == "waiting")
    auth = add_staff_and_login(service, front.url, verify=front.cafile)
    called = time.monotonic()
    answer = requests.post(
        f"{front.url}/api/staff/counters/1/call-next", headers=auth, verify=front.cafile, timeout=10
    )
    assert answer.status_code == 200
    seen, _, _ = board.wait_for(lambda kind, data: kind == "board" and data["calls"])
    assert seen - called < 1.0
    phone.wait_for(lambda kind, data: kind == "ticket" and data["status"] == "called")
    board.close()
    phone.close()
    status_page = requests.get(
        f"{front.url}/t/{tickets[0]['token']}?lang=en", verify=front.cafile, timeout=10
    )
    assert status_page.status_code == 200
    logged = (front.prefix / "access.log").read_text()
    assert '"GET /t/-"' in logged and tickets[0]["token"] not in logged


def test_forwarded_address_cannot_be_spoofed_through_the_proxy(
    proxied: tuple[RunningService, Front],
) -> None:
    """nginx overwrites X-Forwarded-For with the address it saw, so the per-address stream
    cap (3 here) holds whatever a client claims."""
    _service, front = proxied
    context = ssl.create_default_context(cafile=front.cafile)
    streams = [
        SseClient(f"{front.url}/board/events", {"X-Forwarded-For": f"10.0.0.{i}"}, context=context)
        for i in range(4)
    ]
    assert [s.status for s in streams] == [200, 200, 200, 429]
    for stream in streams:
        stream.close()


def test_a_thousand_idle_sockets_at_the_proxy_leave_pages_answering(
    proxied: tuple[RunningService, Front],
) -> None:
    """1,000 connections that never start TLS (and 50 that stop halfway through a request)
    are nginx's to hold and drop: pages through nginx answer meanwhile."""
    service, front = proxied
    port = _port(front.url)
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(1000)]
    context = ssl.create_default_context(cafile=front.cafile)
    slow = []
    for _ in range(50):
        tls = context.wrap_socket(
            socket.create_connection(("127.0.0.1", port)), server_hostname="localhost"
        )
        tls.sendall(b"GET /kiosk/ HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        slow.append(tls)
    try:
        times = timed_gets(front.url, PAGES, rounds=10, verify=front.cafile)
        print(f"\n1000 idle + 50 slow sockets at nginx: page p95 {p95(times) * 1000:.0f} ms")
        assert max(times) < 5
        direct = timed_gets(service.url, PAGES, rounds=2)
        assert max(direct) < 5
    finally:
        for sock in idle + slow:
            sock.close()


def test_endless_and_huge_uploads_stop_at_the_proxy(proxied: tuple[RunningService, Front]) -> None:
    """A chunk-size line that never ends gets 400 from nginx, a 256 MiB declared body 413,
    a body over the app's route cap the app's 413; waitress spends nothing on them."""
    service, front = proxied
    context = ssl.create_default_context(cafile=front.cafile)
    cpu_before = service.cpu_seconds()
    tls = context.wrap_socket(
        socket.create_connection(("127.0.0.1", _port(front.url)), timeout=15),
        server_hostname="localhost",
    )
    tls.sendall(
        b"POST /api/visits HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    try:
        for _ in range(64):
            tls.sendall(b"f" * 65536)
    except OSError:
        pass  # nginx answered and closed
    answer = tls.recv(200)
    tls.close()
    assert answer.split(b" ")[1] in (b"400", b"408", b"413"), answer
    huge = context.wrap_socket(
        socket.create_connection(("127.0.0.1", _port(front.url)), timeout=15),
        server_hostname="localhost",
    )
    huge.sendall(
        b"POST /webhooks/stripe HTTP/1.1\r\nHost: localhost\r\nContent-Length: 268435456\r\n\r\n"
    )
    assert huge.recv(200).startswith(b"HTTP/1.1 413")
    huge.close()
    assert service.cpu_seconds() - cpu_before < 0.5
    over_route_cap = requests.post(
        f"{front.url}/api/visits", data=b"{" + b" " * 70_000 + b"}", verify=front.cafile, timeout=10
    )
    assert over_route_cap.status_code == 413
    assert over_route_cap.json()["error"]["code"] == "too_large"
