"""The customer display: the screen (a second monitor or a tablet) facing the resident at a
counter. It shows what the counter desk asks of the resident (``application.counter_desk``):
the same PIN pad as the kiosk, the prefilled form to check, the amount due and the payment
QR code, the change, a thank-you, in the resident's language (ja, en, zh-Hans, ko).

Pairing: a member of staff logged in to the console, with their counter chosen, opens
``/display/pair`` on the screen once; the browser's session is then bound to that counter
(``display_counter``) and shows that counter only, whoever works there. The PIN is posted
from this screen to the server and used for that one card read: it never reaches the staff
screen, is never stored, logged or sent back. The page follows the desk by long-polling
``/display/state`` and says when it is closed (``pagehide``), so the staff screen knows.
"""

from __future__ import annotations

import hmac
import io
import logging
from typing import Any

from flask import (
    Blueprint,
    Response,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import BadRequest, Forbidden

from application.counter_desk import CounterDeskWorkflow, DeskStep
from application.visits import NotYet
from cardreader.errors import CardError
from kiosk.errors import DomainError
from payments.provider import PaymentError
from ui.i18n import card_error_message, domain_language, localized
from ui.services import current_services
from ui.staff.console import csrf_token, logged_in_staff

log = logging.getLogger(__name__)

bp = Blueprint("display", __name__, url_prefix="/display")

SESSION_KEY = "display_counter"


def _desks() -> CounterDeskWorkflow:
    desks = current_services().counter_desk
    assert desks is not None
    return desks


def _counter() -> str:
    code = session.get(SESSION_KEY)
    if not code or code not in _desks().desks:
        raise Forbidden("not paired")
    return str(code)


def _csrf_ok() -> bool:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    return bool(expected) and hmac.compare_digest(str(sent), str(expected))


@bp.before_request
def _check() -> ResponseReturnValue | None:
    if request.method == "POST" and not _csrf_ok():
        raise BadRequest("form expired")
    if request.endpoint in ("display.pair", "display.pair_submit"):
        return None
    if not session.get(SESSION_KEY):
        if request.path.endswith("/state"):
            return jsonify(state="unpaired"), 401
        return redirect(url_for("display.pair"))
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    # What the resident sees (their own data, the QR code) never stays in a cache.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.errorhandler(Forbidden)
def _unpaired(_e: Forbidden) -> ResponseReturnValue:
    session.pop(SESSION_KEY, None)
    return redirect(url_for("display.pair"))


# --- pairing ------------------------------------------------------------------------------------


@bp.get("/pair")
def pair() -> ResponseReturnValue:
    """Bind this screen to the counter of the member of staff logged in here (once)."""
    staff = logged_in_staff()
    if staff is None:
        return redirect(url_for("staff.login", next=url_for("display.pair")))
    code = session.get("counter")
    if not code:
        return redirect(url_for("staff.counter"))
    return render_template("display/pair.html", counter=code, names=_counter_names(code))


@bp.post("/pair")
def pair_submit() -> ResponseReturnValue:
    """This browser is now the customer display of the staff member's counter."""
    staff = logged_in_staff()
    code = session.get("counter")
    if staff is None or not code or code not in _desks().desks:
        return redirect(url_for("display.pair"))
    session[SESSION_KEY] = code
    log.info("customer display paired with counter %s by staff %s", code, staff.id)
    return redirect(url_for("display.screen"))


def _counter_names(code: str) -> dict[str, str]:
    for counter in current_services().catalog.counters:
        if counter.code == code:
            return dict(counter.names)
    return {"ja": code}


# --- the screen ---------------------------------------------------------------------------------


def _qr_svg(data: str) -> str:
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode("utf-8")
    return svg[svg.index("<svg") :]


@bp.get("/")
def screen() -> ResponseReturnValue:
    """What the resident at this counter sees now."""
    code = _counter()
    desks = _desks()
    view = desks.display_language(code, domain_language())
    if view.payment_id:
        view = desks.refresh(code)
    context: dict[str, Any] = {
        "view": view,
        "counter_names": _counter_names(code),
        "message": _message(view.message, view.tries_left),
        "case": None,
        "qr": None,
        "payment": None,
    }
    if view.step in (DeskStep.CHECK.value, DeskStep.PAYMENT.value, DeskStep.DONE.value):
        case = desks.case_on_display(code)
        if case is not None:
            from ui.kiosk import SEX_LABELS, _birth_date_text, _field_text

            catalog = current_services().catalog
            context.update(
                case=case,
                lines=[(catalog.procedure(line.procedure_code), line) for line in case.procedures],
                sex=SEX_LABELS.get(case.sex or "unknown", SEX_LABELS["unknown"]),
                birth_date=_birth_date_text(case.birth_date),
                field_text=_field_text,
                localized=localized,
            )
    payment = desks.open_payment(code)
    if payment is not None:
        context["payment"] = payment
        if payment.display_url:
            context["qr"] = _qr_svg(payment.display_url)
    return render_template("display/screen.html", **context, csrf=csrf_token())


@bp.get("/state")
def state() -> ResponseReturnValue:
    """The desk once it changed from ``?since=<version>`` (long poll, 15 s); while this
    waits, the display counts as open."""
    code = _counter()
    try:
        since = int(request.args.get("since", "0"))
    except ValueError:
        since = 0
    view = _desks().display_poll(code, since)
    return jsonify(version=view.version, step=view.step)


@bp.post("/pin")
def pin() -> ResponseReturnValue:
    """The PIN typed here: the card at this counter is read with it (this request only)."""
    code = _counter()
    try:
        _desks().enter_pin(code, request.form.get("pin", ""), language=domain_language())
    except (CardError, DomainError) as e:
        log.info("counter %s: card read refused (%s)", code, type(e).__name__)
    return redirect(url_for("display.screen"))


@bp.post("/confirm")
def confirm() -> ResponseReturnValue:
    """The resident checked the form: it is confirmed (the fee is then due here)."""
    code = _counter()
    try:
        _desks().confirm(code, actor=f"counter:{code}")
    except (NotYet, DomainError) as e:
        log.info("counter %s: not confirmed (%s)", code, type(e).__name__)
    return redirect(url_for("display.screen"))


@bp.post("/correction")
def correction() -> ResponseReturnValue:
    """The resident asks staff to correct something on the form."""
    try:
        _desks().ask_for_correction(_counter())
    except NotYet:
        pass
    return redirect(url_for("display.screen"))


@bp.post("/closed")
def closed() -> ResponseReturnValue:
    """The page is going away (closed, reloaded elsewhere): the staff screen is told."""
    try:
        _desks().display_closed(_counter())
    except PaymentError:  # pragma: no cover - nothing of a payment happens here
        pass
    return "", 204


def _message(code: str | None, tries_left: int | None) -> str | None:
    """What the resident is told about the desk's last event, in their language."""
    from flask_babel import gettext as _

    if code is None:
        return None
    if code in ("wrong_pin", "card_removed", "no_card", "pin_would_lock", "pin_locked"):
        return card_error_message(code, tries_left)
    if code == "declined":
        return _("The card was declined. Nothing was charged.")
    if code == "timed_out":
        return _("The payment timed out. Nothing was charged.")
    if code == "payment_cancelled":
        return _("The payment was cancelled. Nothing was charged.")
    if code == "correction_asked":
        return _("A member of staff will correct it. Please wait.")
    if code == "card_not_genuine":
        return _(
            "Your card could not be checked here. A member of staff will help you with another "
            "identity document."
        )
    return None
