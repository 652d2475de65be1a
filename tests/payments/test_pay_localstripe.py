"""Stripe PaymentIntents, refunds and signed webhooks through the real stripe SDK against
localstripe (PyPI), started here as a separate process (it is GPL: never imported).

End to end: localstripe signs and POSTs ``payment_intent.succeeded`` to our Flask webhook
endpoint served on 127.0.0.1, which records the payment and issues the ticket.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import requests
from flask import Flask

from payments.collect import create_payment
from payments.models import PaymentStatus
from payments.provider import InvalidSignature, ProviderStatus
from payments.reconcile import reconcile
from payments.refunds import refund_payment
from payments.states import get_payment
from payments.stripe_terminal import StripeTerminalProvider
from tests.payments.conftest import (
    API_KEY,
    KIOSK,
    STAFF,
    Db,
    confirmed_case,
    connection,
    tickets_of,
)
from tests.support.waiting import wait_until

SECRET = "whsec_localstripe_test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def localstripe() -> Iterator[str]:
    """localstripe on a free port for the session; fails (never skips) if it cannot start."""
    exe = shutil.which("localstripe", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("localstripe is not installed in the venv: pip install localstripe")
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"localstripe did not start on port {port}")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def provider(localstripe: str) -> Iterator[StripeTerminalProvider]:
    p = StripeTerminalProvider(
        connection(localstripe), reader_id="tmr_unused", webhook_secret=SECRET
    )
    yield p
    p.close()


@pytest.fixture
def webhook_url(db: Db, provider: StripeTerminalProvider, localstripe: str) -> Iterator[str]:
    """Our webhook blueprint served over HTTP and registered with localstripe."""
    from ui.webhooks import bp

    app = Flask(__name__)
    # Only what the webhook endpoint uses of the services (ui.services.current_services).
    app.extensions["kiosk"] = SimpleNamespace(sessions=db.sessions, payments=provider)
    app.register_blueprint(bp)
    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/webhooks/stripe"
    resp = requests.post(
        f"{localstripe}/_config/webhooks/kiosk",
        json={"url": url, "secret": SECRET},
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=5,
    )
    resp.close()
    assert resp.status_code == 200
    yield url
    server.shutdown()
    server.server_close()
    thread.join(5)


def _charge(provider: StripeTerminalProvider, public_id: str, amount: int) -> str:
    """What the reader does with Stripe in production: a confirmed PaymentIntent."""
    client = provider.client
    pm = client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    pi = client.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "jpy",
            "payment_method": pm.id,
            "payment_method_types": ["card"],
            "confirm": True,
            "metadata": {"payment_id": public_id},
        },
        options={"idempotency_key": f"kiosk-{public_id}"},
    )
    return pi.id


def _paid_through_webhook(db: Db, provider: StripeTerminalProvider) -> tuple[int, str, str]:
    """A confirmed 300-yen case charged at localstripe and paid by its signed webhook (one
    ticket): (case id, payment public id, PaymentIntent id)."""
    case_id = confirmed_case(db)
    with db.tx() as s:
        payment = create_payment(s, case_id, provider_name=provider.name, actor=KIOSK)
        public_id = payment.public_id
    pi_id = _charge(provider, public_id, 300)

    def paid() -> bool:
        with db.tx() as s:
            return tickets_of(s, case_id) == 1

    wait_until(paid, timeout_s=15, interval_s=0.2, message="the webhook paying the case")
    return case_id, public_id, pi_id


def test_status_and_partial_refunds(provider: StripeTerminalProvider) -> None:
    """status reads a succeeded JPY PaymentIntent; refunds are partial and in whole yen."""
    pi_id = _charge(provider, "pay_ls1", 300)
    view = provider.status(pi_id)
    assert view.status is ProviderStatus.SUCCEEDED
    assert view.amount_yen == 300 and view.payment_intent_id == pi_id
    refund = provider.refund(pi_id, 100, idempotency_key="ls-r1", reason="staff")
    assert refund.refund_ref.startswith("re_") and refund.amount_yen == 100


def test_signed_webhook_reaches_the_endpoint_and_issues_a_ticket(
    db: Db, provider: StripeTerminalProvider, webhook_url: str
) -> None:
    """localstripe's signed payment_intent.succeeded pays the case through POST
    /webhooks/stripe: one ticket; a staff refund afterwards is recorded."""
    case_id, public_id, pi_id = _paid_through_webhook(db, provider)
    with db.tx() as s:
        paid = get_payment(s, public_id)
        assert paid.status is PaymentStatus.SUCCEEDED and paid.provider_ref == pi_id
    with db.tx() as s:
        refund_payment(s, provider, public_id, actor=STAFF, reason="窓口で取消", amount_yen=300)
    with db.tx() as s:
        assert get_payment(s, public_id).status is PaymentStatus.REFUNDED


def test_localstripe_signature_with_another_secret_is_rejected(
    localstripe: str, provider: StripeTerminalProvider
) -> None:
    """A localstripe event checked against another secret is InvalidSignature."""
    received: list[tuple[bytes, str]] = []

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        received.append((body, environ.get("HTTP_STRIPE_SIGNATURE", "")))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        resp = requests.post(
            f"{localstripe}/_config/webhooks/capture",
            json={
                "url": f"http://127.0.0.1:{server.server_port}/",
                "secret": "whsec_other",
                "events": ["payment_intent.succeeded"],
            },
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=5,
        )
        resp.close()
        _charge(provider, "pay_ls3", 300)
        wait_until(lambda: received, timeout_s=10, interval_s=0.1, message="a signed webhook")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        requests.post(
            f"{localstripe}/_config/webhooks/capture",
            json={"url": "http://127.0.0.1:9/", "secret": "x", "events": ["none.none"]},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=5,
        ).close()
    assert received, "localstripe sent no webhook"
    body, header = received[0]
    assert header.startswith("t=") and ",v1=" in header
    with pytest.raises(InvalidSignature):
        provider.parse_webhook(body, header)


def test_dashboard_refund_without_webhook_is_found_by_reconcile(
    db: Db, provider: StripeTerminalProvider, webhook_url: str
) -> None:
    """localstripe sends no refund events: a partial refund made beside the service (as in
    the Dashboard) is found by reconciliation through the Refunds list; the staff refund of
    the rest is then refunded in full and never recorded twice."""
    case_id, public_id, pi_id = _paid_through_webhook(db, provider)
    outside = provider.client.v1.refunds.create(params={"payment_intent": pi_id, "amount": 100})
    with db.tx() as s:
        report = reconcile(s, provider)
    assert report.refunds_found == [public_id]
    with db.tx() as s:
        paid = get_payment(s, public_id)
        assert paid.status is PaymentStatus.PARTIALLY_REFUNDED and paid.refunded_yen == 100
        assert [(r.actor, r.refund_ref) for r in paid.refunds] == [
            ("payment:stripe_terminal", outside.id)
        ]
    with db.tx() as s:
        refund_payment(s, provider, public_id, actor=STAFF, reason="窓口で取消")
    with db.tx() as s:
        assert reconcile(s, provider).refunds_found == []
    with db.tx() as s:
        done = get_payment(s, public_id)
        assert done.status is PaymentStatus.REFUNDED and done.refunded_yen == 300
        assert [r.actor for r in done.refunds] == ["payment:stripe_terminal", STAFF]
