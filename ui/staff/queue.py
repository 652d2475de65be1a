"""The counter a browser works at, the queue overview and the ticket operations (the same
operations as the JSON API's: ``application.ticket_operations``)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from application.ticket_operations import TicketOperation, call_next_ticket, run_ticket_operation
from kiosk.clock import business_day
from kiosk.counters import get_counter, set_counter_open
from kiosk.db import transaction
from kiosk.overview import open_tickets, queue_counts, routes_of
from ui.i18n import localized
from ui.staff import bp
from ui.staff.console import actor, back, catalog, counter_code, sessions

# The flash message after each operation.
DONE_MESSAGES: dict[TicketOperation, Any] = {
    TicketOperation.CALL: _l("%(number)s called to your counter."),
    TicketOperation.RECALL: _l("%(number)s called again."),
    TicketOperation.SERVE: _l("Serving %(number)s."),
    TicketOperation.COMPLETE: _l("%(number)s is done."),
    TicketOperation.COMPLETE_ALL: _l("%(number)s is done."),
    TicketOperation.NO_SHOW: _l("%(number)s marked no-show."),
    TicketOperation.RETURN: _l("%(number)s waits again."),
    TicketOperation.HOLD: _l("%(number)s is on hold."),
    TicketOperation.RESUME: _l("%(number)s waits again."),
    TicketOperation.TRANSFER: _l("%(number)s transferred."),
}


@bp.get("/counter")
def counter() -> ResponseReturnValue:
    """Choose the counter (窓口) this browser works at; open or close it."""
    with sessions()() as s:
        counters = [get_counter(s, c.code) for c in catalog().counters]
        rows = [(c.code, dict(c.names), c.is_open, [q.code for q in c.queues]) for c in counters]
    return render_template("staff/counter.html", counters=rows, queues=catalog().queues)


@bp.post("/counter")
def counter_submit() -> ResponseReturnValue:
    """Remember the chosen counter; ``open`` = 1/0 opens or closes it (audited)."""
    code = request.form.get("counter", "")
    with transaction(sessions()) as s:
        counter = get_counter(s, code)
        if request.form.get("open") in ("0", "1"):
            set_counter_open(s, counter, request.form["open"] == "1", actor=actor())
    session["counter"] = code
    return redirect(url_for("staff.overview"))


@bp.get("/")
def overview() -> ResponseReturnValue:
    """Waiting / held / no-show per queue, my counter's current ticket, every open ticket
    with its actions. Numbers only (the case opens on a separate, audited page)."""
    code = counter_code()
    if code is None:
        return redirect(url_for("staff.counter"))
    day = business_day()
    with sessions()() as s:
        counter = get_counter(s, code)
        counter_view = (counter.code, dict(counter.names), counter.is_open)
        counts = queue_counts(s, day)
        tickets = open_tickets(s, day)
        # Tickets that visit several queues show their whole route wherever they are.
        routes = routes_of(s, [t.id for t in tickets if t.stops > 1])
    mine = [t for t in tickets if t.counter == code and t.status in ("called", "serving")]
    return render_template(
        "staff/overview.html",
        counter=counter_view,
        counts=counts,
        tickets=tickets,
        routes=routes,
        mine=mine,
        queues=catalog().queues,
        counters=catalog().counters,
    )


@bp.get("/tickets.json")
def tickets_json() -> ResponseReturnValue:
    """The overview's data for its 2-second refresh (numbers only)."""
    day = business_day()
    with sessions()() as s:
        counts = queue_counts(s, day)
        tickets = open_tickets(s, day)
    return {
        "queues": [{"queue": c.code, "waiting": c.waiting, "held": c.held} for c in counts],
        "tickets": [{"id": t.id, "number": t.number, "status": t.status} for t in tickets],
    }


@bp.post("/call-next")
def call_next_view() -> ResponseReturnValue:
    """Call the next ticket for my counter."""
    code = counter_code()
    if code is None:
        return redirect(url_for("staff.counter"))
    ticket = call_next_ticket(sessions(), code, actor=actor())
    if ticket is None:
        flash(_("Nobody is waiting."), "info")
    else:
        flash(_("%(number)s called to your counter.", number=ticket.number), "ok")
    return redirect(url_for("staff.overview"))


@bp.post("/tickets/<int:ticket_id>/<operation>")
def ticket_operation(ticket_id: int, operation: str) -> ResponseReturnValue:
    """call (to my counter) / recall / serve / complete / no-show / return / hold / resume /
    transfer (to the form's ``queue`` and/or ``counter``)."""
    try:
        op = TicketOperation(operation)
    except ValueError:
        abort(404)
    if op is TicketOperation.TRANSFER:
        target_counter = request.form.get("counter") or None
    else:
        target_counter = counter_code() if op is TicketOperation.CALL else None
    ticket = run_ticket_operation(
        sessions(),
        op,
        ticket_id,
        actor=actor(),
        counter_code=target_counter,
        queue_code=(request.form.get("queue") or None) if op is TicketOperation.TRANSFER else None,
    )
    if op is TicketOperation.COMPLETE and ticket.status == "waiting":  # routed on
        queue = next((q for q in catalog().queues if q.code == ticket.queue_code), None)
        flash(
            _(
                "%(number)s goes on to its next queue: %(queue)s.",
                number=ticket.number,
                queue=localized(queue.names) if queue else ticket.queue_code,
            ),
            "ok",
        )
        return back()
    flash(str(DONE_MESSAGES[op]) % {"number": ticket.number}, "ok")
    return back()
