"""The simulator panel's refund at the terminal (the terminal's own menu, outside the
service) and its "reconcile now": through the panel's forms, the app's own Reconciler, and
the payment, case and ticket as the service then holds them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from kiosk.models import Case
from payments.states import get_payment
from tests.ui.staffkit import paid_ticket
from ui.services import services_of


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The whole app on the simulator, its terminal approving every payment at once."""
    return make_app(sim_terminal_auto="approve")


def state(app: Flask, info: dict[str, Any]) -> tuple[str, int, str, str]:
    """(payment status, refunded yen, case status, ticket status) as the service holds them."""
    with services_of(app).sessions() as s:
        payment = get_payment(s, info["payment_id"])
        case = s.get(Case, info["case_id"])
        assert case is not None and case.ticket is not None
        return (
            payment.status.value,
            payment.refunded_yen,
            case.status.value,
            case.ticket.status.value,
        )


def offered(client: FlaskClient, lang: str = "en") -> dict[str, str]:
    """The panel's refundable payments: option text by value (the terminal's reference)."""
    html = client.get(f"/sim/?lang={lang}").get_data(as_text=True)
    select = re.search(r'<select id="sim-refund-payment".*?</select>', html, re.S)
    if select is None:
        return {}
    return dict(re.findall(r'<option value="([^"]+)">([^<]*)</option>', select.group(0)))


def flashed(response: Any) -> str:
    """The notice the panel shows after a redirect."""
    found = re.search(r'<p class="notice" role="status">(.*?)</p>', response.get_data(as_text=True))
    assert found, "no notice on the panel"
    return found.group(1)


def test_full_refund_at_the_terminal_then_reconcile_refunds_the_case(app: Flask) -> None:
    """A full refund picked on the panel changes nothing in the service until "reconcile
    now": then the payment and the case are refunded and the waiting ticket is cancelled."""
    info = paid_ticket(app)
    client = app.test_client()
    options = offered(client)
    assert len(options) == 1
    ((ref, label),) = options.items()
    assert info["number"] in label and "¥300 left" in label
    html = client.get("/sim/?lang=en").get_data(as_text=True)
    assert "the service is not told" in html and "every 5 minutes" in html

    response = client.post(
        "/sim/terminal/refund", data={"payment": ref, "amount": ""}, follow_redirects=True
    )
    assert "Refunded ¥300 at the terminal" in flashed(response)
    assert state(app, info) == ("succeeded", 0, "queued", "waiting")  # not told
    panel = response.get_data(as_text=True)
    assert f'data-ref="{ref}" data-status="succeeded"' in panel
    assert "not recorded yet" in panel
    assert offered(client) == {}  # nothing left to refund on the terminal

    response = client.post("/sim/reconcile", follow_redirects=True)
    assert "found in 1 payment." in flashed(response)
    assert state(app, info) == ("refunded", 300, "refunded", "cancelled")
    panel = response.get_data(as_text=True)
    assert f'data-ref="{ref}" data-status="refunded"' in panel
    assert "not recorded yet" not in panel
    assert 'id="sim-refund-none"' in panel


def test_partial_refund_at_the_terminal_leaves_the_case_queued(app: Flask) -> None:
    """A partial refund, once reconciled, makes the payment partially refunded by that
    amount; the case keeps its ticket and the rest can still be refunded."""
    info = paid_ticket(app)
    client = app.test_client()
    (ref,) = offered(client)
    response = client.post(
        "/sim/terminal/refund", data={"payment": ref, "amount": "100"}, follow_redirects=True
    )
    assert "Refunded ¥100 at the terminal" in flashed(response)
    assert "¥200 left" in offered(client)[ref]
    assert state(app, info) == ("succeeded", 0, "queued", "waiting")
    response = client.post("/sim/reconcile", follow_redirects=True)
    assert "found in 1 payment." in flashed(response)
    assert state(app, info) == ("partially_refunded", 100, "queued", "waiting")
    # a second reconcile finds nothing new
    assert "found in 0 payments." in flashed(client.post("/sim/reconcile", follow_redirects=True))
    assert state(app, info)[1] == 100


def test_the_terminal_refuses_more_than_is_left(app: Flask) -> None:
    """Asking back more than is left is refused on the terminal: a notice, nothing refunded."""
    info = paid_ticket(app)
    client = app.test_client()
    (ref,) = offered(client)
    response = client.post("/sim/terminal/refund", data={"payment": ref, "amount": "301"})
    assert response.status_code == 303
    assert "more than is left" in flashed(client.get("/sim/?lang=en"))
    assert services_of(app).payments.terminal.get(ref).refunded_yen == 0
    client.post("/sim/reconcile")
    assert state(app, info) == ("succeeded", 0, "queued", "waiting")


@pytest.mark.parametrize(
    "data",
    [
        {"payment": "simpay_nope", "amount": ""},
        {"payment": "", "amount": ""},
        {"payment": "PAYMENT", "amount": "x"},
        {"payment": "PAYMENT", "amount": "0"},
        {"payment": "PAYMENT", "amount": "-5"},
    ],
)
def test_malformed_refund_is_400(app: Flask, data: dict[str, str]) -> None:
    """An unknown payment or an amount that is not a positive number is a 400; nothing is
    refunded."""
    info = paid_ticket(app)
    client = app.test_client()
    (ref,) = offered(client)
    data = {k: ref if v == "PAYMENT" else v for k, v in data.items()}
    assert client.post("/sim/terminal/refund", data=data).status_code == 400
    assert services_of(app).payments.terminal.get(ref).refunded_yen == 0
    assert state(app, info)[0] == "succeeded"


def test_panel_refund_section_in_japanese(app: Flask) -> None:
    """The refund section and its notices speak Japanese on a Japanese panel."""
    paid_ticket(app)
    client = app.test_client()
    html = client.get("/sim/?lang=ja").get_data(as_text=True)
    assert "端末で返金" in html and "サービスには知らされません" in html and "（5 分ごと）" in html
    assert "今すぐ照合" in html
    (ref,) = offered(client, "ja")
    response = client.post("/sim/terminal/refund", data={"payment": ref}, follow_redirects=True)
    assert "端末で 300円 を返金しました" in flashed(response)
    assert "未記録" in response.get_data(as_text=True)


def test_no_reconcile_button_without_the_apps_reconciler(app: Flask) -> None:
    """An app without its own Reconciler (e.g. a provider handed in from outside) shows no
    "reconcile now" and the endpoint refuses; the refund at the terminal still works."""
    services = services_of(app)
    assert services.reconciler is not None
    services.reconciler.stop()
    services.reconciler = None
    paid_ticket(app)
    client = app.test_client()
    html = client.get("/sim/?lang=en").get_data(as_text=True)
    assert 'id="sim-reconcile"' not in html and 'id="sim-refund"' in html
    assert client.post("/sim/reconcile").status_code == 400
