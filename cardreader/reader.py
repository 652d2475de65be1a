"""The reader-level service the application uses: one call per operation, nothing kept open.

Pick the implementation by configuration: :class:`PcscCardReader` for a real reader (and for
the simulator plugged into pcscd through vpcd), :class:`DirectCardReader` for a simulated card
in the same process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from cardreader import jpki, mynumber
from cardreader.direct import DirectTransport
from cardreader.errors import NoCard, ReaderUnavailable
from cardreader.model import DEFAULT_CHECKS, CardChecksWanted, CardInfo
from cardreader.pcsc import PcscTransport, card_presence, list_readers
from cardreader.transport import ApduProcessor, CardTransport
from cardreader.trust import NO_TRUST, CardTrust

T = TypeVar("T")


@dataclass(frozen=True)
class ReaderStatus:
    """What the kiosk screen needs to know before asking for a PIN.

    ``card_events`` counts the cards that arrived in and left the reader (PC/SC: pcscd's
    event counter): while the same card stays on the reader it does not change, and a card
    taken off and put back (or another card) always has a different count. None when the
    reader cannot tell. The visit workflow uses it so that a visit only ever reads a card
    placed after it began.
    """

    reader_name: str | None
    reader_present: bool
    card_present: bool
    card_events: int | None = None


class CardReader(Protocol):
    """One card reader as the application sees it.

    Each method is one complete operation: it connects, talks to the card and disconnects
    with a reset, so no PIN status survives it. Implementations keep no card data between
    calls and never log or keep the PIN. The trust anchors of the genuine-card checks
    (:class:`CardTrust`) are given to the implementation when it is built.
    """

    def status(self) -> ReaderStatus:
        """Called to show the right screen (no reader / insert card / enter PIN), and before
        every card operation of a visit (is this card one placed after the visit began?).

        Returns the reader's name, whether a reader and a card are present and the reader's
        card event count (see :class:`ReaderStatus`). Never raises a :class:`CardError` for
        a missing reader or card: that is what it reports. Must not power up, reset or talk
        to the card.
        """
        ...

    def pin_tries_left(self) -> int:
        """Called before showing the PIN pad. Returns the remaining tries of the Text AP PIN.

        Raises :class:`ReaderUnavailable`, :class:`NoCard`, :class:`CardRemoved`,
        :class:`NotMyNumberCard` or :class:`MalformedCard`. Must not use up a try.
        """
        ...

    def jpki_pin_tries_left(self) -> int:
        """Called before asking for the JPKI user-authentication PIN (a separate PIN).

        Returns its remaining tries. Raises like :meth:`pin_tries_left`. Must not use up a
        try.
        """
        ...

    def read(
        self,
        pin: str,
        with_number: bool = False,
        *,
        checks: CardChecksWanted = DEFAULT_CHECKS,
        jpki_pin: str | None = None,
    ) -> CardInfo:
        """Called once the resident typed the PIN. Returns the card's :class:`CardInfo`.

        The individual number is read only when ``with_number``. ``checks`` picks the
        genuine-card checks (default: the chip check, and the card chain when CVC keys are
        configured); ``jpki_pin`` is the JPKI authentication PIN for ``checks.jpki`` (without
        it that check is not made). Their results are in ``CardInfo.checks``: a failed check
        is a result, not an error. Raises any :class:`CardError`: :class:`BadPinFormat` /
        :class:`JpkiBadPinFormat` (nothing sent), :class:`PinWouldLock` /
        :class:`JpkiPinWouldLock` (one try left: that PIN is not sent), :class:`WrongPin` /
        :class:`JpkiWrongPin`, :class:`PinLocked` / :class:`JpkiPinLocked`, ... Must not
        return partial data, and must not lock a card.
        """
        ...


class _OneConnectionPerOperation:
    """The card operations of :class:`CardReader`, each on a connection of its own that the
    subclass's ``_with_card`` opens, hands over and closes (with a reset)."""

    trust: CardTrust = NO_TRUST

    def pin_tries_left(self) -> int:
        """See :meth:`CardReader.pin_tries_left`."""
        return self._with_card(mynumber.pin_tries_left)

    def jpki_pin_tries_left(self) -> int:
        """See :meth:`CardReader.jpki_pin_tries_left`."""

        def operation(transport: CardTransport) -> int:
            mynumber.identify(transport)
            return jpki.pin_tries_left(transport)

        return self._with_card(operation)

    def read(
        self,
        pin: str,
        with_number: bool = False,
        *,
        checks: CardChecksWanted = DEFAULT_CHECKS,
        jpki_pin: str | None = None,
    ) -> CardInfo:
        """See :meth:`CardReader.read`."""
        # Checked before connecting, so a typo never even powers the card.
        mynumber.check_pin_format(pin)
        if jpki_pin is not None:
            if not checks.jpki:
                raise ValueError("a JPKI PIN was given for a read that makes no JPKI check")
            jpki.check_pin_format(jpki_pin)
        return self._with_card(
            lambda t: mynumber.read_card(
                t, pin, with_number=with_number, checks=checks, trust=self.trust, jpki_pin=jpki_pin
            )
        )

    def _with_card(self, operation: Callable[[CardTransport], T]) -> T:
        raise NotImplementedError


class PcscCardReader(_OneConnectionPerOperation):
    """:class:`CardReader` over PC/SC: the first reader whose name contains the substring."""

    def __init__(self, reader_substring: str = "", *, trust: CardTrust = NO_TRUST) -> None:
        self.reader_substring = reader_substring
        self.trust = trust

    def status(self) -> ReaderStatus:
        """See :meth:`CardReader.status`."""
        try:
            name = next((n for n in list_readers() if self.reader_substring in n), None)
            if name is None:
                return ReaderStatus(None, False, False)
            present, events = card_presence(name)
            return ReaderStatus(name, True, present, events)
        except ReaderUnavailable:
            return ReaderStatus(None, False, False)

    def _with_card(self, operation: Callable[[CardTransport], T]) -> T:
        transport = PcscTransport.connect(self.reader_substring)
        try:
            return operation(transport)
        finally:
            transport.close()


class DirectCardReader(_OneConnectionPerOperation):
    """:class:`CardReader` over an in-process card (the simulator, chosen by configuration).

    ``processor_provider`` returns the card currently "in the reader", or ``None``;
    ``card_events`` (optional) counts the cards put in and taken out, like pcscd's event
    counter (without it the status reports ``card_events`` None).
    """

    reader_name = "Direct (in-process)"

    def __init__(
        self,
        processor_provider: Callable[[], ApduProcessor | None],
        *,
        trust: CardTrust = NO_TRUST,
        card_events: Callable[[], int] | None = None,
    ) -> None:
        self._provider = processor_provider
        self._card_events = card_events
        self.trust = trust

    def status(self) -> ReaderStatus:
        """See :meth:`CardReader.status`."""
        events = self._card_events() if self._card_events is not None else None
        return ReaderStatus(self.reader_name, True, self._provider() is not None, events)

    def _with_card(self, operation: Callable[[CardTransport], T]) -> T:
        processor = self._provider()
        if processor is None:
            raise NoCard("no card in the in-process reader")
        transport = DirectTransport(processor)
        try:
            return operation(transport)
        finally:
            transport.close()
