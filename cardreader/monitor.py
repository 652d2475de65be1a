"""Card insert/remove events per reader, from pyscard's card monitor to any thread.

pyscard calls observers on its own monitoring thread. The observer here only builds an
immutable :class:`CardEvent` and puts it on a :class:`queue.Queue`; the application reads
them with :meth:`CardEvents.get` on whatever thread it likes.
"""

from __future__ import annotations

import enum
import queue
import time
from dataclasses import dataclass

from smartcard.CardMonitoring import CardMonitor, CardObserver


class CardEventKind(enum.Enum):
    INSERTED = "inserted"
    REMOVED = "removed"


@dataclass(frozen=True)
class CardEvent:
    """A card arrived in or left ``reader`` at ``timestamp`` (seconds since the epoch)."""

    reader: str
    kind: CardEventKind
    timestamp: float


class _QueueingObserver(CardObserver):
    def __init__(self, events: queue.Queue[CardEvent], reader_substring: str) -> None:
        super().__init__()
        self._events = events
        self._reader_substring = reader_substring

    def update(self, observable: object, handlers: tuple[list, list]) -> None:
        # Runs on pyscard's thread: hand over immutable values only, touch nothing else.
        added, removed = handlers
        now = time.time()
        for cards, kind in ((added, CardEventKind.INSERTED), (removed, CardEventKind.REMOVED)):
            for card in cards:
                reader = str(card.reader)
                if self._reader_substring in reader:
                    self._events.put(CardEvent(reader, kind, now))


class CardEvents:
    """Insert/remove events of the readers whose name contains ``reader_substring``.

    ``start`` subscribes to pyscard's (process-wide) card monitor; cards already present are
    reported as inserted. ``stop`` unsubscribes. Use as a context manager to pair them.
    """

    def __init__(self, reader_substring: str = "") -> None:
        self._events: queue.Queue[CardEvent] = queue.Queue()
        self._observer = _QueueingObserver(self._events, reader_substring)
        self._monitor: CardMonitor | None = None

    def start(self) -> None:
        """Begin receiving events (idempotent)."""
        if self._monitor is None:
            self._monitor = CardMonitor()
            self._monitor.addObserver(self._observer)

    def stop(self) -> None:
        """Stop receiving events (idempotent); events already queued stay readable."""
        if self._monitor is not None:
            self._monitor.deleteObserver(self._observer)
            self._monitor = None

    def get(self, timeout: float | None = None) -> CardEvent | None:
        """The next event, waiting up to ``timeout`` seconds; ``None`` if none came."""
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None

    def __enter__(self) -> CardEvents:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
