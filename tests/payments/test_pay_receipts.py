"""Receipts: JSON and printable HTML in the resident's language, with the ward's title."""

from __future__ import annotations

import pytest

from payments.collect import refresh_payment, start_payment
from payments.receipts import ReceiptNotAvailable, build_receipt, render_html
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
def test_receipt_json_in_japanese(db: Db, sim_resident: Resident, title: str) -> None:
    """The JSON receipt carries the ward's title, ward, lines, amount, method and reference."""
    public_id = _paid(db, sim_resident)
    with db.tx() as s:
        receipt = build_receipt(
            s, public_id, catalog=db.catalog, ward_name="みなと区役所", title=title
        )
    data = receipt.to_json()
    assert data["title"] == title and data["ward_name"] == "みなと区役所"
    assert data["total_yen"] == 300 and sum(line["fee_yen"] for line in data["lines"]) == 300
    assert data["lines"][0]["name"] == db.catalog.procedure("juminhyo").names["ja"]
    assert data["method"] == "クレジットカード"
    assert data["provider_reference"].startswith("simpay_")


def test_receipt_page_in_english_escapes_and_prints(db: Db, sim_resident: Resident) -> None:
    """The printable page uses the requested language's labels and escapes every value."""
    public_id = _paid(db, sim_resident)
    with db.tx() as s:
        receipt = build_receipt(
            s, public_id, catalog=db.catalog, ward_name="<Minato>", title="領収書", language="en"
        )
    html = render_html(receipt)
    assert "<h1>Receipt</h1>" in html and "¥300" in html
    assert "&lt;Minato&gt;" in html and "<Minato>" not in html
    assert 'lang="en"' in html


@pytest.mark.parametrize("lang,word", [("zh-Hans", "合计"), ("ko", "합계")])
def test_receipt_labels_per_language(db: Db, sim_resident: Resident, lang: str, word: str) -> None:
    """Chinese and Korean receipts use their own labels."""
    public_id = _paid(db, sim_resident)
    with db.tx() as s:
        receipt = build_receipt(
            s, public_id, catalog=db.catalog, ward_name="港区", title="利用明細", language=lang
        )
    assert word in render_html(receipt)


def test_no_receipt_before_payment(db: Db, sim_resident: Resident) -> None:
    """A pending payment has no receipt."""
    case_id = confirmed_case(db)
    payment = start_payment(db.sessions, sim_resident.provider, case_id, actor=KIOSK)
    with pytest.raises(ReceiptNotAvailable), db.tx() as s:
        build_receipt(s, payment.public_id, catalog=db.catalog, ward_name="x", title="領収書")
