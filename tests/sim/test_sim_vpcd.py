"""The simulated card in the real PC/SC stack: raw pyscard -> pcscd -> vpcd -> simulator."""

from __future__ import annotations

import contextlib
import time

import pytest
from smartcard.CardConnection import CardConnection
from smartcard.Exceptions import CardConnectionException, NoCardException
from smartcard.System import readers

from hardware_sim.card import ATR, SimulatedCard
from hardware_sim.vpcd import VirtualCardClient
from tests.sim.apdu import TEXT_AID


def _connect(reader_name: str, timeout: float = 15.0) -> CardConnection:
    """Connect to the card in ``reader_name`` once pcscd has noticed it."""
    reader = next(r for r in readers() if str(r) == reader_name)
    deadline = time.monotonic() + timeout
    while True:
        connection = reader.createConnection()
        try:
            connection.connect()
            return connection
        except (NoCardException, CardConnectionException):
            connection.release()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _tx(connection: CardConnection, hex_command: str) -> str:
    data, sw1, sw2 = connection.transmit(list(bytes.fromhex(hex_command)))
    return bytes(data).hex().upper() + f"{sw1:02X}{sw2:02X}"


@pytest.mark.pcsc
def test_card_through_pcscd_removal_and_reinsert(
    pcscd: str, vpcd_port: int, yamada: SimulatedCard
) -> None:
    """pyscard reads the inserted card, raises after removal, and sees a fresh re-insert.

    Uses the second vpcd slot ("Virtual PCD 00 01", port + 1) so it cannot collide with the
    cardreader contract tests, which drive the first slot from the same pcscd.
    """
    reader_name = pcscd.replace("00 00", "00 01")
    with VirtualCardClient("127.0.0.1", vpcd_port + 1) as client:
        client.insert(yamada)
        connection = _connect(reader_name)
        try:
            assert bytes(connection.getATR()) == ATR
            assert _tx(connection, "00A4040C0A" + TEXT_AID) == "9000"
            assert _tx(connection, "00A4020C020011") == "9000"
            assert _tx(connection, "00200080") == "63C3"
            assert _tx(connection, "002000800431323334") == "9000"
            assert _tx(connection, "00A4020C020001") == "9000"
            number = _tx(connection, "00B0000011")
            assert number.startswith("FF100C") and number.endswith("FFFF9000")

            client.remove()
            assert not client.inserted
            with pytest.raises(CardConnectionException):
                _tx(connection, "00A4040C0A" + TEXT_AID)
        finally:
            with contextlib.suppress(CardConnectionException):
                connection.disconnect()
            connection.release()

        # vpcd only notices the removal on its next poll; wait for pcscd to see an empty slot.
        time.sleep(1.0)
        client.insert(yamada)
        connection = _connect(reader_name)
        try:
            assert _tx(connection, "00A4040C0A" + TEXT_AID) == "9000"
            assert _tx(connection, "00A4020C020001") == "9000"
            assert _tx(connection, "00B0000011") == "6982"
        finally:
            connection.disconnect()
            connection.release()
    assert yamada.tries_left(0x0011) == 3
