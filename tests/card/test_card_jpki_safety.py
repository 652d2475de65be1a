"""PIN safety and privacy of the JPKI authentication PIN: no sequence of entries locks it, it
never leaks, and pulling the card at any point of a JPKI read costs no try."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardreader.errors import (
    CardError,
    CardRemoved,
    JpkiBadPinFormat,
    JpkiPinWouldLock,
    JpkiWrongPin,
)
from cardreader.model import CardChecksWanted, Genuine
from cardreader.reader import DirectCardReader
from cardreader.trust import CardTrust
from hardware_sim.card import SimulatedCard
from hardware_sim.faults import FaultPlan, FaultyCard
from hardware_sim.personas import load_personas

from .conftest import CountingCard
from .test_card_safety import _exception_texts

TEXT_PIN, JPKI_PIN = 0x0011, 0x0018
PERSONAS = load_personas()
YOSHIDA = PERSONAS["yoshida"]
RIGHT = YOSHIDA.jpki_auth_pin
JPKI = CardChecksWanted(jpki=True)

entries = st.one_of(
    st.just(RIGHT),
    st.just(YOSHIDA.text_pin),  # the other PIN: a wrong JPKI PIN, never sent to the Text AP
    st.from_regex(r"[0-9]{4}", fullmatch=True).filter(lambda p: p != RIGHT),
    st.text(max_size=6).filter(lambda p: not (len(p) == 4 and p.isascii() and p.isdigit())),
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(initial=st.integers(min_value=1, max_value=3), pins=st.lists(entries, max_size=8))
def test_no_sequence_of_jpki_entries_locks_it(
    card_trust: CardTrust, initial: int, pins: list[str]
) -> None:
    """Whatever JPKI PINs a resident types, its counter never reaches zero, each error says
    what the card did, and the Text PIN counter stays full."""
    persona = dataclasses.replace(YOSHIDA, jpki_auth_tries=initial)
    card = CountingCard(SimulatedCard.from_persona(persona))
    reader = DirectCardReader(lambda: card, trust=card_trust)
    for pin in pins:
        before = card.tries_left(JPKI_PIN)
        try:
            info = reader.read(YOSHIDA.text_pin, checks=JPKI, jpki_pin=pin)
        except JpkiWrongPin as e:
            assert e.tries_left == card.tries_left(JPKI_PIN) == before - 1
        except JpkiPinWouldLock:
            assert before == 1
        except JpkiBadPinFormat:
            assert card.tries_left(JPKI_PIN) == before
        else:
            assert pin == RIGHT and info.genuine is Genuine.VERIFIED
        assert card.tries_left(JPKI_PIN) >= 1
        assert card.tries_left(TEXT_PIN) == 3
    if initial == 1:
        sent = {c[5:] for c in card.commands if c.startswith(b"\x00\x20\x00\x80\x04")}
        assert sent <= {YOSHIDA.text_pin.encode()}


@pytest.mark.parametrize("pin", [RIGHT, "9191", "12x4"], ids=["right", "wrong", "bad-format"])
def test_jpki_pin_never_appears_in_logs_or_errors(
    caplog: pytest.LogCaptureFixture, card_trust: CardTrust, pin: str
) -> None:
    """Neither PIN shows up in log records, the result's repr or exception text."""
    card = SimulatedCard.from_persona(YOSHIDA)
    reader = DirectCardReader(lambda: card, trust=card_trust)
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        try:
            info = reader.read(YOSHIDA.text_pin, checks=JPKI, jpki_pin=pin)
        except CardError as e:
            texts += _exception_texts(e)
        else:
            texts += [repr(info), repr(info.checks)]
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]
    secrets = [pin, pin.encode().hex(), YOSHIDA.text_pin]
    assert texts
    assert not [t for t in texts for s in secrets if s in t]


def test_removal_at_any_point_of_a_jpki_read_costs_no_try(card_trust: CardTrust) -> None:
    """Pulling the card after N APDUs of a full read with every check gives CardRemoved (or
    the result at the end) and leaves both PIN counters full."""
    total_card = CountingCard(SimulatedCard.from_persona(YOSHIDA))
    DirectCardReader(lambda: total_card, trust=card_trust).read(
        YOSHIDA.text_pin, checks=JPKI, jpki_pin=RIGHT
    )
    total = len(total_card.commands)
    outcomes = []
    for n in range(total + 1):
        sim = SimulatedCard.from_persona(YOSHIDA)
        faulty = FaultyCard(sim, FaultPlan(remove_after=n))
        reader = DirectCardReader(lambda f=faulty: None if f.removed else f, trust=card_trust)
        try:
            info = reader.read(YOSHIDA.text_pin, checks=JPKI, jpki_pin=RIGHT)
        except CardRemoved:
            outcomes.append("removed")
        else:
            assert info.genuine is Genuine.VERIFIED
            outcomes.append("read")
        assert (sim.tries_left(TEXT_PIN), sim.tries_left(JPKI_PIN)) == (3, 3)
    assert outcomes == ["removed"] * total + ["read"]
