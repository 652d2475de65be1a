"""A throwaway PostgreSQL cluster for tests and benchmarks (not production code).

Debian's server binaries (``/usr/lib/postgresql/<v>/bin``) run as the ``postgres`` user
(PostgreSQL refuses root) in a fresh temporary folder, listening only on a unix socket in
that folder, with a free port number. ``stop()`` shuts it down and removes the folder.

Durability is switched off by default (fsync, synchronous_commit, full_page_writes): the
cluster dies with the test run anyway. ``durable=True`` keeps PostgreSQL's defaults.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

SUPERUSER = "kiosk"


class PgClusterError(RuntimeError):
    """The cluster could not be created or started; the message says what is missing."""


def _bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    for candidate in reversed(candidates):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise PgClusterError(
        "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin: "
        "apt-get install postgresql (scripts/setup.sh --test does it)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgCluster:
    base: Path
    port: int
    bin_dir: Path
    run_as: list[str]

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3 driver) for ``database``."""
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.base}&port={self.port}"

    def _connect(self) -> psycopg.Connection:
        return psycopg.connect(
            host=str(self.base),
            port=self.port,
            user=SUPERUSER,
            dbname="postgres",
            autocommit=True,
        )

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create ``name`` (optionally as a copy of ``template``); returns its URL."""
        with self._connect() as conn:
            sql = f'CREATE DATABASE "{name}"'
            if template:
                sql += f' TEMPLATE "{template}"'
            conn.execute(sql)  # type: ignore[arg-type]
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self._connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]

    def stop(self) -> None:
        """Fast shutdown, then remove the folder. Safe to call twice."""
        if (self.base / "data" / "postmaster.pid").exists():
            subprocess.run(
                [
                    *self.run_as,
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.base / "data"),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
                check=False,
                capture_output=True,
            )
        shutil.rmtree(self.base, ignore_errors=True)


def start_cluster(*, durable: bool = False, max_connections: int = 200) -> PgCluster:
    """initdb + pg_ctl start in a new temporary folder; raises PgClusterError on failure."""
    bin_dir = _bin_dir()
    base = Path(tempfile.mkdtemp(prefix="kiosk-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError as e:
            raise PgClusterError("no postgres user: apt-get install postgresql") from e
        os.chown(base, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    options = [
        f"-k {base}",
        f"-p {port}",
        "-c listen_addresses=''",
        f"-c max_connections={max_connections}",
    ]
    if not durable:
        options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
    cluster = PgCluster(base, port, bin_dir, run_as)
    steps = [
        [
            *run_as,
            str(bin_dir / "initdb"),
            "-D",
            str(base / "data"),
            "-A",
            "trust",
            "-U",
            SUPERUSER,
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ],
        [
            *run_as,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(base / "data"),
            "-o",
            " ".join(options),
            "-l",
            str(base / "log"),
            "-w",
            "-t",
            "60",
            "start",
        ],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            log = (base / "log").read_text() if (base / "log").exists() else ""
            cluster.stop()
            raise PgClusterError(
                f"{' '.join(step[len(run_as) :][:1])} failed ({done.returncode}): "
                f"{done.stderr.strip()[-2000:]}\n{log[-2000:]}"
            )
    return cluster
