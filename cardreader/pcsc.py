"""PC/SC transport through pyscard (pcscd and whatever reader driver it has, vpcd included).

This is the only module that imports pyscard for card I/O; every pyscard exception is wrapped
here into a :class:`~cardreader.errors.CardError` (``raise ... from e``):

* no pcscd, no reader, reader gone               -> :class:`ReaderUnavailable`
* reader present but empty                       -> :class:`NoCard`
* card removed or reset by someone else mid-use  -> :class:`CardRemoved`
"""

from __future__ import annotations

from smartcard.Exceptions import NoCardException, SmartcardException
from smartcard.pcsc.PCSCCardConnection import PCSCCardConnection
from smartcard.pcsc.PCSCExceptions import BaseSCardException
from smartcard.pcsc.PCSCReader import PCSCReader
from smartcard.scard import (
    SCARD_E_NO_READERS_AVAILABLE,
    SCARD_E_NO_SERVICE,
    SCARD_E_NO_SMARTCARD,
    SCARD_E_READER_UNAVAILABLE,
    SCARD_E_SERVICE_STOPPED,
    SCARD_E_UNKNOWN_READER,
    SCARD_LEAVE_CARD,
    SCARD_RESET_CARD,
    SCARD_S_SUCCESS,
    SCARD_SCOPE_USER,
    SCARD_STATE_PRESENT,
    SCARD_STATE_UNAWARE,
    SCardEstablishContext,
    SCardGetStatusChange,
    SCardReleaseContext,
)

from cardreader.errors import CardError, CardRemoved, NoCard, ReaderUnavailable


def _code(value: int) -> int:
    # pyscard reports HRESULTs as signed or unsigned ints depending on the call.
    return value & 0xFFFFFFFF


_READER_GONE = {
    _code(c)
    for c in (
        SCARD_E_NO_SERVICE,
        SCARD_E_SERVICE_STOPPED,
        SCARD_E_READER_UNAVAILABLE,
        SCARD_E_UNKNOWN_READER,
        SCARD_E_NO_READERS_AVAILABLE,
    )
}


def _hresult(error: Exception) -> int:
    return _code(getattr(error, "hresult", -1))


def list_readers() -> list[str]:
    """Names of the PC/SC readers pcscd knows, in pcscd's order.

    Raises :class:`ReaderUnavailable` when pcscd cannot be reached. An empty list means
    pcscd runs but has no reader.
    """
    try:
        return [str(reader) for reader in PCSCReader.readers()]
    except (SmartcardException, BaseSCardException) as e:
        raise ReaderUnavailable("PC/SC service unavailable") from e


def find_reader(reader_substring: str = "") -> str:
    """The first reader whose name contains ``reader_substring`` (any reader for "").

    Raises :class:`ReaderUnavailable` when there is none.
    """
    for name in list_readers():
        if reader_substring in name:
            return name
    raise ReaderUnavailable(f"no reader matching {reader_substring!r}")


def card_present(reader_name: str) -> bool:
    """Whether ``reader_name`` holds a card, without powering or resetting it.

    Raises :class:`ReaderUnavailable` when pcscd or the reader is gone.
    """
    return card_presence(reader_name)[0]


def card_presence(reader_name: str) -> tuple[bool, int]:
    """Whether ``reader_name`` holds a card, and the reader's card event count, without
    powering or resetting the card.

    The count is pcsc-lite's (and Windows') event counter, the upper 16 bits of
    ``dwEventState``: pcscd adds one each time it sees a card arrive or leave, so a card that
    was taken away and put back (or swapped for another) never has the count it had before.
    It wraps at 65536 and starts again when pcscd restarts. Raises :class:`ReaderUnavailable`
    when pcscd or the reader is gone.
    """
    hresult, context = SCardEstablishContext(SCARD_SCOPE_USER)
    if hresult != SCARD_S_SUCCESS:
        raise ReaderUnavailable("PC/SC service unavailable")
    try:
        hresult, states = SCardGetStatusChange(context, 0, [(reader_name, SCARD_STATE_UNAWARE)])
        if hresult != SCARD_S_SUCCESS or not states:
            raise ReaderUnavailable(f"reader {reader_name!r} is not available")
        event_state = states[0][1]
        return bool(event_state & SCARD_STATE_PRESENT), (event_state >> 16) & 0xFFFF
    finally:
        SCardReleaseContext(context)


class PcscTransport:
    """:class:`~cardreader.transport.CardTransport` over one pyscard connection.

    Open it with :meth:`connect`; :meth:`close` disconnects with SCARD_RESET_CARD so the PIN's
    security status never outlives the operation.
    """

    def __init__(self, connection: PCSCCardConnection, reader_name: str) -> None:
        # Use connect(); this takes an already connected pyscard connection.
        self._connection = connection
        self.reader_name = reader_name
        self._lost = False

    @classmethod
    def connect(cls, reader_substring: str = "") -> PcscTransport:
        """Connect (shared) to the card in the first reader whose name contains the substring.

        Raises :class:`ReaderUnavailable` (no pcscd / no such reader) or :class:`NoCard`.
        """
        name = find_reader(reader_substring)
        try:
            connection = PCSCCardConnection(name)
        except (SmartcardException, BaseSCardException) as e:
            raise ReaderUnavailable("PC/SC service unavailable") from e
        try:
            # The disposition given here is what disconnect() uses: reset, so a verified PIN
            # does not linger for the next program that connects.
            connection.connect(disposition=SCARD_RESET_CARD)
        except NoCardException as e:
            _release(connection)
            raise NoCard("no card in the reader") from e
        except (SmartcardException, BaseSCardException) as e:
            _release(connection)
            raise _wrap(e, connecting=True) from e
        return cls(connection, name)

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU; raises :class:`CardRemoved` / :class:`ReaderUnavailable`."""
        try:
            data, sw1, sw2 = self._connection.transmit(list(apdu))
        except (SmartcardException, BaseSCardException) as e:
            self._lost = True
            raise _wrap(e, connecting=False) from e
        return bytes(data) + bytes((sw1, sw2))

    def close(self) -> None:
        """Disconnect with SCARD_RESET_CARD and release the PC/SC context. Never raises."""
        if self._lost:
            # The card's session is already gone (and with it any PIN status). Asking the
            # driver to reset a card that left wedges some drivers (vpcd stops seeing new
            # cards until the process exits), so leave it.
            self._connection.disposition = SCARD_LEAVE_CARD
        _release(self._connection)


def _wrap(error: Exception, *, connecting: bool) -> CardError:
    code = _hresult(error)
    if code in _READER_GONE:
        return ReaderUnavailable("reader became unavailable")
    if connecting and code == _code(SCARD_E_NO_SMARTCARD):
        return NoCard("no card in the reader")
    if connecting:
        # Sharing violation, unresponsive card and the like: the reader cannot serve us now.
        return ReaderUnavailable("could not connect to the card")
    # Removed, reset by another application, unpowered, or the link broke mid-APDU: in every
    # case the card's session (and its PIN status) is gone.
    return CardRemoved("card connection lost")


def _release(connection: PCSCCardConnection) -> None:
    for step in ("disconnect", "release"):
        try:
            getattr(connection, step)()
        except (SmartcardException, BaseSCardException):
            pass
