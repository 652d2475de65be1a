"""What a request to the JSON API (``/api``) may carry, as pydantic models: the views
parse with them (``ui.api.protocol.operation``) and ``ui.api.document`` publishes them.

Requests are strict: a JSON string is never taken for a number or ``true`` for 1, unknown
keys are refused (a misspelt ``amount_yen`` must not turn a partial refund into a full one),
and every free-text value obeys the one text rule of the domain (``kiosk.text``: no
control, bidi-control or surrogate characters; published as the schema's ``pattern``). The
same models read the staff console's HTML forms and query strings through
``model_validate_strings``, so a refund amount or a statistics day has one rule whichever
screen sends it. Procedure field values are not judged here beyond their JSON shape: the
catalog (``kiosk.catalog``) validates them, with a message per field in the resident's
language.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

from kiosk.text import SAFE_TEXT_PATTERN, is_safe_text

MAX_ID = 2**31 - 1
MAX_REFUND_YEN = 10_000_000

# --- input types ----------------------------------------------------------------------------


def _safe(text: str) -> str:
    if not is_safe_text(text):
        raise PydanticCustomError(
            "unsafe_text", "control, bidi-control or surrogate characters are not allowed"
        )
    return text


# A line of text: white space at both ends stripped, then none of the characters that
# ``kiosk.text`` refuses (published as the schema's ``pattern``).
_SAFE = AfterValidator(_safe)
_PUBLISHED = Field(json_schema_extra={"pattern": SAFE_TEXT_PATTERN})
_LINE = StringConstraints(strip_whitespace=True, min_length=1, max_length=64)

# Codes of procedures, queues and counters, and names of procedure fields.
Code = Annotated[str, _LINE, _SAFE, _PUBLISHED]
Username = Annotated[str, _LINE, _SAFE, _PUBLISHED]
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), _SAFE, _PUBLISHED
]
# Secrets are never shown or printed: any text that can be encoded (pydantic refuses lone
# surrogates), so that no password set through the command line is locked out here.
Password = Annotated[str, Field(min_length=1, max_length=1024)]
# The card layer checks the format (4 digits) and answers bad_pin_format without asking
# the card; here only the JSON shape.
Pin = Annotated[
    str, Field(min_length=1, max_length=16, description="4 digits; used in this request only")
]
Yen = Annotated[int, Field(ge=1, le=MAX_REFUND_YEN)]

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_day(value: Any) -> Any:
    # Only YYYY-MM-DD: Python's and pydantic's own date parsing accept more (20240101,
    # week dates, Unix times) than a date input or an API client should send.
    if value == "":
        return None
    if isinstance(value, str):
        if not _DAY.fullmatch(value):
            raise PydanticCustomError("day", "a day is written YYYY-MM-DD")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("day", "no such day") from None
    return value


Day = Annotated[date | None, BeforeValidator(_iso_day)]
IsoDay = Annotated[date, BeforeValidator(_iso_day)]


def _field_value(value: Any) -> Any:
    # The JSON shapes a procedure field can take; what they mean is the catalog's to judge.
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, list) and all(
        isinstance(item, int | str) and not isinstance(item, bool) for item in value
    ):
        return value
    if isinstance(value, dict) and all(  # an address in the ward, by its parts
        isinstance(k, str) and (v is None or isinstance(v, int | str)) and not isinstance(v, bool)
        for k, v in value.items()
    ):
        return value
    raise PydanticCustomError(
        "field_value",
        "a field value is a string, a number, true/false, a list of them, or an address's parts",
    )


FieldValue = Annotated[
    Any,
    PlainValidator(
        _field_value,
        json_schema_input_type=bool
        | int
        | str
        | list[int | str]
        | dict[str, int | str | None]
        | None,
    ),
]


def _names_by_pattern(schema: dict[str, Any]) -> None:
    # pydantic publishes a key pattern as patternProperties, which leaves other keys
    # unconstrained; the rule is on every key: propertyNames.
    patterns = schema.pop("patternProperties", {})
    if len(patterns) != 1:
        schema.update({"patternProperties": patterns} if patterns else {})
        return
    ((pattern, values),) = patterns.items()
    _names_by_pattern(values)
    schema["propertyNames"] = {**schema.get("propertyNames", {}), "pattern": pattern}
    schema["additionalProperties"] = values


ProcedureFields = Annotated[
    dict[Code, dict[Code, FieldValue]],
    Field(
        description="procedure code -> {field name: value}; the catalog judges the values",
        json_schema_extra=_names_by_pattern,
    ),
]


class RequestModel(BaseModel):
    """A request body or query string: strict types, no unknown keys."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class QueryModel(BaseModel):
    """A query string: the same rules, but other parameters (``lang``) are not its own."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


# --- requests ----------------------------------------------------------------------------------


class VisitStart(RequestModel):
    """The procedures chosen (catalog codes, each once) and, optionally, their fields."""

    procedures: Annotated[list[Code], Field(min_length=1, max_length=64)]
    fields: ProcedureFields = {}

    @field_validator("procedures")
    @classmethod
    def _each_once(cls, codes: list[str]) -> list[str]:
        if len(set(codes)) != len(codes):
            raise PydanticCustomError("repeated", "each procedure is chosen once")
        return codes

    @field_validator("fields")
    @classmethod
    def _of_chosen(cls, fields: dict[str, Any], info: Any) -> dict[str, Any]:
        if any(code not in info.data.get("procedures", ()) for code in fields):
            raise PydanticCustomError("not_chosen", "fields of a procedure that was not chosen")
        return fields


class FieldsUpdate(RequestModel):
    """Fields of the chosen procedures, merged into what was given before."""

    fields: ProcedureFields


class PinEntry(RequestModel):
    """The card's PIN (4 digits), used in this request only and never stored; and, exactly
    when the chosen procedures want the JPKI check (``jpki_pin_wanted`` of the reader
    state), the PIN of the user authentication certificate (利用者証明用電子証明書の暗証番号,
    4 digits, a PIN of its own, only ever sent to the JPKI application)."""

    pin: Pin
    jpki_pin: Pin | None = None


class StaffLogin(RequestModel):
    """A staff account's user name and password."""

    username: Username
    password: Password


class CounterOpening(RequestModel):
    """Open (``true``) or close (``false``) the counter."""

    open: bool


class TicketTarget(RequestModel):
    """Where a ticket goes: the counter of a ``call``, the queue and/or counter of a
    ``transfer``; the other operations take neither."""

    counter: Code | None = None
    queue: Code | None = None


class RefundRequest(RequestModel):
    """A refund's reason and, for a partial refund, its amount (whole yen; without it the
    rest of the payment is refunded). The console's refund form is read by this model too."""

    reason: Reason
    amount_yen: Yen | None = None


class StatsQuery(QueryModel):
    """``?day=YYYY-MM-DD`` (default: today). The console's statistics page reads it too."""

    day: Day = None


# --- the counter desk (``ui.api.counter``) --------------------------------------------------

# Whole yen of a count or a cash amount (a negative count reaches the ledger's own check,
# which names the drawer).
CashYen = Annotated[int, Field(ge=0, le=MAX_REFUND_YEN)]
CountedYen = Annotated[int, Field(ge=-MAX_REFUND_YEN, le=MAX_REFUND_YEN)]
# A typed value of the basic four or a difference's reason: may be empty (the domain says
# which are required, per field).
Typed = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), _SAFE, _PUBLISHED]
PersonField = Literal["family_name", "given_name", "address", "birth_date", "sex"]


class CounterPayment(RequestModel):
    """What the case owes, taken at a counter: ``cash`` (``amount_yen`` = what is due,
    ``tendered_yen`` = what was handed over), or started on the counter's ``terminal`` or
    as a ``qr`` code on its customer display. ``counter``: whose drawer or device (default:
    the counter serving the case)."""

    method: Literal["cash", "terminal", "qr"]
    amount_yen: Yen | None = None
    tendered_yen: CashYen | None = None
    counter: Code | None = None


class CaseAmendmentRequest(RequestModel):
    """Corrections to a case: ``person`` (basic four), procedures to ``add`` / ``remove``,
    ``fields`` per procedure (copies, fiscal years, ...)."""

    person: dict[PersonField, Typed] = {}
    add: Annotated[list[Code], Field(max_length=64)] = []
    remove: Annotated[list[Code], Field(max_length=64)] = []
    fields: ProcedureFields = {}


class DifferenceRefund(RequestModel):
    """Give back what the case owes the resident, in ``cash`` from the counter's drawer or
    through the ``provider`` that took it, with the reason."""

    method: Literal["cash", "provider"]
    reason: Reason
    counter: Code | None = None


class DayClosing(RequestModel):
    """The cash counted per drawer and the reason of any difference, per drawer."""

    counted: Annotated[
        dict[Code, CountedYen],
        Field(description="drawer -> yen counted", json_schema_extra=_names_by_pattern),
    ]
    reasons: Annotated[
        dict[Code, Typed],
        Field(description="drawer -> why it differs", json_schema_extra=_names_by_pattern),
    ] = {}
