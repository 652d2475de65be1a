"""The service as a ward runs it, for the LAN tests: the real ``kiosk serve`` command in its
own process (waitress, the event server and the hub, as installed), and in front of it the
real nginx (Debian's package) with the shipped ``deploy/nginx`` configuration, a TLS
certificate made here, everything under a temporary prefix (no system-wide change).

Also re-exported for the other security tests: the databases of the domain tests (SQLite
and PostgreSQL) and the payment providers on the Stripe stand-in.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.payments.conftest import (  # noqa: F401  (fixtures re-exported for pytest)
    catalog,
    data_key,
    db,
    pg_cluster,
    pg_template,
    sqlite_template,
    standin,
    terminal_resident,
)
from tests.ui.conftest import make_app  # noqa: F401  (the in-process app factory fixture)

ROOT = Path(__file__).resolve().parents[2]
KIOSK = Path(sys.executable).parent / "kiosk"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningService:
    """A ``kiosk serve`` process: its URLs, data folder and environment."""

    process: subprocess.Popen[bytes]
    url: str
    events_url: str
    data_dir: Path
    env: dict[str, str]
    log: Path

    def cpu_seconds(self) -> float:
        """User + system CPU time the process (all its threads) has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # as systemd's KillSignal=SIGINT
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_service(base: Path, **settings: str) -> RunningService:
    """``kiosk db upgrade`` then ``kiosk serve`` with the simulated card (in-process) and an
    auto-approving terminal, no voice, on free ports; returns once ``/healthz`` answers."""
    data_dir = base / "var"
    port, events_port = free_port(), free_port()
    env = {
        **os.environ,
        "KIOSK_DATA_DIR": str(data_dir),
        "KIOSK_CARD_READER": "sim-direct",
        "KIOSK_SIM_TERMINAL_AUTO": "approve",
        "KIOSK_VOICE_COMMAND": "",
        "KIOSK_HOST": "127.0.0.1",
        "KIOSK_PORT": str(port),
        "KIOSK_EVENTS_PORT": str(events_port),
        **{f"KIOSK_{k.upper()}": v for k, v in settings.items()},
    }
    subprocess.run(
        [str(KIOSK), "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120
    )
    log = base / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(KIOSK), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    service = RunningService(
        process, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{events_port}", data_dir, env, log
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"kiosk serve exited: {log.read_text()[-3000:]}")
        try:
            if requests.get(f"{service.url}/healthz", timeout=2).status_code == 200:
                return service
        except requests.RequestException:
            pass
        time.sleep(0.2)
    service.stop()
    raise AssertionError(f"kiosk serve did not answer: {log.read_text()[-3000:]}")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[RunningService]:
    """``kiosk serve`` on SQLite in its own process (stopped with SIGINT after the test)."""
    running = start_service(tmp_path)
    yield running
    running.stop()


def issue_tickets(service: RunningService, n: int) -> list[dict[str, Any]]:
    """``n`` paid tickets written straight into the service's database (as another kiosk
    would): number, token, id of each."""
    from kiosk import cases
    from kiosk.catalog import load_catalog
    from kiosk.db import make_engine, make_session_factory, transaction
    from kiosk.privacy import load_data_key
    from kiosk.tickets import issue_ticket
    from tests.domain.conftest import make_card

    url = service.env.get("KIOSK_DATABASE_URL") or f"sqlite:///{service.data_dir / 'kiosk.sqlite3'}"
    engine = make_engine(
        url, load_data_key(service.env.get("KIOSK_DATA_KEY", ""), service.data_dir)
    )
    sessions = make_session_factory(engine)
    ward_catalog = load_catalog()
    made = []
    try:
        for _ in range(n):
            with transaction(sessions) as s:
                case = cases.open_case(
                    s, make_card(), ["juminhyo"], catalog=ward_catalog, actor="kiosk:t"
                )
                cases.confirm_case(s, case, catalog=ward_catalog, actor="kiosk:t")
                cases.mark_awaiting_payment(s, case, actor="payment:sim")
                cases.mark_paid(s, case, actor="payment:sim")
                ticket = issue_ticket(s, case, actor="payment:sim")
                made.append(
                    {"id": ticket.id, "number": ticket.display_number, "token": ticket.token}
                )
    finally:
        engine.dispose()
    return made


def add_staff_and_login(
    service: RunningService, base_url: str | None = None, **kw: Any
) -> dict[str, str]:
    """A staff account made with ``kiosk staff add``; the API's bearer header for it."""
    subprocess.run(
        [str(KIOSK), "staff", "add", "--role", "staff", "clerk"],
        input=b"correct-horse-42\n",
        env=service.env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    answer = requests.post(
        f"{base_url or service.url}/api/staff/login",
        json={"username": "clerk", "password": "correct-horse-42"},
        timeout=10,
        **kw,
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def timed_gets(url: str, paths: list[str], rounds: int, **kw: Any) -> list[float]:
    """Seconds per GET (each must answer 200 within 5 s, never time out)."""
    times = []
    with requests.Session() as http:
        for _ in range(rounds):
            for path in paths:
                started = time.monotonic()
                answer = http.get(f"{url}{path}", timeout=5, **kw)
                times.append(time.monotonic() - started)
                assert answer.status_code == 200, (path, answer.status_code)
    return times


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(0.95 * len(ordered)) - 1)]


# --- nginx in front ---------------------------------------------------------------------


@dataclass
class Front:
    """nginx with the shipped configuration: its https URL and the CA file to trust."""

    url: str
    http_url: str
    cafile: str
    process: subprocess.Popen[bytes]
    prefix: Path


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1 (made by the test, 1 day)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, f"deploy/nginx no longer has {old!r}: update tests/security/conftest.py"
    return text.replace(old, new)


def start_front(service: RunningService) -> Front:
    """nginx -p <tmp> with deploy/nginx/nginx.conf and kiosk.conf: only paths, ports and
    the certificate are changed (each change asserted, so the shipped files are tested)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx is needed: scripts/setup.sh --test installs it"
    prefix = Path(tempfile.mkdtemp(prefix="kiosk-nginx-"))
    prefix.chmod(0o755)  # nginx's workers (www-data) use the temp folders below
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / sub).mkdir()
        shutil.chown(prefix / sub, "www-data")
    cert, key = _certificate(prefix)
    https_port, http_port = free_port(), free_port()
    main = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
    main = _replace(main, "pid /run/nginx.pid;", f"pid {prefix}/nginx.pid;")
    main = _replace(
        main, "error_log /var/log/nginx/error.log warn;", f"error_log {prefix}/error.log warn;"
    )
    main = _replace(main, "include /etc/nginx/modules-enabled/*.conf;", "")
    main = _replace(
        main,
        "access_log /var/log/nginx/kiosk-access.log kiosk;",
        f"access_log {prefix}/access.log kiosk;\n"
        + "".join(
            f"    {kind}_temp_path {prefix}/{kind};\n"
            for kind in ("proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"    client_body_temp_path {prefix}/body;",
    )
    main = _replace(main, "include /etc/nginx/conf.d/*.conf;", "")
    main = _replace(main, "include /etc/nginx/sites-enabled/*;", f"include {prefix}/kiosk.conf;")
    site = (ROOT / "deploy" / "nginx" / "kiosk.conf").read_text()
    site = _replace(site, "server 127.0.0.1:8080;", f"server {service.url.split('//')[1]};")
    site = _replace(site, "server 127.0.0.1:8081;", f"server {service.events_url.split('//')[1]};")
    site = _replace(site, "    listen 80;\n", f"    listen 127.0.0.1:{http_port};\n")
    site = _replace(site, "    listen [::]:80;\n", "")
    site = _replace(
        site, "    listen 443 ssl http2;\n", f"    listen 127.0.0.1:{https_port} ssl http2;\n"
    )
    site = _replace(site, "    listen [::]:443 ssl http2;\n", "")
    site = _replace(site, "/etc/kiosk/tls/fullchain.pem", str(cert))
    site = _replace(site, "/etc/kiosk/tls/privkey.pem", str(key))
    (prefix / "nginx.conf").write_text(main)
    (prefix / "kiosk.conf").write_text(site)
    command = [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(
        [*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    front = Front(
        f"https://127.0.0.1:{https_port}",
        f"http://127.0.0.1:{http_port}",
        str(cert),
        process,
        prefix,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{front.url}/healthz", timeout=2, verify=front.cafile).ok:
                return front
        except requests.RequestException:
            time.sleep(0.1)
    stop_front(front)
    raise AssertionError("nginx did not come up: " + (prefix / "error.log").read_text()[-2000:])


def stop_front(front: Front) -> None:
    if front.process.poll() is None:
        front.process.send_signal(signal.SIGQUIT)  # graceful: finish requests, then exit
        try:
            front.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            front.process.kill()
            front.process.wait(timeout=5)
    shutil.rmtree(front.prefix, ignore_errors=True)
