"""Issue 10, the card answers only to its kiosk: from another PC (or without the kiosk's
device key) no visit opens, no reader state shows and no PIN reaches the card; parallel
card reads on one service answer "reader busy", never ``malformed_card``; card reads, log-ins
and speech have per-address budgets; at most two syntheses run at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from flask import Flask

from application.cli import cli
from tests.ui.browser import Served
from tests.ui.cards import place_card_after_start
from tests.ui.conftest import DEVICE_HEADER, DEVICE_KEY
from ui.services import services_of

TEXT_PIN = 0x0011  # the Text AP PIN of the simulated card (hardware_sim.card)
LAN_PC = "192.168.10.66"


def _tries(app: Flask) -> int:
    rig = services_of(app).simulation.reader
    return int(rig.card.tries_left(TEXT_PIN))


def _stranger(app: Flask, address: str = LAN_PC) -> Any:
    """A client without the device key, from ``address``."""
    client = app.test_client()
    client.environ_base.pop(DEVICE_HEADER)
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_remote_pin_attempt_without_the_device_key_gets_nowhere(
    make_app: Callable[..., Flask],
) -> None:
    """From another PC, and from this machine without the key or with a wrong one: no
    visit opens, a kiosk visit's reader state and card read are refused (403
    ``kiosk_device_required``), the kiosk screens refuse every step after the welcome, and
    the card keeps all its tries. The kiosk's own screen still reads the card."""
    app = make_app()
    kiosk = app.test_client()
    opened = kiosk.post("/api/visits", json={"procedures": ["juminhyo"]})
    assert opened.status_code == 201
    visit = opened.get_json()["visit_id"]
    wrong = _stranger(app, "127.0.0.1")
    wrong.environ_base[DEVICE_HEADER] = "guessed-" + DEVICE_KEY[8:]
    for client in (_stranger(app), _stranger(app, "127.0.0.1"), wrong):
        answers = [
            client.post("/api/visits", json={"procedures": ["juminhyo"]}),
            client.get(f"/api/visits/{visit}"),
            client.get(f"/api/visits/{visit}/card"),
            client.post(f"/api/visits/{visit}/card/read", json={"pin": "0000"}),
            client.post(f"/api/visits/{visit}/card/read", json={"pin": "1111"}),
            client.delete(f"/api/visits/{visit}"),
        ]
        for answer in answers:
            assert answer.status_code == 403, answer.data
            assert answer.get_json()["error"]["code"] == "kiosk_device_required"
            assert "pin_tries_left" not in answer.get_data(as_text=True)
        assert client.get("/kiosk/").status_code == 200  # the welcome page is public
        assert client.post("/kiosk/start").status_code == 403
        state = client.get("/kiosk/card/state")
        assert state.status_code == 403 and state.get_json()["error"]["code"]
        assert client.get("/kiosk/pin").status_code == 403
        assert client.post("/kiosk/pin", data={"pin": "0000"}).status_code == 403
    assert _tries(app) == 3
    place_card_after_start(app)
    read = kiosk.post(f"/api/visits/{visit}/card/read", json={"pin": "1234"})
    assert read.status_code == 201 and read.get_json()["name"]


def test_refusal_is_in_the_residents_language(make_app: Callable[..., Flask]) -> None:
    """The 403 says why in the language asked for (Korean here), on the API and the kiosk."""
    app = make_app()
    client = _stranger(app)
    answer = client.post("/api/visits?lang=ko", json={"procedures": ["juminhyo"]})
    assert "키오스크" in answer.get_json()["error"]["message"]
    page = client.post("/kiosk/start?lang=ko")
    assert page.status_code == 403 and "키오스크" in page.get_data(as_text=True)


def test_enrolment_sets_a_hardened_cookie_only_for_the_right_key(
    make_app: Callable[..., Flask],
) -> None:
    """``/device/`` refuses a wrong key (403, no cookie) and sets an HttpOnly,
    SameSite=Strict cookie for the right one, after which that browser runs visits."""
    app = make_app()
    browser = _stranger(app, "127.0.0.1")
    form = browser.get("/device/")
    assert form.status_code == 200 and 'name="credential"' in form.get_data(as_text=True)
    refused = browser.post("/device/", data={"credential": "not-the-key"})
    assert refused.status_code == 403 and "Set-Cookie" not in refused.headers
    assert browser.post("/kiosk/start").status_code == 403
    enrolled = browser.post("/device/", data={"credential": DEVICE_KEY})
    assert enrolled.status_code == 302
    cookie = enrolled.headers["Set-Cookie"]
    assert cookie.startswith("kiosk_device=") and "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie and "Max-Age=" in cookie
    assert browser.post("/kiosk/start").status_code == 302
    assert "set up as this kiosk" in browser.get("/device/?lang=en").get_data(as_text=True)


def test_device_command_provisions_prints_and_rotates(tmp_path: Any) -> None:
    """``kiosk device provision`` creates a 0600 key once, prints it with the enrolment
    link, keeps it on a second run and replaces it with ``--rotate``."""
    env = {"KIOSK_DATA_DIR": str(tmp_path / "var"), "KIOSK_DEVICE_KEY": ""}
    runner = CliRunner()
    first = runner.invoke(cli, ["device", "provision"], env=env)
    assert first.exit_code == 0, first.output
    key = first.stdout.strip()
    assert len(key) >= 40 and f"/device/#{key}" in first.stderr
    path = tmp_path / "var" / "device.key"
    assert path.read_text().strip() == key and (path.stat().st_mode & 0o777) == 0o600
    assert runner.invoke(cli, ["device", "provision"], env=env).stdout.strip() == key
    rotated = runner.invoke(cli, ["device", "provision", "--rotate"], env=env).stdout.strip()
    assert rotated != key and path.read_text().strip() == rotated


def test_openapi_documents_the_kiosk_device_key(make_app: Callable[..., Flask]) -> None:
    """Every visit operation names the ``kioskDevice`` scheme (header X-Kiosk-Device)."""
    doc = make_app().test_client().get("/api/openapi.json").get_json()
    scheme = doc["components"]["securitySchemes"]["kioskDevice"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "X-Kiosk-Device"}
    visit_ops = [
        op
        for path, item in doc["paths"].items()
        if path.startswith("/api/visits")
        for op in item.values()
    ]
    assert len(visit_ops) >= 10
    assert all(op["security"] == [{"kioskDevice": []}] for op in visit_ops)


def test_parallel_card_reads_answer_reader_busy_never_malformed(
    make_app: Callable[..., Flask],
) -> None:
    """24 card reads at once on one service (real HTTP, waitress threads, a card that takes
    a few milliseconds per command): each either reads the card or is told the reader is
    busy; none fails as ``malformed_card`` or ``card_not_usable``; no PIN try is used."""
    app = make_app(card_reads_per_minute=1000)
    served = Served(app)
    try:
        served.rig.faults.delay_s = 0.004  # 12 APDUs: ~50 ms a read, so reads overlap
        session = requests.Session()
        session.headers["X-Kiosk-Device"] = DEVICE_KEY
        visits = []
        for _ in range(24):
            opened = session.post(f"{served.url}/api/visits", json={"procedures": ["juminhyo"]})
            assert opened.status_code == 201
            visits.append(opened.json()["visit_id"])
        place_card_after_start(app)  # after every visit began: the card is new to each
        start = threading.Barrier(24)

        def read(visit: str) -> tuple[int, str]:
            with requests.Session() as own:
                own.headers["X-Kiosk-Device"] = DEVICE_KEY
                start.wait()
                answer = own.post(
                    f"{served.url}/api/visits/{visit}/card/read?lang=en",
                    json={"pin": "1234"},
                    timeout=30,
                )
                body = answer.json()
                return answer.status_code, body.get("error", {}).get("code", "ok")

        with ThreadPoolExecutor(24) as pool:
            results = list(pool.map(read, visits))
        session.close()
    finally:
        served.close()
    codes = [code for _status, code in results]
    assert set(codes) <= {"ok", "reader_busy"}, codes
    assert codes.count("ok") >= 1 and codes.count("reader_busy") >= 1, codes
    assert all(status == (201 if code == "ok" else 409) for status, code in results)
    assert _tries(app) == 3


def test_reader_busy_is_explained_on_the_kiosk_screen(make_app: Callable[..., Flask]) -> None:
    """While another card operation runs, the kiosk's PIN step says the reader is busy in
    the screen's language (nothing sent to the card)."""
    app = make_app()
    kiosk = app.test_client()
    kiosk.post("/kiosk/start?lang=en")
    kiosk.post("/kiosk/procedures", data={"procedure": ["juminhyo"]})
    place_card_after_start(app)
    reader = services_of(app).card_reader
    with reader._exclusive():  # another operation holds the reader
        page = kiosk.get("/kiosk/pin?lang=en")
    assert page.status_code == 409
    assert "The card reader is busy" in page.get_data(as_text=True)
    assert kiosk.get("/kiosk/pin?lang=en").status_code == 200


def test_card_reads_have_a_per_address_budget(make_app: Callable[..., Flask]) -> None:
    """Over ``KIOSK_CARD_READS_PER_MINUTE`` from one address: 429 with Retry-After, the
    card untouched; another address still has its own budget."""
    app = make_app(card_reads_per_minute=3)
    kiosk = app.test_client()
    visit = kiosk.post("/api/visits", json={"procedures": ["juminhyo"]}).get_json()["visit_id"]
    for _ in range(3):
        assert kiosk.get(f"/api/visits/{visit}/card").status_code == 200
    over = kiosk.post(f"/api/visits/{visit}/card/read", json={"pin": "0000"})
    assert over.status_code == 429 and int(over.headers["Retry-After"]) >= 1
    assert over.get_json()["error"]["code"] == "too_many_requests"
    assert _tries(app) == 3
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "127.0.0.2"
    assert other.get(f"/api/visits/{visit}/card").status_code == 200


def test_logins_have_a_per_address_budget(make_app: Callable[..., Flask]) -> None:
    """Over ``KIOSK_LOGINS_PER_MINUTE`` log-in attempts from one address (whatever the
    usernames): 429; another address can still log in."""
    from tests.ui.staffkit import add_staff

    app = make_app(logins_per_minute=4)
    add_staff(app, "clerk")
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = LAN_PC
    answers = [
        attacker.post("/api/staff/login", json={"username": f"user{i}", "password": "x" * 12})
        for i in range(6)
    ]
    assert [a.status_code for a in answers] == [401, 401, 401, 401, 429, 429]
    owner = app.test_client()
    owner.environ_base["REMOTE_ADDR"] = "192.168.10.20"
    ok = owner.post("/api/staff/login", json={"username": "clerk", "password": "correct-horse-42"})
    assert ok.status_code == 200


class SlowVoice:
    """A stand-in for espeak-ng that takes 50 ms and counts how many run at once."""

    name = "slow"

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def available(self) -> bool:
        return True

    def synthesize(self, text: str, voice: str) -> bytes:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
        return b"RIFF" + text.encode()[:8]


def test_speech_is_budgeted_per_address_and_runs_two_at_a_time(tmp_path: Any) -> None:
    """16 parallel requests for new announcements run at most two syntheses at once, and
    one address over ``KIOSK_SPEECH_PER_MINUTE`` gets 429."""
    from application.services import build_services
    from kiosk.config import load_settings
    from tests.ui.conftest import upgraded_database
    from ui import create_app

    settings = load_settings(
        {
            "data_dir": tmp_path,
            "database_url": upgraded_database(tmp_path),
            "card_reader": "sim-direct",
            "speech_per_minute": 20,
        }
    )
    voice = SlowVoice()
    services = build_services(settings, synthesizer=voice)
    app = create_app(services=services)
    try:
        served = Served(app)
        try:
            with ThreadPoolExecutor(16) as pool:
                statuses = list(
                    pool.map(
                        lambda n: (
                            requests.get(
                                f"{served.url}/api/voice/call.wav",
                                params={"number": f"A-{n:03d}", "counter": "1", "lang": "ja"},
                                timeout=30,
                            ).status_code
                        ),
                        range(16),
                    )
                )
            assert voice.most <= 2
            assert set(statuses) <= {200, 503} and statuses.count(200) >= 2
            more = [
                requests.get(
                    f"{served.url}/api/voice/guide/welcome.wav", params={"lang": "ja"}, timeout=30
                ).status_code
                for _ in range(8)
            ]
            assert 429 in more
        finally:
            served.close()
    finally:
        services.close()


@pytest.mark.parametrize("path", ["/kiosk/", "/device/"])
def test_public_kiosk_pages_need_no_key(make_app: Callable[..., Flask], path: str) -> None:
    """The welcome page and the enrolment page answer anyone (they hold nothing)."""
    assert _stranger(make_app()).get(path).status_code == 200
