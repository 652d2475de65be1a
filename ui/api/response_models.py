"""What the JSON API (``/api``) answers, as pydantic models: the views build them, the
operation decorator serialises them (``ui.api.protocol``) and ``ui.api.document``
publishes them.

Each model lists exactly the keys the API sends (``additionalProperties: false``); a key
that exists only in some states (``fee_yen`` of a visit, the details of an error) is left
out rather than sent as ``null`` (:func:`omitted_when_absent`).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from application.ticket_operations import TicketOutcome
from kiosk.catalog import FIELD_KINDS, UNITS, Catalog
from kiosk.models import CaseStatus, StaffRole, TicketStatus
from payments.models import PaymentStatus


class ResponseModel(BaseModel):
    """A response body: exactly these keys (``additionalProperties: false``)."""

    model_config = ConfigDict(extra="forbid")


def _is_none(value: Any) -> bool:
    return value is None


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omitted_when_absent(description: str) -> Any:
    """A key sent only when it has a value (typed ``X | SkipJsonSchema[None]``): documented
    as optional, never as ``null``."""
    return Field(
        default=None, exclude_if=_is_none, description=description, json_schema_extra=_no_default
    )


Names = Annotated[dict[str, str], Field(description="by language: ja, en, zh-Hans, ko")]
StoredValue = bool | int | str | list[int] | dict[str, int | str | None] | None
StoredFields = Annotated[
    dict[str, StoredValue], Field(description="field name -> value as the catalog normalised it")
]


class CatalogField(ResponseModel):
    name: str
    kind: Literal[FIELD_KINDS]  # type: ignore[valid-type]
    label: Names
    required: bool
    default: StoredValue
    min: int | None
    max: int | None
    options: list[str]
    max_length: int | None
    min_days: int | None = Field(description="dates: earliest day, relative to today")
    max_days: int | None = Field(description="dates: latest day, relative to today")


class CatalogProcedure(ResponseModel):
    code: str
    names: Names
    queue: str
    fee_yen: int = Field(description="per unit, at the kiosk")
    unit: Literal[UNITS]  # type: ignore[valid-type]
    needs_individual_number: bool
    jpki_check: bool = Field(
        description="the card must also pass the JPKI check (the resident's PIN of the user "
        "authentication certificate is asked for)"
    )
    fields: list[CatalogField]


class CatalogQueue(ResponseModel):
    code: str
    prefix: str
    names: Names


class CatalogCounter(ResponseModel):
    code: str
    names: Names
    queues: list[str]


class CatalogTown(ResponseModel):
    name: str = Field(description="the town (町名) in kanji, as the ward writes it")
    kana: str = Field(description="its reading in hiragana")
    chome: list[int] = Field(description="the 丁目 it has (empty: none)")
    numbering: str = Field(description="jukyo (住居表示: 番・号) or banchi (番地)")


class CatalogWard(ResponseModel):
    names: Names
    address_prefix: str = Field(description="e.g. 東京都千代田区")
    towns: list[CatalogTown] = Field(
        description="what a ward_address field accepts; its value is "
        "{town, chome, ban, go, building}"
    )


class CatalogView(ResponseModel):
    """Procedures with their fees and fields, queues and counters, and the ward."""

    procedures: list[CatalogProcedure]
    queues: list[CatalogQueue]
    counters: list[CatalogCounter]
    ward: CatalogWard | None

    @classmethod
    def of(cls, catalog: Catalog) -> CatalogView:
        return cls(
            procedures=[
                CatalogProcedure(
                    code=p.code,
                    names=dict(p.names),
                    queue=p.queue,
                    fee_yen=p.unit_fee("kiosk"),
                    unit=p.unit,
                    needs_individual_number=p.needs_individual_number,
                    jpki_check=p.jpki_check,
                    fields=[
                        CatalogField(
                            name=f.name,
                            kind=f.kind,
                            label=dict(f.label),
                            required=f.required,
                            default=f.default,
                            min=f.min,
                            max=f.max,
                            options=list(f.options),
                            max_length=f.max_length,
                            min_days=f.min_days,
                            max_days=f.max_days,
                        )
                        for f in p.fields
                    ],
                )
                for p in catalog.procedures
            ],
            queues=[
                CatalogQueue(code=q.code, prefix=q.prefix, names=dict(q.names))
                for q in catalog.queues
            ],
            counters=[
                CatalogCounter(code=c.code, names=dict(c.names), queues=list(c.queues))
                for c in catalog.counters
            ],
            ward=None
            if catalog.ward is None
            else CatalogWard(
                names=dict(catalog.ward.names),
                address_prefix=catalog.ward.address_prefix,
                towns=[
                    CatalogTown(
                        name=t.name, kana=t.kana, chome=list(t.chome), numbering=t.numbering
                    )
                    for t in catalog.ward.towns
                ],
            ),
        )


class BoardCall(ResponseModel):
    number: str
    counter: str
    counter_names: Names
    called_at: str = Field(description="ISO 8601")
    call_count: int


class BoardWaiting(ResponseModel):
    queue: str
    prefix: str
    names: Names
    waiting: int


class BoardMove(ResponseModel):
    """A number routed on to its next queue (one ticket through several counters)."""

    number: str
    queue: str
    names: Names


class BoardView(ResponseModel):
    """The display board: the latest calls (newest first), how many wait per queue and the
    numbers routed on to their next queue (latest first)."""

    calls: list[BoardCall]
    waiting: list[BoardWaiting]
    moving_on: list[BoardMove]


class TicketStatusView(ResponseModel):
    """A ticket as its phone page shows it (no personal data)."""

    number: str
    status: TicketStatus
    people_ahead: int
    estimated_wait_s: int
    wait_low_s: int = Field(description="the estimate's range, low end (seconds)")
    wait_high_s: int = Field(description="the estimate's range, high end (seconds)")
    wait_minutes: list[int] = Field(
        min_length=2,
        max_length=2,
        description="the range as residents are told it: [low, high] minutes; [0, 0] when"
        " nobody is ahead (never while anyone is)",
    )
    quoted_wait_s: int
    counter: Names | None = Field(description="the counter's names once called")
    queue: Names | None = Field(description="the queue the ticket waits in now")
    route: list[Names] = Field(description="every queue the ticket visits, in order")
    stop: int = Field(description="where on the route it is now (0 = the first queue)")

    @staticmethod
    def fields_of(view: Any) -> dict[str, Any]:
        """The fields of ``kiosk.overview.TicketStatusView`` ``view``."""
        return {
            "number": view.number,
            "status": view.status,
            "people_ahead": view.people_ahead,
            "estimated_wait_s": view.estimated_wait_s,
            "wait_low_s": view.wait_low_s,
            "wait_high_s": view.wait_high_s,
            "wait_minutes": list(view.wait_minutes),
            "quoted_wait_s": view.quoted_wait_s,
            "counter": view.counter,
            "queue": view.queue,
            "route": list(view.route),
            "stop": view.stop,
        }


class VisitTicket(TicketStatusView):
    """The visit's ticket and the token of its phone page (``/t/<token>``)."""

    token: str


class VisitView(ResponseModel):
    """A resident's visit (the id is its bearer, like the kiosk's cookie)."""

    visit_id: str
    language: str
    procedures: list[str]
    fields: dict[str, StoredFields]
    case_id: int | None
    payment_id: str | None
    ticket_token: str | None
    fee_yen: int | SkipJsonSchema[None] = omitted_when_absent(
        "the case's fee: sent once the case exists (fields after the card read, confirm)"
    )
    due_yen: int | SkipJsonSchema[None] = omitted_when_absent(
        "pay at the counter: the fee due there (the ticket is issued at once)"
    )


class ReaderState(ResponseModel):
    """The kiosk's card reader (``pin_tries_left`` is null without a readable card).
    ``card_from_earlier``: the card was on the reader before the visit began; it must be
    taken off and placed again (a visit only uses a card placed after it began)."""

    reader_present: bool
    card_present: bool
    pin_tries_left: int | None
    card_from_earlier: bool
    jpki_pin_wanted: bool = Field(
        description="the chosen procedures want the JPKI check: the read needs jpki_pin"
    )
    jpki_pin_tries_left: int | None = Field(
        description="tries of the user authentication certificate's PIN (null when not "
        "wanted or without a readable card)"
    )


class PrefilledLine(ResponseModel):
    code: str
    units: int
    fee_yen: int
    fields: StoredFields


class Prefilled(ResponseModel):
    """The draft case prefilled from the card, for the resident to check at the kiosk."""

    case_id: int
    status: CaseStatus
    name: str | None
    address: str | None
    birth_date: date | None
    sex: str | None
    fee_yen: int
    procedures: list[PrefilledLine]


class PaymentView(ResponseModel):
    payment_id: str
    status: PaymentStatus
    amount_yen: int
    refunded_yen: int
    display_url: str | None = Field(description="the QR checkout's page, if any")
    failure_code: str | None

    @classmethod
    def of(cls, payment: Any) -> PaymentView:
        """The view of ``payments.models.Payment`` ``payment``."""
        return cls(**cls.fields_of(payment))

    @staticmethod
    def fields_of(payment: Any) -> dict[str, Any]:
        """The fields of ``payments.models.Payment`` ``payment``."""
        return {
            "payment_id": payment.public_id,
            "status": payment.status,
            "amount_yen": payment.amount_yen,
            "refunded_yen": payment.refunded_yen,
            "display_url": payment.display_url,
            "failure_code": payment.failure_code,
        }


class PaymentProgress(PaymentView):
    """The visit's payment as last read from the provider; the ticket once paid."""

    ticket_token: str | None


class ReceiptLine(ResponseModel):
    code: str
    name: str
    units: int
    unit_fee_yen: int
    fee_yen: int


class ReceiptView(ResponseModel):
    """A taken payment's receipt (no personal data): ward, procedures, amount, method and
    the provider's reference. ``title_ja`` is the ward's choice of document."""

    title: str
    title_ja: Literal["利用明細", "領収書"]
    language: Literal["ja", "en", "zh-Hans", "ko"]
    ward_name: str
    number: str
    case_id: int
    paid_at: str = Field(description="ISO 8601, Asia/Tokyo")
    lines: list[ReceiptLine]
    total_yen: int
    refunded_yen: int
    method: str
    provider: str
    provider_reference: str


class StaffToken(ResponseModel):
    """A bearer token for ``Authorization: Bearer <token>``."""

    token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="seconds")
    role: StaffRole


class StaffIdentity(ResponseModel):
    username: str
    role: StaffRole


class QueueCount(ResponseModel):
    queue: str
    prefix: str
    waiting: int
    held: int
    called: int
    serving: int
    no_show: int
    done: int


class OpenTicket(ResponseModel):
    id: int
    number: str
    status: TicketStatus
    queue: str
    counter: str | None
    case_id: int


class QueueOverview(ResponseModel):
    """Today's counts per queue and the open tickets in calling order."""

    queues: list[QueueCount]
    tickets: list[OpenTicket]


class CounterState(ResponseModel):
    counter: str
    open: bool


class TicketView(ResponseModel):
    id: int
    number: str
    status: TicketStatus
    case_id: int
    counter_id: int | None

    @classmethod
    def of(cls, outcome: TicketOutcome) -> TicketView:
        return cls(
            id=outcome.id,
            number=outcome.number,
            status=TicketStatus(outcome.status),
            case_id=outcome.case_id,
            counter_id=outcome.counter_id,
        )


class TicketResult(ResponseModel):
    """The ticket after the operation."""

    ticket: TicketView


class CalledTicket(ResponseModel):
    """The ticket called, or null when nobody waits."""

    ticket: TicketView | None


class CaseLine(ResponseModel):
    code: str
    names: Names
    units: int
    fee_yen: int
    fields: StoredFields


GenuineResult = Literal[
    "verified", "chain_invalid", "signature_invalid", "expired", "revoked", "not_checked"
]


class CardChecksView(ResponseModel):
    """What the genuine-card checks of the case's card read found (README "Genuine cards"
    says what each proves and cannot)."""

    integrity: str = Field(
        description="consistent: the data matches the digests signed under the card's own key "
        "(says nothing about who made the card)"
    )
    chip_authenticated: bool | None = Field(
        description="present: the chip signed our fresh challenge (null: not checked)"
    )
    card_chain: GenuineResult = Field(description="the card chain to a J-LIS key the ward trusts")
    jpki_chain: GenuineResult = Field(
        description="the JPKI user-authentication certificate to a CA the ward trusts, its key "
        "used with the resident's PIN"
    )
    genuine: GenuineResult = Field(description="every chain that was made, together")


class CaseView(ResponseModel):
    """The case in clear for the counter (every read is audited) with its payments."""

    id: int
    status: CaseStatus
    language: str
    name: str | None
    address: str | None
    birth_date: date | None
    birth_date_japanese: str
    sex: str | None
    individual_number: str | None
    fee_yen: int
    ticket: str | None = Field(description="the ticket's number")
    card_checks: CardChecksView
    procedures: list[CaseLine]
    payments: list[PaymentView]


class RefundDone(ResponseModel):
    refund_id: int
    amount_yen: int
    payment: PaymentView


class QueueDayStats(ResponseModel):
    queue: str
    issued: int
    served: int
    no_show: int
    mean_wait_s: float | None
    p90_wait_s: float | None
    mean_service_s: float | None


class DayStats(ResponseModel):
    """Tickets issued per hour (Tokyo, 24 buckets) and waits per queue of one day."""

    day: date
    per_hour: Annotated[list[int], Field(min_length=24, max_length=24)]
    queues: list[QueueDayStats]


# --- errors ------------------------------------------------------------------------------------


class ErrorDetail(ResponseModel):
    code: str = Field(description="stable; the codes each operation can answer are listed")
    message: str = Field(description="in the request's language")
    field: str | SkipJsonSchema[None] = omitted_when_absent(
        "invalid_field: the path of the value refused (keys and list indices, dotted)"
    )
    fields: dict[str, str | dict[str, str]] | SkipJsonSchema[None] = omitted_when_absent(
        "validation_failed: a message per field (per procedure code, then per field name); "
        "person_invalid: a code per typed field (required, too_long, invalid_text, "
        "not_a_date, not_a_choice)"
    )
    tries_left: int | SkipJsonSchema[None] = omitted_when_absent(
        "card errors: the PIN tries left on the card, when known"
    )
    check: str | SkipJsonSchema[None] = omitted_when_absent(
        "card_not_genuine: the check the card failed (integrity, chip, card_chain, jpki_chain)"
    )
    result: str | SkipJsonSchema[None] = omitted_when_absent(
        "card_not_genuine: what that check found (e.g. chain_invalid, expired, revoked)"
    )
    drawers: dict[str, str] | SkipJsonSchema[None] = omitted_when_absent(
        "count_invalid: per drawer, missing, unknown, negative or reason_required"
    )


class ErrorBody(ResponseModel):
    """Every error of the API: a stable code and a message in the request's language."""

    error: ErrorDetail


# --- the document itself -------------------------------------------------------------------------


class _Open(BaseModel):
    # Parts of an OpenAPI document have more keys than are listed here.
    model_config = ConfigDict(extra="allow")


class OpenApiInfo(_Open):
    title: str
    version: str
    description: str


class OpenApiResponse(_Open):
    description: str


class OpenApiOperation(_Open):
    operationId: str
    summary: str
    tags: list[str]
    responses: dict[str, OpenApiResponse]


class OpenApiSchema(_Open):
    title: str


class OpenApiSecurityScheme(_Open):
    type: str


class OpenApiComponents(_Open):
    schemas: dict[str, OpenApiSchema]
    securitySchemes: dict[str, OpenApiSecurityScheme]


class OpenApiDocument(_Open):
    """This API's OpenAPI 3.1 document."""

    openapi: Annotated[str, Field(pattern=r"^3\.1\.[0-9]+$")]
    info: OpenApiInfo
    paths: dict[str, dict[str, OpenApiOperation]]
    components: OpenApiComponents


# --- the counter desk (``ui.api.counter``) --------------------------------------------------


class CounterPaymentView(PaymentView):
    """A payment taken at a counter (or the kiosk's, for a refund)."""

    method: str | None = Field(description="cash, card_present, card, paypay, ...")
    provider: str
    sequence: int = Field(description="1 for the case's first payment, then 2, 3, ...")
    counter: str | None = Field(description="the counter whose drawer or device took it")

    @classmethod
    def of(cls, payment: Any) -> CounterPaymentView:
        """The view of ``payments.models.Payment`` ``payment``."""
        return cls(
            **cls.fields_of(payment),
            method=payment.method,
            provider=payment.provider,
            sequence=payment.sequence,
            counter=payment.counter_code,
        )


class CounterPaymentDone(ResponseModel):
    """The payment; for cash, the change to hand back."""

    payment: CounterPaymentView
    change_yen: int | SkipJsonSchema[None] = omitted_when_absent("cash: tendered - amount")


class AmendmentSummary(ResponseModel):
    id: int
    fee_before_yen: int
    fee_after_yen: int
    fields: list[str] = Field(description="the names of the fields changed (no values)")
    added: list[str]
    removed: list[str]


class AmendmentDone(ResponseModel):
    """The amendment and the case's fee now: ``due_yen`` > 0 is to collect, < 0 to give
    back."""

    amendment: AmendmentSummary
    fee_yen: int
    due_yen: int


class CounterRefund(ResponseModel):
    refund_id: int
    amount_yen: int
    method: str | None


class DifferenceRefunded(ResponseModel):
    refunds: list[CounterRefund]


class LedgerLineView(ResponseModel):
    procedure_code: str = Field(description="TOTAL for the total")
    method: str
    count: int
    gross_yen: int
    refunds_yen: int
    net_yen: int

    @classmethod
    def of(cls, line: Any) -> LedgerLineView:
        """The view of ``payments.ledger.LedgerLine`` ``line``."""
        return cls(
            procedure_code=line.procedure_code,
            method=line.method,
            count=line.count,
            gross_yen=line.gross_yen,
            refunds_yen=line.refunds_yen,
            net_yen=line.net_yen,
        )


class DrawerStatement(ResponseModel):
    drawer: str
    float_yen: int
    cash_in_yen: int
    cash_out_yen: int
    expected_yen: int
    counted_yen: int | None = Field(description="once the day is closed")
    difference_yen: int | None = Field(description="counted - expected, once closed")
    reason: str


class LedgerView(ResponseModel):
    """The day's takings (収納日計): lines per procedure and method, the total, the drawers."""

    day: date
    closed: bool
    closed_by: str | None
    lines: list[LedgerLineView]
    total: LedgerLineView
    drawers: list[DrawerStatement]

    @classmethod
    def of(cls, ledger: Any) -> LedgerView:
        """The view of ``payments.ledger.DayLedger`` ``ledger``."""
        return cls(
            day=ledger.day,
            closed=ledger.closed,
            closed_by=ledger.closed_by,
            lines=[LedgerLineView.of(x) for x in ledger.lines],
            total=LedgerLineView.of(ledger.total),
            drawers=[
                DrawerStatement(
                    drawer=d.drawer,
                    float_yen=d.float_yen,
                    cash_in_yen=d.cash_in_yen,
                    cash_out_yen=d.cash_out_yen,
                    expected_yen=d.expected_yen,
                    counted_yen=d.counted_yen,
                    difference_yen=d.difference_yen,
                    reason=d.reason,
                )
                for d in ledger.drawers
            ],
        )
