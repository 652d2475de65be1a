"""Staff see a refund made outside the service on the case view (the whole app on the
simulator: the terminal's own refund menu, the app's reconciler, the staff console)."""

from __future__ import annotations

from sqlalchemy import select

from payments.models import PaymentRefund
from payments.states import get_payment
from tests.ui.conftest import make_app  # noqa: F401  (fixture re-exported for pytest)
from tests.ui.staffkit import add_staff, login, paid_ticket
from ui.services import services_of


def test_staff_case_view_shows_a_partial_refund_made_at_the_terminal(make_app) -> None:  # noqa: F811
    """A partial refund on the terminal's own menu, once reconciled, shows on the case view
    as "partly refunded" with the amount; the case keeps its ticket."""
    app = make_app(sim_terminal_auto="approve")
    add_staff(app, "clerk", "staff")
    info = paid_ticket(app)
    sessions = services_of(app).sessions
    with sessions() as s:
        ref = get_payment(s, info["payment_id"]).provider_ref
    services_of(app).payments.terminal.refund_at_terminal(ref, 100)
    report = services_of(app).reconciler.run_once()
    assert report.refunds_found == [info["payment_id"]]
    client = app.test_client()
    login(client, "clerk")
    html = client.get(f"/staff/cases/{info['case_id']}?lang=en").get_data(as_text=True)
    assert 'data-payment-status="partially_refunded"' in html
    assert "Partly refunded" in html and "100" in html
    assert "s-status s-queued" in html  # the case keeps its place in the queue
    with sessions() as s:
        (row,) = s.scalars(select(PaymentRefund)).all()
        assert row.actor == "payment:sim" and row.amount_yen == 100
