"""The simulator panel: only in simulation mode, when the card reader or the payments are
simulated; it answers a browser on this machine or a logged-in member of staff.

Demo and staff training: put a persona's card on the reader or take it away, see and set its
PIN tries, inject card faults, and act at the simulated payment terminal (approve, decline,
time out, refund on the terminal's own menu). Each form posts one action and comes back to
the panel.

A refund at the terminal is made outside the service, as staff would with the terminal's
menu: the service learns of it only when it reconciles (every ``KIOSK_RECONCILE_INTERVAL_S``,
or at once with the panel's "reconcile now", which runs the app's own Reconciler).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import format_timedelta, ngettext
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest

from application.registry import (
    PRINTER_FAULTS,
    RefundTooLarge,
    SimulatedPrinter,
    SimulatedReaderRig,
    SimulatedTerminal,
    Simulation,
    TerminalError,
    is_loopback,
)
from kiosk.models import Ticket
from payments.models import Payment
from payments.states import TAKEN
from ui.i18n import yen
from ui.services import current_services
from ui.staff.console import logged_in_staff

bp = Blueprint("simulator", __name__, url_prefix="/sim")

TEXT_PIN = 0x0011  # the card-info-input-support PIN the kiosk uses
JPKI_AUTH_PIN = 0x0018  # the user-authentication certificate's PIN (the JPKI check)
DECLINE_CODES = ("card_declined", "insufficient_funds", "expired_card")
RECENT_PAYMENTS = 8  # taken payments listed for a refund at the terminal
PRINTED_SHOWN = 3  # the simulated printer's last pages shown on the panel


def _simulation() -> Simulation:
    simulation = current_services().simulation
    assert simulation is not None  # the blueprint exists only in simulation
    return simulation


def _rig() -> SimulatedReaderRig | None:
    return _simulation().reader


def _terminal() -> SimulatedTerminal | None:
    return _simulation().terminal


def _printer() -> SimulatedPrinter | None:
    return _simulation().printer


def _reconciler() -> Any:
    return current_services().reconciler


@dataclass(frozen=True)
class TakenPayment:
    """A recent payment taken on the simulated terminal, as the service and the terminal
    each see it (they differ after a refund at the terminal, until reconciliation)."""

    ref: str
    number: str  # the case's ticket number, "" without one
    amount_yen: int
    succeeded_at: datetime | None
    status: str  # the service's payment status
    refunded_yen: int  # what the service has recorded
    terminal_refunded_yen: int  # what the terminal has given back

    @property
    def refundable_yen(self) -> int:
        return self.amount_yen - self.terminal_refunded_yen

    @property
    def unrecorded_yen(self) -> int:
        return self.terminal_refunded_yen - self.refunded_yen


def _recent_payments(session: Session, provider: str, terminal: Any) -> list[TakenPayment]:
    """The newest payments taken through ``provider`` that this terminal still knows (its
    memory is lost on restart), newest first."""
    stmt = (
        select(Payment, Ticket.display_number)
        .outerjoin(Ticket, Ticket.case_id == Payment.case_id)
        .where(Payment.provider == provider, Payment.status.in_(TAKEN))
        .where(Payment.provider_ref.is_not(None))
        .order_by(Payment.id.desc())
        .limit(RECENT_PAYMENTS)
    )
    found = []
    for payment, number in session.execute(stmt):
        if payment.provider_ref is None:
            continue
        try:
            on_terminal = terminal.get(payment.provider_ref)
        except TerminalError:
            continue
        found.append(
            TakenPayment(
                ref=payment.provider_ref,
                number=number or "",
                amount_yen=payment.amount_yen,
                succeeded_at=payment.succeeded_at,
                status=payment.status.value,
                refunded_yen=payment.refunded_yen,
                terminal_refunded_yen=on_terminal.refunded_yen,
            )
        )
    return found


def _from_this_machine() -> bool:
    # A request a reverse proxy forwarded comes from the proxy's loopback address but
    # carries the client's in X-Forwarded-For / Forwarded: that is not this machine.
    forwarded = request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded")
    return is_loopback(request.remote_addr or "") and not forwarded


@bp.before_request
def _only_here_or_staff() -> ResponseReturnValue | None:
    """The panel drives the simulated card and terminal (it can mark a fee paid): it answers
    a browser on this machine, or a logged-in member of staff, nobody else."""
    if _from_this_machine() or logged_in_staff() is not None:
        return None
    return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))


@bp.after_request
def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
def panel() -> ResponseReturnValue:
    """Reader, card, faults and terminal at a glance."""
    rig, terminal, printer = _rig(), _terminal(), _printer()
    card = rig.card if rig is not None else None
    taken: list[TakenPayment] = []
    if terminal is not None:
        with current_services().sessions() as session:
            provider = current_services().payments.name
            taken = _recent_payments(session, provider, terminal)
    interval_s = current_services().settings.reconcile_interval_s
    return render_template(
        "simulator/panel.html",
        rig=rig,
        persona=rig.persona if rig is not None else None,
        personas=sorted(rig.personas.values(), key=lambda p: p.key) if rig is not None else [],
        tries=card.tries_left(TEXT_PIN) if card is not None else None,
        jpki_tries=card.tries_left(JPKI_AUTH_PIN) if card is not None else None,
        faults=rig.faults if rig is not None else None,
        terminal=terminal,
        current=terminal.current if terminal is not None else None,
        decline_codes=DECLINE_CODES,
        taken=taken,
        refundable=[p for p in taken if p.refundable_yen > 0],
        reconcile_every=format_timedelta(timedelta(seconds=interval_s), threshold=1),
        can_reconcile=_reconciler() is not None,
        printer=printer,
        printer_faults=PRINTER_FAULTS,
        printed=printer.last_pages(PRINTED_SHOWN) if printer is not None else [],
    )


def _int(name: str, low: int, high: int) -> int:
    try:
        value = int(request.form.get(name, ""))
    except ValueError:
        raise BadRequest(f"{name}: not a number") from None
    if not low <= value <= high:
        raise BadRequest(f"{name}: out of range")
    return value


@bp.post("/card")
def card_action() -> ResponseReturnValue:
    """insert (persona), remove, tries / jpki_tries (set the tries left of the card's PIN /
    of the user authentication certificate's PIN)."""
    rig = _rig()
    if rig is None:
        raise BadRequest("no simulated reader")
    action = request.form.get("action")
    if action == "insert":
        key = request.form.get("persona", "")
        if key not in rig.personas:
            raise BadRequest("unknown persona")
        rig.insert(key)
        flash(_("Card inserted."))
    elif action == "remove":
        rig.remove()
        flash(_("Card removed."))
    elif action == "tries":
        if rig.card is None:
            raise BadRequest("no card")
        rig.card.set_tries(TEXT_PIN, _int("tries", 0, 3))
        flash(_("PIN tries set."))
    elif action == "jpki_tries":
        if rig.card is None:
            raise BadRequest("no card")
        rig.card.set_tries(JPKI_AUTH_PIN, _int("tries", 0, 3))
        flash(_("Certificate PIN tries set."))
    else:
        raise BadRequest("unknown action")
    return redirect(url_for("simulator.panel"))


@bp.post("/faults")
def faults_action() -> ResponseReturnValue:
    """Set or clear card faults: pull after N commands, delay, corrupt, hang."""
    rig = _rig()
    if rig is None:
        raise BadRequest("no simulated reader")
    if request.form.get("action") == "clear":
        rig.faults.clear()
    else:
        remove_after = request.form.get("remove_after", "").strip()
        rig.faults.set(
            remove_after=_int("remove_after", 0, 100) if remove_after else None,
            delay_s=_int("delay_ms", 0, 5000) / 1000 if request.form.get("delay_ms") else 0.0,
            corrupt=request.form.get("corrupt") == "on",
            hang=request.form.get("hang") == "on",
        )
    flash(_("Card faults updated."))
    return redirect(url_for("simulator.panel"))


@bp.post("/terminal")
def terminal_action() -> ResponseReturnValue:
    """Act at the terminal on the payment it shows: approve, decline (code), time out."""
    terminal = _terminal()
    if terminal is None or terminal.current is None:
        flash(_("No payment is waiting on the terminal."))
        return redirect(url_for("simulator.panel")), 303
    action = request.form.get("action")
    if action == "approve":
        terminal.approve()
    elif action == "decline":
        code = request.form.get("code", "card_declined")
        if code not in DECLINE_CODES:
            raise BadRequest("unknown decline code")
        terminal.decline(code)
    elif action == "time_out":
        terminal.time_out()
    else:
        raise BadRequest("unknown action")
    flash(_("Terminal: done."))
    return redirect(url_for("simulator.panel"))


@bp.post("/terminal/refund")
def terminal_refund() -> ResponseReturnValue:
    """Refund a taken payment on the terminal's own menu, all that is left or ``amount``
    yen; the service is not told (it finds the refund when it reconciles)."""
    terminal = _terminal()
    if terminal is None:
        raise BadRequest("no simulated terminal")
    ref = request.form.get("payment", "")
    amount = _int("amount", 1, 10_000_000) if request.form.get("amount", "").strip() else None
    try:
        refund = terminal.refund_at_terminal(ref, amount)
    except RefundTooLarge:
        flash(_("The terminal refused: more than is left of this payment, or not taken."))
        return redirect(url_for("simulator.panel")), 303
    except TerminalError:
        raise BadRequest("unknown payment") from None
    flash(
        _(
            "Refunded %(amount)s at the terminal. The service is not told: it records the "
            "refund at its next reconcile.",
            amount=yen(refund.amount_yen),
        )
    )
    return redirect(url_for("simulator.panel"))


@bp.post("/reconcile")
def reconcile_now() -> ResponseReturnValue:
    """Run the app's payment reconciliation now instead of waiting for its next turn."""
    reconciler = _reconciler()
    if reconciler is None:
        raise BadRequest("no reconciler in this app")
    report = reconciler.run_once()
    found = len(report.refunds_found)
    flash(
        ngettext(
            "Reconciled: refunds made outside the service found in %(num)d payment.",
            "Reconciled: refunds made outside the service found in %(num)d payments.",
            found,
        )
    )
    return redirect(url_for("simulator.panel"))


@bp.post("/printer")
def printer_action() -> ResponseReturnValue:
    """Inject a printer fault (paper out, cover open, offline, unplugged) or clear them all
    (a new roll, the cover closed)."""
    printer = _printer()
    if printer is None:
        raise BadRequest("no simulated printer")
    action = request.form.get("action")
    if action == "fault":
        fault = request.form.get("fault", "")
        if fault not in PRINTER_FAULTS:
            raise BadRequest("unknown printer fault")
        printer.set_fault(fault)
    elif action == "clear":
        printer.clear_fault()
    else:
        raise BadRequest("unknown action")
    flash(_("Printer: done."))
    return redirect(url_for("simulator.panel"))


@bp.get("/printer/pages/<int:number>.png")
def printed_page(number: int) -> ResponseReturnValue:
    """One of the pages the simulated printer printed last, as it came out (PNG)."""
    printer = _printer()
    if printer is None:
        abort(404)
    for page in printer.last_pages(PRINTED_SHOWN * 10):
        if page.number == number:
            return send_file(page.png, mimetype="image/png", max_age=0)
    abort(404)
