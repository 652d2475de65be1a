"""``kiosk sim``: the personas listing and the card command's life cycle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from hardware_sim.card import ATR, PIN_TEXT, PinStateStore
from hardware_sim.cli import command
from hardware_sim.personas import load_personas
from tests.sim.fake_vpcd import FakeVpcd

ROOT = Path(__file__).resolve().parents[2]


def test_personas_lists_pins_and_tries_but_never_numbers(tmp_path: Path) -> None:
    """The listing shows every key, Text PINs and stored tries, and no individual number."""
    personas = load_personas()
    store = PinStateStore(tmp_path / "cards.json")
    store.set(personas["yamada"].card_serial, PIN_TEXT, 2)
    result = CliRunner().invoke(command, ["personas", "--state", str(store.path)])
    assert result.exit_code == 0, result.output
    for persona in personas.values():
        assert persona.key in result.output
        assert persona.individual_number not in result.output
    yamada_line = next(line for line in result.output.splitlines() if line.startswith("yamada"))
    assert "1234" in yamada_line and "2/3" in yamada_line
    assert "LOCKED" in next(line for line in result.output.splitlines() if line.startswith("ito"))


def test_card_unknown_persona_is_a_usage_error(tmp_path: Path) -> None:
    """An unknown persona key exits with a usage error naming the choices."""
    result = CliRunner().invoke(
        command, ["card", "--persona", "nobody", "--state", str(tmp_path / "s.json")]
    )
    assert result.exit_code == 2 and "yamada" in result.output


def test_card_runs_until_sigterm_then_removes_cleanly(tmp_path: Path) -> None:
    """`kiosk sim card` answers over vpcd, and SIGTERM removes the card and exits 0."""
    fake = FakeVpcd()
    code = (
        "import sys; from hardware_sim.cli import command; "
        "command(sys.argv[1:], prog_name='kiosk sim')"
    )
    args = [
        "card",
        "--persona",
        "yamada",
        "--port",
        str(fake.port),
        "--state",
        str(tmp_path / "cards.json"),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    try:
        fake.accept(timeout=30)
        assert fake.control(4) == ATR
        assert fake.transmit(bytes.fromhex("00A4040C0AD3921000310001010408")) == b"\x90\x00"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert b"inserted" in out and b"removed" in out
        assert fake.transmit(b"\x00\xa4\x00\x00") is None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        fake.close()


def test_trust_commands_write_the_ward_formats(tmp_path: Path) -> None:
    """trust-keys writes {key id: {e, n}} JSON, trust-anchors a PEM bundle and jpki-crl a
    PEM CRL, all from the test keys beside --state (the same keys on every run)."""
    import json

    from cryptography import x509

    state = tmp_path / "cards.json"
    runner = CliRunner()
    keys = runner.invoke(command, ["trust-keys", "--state", str(state)])
    assert keys.exit_code == 0, keys.output
    again = runner.invoke(command, ["trust-keys", "--state", str(state)])
    assert json.loads(keys.stdout) == json.loads(again.stdout)
    (entry,) = json.loads(keys.stdout).values()
    assert set(entry) == {"e", "n"} and int(entry["n"], 16).bit_length() == 2048
    out = tmp_path / "anchors.pem"
    anchors = runner.invoke(command, ["trust-anchors", "--state", str(state), "--out", str(out)])
    assert anchors.exit_code == 0, anchors.output
    assert len(x509.load_pem_x509_certificates(out.read_bytes())) == 2
    crl = runner.invoke(command, ["jpki-crl", "--state", str(state), "--days", "2"])
    assert crl.exit_code == 0, crl.output
    parsed = x509.load_pem_x509_crl(crl.stdout_bytes)
    assert len(list(parsed)) == 1
    assert (tmp_path / "sim-keys").is_dir()
