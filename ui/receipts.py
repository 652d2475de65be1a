"""The resident's receipt: the kiosk's ticket screen, the phone page and the JSON API find
the receipt of a case here (its taken payment; none for a fee-free case).

The document itself is :func:`payments.receipts.build_receipt`: ward name, procedure lines,
amount, method, provider reference, and the ward's title (利用明細 or 領収書).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from payments.receipts import LABELS, TITLES, Receipt, build_receipt
from payments.service import TAKEN, payments_of_case
from ui.i18n import ward_name


def receipt_of_case(session: Session, case_id: int, language: str) -> Receipt | None:
    """The receipt of the case's taken payment in ``language`` (``ja``, ``en``,
    ``zh-Hans``, ``ko``), or None when nothing was paid (a fee-free case, or not yet paid).
    Call inside a request of the app (it reads the catalog and the ward's settings)."""
    taken = [p for p in payments_of_case(session, case_id) if p.status in TAKEN]
    if not taken:
        return None
    settings = current_app.config["KIOSK_SETTINGS"]
    return build_receipt(
        session,
        taken[-1].public_id,
        catalog=current_app.extensions["kiosk.catalog"],
        ward_name=ward_name(language),
        title=settings.receipt_title,
        language=language,
    )


def receipt_title(language: str) -> str:
    """The ward's document title (利用明細 or 領収書) in ``language``: the button's text."""
    title = current_app.config["KIOSK_SETTINGS"].receipt_title
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
