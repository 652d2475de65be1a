"""The card policy and the JPKI PIN step over the production reader path: pyscard -> pcscd ->
vpcd -> the simulated card (``KIOSK_CARD_READER=sim``), through both front ends. Uses the
second vpcd slot ("Virtual PCD 00 01", port + 1): the first belongs to the card-layer tests."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from flask import Flask

from tests.ui.genuine.kit import (
    JPKI_PROCEDURE,
    PERSONAS,
    audit_rows,
    cases,
    jpki_fields,
    resident,
    set_jpki_tries,
    tries,
)
from ui.services import services_of

pytestmark = pytest.mark.pcsc

# persona, procedure, what the resident is told ("ok" or the refusal's (check, result)).
MATRIX = [
    ("yoshida", JPKI_PROCEDURE, "ok"),
    ("yamada_replay", "juminhyo", ("chip", "not_authenticated")),
    ("nakamura", "juminhyo", ("card_chain", "chain_invalid")),
    ("mori", "juminhyo", ("card_chain", "signature_invalid")),
    ("hayashi", JPKI_PROCEDURE, ("jpki_chain", "expired")),
    ("shimizu", JPKI_PROCEDURE, ("jpki_chain", "revoked")),
]


def _through_pcscd(
    genuine_app: Callable[..., Flask], pcscd: str, vpcd_port: int, persona: str
) -> Flask:
    app = genuine_app(
        persona,
        card_reader="sim",
        sim_vpcd_port=vpcd_port + 1,
        reader_name=pcscd.replace("00 00", "00 01"),
    )
    reader = services_of(app).card_reader
    deadline = time.monotonic() + 10
    while not reader.status().card_present:
        assert time.monotonic() < deadline, "the simulated card never reached pcscd"
        time.sleep(0.1)
    return app


@pytest.mark.parametrize(("persona", "procedure", "told"), MATRIX)
def test_the_policy_over_pcscd(
    genuine_app: Callable[..., Flask],
    pcscd: str,
    vpcd_port: int,
    front_end: str,
    persona: str,
    procedure: str,
    told: object,
) -> None:
    """Each failing chip is refused at its check (no case, one audit row), and a genuine card
    with a JPKI PIN of its own opens the case, exactly as over the in-process reader."""
    app = _through_pcscd(genuine_app, pcscd, vpcd_port, persona)
    who = PERSONAS[persona]
    someone = resident(app, front_end)
    fields = jpki_fields() if procedure == JPKI_PROCEDURE else None
    someone.start(procedure, fields)
    jpki_pin = who.jpki_auth_pin if procedure == JPKI_PROCEDURE else None
    outcome = someone.read(who.text_pin, jpki_pin)
    if told == "ok":
        assert outcome.word == "ok", outcome
        [case] = cases(app)
        assert (case.card_chain, case.card_jpki_chain) == ("verified", "verified")
        return
    assert (outcome.word, outcome.code) == ("stop", "card_not_genuine")
    [row] = audit_rows(app, "card.refused")
    assert (row.detail["check"], row.detail["result"]) == told
    assert cases(app) == []


def test_one_jpki_try_left_sends_nothing_over_pcscd(
    genuine_app: Callable[..., Flask], pcscd: str, vpcd_port: int, front_end: str
) -> None:
    """With one JPKI try left the resident goes to the counter and the JPKI PIN never
    reaches the card through pcscd either."""
    app = _through_pcscd(genuine_app, pcscd, vpcd_port, "yoshida")
    set_jpki_tries(app, 1)
    someone = resident(app, front_end)
    someone.start(JPKI_PROCEDURE, jpki_fields())
    outcome = someone.read("7272", "8383")
    assert (outcome.word, outcome.code) == ("stop", "jpki_pin_would_lock")
    assert tries(app) == (3, 1)
