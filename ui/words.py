"""Words rendered outside Flask-Babel's request locale, read from the same gettext catalogs
(``ui/translations``) through Babel: the resident messages of the domain's field errors (the
domain returns codes and parameters only), the names of an address's parts and of the card's
fields, and the card errors' texts for the command line.

Message ids are English and marked with :func:`N_` so that ``pybabel extract -k N_`` finds
them; they are translated when rendered, in the language asked for (the domain's spelling:
``ja``, ``en``, ``zh-Hans``, ``ko``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations

from kiosk.addresses import address_parts
from kiosk.catalog import FieldError, ValidationFailed
from kiosk.eras import EraOutOfRange, format_japanese

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
LANGUAGES = ("ja", "en", "zh-Hans", "ko")


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "mark, translate later"
    """Mark ``message`` for extraction; it is translated where it is shown."""
    return message


def NN_(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802
    """Mark a message with a plural form (``pybabel extract -k NN_:1,2``)."""
    return singular, plural


def NP_(context: str, message: str) -> tuple[str, str]:  # noqa: N802
    """Mark ``message`` in ``context`` for extraction (``pybabel extract -k NP_:1c,2``)."""
    return context, message


# The receipt's words (kiosk, phone, staff console, printed): labels, the ward's document
# name in the other languages, payment methods by code, and whole yen.
RECEIPT_LABELS: dict[str, tuple[str, str]] = {
    "ward": NP_("receipt", "Issued by"),
    "number": NP_("receipt", "No."),
    "date": NP_("receipt", "Date"),
    "procedure": NP_("receipt", "Procedure"),
    "units": NP_("receipt", "Qty"),
    "unit_fee": NP_("receipt", "Unit fee"),
    "fee": NP_("receipt", "Amount"),
    "total": NP_("receipt", "Total"),
    "refunded": NP_("receipt", "Refunded"),
    "method": NP_("receipt", "Payment method"),
    "reference": NP_("receipt", "Payment reference"),
}
RECEIPT_TITLES: dict[str, tuple[str, str]] = {
    "利用明細": NP_("receipt title", "Statement of fees paid"),
    "領収書": NP_("receipt title", "Receipt"),
}
PAYMENT_METHODS: dict[str, tuple[str, str]] = {
    "card_present": NP_("payment method", "Card"),
    "card": NP_("payment method", "Card"),
    "paypay": NP_("payment method", "PayPay"),
    "cash": NP_("payment method", "Cash"),
}
YEN = NP_("receipt", "¥%(amount)s")


# Field errors of the catalog's validation, by code (parameters in %(name)s form).
FIELD_ERRORS: dict[str, str] = {
    "required": N_("Please enter %(label)s."),
    "not_integer": N_("%(label)s must be a whole number."),
    "out_of_range": N_("%(label)s must be between %(min)s and %(max)s."),
    "not_a_choice": N_("Please choose one of the options for %(label)s."),
    "too_long": N_("%(label)s must be at most %(max)s characters."),
    "invalid_text": N_("%(label)s contains characters that cannot be used."),
    "not_text": N_("%(label)s must be text."),
    "not_boolean": N_("Please answer yes or no for %(label)s."),
    "not_a_date": N_("%(label)s must be a valid date."),
    "bad_fiscal_year": N_("%(label)s: choose fiscal years from %(min)s to %(max)s."),
    "too_many": N_("%(label)s: at most %(max)s can be chosen."),
    "duplicate": N_("%(label)s lists the same value twice."),
    "unknown_field": N_("This procedure has no field “%(label)s”."),
    "read_only": N_("%(label)s was read from the card and cannot be changed."),
    "date_out_of_range": N_("%(label)s must be a day from %(first)s to %(last)s."),
    "not_an_address": N_("%(label)s: please choose the town, then enter the numbers."),
    "unknown_town": N_("%(label)s: please choose the town from the list."),
    "bad_chome": N_("%(label)s: please choose the chōme of %(town)s (%(choices)s)."),
    "no_chome": N_("%(label)s: %(town)s has no chōme."),
    "bad_address_number": N_("%(label)s: %(part)s must be a number from 1 to %(max)s."),
    "building_invalid": N_(
        "%(label)s: the building and room contain characters that cannot be used."
    ),
    "building_too_long": N_("%(label)s: the building and room must be at most %(max)s characters."),
}

# The parts of an address in the ward (messages and the staff view).
PART_LABELS: dict[str, str] = {
    "town": N_("Town"),
    "chome": N_("Chōme"),
    "ban": N_("Block (ban)"),
    "go": N_("Number (gō)"),
    "banchi": N_("Lot (banchi)"),
    "eda": N_("Sub-number"),
    "building": N_("Building and room"),
}

# What the card gives, when a resident tries to change it.
CARD_FIELD_LABELS: dict[str, str] = {
    "name": N_("Name"),
    "family_name": N_("Family name"),
    "given_name": N_("Given name"),
    "address": N_("Address"),
    "birth_date": N_("Date of birth"),
    "sex": N_("Sex"),
    "individual_number": N_("Individual number"),
}
# Card errors by ``cardreader.errors`` code (the card layer has codes, no words). The wrong
# PIN messages have a number: see ``WRONG_PIN``.
CARD_ERRORS: dict[str, str] = {
    "card_error": N_("The card could not be read. Please ask a member of staff."),
    # issue 10: a second card operation while one runs (nothing was sent to the card).
    "reader_busy": N_("The card reader is busy. Please wait a moment and try again."),
    "no_reader": N_("No card reader was found. Please ask a member of staff."),
    "no_card": N_("There is no card on the reader. Please place your My Number card on it."),
    "card_removed": N_(
        "The card was taken away while it was being read. Please place it on the reader again."
    ),
    "not_my_number_card": N_("This is not a My Number card. Please use your My Number card."),
    "bad_pin_format": N_("The PIN is 4 digits."),
    "pin_locked": N_(
        "The PIN of this card is locked. Please go to the counter with an identity document "
        "to unlock it."
    ),
    "pin_would_lock": N_(
        "Only one PIN try is left. A wrong PIN now would lock the card. "
        "For your safety, please go to the counter."
    ),
    "malformed_card": N_(
        "The data on the card could not be understood. Please ask a member of staff."
    ),
    # A visit only uses a card placed after it began (application.visits.CardFromEarlier).
    "card_from_earlier": N_(
        "This card was on the reader before you started. Please take it off, then place your "
        "card again."
    ),
    # The JPKI user-authentication PIN is another PIN than the one above: say which.
    "jpki_bad_pin_format": N_("The PIN of the user authentication certificate is 4 digits."),
    "jpki_pin_locked": N_(
        "The PIN of the user authentication certificate is locked. "
        "Please go to the counter to unlock it."
    ),
    "jpki_pin_would_lock": N_(
        "Only one try is left for the PIN of the user authentication certificate. "
        "A wrong PIN now would lock it. For your safety, please go to the counter."
    ),
}


# A card the ward's policy refused (application.card_policy), by (check, result): the
# resident goes to the counter. Neutral words: a genuine card with an expired certificate
# lands here too.
CARD_REFUSED = N_(
    "This card could not be checked at the kiosk. Please go to the counter with your card."
)
CARD_REFUSALS: dict[tuple[str, str], str] = {
    ("jpki_chain", "expired"): N_(
        "The user authentication certificate on your card has expired. Please go to the "
        "counter with your card. It can be renewed there."
    ),
    ("jpki_chain", "revoked"): N_(
        "The user authentication certificate on your card is no longer valid. Please go to "
        "the counter with your card."
    ),
}


WRONG_PIN: dict[str, tuple[str, str]] = {
    "wrong_pin": NN_(
        "The PIN is not correct. %(num)d try left.",
        "The PIN is not correct. %(num)d tries left.",
    ),
    "jpki_wrong_pin": NN_(
        "The PIN of the user authentication certificate is not correct. %(num)d try left.",
        "The PIN of the user authentication certificate is not correct. %(num)d tries left.",
    ),
}

_MONTHS_EN = (
    "January February March April May June July August September October November December"
).split()


@lru_cache(maxsize=8)
def translations(language: str) -> NullTranslations:
    """The compiled catalog of ``language`` (domain or Babel spelling); English and unknown
    languages give the message ids back."""
    locale = language.replace("-", "_")
    if locale == "en" or locale.replace("_", "-") not in LANGUAGES:
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS_DIR), [locale], domain="messages")


def translate(language: str, message: str, **params: Any) -> str:
    """``message`` (a message id) in ``language``, with ``params`` filled in."""
    text = translations(language).gettext(message)
    return text % params if params else text


def written_date(d: date, language: str) -> str:
    """A date written out for a resident's message, never as an ambiguous 12/02/2026:
    ``令和8年12月2日`` (ja, 和暦), ``2 December 2026``, ``2026年12月2日``, ``2026년 12월 2일``."""
    if language == "ja":
        try:
            return format_japanese(d)
        except EraOutOfRange:
            return f"{d.year}年{d.month}月{d.day}日"
    if language == "en":
        return f"{d.day} {_MONTHS_EN[d.month - 1]} {d.year}"
    if language == "ko":
        return f"{d.year}년 {d.month}월 {d.day}일"
    return f"{d.year}年{d.month}月{d.day}日"


def _param(name: str, value: Any, language: str) -> Any:
    if isinstance(value, date):
        return written_date(value, language)
    if name == "part" and isinstance(value, str) and value in PART_LABELS:
        return translate(language, PART_LABELS[value])
    if name == "choices" and isinstance(value, list | tuple):
        return "、".join(str(v) for v in value)  # written Japanese (一丁目、二丁目) in any language
    if isinstance(value, Mapping):
        return value.get(language) or value.get("ja") or ""
    return value


def field_label(error: FieldError, language: str) -> str:
    """The field's name in ``language``: the catalog's label, else a card field's."""
    label = error.label.get(language) or error.label.get("ja") if error.label else None
    if label:
        return str(label)
    if error.field in CARD_FIELD_LABELS:
        return translate(language, CARD_FIELD_LABELS[error.field])
    return error.field


def field_message(error: FieldError, language: str) -> str:
    """The resident's message for one rejected field, in ``language``."""
    lang = language if language in LANGUAGES else "ja"
    params = {k: _param(k, v, lang) for k, v in error.params.items()}
    return translate(lang, FIELD_ERRORS[error.code], label=field_label(error, lang), **params)


def field_messages(failure: ValidationFailed, language: str | None = None) -> dict[str, str]:
    """Every rejected field of ``failure`` with its message, in ``language`` (default the
    language the case or visit was in)."""
    lang = language or failure.language
    return {e.field: field_message(e, lang) for e in failure.errors}


def address_part_rows(value: Mapping[str, Any], language: str) -> list[tuple[str, str]]:
    """The parts of a stored address in the ward as (label, text), for staff who key them
    into the core system: 町名, 丁目, 番 and 号 (or 番地 and 枝番), building."""
    return [(translate(language, PART_LABELS[part]), text) for part, text in address_parts(value)]


def card_error_text(code: str, tries_left: int | None, language: str) -> str:
    """A card error ``code`` worded in ``language`` (outside a request: the command line)."""
    if code in WRONG_PIN:
        singular, plural = WRONG_PIN[code]
        n = tries_left or 0
        return translations(language).ngettext(singular, plural, n) % {"num": n}
    return translate(language, CARD_ERRORS.get(code, CARD_ERRORS["card_error"]))


def translate_in(language: str, message: tuple[str, str], **params: Any) -> str:
    """A message marked with :func:`NP_` (context, id) in ``language``."""
    text = str(translations(language).pgettext(*message))
    return text % params if params else text


def payment_method(code: str, language: str) -> str:
    """A payment method's code (``card_present``, ``paypay``, ...) in words."""
    return translate_in(language, PAYMENT_METHODS[code]) if code in PAYMENT_METHODS else code
