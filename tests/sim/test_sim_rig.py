"""The service's simulated reader slot, and the simulator's independence from cardreader."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from hardware_sim.card import PIN_TEXT
from hardware_sim.rig import SimulatedReaderRig
from tests.sim.apdu import TEXT_AID, sw

ROOT = Path(__file__).resolve().parents[2]


def test_direct_rig_insert_fault_and_remove(tmp_path: Path) -> None:
    """In direct mode the rig hands out the card, honours faults, and empties on remove."""
    rig = SimulatedReaderRig(tmp_path, via_pcscd=False)
    assert rig.in_process_card() is None
    card = rig.insert("tanaka")
    assert rig.persona is not None and rig.persona.key == "tanaka"
    assert card.tries_left(PIN_TEXT) == 1
    slot = rig.in_process_card()
    assert slot is not None
    assert sw(slot.process_apdu(bytes.fromhex("00A4040C0A" + TEXT_AID))) == "9000"
    rig.faults.remove_after = 0
    with pytest.raises(ConnectionError):
        slot.process_apdu(bytes.fromhex("00A4040C0A" + TEXT_AID))
    assert rig.in_process_card() is None
    rig.remove()
    assert rig.card is None
    rig.close()
    assert (tmp_path / "sim-keys").is_dir() and rig.key_dir == tmp_path / "sim-keys"


def test_hardware_sim_never_imports_cardreader() -> None:
    """No module of hardware_sim imports cardreader (two independent implementations)."""
    for path in (ROOT / "hardware_sim").glob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(n.split(".")[0] == "cardreader" for n in names), path.name
