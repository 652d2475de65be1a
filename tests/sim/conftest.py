"""Fixtures for the card simulator tests: personas, a throwaway PIN store, ready cards."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hardware_sim.card import PinStateStore, SimulatedCard
from hardware_sim.personas import Persona, load_personas


@pytest.fixture(scope="session")
def personas() -> dict[str, Persona]:
    """The packaged demo residents."""
    return load_personas()


@pytest.fixture
def store(tmp_path: Path) -> PinStateStore:
    """An empty PIN state store in the test's temporary directory."""
    return PinStateStore(tmp_path / "sim-cards.json")


@pytest.fixture
def make_card(personas: dict[str, Persona], store: PinStateStore) -> Callable[[str], SimulatedCard]:
    """Build a persona's card on the per-test store."""
    return lambda key: SimulatedCard.from_persona(personas[key], store)


@pytest.fixture
def yamada(make_card: Callable[[str], SimulatedCard]) -> SimulatedCard:
    """The demo default card, freshly reset."""
    return make_card("yamada")
