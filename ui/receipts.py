"""The resident's receipt in words: the kiosk's ticket screen, the phone page, the staff
console, the JSON API and the printer all show the same document, from one template
(``templates/receipt/_document.html``) or, printed, from :mod:`ui.printout`.

The document itself is data, :func:`payments.receipts.build_receipt`: ward name, procedure
lines, amount, method and provider reference, and the ward's title (利用明細 or 領収書); this
module words it in the receipt's language (``ui.words``: labels, the title in the other
languages, the payment method) and finds the receipt of a case (its taken payment; none for a
fee-free case).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from application.visits import taken_payment_of_case
from payments.receipts import Receipt, build_receipt
from ui.i18n import ward_name
from ui.services import current_services
from ui.words import RECEIPT_LABELS, RECEIPT_TITLES, YEN, payment_method, translate_in


@dataclass(frozen=True)
class ReceiptDocument:
    """A receipt worded in its own language."""

    receipt: Receipt
    title: str
    method: str
    labels: dict[str, str]

    def yen(self, amount: int) -> str:
        """Whole yen as the receipt's language writes them (300円, ¥300, 300日元, 300엔)."""
        return translate_in(self.receipt.language, YEN, amount=f"{amount:,}")

    def to_json(self) -> dict[str, Any]:
        """The receipt as the JSON API gives it: its data with the title and the method in
        words."""
        data = self.receipt.to_json()
        return {**data, "title": self.title, "title_ja": data["title"], "method": self.method}


def title_in(title: str, language: str) -> str:
    """The ward's document name (利用明細 or 領収書) in ``language``."""
    if language == "ja" or title not in RECEIPT_TITLES:
        return title
    return translate_in(language, RECEIPT_TITLES[title])


def document(receipt: Receipt) -> ReceiptDocument:
    """``receipt`` worded in its language (no request needed: the printer uses it too)."""
    lang = receipt.language
    return ReceiptDocument(
        receipt=receipt,
        title=title_in(receipt.title, lang),
        method=payment_method(receipt.method, lang),
        labels={key: translate_in(lang, label) for key, label in RECEIPT_LABELS.items()},
    )


def receipt_for_payment(
    public_id: str, language: str, *, session: Session | None = None
) -> Receipt:
    """The receipt of taken payment ``public_id`` in ``language`` (``ja``, ``en``,
    ``zh-Hans``, ``ko``), read in ``session`` (or a session of its own). Call inside a
    request (it reads the catalog and the ward's settings). Raises NotFound,
    ReceiptNotAvailable."""
    services = current_services()
    if session is None:
        with services.sessions() as own:
            return receipt_for_payment(public_id, language, session=own)
    return build_receipt(
        session,
        public_id,
        catalog=services.catalog,
        ward_name=ward_name(language),
        title=services.settings.receipt_title,
        language=language,
    )


def receipt_of_case(session: Session, case_id: int, language: str) -> Receipt | None:
    """The receipt of the case's taken payment in ``language``, or None when nothing was
    paid (a fee-free case, or not yet paid)."""
    public_id = taken_payment_of_case(session, case_id)
    return receipt_for_payment(public_id, language, session=session) if public_id else None


def receipt_title(language: str) -> str:
    """The ward's document title (利用明細 or 領収書) in ``language``: the button's text."""
    return title_in(current_services().settings.receipt_title, language)


def receipt_context(receipt: Receipt) -> dict[str, Any]:
    """What ``receipt/_document.html`` needs: the worded receipt and its time."""
    return {"doc": document(receipt), "paid_at": datetime.fromisoformat(receipt.paid_at)}
