"""The service really dies: SIGKILL of ``kiosk serve`` in the middle of a payment.

``test_pay_faults.py`` simulates the crash in-process (an exception between two steps).
Here the actual service runs as a subprocess (waitress, SQLite file, ``sim-direct`` card
reader, ``stripe_terminal`` provider) against the Stripe stand-in served by this test
process on another port, which keeps its state across the kill as Stripe would and sends
its signed webhooks to the service. A visit is driven over the JSON API up to the payment.

Choosing the kill point: a timer or a signal sent from here would land at a random moment
(usually before or after the interesting window, which is a few microseconds wide), and
holding a stand-in response would only catch the process *before* the PaymentIntent
exists. So the service kills itself: ``payments.states.crash_point`` sends SIGKILL to its
own process when ``KIOSK_TEST_CRASH_AT`` names the point, which is read only when this
test sets it (a no-op otherwise). The two points are the ones the issue names:

- ``after_intent_created``: ``provider.start`` returned (the PaymentIntent exists and is
  on the reader) but our row, committed as ``created`` before the call, has no
  PaymentIntent id yet. The resident pays at the reader while the service is down.
- ``after_succeeded_before_ticket``: the success webhook is being applied: the payment is
  succeeded and the case paid in the open transaction, the ticket not issued yet.

Then the service is restarted without the variable: its start-up reconciliation repairs
the payment; ``kiosk payments reconcile`` afterwards finds nothing left to do, and the
stand-in re-delivers every event (late, duplicated) without changing anything. Checked:
exactly one succeeded charge at the stand-in, one succeeded Payment row, one ticket, the
case queued.

A ``created`` row younger than ``CREATED_GRACE`` (60 s) may still have its provider call in
flight, so reconciliation leaves it alone; rather than wait a minute, the first test moves
the row's ``created_at`` back while the service is down (it stayed down for 3 minutes).
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest
import requests

from tests.payments.conftest import API_KEY, WEBHOOK_SECRET
from tests.support.stripe_standin import DEFAULT_READER, StandinServer, StripeStandin
from tests.support.waiting import wait_until
from tests.ui.conftest import DEVICE_KEY

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
KIOSK_EXE = Path(sys.executable).parent / "kiosk"
PIN = "1234"  # the default persona's (yamada)
START_TIMEOUT_S = 20.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    wait_until(check, timeout_s=timeout_s, interval_s=0.05, message=what)


class KioskService:
    """``kiosk serve`` and the ``kiosk`` CLI on one data directory, as subprocesses.

    Each server runs in its own process group (``start_new_session``), which ``stop`` kills
    as a whole: nothing outlives the test.
    """

    def __init__(self, tmp: Path, standin_url: str) -> None:
        if not KIOSK_EXE.exists():
            pytest.fail(f"{KIOSK_EXE} is missing: install the project into the venv")
        self.tmp = tmp
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_file = tmp / "kiosk.sqlite3"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
        self.env = {
            **clean,
            "KIOSK_DATA_DIR": str(tmp / "data"),
            "KIOSK_DATABASE_URL": f"sqlite:///{self.db_file}",
            "KIOSK_CARD_READER": "sim-direct",
            "KIOSK_PAYMENTS": "stripe_terminal",
            "KIOSK_STRIPE_API_KEY": API_KEY,
            "KIOSK_STRIPE_API_BASE": standin_url,
            "KIOSK_STRIPE_READER_ID": DEFAULT_READER,
            "KIOSK_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "KIOSK_RECONCILE_INTERVAL_S": "3600",  # only the start-up run, during the test
            "KIOSK_DEVICE_KEY": DEVICE_KEY,  # the API client below is the kiosk's screen
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.runs = 0

    def place_card(self, persona: str = "yamada") -> None:
        """The resident places their card once the visit has started (one card, one visit):
        the simulator panel, which answers this machine in simulation."""
        placed = requests.post(
            f"{self.url}/sim/card",
            data={"action": "insert", "persona": persona},
            allow_redirects=False,
            timeout=10,
        )
        assert placed.status_code == 302, placed.text

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run ``kiosk <args>`` to completion with the service's environment."""
        return subprocess.run(
            [str(KIOSK_EXE), *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            start_new_session=True,
        )

    def start(self, crash_at: str | None = None) -> None:
        """Start the server (optionally armed to kill itself) and wait until it answers."""
        assert self.proc is None or self.proc.poll() is not None
        self.close_log()
        env = dict(self.env)
        if crash_at:
            env["KIOSK_TEST_CRASH_AT"] = crash_at
        self.runs += 1
        self._log = (self.tmp / f"serve-{self.runs}.log").open("wb")
        self.proc = subprocess.Popen(
            [str(KIOSK_EXE), "serve", "--port", str(self.port), "--threads", "4"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"kiosk serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with requests.get(f"{self.url}/healthz", timeout=2) as r:
                    if r.status_code == 200:
                        return
                    status = f"{r.status_code} {r.text}"
            except requests.ConnectionError:
                status = "not listening"
            if time.monotonic() > deadline:
                pytest.fail(f"kiosk serve not healthy ({status}):\n{self.log()}")
            time.sleep(0.1)

    def wait_killed(self, timeout_s: float = 15.0) -> None:
        """Wait for the server to die by its own SIGKILL (the crash point was reached)."""
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the crash point was not reached in {timeout_s} s:\n{self.log()}")
        assert code == -signal.SIGKILL, f"exit {code}:\n{self.log()}"

    def stop(self) -> None:
        """Kill the server's whole process group (if still running) and reap it."""
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait(10)
        self.close_log()

    def close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        path = self.tmp / f"serve-{self.runs}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    # --- the database, read (and once, aged) directly ------------------------------------

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(self.db_file, timeout=10)) as conn, conn:
            return conn.execute(sql, params).fetchall()

    def payments(self, case_id: int) -> list[tuple[str, str, str | None]]:
        """(public id, status, PaymentIntent id) of the case's payments."""
        return [
            (row[0], row[1], row[2])
            for row in self.query(
                "SELECT public_id, status, provider_ref FROM payments WHERE case_id = ?", case_id
            )
        ]

    def tickets(self, case_id: int) -> int:
        return self.query("SELECT count(*) FROM tickets WHERE case_id = ?", case_id)[0][0]

    def case_status(self, case_id: int) -> str:
        return self.query("SELECT status FROM cases WHERE id = ?", case_id)[0][0]

    def age_payments(self, case_id: int, by: timedelta) -> None:
        """Move the case's payments' ``created_at`` back: the service was down this long."""
        for row_id, created in self.query(
            "SELECT id, created_at FROM payments WHERE case_id = ?", case_id
        ):
            older = datetime.fromisoformat(created) - by
            self.query(
                "UPDATE payments SET created_at = ? WHERE id = ?",
                older.isoformat(sep=" ", timespec="microseconds"),
                row_id,
            )


@pytest.fixture
def standin() -> Iterator[StandinServer]:
    """The Stripe stand-in on a free port; it outlives every restart of the service."""
    server = StandinServer(StripeStandin(webhook_secret=WEBHOOK_SECRET))
    with server:
        yield server


@pytest.fixture
def service(tmp_path: Path, standin: StandinServer) -> Iterator[KioskService]:
    """A migrated SQLite database and the means to run ``kiosk serve`` on it (not started);
    the stand-in's webhooks go to the service's port."""
    svc = KioskService(tmp_path, standin.url)
    upgraded = svc.cli("db", "upgrade")
    if upgraded.returncode != 0:
        pytest.fail(f"kiosk db upgrade failed:\n{upgraded.stdout}{upgraded.stderr}")
    standin.standin.webhook_url = f"{svc.url}/webhooks/stripe"
    try:
        yield svc
    finally:
        svc.stop()
        standin.standin.webhook_url = None


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """An API client holding the kiosk's device key (visits answer only to the kiosk)."""
    with requests.Session() as session:
        session.headers["X-Kiosk-Device"] = DEVICE_KEY
        yield session


def _visit_to_payment(http: requests.Session, svc: KioskService) -> tuple[str, int]:
    """A resident's visit over the JSON API up to the "pay" tap: (visit id, case id)."""
    api = f"{svc.url}/api"
    opened = http.post(f"{api}/visits", json={"procedures": ["juminhyo"]}, timeout=10)
    assert opened.status_code == 201, opened.text
    visit = opened.json()["visit_id"]
    svc.place_card()
    read = http.post(f"{api}/visits/{visit}/card/read", json={"pin": PIN}, timeout=10)
    assert read.status_code == 201, read.text
    confirmed = http.post(f"{api}/visits/{visit}/confirm", timeout=10)
    assert confirmed.status_code == 200 and confirmed.json()["fee_yen"] > 0, confirmed.text
    return visit, read.json()["case_id"]


def _present_card(server: StandinServer) -> None:
    """The resident taps a good card on the (simulated) reader: Stripe's test helper."""
    url = f"{server.url}/v1/test_helpers/terminal/readers/{DEFAULT_READER}/present_payment_method"
    with requests.post(
        url,
        data={"type": "card_present", "card_present[number]": "4242424242424242"},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=10,
    ) as r:
        assert r.status_code == 200, r.text


def _intents(server: StandinServer, public_id: str) -> list[dict[str, Any]]:
    return [
        pi
        for pi in server.standin.payment_intents.values()
        if pi["metadata"].get("payment_id") == public_id
    ]


def _succeeded_charges(server: StandinServer) -> list[str]:
    """Charges at the stand-in (all payments: this test made only one)."""
    return [
        pi["latest_charge"]
        for pi in server.standin.payment_intents.values()
        if pi["status"] == "succeeded" and pi["latest_charge"]
    ]


def _restart_and_reconcile(svc: KioskService, server: StandinServer, case_id: int) -> None:
    """Restart (its start-up reconciliation repairs the payment), then the CLI reconciliation
    finds nothing left and a late re-delivery of every event changes nothing."""
    svc.start()
    _wait_for(
        lambda: svc.tickets(case_id) > 0 and svc.payments(case_id)[0][1] == "succeeded",
        15,
        "the start-up reconciliation",
    )
    done = svc.cli("payments", "reconcile")
    assert done.returncode == 0, done.stderr
    assert "repaired=0 tickets_issued=0 unreachable=0" in done.stdout, done.stdout
    server.standin.join_deliveries()
    with requests.Session() as http:
        for event in list(server.standin.events):
            body, header = server.standin.sign(event)
            answer = http.post(
                f"{svc.url}/webhooks/stripe",
                data=body,
                headers={"Content-Type": "application/json", "Stripe-Signature": header},
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
            answer.close()


def _assert_one_charge_one_ticket(svc: KioskService, server: StandinServer, case_id: int) -> None:
    (payment,) = svc.payments(case_id)
    public_id, status, intent = payment
    assert status == "succeeded"
    (pi,) = _intents(server, public_id)
    assert intent == pi["id"] and pi["status"] == "succeeded"
    assert _succeeded_charges(server) == [pi["latest_charge"]]
    assert svc.tickets(case_id) == 1
    assert svc.case_status(case_id) == "queued"


def test_sigkill_after_intent_created(
    service: KioskService, standin: StandinServer, http: requests.Session
) -> None:
    """Killed (SIGKILL) after the PaymentIntent was created, the resident paying while the
    service is down: after restart and reconciliation, one charge and one ticket."""
    service.start(crash_at="after_intent_created")
    visit, case_id = _visit_to_payment(http, service)
    with pytest.raises(requests.ConnectionError):
        http.post(f"{service.url}/api/visits/{visit}/payment", timeout=10)
    service.wait_killed()
    ((public_id, status, intent),) = service.payments(case_id)
    assert (status, intent) == ("created", None)  # the PaymentIntent id died with the process
    (pi,) = _intents(standin, public_id)
    reader = standin.standin.reader_objects[DEFAULT_READER]
    assert reader["action"]["process_payment_intent"]["payment_intent"] == pi["id"]
    _present_card(standin)  # its webhooks find nobody listening
    assert _succeeded_charges(standin) == [pi["latest_charge"]]
    service.age_payments(case_id, timedelta(minutes=3))
    _restart_and_reconcile(service, standin, case_id)
    _assert_one_charge_one_ticket(service, standin, case_id)


def test_sigkill_after_succeeded_before_ticket(
    service: KioskService, standin: StandinServer, http: requests.Session
) -> None:
    """Killed (SIGKILL) while the success webhook was applied, before the ticket: after
    restart and reconciliation, one charge and one ticket."""
    service.start(crash_at="after_succeeded_before_ticket")
    visit, case_id = _visit_to_payment(http, service)
    started = http.post(f"{service.url}/api/visits/{visit}/payment", timeout=10)
    assert started.status_code == 201 and started.json()["status"] == "pending", started.text
    _present_card(standin)  # payment_intent.succeeded goes to the service, which dies on it
    service.wait_killed()
    ((_public_id, status, _intent),) = service.payments(case_id)
    assert status == "pending"  # the open transaction died with the process
    assert service.tickets(case_id) == 0
    assert service.case_status(case_id) == "awaiting_payment"
    assert len(_succeeded_charges(standin)) == 1
    _restart_and_reconcile(service, standin, case_id)
    _assert_one_charge_one_ticket(service, standin, case_id)
