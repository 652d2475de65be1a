"""The resident kiosk: welcome -> procedures -> fields -> card -> PIN -> check -> pay -> ticket.

An adapter over the resident's visit workflow (``application.visits.VisitWorkflow``): each
view parses its form, calls one workflow step and renders or redirects. The rules (which
step may follow which, the PIN-tries safety rule, what a wipe cancels) are the workflow's;
the JSON API runs the same workflow. The signed cookie only names the visit. The PIN exists
only inside :func:`pin_submit` and the workflow call it makes.

Errors: card, payment and domain errors become a screen in the resident's language
(``errorhandler`` below); a visit that timed out or was wiped sends the browser back to the
welcome screen.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import BadRequest

from application.card_policy import CardNotGenuine, JpkiPinNotWanted, JpkiPinRequired
from application.printing import PrintState
from application.services import Services
from application.visits import (
    FieldsInvalid,
    NothingChosen,
    Visit,
    VisitEnded,
    VisitWorkflow,
)
from cardreader.errors import (
    CardError,
    JpkiPinLocked,
    JpkiPinWouldLock,
    JpkiWrongPin,
    PinLocked,
    PinWouldLock,
    WrongPin,
)
from kiosk.addresses import PARTS as ADDRESS_PARTS
from kiosk.addresses import Ward
from kiosk.catalog import Catalog, ProcedureSpec, fiscal_year
from kiosk.clock import business_day, utcnow
from kiosk.eras import EraOutOfRange, format_japanese, to_japanese
from kiosk.errors import DomainError, NotFound, UnknownProcedure
from kiosk.help import HelpAlert
from kiosk.models import CaseStatus
from payments.provider import PaymentError, ProviderUnavailable
from ui.i18n import (
    card_error_message,
    card_refusal_message,
    current_locale,
    domain_language,
    localized,
)
from ui.live_links import stream_url
from ui.pickers import address_picker, date_picker, date_text
from ui.public_links import phone_status_url
from ui.receipts import receipt_context, receipt_for_payment, receipt_title
from ui.services import current_services
from ui.voice import voice_guide_url
from ui.words import field_messages

log = logging.getLogger(__name__)

bp = Blueprint("kiosk", __name__, url_prefix="/kiosk")

STEPS = (
    ("procedures", _l("Choose")),
    ("fields", _l("Details")),
    ("card", _l("Card")),
    ("pin", _l("PIN")),
    ("check", _l("Check")),
    ("pay", _l("Pay")),
    ("ticket", _l("Ticket")),
)

# Labels of the catalog's choice options (the catalog stores codes only).
OPTION_LABELS: dict[str, Any] = {
    "self": _l("Only me"),
    "household": _l("My whole household"),
    "full": _l("Whole register (all members)"),
    "individual": _l("Only one person"),
}
SEX_LABELS: dict[str, Any] = {
    "male": _l("Male"),
    "female": _l("Female"),
    "not_applicable": _l("Not applicable"),
    "unknown": _l("Not known"),
}
DECLINE_MESSAGES: dict[str, Any] = {
    "insufficient_funds": _l("The card has not enough funds."),
    "expired_card": _l("The card has expired."),
}


# Every visit starts in Japanese, the ward's language (the welcome screen offers the others):
# neither the previous resident's choice nor the kiosk browser's own language carries over.
START_LANGUAGE = "ja"


@bp.before_request
def _start_in_japanese() -> None:
    if "lang" not in session and not request.args.get("lang"):
        session["lang"] = START_LANGUAGE


def _forget_language() -> None:
    """The visit is over: the next resident starts in Japanese."""
    session["lang"] = START_LANGUAGE


# --- per-app objects --------------------------------------------------------------------------


def _services() -> Services:
    return current_services()


def _workflow() -> VisitWorkflow:
    return current_services().visits


def _catalog() -> Catalog:
    return current_services().catalog


def _ward() -> Ward:
    """The catalog's ward (its loader always reads one: the address picker needs it)."""
    ward = _catalog().ward
    if ward is None:
        raise RuntimeError("the catalog has no [ward] table")
    return ward


def _visit(*, touch: bool = True) -> Visit:
    return _workflow().get(session.get("visit"), touch=touch)


# --- responses --------------------------------------------------------------------------------


@bp.after_request
def _no_store(response: Response) -> Response:
    # Nothing of a visit may come back through the browser's history or cache (the security
    # headers are the app's: ui.headers).
    response.headers["Cache-Control"] = "no-store"
    return response


def _wants_json() -> bool:
    return request.path.endswith("/state") or request.accept_mimetypes.best == "application/json"


def _page(template: str, status: int = 200, **context: Any) -> ResponseReturnValue:
    settings = _services().settings
    context.setdefault("step", None)
    return (
        render_template(
            f"kiosk/{template}",
            steps=STEPS,
            idle_timeout_s=settings.idle_timeout_s,
            idle_warning_s=settings.idle_warning_s,
            **context,
        ),
        status,
    )


@bp.errorhandler(VisitEnded)
def _visit_ended(_e: VisitEnded) -> ResponseReturnValue:
    session.pop("visit", None)
    session["take_card_lang"] = current_locale()  # "Please take your card" in their language
    _forget_language()
    if _wants_json():
        return jsonify(state="ended", redirect=url_for("kiosk.welcome", ended=1)), 410
    return redirect(url_for("kiosk.welcome", ended=1))


@bp.errorhandler(CardError)
def _card_error(e: CardError) -> ResponseReturnValue:
    message = card_error_message(e.code, e.tries_left)
    if isinstance(e, PinLocked | PinWouldLock | JpkiPinLocked | JpkiPinWouldLock):
        return _page("stop.html", 409, step="pin", code=e.code, message=message)
    if e.code in ("no_card", "card_removed", "card_from_earlier"):
        return _page("card.html", 409, step="card", message=message, code=e.code)
    return _page("problem.html", 409, message=message, code=e.code)


@bp.errorhandler(CardNotGenuine)
def _card_not_genuine(e: CardNotGenuine) -> ResponseReturnValue:
    # The workflow refused the card (ward policy) and wrote the audit row: to the counter.
    message = card_refusal_message(e.check, e.result)
    return _page("stop.html", 409, step="pin", code=e.code, message=message)


@bp.errorhandler(PaymentError)
def _payment_error(e: PaymentError) -> ResponseReturnValue:
    if isinstance(e, ProviderUnavailable):
        message = _("The payment terminal is not available. Please pay at the counter.")
    else:
        message = _("The payment could not be started. Please ask a member of staff.")
    return _page("problem.html", 502, message=message, code=e.code)


@bp.errorhandler(DomainError)
def _domain_error(e: DomainError) -> ResponseReturnValue:
    log.warning("kiosk: %s", type(e).__name__)
    message = _("This step cannot be done now. Please start again or ask a member of staff.")
    return _page("problem.html", 409, message=message, code=type(e).__name__)


@bp.errorhandler(BadRequest)
def _bad_request(_e: BadRequest) -> ResponseReturnValue:
    return _page("problem.html", 400, message=_("The request was not understood."), code="400")


# --- welcome, start, end ----------------------------------------------------------------------


@bp.get("/")
def welcome() -> ResponseReturnValue:
    """Language choice and the start button; ``?ended=1`` after a wipe."""
    return _page("welcome.html", ended=request.args.get("ended") == "1")


@bp.post("/start")
def start() -> ResponseReturnValue:
    """A new visit (any previous one of this browser is wiped first)."""
    visit = _workflow().start(domain_language(), replacing=session.get("visit"))
    session["visit"] = visit.id
    return redirect(url_for("kiosk.procedures"))


@bp.post("/wipe")
def wipe() -> ResponseReturnValue:
    """Finish or abandon the visit: everything of it is removed, back to the welcome; when a
    card is still on the reader, first "Please take your card"."""
    reason = "timeout" if request.form.get("reason") == "timeout" else "resident"
    _workflow().end(session.get("visit"), reason=reason)
    session.pop("visit", None)
    session["take_card_lang"] = current_locale()  # "Please take your card" in their language
    _forget_language()
    target = url_for("kiosk.welcome", ended=1) if reason == "timeout" else url_for("kiosk.welcome")
    if _workflow().card_left_on_reader():
        target = url_for("kiosk.take_card", ended=1 if reason == "timeout" else None)
    if _wants_json():
        return jsonify(state="ended", redirect=target)
    return redirect(target)


@bp.get("/take-card")
def take_card() -> ResponseReturnValue:
    """After a visit: "Please take your card" (spoken too), until the reader is empty; then
    the welcome screen. The card would not serve the next visit anyway (one card, one
    visit), but it is someone's card: it must not stay behind."""
    if not _workflow().card_left_on_reader():
        session.pop("take_card_lang", None)
        return redirect(url_for("kiosk.welcome", ended=request.args.get("ended")))
    with force_locale(session.get("take_card_lang") or START_LANGUAGE):
        return _page("take_card.html", ended=request.args.get("ended") == "1")


@bp.get("/take-card/state")
def take_card_state() -> ResponseReturnValue:
    """Polled by the take-card screen: whether a card is still on the reader."""
    return jsonify(card_present=_workflow().card_left_on_reader())


@bp.post("/keepalive")
def keepalive() -> ResponseReturnValue:
    """The resident touched the screen (or pressed "continue"): the visit lives on."""
    _visit()
    return "", 204


@bp.post("/call-staff")
def call_staff() -> ResponseReturnValue:
    """Ask for a member of staff: an alert on every staff console until someone
    acknowledges it; this screen follows it (``help_state``) and says when someone is
    coming."""
    session["help"] = _workflow().call_staff(_screen_name())
    message = _("A member of staff is coming. Please wait here.")
    if _wants_json() or request.headers.get("X-Requested-With") == "fetch":
        return jsonify(message=message)
    return _page("problem.html", 200, message=message, code="staff_called")


def _screen_name() -> str:
    screen = request.form.get("screen", "")
    return screen if screen in {s for s, _ in STEPS} | {"welcome", "take_card"} else "other"


@bp.get("/help/state")
def help_state() -> ResponseReturnValue:
    """This kiosk's call for staff: ``none``, ``open`` (called, nobody acknowledged yet) or
    ``acknowledged`` (someone is coming; for a few minutes after), with the words and the
    voice to say it, and the stream to follow it live. Not a touch of any visit."""
    token = session.get("help")
    alert = None
    if token:
        try:
            alert = _workflow().help_state(token)
        except NotFound:
            alert = None
    if alert is None or (alert.acknowledged_at is not None and _acknowledged_long_ago(alert)):
        session.pop("help", None)
        return jsonify(state="none")
    if alert.acknowledged_at is None:
        return jsonify(
            state="open",
            message=_("Staff have been called. Please wait here."),
            stream=stream_url(f"/kiosk/help/{token}/events"),
        )
    return jsonify(
        state="acknowledged",
        message=_("A member of staff is on the way to you now. Please wait here."),
        voice=voice_guide_url("staff_coming") or "",
    )


HELP_SHOWN_S = 180  # how long "someone is coming" stays on the kiosk after the acknowledgement


def _acknowledged_long_ago(alert: HelpAlert) -> bool:
    assert alert.acknowledged_at is not None
    return (utcnow() - alert.acknowledged_at).total_seconds() > HELP_SHOWN_S


# --- procedures and fields --------------------------------------------------------------------


def _unit_text(spec: ProcedureSpec) -> str:
    if spec.unit == "copy":
        return _("per copy")
    if spec.unit == "fiscal_year_copy":
        return _("per year, per copy")
    return _("per application")


@bp.get("/procedures")
def procedures() -> ResponseReturnValue:
    """The catalog's procedures with their fees; several may be chosen."""
    visit = _visit()
    return _page(
        "procedures.html",
        step="procedures",
        procedures=_catalog().kiosk_procedures,
        chosen=visit.procedures,
        unit_text=_unit_text,
        locked=visit.case_id is not None,
    )


@bp.post("/procedures")
def procedures_submit() -> ResponseReturnValue:
    """Keep the chosen procedures (in catalog order) and go on to their fields."""
    visit = _visit()
    if visit.case_id is not None:
        return redirect(url_for("kiosk.check"))
    try:
        _workflow().choose_procedures(visit, request.form.getlist("procedure"))
    except UnknownProcedure:
        raise BadRequest("unknown procedure") from None
    except NothingChosen:
        return _page(
            "procedures.html",
            422,
            step="procedures",
            procedures=_catalog().kiosk_procedures,
            chosen=[],
            unit_text=_unit_text,
            locked=False,
            error=_("Please choose at least one procedure."),
        )
    return redirect(url_for("kiosk.fields"))


def _specs(visit: Visit) -> list[ProcedureSpec]:
    if not visit.procedures:
        raise VisitEnded()
    return [_catalog().procedure(code) for code in visit.procedures]


def _fiscal_year_options(spec: Any) -> list[tuple[int, str]]:
    newest = fiscal_year(business_day())
    years = range(newest, newest - spec.max_years_back - 1, -1)
    return [(y, _fiscal_year_label(y)) for y in years]


def _fiscal_year_label(year: int) -> str:
    if current_locale() == "ja":
        try:
            era = to_japanese(_april(year))
            number = "元" if era.year == 1 else str(era.year)
            return f"{era.era.name}{number}年度（{year}年度）"
        except EraOutOfRange:
            pass
    return _("Fiscal year %(year)d", year=year)


def _april(year: int) -> Any:
    from datetime import date

    return date(year, 4, 1)


def _form_values(spec: ProcedureSpec, form: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in spec.fields:
        key = f"{spec.code}.{field.name}"
        items = form.getlist(key)  # type: ignore[attr-defined]
        if field.kind == "ward_address":  # the picker's parts: key.town, key.chome, ...
            values[field.name] = {part: form.get(f"{key}.{part}", "") for part in ADDRESS_PARTS}
        elif field.kind == "fiscal_years":
            values[field.name] = items
        elif items:
            values[field.name] = items[-1]  # a checkbox after its hidden "false"
    return values


def _fields_page(
    visit: Visit, values: Mapping[str, Mapping[str, Any]], errors: Mapping[str, Any], status: int
) -> ResponseReturnValue:
    return _page(
        "fields.html",
        status,
        step="fields",
        specs=_specs(visit),
        values=values,
        errors=errors,
        option_labels=OPTION_LABELS,
        fiscal_year_options=_fiscal_year_options,
        date_picker=lambda spec: date_picker(spec, business_day()),
        address_picker=lambda: address_picker(_ward()),
    )


@bp.get("/fields")
def fields() -> ResponseReturnValue:
    """What the resident gives for each chosen procedure (copies, scope, years ...)."""
    visit = _visit()
    return _fields_page(visit, visit.fields, {}, 200)


@bp.post("/fields")
def fields_submit() -> ResponseReturnValue:
    """Validate every procedure's fields (all problems at once, in the resident's language).
    Before the card is read they are kept with the visit; after, they go into the case."""
    visit = _visit()
    specs = _specs(visit)
    language = domain_language()
    submitted = {spec.code: _form_values(spec, request.form) for spec in specs}
    try:
        _workflow().set_fields(visit, submitted, language)
    except FieldsInvalid as e:
        errors = {code: field_messages(failure, language) for code, failure in e.failures.items()}
        return _fields_page(visit, submitted, errors, 422)
    return redirect(url_for("kiosk.check" if visit.case_id else "kiosk.card"))


# --- card and PIN -------------------------------------------------------------------------------


@bp.get("/card")
def card() -> ResponseReturnValue:
    """ "Place your card on the reader", with the reader's live state (see ``card_state``)."""
    visit = _visit()
    _specs(visit)
    if visit.case_id is not None:
        return redirect(url_for("kiosk.check"))
    return _page("card.html", step="card", message=None)


@bp.get("/card/state")
def card_state() -> ResponseReturnValue:
    """Polled by the card screen: ``no_reader``, ``waiting``, ``present``, ``reading`` or
    ``removed`` (a card seen earlier in this visit is gone). Not a touch of the visit."""
    visit = _visit(touch=False)
    return jsonify(state=_workflow().card_state(visit).value)


def _pin_page(
    visit: Visit, status: int = 200, message: str | None = None, tries: int | None = None
) -> ResponseReturnValue:
    # Both PINs' tries are asked of the card (the safety rule stops the page at one try
    # left); the JPKI stage shows only when a chosen procedure wants the JPKI check.
    workflow = _workflow()
    if tries is None:
        tries = workflow.pin_tries(visit)
    jpki_tries = workflow.jpki_pin_tries(visit)
    return _page(
        "pin.html", status, step="pin", tries=tries, jpki_tries=jpki_tries, message=message
    )


@bp.get("/pin")
def pin() -> ResponseReturnValue:
    """The PIN pad with the tries left; a clear stop when one try or none is left (the
    kiosk never sends the PIN that could lock a card). When a chosen procedure wants the
    JPKI check, a second stage asks for the PIN of the user authentication certificate."""
    visit = _visit()
    _specs(visit)
    if visit.case_id is not None:
        return redirect(url_for("kiosk.check"))
    return _pin_page(visit)


@bp.post("/pin")
def pin_submit() -> ResponseReturnValue:
    """Read the card with the PIN (and the JPKI PIN when asked for; both used only in this
    call) and open the case with the chosen procedures and fields; then the prefilled form
    to check. A card that fails a check the ward requires goes to the counter."""
    visit = _visit()
    _specs(visit)
    if visit.case_id is not None:
        return redirect(url_for("kiosk.check"))
    try:
        _workflow().read_card(
            visit,
            request.form.get("pin", ""),
            jpki_pin=request.form.get("jpki_pin") or None,
            language=domain_language(),
        )
    except WrongPin as e:
        message = card_error_message(e.code, e.tries_left)
        return _pin_page(visit, 422, message, tries=e.tries_left)
    except JpkiWrongPin as e:
        return _pin_page(visit, 422, card_error_message(e.code, e.tries_left))
    except JpkiPinRequired:
        message = _("Please enter the PIN of the user authentication certificate.")
        return _pin_page(visit, 422, message)
    except JpkiPinNotWanted:
        raise BadRequest("no JPKI PIN is asked for") from None
    return redirect(url_for("kiosk.check"))


@bp.post("/pin/decline")
def pin_decline() -> ResponseReturnValue:
    """The resident does not know (or does not want to give) the PIN of the user
    authentication certificate: recorded without personal data; to the counter."""
    visit = _visit()
    _specs(visit)
    if visit.case_id is not None:
        return redirect(url_for("kiosk.check"))
    _workflow().decline_jpki(visit)
    message = _(
        "Without the PIN of the user authentication certificate, this procedure cannot be "
        "done at the kiosk. Staff at the counter can help you."
    )
    return _page("stop.html", 200, step="pin", code="jpki_declined", message=message)


# --- check and confirm ----------------------------------------------------------------------------


def _birth_date_text(d: Any) -> str:
    if d is None:
        return ""
    from ui.i18n import long_date

    if current_locale() == "ja":
        try:
            return f"{format_japanese(d)}（{d.year}年）"
        except EraOutOfRange:
            pass
    return long_date(d)


def _field_text(spec: ProcedureSpec, name: str, value: Any) -> str:
    field = spec.field_spec(name)
    if field is None or value is None or value == "":
        return "—"
    if field.kind == "boolean":
        return _("Yes") if value else _("No")
    if field.kind == "choice":
        return str(OPTION_LABELS.get(value, value))
    if field.kind == "fiscal_years":
        return (
            "、".join(_fiscal_year_label(int(y)) for y in value)
            if current_locale() == "ja"
            else ", ".join(_fiscal_year_label(int(y)) for y in value)
        )
    if field.kind == "date":
        from datetime import date

        return date_text(date.fromisoformat(str(value)))
    if field.kind == "ward_address" and isinstance(value, Mapping):
        return str(value.get("address") or "—")
    return str(value)


@bp.get("/check")
def check() -> ResponseReturnValue:
    """The prefilled application: card data read-only, the resident's choices, the fees."""
    visit = _visit()
    if visit.case_id is None:
        return redirect(url_for("kiosk.card"))
    case = _workflow().case(visit)
    if case.status is not CaseStatus.DRAFT:
        return redirect(url_for("kiosk.ticket" if visit.ticket_token else "kiosk.pay"))
    lines = [(_catalog().procedure(line.procedure_code), line) for line in case.procedures]
    return _page(
        "check.html",
        step="check",
        case=case,
        lines=lines,
        sex=SEX_LABELS.get(case.sex or "unknown", SEX_LABELS["unknown"]),
        birth_date=_birth_date_text(case.birth_date),
        field_text=_field_text,
        localized=localized,
    )


@bp.post("/confirm")
def confirm() -> ResponseReturnValue:
    """The resident checked the form: confirm the case (a fee-free one gets its ticket at
    once), then pay."""
    visit = _visit()
    if visit.case_id is None:
        raise VisitEnded()
    _workflow().confirm(visit)
    return redirect(url_for("kiosk.ticket" if visit.ticket_token else "kiosk.pay"))


# --- payment ------------------------------------------------------------------------------------


@bp.get("/pay")
def pay() -> ResponseReturnValue:
    """Amount and the "pay" button; then the terminal's progress (or the QR code to pay on a
    phone); a declined or timed-out payment can be tried again."""
    visit = _visit()
    if visit.case_id is None:
        raise VisitEnded()
    view = _workflow().payment(visit)
    status, payment = view.status, view.payment
    if view.ticket_token:
        return redirect(url_for("kiosk.ticket"))
    fee, case_status = _workflow().fee_and_status(visit)
    if case_status is CaseStatus.DRAFT:
        return redirect(url_for("kiosk.check"))
    qr = _qr_svg(payment.display_url) if payment is not None and payment.display_url else None
    failure = None
    if status in ("failed", "cancelled", "expired"):
        failure = _failure_message(status, payment.failure_code if payment else None)
    return _page(
        "pay.html",
        step="pay",
        pay_status=status,
        fee=fee,
        qr=qr,
        failure=failure,
        provider=_services().settings.payments,
    )


def _failure_message(status: str, code: str | None) -> str:
    if status == "expired":
        return _("The payment timed out. Nothing was charged.")
    if status == "cancelled":
        return _("The payment was cancelled. Nothing was charged.")
    reason = DECLINE_MESSAGES.get(code or "")
    text = _("The card was declined. Nothing was charged.")
    return f"{text} {reason}" if reason else text


@bp.post("/pay")
def pay_start() -> ResponseReturnValue:
    """Put the fee on the terminal (or open the QR checkout)."""
    visit = _visit()
    if visit.case_id is None:
        raise VisitEnded()
    _workflow().start_payment(visit)
    return redirect(url_for("kiosk.pay"))


@bp.post("/pay/cash")
def pay_cash() -> ResponseReturnValue:
    """Pay in cash at the counter: the ticket at once, the fee due there (a payment open on
    the terminal is cancelled first)."""
    visit = _visit()
    if visit.case_id is None:
        raise VisitEnded()
    _workflow().pay_at_counter(visit)
    return redirect(url_for("kiosk.ticket"))


@bp.get("/pay/state")
def pay_state() -> ResponseReturnValue:
    """Polled by the pay screen: the payment's status and where to go when it is final."""
    visit = _visit(touch=False)
    status = _workflow().payment(visit).status
    target = url_for("kiosk.ticket") if visit.ticket_token else None
    if status in ("failed", "cancelled", "expired"):
        target = url_for("kiosk.pay")
    return jsonify(state=status, redirect=target)


def _qr_svg(data: str) -> str:
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode("utf-8")
    return svg[svg.index("<svg") :]


# --- ticket ---------------------------------------------------------------------------------------


@bp.get("/ticket")
def ticket() -> ResponseReturnValue:
    """Number, queue, people ahead, estimated wait, the QR code of the phone page, print."""
    visit = _visit()
    if not visit.ticket_token:
        return redirect(url_for("kiosk.pay" if visit.case_id else "kiosk.welcome"))
    found = _workflow().ticket(visit)
    queue = _catalog().queue(found.queue_code)
    phone_url = phone_status_url(visit.ticket_token)
    printing = _workflow().print_state(visit)
    return _page(
        "ticket.html",
        step="ticket",
        view=found.status,
        queue_name=localized(queue.names),
        issued_at=found.issued_at,
        qr=_qr_svg(phone_url),
        phone_url=phone_url,
        receipt_label=receipt_title(domain_language()) if found.has_receipt else None,
        printing=printing,
        print_message=_print_message(printing) if printing is not None else "",
        due_yen=found.due_yen,
    )


def _print_message(printing: PrintState) -> str:
    if printing.state in ("queued", "printing"):
        return _("Printing your ticket…")
    if printing.state == "printed":
        return _("Your ticket is printed. Please take it from the printer.")
    if printing.state == "failed":
        return _(
            "The ticket could not be printed. Please take a photo of the QR code with your "
            "phone, or ask a member of staff."
        )
    return ""


@bp.get("/ticket/print-state")
def ticket_print_state() -> ResponseReturnValue:
    """Polled by the ticket screen: how the printing goes (``no_printer``, ``queued``,
    ``printing``, ``printed``, ``failed`` with the printer's reason) and what to tell the
    resident. Not a touch of the visit."""
    visit = _visit(touch=False)
    printing = _workflow().print_state(visit)
    if printing is None:
        return jsonify(state="no_printer")
    return jsonify(
        state=printing.state,
        problem=printing.problem,
        message=_print_message(printing),
        may_print_again=printing.may_print_again,
    )


@bp.post("/ticket/print")
def ticket_print() -> ResponseReturnValue:
    """Print the ticket again on the kiosk's printer (a few times at most)."""
    visit = _visit()
    _workflow().print_again(visit)
    if _wants_json():
        return ticket_print_state()
    return redirect(url_for("kiosk.ticket"))


@bp.get("/receipt")
def receipt() -> ResponseReturnValue:
    """The receipt of the visit's payment, in the screen's language, to print; a fee-free
    visit has none (404, with a message)."""
    visit = _visit()
    if not visit.ticket_token:
        return redirect(url_for("kiosk.pay" if visit.case_id else "kiosk.welcome"))
    public_id = _workflow().receipt_payment(visit)
    found = receipt_for_payment(public_id, domain_language()) if public_id else None
    if found is None:
        message = _("There is no receipt: nothing was paid for this visit.")
        return _page("problem.html", 404, step="ticket", message=message, code="no_receipt")
    return _page("receipt.html", step="ticket", **receipt_context(found))
