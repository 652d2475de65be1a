"""Fixtures shared by every test package.

``pcscd``: makes sure the PC/SC daemon runs (started by the test set-up itself, as CI starts
from a clean machine) and that the vpcd virtual reader driver is configured. Tests that use
it are marked ``pcsc``; they fail (not skip) when the stack cannot be brought up, because
the project's own scripts are responsible for installing it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VPCD_CONF = Path("/etc/reader.conf.d/vpcd")


@pytest.fixture(scope="session")
def pcscd() -> str:
    """Start pcscd if needed; return the name of the first vpcd reader ("Virtual PCD 00 00")."""
    if shutil.which("pcscd") is None or not VPCD_CONF.exists():
        pytest.fail("pcscd / vsmartcard-vpcd are not installed: run scripts/setup.sh --test")
    subprocess.run([str(ROOT / "scripts" / "pcscd.sh"), "start"], check=True)
    return "Virtual PCD 00 00"


@pytest.fixture(scope="session")
def vpcd_port(pcscd: str) -> int:
    """TCP port on 127.0.0.1 where the first vpcd reader waits for a virtual card."""
    for line in VPCD_CONF.read_text().splitlines():
        if line.split() and line.split()[0] == "CHANNELID":
            return int(line.split()[1], 0)
    return 0x8C7B
