"""Issue 10, recovery after a crash: ``kiosk serve`` really killed (SIGKILL, by its own
``KIOSK_TEST_CRASH_AT`` hook) right after each transition of a resident's visit, then
restarted: no case is left in a transient state, no payment open, nothing charged twice,
and the kiosk's Stripe reader (the stand-in, which keeps a reader busy as a real one does)
takes the next resident's payment within 10 s of the restart.

Before (issue 10): 4 to 41 cases stuck per crash run, and a payment left on the reader
refused every resident for about five minutes.

The service runs as in ``tests/payments/test_pay_sigkill.py`` (same harness): waitress, a
SQLite file, the in-process simulated card, ``stripe_terminal`` against the stand-in served
by this test process, which outlives the restarts as Stripe would and sends its signed
webhooks to the service.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kiosk.clock import business_day
from tests.payments.test_pay_sigkill import PIN, KioskService, _present_card, _wait_for
from tests.support.stripe_standin import DEFAULT_READER, StandinServer
from tests.ui.conftest import DEVICE_KEY

pytestmark = pytest.mark.slow

TRANSIENT = {"draft", "confirmed", "awaiting_payment", "paid"}
READER_USABLE_S = 10.0


@pytest.fixture
def service(tmp_path: Path, standin: StandinServer) -> Iterator[KioskService]:
    svc = KioskService(tmp_path, standin.url)
    upgraded = svc.cli("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    standin.standin.webhook_url = f"{svc.url}/webhooks/stripe"
    try:
        yield svc
    finally:
        svc.stop()
        standin.standin.webhook_url = None


def _api(svc: KioskService) -> requests.Session:
    http = requests.Session()
    http.headers["X-Kiosk-Device"] = DEVICE_KEY
    return http


def _open_and_read(http: requests.Session, svc: KioskService, free: bool) -> tuple[str, int]:
    api = f"{svc.url}/api"
    if free:
        body = {
            "procedures": ["tenshutsu"],
            "fields": {
                "tenshutsu": {
                    "destination_address": "大阪府大阪市北区中之島一丁目3番20号",
                    "moving_date": business_day().isoformat(),
                }
            },
        }
    else:
        body = {"procedures": ["juminhyo"]}
    opened = http.post(f"{api}/visits", json=body, timeout=10)
    assert opened.status_code == 201, opened.text
    visit = opened.json()["visit_id"]
    svc.place_card()
    # A 転出届 also asks for the JPKI check (the demo catalog): yamada's two PINs are the same.
    pins = {"pin": PIN, "jpki_pin": PIN} if free else {"pin": PIN}
    read = http.post(f"{api}/visits/{visit}/card/read", json=pins, timeout=10)
    assert read.status_code == 201, read.text
    return visit, int(read.json()["case_id"])


def _crash_during_visit(svc: KioskService, standin: StandinServer, point: str) -> int:
    """Drive one visit until the service kills itself at ``point``; returns the case id."""
    http = _api(svc)
    api = f"{svc.url}/api"
    free = point == "after_ticket_issued"
    if point == "after_case_opened":
        opened = http.post(f"{api}/visits", json={"procedures": ["juminhyo"]}, timeout=10)
        visit = opened.json()["visit_id"]
        svc.place_card()
        with pytest.raises(requests.ConnectionError):
            http.post(f"{api}/visits/{visit}/card/read", json={"pin": PIN}, timeout=10)
        svc.wait_killed()
        ((case_id,),) = svc.query("SELECT id FROM cases")
        return int(case_id)
    visit, case_id = _open_and_read(http, svc, free)
    if point in ("after_case_confirmed", "after_ticket_issued"):
        with pytest.raises(requests.ConnectionError):
            http.post(f"{api}/visits/{visit}/confirm", timeout=10)
        svc.wait_killed()
        return case_id
    confirmed = http.post(f"{api}/visits/{visit}/confirm", timeout=10)
    assert confirmed.status_code == 200, confirmed.text
    if point == "after_succeeded_before_ticket":
        started = http.post(f"{api}/visits/{visit}/payment", timeout=10)
        assert started.status_code == 201 and started.json()["status"] == "pending"
        _present_card(standin)  # the success webhook kills the service mid-transaction
        svc.wait_killed()
        return case_id
    with pytest.raises(requests.ConnectionError):
        http.post(f"{api}/visits/{visit}/payment", timeout=10)
    svc.wait_killed()
    return case_id


def _reader_busy(standin: StandinServer) -> bool:
    action = standin.standin.reader_objects[DEFAULT_READER]["action"]
    return bool(action and action["status"] == "in_progress")


def _next_resident_pays(svc: KioskService, standin: StandinServer) -> None:
    """A new resident's payment goes onto the reader (not "reader busy") and is taken."""
    http = _api(svc)
    visit, case_id = _open_and_read(http, svc, free=False)
    assert http.post(f"{svc.url}/api/visits/{visit}/confirm", timeout=10).status_code == 200
    started = http.post(f"{svc.url}/api/visits/{visit}/payment", timeout=10)
    assert started.status_code == 201 and started.json()["status"] == "pending", started.text
    _present_card(standin)
    _wait_for(lambda: svc.tickets(case_id) == 1, 10, "the next resident's ticket")


POINTS = [
    "after_case_opened",
    "after_case_confirmed",
    "after_ticket_issued",
    "after_payment_created",
    "after_intent_created",
    "after_payment_pending",
    "after_succeeded_before_ticket",
]


@pytest.mark.parametrize("point", POINTS)
def test_sigkill_at_each_transition_leaves_nothing_stuck(
    service: KioskService, standin: StandinServer, point: str
) -> None:
    """SIGKILL right after ``point``, restart: the case is where a resident or staff can
    finish it (cancelled with an audit row, or queued with its one ticket), no payment is
    open, at most one charge, the reader takes the next payment within 10 s of the restart,
    and ``kiosk payments reconcile`` then finds nothing left."""
    service.start(crash_at=point)
    case_id = _crash_during_visit(service, standin, point)
    assert service.case_status(case_id) in TRANSIENT | {"queued"}
    restarted = time.monotonic()
    service.start()
    _wait_for(lambda: not _reader_busy(standin), READER_USABLE_S, "a free payment reader")
    _next_resident_pays(service, standin)
    assert time.monotonic() - restarted < READER_USABLE_S + 10  # start-up, then one visit
    status = service.case_status(case_id)
    assert status in ("cancelled", "queued"), status
    open_payments = service.query(
        "SELECT public_id, status FROM payments WHERE status IN ('created', 'pending')"
    )
    assert open_payments == []
    if status == "queued":
        assert service.tickets(case_id) == 1
    else:
        assert service.tickets(case_id) == 0
        reasons = service.query(
            "SELECT detail FROM audit_events WHERE case_id = ? AND action = 'case.cancelled'",
            case_id,
        )
        assert len(reasons) == 1 and "kiosk_restarted" in reasons[0][0]
    charged = [
        pi
        for pi in standin.standin.payment_intents.values()
        if pi["status"] == "succeeded" and pi["metadata"].get("case") == f"case-{case_id}"
    ]
    assert len(charged) == (1 if point == "after_succeeded_before_ticket" else 0)
    stuck = service.query(
        "SELECT id, status FROM cases WHERE status IN "
        "('draft', 'confirmed', 'awaiting_payment', 'paid')"
    )
    assert stuck == []
    again = service.cli("payments", "reconcile")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "repaired=0 tickets_issued=0 unreachable=0" in again.stdout, again.stdout
    assert "payments_settled=0 reader_released=none cases_returned=0" in again.stdout


def test_reconcile_frees_a_reader_left_busy_without_a_restart(
    service: KioskService, standin: StandinServer
) -> None:
    """A payment row that failed on a time-out while the reader got the action anyway
    (the reader stays busy, nobody waits): ``kiosk payments reconcile`` cancels the reader
    action, but never one of a payment still in progress."""
    service.start()
    http = _api(service)
    visit, case_id = _open_and_read(http, service, free=False)
    assert http.post(f"{service.url}/api/visits/{visit}/confirm", timeout=10).status_code == 200
    started = http.post(f"{service.url}/api/visits/{visit}/payment", timeout=10)
    assert started.json()["status"] == "pending"
    assert _reader_busy(standin)
    live = service.cli("payments", "reconcile")
    assert "reader_released=none" in live.stdout, live.stdout  # a resident is paying
    assert _reader_busy(standin)
    service.query("UPDATE payments SET status = 'failed' WHERE case_id = ?", case_id)
    freed = service.cli("payments", "reconcile")
    assert "reader_released=pi_" in freed.stdout, freed.stdout
    assert not _reader_busy(standin)
