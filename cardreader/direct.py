"""A transport to an in-process card object (the simulator), for tests and pcscd-less machines."""

from __future__ import annotations

from cardreader.errors import CardRemoved
from cardreader.transport import ApduProcessor


class DirectTransport:
    """:class:`~cardreader.transport.CardTransport` over an :class:`ApduProcessor`.

    A :class:`ConnectionError` from the processor (the card was pulled) becomes
    :class:`CardRemoved`. ``close`` resets the card like PC/SC's SCARD_RESET_CARD does.
    """

    def __init__(self, processor: ApduProcessor) -> None:
        self._processor = processor

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU to the processor; raises :class:`CardRemoved` if it is gone."""
        try:
            return bytes(self._processor.process_apdu(bytes(apdu)))
        except ConnectionError as e:
            raise CardRemoved("card left the in-process reader") from e

    def close(self) -> None:
        """Reset the card so no security status lingers; a card already gone is fine."""
        try:
            self._processor.reset()
        except ConnectionError:
            pass
