"""The ward's card policy in the product, one contract over both front ends: each persona's
card (genuine, a replaying chip, forgeries, an expired or revoked JPKI certificate) under each
required set of checks, through the kiosk screens and through the JSON API. A card that
fails a required check opens no case, the resident is told to go to the counter, and one
audit row without personal data says which check failed; a card that passes opens a case
that stores what every check found."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from flask import Flask

from tests.ui.genuine.kit import (
    JPKI_PROCEDURE,
    PERSONAS,
    audit_rows,
    cases,
    jpki_fields,
    personal_data_of,
    resident,
)

# KIOSK_CARD_CHECKS under test, and whether the visit makes the JPKI check.
POLICIES: dict[str, tuple[str, bool]] = {
    "none": ("none", False),
    "chip": ("chip", False),
    "chip,chain": ("chip,chain", False),
    "chip,chain,jpki": ("chip,chain,jpki", True),
}

# What each card's checks find: (chip_authenticated, card_chain, jpki_chain when asked).
FOUND: dict[str, tuple[bool, str, str]] = {
    "yamada": (True, "verified", "verified"),
    "yoshida": (True, "verified", "verified"),
    "yamada_replay": (False, "signature_invalid", "signature_invalid"),
    "nakamura": (True, "chain_invalid", "chain_invalid"),
    "mori": (True, "signature_invalid", "signature_invalid"),
    "hayashi": (True, "verified", "expired"),
    "shimizu": (True, "verified", "revoked"),
}

# The first required check that fails, per persona and policy (None: the case opens).
REFUSED: dict[tuple[str, str], tuple[str, str] | None] = {}
for _persona, (_chip, _chain, _jpki) in FOUND.items():
    for _name, (_checks, _asks_jpki) in POLICIES.items():
        refusal: tuple[str, str] | None = None
        if "chip" in _checks and not _chip:
            refusal = ("chip", "not_authenticated")
        elif "chain" in _checks and _chain != "verified":
            refusal = ("card_chain", _chain)
        elif _asks_jpki and _jpki != "verified":
            refusal = ("jpki_chain", _jpki)
        REFUSED[(_persona, _name)] = refusal

# Literal sanity rows of the table above (the table is computed; these pin it).
assert REFUSED[("yamada_replay", "chip")] == ("chip", "not_authenticated")
assert REFUSED[("nakamura", "chip")] is None
assert REFUSED[("nakamura", "chip,chain")] == ("card_chain", "chain_invalid")
assert REFUSED[("mori", "chip,chain")] == ("card_chain", "signature_invalid")
assert REFUSED[("hayashi", "chip,chain")] is None
assert REFUSED[("hayashi", "chip,chain,jpki")] == ("jpki_chain", "expired")
assert REFUSED[("shimizu", "chip,chain,jpki")] == ("jpki_chain", "revoked")
assert REFUSED[("yamada_replay", "none")] is None

MESSAGES_EN = {
    ("jpki_chain", "expired"): "has expired",
    ("jpki_chain", "revoked"): "is no longer valid",
}
GENERIC_EN = "This card could not be checked at the kiosk. Please go to the counter with your card."


@pytest.mark.parametrize("policy", list(POLICIES))
@pytest.mark.parametrize("persona", list(FOUND))
def test_each_card_under_each_policy(
    genuine_app: Callable[..., Flask],
    front_end: str,
    persona: str,
    policy: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A card failing a required check is refused (code card_not_genuine, the first failed
    check named, the counter in the resident's language, no case, one audit row without
    personal data); any other card opens a case storing what each check found."""
    checks, asks_jpki = POLICIES[policy]
    app = genuine_app(persona, card_checks=checks)
    who = PERSONAS[persona]
    someone = resident(app, front_end, "en")
    someone.start("juminhyo")
    caplog.set_level(logging.DEBUG)
    outcome = someone.read(who.text_pin, who.jpki_auth_pin if asks_jpki else None)

    refused = REFUSED[(persona, policy)]
    chip, chain, jpki = FOUND[persona]
    if refused is None:
        assert outcome.word == "ok", outcome
        [case] = cases(app)
        assert case.card_integrity == "verified"
        assert case.card_chip_authenticated is chip
        assert case.card_chain == chain
        assert case.card_jpki_chain == (jpki if asks_jpki else "not_checked")
        assert audit_rows(app, "card.refused") == []
        return
    check, result = refused
    assert outcome.word == "stop"
    if front_end == "api":
        assert (outcome.code, outcome.check, outcome.result) == ("card_not_genuine", check, result)
    else:
        assert outcome.code == "card_not_genuine"
    expected = MESSAGES_EN.get(refused)
    assert expected in outcome.message if expected else outcome.message == GENERIC_EN
    assert cases(app) == []
    [row] = audit_rows(app, "card.refused")
    assert row.case_id is None and row.actor == "kiosk:kiosk-1"
    assert row.detail["check"] == check and row.detail["result"] == result
    assert row.detail["procedures"] == ["juminhyo"]
    assert set(row.detail["required"]) >= {"integrity"} | ({"chip"} if "chip" in checks else set())
    stored = json.dumps(row.detail, ensure_ascii=False)
    logged = caplog.text
    for value in personal_data_of(who):
        assert value not in stored
        assert value not in logged


@pytest.mark.parametrize(
    ("lang", "persona", "words"),
    [
        ("ja", "nakamura", "この 機械では カードを 確認できませんでした。"),
        ("zh-Hans", "nakamura", "自助终端无法确认这张卡。"),
        ("ko", "nakamura", "키오스크에서 이 카드를 확인할 수 없었습니다."),
        ("ja", "hayashi", "有効期限が 切れています"),
        ("ko", "shimizu", "더 이상 유효하지 않습니다"),
    ],
)
def test_the_refusal_is_told_in_the_residents_language(
    genuine_app: Callable[..., Flask],
    front_end: str,
    lang: str,
    persona: str,
    words: str,
) -> None:
    """The stop message names the counter in the language the resident chose, on both front
    ends, and the expired JPKI certificate is told as such (it can be renewed there)."""
    checks = "chip,chain,jpki" if persona in ("hayashi", "shimizu") else "chip,chain"
    app = genuine_app(persona, card_checks=checks)
    who = PERSONAS[persona]
    someone = resident(app, front_end, lang)
    someone.start("juminhyo")
    outcome = someone.read(who.text_pin, who.jpki_auth_pin if "jpki" in checks else None)
    assert outcome.word == "stop" and outcome.code == "card_not_genuine"
    assert words in outcome.message


@pytest.mark.parametrize("persona", ["hayashi", "yoshida"])
def test_a_procedure_of_the_catalog_asks_for_the_jpki_check(
    genuine_app: Callable[..., Flask],
    front_end: str,
    persona: str,
) -> None:
    """With the ward's default policy (chip, chain) the 転出届, marked jpki_check in the
    catalog, still makes the JPKI check: an expired certificate is refused, a valid one with
    its own PIN (yoshida's differs from his card PIN) opens the case with jpki_chain verified;
    a 住民票 of the same card asks for no JPKI PIN."""
    app = genuine_app(persona)
    who = PERSONAS[persona]
    someone = resident(app, front_end)
    someone.start(JPKI_PROCEDURE, jpki_fields())
    outcome = someone.read(who.text_pin, who.jpki_auth_pin)
    if persona == "hayashi":
        assert (outcome.word, outcome.code) == ("stop", "card_not_genuine")
        assert audit_rows(app, "card.refused")[0].detail["required"] == [
            "integrity",
            "chip",
            "card_chain",
            "jpki_chain",
        ]
        other = resident(app, front_end)
        other.start("juminhyo")
        assert other.read(who.text_pin).word == "ok"
        [case] = cases(app)
        assert case.card_jpki_chain == "not_checked"
        return
    assert outcome.word == "ok", outcome
    [case] = cases(app)
    assert (case.card_chain, case.card_jpki_chain, case.card_genuine) == ("verified",) * 3


def test_the_refusal_ends_nothing_else_and_the_next_resident_is_served(
    genuine_app: Callable[..., Flask],
) -> None:
    """After a refused card the kiosk's Finish wipes the visit; the next resident with a
    genuine card is served as usual."""
    app = genuine_app("nakamura")
    kiosk = resident(app, "kiosk")
    kiosk.start("juminhyo")
    assert kiosk.read(PERSONAS["nakamura"].text_pin).code == "card_not_genuine"
    assert kiosk.client.post("/kiosk/wipe").status_code == 302
    from ui.services import services_of

    services_of(app).simulation.reader.insert("yamada")  # type: ignore[union-attr]
    kiosk.start("juminhyo")
    assert kiosk.read("1234").word == "ok"
    assert len(cases(app)) == 1
