"""Staff console: log-in, lock-out, CSRF, roles, every queue operation, case view, print."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from kiosk.models import AuditEvent, Ticket, TicketStatus
from tests.ui.staffkit import PERSONA_NAME, add_staff, csrf, login, paid_ticket, post
from ui.services import services_of


@pytest.fixture
def app(make_app):
    """An app on the simulator with auto-approving payments and three accounts."""
    app = make_app(sim_terminal_auto="approve")
    add_staff(app, "clerk", "staff")
    add_staff(app, "boss", "supervisor")
    add_staff(app, "root", "admin")
    return app


def _ticket(app, ticket_id):
    with services_of(app).sessions() as s:
        return s.get(Ticket, ticket_id)


def test_console_needs_a_login(app):
    """Any console page redirects an anonymous browser to the log-in form."""
    response = app.test_client().get("/staff/")
    assert response.status_code == 302
    assert "/staff/login" in response.headers["Location"]


def test_login_sets_a_hardened_session_cookie(app):
    """A good password logs in with an HttpOnly, SameSite=Strict cookie, then asks for a counter."""
    client = app.test_client()
    response = login(client, "clerk", counter="")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/staff/counter")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert client.get("/staff/counter").status_code == 200


def test_session_cookie_is_secure_over_https(app):
    """Behind HTTPS the session cookie carries the Secure flag."""
    client = app.test_client()
    client.get("/staff/login", base_url="https://localhost")
    response = client.get("/staff/login", base_url="https://localhost")
    page = client.post(
        "/staff/login",
        base_url="https://localhost",
        data={"username": "clerk", "password": "correct-horse-42", "csrf_token": csrf(client)},
    )
    assert response.status_code == 200
    assert "Secure" in page.headers["Set-Cookie"]


def test_wrong_password_is_refused_and_audited(app):
    """A wrong password gives 401 with the generic message and an audit row."""
    client = app.test_client()
    response = login(client, "clerk", "wrong-password-0", counter="")
    assert response.status_code == 401
    assert "パスワード" in response.get_data(as_text=True) or "password" in response.get_data(
        as_text=True
    )
    with services_of(app).sessions() as s:
        actions = [e.action for e in s.scalars(select(AuditEvent))]
    assert "staff.login_failed" in actions


def test_five_failures_lock_the_account_even_for_the_right_password(app):
    """After five wrong passwords the right one is refused (423) until the lock ends."""
    client = app.test_client()
    for _ in range(5):
        login(client, "clerk", "wrong-password-0", counter="")
    response = login(client, "clerk", counter="")
    assert response.status_code == 423
    with services_of(app).sessions() as s:
        actions = [e.action for e in s.scalars(select(AuditEvent))]
    assert "staff.locked" in actions


def test_post_without_csrf_token_is_rejected(app):
    """A console POST without (or with a wrong) CSRF token is refused with 400."""
    client = app.test_client()
    login(client, "clerk")
    info = paid_ticket(app)
    response = client.post("/staff/call-next", data={"csrf_token": "forged"})
    assert response.status_code == 400
    assert _ticket(app, info["ticket_id"]).status is TicketStatus.WAITING
    assert client.post("/staff/login", data={"username": "clerk"}).status_code == 400


def test_call_serve_complete_through_the_console(app):
    """Call next, the resident arrives, complete: the ticket walks through its states."""
    client = app.test_client()
    login(client, "clerk")
    info = paid_ticket(app)
    page = client.get("/staff/").get_data(as_text=True)
    assert info["number"] in page
    assert PERSONA_NAME not in page  # the overview shows numbers, never names
    response = post(client, "/staff/call-next")
    assert response.status_code == 302
    assert _ticket(app, info["ticket_id"]).status is TicketStatus.CALLED
    assert info["number"] in client.get("/staff/").get_data(as_text=True)
    post(client, f"/staff/tickets/{info['ticket_id']}/recall")
    assert _ticket(app, info["ticket_id"]).call_count == 2
    post(client, f"/staff/tickets/{info['ticket_id']}/serve")
    assert _ticket(app, info["ticket_id"]).status is TicketStatus.SERVING
    post(client, f"/staff/tickets/{info['ticket_id']}/complete")
    assert _ticket(app, info["ticket_id"]).status is TicketStatus.DONE


def test_no_show_return_hold_resume_transfer_and_call_specific(app):
    """Every other queue operation of the console moves the ticket as the domain says."""
    client = app.test_client()
    login(client, "clerk")
    tid = paid_ticket(app)["ticket_id"]
    post(client, f"/staff/tickets/{tid}/hold")
    assert _ticket(app, tid).status is TicketStatus.HELD
    post(client, f"/staff/tickets/{tid}/resume")
    assert _ticket(app, tid).status is TicketStatus.WAITING
    post(client, f"/staff/tickets/{tid}/call")
    assert _ticket(app, tid).status is TicketStatus.CALLED
    post(client, f"/staff/tickets/{tid}/no-show")
    assert _ticket(app, tid).status is TicketStatus.NO_SHOW
    post(client, f"/staff/tickets/{tid}/return")
    assert _ticket(app, tid).status is TicketStatus.WAITING
    post(client, f"/staff/tickets/{tid}/transfer", queue="tax", counter="1")
    ticket = _ticket(app, tid)
    assert ticket.status is TicketStatus.WAITING and ticket.target_counter_id is not None


def test_an_illegal_operation_becomes_a_friendly_message(app):
    """Completing a waiting ticket is refused with a message, not an error page."""
    client = app.test_client()
    login(client, "clerk")
    client.get("/staff/counter?lang=en")
    tid = paid_ticket(app)["ticket_id"]
    response = post(client, f"/staff/tickets/{tid}/complete")
    assert response.status_code == 302
    page = client.get("/staff/?lang=en").get_data(as_text=True)
    assert "cannot be done in the current state" in page
    assert _ticket(app, tid).status is TicketStatus.WAITING


def test_closed_counter_cannot_call(app):
    """Closing my counter makes call-next say so."""
    client = app.test_client()
    login(client, "clerk")
    client.get("/staff/counter?lang=en")
    paid_ticket(app)
    post(client, "/staff/counter", counter="1", open="0")
    post(client, "/staff/tickets/1/call")
    page = client.get("/staff/?lang=en").get_data(as_text=True)
    assert "The counter is closed" in page


def test_case_view_shows_the_prefilled_case_and_writes_an_audit_row(app):
    """Opening the case shows the name in clear, payment status and receipt link, audited."""
    client = app.test_client()
    login(client, "clerk")
    info = paid_ticket(app)
    page = client.get(f"/staff/cases/{info['case_id']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert PERSONA_NAME in html and info["number"] in html
    assert 'data-payment-status="succeeded"' in html
    assert f"/staff/payments/{info['payment_id']}/receipt" in html
    assert '/refund"' not in html  # clerks get no refund form
    with services_of(app).sessions() as s:
        views = s.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "case.viewed", AuditEvent.case_id == info["case_id"]
            )
        ).all()
    assert [v.actor for v in views] == ["staff:clerk"]


def test_print_view_is_an_audited_a4_form(app):
    """The print view is a self-contained A4 form with the card data and a signature box."""
    client = app.test_client()
    login(client, "clerk")
    info = paid_ticket(app)
    response = client.get(f"/staff/cases/{info['case_id']}/print")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert PERSONA_NAME in html and "署名" in html and "staff-print.css" in html
    with client.get("/static/staff-print.css") as static:
        css = static.get_data(as_text=True)
    assert "size: A4" in css and "@media print" in css
    with client.get("/static/staff-fonts/form-jp.woff2") as font:  # Japanese font, local
        assert font.status_code == 200 and font.data[:4] == b"wOF2"
    with services_of(app).sessions() as s:
        n = len(s.scalars(select(AuditEvent).where(AuditEvent.action == "case.viewed")).all())
    assert n == 1


def test_receipt_is_served(app):
    """The receipt link gives the printable receipt of the payment."""
    client = app.test_client()
    login(client, "clerk")
    info = paid_ticket(app)
    response = client.get(f"/staff/payments/{info['payment_id']}/receipt")
    assert response.status_code == 200
    assert info["payment_id"] in response.get_data(as_text=True)


def test_refund_is_for_supervisors_only(app):
    """A clerk's refund is refused (403); a supervisor's is made and the case is refunded."""
    info = paid_ticket(app)
    clerk = app.test_client()
    login(clerk, "clerk")
    url = f"/staff/payments/{info['payment_id']}/refund"
    assert post(clerk, url, reason="wrong procedure").status_code == 403
    boss = app.test_client()
    login(boss, "boss")
    assert post(boss, url, reason="").status_code == 302  # no reason: refused with a message
    response = post(boss, url, reason="wrong procedure", next=f"/staff/cases/{info['case_id']}")
    assert response.status_code == 302
    html = boss.get(f"/staff/cases/{info['case_id']}").get_data(as_text=True)
    assert 'data-payment-status="refunded"' in html
    assert _ticket(app, info["ticket_id"]).status is TicketStatus.CANCELLED


def test_admin_pages_are_for_admins(app):
    """Staff get 403 on administration; an admin sees counters, queues, kiosks and accounts."""
    clerk = app.test_client()
    login(clerk, "clerk")
    assert clerk.get("/staff/admin").status_code == 403
    root = app.test_client()
    login(root, "root")
    html = root.get("/staff/admin").get_data(as_text=True)
    assert "clerk" in html and "kiosk-1" in html and "1番窓口" in html


def test_admin_creates_disables_and_unlocks_accounts(app):
    """An admin adds an account, locks it out by failures, unlocks it and disables it."""
    root = app.test_client()
    login(root, "root")
    post(root, "/staff/admin/staff", username="newbie", password="long-enough-pw", role="staff")
    other = app.test_client()
    assert login(other, "newbie", "long-enough-pw").status_code == 302
    from kiosk.models import Staff

    with services_of(app).sessions() as s:
        newbie = s.scalars(select(Staff).where(Staff.username == "newbie")).one()
    post(root, f"/staff/admin/staff/{newbie.id}", active="0")
    assert other.get("/staff/").status_code == 302  # disabled: logged out
    post(root, f"/staff/admin/staff/{newbie.id}", active="0", role="admin")
    post(root, f"/staff/admin/staff/{newbie.id}", active="1", unlock="1")
    assert login(app.test_client(), "newbie", "long-enough-pw").status_code == 302


def test_admin_cannot_remove_the_last_admin(app):
    """Demoting the only admin is refused with a message."""
    root = app.test_client()
    login(root, "root")
    root.get("/staff/counter?lang=en")
    from kiosk.models import Staff

    with services_of(app).sessions() as s:
        me = s.scalars(select(Staff).where(Staff.username == "root")).one()
    post(root, f"/staff/admin/staff/{me.id}", role="staff")
    html = root.get("/staff/admin?lang=en").get_data(as_text=True)
    assert "last administrator" in html


def test_statistics_render_inline_svg_charts(app):
    """The statistics page draws both charts as inline SVG (no external service)."""
    info = paid_ticket(app)
    boss = app.test_client()
    login(boss, "boss")
    post(boss, "/staff/call-next")
    post(boss, f"/staff/tickets/{info['ticket_id']}/serve")
    post(boss, f"/staff/tickets/{info['ticket_id']}/complete")
    html = boss.get("/staff/stats").get_data(as_text=True)
    assert html.count("<svg") == 2 and "<rect" in html
    assert "http://" not in html.split("<svg", 1)[1]
    clerk = app.test_client()
    login(clerk, "clerk")
    assert clerk.get("/staff/stats").status_code == 403


def test_console_speaks_japanese_by_default_and_english_on_request(app):
    """The console is Japanese by default and English with ?lang=en."""
    client = app.test_client()
    ja = client.get("/staff/login", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    en = client.get("/staff/login?lang=en").get_data(as_text=True)
    assert "ログイン" in ja
    assert "Log in" in en


def test_logout_ends_the_session(app):
    """After log-out the console asks for a log-in again."""
    client = app.test_client()
    login(client, "clerk")
    post(client, "/staff/logout")
    assert client.get("/staff/").status_code == 302
