"""Help that reaches staff: "Call staff" at a kiosk raises an alert (kiosk, screen, since
when; no personal data) on every staff console page and in ``GET /api/staff/alerts``,
live on the event server, until a member of staff acknowledges it (audited); the kiosk's
screen then says that someone is coming; the statistics show how long residents waited."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from kiosk.db import transaction
from kiosk.help import acknowledge_help, help_statistics, open_alerts, raise_help
from kiosk.models import AuditEvent, HelpRequest, Staff
from tests.ui.livekit import SseClient, start_live
from tests.ui.staffkit import PASSWORD, add_staff, login, post
from ui.services import services_of

T0 = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    app = make_app(sim_persona="", kiosk_id="kiosk-2F-east")
    add_staff(app, "sato", "staff")
    add_staff(app, "boss", "supervisor")
    return app


def _staff(app: Flask, username: str) -> Staff:
    with services_of(app).sessions() as s:
        staff = s.scalars(select(Staff).where(Staff.username == username)).one()
        s.expunge(staff)
        return staff


def _call_staff(kiosk: FlaskClient, screen: str) -> Any:
    return kiosk.post(
        "/kiosk/call-staff", data={"screen": screen}, headers={"X-Requested-With": "fetch"}
    )


def _console(app: Flask, username: str = "sato") -> FlaskClient:
    client = app.test_client()
    login(client, username)
    return client


def test_a_call_stays_open_until_acknowledged_once(app: Flask) -> None:
    """Pressing again keeps one request (its start time, the newer screen); the first
    acknowledgement is kept and audited with the wait, a second changes nothing."""
    sessions = services_of(app).sessions
    with transaction(sessions) as s:
        first = raise_help(s, "kiosk-1", "pin", now=T0)
        again = raise_help(s, "kiosk-1", "check", now=T0 + timedelta(seconds=20))
        other = raise_help(s, "kiosk-3", "welcome", now=T0 + timedelta(seconds=30))
        assert again.id == first.id and again.raised_at == T0 and again.screen == "check"
        assert other.id != first.id
        assert [a.kiosk_id for a in open_alerts(s)] == ["kiosk-1", "kiosk-3"]
    sato = _staff(app, "sato")
    with transaction(sessions) as s:
        done = acknowledge_help(s, first.id, s.get(Staff, sato.id), now=T0 + timedelta(seconds=75))
        assert done.acknowledged_now and done.alert.waited_s() == 75
        boss = s.scalars(select(Staff).where(Staff.username == "boss")).one()
        late = acknowledge_help(s, first.id, boss, now=T0 + timedelta(seconds=90))
        assert not late.acknowledged_now and late.alert.acknowledged_by == "sato"
        assert [a.kiosk_id for a in open_alerts(s)] == ["kiosk-3"]
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action.like("help.%"))).all()
        assert [(r.action, r.actor) for r in rows] == [
            ("help.raised", "kiosk:kiosk-1"),
            ("help.raised", "kiosk:kiosk-1"),
            ("help.raised", "kiosk:kiosk-3"),
            ("help.acknowledged", "staff:sato"),
        ]
        assert rows[-1].detail == {"help_id": first.id, "kiosk": "kiosk-1", "waited_s": 75}
        stats = help_statistics(s, T0.date())
    assert (stats.calls, stats.acknowledged, stats.still_open) == (2, 1, 1)
    assert stats.mean_wait_s == 75 and stats.longest_wait_s == 75


def test_an_unknown_screen_is_recorded_as_other(app: Flask) -> None:
    """Only known screen names are kept: the request holds nothing a client made up."""
    with transaction(services_of(app).sessions) as s:
        assert raise_help(s, "kiosk-1", "<script>", now=T0).screen == "other"


def test_call_staff_reaches_every_console_page_until_someone_goes(app: Flask) -> None:
    """The kiosk's call is on the overview, the counter and the statistics pages of every
    logged-in member of staff, with the kiosk's name and screen and no personal data; "I am
    going" removes it everywhere (audited) and the kiosk's screen says someone is coming."""
    kiosk = app.test_client()
    kiosk.get("/kiosk/?lang=ja")
    kiosk.post("/kiosk/start")
    assert _call_staff(kiosk, "pin").status_code == 200
    state = kiosk.get("/kiosk/help/state").get_json()
    assert state["state"] == "open"
    assert state["message"] == "職員を 呼びました。ここで お待ちください。"
    sato, boss = _console(app, "sato"), _console(app, "boss")
    for console, page in ((sato, "/staff/"), (sato, "/staff/counter"), (boss, "/staff/stats")):
        body = console.get(page + "?lang=en").get_data(as_text=True)
        assert 'id="help-alerts"' in body, page
        assert "kiosk-2F-east" in body and "Entering the PIN" in body
        assert ">I am going</button>" in body
    with services_of(app).sessions() as s:
        help_id = s.scalars(select(HelpRequest.id)).one()
    going = post(sato, f"/staff/help/{help_id}/acknowledge", next="/staff/counter")
    assert going.status_code == 302 and going.headers["Location"] == "/staff/counter"
    page = boss.get("/staff/?lang=en").get_data(as_text=True)
    assert ">I am going</button>" not in page and "sato is going" in page
    coming = kiosk.get("/kiosk/help/state").get_json()
    assert coming["state"] == "acknowledged"
    assert coming["message"] == "職員が いま 向かっています。ここで お待ちください。"
    assert coming["voice"] == "/api/voice/guide/staff_coming.wav?lang=ja"
    with services_of(app).sessions() as s:
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "help.acknowledged"))
        assert [a.actor for a in audit] == ["staff:sato"]


def test_the_kiosk_forgets_an_old_acknowledged_call(app: Flask) -> None:
    """A few minutes after someone came, the kiosk shows nothing about it any more."""
    kiosk = app.test_client()
    _call_staff(kiosk, "welcome")
    sessions = services_of(app).sessions
    with transaction(sessions) as s:
        request = s.scalars(select(HelpRequest)).one()
        request.acknowledged_at = datetime.now(UTC) - timedelta(minutes=4)
    assert kiosk.get("/kiosk/help/state").get_json() == {"state": "none"}
    assert app.test_client().get("/kiosk/help/state").get_json() == {"state": "none"}


def test_the_console_shows_no_alerts_before_log_in(app: Flask) -> None:
    """The log-in page carries no alert and no stream key."""
    _call_staff(app.test_client(), "card")
    body = app.test_client().get("/staff/login").get_data(as_text=True)
    assert "help-alerts" not in body and "kiosk-2F-east" not in body


def _token(client: FlaskClient, username: str) -> dict[str, str]:
    body = client.post("/api/staff/login", json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {body.get_json()['token']}"}


def test_api_lists_and_acknowledges_alerts(app: Flask) -> None:
    """GET /api/staff/alerts lists open calls (staff token needed); acknowledging through
    the API is the console's operation (audited, once); statistics for supervisors."""
    _call_staff(app.test_client(), "check")
    api = app.test_client()
    assert api.get("/api/staff/alerts").status_code == 401
    headers = _token(api, "sato")
    alerts = api.get("/api/staff/alerts", headers=headers).get_json()["alerts"]
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["kiosk_id"] == "kiosk-2F-east" and alert["screen"] == "check"
    assert alert["acknowledged_at"] is None and alert["waited_s"] >= 0
    assert set(alert) == {
        "id",
        "kiosk_id",
        "screen",
        "raised_at",
        "acknowledged_at",
        "acknowledged_by",
        "waited_s",
    }
    done = api.post(f"/api/staff/alerts/{alert['id']}/acknowledge", headers=headers).get_json()
    assert done["acknowledged_now"] is True and done["alert"]["acknowledged_by"] == "sato"
    assert api.get("/api/staff/alerts", headers=headers).get_json() == {"alerts": []}
    boss = _token(api, "boss")
    again = api.post(f"/api/staff/alerts/{alert['id']}/acknowledge", headers=boss).get_json()
    assert again["acknowledged_now"] is False and again["alert"]["acknowledged_by"] == "sato"
    missing = api.post("/api/staff/alerts/999/acknowledge", headers=headers)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    assert api.get("/api/staff/alerts/statistics", headers=headers).status_code == 403
    stats = api.get("/api/staff/alerts/statistics", headers=boss).get_json()
    assert stats["calls"] == 1 and stats["acknowledged"] == 1 and stats["still_open"] == 0
    assert "/api/staff/alerts" in api.get("/api/openapi.json").get_json()["paths"]


def test_statistics_page_shows_how_long_residents_waited_for_help(app: Flask) -> None:
    """The statistics page has the day's calls for staff and the waits until acknowledged."""
    sessions = services_of(app).sessions
    today = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    sato = _staff(app, "sato")
    with transaction(sessions) as s:
        for kiosk, wait in (("kiosk-1", 40), ("kiosk-2", 100)):
            request = raise_help(s, kiosk, "card", now=today)
            later = today + timedelta(seconds=wait)
            acknowledge_help(s, request.id, s.get(Staff, sato.id), now=later)
        raise_help(s, "kiosk-3", "pay", now=today)
    page = _console(app, "boss").get("/staff/stats?lang=en").get_data(as_text=True)
    section = page[page.index('id="help-stats"') :]
    cells = re.findall(r"<td>([^<]*)</td>", section)[:6]
    assert cells == ["3", "2", "1", "70", "100", "100"]


@pytest.fixture
def live(app: Flask) -> Iterator[Any]:
    service = start_live(app)
    yield service
    service.stop()


def _stream_key(console: FlaskClient) -> str:
    body = console.get("/staff/").get_data(as_text=True)
    found = re.search(r'data-stream="[^"]*\?key=([^"]+)"', body)
    assert found is not None
    return html.unescape(found.group(1))


def test_alerts_reach_open_consoles_live_and_the_kiosk_hears_back(app: Flask, live: Any) -> None:
    """A console's stream (signed key from its page) gets the call within a second, and
    the acknowledgement; the kiosk's own stream gets ``open``, then ``acknowledged`` and its
    end. Without a valid key there is no staff stream."""
    base = f"http://127.0.0.1:{live.server.port}"
    console = _console(app, "sato")
    key = _stream_key(console)
    assert SseClient(f"{base}/staff/help/events").status == 403
    assert SseClient(f"{base}/staff/help/events?key={key}x").status == 403
    staff = SseClient(f"{base}/staff/help/events?key={key}")
    assert staff.status == 200
    staff.wait_for(lambda kind, data: kind == "help" and data["alerts"] == [])
    kiosk = app.test_client()
    _call_staff(kiosk, "fields")
    raised = time.monotonic()
    seen, _, data = staff.wait_for(lambda kind, data: kind == "help" and data["alerts"])
    assert seen - raised < 1.0
    alert = data["alerts"][0]
    assert alert["kiosk_id"] == "kiosk-2F-east" and alert["screen"] == "fields"
    assert "token" not in alert and "states" not in data
    state = kiosk.get("/kiosk/help/state").get_json()
    path = state["stream"].split(f":{live.server.port}", 1)[1]  # the page's host name
    assert re.fullmatch(r"/kiosk/help/[A-Za-z0-9_-]+/events", path)
    follower = SseClient(base + path)
    follower.wait_for(lambda kind, data: kind == "help" and data["state"] == "open")
    post(console, f"/staff/help/{alert['id']}/acknowledge")
    staff.wait_for(
        lambda kind, data: kind == "help" and any(a["acknowledged_by"] for a in data["alerts"])
    )
    follower.wait_for(lambda kind, data: kind == "help" and data["state"] == "acknowledged")
    follower.wait_for(lambda kind, _data: kind == "end")
    assert SseClient(f"{base}/kiosk/help/not-a-known-token/events").status == 404
    staff.close()
