"""Helpers for the staff console, board and API tests: accounts, paid tickets, log-in."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from kiosk.cases import confirm_case, open_case
from kiosk.db import transaction
from kiosk.models import Case, StaffRole
from kiosk.staff import create_staff
from payments.collect import refresh_payment, start_payment
from payments.states import get_payment
from ui.services import services_of

PASSWORD = "correct-horse-42"
PERSONA_NAME = "山田"  # the demo persona's family name (hardware_sim/data/personas.toml)


def add_staff(app: Flask, username: str, role: str = "staff", password: str = PASSWORD) -> None:
    """Create a staff account directly through the domain."""
    with transaction(services_of(app).sessions) as s:
        create_staff(s, username, password, StaffRole(role), actor="cli:test")


def open_confirmed_case(app: Flask, procedures: tuple[str, ...] = ("juminhyo",)) -> int:
    """Read the simulated card and open + confirm a case; returns its id."""
    info = services_of(app).card_reader.read("1234")
    catalog = services_of(app).catalog
    with transaction(services_of(app).sessions) as s:
        case = open_case(s, info, list(procedures), catalog=catalog, actor="kiosk:test")
        confirm_case(s, case, catalog=catalog, actor="kiosk:test")
        return case.id


def paid_ticket(app: Flask) -> dict[str, Any]:
    """A paid case with its ticket (simulated terminal set to approve): ids and number."""
    sessions = services_of(app).sessions
    provider = services_of(app).payments
    case_id = open_confirmed_case(app)
    payment = start_payment(sessions, provider, case_id, actor="kiosk:test")
    with transaction(sessions) as s:
        refresh_payment(s, provider, payment.public_id)
    with transaction(sessions) as s:
        status = get_payment(s, payment.public_id).status.value
        case = s.get(Case, case_id)
        assert case is not None
        ticket = case.ticket
        if ticket is None:  # pragma: no cover - the sim approves at once
            raise AssertionError(f"no ticket; payment {status}")
        return {
            "case_id": case_id,
            "ticket_id": ticket.id,
            "number": ticket.display_number,
            "payment_id": payment.public_id,
            "token": ticket.token,
        }


def csrf(client: FlaskClient) -> str:
    """The client's CSRF token (made by visiting the log-in page if needed)."""
    with client.session_transaction() as sess:
        token = sess.get("csrf")
    if not token:
        html = client.get("/staff/login").get_data(as_text=True)
        found = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert found
        token = found.group(1)
    return str(token)


def login(client: FlaskClient, username: str, password: str = PASSWORD, counter: str = "1") -> Any:
    """Log in through the form (and pick ``counter``); returns the log-in response."""
    response = client.post(
        "/staff/login",
        data={"username": username, "password": password, "csrf_token": csrf(client)},
    )
    if response.status_code == 302 and counter:
        client.post("/staff/counter", data={"counter": counter, "csrf_token": csrf(client)})
    return response


def post(client: FlaskClient, url: str, **data: Any) -> Any:
    """POST a console form with the CSRF token."""
    return client.post(url, data={**data, "csrf_token": csrf(client)})
