"""The shipped deployment files (``deploy/``) hold together: the systemd unit is valid and
hardened, its environment names only real settings and matches the proxy's upstreams."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from kiosk.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _unit_here(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's ``kiosk`` (verify checks it)."""
    kiosk = Path(sys.executable).parent / "kiosk"
    text = (DEPLOY / "systemd" / "kiosk.service").read_text()
    assert "/opt/kiosk/.venv/bin/kiosk" in text
    unit = tmp_path / "kiosk.service"
    unit.write_text(text.replace("/opt/kiosk/.venv/bin/kiosk", str(kiosk)))
    return unit


def test_systemd_unit_is_valid_and_hardened(tmp_path: Path) -> None:
    """``systemd-analyze verify`` finds nothing to say; ``security`` rates the unit's
    exposure OK (at most 2.5 of 10); a dedicated user, state folder 0700, SIGINT stop."""
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze (Debian's systemd package) is needed"
    unit = _unit_here(tmp_path)
    verified = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verified.returncode == 0 and verified.stderr.strip() == "", verified.stderr
    rated = subprocess.run(
        [analyze, "security", "--offline=yes", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    found = re.search(r"Overall exposure level for kiosk.service: ([\d.]+)", rated.stdout)
    assert found, rated.stdout[-500:] + rated.stderr[-500:]
    assert float(found.group(1)) <= 2.5, rated.stdout[-2000:]
    text = unit.read_text()
    for line in (
        "User=kiosk",
        "StateDirectory=kiosk",
        "StateDirectoryMode=0700",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "KillSignal=SIGINT",
        "Wants=network-online.target pcscd.socket",
    ):
        assert line in text.splitlines(), line


def test_environment_file_names_real_settings_and_matches_the_proxy() -> None:
    """Every KIOSK_* in kiosk.env (set or commented) is a setting; the values set load; the
    ports are nginx's upstreams; the streams are same-origin behind the trusted proxy."""
    names = {f"KIOSK_{f.name.upper()}" for f in fields(Settings)}
    env: dict[str, str] = {}
    for line in (DEPLOY / "systemd" / "kiosk.env").read_text().splitlines():
        found = re.match(r"#?(KIOSK_\w+)=(.*)", line.strip())
        if found:
            assert found.group(1) in names, found.group(1)
            if not line.startswith("#"):
                env[found.group(1)] = found.group(2)
    settings = load_settings(environ=env)
    site = (DEPLOY / "nginx" / "kiosk.conf").read_text()
    assert f"server 127.0.0.1:{settings.port};" in site
    assert f"server 127.0.0.1:{settings.events_port};" in site
    assert settings.events_url == "/" and settings.trusted_proxy == "127.0.0.1"
    assert settings.host == "127.0.0.1" and settings.card_reader == "pcsc"
