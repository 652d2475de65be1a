"""The JSON API (``/api``): everything the kiosk, staff console and board screens do, for
another front end (a tablet app, a second counter display). Documented by the OpenAPI
document at ``/api/openapi.json`` (``ui.openapi``).

Errors are ``{"error": {"code": ..., "message": ...}}`` with a stable code (``ui.errors``)
and the message in the request's language (``?lang=`` or Accept-Language). Malformed input
is a 4xx, never a 500. Staff endpoints take ``Authorization: Bearer <token>`` from
``POST /api/staff/login`` (a signed, expiring token: no cookie, hence no CSRF exposure).

The visit endpoints are an adapter over the same workflow as the kiosk screens
(``application.visits``), the staff ticket endpoints over the same operations as the console
(``application.ticket_operations``); the visit id is the bearer of the visit, like the
kiosk's cookie.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from functools import wraps
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException

from application.ticket_operations import (
    TargetMissing,
    TicketOperation,
    TicketOutcome,
    call_next_ticket,
    run_ticket_operation,
)
from application.visits import FieldsInvalid, Visit, VisitEnded, VisitWorkflow
from cardreader.errors import BadPinFormat, CardError, WrongPin
from kiosk.cases import view_case
from kiosk.catalog import Catalog, ValidationFailed
from kiosk.clock import business_day
from kiosk.counters import get_counter, set_counter_open
from kiosk.db import transaction
from kiosk.errors import DomainError, NotFound
from kiosk.models import StaffRole
from kiosk.overview import board_state, open_tickets, queue_counts, ticket_status
from kiosk.staff import actor_of, authenticate, get_staff, require_role
from kiosk.statistics import day_statistics
from payments.provider import PaymentError
from payments.states import get_payment, payments_of_case
from ui.errors import describe
from ui.i18n import domain_language, normalise_locale
from ui.receipts import receipt_for_payment
from ui.services import current_services

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api")

TOKEN_MAX_AGE_S = 8 * 3600
MAX_BODY_BYTES = 64 * 1024
MAX_ID = 2**31 - 1


class ApiError(Exception):
    """A client error with a stable code (and optional details)."""

    def __init__(self, code: str, **details: Any) -> None:
        super().__init__(code)
        self.code = code
        self.details = details


def error_response(code: str, status: int, message: str, **details: Any) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update({k: v for k, v in details.items() if v is not None})
    response = jsonify(error=body)
    response.status_code = status
    return response


@bp.before_request
def _limits() -> ResponseReturnValue | None:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        code, status, message = describe("too_large")
        return error_response(code, status, message)
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.errorhandler(ApiError)
def _api_error(e: ApiError) -> ResponseReturnValue:
    code, status, message = describe(e.code)
    return error_response(code, status, message, **e.details)


@bp.errorhandler(ValidationFailed)
def _validation(e: ValidationFailed) -> ResponseReturnValue:
    code, status, message = describe(e)
    return error_response(code, status, message, fields=e.messages(domain_language()))


@bp.errorhandler(CardError)
def _card_error(e: CardError) -> ResponseReturnValue:
    code, _status, message = describe(e)
    # The PIN typed (malformed or wrong) is input to correct: 422; the card's state is 409.
    status = 422 if isinstance(e, WrongPin | BadPinFormat) else 409
    return error_response(code, status, message, tries_left=e.tries_left)


@bp.errorhandler(TargetMissing)
def _target_missing(e: TargetMissing) -> ResponseReturnValue:
    code, status, message = describe("invalid_field")
    return error_response(code, status, message, field=e.field)


@bp.errorhandler(VisitEnded)
def _visit_ended(_e: VisitEnded) -> ResponseReturnValue:
    code, status, message = describe("visit_not_found")
    return error_response(code, status, message)


@bp.errorhandler(FieldsInvalid)
def _fields_invalid(e: FieldsInvalid) -> ResponseReturnValue:
    code, status, message = describe("validation_failed")
    language = domain_language()
    fields = {code: failure.messages(language) for code, failure in e.failures.items()}
    return error_response(code, status, message, fields=fields)


@bp.errorhandler(DomainError)
@bp.errorhandler(PaymentError)
def _domain_error(e: Exception) -> ResponseReturnValue:
    code, status, message = describe(e)
    log.info("api: %s (%s)", code, type(e).__name__)
    return error_response(code, status, message)


@bp.errorhandler(HTTPException)
def http_error_response(e: HTTPException) -> Response:
    """An HTTP error (also a routing 404/405 under ``/api``) in the API's error format."""
    codes = {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "too_large",
    }
    code, _status, message = describe(codes.get(e.code or 400, "bad_request"))
    return error_response(code, e.code or 400, message)


# --- input ----------------------------------------------------------------------------------


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True, force=True) if request.data else {}
    if not isinstance(data, dict):
        raise ApiError("invalid_json")
    return data


def _str(body: dict[str, Any], key: str, *, max_len: int = 200, required: bool = True) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or len(value) > max_len or (required and not value):
        raise ApiError("invalid_field", field=key)
    return value


def _int(body: dict[str, Any], key: str, *, low: int, high: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ApiError("invalid_field", field=key)
    return value


def _id(value: int) -> int:
    if not 0 < value <= MAX_ID:
        raise ApiError("not_found")
    return value


def _fields(body: dict[str, Any], key: str = "fields") -> dict[str, dict[str, Any]]:
    value = body.get(key, {})
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, dict) for k, v in value.items()
    ):
        raise ApiError("invalid_field", field=key)
    return value


def _catalog() -> Catalog:
    return current_services().catalog


def _sessions() -> Any:
    return current_services().sessions


def _workflow() -> VisitWorkflow:
    return current_services().visits


# --- catalog, board, ticket status (public) -------------------------------------------------


@bp.get("/catalog")
def catalog() -> ResponseReturnValue:
    """Procedures with fees and fields, queues and counters."""
    cat = _catalog()
    return jsonify(
        procedures=[
            {
                "code": p.code,
                "names": dict(p.names),
                "queue": p.queue,
                "fee_yen": p.unit_fee("kiosk"),
                "unit": p.unit,
                "needs_individual_number": p.needs_individual_number,
                "fields": [
                    {
                        "name": f.name,
                        "kind": f.kind,
                        "label": dict(f.label),
                        "required": f.required,
                        "default": f.default,
                        "min": f.min,
                        "max": f.max,
                        "options": list(f.options),
                        "max_length": f.max_length,
                        "min_days": f.min_days,
                        "max_days": f.max_days,
                    }
                    for f in p.fields
                ],
            }
            for p in cat.procedures
        ],
        queues=[{"code": q.code, "prefix": q.prefix, "names": dict(q.names)} for q in cat.queues],
        counters=[
            {"code": c.code, "names": dict(c.names), "queues": list(c.queues)} for c in cat.counters
        ],
        ward=_ward_json(cat),
    )


def _ward_json(cat: Catalog) -> dict[str, Any] | None:
    """The ward's names and the towns a ``ward_address`` field accepts (its value is
    ``{"town", "chome", "ban", "go", "building"}``)."""
    if cat.ward is None:
        return None
    return {
        "names": dict(cat.ward.names),
        "address_prefix": cat.ward.address_prefix,
        "towns": [
            {"name": t.name, "kana": t.kana, "chome": list(t.chome), "numbering": t.numbering}
            for t in cat.ward.towns
        ],
    }


@bp.get("/board")
def board() -> ResponseReturnValue:
    """The display board's state: latest calls and waiting counts (numbers only)."""
    with _sessions()() as s:
        return jsonify(board_state(s, business_day()).to_json())


def _ticket_json(token: str) -> dict[str, Any]:
    with _sessions()() as s:
        view = ticket_status(s, token)
    return {
        "number": view.number,
        "status": view.status,
        "people_ahead": view.people_ahead,
        "estimated_wait_s": view.estimated_wait_s,
        "quoted_wait_s": view.quoted_wait_s,
        "counter": view.counter,
    }


@bp.get("/tickets/<token>")
def ticket_by_token(token: str) -> ResponseReturnValue:
    """A ticket's status by its status-page token (what the phone page shows)."""
    return jsonify(_ticket_json(token[:64]))


# --- kiosk visits ---------------------------------------------------------------------------
# The same workflow as the kiosk screens (``application.visits``); the visit id is the bearer
# of the visit, like the kiosk's cookie.


def _visit(visit_id: str) -> Visit:
    return _workflow().get(visit_id)


def _visit_json(visit: Visit) -> dict[str, Any]:
    return {
        "visit_id": visit.id,
        "language": visit.language,
        "procedures": list(visit.procedures),
        "fields": visit.fields,
        "case_id": visit.case_id,
        "payment_id": visit.payment_id,
        "ticket_token": visit.ticket_token,
    }


@bp.post("/visits")
def visit_open() -> ResponseReturnValue:
    """Start a visit with the chosen procedures (and optionally their fields)."""
    body = _body()
    procedures = body.get("procedures")
    if (
        not isinstance(procedures, list)
        or not procedures
        or not all(isinstance(p, str) for p in procedures)
        or len(set(procedures)) != len(procedures)
        or len(procedures) > len(_catalog().procedures)
    ):
        raise ApiError("invalid_field", field="procedures")
    fields = _fields(body)
    language = domain_language()
    workflow = _workflow()
    visit = workflow.start(language)
    try:
        workflow.choose_procedures(visit, procedures)
        if any(code not in procedures for code in fields):
            raise ApiError("invalid_field", field="fields")
        workflow.set_fields(visit, fields, language)
    except BaseException:
        workflow.end(visit.id, reason="rejected")
        raise
    return jsonify(_visit_json(visit)), 201


@bp.get("/visits/<visit_id>")
def visit_get(visit_id: str) -> ResponseReturnValue:
    """The visit's progress."""
    return jsonify(_visit_json(_visit(visit_id)))


@bp.delete("/visits/<visit_id>")
def visit_end(visit_id: str) -> ResponseReturnValue:
    """End the visit: a pending payment is cancelled and an unpaid case cancelled."""
    _workflow().wipe(_visit(visit_id), reason="resident")
    return "", 204


@bp.post("/visits/<visit_id>/fields")
def visit_fields(visit_id: str) -> ResponseReturnValue:
    """Set the fields of the chosen procedures (before the card read: kept with the visit;
    after: stored in the draft case and the fee recomputed)."""
    visit = _visit(visit_id)
    fields = _fields(_body())
    if any(c not in visit.procedures for c in fields):
        raise ApiError("invalid_field", field="fields")
    fee = _workflow().set_fields(visit, fields, visit.language)
    if fee is None:
        return jsonify(_visit_json(visit))
    return jsonify({**_visit_json(visit), "fee_yen": fee})


@bp.get("/visits/<visit_id>/card")
def visit_card(visit_id: str) -> ResponseReturnValue:
    """The reader: present, a card on it, PIN tries left (``null`` without a card), and
    whether the card was on the reader before the visit began (then it must be taken off
    and placed again: a visit only uses a card placed after it began)."""
    view = _workflow().reader_view(_visit(visit_id))
    return jsonify(
        reader_present=view.reader_present,
        card_present=view.card_present,
        pin_tries_left=view.pin_tries_left,
        card_from_earlier=view.card_from_earlier,
    )


def _prefilled(case: Any) -> dict[str, Any]:
    # The resident's own data back to the kiosk they stand at, to check (as the check screen).
    return {
        "case_id": case.id,
        "status": case.status.value,
        "name": case.name,
        "address": case.address,
        "birth_date": case.birth_date.isoformat() if case.birth_date else None,
        "sex": case.sex,
        "fee_yen": case.fee_yen,
        "procedures": [
            {
                "code": line.procedure_code,
                "units": line.units,
                "fee_yen": line.fee_yen,
                "fields": dict(line.resident_fields or {}),
            }
            for line in case.procedures
        ],
    }


@bp.post("/visits/<visit_id>/card/read")
def visit_card_read(visit_id: str) -> ResponseReturnValue:
    """Read the card with the PIN (``{"pin": "1234"}``; used in this request only) and open
    the case prefilled from it. The kiosk's rule holds: with one try left, no PIN is sent."""
    visit = _visit(visit_id)
    pin = _str(_body(), "pin", max_len=16)
    if visit.case_id is not None:
        raise ApiError("case_not_editable")
    case = _workflow().read_card(visit, pin)
    return jsonify(_prefilled(case)), 201


@bp.post("/visits/<visit_id>/confirm")
def visit_confirm(visit_id: str) -> ResponseReturnValue:
    """The resident checked the prefilled form: confirm (fee-free: the ticket at once)."""
    visit = _visit(visit_id)
    if visit.case_id is None:
        raise ApiError("invalid_transition")
    confirmation = _workflow().confirm(visit)
    return jsonify({**_visit_json(visit), "fee_yen": confirmation.fee_yen})


def _payment_json(payment: Any) -> dict[str, Any]:
    return {
        "payment_id": payment.public_id,
        "status": payment.status.value,
        "amount_yen": payment.amount_yen,
        "refunded_yen": payment.refunded_yen,
        "display_url": payment.display_url,
        "failure_code": payment.failure_code,
    }


@bp.post("/visits/<visit_id>/payment")
def visit_pay(visit_id: str) -> ResponseReturnValue:
    """Put the fee on the terminal (or open the QR checkout)."""
    visit = _visit(visit_id)
    if visit.case_id is None:
        raise ApiError("invalid_transition")
    return jsonify(_payment_json(_workflow().start_payment(visit))), 201


@bp.get("/visits/<visit_id>/payment")
def visit_payment(visit_id: str) -> ResponseReturnValue:
    """The payment's status (re-read at the provider while open); ``ticket_token`` once paid."""
    view = _workflow().payment(_visit(visit_id))
    if view.payment is None:
        raise ApiError("not_found")
    return jsonify({**_payment_json(view.payment), "ticket_token": view.ticket_token})


@bp.get("/visits/<visit_id>/ticket")
def visit_ticket(visit_id: str) -> ResponseReturnValue:
    """The visit's ticket: number, people ahead, estimated wait, status token."""
    visit = _visit(visit_id)
    if visit.ticket_token is None:
        raise ApiError("not_found")
    return jsonify({**_ticket_json(visit.ticket_token), "token": visit.ticket_token})


@bp.get("/visits/<visit_id>/receipt")
def visit_receipt(visit_id: str) -> ResponseReturnValue:
    """The receipt of the visit's payment, in the visit's language (``?lang=`` overrides);
    404 ``no_receipt`` when nothing was paid (a fee-free case, or not paid yet)."""
    visit = _visit(visit_id)
    asked = normalise_locale(request.args.get("lang"))
    language = domain_language(asked or normalise_locale(visit.language) or "ja")
    public_id = _workflow().receipt_payment(visit)
    if public_id is None:
        return error_response(
            "no_receipt", 404, _("There is no receipt: nothing was paid for this visit.")
        )
    return jsonify(receipt_for_payment(public_id, language).to_json())


# --- staff ------------------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt="kiosk.staff-api")


def _password_stamp(staff: Any) -> str:
    # Changes with the password (a reset revokes old tokens) and reveals nothing of the hash.
    return hashlib.sha256(staff.password_hash.encode()).hexdigest()[:16]


def staff_required(role: StaffRole = StaffRole.STAFF) -> Callable[..., Any]:
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            header = request.headers.get("Authorization", "")
            if not header.startswith("Bearer "):
                raise ApiError("unauthorized")
            try:
                data = _serializer().loads(header[7:].strip(), max_age=TOKEN_MAX_AGE_S)
                staff_id = int(data["sid"])
                with _sessions()() as s:
                    staff = get_staff(s, staff_id)
            except (BadSignature, SignatureExpired, KeyError, TypeError, ValueError, NotFound):
                raise ApiError("unauthorized") from None
            if not staff.active or data.get("pw") != _password_stamp(staff):
                raise ApiError("unauthorized")
            require_role(staff, role)
            g.staff = staff
            return view(*args, **kwargs)

        return wrapped

    return decorate


@bp.post("/staff/login")
def staff_login() -> ResponseReturnValue:
    """Exchange user name and password for a bearer token (lock-out as in the console)."""
    body = _body()
    username = _str(body, "username", max_len=64)
    password = _str(body, "password", max_len=1024)
    with transaction(_sessions()) as s:
        result = authenticate(s, username, password)
    if result.staff is None:
        raise ApiError("account_locked" if result.locked_until else "login_failed")
    staff = result.staff
    token = _serializer().dumps({"sid": staff.id, "pw": _password_stamp(staff)})
    return jsonify(
        token=token, token_type="Bearer", expires_in=TOKEN_MAX_AGE_S, role=staff.role.value
    )


@bp.get("/staff/me")
@staff_required()
def staff_me() -> ResponseReturnValue:
    """Who the token belongs to."""
    return jsonify(username=g.staff.username, role=g.staff.role.value)


@bp.get("/staff/queues")
@staff_required()
def staff_queues() -> ResponseReturnValue:
    """Per queue: waiting, held, called, serving, no-show, done; the open tickets."""
    day = business_day()
    with _sessions()() as s:
        counts = queue_counts(s, day)
        tickets = open_tickets(s, day)
    return jsonify(
        queues=[
            {
                "queue": c.code,
                "prefix": c.prefix,
                "waiting": c.waiting,
                "held": c.held,
                "called": c.called,
                "serving": c.serving,
                "no_show": c.no_show,
                "done": c.done,
            }
            for c in counts
        ],
        tickets=[_ticket_row(t) for t in tickets],
    )


def _ticket_row(t: Any) -> dict[str, Any]:
    return {
        "id": t.id,
        "number": t.number,
        "status": t.status,
        "queue": t.queue,
        "counter": t.counter,
        "case_id": t.case_id,
    }


def _ticket_out(ticket: TicketOutcome) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "number": ticket.number,
        "status": ticket.status,
        "case_id": ticket.case_id,
        "counter_id": ticket.counter_id,
    }


@bp.post("/staff/counters/<code>/open")
@staff_required()
def staff_counter_open(code: str) -> ResponseReturnValue:
    """Open (``{"open": true}``) or close a counter."""
    value = _body().get("open")
    if not isinstance(value, bool):
        raise ApiError("invalid_field", field="open")
    with transaction(_sessions()) as s:
        counter = set_counter_open(s, get_counter(s, code[:64]), value, actor=actor_of(g.staff))
        result = {"counter": counter.code, "open": counter.is_open}
    return jsonify(result)


@bp.post("/staff/counters/<code>/call-next")
@staff_required()
def staff_call_next(code: str) -> ResponseReturnValue:
    """Call the next ticket to counter ``code``; ``{"ticket": null}`` when nobody waits."""
    ticket = call_next_ticket(_sessions(), code[:64], actor=actor_of(g.staff))
    return jsonify(ticket=_ticket_out(ticket) if ticket else None)


@bp.post("/staff/tickets/<int:ticket_id>/<operation>")
@staff_required()
def staff_ticket_operation(ticket_id: int, operation: str) -> ResponseReturnValue:
    """call (``{"counter"}``) / recall / serve / complete / no-show / return / hold / resume /
    transfer (``{"queue"}`` and/or ``{"counter"}``)."""
    try:
        op = TicketOperation(operation)
    except ValueError:
        raise ApiError("not_found") from None
    body = _body()
    ticket = run_ticket_operation(
        _sessions(),
        op,
        _id(ticket_id),
        actor=actor_of(g.staff),
        counter_code=_str(body, "counter", max_len=64, required=False) or None,
        queue_code=_str(body, "queue", max_len=64, required=False) or None,
    )
    return jsonify(ticket=_ticket_out(ticket))


@bp.get("/staff/cases/<int:case_id>")
@staff_required()
def staff_case(case_id: int) -> ResponseReturnValue:
    """The case in clear (audited: one ``case.viewed`` row per call) with its payments."""
    with transaction(_sessions()) as s:
        d = view_case(s, _id(case_id), actor=actor_of(g.staff), catalog=_catalog())
        payments = [_payment_json(p) for p in payments_of_case(s, case_id)]
    return jsonify(
        id=d.id,
        status=d.status,
        language=d.language,
        name=d.name,
        address=d.address,
        birth_date=d.birth_date.isoformat() if d.birth_date else None,
        birth_date_japanese=d.birth_date_japanese,
        sex=d.sex,
        individual_number=d.individual_number,
        fee_yen=d.fee_yen,
        ticket=d.ticket,
        procedures=[
            {
                "code": line.code,
                "names": dict(line.names),
                "units": line.units,
                "fee_yen": line.fee_yen,
                "fields": dict(line.fields),
            }
            for line in d.procedures
        ],
        payments=payments,
    )


@bp.get("/staff/payments/<public_id>/receipt")
@staff_required()
def staff_receipt(public_id: str) -> ResponseReturnValue:
    """The receipt as JSON."""
    return jsonify(receipt_for_payment(public_id[:64], domain_language()).to_json())


@bp.post("/staff/payments/<public_id>/refund")
@staff_required(StaffRole.SUPERVISOR)
def staff_refund(public_id: str) -> ResponseReturnValue:
    """Refund (``{"reason", "amount_yen"?}``): supervisors and admins only."""
    from payments.refunds import refund_payment

    body = _body()
    reason = _str(body, "reason", max_len=200)
    if not reason.strip():
        raise ApiError("invalid_field", field="reason")
    amount = _int(body, "amount_yen", low=1, high=10_000_000)
    with transaction(_sessions()) as s:
        refund = refund_payment(
            s,
            current_services().payments,
            public_id[:64],
            actor=actor_of(g.staff),
            reason=reason,
            amount_yen=amount,
        )
        payment = _payment_json(get_payment(s, public_id[:64]))
        result = {"refund_id": refund.id, "amount_yen": refund.amount_yen, "payment": payment}
    return jsonify(result)


@bp.get("/staff/stats")
@staff_required(StaffRole.SUPERVISOR)
def staff_stats() -> ResponseReturnValue:
    """Tickets per hour and per-queue waits of ``?day=YYYY-MM-DD`` (default today)."""
    text = request.args.get("day", "")
    try:
        day = date.fromisoformat(text[:10]) if text else business_day()
    except ValueError:
        raise ApiError("invalid_field", field="day") from None
    with _sessions()() as s:
        data = day_statistics(s, day)
    return jsonify(
        day=data.day.isoformat(),
        per_hour=list(data.per_hour),
        queues=[asdict(q) for q in data.queues],  # type: ignore[call-overload]
    )


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """This API's OpenAPI 3.1 document."""
    from ui.openapi import document

    return jsonify(document())
