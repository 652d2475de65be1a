"""Issue 10: behind a TLS proxy the session cookie (and the kiosk screen's enrolment
cookie) carry ``Secure``, but only when ``KIOSK_TRUSTED_PROXY`` names the proxy: a client
that sends ``X-Forwarded-Proto: https`` itself changes nothing. Behind the trusted proxy the
per-address budgets and lock-outs count the client's address, not the proxy's.

In process: waitress with the options ``kiosk serve`` uses (``application.front``), the
"proxy" being this test on 127.0.0.1. Through the ward's shape: Debian's nginx with the
shipped ``deploy/nginx`` files in front of a real ``kiosk serve``.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from application.front import waitress_options
from kiosk.staff import StaffExists
from tests.security.conftest import KIOSK, start_front, start_service, stop_front
from tests.ui.conftest import DEVICE_KEY
from tests.ui.staffkit import PASSWORD, add_staff
from ui.services import services_of


class Behind:
    """An app under waitress with ``kiosk serve``'s options, on 127.0.0.1."""

    def __init__(self, app: Flask) -> None:
        from waitress import create_server

        options = waitress_options(services_of(app).settings, threads=4)
        self.server = create_server(app, host="127.0.0.1", port=0, **options)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"  # type: ignore[union-attr]
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.close()
        self.thread.join(timeout=5)


@pytest.fixture
def behind(make_app: Callable[..., Flask]) -> Iterator[Callable[..., Behind]]:
    started: list[Behind] = []

    def start(**settings: Any) -> Behind:
        app = make_app(**settings)
        try:
            add_staff(app, "clerk")
        except StaffExists:
            pass  # the apps of one test share its database
        served = Behind(app)
        started.append(served)
        return served

    yield start
    for served in started:
        served.close()


def _login_cookie(url: str, headers: dict[str, str]) -> str:
    """The Set-Cookie of a console log-in made with ``headers`` (as the proxy forwards).
    The session cookie is carried by hand: a client on plain http (this test standing in
    for the proxy) would drop a cookie that is Secure."""
    form = requests.get(f"{url}/staff/login", headers=headers, timeout=10)
    token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
    session = form.cookies.get("kiosk_session")
    answer = requests.post(
        f"{url}/staff/login",
        data={"username": "clerk", "password": PASSWORD, "csrf_token": token},
        headers={**headers, "Cookie": f"kiosk_session={session}"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text[:300]
    return answer.headers["Set-Cookie"]


def _enrol_cookie(url: str, headers: dict[str, str]) -> str:
    answer = requests.post(
        f"{url}/device/",
        data={"credential": DEVICE_KEY},
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302
    return answer.headers["Set-Cookie"]


HTTPS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "192.168.10.20"}


def test_secure_cookies_only_behind_the_trusted_proxy(behind: Callable[..., Behind]) -> None:
    """With KIOSK_TRUSTED_PROXY=127.0.0.1 a request the proxy marks https gets Secure
    session and enrolment cookies; without it (or with another proxy address) the same
    headers are ignored and no cookie claims to be Secure."""
    trusted = behind(trusted_proxy="127.0.0.1")
    assert "Secure" in _login_cookie(trusted.url, HTTPS)
    assert "Secure" in _enrol_cookie(trusted.url, HTTPS)
    assert "Secure" not in _login_cookie(trusted.url, {})  # plain http from the proxy
    for untrusted in (behind(), behind(trusted_proxy="127.0.0.2")):
        assert "Secure" not in _login_cookie(untrusted.url, HTTPS)
        assert "Secure" not in _enrol_cookie(untrusted.url, HTTPS)


def test_budgets_count_the_client_not_the_proxy(behind: Callable[..., Behind]) -> None:
    """Behind the trusted proxy each forwarded client has its own log-in budget (one LAN
    PC over budget does not lock the ward out); a client claiming another address without
    the proxy spends the budget of its own."""
    trusted = behind(trusted_proxy="127.0.0.1", logins_per_minute=2)

    def attempt(url: str, client: str) -> int:
        return requests.post(
            f"{url}/api/staff/login",
            json={"username": "clerk", "password": "wrong-password-0"},
            headers={"X-Forwarded-For": client},
            timeout=10,
        ).status_code

    assert [attempt(trusted.url, "192.168.10.66") for _ in range(3)] == [401, 401, 429]
    assert attempt(trusted.url, "192.168.10.20") == 401
    direct = behind(logins_per_minute=2)
    claims = [attempt(direct.url, f"10.0.0.{i}") for i in range(3)]
    assert claims == [401, 401, 429]


@pytest.mark.slow
def test_secure_cookie_through_the_wards_nginx(tmp_path: Path) -> None:
    """Through Debian's nginx with deploy/'s files (TLS) and KIOSK_TRUSTED_PROXY as
    deploy/systemd/kiosk.env sets it: the console's session cookie is Secure, HttpOnly and
    SameSite=Strict."""
    service = start_service(tmp_path, events_url="/", trusted_proxy="127.0.0.1")
    try:
        subprocess.run(
            [str(KIOSK), "staff", "add", "--role", "staff", "clerk"],
            input=f"{PASSWORD}\n".encode(),
            env=service.env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        front = start_front(service)
        try:
            with requests.Session() as browser:
                form = browser.get(f"{front.url}/staff/login", verify=front.cafile, timeout=10)
                token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
                answer = browser.post(
                    f"{front.url}/staff/login",
                    data={"username": "clerk", "password": PASSWORD, "csrf_token": token},
                    allow_redirects=False,
                    verify=front.cafile,
                    timeout=10,
                )
            cookie = answer.headers["Set-Cookie"]
            assert answer.status_code == 302
            assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        finally:
            stop_front(front)
    finally:
        service.stop()
