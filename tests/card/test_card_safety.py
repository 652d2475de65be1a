"""PIN safety and privacy: no sequence of entries locks a card; the PIN never leaks."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardreader.direct import DirectTransport
from cardreader.errors import BadPinFormat, CardError, PinWouldLock, WrongPin
from cardreader.mynumber import read_card
from cardreader.reader import DirectCardReader
from hardware_sim.card import SimulatedCard
from hardware_sim.personas import Persona, load_personas
from ui.words import card_error_text

from .conftest import CountingCard

PIN_IEF = 0x0011
PERSONAS = load_personas()
RIGHT = PERSONAS["yamada"].text_pin

# An entry is the right PIN, a wrong 4-digit PIN, or something that is not a PIN at all.
entries = st.one_of(
    st.just(RIGHT),
    st.from_regex(r"[0-9]{4}", fullmatch=True).filter(lambda p: p != RIGHT),
    st.text(max_size=6).filter(lambda p: not (len(p) == 4 and p.isascii() and p.isdigit())),
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(initial=st.integers(min_value=1, max_value=3), pins=st.lists(entries, max_size=12))
def test_no_sequence_of_entries_locks_a_card(initial: int, pins: list[str]) -> None:
    """Whatever PINs a resident types, the card's counter never reaches zero."""
    persona = dataclasses.replace(PERSONAS["yamada"], text_tries=initial)
    card = CountingCard(SimulatedCard.from_persona(persona))
    reader = DirectCardReader(lambda: card)
    for pin in pins:
        before = card.tries_left(PIN_IEF)
        try:
            info = reader.read(pin)
        except WrongPin as e:
            assert e.tries_left == card.tries_left(PIN_IEF) == before - 1
        except PinWouldLock:
            assert before == 1
        except BadPinFormat:
            assert card.tries_left(PIN_IEF) == before
        else:
            assert pin == RIGHT and info.family_name == "山田"
        assert card.tries_left(PIN_IEF) >= 1
    if initial == 1:
        assert not any(c.startswith(b"\x00\x20\x00\x80\x04") for c in card.commands)


def _exception_texts(error: BaseException) -> list[str]:
    texts: list[str] = []
    seen: BaseException | None = error
    while seen is not None:
        texts += [str(seen), repr(seen), repr(seen.args), repr(vars(seen))]
        if isinstance(seen, CardError):
            words = [card_error_text(seen.code, seen.tries_left, lang) for lang in ("ja", "en")]
            texts += [*words, str(seen.detail)]
        seen = seen.__cause__ or seen.__context__
    return texts


@pytest.mark.parametrize(
    ("key", "pin"),
    [("watanabe", "8282"), ("watanabe", "7391"), ("tanaka", "6060"), ("yamada", "12x4")],
    ids=["right", "wrong", "would-lock", "bad-format"],
)
def test_pin_never_appears_in_logs_or_errors(
    caplog: pytest.LogCaptureFixture, personas: dict[str, Persona], key: str, pin: str
) -> None:
    """Neither the PIN nor the individual number shows up in log records or exception text."""
    persona = personas[key]
    card = SimulatedCard.from_persona(persona)
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        try:
            info = read_card(DirectTransport(card), pin, with_number=True)
        except CardError as e:
            texts += _exception_texts(e)
        else:
            texts += [repr(info)]
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]
    secrets = [pin, pin.encode().hex(), persona.individual_number]
    assert texts
    assert not [t for t in texts for s in secrets if s in t]
