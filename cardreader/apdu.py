"""Command APDU builders and the one place where status words become errors.

Only the short ISO 7816-4 forms the My Number card is known to accept (spec §1.2, §2.2, §4.2)
are built here. Every response goes through :meth:`Response.expect` (or
:meth:`Response.tries_left` for the free PIN query) so that the mapping from status words to
:class:`~cardreader.errors.CardError` lives in exactly one table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cardreader.errors import (
    CardError,
    JpkiPinLocked,
    JpkiWrongPin,
    MalformedCard,
    PinLocked,
    WrongPin,
)
from cardreader.transport import CardTransport

SW_OK = 0x9000
SW_FILE_NOT_FOUND = 0x6A82
SW_PIN_BLOCKED = 0x6984
SW_AUTH_METHOD_BLOCKED = 0x6983

MAX_SHORT_LE = 256
MAX_OFFSET = 0x7FFF


def select_application(aid: bytes) -> bytes:
    """SELECT DF by name with P2=0C (no FCI), the form every known reader uses."""
    if not 1 <= len(aid) <= 16:
        raise ValueError("an AID is 1 to 16 bytes")
    return bytes([0x00, 0xA4, 0x04, 0x0C, len(aid)]) + aid


def select_file(fid: int) -> bytes:
    """SELECT EF by file id under the current DF, P2=0C (no FCI)."""
    if not 0 <= fid <= 0xFFFF:
        raise ValueError("a file id is two bytes")
    return bytes([0x00, 0xA4, 0x02, 0x0C, 0x02, fid >> 8, fid & 0xFF])


def read_binary(offset: int, length: int) -> bytes:
    """READ BINARY of the current EF; ``length`` 1..256 (256 is encoded as Le=00)."""
    if not 0 <= offset <= MAX_OFFSET:
        raise ValueError("READ BINARY offsets are 15 bits")
    if not 1 <= length <= MAX_SHORT_LE:
        raise ValueError("short READ BINARY reads 1 to 256 bytes")
    return bytes([0x00, 0xB0, offset >> 8, offset & 0xFF, length & 0xFF])


def query_pin_tries() -> bytes:
    """VERIFY without data (case 1): asks for the remaining tries without using one."""
    return bytes([0x00, 0x20, 0x00, 0x80])


def verify_pin(pin: bytes) -> bytes:
    """VERIFY the PIN of the currently selected IEF (P2=80)."""
    if not 1 <= len(pin) <= 16:
        raise ValueError("VERIFY data is 1 to 16 bytes")
    return bytes([0x00, 0x20, 0x00, 0x80, len(pin)]) + pin


def compute_signature(digest_info: bytes, *, key_p2: int) -> bytes:
    """COMPUTE DIGITAL SIGNATURE ``80 2A 00 P2 Lc <digest_info> 00`` (spec 2.7, 4.3).

    P1 ``00``: the card pads ``digest_info`` (a DigestInfo the host built) as given. P2
    ``00`` signs with the application's own key (the Text AP's challenge key), ``80`` with
    the key EF selected before (JPKI ``0017``). Le ``00``: the 256-byte signature.
    """
    if not 1 <= len(digest_info) <= 245:
        raise ValueError("the data to sign is 1 to 245 bytes")
    if key_p2 not in (0x00, 0x80):
        raise ValueError("P2 is 00 (own key) or 80 (selected key)")
    return bytes([0x80, 0x2A, 0x00, key_p2, len(digest_info)]) + digest_info + b"\x00"


def get_response(length: int) -> bytes:
    """GET RESPONSE after a 61xx status (``length`` 0 means 256)."""
    return bytes([0x00, 0xC0, 0x00, 0x00, length & 0xFF])


@dataclass(frozen=True)
class PinErrors:
    """The errors a PIN's status words mean: one PIN's are never reported as another's."""

    wrong: Callable[[int], CardError]
    locked: Callable[[], CardError]


TEXT_PIN = PinErrors(WrongPin, PinLocked)
JPKI_AUTH_PIN = PinErrors(JpkiWrongPin, JpkiPinLocked)


@dataclass(frozen=True, repr=False)
class Response:
    """A response APDU split into ``data`` and the status word ``sw`` (SW1 << 8 | SW2)."""

    data: bytes
    sw: int

    @classmethod
    def parse(cls, raw: bytes) -> Response:
        """Split a raw response; fewer than two bytes is not a response at all."""
        if len(raw) < 2:
            raise MalformedCard("response shorter than a status word")
        return cls(bytes(raw[:-2]), (raw[-2] << 8) | raw[-1])

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    def expect(
        self,
        *,
        pin: bool | PinErrors = False,
        not_found: type[CardError] = MalformedCard,
        otherwise: type[CardError] = MalformedCard,
    ) -> bytes:
        """Return ``data`` when the command succeeded, else raise the error the SW means.

        ``pin`` says the command was a VERIFY, so 63Cx / 6983 / 6984 speak about the PIN:
        ``True`` for the Text AP PIN, or the :class:`PinErrors` of another PIN.
        ``not_found`` is what 6A82 means to the caller (an unknown application is a foreign
        card, a missing EF inside a known application is a malformed card) and ``otherwise``
        is what any other unexpected status means.
        """
        if self.sw == SW_OK:
            return self.data
        if pin:
            errors = TEXT_PIN if pin is True else pin
            if self.sw1 == 0x63 and self.sw2 & 0xF0 == 0xC0:
                tries = self.sw2 & 0x0F
                # 63C0 answers the attempt that used up the last try: the card is locked now.
                if tries == 0:
                    raise errors.locked()
                raise errors.wrong(tries)
            if self.sw in (SW_PIN_BLOCKED, SW_AUTH_METHOD_BLOCKED):
                raise errors.locked()
        if self.sw == SW_FILE_NOT_FOUND:
            raise not_found(f"card answered {self.sw:04X}")
        raise otherwise(f"card answered {self.sw:04X}")

    def tries_left(self, pin: PinErrors = TEXT_PIN) -> int:
        """The remaining tries reported by a PIN query (63Cx), or the error the SW means."""
        if self.sw1 == 0x63 and self.sw2 & 0xF0 == 0xC0:
            return self.sw2 & 0x0F
        self.expect(pin=pin)
        # 9000 to a query is tolerated by some readers (spec §3, UNCONFIRMED for this card); a
        # kiosk that cannot count the tries must not risk a VERIFY, so it is an unusable card.
        raise MalformedCard("card did not report its remaining PIN tries")

    def __repr__(self) -> str:
        # The data may be personal; the length is all a log needs.
        return f"Response(sw={self.sw:04X}, data=<{len(self.data)} bytes>)"


def exchange(transport: CardTransport, command: bytes) -> Response:
    """Send ``command`` and return its response, following 61xx and 6Cxx as ISO 7816-4 asks.

    The card is not known to emit either (spec §6, UNCONFIRMED), so on a well-behaved card
    this costs nothing; on one that does, it keeps the reader correct.
    """
    response = Response.parse(transport.transmit(command))
    if response.sw1 == 0x6C and len(command) == 5:
        # Wrong Le: the card tells us the right one; resend once with it.
        response = Response.parse(transport.transmit(command[:4] + bytes([response.sw2])))
    if response.sw1 != 0x61:
        return response
    data = response.data
    while response.sw1 == 0x61:
        response = Response.parse(transport.transmit(get_response(response.sw2)))
        data += response.data
    return Response(data, response.sw)
