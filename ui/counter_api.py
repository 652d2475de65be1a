"""The counter desk in the JSON API (``/api/staff/...``): money at the counter, amendments,
refunds of a difference and the day's takings, for another front end at a counter (a tablet
app). Routes on the API blueprint (``ui.api.bp``: its bearer-token auth, error format and
handlers), thin over ``application.counter_desk``; described in ``ui.openapi``.

``POST /api/staff/cases/{case_id}/payments`` takes what the case owes at the counter:
``{"method": "cash", "amount_yen": N, "tendered_yen": M}`` answers 201
``{"payment": {...}, "change_yen": M - N}``; ``{"method": "terminal"}`` or ``"qr"`` starts it on
the counter's terminal or as a QR code on its customer display. Too little tendered, a wrong
amount or nothing due is a 422 with its own code and message. An ``Idempotency-Key`` header
(up to 128 characters) is stored with the payment: a retry answers the first result (200)
and records nothing twice; the key with another request is a 422. ``counter`` (optional)
names the counter whose drawer or device is used; by default the counter serving the case.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import g, jsonify, request
from flask.typing import ResponseReturnValue

from application.counter_desk import CounterDeskWorkflow
from kiosk.amendments import PERSON_FIELDS, Amendment
from kiosk.cases import get_case
from kiosk.counter_cases import PersonInvalid
from kiosk.models import Counter, StaffRole
from kiosk.staff import actor_of
from payments.ledger import CountInvalid
from payments.states import get_payment
from ui.api import (
    ApiError,
    _body,
    _id,
    _int,
    _payment_json,
    _str,
    bp,
    error_response,
    staff_required,
)
from ui.errors import describe
from ui.services import current_services

MAX_YEN = 10_000_000
KEY_MAX = 128


@bp.errorhandler(CountInvalid)
def _count_invalid(e: CountInvalid) -> ResponseReturnValue:
    code, status, message = describe(e)
    return error_response(code, status, message, drawers=e.errors)


@bp.errorhandler(PersonInvalid)
def _person_invalid(e: PersonInvalid) -> ResponseReturnValue:
    code, status, message = describe(e)
    return error_response(code, status, message, fields=e.errors)


def _desks() -> CounterDeskWorkflow:
    desks = current_services().counter_desk
    assert desks is not None
    return desks


def _request_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > KEY_MAX or not key.isprintable():
        raise ApiError("invalid_field", field="Idempotency-Key")
    return key


def _counter_of(body: dict[str, Any], case_id: int) -> str:
    """The counter named in the body, else the one serving the case's ticket."""
    given = _str(body, "counter", max_len=64, required=False)
    desks = _desks()
    if given:
        if given not in desks.desks:
            raise ApiError("invalid_field", field="counter")
        return given
    with current_services().sessions() as s:
        case = get_case(s, case_id)
        ticket = case.ticket
        counter = s.get(Counter, ticket.counter_id) if ticket and ticket.counter_id else None
    if counter is None:
        raise ApiError("invalid_field", field="counter")
    return counter.code


def _counter_payment_json(payment: Any) -> dict[str, Any]:
    return {
        **_payment_json(payment),
        "method": payment.method,
        "provider": payment.provider,
        "sequence": payment.sequence,
        "counter": payment.counter_code,
    }


@bp.post("/staff/cases/<int:case_id>/payments")
@staff_required()
def staff_case_payment(case_id: int) -> ResponseReturnValue:
    """Take what the case owes at the counter: cash (amount, tendered: the change is
    returned), or on the counter's terminal / as a QR code on its display."""
    case_id = _id(case_id)
    body = _body()
    method = _str(body, "method", max_len=16)
    key = _request_key()
    counter = _counter_of(body, case_id)
    if method == "cash":
        amount = _int(body, "amount_yen", low=0, high=MAX_YEN)
        tendered = _int(body, "tendered_yen", low=0, high=MAX_YEN)
        if amount is None:
            raise ApiError("invalid_field", field="amount_yen")
        if tendered is None:
            raise ApiError("invalid_field", field="tendered_yen")
        taken = _desks().pay_cash(
            counter,
            case_id,
            amount_yen=amount,
            tendered_yen=tendered,
            actor=actor_of(g.staff),
            request_key=key,
        )
        with current_services().sessions() as s:
            payment = get_payment(s, taken.payment.public_id)
            out = {"payment": _counter_payment_json(payment), "change_yen": taken.change_yen}
        return jsonify(out), 200 if taken.replayed else 201
    if method not in ("terminal", "qr"):
        raise ApiError("invalid_field", field="method")
    payment = _desks().start_device_payment(
        counter, case_id, device=method, actor=actor_of(g.staff), request_key=key
    )
    return jsonify(payment=_counter_payment_json(payment)), 201


def _procedure_fields(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    value = body.get("fields", {})
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, dict) for k, v in value.items()
    ):
        raise ApiError("invalid_field", field="fields")
    return value


def _codes(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(c, str) and len(c) <= 64 for c in value):
        raise ApiError("invalid_field", field=key)
    return value


@bp.post("/staff/cases/<int:case_id>/amendments")
@staff_required()
def staff_case_amend(case_id: int) -> ResponseReturnValue:
    """Amend the case: ``person`` (corrected basic four), ``add`` / ``remove`` (procedure
    codes), ``fields`` per procedure; the new fee and what is due at the counter."""
    case_id = _id(case_id)
    body = _body()
    person = body.get("person", {})
    if not isinstance(person, dict) or any(
        k not in PERSON_FIELDS or not isinstance(v, str) for k, v in person.items()
    ):
        raise ApiError("invalid_field", field="person")
    record = _desks().amend(
        None,
        case_id,
        Amendment(
            person=person,
            add=_codes(body, "add"),
            remove=_codes(body, "remove"),
            fields=_procedure_fields(body),
        ),
        actor=actor_of(g.staff),
    )
    with current_services().sessions() as s:
        case = get_case(s, case_id)
        out = {
            "amendment": {
                "id": record.id,
                "fee_before_yen": record.fee_before_yen,
                "fee_after_yen": record.fee_after_yen,
                "fields": record.summary.get("fields", []),
                "added": record.summary.get("added", []),
                "removed": record.summary.get("removed", []),
            },
            "fee_yen": case.fee_yen,
            "due_yen": case.due_yen,
        }
    return jsonify(out), 201


@bp.post("/staff/cases/<int:case_id>/refund-difference")
@staff_required(StaffRole.SUPERVISOR)
def staff_case_refund_difference(case_id: int) -> ResponseReturnValue:
    """Give back what the case owes the resident (``{"method": "cash" | "provider",
    "reason"}``): supervisors."""
    case_id = _id(case_id)
    body = _body()
    method = _str(body, "method", max_len=16)
    if method not in ("cash", "provider"):
        raise ApiError("invalid_field", field="method")
    reason = _str(body, "reason", max_len=200)
    if not reason.strip():
        raise ApiError("invalid_field", field="reason")
    counter = _counter_of(body, case_id)
    refunds = _desks().refund_difference(
        counter, case_id, staff=g.staff, cash=method == "cash", reason=reason
    )
    return jsonify(
        refunds=[
            {"refund_id": r.id, "amount_yen": r.amount_yen, "method": r.method} for r in refunds
        ]
    )


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise ApiError("invalid_field", field="day") from None


def _ledger_json(ledger: Any) -> dict[str, Any]:
    def line(x: Any) -> dict[str, Any]:
        return {
            "procedure_code": x.procedure_code,
            "method": x.method,
            "count": x.count,
            "gross_yen": x.gross_yen,
            "refunds_yen": x.refunds_yen,
            "net_yen": x.net_yen,
        }

    return {
        "day": ledger.day.isoformat(),
        "closed": ledger.closed,
        "closed_by": ledger.closed_by,
        "lines": [line(x) for x in ledger.lines],
        "total": line(ledger.total),
        "drawers": [
            {
                "drawer": d.drawer,
                "float_yen": d.float_yen,
                "cash_in_yen": d.cash_in_yen,
                "cash_out_yen": d.cash_out_yen,
                "expected_yen": d.expected_yen,
                "counted_yen": d.counted_yen,
                "difference_yen": d.difference_yen,
                "reason": d.reason,
            }
            for d in ledger.drawers
        ],
    }


@bp.get("/staff/ledger/<day_text>")
@staff_required(StaffRole.SUPERVISOR)
def staff_ledger(day_text: str) -> ResponseReturnValue:
    """The day's takings: lines per procedure and method, the total, the drawers."""
    return jsonify(_ledger_json(_desks().day_ledger(_day(day_text))))


@bp.post("/staff/ledger/<day_text>/close")
@staff_required(StaffRole.SUPERVISOR)
def staff_ledger_close(day_text: str) -> ResponseReturnValue:
    """Close the day: ``{"counted": {drawer: yen}, "reasons": {drawer: text}}``."""
    day = _day(day_text)
    body = _body()
    counted = body.get("counted")
    reasons = body.get("reasons", {})
    if not isinstance(counted, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and abs(v) <= MAX_YEN
        for v in counted.values()
    ):
        raise ApiError("invalid_field", field="counted")
    if not isinstance(reasons, dict) or not all(
        isinstance(v, str) and len(v) <= 200 for v in reasons.values()
    ):
        raise ApiError("invalid_field", field="reasons")
    ledger = _desks().close_day(day, counted, staff=g.staff, reasons=reasons)
    return jsonify(_ledger_json(ledger))
