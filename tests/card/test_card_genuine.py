"""The genuine-card checks, cards x checks, over the direct transport and over pcscd + vpcd.

Every card is read four times: without checks, with the chip check, with the card chain (the
default), and with the JPKI chain; each read must report exactly what that card's chip is.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from cardreader.errors import (
    JpkiBadPinFormat,
    JpkiPinLocked,
    JpkiPinWouldLock,
    JpkiWrongPin,
    MalformedCard,
)
from cardreader.model import CardChecks, CardChecksWanted, Genuine, Integrity
from cardreader.trust import CardTrust
from hardware_sim.card import SimulatedCard, jpki_auth_certificate
from hardware_sim.faults import FaultPlan, FaultyCard
from hardware_sim.personas import Persona

from .conftest import CountingCard, TrackingCard

TEXT_PIN, JPKI_PIN = 0x0011, 0x0018
TEXT_AID = bytes.fromhex("D3921000310001010408")
JPKI_AID = bytes.fromhex("D392F000260100000001")
V, CI, SI = Genuine.VERIFIED, Genuine.CHAIN_INVALID, Genuine.SIGNATURE_INVALID
JPKI = CardChecksWanted(jpki=True)

# persona -> (chip_authenticated, card chain, JPKI chain)
MATRIX = {
    "yamada": (True, V, V),
    "yoshida": (True, V, V),
    "suzuki": (True, V, V),
    "yamada_replay": (False, SI, SI),
    "nakamura": (True, CI, CI),
    "mori": (True, SI, SI),
    "hayashi": (True, V, Genuine.EXPIRED),
    "shimizu": (True, V, Genuine.REVOKED),
}


@pytest.fixture
def trusting_rig(rig, card_trust: CardTrust):
    """The rig's reader configured with the simulator's trust anchors."""
    rig.reader.trust = card_trust
    return rig


@pytest.mark.parametrize("key", list(MATRIX))
def test_cards_by_checks(trusting_rig, personas: dict[str, Persona], key: str) -> None:
    """Each card gives its chip's results at every level of checks, consistent data in all,
    and no PIN try is spent."""
    persona = personas[key]
    chip, card_chain, jpki_chain = MATRIX[key]
    card = CountingCard(SimulatedCard.from_persona(persona))
    trusting_rig.insert(card)
    read = trusting_rig.reader.read

    bare = read(persona.text_pin, checks=CardChecksWanted.none())
    assert bare.integrity is Integrity.VERIFIED and bare.checks == CardChecks()
    assert bare.genuine is Genuine.NOT_CHECKED

    chip_only = read(persona.text_pin, checks=CardChecksWanted(card_chain=False))
    assert chip_only.checks == CardChecks(chip_checked=True, chip_authenticated=chip)

    default = read(persona.text_pin)
    assert default.checks == CardChecks(
        chip_checked=True, chip_authenticated=chip, card_chain=card_chain, genuine=card_chain
    )

    full = read(persona.text_pin, checks=JPKI, jpki_pin=persona.jpki_auth_pin)
    expected = card_chain if card_chain is not V else jpki_chain
    assert full.checks == CardChecks(
        chip_checked=True,
        chip_authenticated=chip,
        card_chain=card_chain,
        jpki_chain=jpki_chain,
        genuine=expected,
    )
    assert full.integrity is Integrity.VERIFIED and full.name == persona.name
    assert (card.tries_left(TEXT_PIN), card.tries_left(JPKI_PIN)) == (3, 3)


def test_apdus_each_check_adds(trusting_rig, personas: dict[str, Persona]) -> None:
    """The chip check adds 5 APDUs, the card chain 1 more, the JPKI check 7 + one READ per
    256 bytes of its certificate."""
    persona = personas["yamada"]
    card = CountingCard(SimulatedCard.from_persona(persona))
    trusting_rig.insert(card)
    counts = []
    for checks, jpki_pin in (
        (CardChecksWanted.none(), None),
        (CardChecksWanted(card_chain=False), None),
        (CardChecksWanted(), None),
        (JPKI, persona.jpki_auth_pin),
    ):
        card.commands.clear()
        trusting_rig.reader.read(persona.text_pin, checks=checks, jpki_pin=jpki_pin)
        counts.append(len(card.commands))
    certificate = jpki_auth_certificate(persona).public_bytes(Encoding.DER)
    certificate_reads = math.ceil(len(certificate) / 256)
    assert counts == [12, 17, 18, 18 + 7 + certificate_reads]


def test_each_pin_goes_only_to_its_application(trusting_rig, personas) -> None:
    """yoshida's Text PIN (7272) is only ever sent to the Text AP's IEF 0011 and his JPKI
    authentication PIN (8383) only to the JPKI AP's IEF 0018."""
    persona = personas["yoshida"]
    card = TrackingCard(SimulatedCard.from_persona(persona))
    trusting_rig.insert(card)
    info = trusting_rig.reader.read(persona.text_pin, checks=JPKI, jpki_pin=persona.jpki_auth_pin)
    assert info.genuine is V
    assert card.verifies == [
        (TEXT_AID, TEXT_PIN, persona.text_pin.encode()),
        (JPKI_AID, JPKI_PIN, persona.jpki_auth_pin.encode()),
    ]


def test_wrong_jpki_pin_is_its_own_error(trusting_rig, personas) -> None:
    """A wrong JPKI PIN raises JpkiWrongPin (2 left), not WrongPin; the Text PIN counter is
    untouched, and the right JPKI PIN then verifies and restores its counter."""
    persona = personas["yoshida"]
    card = CountingCard(SimulatedCard.from_persona(persona))
    trusting_rig.insert(card)
    with pytest.raises(JpkiWrongPin) as caught:
        trusting_rig.reader.read(persona.text_pin, checks=JPKI, jpki_pin=persona.text_pin)
    assert caught.value.tries_left == 2 and caught.value.code == "jpki_wrong_pin"
    assert (card.tries_left(TEXT_PIN), card.tries_left(JPKI_PIN)) == (3, 2)
    assert trusting_rig.reader.jpki_pin_tries_left() == 2
    info = trusting_rig.reader.read(persona.text_pin, checks=JPKI, jpki_pin=persona.jpki_auth_pin)
    assert info.checks.jpki_chain is V
    assert card.tries_left(JPKI_PIN) == 3


@pytest.mark.parametrize(
    ("tries", "error"), [(1, JpkiPinWouldLock), (0, JpkiPinLocked)], ids=["one-left", "locked"]
)
def test_jpki_pin_is_never_sent_on_the_last_try(
    trusting_rig, personas, tries: int, error: type[Exception]
) -> None:
    """With one JPKI try left (or none) the JPKI PIN is not sent and the counter stays."""
    persona = dataclasses.replace(personas["yamada"], jpki_auth_tries=tries)
    card = TrackingCard(SimulatedCard.from_persona(persona))
    trusting_rig.insert(card)
    with pytest.raises(error):
        trusting_rig.reader.read(persona.text_pin, checks=JPKI, jpki_pin=persona.jpki_auth_pin)
    assert [v for v in card.verifies if v[0] == JPKI_AID] == []
    assert card.tries_left(JPKI_PIN) == tries
    assert trusting_rig.reader.jpki_pin_tries_left() == tries


def test_jpki_pin_format_and_wiring_errors_send_nothing(trusting_rig, personas) -> None:
    """A JPKI PIN that is not four digits raises JpkiBadPinFormat, and a JPKI PIN for a read
    without the JPKI check a ValueError, both before any APDU."""
    persona = personas["yamada"]
    card = CountingCard(SimulatedCard.from_persona(persona))
    trusting_rig.insert(card)
    for bad in ("123", "12345", "１２３４", "1234\n", ""):
        with pytest.raises(JpkiBadPinFormat):
            trusting_rig.reader.read(persona.text_pin, checks=JPKI, jpki_pin=bad)
    with pytest.raises(ValueError):
        trusting_rig.reader.read(persona.text_pin, jpki_pin=persona.jpki_auth_pin)
    assert card.commands == []


@pytest.mark.parametrize("key", ["nakamura", "hayashi", "shimizu"])
def test_jpki_pin_is_not_sent_for_a_certificate_that_cannot_verify(
    trusting_rig, personas, key: str
) -> None:
    """When the JPKI certificate already fails (untrusted, expired, revoked), the JPKI PIN is
    not sent at all: the resident's try is never risked for nothing."""
    persona = personas[key]
    card = TrackingCard(SimulatedCard.from_persona(persona))
    trusting_rig.insert(card)
    info = trusting_rig.reader.read(persona.text_pin, checks=JPKI, jpki_pin=persona.jpki_auth_pin)
    assert info.checks.jpki_chain is MATRIX[key][2]
    assert [v for v in card.verifies if v[0] == JPKI_AID] == []


def test_jpki_check_without_its_pin_is_not_checked(trusting_rig, personas) -> None:
    """Asked for but without the JPKI PIN: the JPKI chain and genuine are not_checked, though
    the card chain verified, and nothing is sent to the JPKI AP."""
    persona = personas["yamada"]
    card = TrackingCard(SimulatedCard.from_persona(persona))
    trusting_rig.insert(card)
    info = trusting_rig.reader.read(persona.text_pin, checks=JPKI)
    assert (info.checks.card_chain, info.checks.jpki_chain) == (V, Genuine.NOT_CHECKED)
    assert info.genuine is Genuine.NOT_CHECKED
    assert not any(c.startswith(b"\x00\xa4\x04\x0c\x0a" + JPKI_AID) for c in card.commands)


def test_without_trust_the_chip_is_still_checked(rig, personas) -> None:
    """A reader with no trust configured still authenticates the chip (and catches a replay)
    but checks no chain, and sends no JPKI PIN even when one is given."""
    for key, present in (("yamada", True), ("yamada_replay", False)):
        persona = personas[key]
        card = TrackingCard(SimulatedCard.from_persona(persona))
        rig.insert(card)
        info = rig.reader.read(persona.text_pin, checks=JPKI, jpki_pin=persona.jpki_auth_pin)
        assert info.checks == CardChecks(chip_checked=True, chip_authenticated=present)
        assert [v for v in card.verifies if v[0] == JPKI_AID] == []


def test_garbled_responses_never_pass_as_genuine(trusting_rig, personas) -> None:
    """With every response garbled, a read with every check ends in MalformedCard or in
    results that are neither present nor genuine, never in 'verified'."""
    persona = personas["yamada"]
    sim = SimulatedCard.from_persona(persona)
    trusting_rig.insert(FaultyCard(sim, FaultPlan(corrupt=True)))
    try:
        info = trusting_rig.reader.read(
            persona.text_pin, checks=JPKI, jpki_pin=persona.jpki_auth_pin
        )
    except MalformedCard:
        pass
    else:
        assert not info.chip_authenticated and info.genuine is not V
    assert (sim.tries_left(TEXT_PIN), sim.tries_left(JPKI_PIN)) == (3, 3)
