"""The resident's receipt: the kiosk's ticket screen, the phone page and the JSON API find
the receipt of a case here (its taken payment; none for a fee-free case).

The document itself is :func:`payments.receipts.build_receipt`: ward name, procedure lines,
amount, method, provider reference, and the ward's title (利用明細 or 領収書).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from application.visits import taken_payment_of_case
from payments.receipts import LABELS, TITLES, Receipt, build_receipt
from ui.i18n import ward_name
from ui.services import current_services


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
    title = current_services().settings.receipt_title
    return title if language == "ja" else TITLES.get(title, {}).get(language, title)


def receipt_context(receipt: Receipt) -> dict[str, Any]:
    """What ``kiosk/_receipt.html`` needs: the receipt, its labels and yen format."""
    labels = LABELS[receipt.language]
    return {
        "receipt": receipt,
        "labels": labels,
        "receipt_yen": labels["yen"].format,
        "paid_at": datetime.fromisoformat(receipt.paid_at),
    }
