"""Live streams benchmark: 500 open board and phone streams on one ``kiosk serve`` process
while kiosks use their screens and counters call tickets.

    .venv/bin/python bench/streams.py [--streams 500] [--phones 100] [--seconds 20]
                                      [--kiosks 4] [--calls-per-s 2] [--backend sqlite]

Starts the real service (``kiosk serve``: waitress, the event server and the hub) on a fresh
database (SQLite file, or a throwaway PostgreSQL with ``--backend postgresql``) with the
simulated card and terminal, then runs two phases of ``--seconds`` each:

1. baseline: ``--kiosks`` kiosk workers walk the kiosk screens over HTTP (welcome, start,
   procedures, fields, card, wipe; the card read and payment are not part of it: the
   reader's own time is not the service's) while counters call tickets; no stream open;
2. the same load with ``--streams`` streams open (``--phones`` of them phone streams on
   waiting tickets, the rest display boards), opened from 25 loopback addresses so the
   per-address cap (20) is not what limits them.

``kiosk_p95_ms`` is the p95 of the kiosk requests in phase 2 (the baseline's is on the
line before); ``board_latency_p95_ms`` is, over every call and every board, the time from
the commit of the call (made through the domain in this process, as another process's
counter would) to the board's event carrying it. Clients run in their own processes, so
their CPU is not the server's GIL's (all share the machine's cores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# bench/ holds scripts named like the packages (bench/payments.py): keep it off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

KIOSK = Path(sys.executable).parent / "kiosk"
ADDRESSES = [f"127.0.0.{i}" for i in range(2, 27)]  # 25 addresses x 20 streams = 500


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


DEVICE_KEY = "bench-streams-device-key-0123456789abcdef"


def start_service(
    base: Path, extra: dict[str, str]
) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    port, events_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "KIOSK_DATA_DIR": str(base / "var"),
        "KIOSK_CARD_READER": "sim-direct",
        "KIOSK_SIM_TERMINAL_AUTO": "approve",
        "KIOSK_VOICE_COMMAND": "",
        "KIOSK_HOST": "127.0.0.1",
        "KIOSK_PORT": str(port),
        "KIOSK_EVENTS_PORT": str(events_port),
        # The kiosk walkers below are the kiosk's own screen (issue 10: its device key).
        "KIOSK_DEVICE_KEY": DEVICE_KEY,
        **extra,
    }
    subprocess.run([str(KIOSK), "db", "upgrade"], env=env, check=True, capture_output=True)
    log = (base / "serve.log").open("wb")
    process = subprocess.Popen([str(KIOSK), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, {**env, "url": url, "events": f"http://127.0.0.1:{events_port}"}
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("kiosk serve did not come up: see " + str(base / "serve.log"))


# --- the database, as another process's kiosks and counters use it ----------------------


def sessions_of(env: dict[str, str]) -> Any:
    from kiosk.db import make_engine, make_session_factory
    from kiosk.privacy import load_data_key

    data_dir = Path(env["KIOSK_DATA_DIR"])
    url = env.get("KIOSK_DATABASE_URL") or f"sqlite:///{data_dir / 'kiosk.sqlite3'}"
    engine = make_engine(url, load_data_key(env.get("KIOSK_DATA_KEY", ""), data_dir), pool_size=2)
    return engine, make_session_factory(engine)


def issue_tickets(sessions: Any, n: int) -> list[tuple[str, str]]:
    """``n`` paid tickets in the certificates queue: (number, token) each."""
    from datetime import date

    from cardreader.model import CardInfo, Integrity, Sex
    from kiosk import cases
    from kiosk.catalog import load_catalog
    from kiosk.db import transaction
    from kiosk.tickets import issue_ticket

    card = CardInfo(
        "渡辺",
        "花子",
        "東京都港区芝公園四丁目二番八号",
        date(1980, 2, 17),
        Sex.FEMALE,
        Integrity.VERIFIED,
    )
    catalog = load_catalog()
    made = []
    for _ in range(n):
        with transaction(sessions) as s:
            case = cases.open_case(s, card, ["juminhyo"], catalog=catalog, actor="kiosk:bench")
            cases.confirm_case(s, case, catalog=catalog, actor="kiosk:bench")
            cases.mark_awaiting_payment(s, case, actor="payment:bench")
            cases.mark_paid(s, case, actor="payment:bench")
            ticket = issue_ticket(s, case, actor="payment:bench")
            made.append((ticket.display_number, ticket.token))
    return made


def caller(sessions: Any, rate: float, stop: threading.Event, commits: dict[str, float]) -> None:
    """Call the next ticket at counters 1..3 in turn, ``rate`` times a second; record each
    call's commit time by number."""
    from kiosk.calling import call_next
    from kiosk.counters import get_counter
    from kiosk.db import transaction

    counters = ["1", "2", "3"]
    i = 0
    while not stop.wait(1.0 / rate):
        with transaction(sessions) as s:
            ticket = call_next(s, get_counter(s, counters[i % 3]), actor="staff:bench")
            number = ticket.display_number if ticket else None
        if number:
            commits[number] = time.monotonic()
        i += 1


# --- kiosk load ------------------------------------------------------------------------------


def kiosk_load(url: str, workers: int, seconds: float, results: Any) -> None:
    """``workers`` threads walking the kiosk screens for ``seconds``; puts the latencies."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def walk() -> None:
        steps = [
            ("get", "/kiosk/?lang=ja", None),
            ("post", "/kiosk/start", None),
            ("get", "/kiosk/procedures", None),
            ("post", "/kiosk/procedures", {"procedure": "juminhyo"}),
            ("get", "/kiosk/fields", None),
            ("post", "/kiosk/fields", {"juminhyo.copies": "1"}),
            ("get", "/kiosk/card", None),
            ("get", "/kiosk/card/state", None),
            ("post", "/kiosk/wipe", None),
        ]
        with requests.Session() as http:
            http.headers["X-Kiosk-Device"] = DEVICE_KEY
            while time.monotonic() < deadline:
                for method, path, data in steps:
                    started = time.monotonic()
                    try:
                        answer = http.request(method, url + path, data=data, timeout=10)
                        ok = answer.status_code < 400
                    except requests.RequestException as e:
                        ok = False
                        answer = e  # type: ignore[assignment]
                    took = time.monotonic() - started
                    with lock:
                        latencies.append(took)
                        if not ok:
                            errors.append(f"{path}: {answer}")

    threads = [threading.Thread(target=walk) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put((latencies, errors[:5], len(errors)))


# --- streams ---------------------------------------------------------------------------------


def stream_clients(
    events: str, boards: int, tokens: list[str], ready: Any, stop: Any, results: Any
) -> None:
    """Open the streams from 25 loopback addresses; record when each board first sees each
    called number; put (boards seen, phones seen, {number: [arrival, ...]}, errors)."""
    import aiohttp

    arrivals: dict[str, list[float]] = {}
    opened = {"board": 0, "ticket": 0}
    errors: list[str] = []

    async def one(
        session: aiohttp.ClientSession, url: str, kind: str, started: asyncio.Event
    ) -> None:
        seen: set[str] = set()
        try:
            async with session.get(
                url, timeout=aiohttp.ClientTimeout(total=None, sock_read=60)
            ) as r:
                if r.status != 200:
                    errors.append(f"{kind}: {r.status}")
                    return
                event = ""
                async for raw in r.content:
                    line = raw.decode().rstrip("\r\n")
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == kind:
                        if not seen:
                            opened[kind] += 1
                            if opened["board"] + opened["ticket"] == boards + len(tokens):
                                started.set()
                        if kind == "board":
                            now = time.monotonic()
                            for call in json.loads(line[6:])["calls"]:
                                if call["number"] not in seen:
                                    seen.add(call["number"])
                                    arrivals.setdefault(call["number"], []).append(now)
                        else:
                            seen.add("x")
        except (TimeoutError, aiohttp.ClientError) as e:
            errors.append(f"{kind}: {type(e).__name__}")

    async def main() -> None:
        started = asyncio.Event()
        sessions = [
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, local_addr=(a, 0)))
            for a in ADDRESSES
        ]
        urls = [(f"{events}/board/events", "board")] * boards + [
            (f"{events}/t/{t}/events", "ticket") for t in tokens
        ]
        tasks = [
            asyncio.create_task(one(sessions[i % len(sessions)], url, kind, started))
            for i, (url, kind) in enumerate(urls)
        ]
        try:
            await asyncio.wait_for(started.wait(), 60)
        except TimeoutError:
            errors.append(f"only {opened} opened within 60 s")
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for s in sessions:
            await s.close()

    asyncio.run(main())
    # Boards that saw the numbers present when they opened would count them as new: drop
    # arrivals of numbers no call made (the parent only looks up numbers it called).
    results.put((opened["board"], opened["ticket"], arrivals, errors[:5], len(errors)))


# --- the run ---------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quantile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100)[q - 1]


def phase(
    env: dict[str, str], args: argparse.Namespace, sessions: Any
) -> tuple[list[float], dict[str, float], int]:
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    stop = threading.Event()
    commits: dict[str, float] = {}
    call_thread = threading.Thread(target=caller, args=(sessions, args.calls_per_s, stop, commits))
    load = ctx.Process(target=kiosk_load, args=(env["url"], args.kiosks, args.seconds, results))
    call_thread.start()
    load.start()
    latencies, shown, failed = results.get(timeout=args.seconds + 120)
    load.join()
    stop.set()
    call_thread.join()
    for error in shown:
        print(f"kiosk error: {error}", file=sys.stderr)
    return latencies, commits, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--phones", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--kiosks", type=int, default=4)
    parser.add_argument("--calls-per-s", type=float, default=2.0)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    if args.streams > 20 * len(ADDRESSES) or args.phones > args.streams:
        parser.error(f"--streams at most {20 * len(ADDRESSES)}, --phones at most --streams")

    tmp = tempfile.TemporaryDirectory(prefix="bench-streams-")
    cluster = None
    extra: dict[str, str] = {}
    if args.backend == "postgresql":
        from tests.support.pgcluster import start_cluster

        cluster = start_cluster()
        extra = {
            "KIOSK_DATABASE_URL": cluster.create_database("bench"),
            "KIOSK_DATA_KEY": os.urandom(32).hex(),
        }
    process, env = start_service(Path(tmp.name), extra)
    engine, sessions = sessions_of(env)
    ctx = mp.get_context("spawn")
    try:
        needed = int(args.calls_per_s * args.seconds * 2.5) + args.phones + 50
        tickets = issue_tickets(sessions, needed)
        # Phones follow the tickets at the back of the line (they wait the whole run).
        phone_tokens = [token for _number, token in tickets[-args.phones :]] if args.phones else []

        cpu = cpu_seconds(process.pid)
        baseline, _, failed0 = phase(env, args, sessions)
        cpu_baseline = cpu_seconds(process.pid) - cpu

        ready, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
        clients = ctx.Process(
            target=stream_clients,
            args=(env["events"], args.streams - args.phones, phone_tokens, ready, stop, results),
        )
        clients.start()
        if not ready.wait(90):
            raise SystemExit("the stream clients did not start")
        health = requests.get(f"{env['url']}/healthz", timeout=10).json()["live"]
        cpu = cpu_seconds(process.pid)
        loaded, commits, failed1 = phase(env, args, sessions)
        cpu_loaded = cpu_seconds(process.pid) - cpu
        time.sleep(1.5)  # the last calls reach the boards
        stop.set()
        boards_open, phones_open, arrivals, stream_errors, stream_failed = results.get(timeout=60)
        clients.join(timeout=30)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        engine.dispose()
        if cluster is not None:
            cluster.stop()
        tmp.cleanup()

    lags = []
    missing = 0
    for number, committed in commits.items():
        seen = [t - committed for t in arrivals.get(number, [])]
        lags += seen
        missing += max(0, boards_open - len(seen))
    for error in stream_errors:
        print(f"stream error: {error}", file=sys.stderr)
    p95_0 = quantile(baseline, 95) * 1000
    p95_1 = quantile(loaded, 95) * 1000
    print(
        f"streams: backend={args.backend} boards={boards_open} phones={phones_open}"
        f" open_at_start={health['streams']} calls={len(commits)} board_events={len(lags)}"
        f" missed={missing} kiosk_requests={len(baseline)}/{len(loaded)}"
        f" kiosk_errors={failed0 + failed1} stream_errors={stream_failed}"
        f" kiosk_p95_ms_without_streams={p95_0:.1f} ratio={p95_1 / max(p95_0, 1e-9):.2f}"
        f" board_latency_p50_ms={quantile(lags, 50) * 1000:.0f}"
        f" board_latency_max_ms={max(lags, default=0) * 1000:.0f}"
        f" server_cpu_s={cpu_baseline:.1f}/{cpu_loaded:.1f}"
    )
    print(
        f"streams: open={boards_open + phones_open} kiosk_p95_ms={p95_1:.1f}"
        f" board_latency_p95_ms={quantile(lags, 95) * 1000:.0f}"
    )
    return 1 if (missing or stream_failed or failed0 or failed1) else 0


if __name__ == "__main__":
    sys.exit(main())
