"""A minimal BER-TLV encoder for the simulated card's files.

Deliberately independent of ``cardreader``: the simulator encodes what the spec says, the
reader parses it, and a mistake on either side shows up as a failing test instead of being
shared by both.
"""

from __future__ import annotations


def encode_length(length: int) -> bytes:
    """Encode a BER definite length: short form below 128, else ``81 xx`` / ``82 xx xx``."""
    if length < 0 or length > 0xFFFF:
        raise ValueError(f"length {length} out of range for this card")
    if length < 0x80:
        return bytes([length])
    if length <= 0xFF:
        return bytes([0x81, length])
    return bytes([0x82, length >> 8, length & 0xFF])


def tlv(tag: int, value: bytes) -> bytes:
    """Encode one TLV; ``tag`` is given as its full byte string read as an integer (``0xDF21``)."""
    tag_bytes = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    return tag_bytes + encode_length(len(value)) + value
