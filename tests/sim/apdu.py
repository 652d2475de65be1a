"""Sending APDUs to a simulated card in tests: hex in, bytes and status words out."""

from __future__ import annotations

from hardware_sim.card import SimulatedCard

TEXT_AID = "D3921000310001010408"
JPKI_AID = "D392F000260100000001"
SURFACE_AID = "D3921000310001010402"


def apdu(card: SimulatedCard, hex_command: str) -> bytes:
    """Send one APDU written in hex (spaces allowed) and return the response."""
    return card.process_apdu(bytes.fromhex(hex_command.replace(" ", "")))


def sw(response: bytes) -> str:
    """The status word of a response as four upper-case hex digits."""
    return response[-2:].hex().upper()


def select_aid(card: SimulatedCard, aid: str) -> bytes:
    """SELECT DF by name with P2=0C."""
    return apdu(card, f"00A4040C{len(aid) // 2:02X}{aid}")


def select_ef(card: SimulatedCard, fid: int) -> bytes:
    """SELECT EF under the current DF with P2=0C."""
    return apdu(card, f"00A4020C02{fid:04X}")


def verify(card: SimulatedCard, secret: str) -> bytes:
    """VERIFY the current IEF with an ASCII secret."""
    data = secret.encode("ascii")
    return card.process_apdu(bytes([0x00, 0x20, 0x00, 0x80, len(data)]) + data)


def read_all(card: SimulatedCard) -> bytes:
    """READ BINARY the current EF in 256-byte chunks until 6B00."""
    out = b""
    while True:
        r = card.process_apdu(bytes([0x00, 0xB0, len(out) >> 8, len(out) & 0xFF, 0x00]))
        if sw(r) == "6B00":
            return out
        assert sw(r) == "9000", sw(r)
        out += r[:-2]
