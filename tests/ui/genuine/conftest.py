"""Fixtures of the genuine-card tests: apps whose simulator keys are made once per run.

The simulator makes an RSA-2048 key per card and per test CA (50-200 ms each) and keeps them
in the data folder's ``sim-keys``; :func:`sim_key_cache` makes every persona's keys once and
each app's data folder starts with a copy, so a test costs one app, not twenty keys.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from hardware_sim.rig import SimulatedReaderRig
from hardware_sim.trust import write_trust_files
from tests.ui.genuine.kit import FRONT_ENDS

# The personas these tests insert (any other one still works: its keys are made on first use).
CACHED = ("yamada", "yoshida", "yamada_replay", "nakamura", "mori", "hayashi", "shimizu")


@pytest.fixture(scope="session")
def sim_key_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The card keys of the personas these tests use and the test CAs' keys, made once per
    test run."""
    state = tmp_path_factory.mktemp("sim-key-cache")
    rig = SimulatedReaderRig(state, via_pcscd=False)
    try:
        for key in CACHED:
            rig.insert(key)
        write_trust_files(state / "sim-trust", key_dir=rig.key_dir)
    finally:
        rig.close()
    return rig.key_dir


@pytest.fixture
def genuine_app(
    make_app: Callable[..., Flask], tmp_path: Path, sim_key_cache: Path
) -> Iterator[Callable[..., Flask]]:
    """Factory: ``genuine_app(persona, **settings)``: an app (in-process card unless the
    settings say otherwise) with ``persona``'s card in the reader and the terminal approving."""

    def build(persona: str, **settings: Any) -> Flask:
        shutil.copytree(sim_key_cache, tmp_path / "sim-keys", dirs_exist_ok=True)
        settings.setdefault("sim_terminal_auto", "approve")
        return make_app(sim_persona=persona, **settings)

    yield build


@pytest.fixture(params=sorted(FRONT_ENDS))
def front_end(request: pytest.FixtureRequest) -> str:
    """Each front end in turn: the kiosk screens, the JSON API."""
    return str(request.param)
