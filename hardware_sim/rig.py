"""One simulated card slot for the kiosk service and its simulator panel.

Chosen by configuration (``KIOSK_CARD_READER=sim`` or ``sim-direct``): the rig puts a
persona's :class:`SimulatedCard` either into pcscd through the vpcd driver (the production
PC/SC path reads it) or hands it to ``cardreader``'s in-process reader via
:meth:`in_process_card`. Counters persist in ``<data_dir>/sim-cards.json``, card keys in
``<data_dir>/sim-keys/``.
"""

from __future__ import annotations

import threading
from pathlib import Path

from hardware_sim.card import PinStateStore, SimulatedCard
from hardware_sim.faults import FaultPlan, FaultyCard
from hardware_sim.personas import Persona, load_personas
from hardware_sim.vpcd import DEFAULT_PORT, VirtualCardClient


class SimulatedReaderRig:
    """A reader slot holding at most one simulated card; thread-safe."""

    def __init__(
        self, data_dir: Path, via_pcscd: bool = True, vpcd_port: int = DEFAULT_PORT
    ) -> None:
        self.data_dir = Path(data_dir)
        self.via_pcscd = via_pcscd
        self.personas: dict[str, Persona] = load_personas()
        self.store = PinStateStore(self.data_dir / "sim-cards.json")
        self.faults = FaultPlan()
        self._lock = threading.Lock()
        self._client = VirtualCardClient(port=vpcd_port, faults=self.faults) if via_pcscd else None
        self._card: SimulatedCard | None = None
        self._slot: FaultyCard | None = None
        self.persona: Persona | None = None

    @property
    def card(self) -> SimulatedCard | None:
        """The card in the slot (for the panel: tries left, set_tries), or None."""
        return self._card

    def insert(self, persona_key: str) -> SimulatedCard:
        """Put ``persona_key``'s card into the slot (removing any card there first)."""
        persona = self.personas[persona_key]
        card = SimulatedCard.from_persona(
            persona, self.store, key_dir=self.data_dir / "sim-keys"
        )
        with self._lock:
            self._remove_locked()
            if self._client is not None:
                self._client.insert(card)
                slot = None
            else:
                card.reset()
                slot = FaultyCard(card, self.faults)
            self._card, self._slot, self.persona = card, slot, persona
        return card

    def remove(self) -> None:
        """Take the card out of the slot (no-op when empty)."""
        with self._lock:
            self._remove_locked()

    def _remove_locked(self) -> None:
        if self._client is not None:
            self._client.remove()
        self._card = self._slot = self.persona = None

    def in_process_card(self) -> FaultyCard | None:
        """The in-process APDU processor for DirectCardReader (None if empty or via pcscd)."""
        slot = self._slot
        if slot is None or slot.removed:
            return None
        return slot

    def close(self) -> None:
        """Remove the card and release the vpcd connection."""
        with self._lock:
            self._remove_locked()
            if self._client is not None:
                self._client.close()
