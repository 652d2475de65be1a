"""The counter desk in the staff console: a new case for the resident at the counter
(procedures, the card read at the counter with the PIN on the customer display, or typed
details and the identity document checked), the prefilled form, money at the counter (cash,
the counter's terminal, a QR code on the display), amendments, exemptions and refunds of a
difference. Thin over ``application.counter_desk``: parse the form, call one operation,
redirect with a message.

The desk page follows the desk by long-polling ``/staff/desk/state`` (``desk.js``) and
reloads when it changed: the prefilled form appears as soon as the resident's PIN was read.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from application.card_policy import JpkiNotAtCounter
from application.counter_desk import CounterDeskWorkflow, DeskStep
from application.visits import FieldsInvalid, NotYet
from cardreader.errors import CardError
from kiosk.addresses import PARTS as ADDRESS_PARTS
from kiosk.amendments import PERSON_FIELDS, Amendment, amendments_of
from kiosk.cases import get_case, view_case
from kiosk.catalog import ProcedureSpec, fiscal_year
from kiosk.clock import business_day
from kiosk.counter_cases import EXEMPTIONS, IDENTITY_DOCUMENTS, PersonInvalid
from kiosk.db import transaction
from kiosk.models import StaffRole
from payments.counter import cash_of_case
from payments.states import OPEN, TAKEN, payments_of_case
from ui.errors import MESSAGES as ERROR_MESSAGES
from ui.errors import describe
from ui.i18n import card_error_message, domain_language, localized
from ui.kiosk import OPTION_LABELS
from ui.services import current_services
from ui.staff import bp
from ui.staff.console import actor, back, catalog, counter_code, role_required, sessions
from ui.words import field_messages

IDENTITY_LABELS: dict[str, Any] = {
    "drivers_license": _l("Driver's licence"),
    "passport": _l("Passport"),
    "residence_card": _l("Residence card"),
    "special_permanent_resident": _l("Special permanent resident certificate"),
    "disability_certificate": _l("Disability certificate"),
    "health_insurance": _l("Health insurance card (with a second document)"),
    "other_photo_id": _l("Other official photo ID"),
}
EXEMPTION_LABELS: dict[str, Any] = {
    "official_request": _l("Official request from a public body (公用請求)"),
    "statutory": _l("Exempt by ordinance (public assistance, pension, ...)"),
}
# What the desk says to staff, by the desk's message code (card errors have their own).
DESK_MESSAGES: dict[str, Any] = {
    "display_closed": _l(
        "The customer display was closed. Nothing was read; open it again or go on without "
        "the card."
    ),
    "case_not_opened": _l("The case could not be opened from this card."),
    "correction_asked": _l("The resident asks for a correction on the form."),
    "paid": _l("Paid."),
    "declined": _l("The payment was declined. Try again or take cash."),
    "timed_out": _l("The payment timed out. Nothing was charged."),
    "payment_cancelled": _l("The payment was cancelled. Nothing was charged."),
    "refunded": _l("The money was given back."),
    "exempted": _l("The case is exempt from fees."),
    "amended": _l("The case was amended."),
    "wrong_pin": _l("The PIN was not correct; the resident may try again."),
    "pin_would_lock": _l(
        "Only one PIN try is left: no PIN is asked for. Go on without the card (identity document)."
    ),
    "pin_locked": _l("The card's PIN is locked. Go on without the card (identity document)."),
    "card_removed": _l(
        "The card was taken off the reader. Put it back; the resident enters the PIN again."
    ),
    "no_card": _l("There is no card on the counter's reader."),
    "provider_unavailable": _l("The payment terminal cannot be reached. Take cash."),
}
PERSON_LABELS: dict[str, Any] = {
    "family_name": _l("Family name"),
    "given_name": _l("Given name"),
    "address": _l("Address"),
    "birth_date": _l("Date of birth"),
    "sex": _l("Sex"),
    "identity_document": _l("Identity document checked"),
}
PERSON_PROBLEMS: dict[str, Any] = {
    "required": _l("required"),
    "too_long": _l("too long"),
    "invalid_text": _l("characters that cannot be used"),
    "not_a_date": _l("not a valid date"),
    "not_a_choice": _l("choose one"),
}


def _desks() -> CounterDeskWorkflow:
    desks = current_services().counter_desk
    if desks is None:  # pragma: no cover - built by every composition
        abort(404)
    return desks


def _my_counter() -> str:
    code = counter_code()
    if not code:
        raise NotYet("counter")
    return code


def desk_message(
    code: str | None,
    tries_left: int | None = None,
    *,
    refused_check: str | None = None,
    refused_result: str | None = None,
) -> str | None:
    """The desk's message for staff, in the console's language (a refused card: the check
    it failed and what that check found)."""
    if not code:
        return None
    if code == "card_not_genuine" and refused_check:
        return card_refusal_for_staff(refused_check, refused_result or "")
    if code in DESK_MESSAGES:
        return str(DESK_MESSAGES[code])
    if code in ERROR_MESSAGES:
        return str(describe(code)[2])
    return card_error_message(code, tries_left)


def card_refusal_for_staff(check: str, result: str) -> str:
    """Staff's message for a card the ward's policy refused at ``check`` with ``result``
    (the words of the case view's card checks, ``ui.staff.cases.card_check_rows``)."""
    names = {
        "integrity": _("Data consistent"),
        "chip": _("Chip present"),
        "card_chain": _("Card chain"),
        "jpki_chain": _("JPKI"),
    }
    found = {
        "not_authenticated": _("the chip did not sign our challenge"),
        "not_checked": _("not checked"),
        "chain_invalid": _("no chain to a key or certificate the ward trusts"),
        "signature_invalid": _("a signature on the chain does not verify"),
        "expired": _("the certificate has expired"),
        "revoked": _("the certificate is revoked"),
    }
    if check == "integrity":
        what = _("the data does not match its signature")
    else:
        what = found.get(result, result)
    return _(
        "The card failed a check the ward requires (%(check)s: %(result)s). No case was "
        "opened and the refusal is recorded. Check the resident's identity with a document "
        "instead: Without a card.",
        check=names.get(check, check),
        result=what,
    )


def _request_key() -> str:
    return secrets.token_urlsafe(18)


# --- values from the console's forms ------------------------------------------------------------


def procedure_values(spec: ProcedureSpec, form: Mapping[str, Any]) -> dict[str, Any]:
    """One procedure's fields from a console form (``<code>.<field>`` names), only those
    present (so an amendment changes what staff touched)."""
    values: dict[str, Any] = {}
    for field in spec.fields:
        key = f"{spec.code}.{field.name}"
        if field.kind == "ward_address":
            parts = {part: form.get(f"{key}.{part}", "") for part in ADDRESS_PARTS}
            if any(parts.values()):
                values[field.name] = parts
        elif field.kind == "fiscal_years":
            if key in form or f"{key}.present" in form:
                values[field.name] = form.getlist(key)  # type: ignore[attr-defined]
        elif field.kind == "boolean":
            if f"{key}.present" in form:
                values[field.name] = key in form
        elif key in form and form.get(key) != "":
            values[field.name] = form.get(key)
    return values


def _years() -> list[int]:
    newest = fiscal_year(business_day())
    return list(range(newest, newest - 6, -1))


def _field_errors(error: FieldsInvalid) -> None:
    for code, failure in error.failures.items():
        for message in field_messages(failure, domain_language()).values():
            flash(f"{code}: {message}", "error")


def _person_errors(error: PersonInvalid) -> None:
    for name, problem in error.errors.items():
        flash(f"{PERSON_LABELS.get(name, name)}: {PERSON_PROBLEMS.get(problem, problem)}", "error")


# --- the desk page ------------------------------------------------------------------------------


@bp.get("/desk")
def desk() -> ResponseReturnValue:
    """This counter's desk: what it does now and the next step's form."""
    code = counter_code()
    if code is None:
        return redirect(url_for("staff.counter"))
    workflow = _desks()
    view = workflow.desk(code).view()
    context: dict[str, Any] = {
        "view": view,
        "message": desk_message(
            view.message,
            view.tries_left,
            refused_check=view.refused_check,
            refused_result=view.refused_result,
        ),
        "procedures": catalog().procedures,
        "identity_documents": [(c, IDENTITY_LABELS[c]) for c in IDENTITY_DOCUMENTS],
        "typed": request.args.get("typed") == "1",
        "years": _years(),
        "address_parts": ADDRESS_PARTS,
    }
    if view.case_id is not None:
        from ui.staff.cases import _field_rows  # cases imports this module

        with transaction(sessions()) as s:  # the case in clear: audited
            detail = view_case(s, view.case_id, actor=actor(), catalog=catalog())
        context.update(case=detail, lines=_field_rows(detail), **case_context(view.case_id))
    return render_template("staff/desk.html", **context)


@bp.context_processor
def _desk_context() -> dict[str, Any]:
    return {
        "option_label": lambda value: str(OPTION_LABELS.get(value, value)),
        "identity_label": lambda code: str(IDENTITY_LABELS.get(code, code or "")),
        "exemption_label": lambda code: str(EXEMPTION_LABELS.get(code, code or "")),
    }


@bp.get("/desk/state")
def desk_state() -> ResponseReturnValue:
    """The desk as JSON once it changed from ``?since=<version>`` (long poll, 15 s)."""
    code = _my_counter()
    try:
        since = int(request.args.get("since", "0"))
    except ValueError:
        since = 0
    wait = 0.0 if request.args.get("wait") == "0" else 15.0
    return _desks().staff_poll(code, since, timeout_s=wait).to_json()


@bp.post("/desk/new")
def desk_new() -> ResponseReturnValue:
    """Start a new case at my counter (whatever the desk held is let go)."""
    _desks().start(_my_counter(), actor=actor(), language=request.form.get("language", "ja"))
    return redirect(url_for("staff.desk"))


@bp.post("/desk/procedures")
def desk_procedures() -> ResponseReturnValue:
    """The chosen procedures and their fields; then the card (PIN on the display) or the
    typed details."""
    code = _my_counter()
    chosen = request.form.getlist("procedure")
    fields = {}
    for spec in catalog().procedures:
        if spec.code in chosen:
            fields[spec.code] = procedure_values(spec, request.form)
    try:
        _desks().choose(code, chosen, fields, language="ja")
    except FieldsInvalid as e:
        _field_errors(e)
        return redirect(url_for("staff.desk"))
    if request.form.get("next") == "typed":
        return redirect(url_for("staff.desk", typed=1))
    try:
        _desks().ask_for_pin(code)
    except (CardError, JpkiNotAtCounter):
        pass  # the desk carries the message
    return redirect(url_for("staff.desk"))


@bp.post("/desk/person")
def desk_person() -> ResponseReturnValue:
    """No card: the basic four typed from the identity document checked."""
    person = {name: request.form.get(name, "") for name in PERSON_FIELDS}
    try:
        _desks().open_without_card(_my_counter(), person, request.form.get("identity_document", ""))
    except PersonInvalid as e:
        _person_errors(e)
        return redirect(url_for("staff.desk", typed=1))
    return redirect(url_for("staff.desk"))


@bp.post("/desk/confirm")
def desk_confirm() -> ResponseReturnValue:
    """The form was checked: confirm; the ticket serves at my counter, the fee is due."""
    _desks().confirm(_my_counter(), actor=actor())
    return redirect(url_for("staff.desk"))


@bp.post("/desk/cancel")
def desk_cancel() -> ResponseReturnValue:
    """Stop: an unpaid case is cancelled, the desk and the display go idle."""
    _desks().cancel(_my_counter(), actor=actor())
    flash(_("Stopped."), "info")
    return redirect(url_for("staff.desk"))


@bp.post("/desk/finish")
def desk_finish() -> ResponseReturnValue:
    """The resident has gone: back to idle."""
    _desks().finish(_my_counter())
    return redirect(url_for("staff.desk"))


@bp.post("/desk/pin")
def desk_pin_again() -> ResponseReturnValue:
    """Ask for the PIN on the display (again, after a card was put back)."""
    try:
        _desks().ask_for_pin(_my_counter())
    except (CardError, JpkiNotAtCounter):
        pass
    return redirect(url_for("staff.desk"))


@bp.post("/cases/<int:case_id>/show")
def case_show(case_id: int) -> ResponseReturnValue:
    """Serve this case at my counter: it goes on the customer display with what is due."""
    _desks().show_case(_my_counter(), case_id, actor=actor())
    return redirect(url_for("staff.desk"))


# --- money --------------------------------------------------------------------------------------


def _yen(name: str) -> int:
    text = request.form.get(name, "").strip().replace(",", "")
    if not text.isdigit() or len(text) > 8:
        raise ValueError(name)
    return int(text)


@bp.post("/cases/<int:case_id>/cash")
def case_cash(case_id: int) -> ResponseReturnValue:
    """Cash for what is due: the amount and what was handed over; the change is shown."""
    try:
        amount, tendered = _yen("amount_yen"), _yen("tendered_yen")
    except ValueError:
        flash(str(describe("invalid_field")[2]), "error")
        return back("staff.desk")
    taken = _desks().pay_cash(
        _my_counter(),
        case_id,
        amount_yen=amount,
        tendered_yen=tendered,
        actor=actor(),
        request_key=request.form.get("request_key") or None,
    )
    flash(_("Paid in cash. Change: %(change)s", change=f"{taken.change_yen:,}"), "ok")
    return back("staff.desk")


@bp.post("/cases/<int:case_id>/device-payment")
def case_device_payment(case_id: int) -> ResponseReturnValue:
    """What is due on my counter's terminal, or as a QR code on its display."""
    device = request.form.get("device", "")
    if device not in ("terminal", "qr"):
        abort(400)
    _desks().start_device_payment(
        _my_counter(),
        case_id,
        device=device,
        actor=actor(),
        request_key=request.form.get("request_key") or None,
    )
    return back("staff.desk")


@bp.post("/desk/payment/cancel")
def desk_payment_cancel() -> ResponseReturnValue:
    """Withdraw the payment open on the terminal or the display."""
    _desks().cancel_payment(_my_counter(), actor=actor())
    return back("staff.desk")


@bp.post("/cases/<int:case_id>/refund-difference")
@role_required(StaffRole.SUPERVISOR)
def case_refund_difference(case_id: int) -> ResponseReturnValue:
    """Give back what the case owes the resident: cash from my drawer, or to the card."""
    reason = request.form.get("reason", "").strip()[:200]
    if not reason:
        flash(str(describe("invalid_field")[2]), "error")
        return back("staff.desk")
    _desks().refund_difference(
        _my_counter(),
        case_id,
        staff=g.staff,
        cash=request.form.get("method") == "cash",
        reason=reason,
    )
    flash(_("The money was given back."), "ok")
    return back("staff.desk")


@bp.post("/cases/<int:case_id>/exempt")
@role_required(StaffRole.SUPERVISOR)
def case_exempt(case_id: int) -> ResponseReturnValue:
    """Exempt the case from its fees (supervisors), with the basis."""
    _desks().exempt(
        counter_code(),
        case_id,
        staff=g.staff,
        kind=request.form.get("kind", ""),
        basis=request.form.get("basis", ""),
    )
    flash(str(DESK_MESSAGES["exempted"]), "ok")
    return back("staff.desk")


@bp.post("/cases/<int:case_id>/complete")
def case_complete(case_id: int) -> ResponseReturnValue:
    """Done: the ticket is completed (refused while money is due) and the desk goes idle."""
    _desks().complete(counter_code(), case_id, actor=actor())
    flash(_("The case is done."), "ok")
    return redirect(url_for("staff.desk" if counter_code() else "staff.overview"))


# --- amendments ---------------------------------------------------------------------------------


@bp.get("/cases/<int:case_id>/amend")
def case_amend(case_id: int) -> ResponseReturnValue:
    """The amendment form: the basic four, each procedure's fields, procedures to add or
    remove (the case in clear: audited like the case view)."""
    with transaction(sessions()) as s:
        detail = view_case(s, case_id, actor=actor(), catalog=catalog())
    specs = {spec.code: spec for spec in catalog().procedures}
    have = {line.code for line in detail.procedures}
    return render_template(
        "staff/amend.html",
        case=detail,
        specs=specs,
        addable=[p for p in catalog().procedures if p.code not in have],
        years=_years(),
        address_parts=ADDRESS_PARTS,
    )


@bp.post("/cases/<int:case_id>/amend")
def case_amend_submit(case_id: int) -> ResponseReturnValue:
    """Apply the amendment; the difference in fee becomes due (to collect or give back)."""
    with sessions()() as s:
        case = get_case(s, case_id)
        current = {line.procedure_code for line in case.procedures}
        person_now = {
            "family_name": case.family_name or "",
            "given_name": case.given_name or "",
            "address": case.address or "",
            "birth_date": case.birth_date.isoformat() if case.birth_date else "",
            "sex": case.sex or "",
        }
    person = {
        name: request.form[name]
        for name in PERSON_FIELDS
        if name in request.form and request.form[name] != person_now[name]
    }
    add = [c for c in request.form.getlist("add") if c not in current]
    remove = [c for c in request.form.getlist("remove") if c in current]
    fields = {}
    for spec in catalog().procedures:
        if spec.code in current and spec.code not in remove or spec.code in add:
            values = procedure_values(spec, request.form)
            if values:
                fields[spec.code] = values
    try:
        record = _desks().amend(
            counter_code(),
            case_id,
            Amendment(person=person, add=add, remove=remove, fields=fields),
            actor=actor(),
        )
    except FieldsInvalid as e:
        _field_errors(e)
        return redirect(url_for("staff.case_amend", case_id=case_id))
    except PersonInvalid as e:
        _person_errors(e)
        return redirect(url_for("staff.case_amend", case_id=case_id))
    difference = record.fee_after_yen - record.fee_before_yen
    flash(
        _(
            "Amended. Fee %(before)s → %(after)s.",
            before=f"{record.fee_before_yen:,}",
            after=f"{record.fee_after_yen:,}",
        ),
        "ok",
    )
    if difference:
        flash(_("The difference is due at the counter."), "info")
    return redirect(url_for("staff.desk" if counter_code() else "staff.case", case_id=case_id))


# --- what the case pages show about money -------------------------------------------------------


def case_context(case_id: int) -> dict[str, Any]:
    """The money panel of a case (due, payments, what my counter can take), its
    amendments and what the console may do with it; no audit (no personal data)."""
    code = counter_code()
    workflow = _desks()
    with sessions()() as s:
        case = get_case(s, case_id)
        payments = payments_of_case(s, case_id)
        open_payment = next((p for p in payments if p.status in OPEN), None)
        amendments = [
            {
                "at": a.at,
                "actor": a.actor,
                "fee_before_yen": a.fee_before_yen,
                "fee_after_yen": a.fee_after_yen,
                "summary": dict(a.summary),
                "changes": dict(a.changes or {}),
            }
            for a in amendments_of(s, case_id)
        ]
        cash = cash_of_case(s, case_id)
        money = {
            "case_id": case_id,
            "status": case.status.value,
            "channel": case.channel,
            "fee_yen": case.fee_yen,
            "due_yen": case.due_yen,
            "held_yen": sum(p.amount_yen - p.refunded_yen for p in payments if p.status in TAKEN),
            "exemption": case.exemption,
            "has_ticket": case.ticket is not None,
            "ticket_status": case.ticket.status.value if case.ticket else None,
            "open_payment": open_payment,
            "cash": cash,
        }
    desk = workflow.desks.get(code or "")
    return {
        "money": money,
        "amendments": amendments,
        "device": {
            "counter": code,
            "terminal": desk is not None and desk.terminal is not None,
            "qr": desk is not None and desk.qr is not None,
            "on_display": desk is not None and desk.case_id == case_id,
        },
        "exemptions": [(k, EXEMPTION_LABELS[k]) for k in EXEMPTIONS],
        "request_key": _request_key(),
        "is_supervisor": g.staff.role.rank >= StaffRole.SUPERVISOR.rank,
        "desk_steps": DeskStep,
        "localized": localized,
    }
