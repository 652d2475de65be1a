"""Fault sweep: pull the card after every APDU of a full read; each run ends cleanly."""

from __future__ import annotations

import pytest

from cardreader.errors import CardRemoved, MalformedCard
from cardreader.model import Integrity
from hardware_sim.card import SimulatedCard
from hardware_sim.faults import FaultPlan, FaultyCard
from hardware_sim.personas import Persona

from .conftest import CountingCard

PIN_IEF = 0x0011


def _full_read_length(rig, personas: dict[str, Persona]) -> int:
    card = CountingCard(SimulatedCard.from_persona(personas["yamada"]))
    rig.insert(card)
    rig.reader.read(personas["yamada"].text_pin, with_number=True)
    return len(card.commands)


def test_full_read_length() -> None:
    """Sanity for the sweep bounds: a full read (with the number) is 14 APDUs over direct,
    19 with the default chip check."""
    from cardreader.model import CardChecksWanted
    from cardreader.reader import DirectCardReader
    from hardware_sim.personas import load_personas

    persona = load_personas()["yamada"]
    card = CountingCard(SimulatedCard.from_persona(persona))
    reader = DirectCardReader(lambda: card)
    reader.read(persona.text_pin, with_number=True, checks=CardChecksWanted.none())
    assert len(card.commands) == 14
    card.commands.clear()
    reader.read(persona.text_pin, with_number=True)
    assert len(card.commands) == 19


def test_removal_after_every_apdu(rig, personas: dict[str, Persona]) -> None:
    """For N = 0..total, removal after N APDUs gives CardRemoved (or success at N = total),
    the card's PIN counter is untouched, and the re-inserted card then reads fine."""
    persona = personas["yamada"]
    total = _full_read_length(rig, personas)
    outcomes = []
    for n in range(total + 1):
        sim = SimulatedCard.from_persona(persona)
        rig.insert(FaultyCard(sim, FaultPlan(remove_after=n)))
        try:
            info = rig.reader.read(persona.text_pin, with_number=True)
        except CardRemoved:
            outcomes.append("removed")
        else:
            assert info.individual_number == persona.individual_number
            outcomes.append("read")
        assert sim.tries_left(PIN_IEF) == 3
        rig.insert(FaultyCard(sim))
        assert rig.reader.read(persona.text_pin).integrity is Integrity.VERIFIED
    assert outcomes == ["removed"] * total + ["read"]


def test_corrupted_responses_never_pass_as_verified(rig, personas: dict[str, Persona]) -> None:
    """Garbled response data ends in MalformedCard or a failed integrity check, never
    'verified'."""
    sim = SimulatedCard.from_persona(personas["yamada"])
    rig.insert(FaultyCard(sim, FaultPlan(corrupt=True)))
    try:
        outcome = rig.reader.read(personas["yamada"].text_pin).integrity.value
    except MalformedCard as e:
        outcome = e.code
    assert outcome in ("malformed_card", "digest_mismatch", "signature_invalid")


@pytest.mark.parametrize("n", [3, 4])
def test_removal_around_verify_does_not_cost_a_try(rig, personas, n: int) -> None:
    """Pulling the card just before or just after VERIFY leaves the counter at three."""
    persona = personas["yamada"]
    sim = SimulatedCard.from_persona(persona)
    rig.insert(FaultyCard(sim, FaultPlan(remove_after=n)))
    with pytest.raises(CardRemoved):
        rig.reader.read(persona.text_pin)
    assert sim.tries_left(PIN_IEF) == 3
