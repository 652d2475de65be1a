"""Contract tests of the card reader, run over the direct transport and over pcscd + vpcd."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cardreader.apdu import query_pin_tries
from cardreader.errors import (
    BadPinFormat,
    MalformedCard,
    NoCard,
    NotMyNumberCard,
    PinLocked,
    PinWouldLock,
    WrongPin,
)
from cardreader.model import CardChecksWanted, Integrity, Sex
from hardware_sim.card import SimulatedCard
from hardware_sim.personas import Persona

from .conftest import CountingCard, ForeignCard, TamperingCard

PIN_IEF = 0x0011
VERIFY_WITH_DATA = b"\x00\x20\x00\x80\x04"


def _verifies(card: CountingCard) -> list[bytes]:
    return [c for c in card.commands if c.startswith(VERIFY_WITH_DATA)]


@pytest.mark.parametrize(
    "key", ["yamada", "takahashi", "yoshida", "smith", "sato", "suzuki", "watanabe", "kobayashi"]
)
def test_reads_the_basic_four(rig, make_card, personas: dict[str, Persona], key: str) -> None:
    """The basic four items come back exactly as on the persona's card, integrity verified."""
    persona = personas[key]
    rig.insert(make_card(key))
    info = rig.reader.read(persona.text_pin)
    assert info.name == persona.name
    family, _, given = persona.name.partition("\u3000")
    assert (info.family_name, info.given_name) == (family, given)
    assert info.address == persona.address
    assert info.birth_date == persona.birth_date
    assert info.sex == Sex.from_card_code(persona.sex_code)
    assert info.integrity is Integrity.VERIFIED
    assert info.individual_number is None


def test_basic_four_read_never_touches_the_number(rig, make_card, personas) -> None:
    """Without with_number, EF 0001 is never selected; the read uses 12 APDUs without the
    genuine-card checks and 17 with the default chip check."""
    card = make_card("yamada")
    rig.insert(card)
    rig.reader.read(personas["yamada"].text_pin, checks=CardChecksWanted.none())
    assert b"\x00\xa4\x02\x0c\x02\x00\x01" not in card.commands
    assert len(card.commands) == 12
    card.commands.clear()
    rig.reader.read(personas["yamada"].text_pin)
    assert b"\x00\xa4\x02\x0c\x02\x00\x01" not in card.commands
    assert len(card.commands) == 17


@pytest.mark.parametrize("key", ["yamada", "watanabe", "suzuki"])
def test_reads_the_number_only_when_asked(rig, make_card, personas, key: str) -> None:
    """with_number=True adds the individual number and DF31 is verified too."""
    persona = personas[key]
    rig.insert(make_card(key))
    info = rig.reader.read(persona.text_pin, with_number=True)
    assert info.individual_number == persona.individual_number
    assert info.integrity is Integrity.VERIFIED
    assert persona.individual_number not in repr(info)


def test_wrong_pin_then_right_pin(rig, make_card, personas) -> None:
    """A wrong PIN reports two tries left; the right one then reads and restores three."""
    card = make_card("yamada")
    rig.insert(card)
    with pytest.raises(WrongPin) as caught:
        rig.reader.read("0000")
    assert caught.value.tries_left == 2
    assert card.tries_left(PIN_IEF) == 2
    assert rig.reader.pin_tries_left() == 2
    assert rig.reader.read(personas["yamada"].text_pin).family_name == "山田"
    assert card.tries_left(PIN_IEF) == 3


@pytest.mark.parametrize("pin", ["6060", "0000"])
def test_one_try_left_refuses_to_send_the_pin(rig, make_card, pin: str) -> None:
    """With one try left the PIN (right or wrong) is not sent and the counter stays at 1."""
    card = make_card("tanaka")
    rig.insert(card)
    with pytest.raises(PinWouldLock) as caught:
        rig.reader.read(pin)
    assert caught.value.tries_left == 1
    assert _verifies(card) == []
    assert query_pin_tries() in card.commands
    assert card.tries_left(PIN_IEF) == 1
    assert rig.reader.pin_tries_left() == 1


def test_locked_card_reports_pin_locked(rig, make_card, personas) -> None:
    """A card whose Text PIN is blocked raises PinLocked without a VERIFY."""
    card = make_card("ito")
    rig.insert(card)
    with pytest.raises(PinLocked):
        rig.reader.read(personas["ito"].text_pin)
    assert _verifies(card) == []
    assert rig.reader.pin_tries_left() == 0


def test_two_wrong_pins_stop_at_one_try(rig, make_card) -> None:
    """Two wrong PINs leave one try; the third attempt is refused, never locking the card."""
    card = make_card("yamada")
    rig.insert(card)
    for expected in (2, 1):
        with pytest.raises(WrongPin) as caught:
            rig.reader.read("9876")
        assert caught.value.tries_left == expected
    with pytest.raises(PinWouldLock):
        rig.reader.read("9876")
    assert card.tries_left(PIN_IEF) == 1


def test_foreign_card_is_not_a_my_number_card(rig) -> None:
    """A card that has no Text AP raises NotMyNumberCard after one SELECT, and no VERIFY."""
    card = ForeignCard()
    rig.insert(card)
    with pytest.raises(NotMyNumberCard):
        rig.reader.read("1234")
    assert len(card.commands) == 1
    with pytest.raises(NotMyNumberCard):
        rig.reader.pin_tries_left()


@pytest.mark.parametrize("pin", ["123", "12345", "12a4", "１２３４", "1234\n", " 1234", ""])
def test_bad_pin_format_never_reaches_the_card(rig, make_card, pin: str) -> None:
    """A PIN that is not four ASCII digits raises BadPinFormat and sends no APDU at all."""
    card = make_card("yamada")
    rig.insert(card)
    with pytest.raises(BadPinFormat):
        rig.reader.read(pin)
    assert card.commands == []
    assert card.tries_left(PIN_IEF) == 3


def _flip_sex(data: bytes, offset: int) -> bytes:
    at = data.find(b"\xdf\x25\x01")
    if at < 0:
        return data
    return data[: at + 3] + (b"2" if data[at + 3 : at + 4] == b"1" else b"1") + data[at + 4 :]


def _flip_signature(data: bytes, offset: int) -> bytes:
    # The last byte of EF 0003 is the last byte of the DF33 signature.
    return data[:-1] + bytes([data[-1] ^ 0x01]) if offset > 0 else data


def _break_offsets(data: bytes, offset: int) -> bytes:
    at = data.find(b"\xdf\x21\x08")
    return data if at < 0 or offset else data[: at + 4] + b"\x77" + data[at + 5 :]


@pytest.mark.parametrize(
    ("fid", "edit", "outcome"),
    [
        (0x0002, _flip_sex, Integrity.DIGEST_MISMATCH),
        (0x0003, _flip_signature, Integrity.SIGNATURE_INVALID),
        (0x0002, _break_offsets, MalformedCard),
    ],
    ids=["ef0002-data", "ef0003-signature", "ef0002-offsets"],
)
def test_tampered_card_is_detected(
    rig, personas, fid: int, edit: Callable[[bytes, int], bytes], outcome: object
) -> None:
    """Altered data gives digest_mismatch, an altered signature signature_invalid, bad
    offsets MalformedCard."""
    card = TamperingCard(SimulatedCard.from_persona(personas["yamada"]), fid, edit)
    rig.insert(card)
    if isinstance(outcome, Integrity):
        assert rig.reader.read(personas["yamada"].text_pin).integrity is outcome
    else:
        with pytest.raises(MalformedCard):
            rig.reader.read(personas["yamada"].text_pin)


def test_status_and_empty_reader(rig, make_card, personas) -> None:
    """status() reports the reader and the card; with no card, operations raise NoCard."""
    rig.insert(make_card("yamada"))
    status = rig.reader.status()
    assert status.reader_present and status.card_present and status.reader_name
    rig.remove()
    assert rig.reader.status().card_present is False
    with pytest.raises(NoCard):
        rig.reader.read(personas["yamada"].text_pin)
    with pytest.raises(NoCard):
        rig.reader.pin_tries_left()
