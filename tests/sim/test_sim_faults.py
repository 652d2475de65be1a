"""Fault injection in-process (FaultyCard) and over the vpcd socket protocol."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from hardware_sim.card import ATR, SimulatedCard
from hardware_sim.faults import FaultPlan, FaultyCard
from hardware_sim.vpcd import VirtualCardClient
from tests.sim.apdu import JPKI_AID, TEXT_AID, apdu, select_aid, select_ef, sw
from tests.sim.fake_vpcd import FakeVpcd
from tests.support.waiting import wait_until

SELECT_TEXT = bytes.fromhex("00A4040C0A" + TEXT_AID)


def test_remove_after_n_raises_connection_error(yamada: SimulatedCard) -> None:
    """With remove_after=2 two APDUs are answered and the third raises ConnectionError."""
    card = FaultyCard(yamada, FaultPlan(remove_after=2))
    assert sw(card.process_apdu(SELECT_TEXT)) == "9000"
    assert sw(card.process_apdu(SELECT_TEXT)) == "9000"
    with pytest.raises(ConnectionError):
        card.process_apdu(SELECT_TEXT)
    with pytest.raises(ConnectionError):
        card.reset()
    assert card.removed
    assert card.reinsert() == ATR
    assert sw(card.process_apdu(SELECT_TEXT)) == "9000"


def test_corrupt_flips_data_but_not_status(yamada: SimulatedCard) -> None:
    """corrupt=True changes the data part of a response and keeps SW1 SW2."""
    card = FaultyCard(yamada, FaultPlan(corrupt=True))
    assert card.process_apdu(SELECT_TEXT) == b"\x90\x00"
    select_aid(yamada, JPKI_AID)
    select_ef(yamada, 0x0008)
    assert card.process_apdu(bytes.fromhex("00B0000003")) == bytes.fromhex("8F7000 9000")


def test_delay_and_runtime_clear(yamada: SimulatedCard) -> None:
    """delay_s slows every answer until cleared at run time."""
    plan = FaultPlan(delay_s=0.2)
    card = FaultyCard(yamada, plan)
    start = time.monotonic()
    card.process_apdu(SELECT_TEXT)
    assert time.monotonic() - start >= 0.2
    plan.clear()
    start = time.monotonic()
    card.process_apdu(SELECT_TEXT)
    assert time.monotonic() - start < 0.2


def test_hang_blocks_until_cleared(yamada: SimulatedCard) -> None:
    """hang=True stops answering; clearing it lets the pending APDU complete."""
    plan = FaultPlan(hang=True)
    card = FaultyCard(yamada, plan)
    results: list[bytes] = []
    worker = threading.Thread(target=lambda: results.append(card.process_apdu(SELECT_TEXT)))
    worker.start()
    worker.join(0.3)
    assert worker.is_alive() and not results
    plan.hang = False
    worker.join(5)
    assert results == [b"\x90\x00"]


def test_hang_then_pull_raises(yamada: SimulatedCard) -> None:
    """Pulling a hung card makes the pending APDU raise ConnectionError."""
    card = FaultyCard(yamada, FaultPlan(hang=True))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            card.process_apdu(SELECT_TEXT)
        except ConnectionError as e:
            errors.append(e)

    worker = threading.Thread(target=run)
    worker.start()
    card.remove()
    worker.join(5)
    assert len(errors) == 1


def test_fault_plan_rejects_unknown_settings() -> None:
    """FaultPlan.set refuses a misspelt setting."""
    with pytest.raises(TypeError):
        FaultPlan().set(hung=True)


@pytest.fixture
def fake_vpcd() -> Iterator[FakeVpcd]:
    """A listening fake vpcd driver socket."""
    server = FakeVpcd()
    yield server
    server.close()


def test_vpcd_protocol_atr_power_and_apdus(fake_vpcd: FakeVpcd, yamada: SimulatedCard) -> None:
    """Over the vpcd protocol: ATR on 04, APDUs answered, power-off resets security status."""
    with VirtualCardClient(port=fake_vpcd.port) as client:
        client.insert(yamada)
        fake_vpcd.accept()
        assert client.inserted
        assert fake_vpcd.control(4) == ATR
        fake_vpcd.control(1)
        assert fake_vpcd.transmit(SELECT_TEXT) == b"\x90\x00"
        fake_vpcd.transmit(bytes.fromhex("00A4020C020011"))
        assert fake_vpcd.transmit(bytes.fromhex("002000800431323334")) == b"\x90\x00"
        fake_vpcd.transmit(bytes.fromhex("00A4020C020001"))
        assert sw(fake_vpcd.transmit(bytes.fromhex("00B0000011")) or b"") == "9000"
        fake_vpcd.control(0)
        fake_vpcd.control(1)
        assert fake_vpcd.transmit(bytes.fromhex("00B0000011")) == b"\x69\x86"
        client.remove()
        assert not client.inserted
        assert fake_vpcd.transmit(SELECT_TEXT) is None


def test_vpcd_remove_after_closes_socket(fake_vpcd: FakeVpcd, yamada: SimulatedCard) -> None:
    """A remove_after fault over vpcd closes the connection instead of answering."""
    client = VirtualCardClient(port=fake_vpcd.port, faults=FaultPlan(remove_after=1))
    try:
        client.insert(yamada)
        fake_vpcd.accept()
        assert fake_vpcd.transmit(SELECT_TEXT) == b"\x90\x00"
        assert fake_vpcd.transmit(SELECT_TEXT) is None
        wait_until(lambda: not client.inserted, message="the card leaving the reader")
        fake_vpcd.drop_client()
        client.insert(yamada)
        fake_vpcd.accept()
        assert fake_vpcd.control(4) == ATR
    finally:
        client.close()


def test_vpcd_corrupt_and_pulled_faulty_card(fake_vpcd: FakeVpcd, yamada: SimulatedCard) -> None:
    """Corruption applies over vpcd; a FaultyCard pulled in-process also ends the connection."""
    faulty = FaultyCard(yamada, FaultPlan(remove_after=1))
    client = VirtualCardClient(port=fake_vpcd.port, faults=FaultPlan(corrupt=True))
    try:
        client.insert(faulty)
        fake_vpcd.accept()
        select_aid(yamada, JPKI_AID)
        select_ef(yamada, 0x0008)
        assert fake_vpcd.transmit(bytes.fromhex("00B0000003")) == bytes.fromhex("8F7000 9000")
        assert fake_vpcd.transmit(bytes.fromhex("00B0000003")) is None
    finally:
        client.close()
    assert sw(apdu(yamada, "00B0000003")) == "9000"
