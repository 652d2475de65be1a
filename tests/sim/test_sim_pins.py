"""Retry counters persist (a lock stays a lock); security status is volatile."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable
from pathlib import Path

import pytest

from hardware_sim.card import PIN_JPKI_AUTH, PIN_TEXT, PinStateStore, SimulatedCard
from hardware_sim.personas import Persona
from tests.sim.apdu import JPKI_AID, TEXT_AID, apdu, select_aid, select_ef, sw, verify


def _text_pin(card: SimulatedCard) -> None:
    select_aid(card, TEXT_AID)
    select_ef(card, 0x0011)


def test_counter_persists_across_instances(
    personas: dict[str, Persona], store: PinStateStore
) -> None:
    """A wrong PIN on one SimulatedCard is still counted by a new instance on the same store."""
    first = SimulatedCard.from_persona(personas["yamada"], store)
    _text_pin(first)
    assert sw(verify(first, "0000")) == "63C2"
    second = SimulatedCard.from_persona(personas["yamada"], PinStateStore(store.path))
    _text_pin(second)
    assert sw(apdu(second, "00200080")) == "63C2"
    assert json.loads(store.path.read_text())[personas["yamada"].card_serial]["0011"] == 2


def test_lock_stays_a_lock(personas: dict[str, Persona], store: PinStateStore) -> None:
    """A card locked in one session answers 6984 in the next, even to the right PIN."""
    card = SimulatedCard.from_persona(personas["yamada"], store)
    _text_pin(card)
    for _ in range(3):
        verify(card, "0000")
    again = SimulatedCard.from_persona(personas["yamada"], store)
    again.reset()
    _text_pin(again)
    assert sw(verify(again, "1234")) == "6984"


def test_initial_tries_come_from_the_persona(
    make_card: Callable[[str], SimulatedCard],
) -> None:
    """tanaka starts with one try left, ito starts locked."""
    tanaka, ito = make_card("tanaka"), make_card("ito")
    _text_pin(tanaka)
    assert sw(apdu(tanaka, "00200080")) == "63C1"
    _text_pin(ito)
    assert sw(apdu(ito, "00200080")) == "63C0"
    assert sw(verify(ito, "0303")) == "6984"


def test_counters_are_independent(yamada: SimulatedCard) -> None:
    """A wrong Text PIN does not touch the JPKI auth PIN counter."""
    _text_pin(yamada)
    verify(yamada, "0000")
    assert yamada.tries == {0x11: 2, 0x12: 0, 0x14: 10, 0x15: 10, 0x18: 3, 0x1B: 5}


def test_set_tries_for_staff_training(yamada: SimulatedCard, store: PinStateStore) -> None:
    """set_tries changes the counter the card reports, persistently; bad values are refused."""
    yamada.set_tries(PIN_TEXT, 0)
    _text_pin(yamada)
    assert sw(apdu(yamada, "00200080")) == "63C0"
    assert store.get(yamada.serial, PIN_TEXT) == 0
    yamada.set_tries(PIN_TEXT, 3)
    assert sw(verify(yamada, "1234")) == "9000"
    with pytest.raises(ValueError):
        yamada.set_tries(PIN_JPKI_AUTH, 4)


def test_card_without_store_keeps_counters_in_memory(personas: dict[str, Persona]) -> None:
    """Without a store the counters live in the card object."""
    card = SimulatedCard.from_persona(personas["yamada"])
    _text_pin(card)
    verify(card, "0000")
    assert card.tries_left(PIN_TEXT) == 2


def test_security_cleared_on_application_change(yamada: SimulatedCard) -> None:
    """After VERIFY in the Text AP, selecting the JPKI AP and back requires VERIFY again."""
    _text_pin(yamada)
    verify(yamada, "1234")
    select_ef(yamada, 0x0001)
    assert sw(apdu(yamada, "00B0000001")) == "9000"
    select_aid(yamada, JPKI_AID)
    select_aid(yamada, TEXT_AID)
    select_ef(yamada, 0x0001)
    assert sw(apdu(yamada, "00B0000001")) == "6982"


def test_security_cleared_on_reset(yamada: SimulatedCard) -> None:
    """reset() drops the security status and the selection."""
    _text_pin(yamada)
    verify(yamada, "1234")
    yamada.reset()
    assert sw(apdu(yamada, "00B0000001")) == "6986"
    select_aid(yamada, TEXT_AID)
    select_ef(yamada, 0x0001)
    assert sw(apdu(yamada, "00B0000001")) == "6982"


def _decrement(path: str, serial: str, rounds: int) -> None:
    store = PinStateStore(path)
    for _ in range(rounds):
        with store._locked():
            data = store._read()
            data.setdefault(serial, {})["0011"] = data.get(serial, {}).get("0011", 0) + 1
            store._write(data)


def test_store_is_safe_for_concurrent_processes(tmp_path: Path) -> None:
    """Two processes doing read-modify-write under the store lock lose no update."""
    path = str(tmp_path / "shared.json")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_decrement, args=(path, "card", 25)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    assert PinStateStore(path).get("card", 0x0011) == 50
    assert not list(tmp_path.glob("*.tmp"))
