"""Stable error codes and messages (in the request's language) for the staff console and
the JSON API. One table, so a tablet app and the console say the same thing."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from application.card_policy import (
    CardNotGenuine,
    JpkiNotAtCounter,
    JpkiPinNotWanted,
    JpkiPinRequired,
)
from application.counter_desk import DeskBusy, DisplayNotConnected, NoDevice
from application.visits import CardFromEarlier
from cardreader.errors import ERROR_CODES as CARD_ERROR_CODES
from cardreader.errors import (
    BadPinFormat,
    CardError,
    JpkiBadPinFormat,
    JpkiWrongPin,
    WrongPin,
)
from kiosk.amendments import NothingChanged
from kiosk.catalog import ValidationFailed
from kiosk.counter_cases import ExemptionInvalid, NothingDue, PersonInvalid
from kiosk.errors import (
    CardNotUsable,
    CaseNotEditable,
    CounterClosed,
    DomainError,
    FeeDue,
    InvalidTransition,
    MissingIndividualNumber,
    NotFound,
    UnknownProcedure,
)
from kiosk.staff import InvalidUsername, LastAdmin, PermissionDenied, StaffExists, WeakPassword
from payments.counter import KeyReused, PaymentInProgress, TooLittleTendered, WrongAmount
from payments.ledger import CountInvalid, DayAlreadyClosed, DayClosed, DayNotOver
from payments.provider import PaymentError, ProviderUnavailable, RefundNotAllowed
from ui.i18n import card_error_message, card_refusal_message
from ui.words import CARD_REFUSED

# code -> (HTTP status, message)
MESSAGES: dict[str, tuple[int, Any]] = {
    "bad_request": (400, _l("The request was not understood.")),
    "invalid_json": (400, _l("The request body must be a JSON object.")),
    "invalid_field": (422, _l("A field of the request is missing or has a wrong value.")),
    "csrf_failed": (400, _l("The form has expired. Please reload the page and try again.")),
    "unauthorized": (401, _l("Please log in.")),
    "forbidden": (403, _l("Your role does not allow this.")),
    "not_found": (404, _l("It was not found.")),
    "method_not_allowed": (405, _l("This method is not allowed here.")),
    "too_large": (413, _l("The request is too large.")),
    "invalid_transition": (409, _l("This cannot be done in the current state.")),
    "counter_closed": (409, _l("The counter is closed. Open it first.")),
    "no_counter": (409, _l("Choose your counter first.")),
    "unknown_procedure": (422, _l("Unknown procedure.")),
    "validation_failed": (422, _l("Some of the details are not valid.")),
    "case_not_editable": (409, _l("The application can no longer be changed.")),
    "card_not_usable": (409, _l("The card data could not be verified.")),
    # A card failing a check the ward requires (application.card_policy); the message
    # depends on the check (ui.i18n.card_refusal_message).
    "card_not_genuine": (409, _l(CARD_REFUSED)),
    "jpki_not_at_counter": (
        409,
        _l(
            "A chosen procedure needs the check of the user authentication certificate, which "
            "the counter cannot make. Send the resident to the kiosk for it, or go on without "
            "the card (identity document)."
        ),
    ),
    "jpki_pin_required": (
        422,
        _l("Please enter the PIN of the user authentication certificate."),
    ),
    "jpki_pin_not_wanted": (
        422,
        _l("No PIN of the user authentication certificate is asked for here."),
    ),
    "missing_individual_number": (409, _l("This procedure needs the individual number.")),
    "visit_not_found": (404, _l("The visit has ended or does not exist.")),
    "login_failed": (401, _l("The user name or the password is not correct.")),
    "account_locked": (423, _l("Too many failed log-ins. The account is locked for a while.")),
    "staff_exists": (409, _l("This user name is already taken.")),
    "weak_password": (422, _l("The password needs at least 10 characters.")),
    "invalid_username": (422, _l("User names use letters, digits and _ . @ - only.")),
    "last_admin": (409, _l("The last administrator cannot be removed.")),
    "refund_not_allowed": (409, _l("This payment cannot be refunded.")),
    "payment_unavailable": (503, _l("The payment service is not available.")),
    "payment_error": (502, _l("The payment could not be processed.")),
    "card_error": (409, _l("The card could not be read.")),
    "conflict": (409, _l("This cannot be done now.")),
    "no_receipt": (404, _l("There is no receipt: nothing was paid for this visit.")),
    "voice_unavailable": (503, _l("Voice guidance is not available right now.")),
    "internal": (500, _l("Something went wrong. Please try again.")),
    # issue 10: per-address rate limits and the kiosk's own screen
    "too_many_requests": (429, _l("Too many attempts. Please wait a moment and try again.")),
    "kiosk_device_required": (
        403,
        _l("This screen is not set up as this kiosk's screen. Please ask a member of staff."),
    ),
    # The counter desk (application.counter_desk) and the day's takings (payments.ledger).
    "fee_due": (
        409,
        _l("Money is still due for this case: take the payment (or give back what is due) first."),
    ),
    "nothing_due": (422, _l("Nothing is due for this case.")),
    "wrong_amount": (422, _l("The amount is not what is due for this case.")),
    "too_little_tendered": (422, _l("Less cash was handed over than the amount due.")),
    "payment_in_progress": (
        409,
        _l("A payment is in progress for this case. Wait for it or cancel it first."),
    ),
    "idempotency_key_reused": (
        422,
        _l("This Idempotency-Key was already used for another request."),
    ),
    "day_closed": (
        409,
        _l("The day's ledger is closed: no cash can be taken or given back on it any more."),
    ),
    "day_already_closed": (409, _l("This day was closed already.")),
    "day_not_over": (409, _l("This day has not begun; it cannot be closed.")),
    "count_invalid": (
        422,
        _l("Counted cash is missing or wrong. Count every drawer and explain any difference."),
    ),
    "no_device": (409, _l("This counter has no such device.")),
    "display_not_connected": (
        409,
        _l("The customer display is not open. Open it at this counter first."),
    ),
    "desk_busy": (409, _l("The card is being read. Please wait.")),
    "person_invalid": (422, _l("Some of the typed details are missing or not valid.")),
    "exemption_invalid": (
        422,
        _l("An exemption needs its kind and its legal basis or requesting body."),
    ),
    "nothing_changed": (422, _l("Nothing was changed.")),
}

# Card errors (``cardreader.errors`` codes; messages in ``ui.i18n``): the PIN typed
# (malformed or wrong; either PIN) is input to correct, 422; the card's state is a
# conflict, 409 (also a card placed before the visit began: application.visits).
TYPED_PIN_ERRORS = (WrongPin.code, BadPinFormat.code, JpkiWrongPin.code, JpkiBadPinFormat.code)
CARD_STATUSES: dict[str, int] = {
    code: 422 if code in TYPED_PIN_ERRORS else 409
    for code in (CardError.code, *CARD_ERROR_CODES, CardFromEarlier.code)
}

_BY_TYPE: tuple[tuple[type[BaseException], str], ...] = (
    (FeeDue, "fee_due"),
    (NothingDue, "nothing_due"),
    (WrongAmount, "wrong_amount"),
    (TooLittleTendered, "too_little_tendered"),
    (PaymentInProgress, "payment_in_progress"),
    (KeyReused, "idempotency_key_reused"),
    (DayClosed, "day_closed"),
    (DayAlreadyClosed, "day_already_closed"),
    (DayNotOver, "day_not_over"),
    (CountInvalid, "count_invalid"),
    (NoDevice, "no_device"),
    (DisplayNotConnected, "display_not_connected"),
    (DeskBusy, "desk_busy"),
    (PersonInvalid, "person_invalid"),
    (ExemptionInvalid, "exemption_invalid"),
    (NothingChanged, "nothing_changed"),
    (CounterClosed, "counter_closed"),
    (InvalidTransition, "invalid_transition"),
    (NotFound, "not_found"),
    (UnknownProcedure, "unknown_procedure"),
    (CaseNotEditable, "case_not_editable"),
    (CardNotGenuine, "card_not_genuine"),
    (CardNotUsable, "card_not_usable"),
    (JpkiNotAtCounter, "jpki_not_at_counter"),
    (JpkiPinRequired, "jpki_pin_required"),
    (JpkiPinNotWanted, "jpki_pin_not_wanted"),
    (MissingIndividualNumber, "missing_individual_number"),
    (PermissionDenied, "forbidden"),
    (StaffExists, "staff_exists"),
    (WeakPassword, "weak_password"),
    (InvalidUsername, "invalid_username"),
    (LastAdmin, "last_admin"),
    (ValidationFailed, "validation_failed"),
    (RefundNotAllowed, "refund_not_allowed"),
    (ProviderUnavailable, "payment_unavailable"),
    (PaymentError, "payment_error"),
    (DomainError, "conflict"),
)


def code_for(error: BaseException) -> str:
    """The stable code of a domain, payment or card error."""
    if isinstance(error, CardError):
        return error.code
    for kind, code in _BY_TYPE:
        if isinstance(error, kind):
            return code
    return "internal"


def status_of(code: str) -> int:
    """The HTTP status of an error code (card codes included); 500 for an unknown code."""
    if code in CARD_STATUSES:
        return CARD_STATUSES[code]
    return MESSAGES.get(code, MESSAGES["internal"])[0]


def describe(error: BaseException | str) -> tuple[str, int, str]:
    """(code, HTTP status, message in the current language) for an error or a code."""
    code = error if isinstance(error, str) else code_for(error)
    if isinstance(error, CardError):
        return code, status_of(code), card_error_message(error.code, error.tries_left)
    if isinstance(error, CardNotGenuine):
        return code, status_of(code), card_refusal_message(error.check, error.result)
    status, message = MESSAGES.get(code, MESSAGES["internal"])
    return code, status, str(message)
