"""Staff see which checks were made on the card of a case, and what each found, in the case
view (Japanese and English) and in the staff API's case JSON; "verified" only where the
check proved it."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from flask import Flask

from tests.ui.genuine.kit import JPKI_PROCEDURE, PERSONAS, cases, jpki_fields, resident
from tests.ui.staffkit import PASSWORD, add_staff, login


def _rows(page: str) -> dict[str, tuple[str, str]]:
    """The case view's check rows: label -> (state, text)."""
    found = re.findall(
        r'<div data-check-state="(\w+)"><dt>(.*?)</dt><dd class="s-check-\w+">(.*?)</dd></div>',
        page,
    )
    return {html.unescape(label): (state, html.unescape(text)) for state, label, text in found}


def _case_with(app: Flask, persona: str, procedure: str, **fields: object) -> int:
    who = PERSONAS[persona]
    someone = resident(app, "kiosk")
    someone.start(procedure, fields or None)  # type: ignore[arg-type]
    jpki_pin = who.jpki_auth_pin if procedure == JPKI_PROCEDURE else None
    assert someone.read(who.text_pin, jpki_pin).word == "ok"
    return cases(app)[-1].id


def test_the_case_view_lists_every_check_made(genuine_app: Callable[..., Flask]) -> None:
    """yoshida's 転出届 (JPKI check made with his own certificate PIN): consistent, the chip
    signed our challenge, the chain to the J-LIS key verified, the JPKI certificate verified;
    in English and in Japanese, with the note on what no check tells."""
    app = genuine_app("yoshida")
    case_id = _case_with(app, "yoshida", JPKI_PROCEDURE, **jpki_fields())
    add_staff(app, "clerk")
    client = app.test_client()
    login(client, "clerk")
    english = client.get(f"/staff/cases/{case_id}?lang=en").get_data(as_text=True)
    assert "Checks made on the card" in english
    assert _rows(english) == {
        "Data consistent": ("ok", "the data matches its signature on the card"),
        "Chip present": ("ok", "the chip signed our challenge"),
        "Card chain": ("ok", "chain to the J-LIS key verified"),
        "JPKI": ("ok", "user authentication certificate verified, signed with the resident's PIN"),
    }
    assert "reported lost" in english
    japanese = client.get(f"/staff/cases/{case_id}?lang=ja").get_data(as_text=True)
    rows = _rows(japanese)
    assert rows["ICチップの応答"] == ("ok", "ICチップがこちらのチャレンジに署名した")
    assert rows["J-LISの鍵への連鎖"] == ("ok", "J-LISの鍵まで検証済み")
    assert rows["公的個人認証（JPKI）"][0] == "ok"


def test_a_check_the_ward_does_not_require_shows_what_it_found(
    genuine_app: Callable[..., Flask],
) -> None:
    """A ward requiring only the chip check: a forged card with its own keys (nakamura) opens
    a case, and staff see the chain failed (never "verified") and JPKI not checked; the staff
    API says the same."""
    app = genuine_app("nakamura", card_checks="chip")
    case_id = _case_with(app, "nakamura", "juminhyo")
    add_staff(app, "clerk")
    client = app.test_client()
    login(client, "clerk")
    rows = _rows(client.get(f"/staff/cases/{case_id}?lang=en").get_data(as_text=True))
    assert rows["Chip present"] == ("ok", "the chip signed our challenge")
    assert rows["Card chain"] == ("failed", "no chain to a key or certificate the ward trusts")
    assert rows["JPKI"] == ("not_checked", "not checked")
    api = app.test_client()
    token = api.post("/api/staff/login", json={"username": "clerk", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
    body = api.get(f"/api/staff/cases/{case_id}", headers=headers).get_json()
    assert body["card_checks"] == {
        "integrity": "verified",
        "chip_authenticated": True,
        "card_chain": "chain_invalid",
        "jpki_chain": "not_checked",
        "genuine": "chain_invalid",
    }
