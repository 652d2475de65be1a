"""One card operation at a time per reader.

A My Number card answers one command sequence at a time: two operations interleaving their
APDUs on one reader (a resident's read and a second request, a double tap, an attacker's
request) select files under each other's feet and read garbage. Measured before this
(issue 10): 5 of 24 parallel reads failed as ``malformed_card`` / ``card_not_usable``, and
105 of 6,900 visits under an 8-kiosk load. :class:`ExclusiveCardReader` wraps the reader
the service uses: while one operation talks to the card, another one is refused at once
with :class:`ReaderBusy` (a clear "the reader is busy, try again" for the resident, never a
half-read card), without touching the card. Reporting the reader's status (reader and card
present) needs no card conversation and is never refused.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cardreader.errors import ReaderBusy
from cardreader.model import CardInfo
from cardreader.reader import CardReader, ReaderStatus


class ExclusiveCardReader:
    """A :class:`CardReader` that lets one card operation (``pin_tries_left``, ``read``)
    run at a time and refuses a concurrent one with :class:`ReaderBusy`. Everything else is
    the wrapped reader's."""

    def __init__(self, inner: CardReader) -> None:
        self.inner = inner
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        """Whether a card operation is running now."""
        return self._lock.locked()

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        if not self._lock.acquire(blocking=False):
            raise ReaderBusy("another card operation is running on this reader")
        try:
            yield
        finally:
            self._lock.release()

    def status(self) -> ReaderStatus:
        """See :meth:`CardReader.status` (never refused: it does not talk to the card)."""
        return self.inner.status()

    def pin_tries_left(self) -> int:
        """See :meth:`CardReader.pin_tries_left`; ReaderBusy while another operation runs."""
        with self._exclusive():
            return self.inner.pin_tries_left()

    def read(self, *args: Any, **kwargs: Any) -> CardInfo:
        """See :meth:`CardReader.read`; ReaderBusy while another operation runs."""
        with self._exclusive():
            return self.inner.read(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # Attributes of the wrapped reader (its name, the simulator's hooks) stay visible.
        return getattr(self.inner, name)
