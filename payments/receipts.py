"""Receipts: one for every taken payment, as JSON and as a printable page.

The document's title is the ward's choice (``Settings.receipt_title``: 利用明細 or 領収書);
labels follow the resident's language (ja, en, zh-Hans, ko); amounts are whole yen. A
receipt names no person and holds no card data: ward, procedures, amount, method and the
provider's reference (to find the payment in the provider's dashboard).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from html import escape
from typing import Any

from sqlalchemy.orm import Session

from kiosk.catalog import Catalog
from kiosk.clock import TOKYO
from kiosk.errors import DomainError
from payments.models import PaymentStatus
from payments.states import get_payment

LABELS: dict[str, dict[str, str]] = {
    "ja": {
        "ward": "発行",
        "number": "番号",
        "date": "日時",
        "procedure": "手続き",
        "units": "数量",
        "unit_fee": "単価",
        "fee": "金額",
        "total": "合計",
        "refunded": "返金済み",
        "method": "お支払い方法",
        "reference": "決済番号",
        "yen": "{:,}円",
    },
    "en": {
        "ward": "Issued by",
        "number": "No.",
        "date": "Date",
        "procedure": "Procedure",
        "units": "Qty",
        "unit_fee": "Unit fee",
        "fee": "Amount",
        "total": "Total",
        "refunded": "Refunded",
        "method": "Payment method",
        "reference": "Payment reference",
        "yen": "¥{:,}",
    },
    "zh-Hans": {
        "ward": "发行",
        "number": "编号",
        "date": "日期",
        "procedure": "手续",
        "units": "数量",
        "unit_fee": "单价",
        "fee": "金额",
        "total": "合计",
        "refunded": "已退款",
        "method": "支付方式",
        "reference": "支付编号",
        "yen": "{:,}日元",
    },
    "ko": {
        "ward": "발행",
        "number": "번호",
        "date": "일시",
        "procedure": "절차",
        "units": "수량",
        "unit_fee": "단가",
        "fee": "금액",
        "total": "합계",
        "refunded": "환불됨",
        "method": "결제 방법",
        "reference": "결제 번호",
        "yen": "{:,}엔",
    },
}
METHODS: dict[str, dict[str, str]] = {
    "card_present": {"ja": "クレジットカード", "en": "Card", "zh-Hans": "信用卡", "ko": "카드"},
    "card": {"ja": "クレジットカード", "en": "Card", "zh-Hans": "信用卡", "ko": "카드"},
    "paypay": {"ja": "PayPay", "en": "PayPay", "zh-Hans": "PayPay", "ko": "PayPay"},
    "cash": {"ja": "現金", "en": "Cash", "zh-Hans": "现金", "ko": "현금"},
}
# The title is a legal document name chosen by the ward; translations for the other labels.
TITLES = {
    "利用明細": {"en": "Statement", "zh-Hans": "使用明细", "ko": "이용 명세"},
    "領収書": {"en": "Receipt", "zh-Hans": "收据", "ko": "영수증"},
}


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
    title: str
    title_ja: str
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
    if lang not in LABELS:
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
    method = METHODS.get(payment.method or "", {}).get(lang, payment.method or "-")
    return Receipt(
        title=title if lang == "ja" else TITLES.get(title, {}).get(lang, title),
        title_ja=title,
        language=lang,
        ward_name=ward_name,
        number=payment.public_id,
        case_id=case.id,
        paid_at=paid_at.astimezone(TOKYO).isoformat(timespec="seconds"),
        lines=tuple(lines),
        total_yen=payment.amount_yen,
        refunded_yen=payment.refunded_yen,
        method=method,
        provider=payment.provider,
        provider_reference=payment.payment_intent_id or payment.provider_ref or "",
    )


def render_html(receipt: Receipt) -> str:
    """A self-contained printable page (inline CSS, no external fonts or scripts)."""
    t = LABELS[receipt.language]
    yen = t["yen"].format
    rows = "\n".join(
        f"<tr><td>{escape(line.name)}</td><td class=n>{line.units}</td>"
        f"<td class=n>{yen(line.unit_fee_yen)}</td><td class=n>{yen(line.fee_yen)}</td></tr>"
        for line in receipt.lines
    )
    refunded = (
        f"<tr><th colspan=3>{t['refunded']}</th><td class=n>-{yen(receipt.refunded_yen)}</td></tr>"
        if receipt.refunded_yen
        else ""
    )
    return f"""<!doctype html>
<html lang="{escape(receipt.language)}"><head><meta charset="utf-8">
<title>{escape(receipt.title)}</title>
<style>
body{{font-family:"Noto Sans CJK JP","IPAexGothic",sans-serif;max-width:80mm;margin:0 auto}}
h1{{font-size:1.4em;text-align:center;border-bottom:2px solid #000}}
table{{width:100%;border-collapse:collapse}} td,th{{padding:2px 4px;text-align:left}}
.n{{text-align:right}} .total th,.total td{{border-top:1px solid #000;font-weight:bold}}
@media print{{button{{display:none}}}}
</style></head><body>
<h1>{escape(receipt.title)}</h1>
<p>{t["ward"]}: {escape(receipt.ward_name)}<br>
{t["number"]}: {escape(receipt.number)}<br>{t["date"]}: {escape(receipt.paid_at)}</p>
<table><thead><tr><th>{t["procedure"]}</th><th class=n>{t["units"]}</th>
<th class=n>{t["unit_fee"]}</th><th class=n>{t["fee"]}</th></tr></thead><tbody>
{rows}
<tr class=total><th colspan=3>{t["total"]}</th><td class=n>{yen(receipt.total_yen)}</td></tr>
{refunded}
</tbody></table>
<p>{t["method"]}: {escape(receipt.method)}<br>
{t["reference"]}: {escape(receipt.provider_reference)}</p>
</body></html>
"""
