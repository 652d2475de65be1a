"""Receipts: JSON and printable HTML in the resident's language, with the ward's title."""

from __future__ import annotations

import pytest

from payments.collect import refresh_payment, start_payment
from payments.receipts import ReceiptNotAvailable, build_receipt
from tests.payments.conftest import KIOSK, Db, Resident, confirmed_case


def _paid(db: Db, r: Resident) -> str:
    case_id = confirmed_case(db)
    payment = start_payment(db.sessions, r.provider, case_id, actor=KIOSK)
    assert r.terminal is not None
    r.terminal.approve(payment.provider_ref)
    with db.tx() as s:
        refresh_payment(s, r.provider, payment.public_id)
    return payment.public_id


@pytest.mark.parametrize("title", ["利用明細", "領収書"])
def test_receipt_data(db: Db, sim_resident: Resident, title: str) -> None:
    """The receipt carries the ward's title as set, the ward, the lines in the asked
    language, the amount, the method's code and the provider's reference (no words: the
    front end words them)."""
    public_id = _paid(db, sim_resident)
    with db.tx() as s:
        receipt = build_receipt(
            s, public_id, catalog=db.catalog, ward_name="千代田区役所", title=title, language="en"
        )
    data = receipt.to_json()
    assert data["title"] == title and data["ward_name"] == "千代田区役所"
    assert data["language"] == "en"
    assert data["total_yen"] == 300 and sum(line["fee_yen"] for line in data["lines"]) == 300
    assert data["lines"][0]["name"] == db.catalog.procedure("juminhyo").names["en"]
    assert data["method"] == "card_present"
    assert data["provider_reference"].startswith("simpay_")


def test_no_receipt_before_payment(db: Db, sim_resident: Resident) -> None:
    """A pending payment has no receipt."""
    case_id = confirmed_case(db)
    payment = start_payment(db.sessions, sim_resident.provider, case_id, actor=KIOSK)
    with pytest.raises(ReceiptNotAvailable), db.tx() as s:
        build_receipt(s, payment.public_id, catalog=db.catalog, ward_name="x", title="領収書")
