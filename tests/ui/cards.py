"""Cards in tests of the resident's visit. One card, one visit (``application.visits``): a
visit only reads a card placed on the reader after it began, so tests place the card once
the visit has started, as a resident does it."""

from __future__ import annotations

from flask import Flask

from ui.services import services_of


def place_card_after_start(app: Flask, persona: str | None = None) -> None:
    """The resident places their card once the visit has started: ``persona``'s card, or
    (None) the card now on the simulated reader taken off and placed again. With no
    persona and an empty reader nothing is placed."""
    rig = services_of(app).simulation.reader  # type: ignore[union-attr]
    key = persona or (rig.persona.key if rig.persona is not None else None)
    if key is not None:
        rig.insert(key)  # takes out whatever card was there first
