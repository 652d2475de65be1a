"""The resident's visit through the JSON API: an adapter over the same workflow as the
kiosk screens (``application.visits``). The visit id is the bearer of the visit, like the
kiosk's cookie; the PIN exists only in the request that reads the card.

Every operation here answers only to the kiosk's own screen (``kiosk_device=True``: the
``X-Kiosk-Device`` key, checked by ``ui.device`` before any view; issue 10: from another PC
on the LAN nobody can open a visit, see a card's tries or send a PIN). The card's view and
read also spend the client address's card budget (``ui.rate_limits``: 429)."""

from __future__ import annotations

from flask import request

from application.visits import Visit, VisitWorkflow
from kiosk.errors import UnknownProcedure
from ui.api import bp
from ui.api.protocol import ApiError, operation
from ui.api.request_models import FieldsUpdate, PinEntry, VisitStart
from ui.api.response_models import (
    PaymentProgress,
    PaymentView,
    Prefilled,
    PrefilledLine,
    ReaderState,
    ReceiptView,
    VisitTicket,
    VisitView,
)
from ui.i18n import domain_language, normalise_locale
from ui.receipts import document, receipt_for_payment
from ui.services import current_services

VISIT_ERRORS = ("visit_not_found",)
CARD_BUDGET = ("too_many_requests",)
PAYMENT_ERRORS = ("payment_unavailable", "payment_error")


def _workflow() -> VisitWorkflow:
    return current_services().visits


def _visit(visit_id: str) -> Visit:
    return _workflow().get(visit_id)


def _visit_view(visit: Visit, fee_yen: int | None = None) -> VisitView:
    return VisitView(
        visit_id=visit.id,
        language=visit.language,
        procedures=list(visit.procedures),
        fields=visit.fields,
        case_id=visit.case_id,
        payment_id=visit.payment_id,
        ticket_token=visit.ticket_token,
        fee_yen=fee_yen,
    )


@bp.post("/visits")
@operation(
    "Start a visit with the chosen procedures",
    tag="kiosk",
    kiosk_device=True,
    response=VisitView,
    success=201,
    body=VisitStart,
    errors=("unknown_procedure", "validation_failed"),
)
def visit_open(body: VisitStart) -> VisitView:
    """Start a visit with the chosen procedures (and optionally their fields): all or
    nothing, a refused field ends the visit again."""
    return _visit_view(_workflow().open(domain_language(), body.procedures, body.fields))


@bp.get("/visits/<visit_id>")
@operation(
    "The visit's progress", tag="kiosk", kiosk_device=True, response=VisitView, errors=VISIT_ERRORS
)
def visit_get(visit_id: str) -> VisitView:
    """The visit's progress."""
    return _visit_view(_visit(visit_id))


@bp.delete("/visits/<visit_id>")
@operation(
    "End the visit (cancel an unpaid case and a pending payment)",
    tag="kiosk",
    kiosk_device=True,
    response=None,
    success=204,
    errors=VISIT_ERRORS,
)
def visit_end(visit_id: str) -> None:
    """End the visit: a pending payment is cancelled and an unpaid case cancelled."""
    _workflow().wipe(_visit(visit_id), reason="resident")


@bp.post("/visits/<visit_id>/fields")
@operation(
    "Set procedure fields (validated; fee recomputed once the case exists)",
    tag="kiosk",
    kiosk_device=True,
    response=VisitView,
    body=FieldsUpdate,
    errors=(*VISIT_ERRORS, "validation_failed", "case_not_editable", "invalid_transition"),
)
def visit_fields(visit_id: str, body: FieldsUpdate) -> VisitView:
    """Set the fields of the chosen procedures (before the card read: kept with the visit;
    after: stored in the draft case and the fee recomputed, ``fee_yen``)."""
    visit = _visit(visit_id)
    try:
        fee = _workflow().set_fields(visit, body.fields, visit.language)
    except UnknownProcedure:
        raise ApiError("invalid_field", field="fields") from None  # a procedure not chosen
    return _visit_view(visit, fee)


@bp.get("/visits/<visit_id>/card")
@operation(
    "Reader and card state, PIN tries left",
    tag="kiosk",
    kiosk_device=True,
    response=ReaderState,
    errors=(*VISIT_ERRORS, *CARD_BUDGET),
)
def visit_card(visit_id: str) -> ReaderState:
    """The reader: present, a card on it, PIN tries left (``null`` without a card); whether
    the card was there before the visit began; whether the chosen procedures want the JPKI
    check (then the read needs ``jpki_pin``) and that PIN's tries."""
    view = _workflow().reader_view(_visit(visit_id))
    return ReaderState(
        reader_present=view.reader_present,
        card_present=view.card_present,
        pin_tries_left=view.pin_tries_left,
        card_from_earlier=view.card_from_earlier,
        jpki_pin_wanted=view.jpki_pin_wanted,
        jpki_pin_tries_left=view.jpki_pin_tries_left,
    )


CARD_READ_ERRORS = (
    "card_error",
    "reader_busy",
    "no_reader",
    "no_card",
    "card_removed",
    "card_from_earlier",
    "not_my_number_card",
    "wrong_pin",
    "pin_locked",
    "pin_would_lock",
    "bad_pin_format",
    "jpki_wrong_pin",
    "jpki_pin_locked",
    "jpki_pin_would_lock",
    "jpki_bad_pin_format",
    "jpki_pin_required",
    "jpki_pin_not_wanted",
    "malformed_card",
    "card_not_genuine",
    "card_not_usable",
    "missing_individual_number",
    "case_not_editable",
    "invalid_transition",
    "validation_failed",
)


@bp.post("/visits/<visit_id>/card/read")
@operation(
    "Read the card with the PIN and open the prefilled case",
    tag="kiosk",
    kiosk_device=True,
    response=Prefilled,
    success=201,
    body=PinEntry,
    errors=(*VISIT_ERRORS, *CARD_READ_ERRORS, *CARD_BUDGET),
)
def visit_card_read(visit_id: str, body: PinEntry) -> Prefilled:
    """Read the card with the PIN (used in this request only) and open the case prefilled
    from it. With one try left no PIN is sent (409 pin_would_lock): the kiosk is never what
    locks a card. 422 bad_pin_format (not 4 digits: the card is not asked) or wrong_pin
    (with tries_left); 409 for the card's state (pin_locked, no_card, ...).

    ``jpki_pin``: the PIN of the user authentication certificate, given exactly when the
    reader state says ``jpki_pin_wanted`` (else 422 jpki_pin_required / jpki_pin_not_wanted,
    and nothing is sent to the card); only ever sent to the JPKI application, under the same
    rule: jpki_bad_pin_format, jpki_wrong_pin (422), jpki_pin_would_lock, jpki_pin_locked
    (409). A card failing a genuine-card check the ward requires: 409 card_not_genuine with
    ``check`` and ``result``; no case is opened."""
    case = _workflow().read_card(_visit(visit_id), body.pin, jpki_pin=body.jpki_pin)
    # The resident's own data back to the kiosk they stand at, to check (as the check screen).
    return Prefilled(
        case_id=case.id,
        status=case.status,
        name=case.name,
        address=case.address,
        birth_date=case.birth_date,
        sex=case.sex,
        fee_yen=case.fee_yen,
        procedures=[
            PrefilledLine(
                code=line.procedure_code,
                units=line.units,
                fee_yen=line.fee_yen,
                fields=dict(line.resident_fields or {}),
            )
            for line in case.procedures
        ],
    )


@bp.post("/visits/<visit_id>/confirm")
@operation(
    "Confirm the checked form (fee-free: ticket issued)",
    tag="kiosk",
    kiosk_device=True,
    response=VisitView,
    errors=(*VISIT_ERRORS, "invalid_transition", "conflict"),
)
def visit_confirm(visit_id: str) -> VisitView:
    """The resident checked the prefilled form: confirm (a fee-free case gets its ticket at
    once, ``ticket_token``); ``fee_yen`` is what is to be paid."""
    visit = _visit(visit_id)
    confirmation = _workflow().confirm(visit)
    return _visit_view(visit, confirmation.fee_yen)


@bp.post("/visits/<visit_id>/payment")
@operation(
    "Start the payment on the terminal / QR checkout",
    tag="kiosk",
    kiosk_device=True,
    response=PaymentView,
    success=201,
    errors=(*VISIT_ERRORS, *PAYMENT_ERRORS, "invalid_transition", "conflict"),
)
def visit_pay(visit_id: str) -> PaymentView:
    """Put the fee on the terminal (or open the QR checkout: ``display_url``)."""
    return PaymentView.of(_workflow().start_payment(_visit(visit_id)))


@bp.post("/visits/<visit_id>/pay-at-counter")
@operation(
    "Pay in cash at the counter: the ticket now, the fee due there",
    tag="kiosk",
    kiosk_device=True,
    response=VisitView,
    errors=(*VISIT_ERRORS, *PAYMENT_ERRORS, "invalid_transition", "conflict"),
)
def visit_pay_at_counter(visit_id: str) -> VisitView:
    """The ticket is issued at once (``ticket_token``) with the fee due at the counter
    (``due_yen``); a payment open on the terminal is cancelled first."""
    visit = _visit(visit_id)
    confirmation = _workflow().pay_at_counter(visit)
    return VisitView(**_visit_view(visit).model_dump(), due_yen=confirmation.fee_yen)


@bp.get("/visits/<visit_id>/payment")
@operation(
    "Payment status (ticket_token once paid)",
    tag="kiosk",
    kiosk_device=True,
    response=PaymentProgress,
    errors=(*VISIT_ERRORS, *PAYMENT_ERRORS, "not_found"),
)
def visit_payment(visit_id: str) -> PaymentProgress:
    """The payment's status (re-read at the provider while open); ``ticket_token`` once
    paid. 404 not_found before a payment was started."""
    view = _workflow().payment(_visit(visit_id))
    if view.payment is None:
        raise ApiError("not_found")
    return PaymentProgress(**PaymentView.fields_of(view.payment), ticket_token=view.ticket_token)


@bp.get("/visits/<visit_id>/ticket")
@operation(
    "The visit's ticket",
    tag="kiosk",
    kiosk_device=True,
    response=VisitTicket,
    errors=(*VISIT_ERRORS, "not_found"),
)
def visit_ticket(visit_id: str) -> VisitTicket:
    """The visit's ticket: number, people ahead, estimated wait, status-page token (404
    not_found before it is issued)."""
    ticket = _workflow().ticket(_visit(visit_id))
    return VisitTicket(**VisitTicket.fields_of(ticket.status), token=ticket.token)


@bp.get("/visits/<visit_id>/receipt")
@operation(
    "Receipt of the visit's payment",
    tag="kiosk",
    kiosk_device=True,
    response=ReceiptView,
    errors=(*VISIT_ERRORS, "no_receipt"),
)
def visit_receipt(visit_id: str) -> ReceiptView:
    """The receipt of the visit's payment in the visit's language (``?lang=`` overrides);
    404 no_receipt when nothing was paid (a fee-free case, or not paid yet)."""
    visit = _visit(visit_id)
    asked = normalise_locale(request.args.get("lang"))
    language = domain_language(asked or normalise_locale(visit.language) or "ja")
    public_id = _workflow().receipt_payment(visit)
    if public_id is None:
        raise ApiError("no_receipt")
    return ReceiptView.model_validate(document(receipt_for_payment(public_id, language)).to_json())
