"""Fixtures of the payment tests.

Databases come from the domain fixtures (SQLite and PostgreSQL, fresh per test). Stripe is
never reached: the Stripe providers talk through the real stripe SDK to the stand-in in
``tests.support.stripe_standin`` (served on 127.0.0.1 per test) and, for what localstripe
does well (PaymentIntents, refunds, signed webhooks), to localstripe started as a separate
process (see ``test_pay_localstripe.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from application.registry import simulated_payments
from hardware_sim.terminal import SimulatedTerminal
from kiosk.models import Case, Ticket
from payments.provider import PaymentProvider, ProviderPayment
from payments.stripe_checkout import StripeCheckoutProvider
from payments.stripe_common import StripeConnection
from payments.stripe_terminal import StripeTerminalProvider
from tests.domain.conftest import (  # noqa: F401  (fixtures re-exported for pytest)
    KIOSK,
    NOW,
    STAFF,
    Db,
    catalog,
    data_key,
    db,
    pg_cluster,
    pg_template,
    sqlite_template,
)
from tests.support.stripe_standin import DEFAULT_READER, StandinServer, StripeStandin

WEBHOOK_SECRET = "whsec_test_kiosk"
API_KEY = "sk_test_kiosk"


@pytest.fixture
def standin() -> Iterator[StandinServer]:
    """A fresh Stripe stand-in on a free port."""
    server = StandinServer(StripeStandin(webhook_secret=WEBHOOK_SECRET))
    with server:
        yield server


def connection(url: str) -> StripeConnection:
    # No SDK retries: tests see each failure once, and stay fast.
    return StripeConnection(API_KEY, url, max_network_retries=0)


@dataclass
class Resident:
    """What the person in front of the kiosk does, for one provider."""

    provider: PaymentProvider
    pay: Callable[[ProviderPayment], None]
    decline: Callable[[ProviderPayment, str], None] | None
    server: StandinServer | None = None
    terminal: SimulatedTerminal | None = None
    #: staff give money back without the service (Stripe's Dashboard: a plain refund
    #: create; the simulated terminal's own menu); returns the refund id
    refund_outside: Callable[[str, int | None], str] | None = None

    def deliver_events(self, handle: Callable[[bytes, str], Any], since: int = 0) -> int:
        """Send the stand-in's events from index ``since`` as signed webhooks."""
        if self.server is None:
            return since
        events = self.server.standin.events
        for event in events[since:]:
            body, header = self.server.standin.sign(event)
            handle(body, header)
        return len(events)


def _dashboard_refund(server: StandinServer, payment_intent: str, amount: int | None) -> str:
    """A refund made in Stripe's Dashboard: the same API call, without our service."""
    client = connection(server.url)
    try:
        params: dict[str, Any] = {"payment_intent": payment_intent}
        if amount is not None:
            params["amount"] = amount
        return str(client.client.v1.refunds.create(params=params)["id"])
    finally:
        client.close()


def _sim() -> Resident:
    terminal = SimulatedTerminal()
    return Resident(
        simulated_payments(terminal),
        pay=lambda view: terminal.approve(view.provider_ref),
        decline=lambda view, code: terminal.decline(code, view.provider_ref),
        terminal=terminal,
        refund_outside=lambda ref, amount: terminal.refund_at_terminal(ref, amount).ref,
    )


def _terminal(server: StandinServer) -> Resident:
    provider = StripeTerminalProvider(
        connection(server.url), reader_id=DEFAULT_READER, webhook_secret=WEBHOOK_SECRET
    )
    cards = {"card_declined": "4000000000000002", "insufficient_funds": "4000000000009995"}

    def present(number: str) -> None:
        provider.client.v1.test_helpers.terminal.readers.present_payment_method(
            DEFAULT_READER, params={"type": "card_present", "card_present": {"number": number}}
        )

    return Resident(
        provider,
        pay=lambda view: present("4242424242424242"),
        decline=lambda view, code: present(cards[code]),
        server=server,
        refund_outside=lambda ref, amount: _dashboard_refund(server, ref, amount),
    )


def _checkout(server: StandinServer) -> Resident:
    provider = StripeCheckoutProvider(connection(server.url), webhook_secret=WEBHOOK_SECRET)

    def pay(view: ProviderPayment) -> None:
        resp = requests.post(
            f"{server.url}/_standin/checkout/sessions/{view.provider_ref}/complete",
            data={"payment_method_type": "paypay"},
            headers={"Authorization": f"Bearer {API_KEY}"},
            timeout=5,
        )
        resp.raise_for_status()
        resp.close()

    def refund_outside(ref: str, amount: int | None) -> str:
        pi = server.standin.sessions[ref]["payment_intent"]
        return _dashboard_refund(server, pi, amount)

    return Resident(provider, pay=pay, decline=None, server=server, refund_outside=refund_outside)


@pytest.fixture(params=["sim", "stripe_terminal", "stripe_checkout"])
def resident(request: pytest.FixtureRequest) -> Iterator[Resident]:
    """A provider (each of the three) plus the person who pays or refuses on it."""
    if request.param == "sim":
        r = _sim()
    else:
        server = request.getfixturevalue("standin")
        r = _terminal(server) if request.param == "stripe_terminal" else _checkout(server)
    yield r
    r.provider.close()


@pytest.fixture
def sim_resident() -> Iterator[Resident]:
    r = _sim()
    yield r
    r.provider.close()


@pytest.fixture
def terminal_resident(standin: StandinServer) -> Iterator[Resident]:
    r = _terminal(standin)
    yield r
    r.provider.close()


@pytest.fixture
def checkout_resident(standin: StandinServer) -> Iterator[Resident]:
    r = _checkout(standin)
    yield r
    r.provider.close()


def confirmed_case(database: Db, procedures: tuple[str, ...] = ("juminhyo",)) -> int:
    """A committed, confirmed case with a fee; returns its id."""
    from kiosk import cases

    with database.tx() as s:
        case = database.open_case(s, procedures)
        cases.confirm_case(s, case, catalog=database.catalog, actor=KIOSK, now=NOW)
        assert case.fee_yen > 0
        return case.id


def tickets_of(s: Session, case_id: int) -> int:
    return s.scalar(select(func.count()).select_from(Ticket).where(Ticket.case_id == case_id))


def case_status(s: Session, case_id: int) -> str:
    case = s.get(Case, case_id)
    assert case is not None
    s.refresh(case)
    return case.status.value
