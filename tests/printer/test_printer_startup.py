"""A configured printer's first status question waits for the printer only: python-escpos
(most of a second to import) is loaded when the printer is built at start-up, and only
then (no printer, no python-escpos)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from application.printer import connect_printer
from kiosk.config import parse_printer
assert "escpos.printer" not in sys.modules, "imported before a printer was configured"
connect_printer(parse_printer("tcp://192.0.2.1:9100"), 576)
assert "escpos.printer" in sys.modules, "not imported when the printer was built"
"""


def test_python_escpos_is_loaded_when_the_printer_is_built() -> None:
    """In a fresh interpreter: not imported by the printer module, imported by
    ``connect_printer`` (nothing is opened on the printer: 192.0.2.1 is never reached)."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
