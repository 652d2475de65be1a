"""The counter desk through the JSON API (``/api/staff/...``), by staff bearer token: money
at the counter, amendments, refunds of a difference and the day's takings, for another
front end at a counter (a tablet app). Thin over ``application.counter_desk``, the same
workflow as the console's desk.

``POST /api/staff/cases/{case_id}/payments`` takes what the case owes at the counter:
``{"method": "cash", "amount_yen": N, "tendered_yen": M}`` answers 201
``{"payment": {...}, "change_yen": M - N}``; ``{"method": "terminal"}`` or ``"qr"`` starts it
on the counter's terminal or as a QR code on its customer display. Too little tendered, a
wrong amount or nothing due is a 422 with its own code. An ``Idempotency-Key`` header is
stored with the payment (unique): a retry with the same key answers the first result again
(201, header ``Idempotent-Replayed: true``) and records nothing twice; the key with another
request is 422 ``idempotency_key_reused``.
"""

from __future__ import annotations

from datetime import date

from flask import Response, after_this_request, g

from application.counter_desk import CounterDeskWorkflow
from kiosk.amendments import Amendment
from kiosk.cases import get_case
from kiosk.counter_cases import PersonInvalid
from kiosk.models import Counter, StaffRole
from kiosk.staff import actor_of
from payments.ledger import CountInvalid
from payments.states import get_payment
from ui.api import bp
from ui.api.protocol import ApiError, error_response, operation
from ui.api.request_models import CaseAmendmentRequest, CounterPayment, DayClosing, DifferenceRefund
from ui.api.response_models import (
    AmendmentDone,
    AmendmentSummary,
    CounterPaymentDone,
    CounterPaymentView,
    CounterRefund,
    DifferenceRefunded,
    LedgerView,
)
from ui.api.visits import PAYMENT_ERRORS
from ui.errors import describe
from ui.services import current_services

MONEY_ERRORS = ("nothing_due", "payment_in_progress", "day_closed", "conflict")


@bp.errorhandler(CountInvalid)
def _count_invalid(e: CountInvalid) -> Response:
    code, status, message = describe(e)
    return error_response(code, status, message, drawers=e.errors)


@bp.errorhandler(PersonInvalid)
def _person_invalid(e: PersonInvalid) -> Response:
    code, status, message = describe(e)
    return error_response(code, status, message, fields=e.errors)


def _desks() -> CounterDeskWorkflow:
    desks = current_services().counter_desk
    assert desks is not None
    return desks


def _counter_of(given: str | None, case_id: int) -> str:
    """The counter named in the request, else the one serving the case's ticket."""
    if given:
        if given not in _desks().desks:
            raise ApiError("invalid_field", field="counter")
        return given
    with current_services().sessions() as s:
        ticket = get_case(s, case_id).ticket
        counter = s.get(Counter, ticket.counter_id) if ticket and ticket.counter_id else None
    if counter is None:
        raise ApiError("invalid_field", field="counter")
    return counter.code


def _replayed(response: Response) -> Response:
    response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.post("/staff/cases/<int:case_id>/payments")
@operation(
    "Take what the case owes at the counter: cash (with change), terminal or QR",
    tag="counter",
    response=CounterPaymentDone,
    success=201,
    body=CounterPayment,
    headers=("Idempotency-Key",),
    errors=(
        "not_found",
        "wrong_amount",
        "too_little_tendered",
        "idempotency_key_reused",
        "no_device",
        *MONEY_ERRORS,
        *PAYMENT_ERRORS,
    ),
    staff=StaffRole.STAFF,
)
def staff_case_payment(
    case_id: int, body: CounterPayment, idempotency_key: str | None
) -> CounterPaymentDone:
    """Cash (``amount_yen`` = what is due, ``tendered_yen``: the change is answered) into
    the counter's drawer, or started on its ``terminal`` / as a ``qr`` code on its
    customer display. ``counter`` defaults to the counter serving the case."""
    counter = _counter_of(body.counter, case_id)
    actor = actor_of(g.staff)
    if body.method != "cash":
        payment = _desks().start_device_payment(
            counter, case_id, device=body.method, actor=actor, request_key=idempotency_key
        )
        return CounterPaymentDone(payment=CounterPaymentView.of(payment))
    if body.amount_yen is None:
        raise ApiError("invalid_field", field="amount_yen")
    if body.tendered_yen is None:
        raise ApiError("invalid_field", field="tendered_yen")
    taken = _desks().pay_cash(
        counter,
        case_id,
        amount_yen=body.amount_yen,
        tendered_yen=body.tendered_yen,
        actor=actor,
        request_key=idempotency_key,
    )
    if taken.replayed:
        after_this_request(_replayed)
    with current_services().sessions() as s:
        view = CounterPaymentView.of(get_payment(s, taken.payment.public_id))
    return CounterPaymentDone(payment=view, change_yen=taken.change_yen)


@bp.post("/staff/cases/<int:case_id>/amendments")
@operation(
    "Amend a case: basic four, procedures added or removed, fields; the fee recomputed",
    tag="counter",
    response=AmendmentDone,
    success=201,
    body=CaseAmendmentRequest,
    errors=(
        "not_found",
        "unknown_procedure",
        "validation_failed",
        "person_invalid",
        "nothing_changed",
        "case_not_editable",
        "payment_in_progress",
        "conflict",
    ),
    staff=StaffRole.STAFF,
)
def staff_case_amend(case_id: int, body: CaseAmendmentRequest) -> AmendmentDone:
    """Correct the case (before/after kept encrypted in its audit trail); ``due_yen`` > 0
    is then to collect at the counter, < 0 to give back."""
    record = _desks().amend(
        None,
        case_id,
        Amendment(
            person={str(name): value for name, value in body.person.items()},
            add=list(body.add),
            remove=list(body.remove),
            fields={code: dict(values) for code, values in body.fields.items()},
        ),
        actor=actor_of(g.staff),
    )
    with current_services().sessions() as s:
        case = get_case(s, case_id)
        return AmendmentDone(
            amendment=AmendmentSummary(
                id=record.id,
                fee_before_yen=record.fee_before_yen,
                fee_after_yen=record.fee_after_yen,
                fields=list(record.summary.get("fields", [])),
                added=list(record.summary.get("added", [])),
                removed=list(record.summary.get("removed", [])),
            ),
            fee_yen=case.fee_yen,
            due_yen=case.due_yen,
        )


@bp.post("/staff/cases/<int:case_id>/refund-difference")
@operation(
    "Give back what the case owes the resident (supervisor or admin)",
    tag="counter",
    response=DifferenceRefunded,
    body=DifferenceRefund,
    errors=("not_found", "refund_not_allowed", *MONEY_ERRORS, *PAYMENT_ERRORS),
    staff=StaffRole.SUPERVISOR,
)
def staff_case_refund_difference(case_id: int, body: DifferenceRefund) -> DifferenceRefunded:
    """In cash from the counter's drawer or through the providers that took it, with the
    reason: supervisors and admins only."""
    counter = _counter_of(body.counter, case_id)
    refunds = _desks().refund_difference(
        counter, case_id, staff=g.staff, cash=body.method == "cash", reason=body.reason
    )
    return DifferenceRefunded(
        refunds=[
            CounterRefund(refund_id=r.id, amount_yen=r.amount_yen, method=r.method) for r in refunds
        ]
    )


@bp.get("/staff/ledger/<day>")
@operation(
    "The day's takings: per procedure and method, the total, the drawers (supervisor)",
    tag="counter",
    response=LedgerView,
    staff=StaffRole.SUPERVISOR,
)
def staff_ledger(day: date) -> LedgerView:
    """The ledger of ``day`` (YYYY-MM-DD) with every counter's drawer."""
    return LedgerView.of(_desks().day_ledger(day))


@bp.post("/staff/ledger/<day>/close")
@operation(
    "Close the day with the cash counted per drawer (supervisor)",
    tag="counter",
    response=LedgerView,
    body=DayClosing,
    errors=("count_invalid", "day_already_closed", "day_not_over"),
    staff=StaffRole.SUPERVISOR,
)
def staff_ledger_close(day: date, body: DayClosing) -> LedgerView:
    """``{"counted": {drawer: yen}, "reasons": {drawer: text}}``: every drawer counted, a
    difference explained; the closed day is locked (later corrections go to a later day)."""
    ledger = _desks().close_day(day, dict(body.counted), staff=g.staff, reasons=dict(body.reasons))
    return LedgerView.of(ledger)
