"""The simulated reader a kiosk runs with when ``KIOSK_CARD_READER`` is ``sim`` or ``sim-direct``.

A :class:`SimulatedReaderRig` owns the personas, the persistent PIN counters, the card that is
"in the reader" right now and the fault plan. With ``via_pcscd`` it plugs that card into the
real pcscd through the vpcd driver, so the service reads it with the production PC/SC code;
otherwise the service reads it in-process. The simulator panel and staff training drive it.
"""

from __future__ import annotations

import threading
from pathlib import Path

from hardware_sim.card import PinStateStore, SimulatedCard
from hardware_sim.faults import FaultPlan, FaultyCard
from hardware_sim.personas import Persona, load_personas


class UnknownPersona(KeyError):
    """No persona has that key."""


class SimulatedReaderRig:
    """Insert and remove personas' cards; thread-safe.

    ``state_dir`` keeps PIN counters (a lock stays a lock across restarts) and card keys.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        via_pcscd: bool,
        vpcd_host: str = "127.0.0.1",
        vpcd_port: int = 35963,
    ) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.personas: dict[str, Persona] = load_personas()
        self.store = PinStateStore(state_dir / "sim-cards.json")
        self._key_dir = state_dir / "sim-keys"
        self.faults = FaultPlan()
        self._lock = threading.RLock()
        self._card: SimulatedCard | None = None
        self._in_process: FaultyCard | None = None
        self._persona: Persona | None = None
        self._card_events = 0
        self._client = None
        if via_pcscd:
            from hardware_sim.vpcd import VirtualCardClient

            self._client = VirtualCardClient(host=vpcd_host, port=vpcd_port)
            self._client.faults = self.faults

    @property
    def key_dir(self) -> Path:
        """Where the cards' (and the test CAs') keys are kept: give it to
        :func:`hardware_sim.trust.write_trust_files` for trust files that match the cards."""
        return self._key_dir

    @property
    def via_pcscd(self) -> bool:
        return self._client is not None

    @property
    def persona(self) -> Persona | None:
        """The persona whose card is in the reader, or None."""
        with self._lock:
            return self._persona

    @property
    def card(self) -> SimulatedCard | None:
        """The card in the reader (to show and set PIN tries), or None."""
        with self._lock:
            return self._card

    @property
    def card_events(self) -> int:
        """Cards put in and taken out so far (one each), like pcscd's per-reader event
        counter: the in-process reader reports it so that a card left on the reader is told
        from one placed again. A card the fault plan pulled out is not counted (it is out
        until the next :meth:`insert`, which is)."""
        with self._lock:
            return self._card_events

    def insert(self, persona_key: str) -> SimulatedCard:
        """Put ``persona_key``'s card in the reader, taking out whatever card was there."""
        try:
            persona = self.personas[persona_key]
        except KeyError as e:
            raise UnknownPersona(persona_key) from e
        card = SimulatedCard.from_persona(persona, self.store, key_dir=self._key_dir)
        with self._lock:
            self.remove()
            self._card, self._persona = card, persona
            self._in_process = FaultyCard(card, self.faults)
            self._card_events += 1
            if self._client is not None:
                self._client.insert(card)
        return card

    def remove(self) -> None:
        """Take the card out (no-op when the reader is empty)."""
        with self._lock:
            if self._client is not None and self._client.inserted:
                self._client.remove()
            if self._card is not None:
                self._card_events += 1
            self._card, self._persona, self._in_process = None, None, None

    def in_process_card(self) -> FaultyCard | None:
        """For the in-process reader: the card behind the fault plan, or None when empty.

        A card the fault plan pulled out stays out until the next :meth:`insert`.
        """
        with self._lock:
            if self._in_process is None or self._in_process.removed:
                return None
            return self._in_process

    def close(self) -> None:
        """Remove the card and stop talking to pcscd."""
        with self._lock:
            self.remove()
            if self._client is not None:
                self._client.close()
