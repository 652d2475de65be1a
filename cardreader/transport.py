"""The seam between card operations and whatever carries APDUs to a card.

Two implementations: :class:`cardreader.pcsc.PcscTransport` (pyscard -> pcscd -> reader
driver; production and the vpcd simulator) and :class:`cardreader.direct.DirectTransport`
(an in-process card object; fast unit tests, machines without pcscd).
"""

from __future__ import annotations

from typing import Protocol


class CardTransport(Protocol):
    """A connection to one card in one reader.

    ``transmit`` is called by :mod:`cardreader.mynumber` for every command APDU. It returns
    the full response APDU (data followed by SW1 SW2). It raises :class:`CardRemoved` when
    the card left the reader during the exchange, :class:`NoCard` when there was no card to
    talk to, and :class:`ReaderUnavailable` when the reader itself is gone. It never
    interprets status words and never logs APDU contents (they may carry a PIN).
    """

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU and return the response APDU including SW1 SW2."""
        ...

    def close(self) -> None:
        """Disconnect, resetting the card so no security status lingers. Never raises."""
        ...


class ApduProcessor(Protocol):
    """An in-process card (e.g. ``hardware_sim.SimulatedCard``) for :class:`DirectTransport`.

    ``process_apdu`` answers one command APDU with a response APDU. A card that has been
    pulled out raises :class:`ConnectionError` (the builtin: ``cardreader`` never imports the
    simulator). ``reset`` clears the volatile state (selected files, security status) the way
    a warm reset or re-insertion does.
    """

    def process_apdu(self, apdu: bytes) -> bytes: ...

    def reset(self) -> bytes: ...
