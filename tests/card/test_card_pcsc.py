"""PC/SC-only behaviour: insert/remove events, the CLI over pcscd + vpcd, reader errors."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from application.cli import cli
from cardreader.errors import ReaderUnavailable
from cardreader.monitor import CardEventKind, CardEvents
from cardreader.pcsc import PcscTransport
from cardreader.reader import PcscCardReader
from hardware_sim.card import SimulatedCard
from hardware_sim.personas import Persona
from hardware_sim.trust import write_trust_files

from .conftest import VPCD_READER, PcscRig

pytestmark = pytest.mark.pcsc

ROOT = Path(__file__).resolve().parents[2]
JSON_KEYS = {
    "family_name",
    "given_name",
    "name",
    "address",
    "birth_date",
    "sex",
    "integrity",
    "pin_tries_left",
    "chip_authenticated",
    "genuine",
}


@pytest.fixture
def pcsc_rig(vpcd_port: int) -> Iterator[PcscRig]:
    """The vpcd reader with an empty slot."""
    made = PcscRig(vpcd_port)
    try:
        yield made
    finally:
        made.close()


def test_insert_then_remove_gives_two_events(pcsc_rig: PcscRig, personas) -> None:
    """Inserting and removing a card yields an 'inserted' then a 'removed' event for it."""
    pcsc_rig.remove()
    with CardEvents(VPCD_READER) as events:
        pcsc_rig.insert(SimulatedCard.from_persona(personas["yamada"]))
        inserted = events.get(timeout=10)
        pcsc_rig.remove()
        removed = events.get(timeout=10)
    assert inserted is not None and removed is not None
    assert (inserted.kind, removed.kind) == (CardEventKind.INSERTED, CardEventKind.REMOVED)
    assert inserted.reader == removed.reader == VPCD_READER
    assert inserted.timestamp <= removed.timestamp
    assert events.get(timeout=0.2) is None


def test_unknown_reader_is_reader_unavailable(pcscd: str) -> None:
    """Asking for a reader that does not exist raises ReaderUnavailable; status says so."""
    with pytest.raises(ReaderUnavailable):
        PcscTransport.connect("No Such Reader 99")
    status = PcscCardReader("No Such Reader 99").status()
    assert (status.reader_name, status.reader_present, status.card_present) == (None, False, False)


def test_cli_reads_json(pcsc_rig: PcscRig, personas: dict[str, Persona]) -> None:
    """`kiosk card read --json` prints exactly the documented keys with the card's values."""
    persona = personas["yamada"]
    pcsc_rig.insert(SimulatedCard.from_persona(persona))
    result = CliRunner().invoke(
        cli, ["card", "read", "--json", "--reader", VPCD_READER], input=f"{persona.text_pin}\n"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == JSON_KEYS
    assert data["name"] == persona.name and data["address"] == persona.address
    assert data["birth_date"] == persona.birth_date.isoformat()
    assert (data["sex"], data["integrity"], data["pin_tries_left"]) == ("male", "verified", 3)
    assert (data["chip_authenticated"], data["genuine"]) == (True, "not_checked")
    assert persona.text_pin not in result.output


def test_cli_with_number_and_text_output(pcsc_rig: PcscRig, personas) -> None:
    """--with-number adds individual_number; without --json a labelled summary is printed."""
    persona = personas["smith"]
    pcsc_rig.insert(SimulatedCard.from_persona(persona))
    runner = CliRunner()
    result = runner.invoke(
        cli, ["card", "read", "--json", "--with-number"], input=f"{persona.text_pin}\n"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == JSON_KEYS | {"individual_number"}
    assert data["individual_number"] == persona.individual_number
    assert (data["family_name"], data["given_name"]) == ("SMITH JOHN WILLIAM", "")
    text = runner.invoke(cli, ["card", "read"], input=f"{persona.text_pin}\n")
    assert text.exit_code == 0
    assert "氏名 / Name:" in text.stdout and persona.name in text.stdout
    assert persona.individual_number not in text.stdout


@pytest.mark.parametrize(
    ("pin", "code", "tries"),
    [("0000", "wrong_pin", 2), ("12", "bad_pin_format", None)],
)
def test_cli_errors(pcsc_rig: PcscRig, personas, pin: str, code: str, tries: int | None) -> None:
    """Failures exit non-zero with one stderr line and {"error", "tries_left"} on stdout."""
    pcsc_rig.insert(SimulatedCard.from_persona(personas["yamada"]))
    result = CliRunner().invoke(cli, ["card", "read", "--json"], input=f"{pin}\n")
    assert result.exit_code != 0
    assert json.loads(result.stdout) == {"error": code, "tries_left": tries}
    assert len(result.stderr.strip().splitlines()) == 1
    assert pin not in result.stderr


def test_cli_without_card(pcsc_rig: PcscRig) -> None:
    """With the slot empty the CLI reports no_card."""
    pcsc_rig.remove()
    result = CliRunner().invoke(cli, ["card", "read", "--json"], input="1234\n")
    assert result.exit_code != 0
    assert json.loads(result.stdout) == {"error": "no_card", "tries_left": None}


def test_cli_as_a_real_process(pcsc_rig: PcscRig, personas) -> None:
    """The installed `kiosk card read --json` reads the PIN from a pipe and prints JSON."""
    persona = personas["takahashi"]
    pcsc_rig.insert(SimulatedCard.from_persona(persona))
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "kiosk"), "card", "read", "--json"],
        input=f"{persona.text_pin}\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["family_name"], data["given_name"]) == ("髙橋", "花子")
    assert data["sex"] == "female" and data["integrity"] == "verified"


@pytest.fixture
def trust_env(tmp_path: Path) -> dict[str, str]:
    """KIOSK_* settings trusting the simulator's test keys (this process's keys)."""
    files = write_trust_files(tmp_path / "trust")
    return {
        "KIOSK_CARD_TRUST_KEYS": str(files.card_trust_keys),
        "KIOSK_JPKI_TRUST_ANCHORS": str(files.jpki_trust_anchors),
        "KIOSK_JPKI_CRL": str(files.jpki_crl),
    }


@pytest.mark.parametrize(
    ("key", "second_line", "chip", "genuine"),
    [
        ("yoshida", "8383", True, "verified"),
        ("yoshida", "", True, "not_checked"),
        ("yoshida", None, True, "not_checked"),
        ("yamada_replay", "1234", False, "signature_invalid"),
        ("nakamura", "7777", True, "chain_invalid"),
        ("hayashi", "5151", True, "expired"),
        ("shimizu", "4680", True, "revoked"),
    ],
    ids=["jpki-pin", "empty-line", "no-line", "replay", "forged", "expired", "revoked"],
)
def test_cli_genuine_checks_from_settings(
    pcsc_rig: PcscRig,
    personas: dict[str, Persona],
    trust_env: dict[str, str],
    key: str,
    second_line: str | None,
    chip: bool,
    genuine: str,
) -> None:
    """With trust configured by KIOSK_* settings, the JPKI PIN is the second stdin line
    (empty or missing: not checked); the JSON reports chip_authenticated and genuine, exit 0."""
    persona = personas[key]
    pcsc_rig.insert(SimulatedCard.from_persona(persona))
    stdin = f"{persona.text_pin}\n" + ("" if second_line is None else f"{second_line}\n")
    result = CliRunner().invoke(cli, ["card", "read", "--json"], input=stdin, env=trust_env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == JSON_KEYS
    assert (data["integrity"], data["chip_authenticated"], data["genuine"]) == (
        "verified",
        chip,
        genuine,
    )
    assert persona.jpki_auth_pin not in result.output and persona.text_pin not in result.output


def test_cli_wrong_jpki_pin_and_bad_settings(
    pcsc_rig: PcscRig, personas: dict[str, Persona], trust_env: dict[str, str], tmp_path: Path
) -> None:
    """A wrong JPKI PIN exits non-zero with jpki_wrong_pin and its tries; a trust file that
    does not exist stops the command with one line naming the variable."""
    persona = personas["yoshida"]
    pcsc_rig.insert(SimulatedCard.from_persona(persona))
    runner = CliRunner()
    stdin = f"{persona.text_pin}\n{persona.text_pin}\n"
    wrong = runner.invoke(cli, ["card", "read", "--json"], input=stdin, env=trust_env)
    assert wrong.exit_code == 1
    assert json.loads(wrong.stdout) == {"error": "jpki_wrong_pin", "tries_left": 2}
    assert len(wrong.stderr.strip().splitlines()) == 1
    broken = {**trust_env, "KIOSK_JPKI_TRUST_ANCHORS": str(tmp_path / "missing.pem")}
    bad = runner.invoke(cli, ["card", "read", "--json"], input=stdin, env=broken)
    assert bad.exit_code != 0 and "KIOSK_JPKI_TRUST_ANCHORS=" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_cli_text_output_names_the_checks(
    pcsc_rig: PcscRig, personas: dict[str, Persona], trust_env: dict[str, str]
) -> None:
    """Without --json the summary has a line for the chip and one for genuine."""
    persona = personas["yamada_replay"]
    pcsc_rig.insert(SimulatedCard.from_persona(persona))
    result = CliRunner().invoke(
        cli, ["card", "read"], input=f"{persona.text_pin}\n\n", env=trust_env
    )
    assert result.exit_code == 0, result.output
    assert "Chip authenticated: no" in result.stdout
    assert "Genuine: signature_invalid" in result.stdout
