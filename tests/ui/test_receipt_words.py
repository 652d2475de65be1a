"""The receipt in words: one document (``ui.receipts.document``, one template) for the kiosk,
the phone, the staff console, the API and the printer, worded in the receipt's language
from the gettext catalogs, and escaped wherever it is shown."""

from __future__ import annotations

import pytest

from payments.receipts import Receipt, ReceiptLine
from tests.ui.staffkit import add_staff, login, paid_ticket
from ui.receipts import document


def _receipt(language: str, title: str = "利用明細") -> Receipt:
    return Receipt(
        title=title,
        language=language,
        ward_name="千代田区役所",
        number="pay_1",
        case_id=1,
        paid_at="2026-12-02T10:15:00+09:00",
        lines=(ReceiptLine("juminhyo", "x", 2, 300, 600),),
        total_yen=1200,
        refunded_yen=0,
        method="card_present",
        provider="sim",
        provider_reference="simpay_1",
    )


@pytest.mark.parametrize(
    ("language", "title", "method", "total", "yen"),
    [
        ("ja", "利用明細", "クレジットカード", "合計", "1,200円"),
        ("en", "Statement of fees paid", "Card", "Total", "¥1,200"),
        ("zh-Hans", "缴费明细", "信用卡", "合计", "1,200日元"),
        ("ko", "이용 명세서", "카드", "합계", "1,200엔"),
    ],
)
def test_a_receipt_is_worded_in_its_language(
    language: str, title: str, method: str, total: str, yen: str
) -> None:
    """Title, method, labels and yen in each of the four languages, without a request."""
    doc = document(_receipt(language))
    assert (doc.title, doc.method, doc.labels["total"], doc.yen(1200)) == (
        title,
        method,
        total,
        yen,
    )
    assert doc.to_json()["title"] == title and doc.to_json()["title_ja"] == "利用明細"


def test_the_wards_title_receipt_in_other_languages() -> None:
    """A ward that issues 領収書 gets "Receipt", "收据", "영수증"."""
    assert [document(_receipt(lang, "領収書")).title for lang in ("ja", "en", "zh-Hans", "ko")] == [
        "領収書",
        "Receipt",
        "收据",
        "영수증",
    ]


def test_the_staff_console_prints_the_same_document_escaped(make_app) -> None:
    """The console's receipt page is the kiosk's document (same ids and words), in the
    console's language, with the ward's name escaped."""
    app = make_app(sim_persona="yamada", sim_terminal_auto="approve", ward_name="<Chiyoda>")
    add_staff(app, "clerk", "staff")
    client = app.test_client()
    login(client, "clerk")
    info = paid_ticket(app)
    html = client.get(f"/staff/payments/{info['payment_id']}/receipt?lang=en").get_data(True)
    assert 'id="receipt-title" class="receipt-title">Statement of fees paid</h1>' in html
    assert 'id="receipt-method">Card</dd>' in html and "¥300" in html
    assert "&lt;Chiyoda&gt;" in html and "<Chiyoda>" not in html
