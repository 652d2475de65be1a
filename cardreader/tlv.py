"""A small BER-TLV reader for the My Number card's private-class records.

It is deliberately strict: definite lengths only (short form, 81 xx, 82 xx xx), and every
object must fit inside the bytes it was found in. Anything else is :class:`MalformedCard`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cardreader.errors import MalformedCard


@dataclass(frozen=True)
class Tlv:
    """One BER-TLV object located in a buffer: ``tag`` and absolute offsets into that buffer."""

    tag: int
    start: int
    value_start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.value_start

    def value(self, buf: bytes) -> bytes:
        return buf[self.value_start : self.end]


def parse_header(buf: bytes, pos: int = 0) -> tuple[int, int, int]:
    """Parse tag and length at ``pos``; return ``(tag, value_start, value_length)``.

    Only the header must be inside ``buf``; the value may still be unread, which is how a
    caller learns how much more of an EF to read.
    """
    try:
        first = buf[pos]
        tag = first
        pos += 1
        if first & 0x1F == 0x1F:
            # Multi-byte tag: subsequent bytes while bit 8 is set (FF20, DF21, 5F4E, 7F21 ...).
            while True:
                if tag > 0xFFFFFF:
                    raise MalformedCard("tag longer than 4 bytes")
                byte = buf[pos]
                pos += 1
                tag = (tag << 8) | byte
                if not byte & 0x80:
                    break
        first_len = buf[pos]
        pos += 1
        if first_len < 0x80:
            return tag, pos, first_len
        if first_len == 0x81:
            length = buf[pos]
            if length < 0x80:
                raise MalformedCard("non-minimal BER length")
            return tag, pos + 1, length
        if first_len == 0x82:
            length = (buf[pos] << 8) | buf[pos + 1]
            if length < 0x100:
                raise MalformedCard("non-minimal BER length")
            return tag, pos + 2, length
    except IndexError as e:
        raise MalformedCard("truncated BER-TLV header") from e
    raise MalformedCard("unsupported BER length form")


def parse_one(buf: bytes, pos: int = 0, limit: int | None = None) -> Tlv:
    """Parse the complete object at ``pos``; its value must end at or before ``limit``."""
    limit = len(buf) if limit is None else limit
    tag, value_start, length = parse_header(buf[:limit], pos)
    end = value_start + length
    if end > limit:
        raise MalformedCard("BER-TLV value runs past its container")
    return Tlv(tag, pos, value_start, end)


def parse_children(buf: bytes, parent: Tlv) -> list[Tlv]:
    """Parse the objects that exactly fill ``parent``'s value."""
    children = []
    pos = parent.value_start
    while pos < parent.end:
        child = parse_one(buf, pos, parent.end)
        children.append(child)
        pos = child.end
    return children


def children_by_tag(buf: bytes, parent: Tlv, wanted: tuple[int, ...]) -> dict[int, Tlv]:
    """Children of ``parent`` keyed by tag; each wanted tag exactly once, unknown tags ignored."""
    found: dict[int, Tlv] = {}
    for child in parse_children(buf, parent):
        if child.tag in found:
            raise MalformedCard(f"tag {child.tag:X} appears twice")
        found[child.tag] = child
    missing = [tag for tag in wanted if tag not in found]
    if missing:
        raise MalformedCard(f"tag {missing[0]:X} is missing")
    return found
