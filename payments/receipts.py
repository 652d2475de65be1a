"""Receipts: one for every taken payment, as data.

The document's title is the ward's choice (``Settings.receipt_title``: 利用明細 or 領収書);
amounts are whole yen. A receipt names no person and holds no card data: ward, procedures,
amount, method and the provider's reference (to find the payment in the provider's
dashboard). Its words (labels, the title in other languages, the method) are the front
end's: ``ui.receipts`` and one template, ``templates/receipt/_document.html``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from kiosk.catalog import Catalog
from kiosk.clock import TOKYO
from kiosk.errors import DomainError
from payments.models import PaymentStatus
from payments.states import get_payment

LANGUAGES = ("ja", "en", "zh-Hans", "ko")


class ReceiptNotAvailable(DomainError):
    """Only a payment that was taken has a receipt."""


@dataclass(frozen=True)
class ReceiptLine:
    code: str
    name: str
    units: int
    unit_fee_yen: int
    fee_yen: int


@dataclass(frozen=True)
class Receipt:
    """A taken payment's receipt as data: ``title`` is the ward's document name as set
    (利用明細 or 領収書), ``method`` the payment method's code (``card_present``, ``card``,
    ``paypay``, ...), ``language`` the language its procedure names are in. The front end
    words the title, the method and the labels (``ui.receipts``)."""

    title: str
    language: str
    ward_name: str
    number: str
    case_id: int
    paid_at: str  # ISO 8601 in Asia/Tokyo
    lines: tuple[ReceiptLine, ...]
    total_yen: int
    refunded_yen: int
    method: str
    provider: str
    provider_reference: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (lists, str, int)."""
        data = asdict(self)
        data["lines"] = [asdict(line) for line in self.lines]
        return data


def build_receipt(
    session: Session,
    public_id: str,
    *,
    catalog: Catalog,
    ward_name: str,
    title: str,
    language: str | None = None,
) -> Receipt:
    """The receipt of payment ``public_id`` in ``language`` (default: the case's).
    Raises NotFound, ReceiptNotAvailable (not taken)."""
    payment = get_payment(session, public_id)
    if payment.status not in (
        PaymentStatus.SUCCEEDED,
        PaymentStatus.PARTIALLY_REFUNDED,
        PaymentStatus.REFUNDED,
    ):
        raise ReceiptNotAvailable(f"payment {public_id} is {payment.status.value}")
    case = payment.case
    lang = language or case.language
    if lang not in LANGUAGES:
        lang = "ja"
    lines = []
    for line in case.procedures:
        try:
            name = catalog.procedure(line.procedure_code).names[lang]
        except KeyError:
            name = line.procedure_code
        lines.append(
            ReceiptLine(line.procedure_code, name, line.units, line.unit_fee_yen, line.fee_yen)
        )
    paid_at: datetime = payment.succeeded_at or payment.updated_at
    return Receipt(
        title=title,
        language=lang,
        ward_name=ward_name,
        number=payment.public_id,
        case_id=case.id,
        paid_at=paid_at.astimezone(TOKYO).isoformat(timespec="seconds"),
        lines=tuple(lines),
        total_yen=payment.amount_yen,
        refunded_yen=payment.refunded_yen,
        method=payment.method or "",
        provider=payment.provider,
        provider_reference=payment.payment_intent_id or payment.provider_ref or "",
    )
