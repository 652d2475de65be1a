"""One ticket through several queues on the screens (Flask client): the staff console offers
"done here, on to the next queue" and shows the route, the case view lists it, the phone
page and the board say where the number goes next; the kiosk's words for waits and the
language every visit starts in."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from kiosk.cases import confirm_case, open_case, set_resident_fields
from kiosk.db import transaction
from kiosk.models import Case, Ticket, TicketStatus
from payments.collect import refresh_payment, start_payment
from tests.ui.staffkit import add_staff, login, post
from ui.services import services_of

FAMILY = {"honseki": "東京都千代田区九段南一丁目2番地", "hittousha": "山田太郎"}


@pytest.fixture
def app(make_app: Any) -> Flask:
    """An app on the simulator with auto-approving payments and a clerk."""
    app = make_app(sim_terminal_auto="approve")
    add_staff(app, "clerk", "staff")
    return app


def routed_ticket(app: Flask) -> dict[str, Any]:
    """A paid 住民票 + 戸籍 case: one ticket, the family register first, then certificates."""
    services = services_of(app)
    info = services.card_reader.read("1234")
    with transaction(services.sessions) as s:
        case = open_case(
            s, info, ["juminhyo", "koseki"], catalog=services.catalog, actor="kiosk:test"
        )
        set_resident_fields(s, case, "koseki", FAMILY, catalog=services.catalog, actor="kiosk:t")
        confirm_case(s, case, catalog=services.catalog, actor="kiosk:test")
        case_id = case.id
    payment = start_payment(services.sessions, services.payments, case_id, actor="kiosk:test")
    with transaction(services.sessions) as s:
        refresh_payment(s, services.payments, payment.public_id)
    with transaction(services.sessions) as s:
        ticket = s.get(Case, case_id).ticket  # type: ignore[union-attr]
        assert ticket is not None and ticket.stops == 2
        return {
            "case_id": case_id,
            "id": ticket.id,
            "number": ticket.display_number,
            "token": ticket.token,
            "queue": ticket.queue.code,
        }


def _ticket(app: Flask, ticket_id: int) -> tuple[TicketStatus, str, int]:
    with services_of(app).sessions() as s:
        t = s.get(Ticket, ticket_id)
        assert t is not None
        return t.status, t.queue.code, t.stop


def _serve_at(client: Any, counter_ticket: int) -> None:
    post(client, f"/staff/tickets/{counter_ticket}/call")
    post(client, f"/staff/tickets/{counter_ticket}/serve")


def test_a_routed_ticket_is_called_at_two_counters_with_one_number(app: Flask) -> None:
    """At the family-register counter the console shows the route and "done here: on to
    certificates"; completing sends the same number to certificates (the phone page and
    the board say so); the certificates counter completes it for good."""
    t = routed_ticket(app)
    assert t["queue"] == "family_register"
    client = app.test_client()
    login(client, "clerk", counter="2")
    client.get("/staff/?lang=en")
    assert post(client, "/staff/call-next").status_code == 302
    post(client, f"/staff/tickets/{t['id']}/serve")
    page = client.get("/staff/").get_data(as_text=True)
    assert 'class="s-route"' in page and "Done here: on to Certificates" in page
    phone = app.test_client().get(f"/t/{t['token']}?lang=en").get_data(as_text=True)
    assert "Next: Certificates" in phone and "<h1" in phone

    done = post(client, f"/staff/tickets/{t['id']}/complete")
    assert done.status_code == 302
    assert _ticket(app, t["id"]) == (TicketStatus.WAITING, "certificates", 1)
    flashed = client.get("/staff/").get_data(as_text=True)
    assert f"{t['number']} goes on to its next queue: Certificates." in flashed
    board = app.test_client().get("/board/").get_data(as_text=True)
    assert 'id="moving-on-box"' in board and f">{t['number']}<" in board
    assert app.test_client().get("/api/board").get_json()["moving_on"] == [
        {"number": t["number"], "queue": "certificates", "names": board_names(app)}
    ]
    phone = app.test_client().get(f"/t/{t['token']}?lang=en").get_data(as_text=True)
    assert 'id="ticket-next" hidden' in phone  # certificates is the last stop

    login(client, "clerk", counter="1")
    assert post(client, "/staff/call-next").status_code == 302
    assert _ticket(app, t["id"])[0] is TicketStatus.CALLED  # at the head of the queue
    post(client, f"/staff/tickets/{t['id']}/serve")
    post(client, f"/staff/tickets/{t['id']}/complete")
    assert _ticket(app, t["id"]) == (TicketStatus.DONE, "certificates", 1)
    case = client.get(f"/staff/cases/{t['case_id']}?lang=en").get_data(as_text=True)
    assert 'id="case-route"' in case and case.count("done at ") == 2
    assert '"s-chip s-chip-queue">C Family register<' in case  # each line's queue


def board_names(app: Flask) -> dict[str, str]:
    return next(dict(q.names) for q in services_of(app).catalog.queues if q.code == "certificates")


def test_all_done_at_one_counter_closes_the_whole_route(app: Flask) -> None:
    """ "All done here" at the first counter finishes the ticket: it never waits in the
    next queue, and the case view marks that stop as done at an earlier counter."""
    t = routed_ticket(app)
    client = app.test_client()
    login(client, "clerk", counter="2")
    post(client, "/staff/call-next")
    post(client, f"/staff/tickets/{t['id']}/serve")
    assert "All done here" in client.get("/staff/?lang=en").get_data(as_text=True)
    post(client, f"/staff/tickets/{t['id']}/complete-all")
    assert _ticket(app, t["id"])[0] is TicketStatus.DONE
    case = client.get(f"/staff/cases/{t['case_id']}?lang=en").get_data(as_text=True)
    assert "done at an earlier counter" in case


def test_waits_are_told_as_a_range_and_the_ticket_shows_its_route(app: Flask) -> None:
    """The API's ticket status carries the honest range and the route; nobody ahead is
    "you are next", never "no wait"; the kiosk's words for a range read naturally."""
    t = routed_ticket(app)
    view = app.test_client().get(f"/api/tickets/{t['token']}").get_json()
    assert view["wait_minutes"] == [0, 0] and view["stop"] == 0
    assert [r["en"] for r in view["route"]] == ["Family register", "Certificates"]
    phone = app.test_client().get(f"/t/{t['token']}?lang=en").get_data(as_text=True)
    assert "You are next" in phone and "No wait" not in phone
    from ui.i18n import wait_range

    with app.test_request_context("/?lang=en"):
        assert wait_range((10, 20)) == "About 10–20 minutes"
        assert wait_range((5, 5)) == "About 5 minutes"


def test_every_visit_starts_in_japanese(app: Flask) -> None:
    """A browser asking for English still gets the kiosk in Japanese; a resident who chose
    English and started over leaves a Japanese welcome screen for the next one."""
    kiosk = app.test_client()
    first = kiosk.get("/kiosk/", headers={"Accept-Language": "en-US,en"})
    assert '<html lang="ja">' in first.get_data(as_text=True)
    assert '<html lang="en">' in kiosk.get("/kiosk/?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in kiosk.get("/kiosk/").get_data(as_text=True)
    kiosk.post("/kiosk/start")
    kiosk.post("/kiosk/wipe", data={"reason": "resident"})
    assert '<html lang="ja">' in kiosk.get("/kiosk/").get_data(as_text=True)
