"""The resident's visit, one contract over both front ends: the kiosk screens (forms and
redirects) and the JSON API run the same workflow (``application.visits``), so the same
visit leaves the same cases, payments, tickets and PIN counters behind, whichever was used."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import pytest
from flask import Flask
from flask.testing import FlaskClient

from kiosk.models import Case, CaseStatus, Ticket
from payments.models import Payment, PaymentStatus
from tests.support.waiting import wait_until
from tests.ui.cards import place_card_after_start
from tests.ui.moving import move_fields
from ui.services import services_of

TEXT_PIN = 0x0011
FINAL = ("succeeded", "failed", "cancelled", "expired")


class Resident(Protocol):
    """One resident's visit through one front end; each step answers what the resident was
    told, as a short outcome word: ``ok``, ``wrong_pin``, ``stop`` (sent to the counter),
    ``invalid``."""

    def start(
        self,
        *procedures: str,
        fields: dict[str, dict[str, Any]] | None = None,
        place_card: bool = True,
    ) -> str: ...
    def read_card(self, pin: str) -> str: ...
    def confirm(self) -> str: ...
    def pay(self) -> str: ...
    def ticket_number(self) -> str | None: ...
    def wipe(self) -> None: ...


class KioskScreens:
    """The resident at the kiosk: HTML forms, redirects, screens."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def start(
        self,
        *procedures: str,
        fields: dict[str, dict[str, Any]] | None = None,
        place_card: bool = True,
    ) -> str:
        self.client.get("/kiosk/?lang=en")
        self.client.post("/kiosk/start")
        if place_card:
            place_card_after_start(self.client.application)
        self.client.post("/kiosk/procedures", data={"procedure": list(procedures)})
        form: dict[str, Any] = {}
        for code, values in (fields or {}).items():
            for name, value in values.items():
                if isinstance(value, dict):  # an address in the ward: one input per part
                    form.update({f"{code}.{name}.{part}": v for part, v in value.items()})
                else:
                    form[f"{code}.{name}"] = value
        response = self.client.post("/kiosk/fields", data=form)
        return "invalid" if response.status_code == 422 else "ok"

    def read_card(self, pin: str) -> str:
        pad = self.client.get("/kiosk/pin")
        if 'data-error="card_from_earlier"' in pad.get_data(as_text=True):
            return "card_from_earlier"
        if pad.status_code == 409:
            return "stop"
        response = self.client.post("/kiosk/pin", data={"pin": pin})
        if response.status_code == 302 and response.headers["Location"].endswith("/check"):
            return "ok"
        return {422: "wrong_pin", 409: "stop"}.get(response.status_code, str(response.status_code))

    def confirm(self) -> str:
        response = self.client.post("/kiosk/confirm")
        return "ok" if response.status_code == 302 else str(response.status_code)

    def pay(self) -> str:
        self.client.post("/kiosk/pay")
        state = wait_until(
            lambda: (s := self.client.get("/kiosk/pay/state").get_json()["state"]) in FINAL and s,
            message="the payment's outcome on the kiosk",
        )
        return "ok" if state == "succeeded" else state

    def ticket_number(self) -> str | None:
        response = self.client.get("/kiosk/ticket")
        if response.status_code != 200:
            return None
        html = response.get_data(as_text=True)
        start = html.index('class="ticket-number"')
        return html[html.index(">", start) + 1 : html.index("<", start)].strip()

    def wipe(self) -> None:
        self.client.post("/kiosk/wipe")


class JsonApi:
    """The resident through another front end over the JSON API (a tablet app)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.visit = ""

    def start(
        self,
        *procedures: str,
        fields: dict[str, dict[str, Any]] | None = None,
        place_card: bool = True,
    ) -> str:
        response = self.client.post(
            "/api/visits?lang=en", json={"procedures": list(procedures), "fields": fields or {}}
        )
        if response.status_code == 422:
            return "invalid"
        self.visit = response.get_json()["visit_id"]
        if place_card:
            place_card_after_start(self.client.application)
        return "ok"

    def read_card(self, pin: str) -> str:
        response = self.client.post(f"/api/visits/{self.visit}/card/read", json={"pin": pin})
        if response.status_code == 201:
            return "ok"
        code = response.get_json()["error"]["code"]
        return {"wrong_pin": "wrong_pin", "pin_would_lock": "stop", "pin_locked": "stop"}.get(
            code, code
        )

    def confirm(self) -> str:
        response = self.client.post(f"/api/visits/{self.visit}/confirm")
        return "ok" if response.status_code == 200 else str(response.status_code)

    def pay(self) -> str:
        self.client.post(f"/api/visits/{self.visit}/payment")

        def outcome() -> str | None:
            state = self.client.get(f"/api/visits/{self.visit}/payment").get_json()
            if state["status"] == "succeeded":
                return "ok" if state["ticket_token"] else None
            return state["status"] if state["status"] in FINAL else None

        return wait_until(outcome, message="the payment's outcome through the API")

    def ticket_number(self) -> str | None:
        response = self.client.get(f"/api/visits/{self.visit}/ticket")
        return response.get_json()["number"] if response.status_code == 200 else None

    def wipe(self) -> None:
        self.client.delete(f"/api/visits/{self.visit}")


FRONT_ENDS: dict[str, Callable[[FlaskClient], Resident]] = {
    "kiosk": KioskScreens,
    "api": JsonApi,
}


@pytest.fixture(params=sorted(FRONT_ENDS))
def front_end(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _app(make_app: Callable[..., Flask], persona: str) -> Flask:
    return make_app(sim_persona=persona, sim_terminal_auto="approve")


def _resident(app: Flask, front_end: str) -> Resident:
    return FRONT_ENDS[front_end](app.test_client())


def _rows(app: Flask) -> tuple[list[Case], list[Payment], list[Ticket]]:
    with services_of(app).sessions() as s:
        cases = s.query(Case).order_by(Case.id).all()
        payments = s.query(Payment).order_by(Payment.id).all()
        tickets = s.query(Ticket).order_by(Ticket.id).all()
        return cases, payments, tickets


def _tries(app: Flask) -> int:
    rig = services_of(app).simulation.reader  # type: ignore[union-attr]
    assert rig is not None and rig.card is not None
    return int(rig.card.tries_left(TEXT_PIN))


def test_a_paid_visit_leaves_one_case_one_payment_one_ticket(make_app, front_end) -> None:
    """Procedures with fields, card, PIN, confirm, pay: one queued case with the fee of two
    copies, one succeeded payment of that amount, one waiting ticket whose number the
    resident was given."""
    app = _app(make_app, "yamada")
    resident = _resident(app, front_end)
    assert resident.start("juminhyo", fields={"juminhyo": {"copies": 2}}) == "ok"
    assert resident.read_card("1234") == "ok"
    assert resident.confirm() == "ok"
    assert resident.pay() == "ok"
    number = resident.ticket_number()
    cases, payments, tickets = _rows(app)
    assert [c.status for c in cases] == [CaseStatus.QUEUED]
    assert cases[0].fee_yen == 600 and cases[0].language == "en"
    assert [(p.status, p.amount_yen) for p in payments] == [(PaymentStatus.SUCCEEDED, 600)]
    assert [t.display_number for t in tickets] == [number]


def test_a_fee_free_visit_gets_its_ticket_at_confirmation(make_app, front_end) -> None:
    """A moving notice (fee-free): no payment, the ticket right after confirmation."""
    app = _app(make_app, "yamada")
    resident = _resident(app, front_end)
    assert resident.start("tenkyo", fields={"tenkyo": _moving_fields()}) == "ok"
    assert resident.read_card("1234") == "ok"
    assert resident.confirm() == "ok"
    assert resident.ticket_number() is not None
    cases, payments, tickets = _rows(app)
    assert [c.status for c in cases] == [CaseStatus.QUEUED] and payments == []
    assert len(tickets) == 1


def test_a_wrong_pin_costs_one_try_and_the_right_one_then_reads(make_app, front_end) -> None:
    """A wrong PIN is told as such (tries 3 -> 2); the right PIN then opens the case."""
    app = _app(make_app, "yamada")
    resident = _resident(app, front_end)
    resident.start("juminhyo")
    assert resident.read_card("9999") == "wrong_pin"
    assert _tries(app) == 2
    assert resident.read_card("1234") == "ok"
    assert len(_rows(app)[0]) == 1


@pytest.mark.parametrize("persona", ["tanaka", "ito"])
def test_one_try_left_or_locked_sends_to_the_counter_without_a_pin(
    make_app, front_end, persona
) -> None:
    """With one try left (tanaka) or none (ito) the resident is sent to the counter and no
    PIN reaches the card: its counter is unchanged and no case is opened."""
    app = _app(make_app, persona)
    before = _tries(app)
    resident = _resident(app, front_end)
    resident.start("juminhyo")
    assert resident.read_card("1234") == "stop"
    assert _tries(app) == before
    assert _rows(app)[0] == []


def test_a_wrong_pin_that_leaves_one_try_stops_the_visit(make_app, front_end) -> None:
    """Two wrong PINs: the second leaves one try, and the resident is stopped rather than
    invited to try again (so the kiosk can never be what locks the card)."""
    app = _app(make_app, "yamada")
    resident = _resident(app, front_end)
    resident.start("juminhyo")
    assert resident.read_card("9999") == "wrong_pin"
    assert resident.read_card("9998") == "stop"
    assert _tries(app) == 1
    assert resident.read_card("1234") == "stop"
    assert _tries(app) == 1


def test_invalid_fields_open_nothing(make_app, front_end) -> None:
    """Zero copies is refused before the card is read; nothing is stored."""
    app = _app(make_app, "yamada")
    resident = _resident(app, front_end)
    assert resident.start("juminhyo", fields={"juminhyo": {"copies": 0}}) == "invalid"
    assert _rows(app) == ([], [], [])


def test_wiping_an_unpaid_visit_cancels_its_case(make_app, front_end) -> None:
    """Ending a visit after the card read and before payment cancels the case."""
    app = _app(make_app, "yamada")
    resident = _resident(app, front_end)
    resident.start("juminhyo")
    assert resident.read_card("1234") == "ok"
    resident.wipe()
    assert [c.status for c in _rows(app)[0]] == [CaseStatus.CANCELLED]
    assert len(services_of(app).visits.store) == 0


def test_a_card_on_the_reader_before_the_visit_began_is_not_read(make_app, front_end) -> None:
    """One card, one visit: the card that was on the reader when the visit began (the
    previous resident's) gets no PIN and opens no case, whichever front end; taken off and
    placed again, it is read."""
    app = _app(make_app, "yamada")
    resident = _resident(app, front_end)
    resident.start("juminhyo", place_card=False)
    assert resident.read_card("9999") == "card_from_earlier"
    assert _tries(app) == 3
    assert _rows(app)[0] == []
    place_card_after_start(app)
    assert resident.read_card("1234") == "ok"
    assert len(_rows(app)[0]) == 1


def test_a_visit_that_ends_leaves_its_card_unusable_for_the_next(make_app, front_end) -> None:
    """The card left on the reader after a finished visit does not serve the next visit."""
    app = _app(make_app, "yamada")
    first = _resident(app, front_end)
    first.start("tenkyo", fields={"tenkyo": _moving_fields()})
    assert first.read_card("1234") == "ok"
    assert first.confirm() == "ok"
    first.wipe()
    second = _resident(app, front_end)
    second.start("juminhyo", place_card=False)
    assert second.read_card("1234") == "card_from_earlier"
    assert len(_rows(app)[0]) == 1


def _moving_fields() -> dict[str, Any]:
    return move_fields()
