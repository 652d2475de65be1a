"""Per-address rate limits: how often one client address may read cards, try staff
passwords and make the service synthesise speech.

Why these three: each costs something real per request (a card operation holds the reader
and may cost a PIN try; a password check is a deliberately slow hash; speech runs
``espeak-ng``), and each was abused from one PC on the office LAN (issue 10). The budgets
are per minute, in a moving window, per client address as the front end sees it (behind
the reverse proxy: the address it forwards, see ``KIOSK_TRUSTED_PROXY``):

``card``     ``KIOSK_CARD_READS_PER_MINUTE`` (default 30): PIN-tries reads and card reads.
             A resident needs two to four per visit; the kiosk's own screen is one address.
``login``    ``KIOSK_LOGINS_PER_MINUTE`` (default 10): console and API log-in attempts.
             With the per-account-and-address lock-out (``kiosk.staff``) this bounds
             password guessing from one address without locking anyone else out.
``speech``   ``KIOSK_SPEECH_PER_MINUTE`` (default 60): read-aloud and board announcement
             WAVs (cached ones too: a board asks for a handful per call).

The counters live in this process's memory (the ``limits`` library, the engine behind
Flask-Limiter): nothing to run beside the service, gone at a restart. With several
processes (``kiosk serve`` per kiosk PC, all on one PostgreSQL), each process counts its own
requests: an address talking to N processes gets N budgets. That is acceptable here
because card operations only make sense on the kiosk's own process (they also need its
device credential) and log-in failures are also counted in the database per account and
address. A shared store (Redis, memcached) would make the budgets ward-wide if needed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from kiosk.config import Settings

KINDS = ("card", "login", "speech")


@dataclass(frozen=True)
class Verdict:
    """``allowed``; otherwise ``retry_after_s``: whole seconds until one more is allowed."""

    allowed: bool
    retry_after_s: int = 0


class AddressRateLimits:
    """The three budgets above, per client address, in this process's memory. Thread-safe
    (the storage locks)."""

    def __init__(self, settings: Settings) -> None:
        self._items: dict[str, RateLimitItem] = {
            "card": RateLimitItemPerMinute(settings.card_reads_per_minute),
            "login": RateLimitItemPerMinute(settings.logins_per_minute),
            "speech": RateLimitItemPerMinute(settings.speech_per_minute),
        }
        self._storage = MemoryStorage()
        self._window = MovingWindowRateLimiter(self._storage)

    def hit(self, kind: str, address: str, *, now: float | None = None) -> Verdict:
        """Count one request of ``kind`` from ``address``; say whether it is within budget.
        A refused request is not counted (waiting is enough to get through again)."""
        item = self._items[kind]
        address = address or "unknown"
        if self._window.hit(item, kind, address):
            return Verdict(True)
        reset = self._window.get_window_stats(item, kind, address).reset_time
        current = time.time() if now is None else now
        return Verdict(False, max(1, int(reset - current + 0.999)))

    def limit(self, kind: str) -> int:
        """Requests of ``kind`` allowed per minute and address."""
        return self._items[kind].amount

    def reset(self) -> None:
        """Forget every count (tests, and an operator after an incident)."""
        self._storage.reset()
