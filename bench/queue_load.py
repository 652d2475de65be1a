"""Queue load benchmark: K kiosks issuing tickets and C counters calling and completing,
concurrently, on SQLite or PostgreSQL; then a consistency check.

    python bench/queue_load.py --backend sqlite|postgresql --kiosks 8 --counters 16 --seconds 10

Every committed domain transaction is one op (kiosk: open case, confirm, await payment,
paid, issue ticket; counter: call next, start serving, complete). Workers are threads
with one session per transaction, like the service's request threads, spread
over ``--processes`` worker processes (so PostgreSQL runs are not bound by one GIL). After the
timed run the kiosks stop and the counters drain the queues (not timed), then the checks:
``double_called`` (tickets called more than once, from the audit trail and the workers'
own records), ``lost`` (issued tickets neither called exactly once nor still waiting),
``duplicate_numbers`` (same queue, day and number twice). Exit status 1 on any anomaly.
The first summary line also gives ``statements_per_op``, the SQL statements per op.

For PostgreSQL without ``--url`` a throwaway cluster is started (tests/support/pgcluster.py,
durability off as in the tests; ``--durable`` keeps fsync on) and removed afterwards.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter as Tally
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import event, func, select  # noqa: E402

from application.schema import upgrade  # noqa: E402
from cardreader.model import CardInfo, Integrity, Sex  # noqa: E402
from kiosk import cases  # noqa: E402
from kiosk.calling import call_next, complete, start_serving  # noqa: E402
from kiosk.catalog import load_catalog  # noqa: E402
from kiosk.clock import business_day  # noqa: E402
from kiosk.counters import get_counter, install_catalog  # noqa: E402
from kiosk.db import make_engine, make_session_factory, transaction  # noqa: E402
from kiosk.models import AuditEvent, Ticket, TicketStatus  # noqa: E402
from kiosk.tickets import get_ticket, issue_ticket  # noqa: E402
from tests.support.pgcluster import start_cluster  # noqa: E402

PROCEDURES = (["juminhyo"], ["tenkyo"], ["tax_certificate"], ["koseki"], ["tenkyo", "juminhyo"])
FIELDS = {
    "tenkyo": {
        "new_address": {"town": "霞が関", "chome": 1, "ban": 1, "go": 1},
        # inside the catalog's window: the last 14 days up to today
        "moving_date": (business_day() - timedelta(days=3)).isoformat(),
    },
    "tax_certificate": {"fiscal_years": [2024]},
    "koseki": {"honseki": "東京都港区芝公園四丁目", "hittousha": "渡辺一郎"},
}
CARD = CardInfo(
    "渡辺",
    "花子",
    "東京都港区芝公園四丁目二番八号",
    date(1980, 2, 17),
    Sex.FEMALE,
    Integrity.VERIFIED,
)


class Recorder:
    """Per-op (end time, latency) and the ids each worker saw, for one worker process."""

    def __init__(self, tickets: Any) -> None:
        self.lock = threading.Lock()
        self.done: list[tuple[float, float]] = []
        self.issued: list[int] = []
        self.called: list[int] = []
        self.errors: list[str] = []
        # One permit per issued ticket (shared by all processes): an idle counter waits for
        # a ticket to exist, as staff press "call next" when the board shows people
        # waiting, instead of spinning empty write transactions that measure polling.
        self.tickets = tickets

    def op(self, started: float) -> None:
        end = time.monotonic()
        with self.lock:
            self.done.append((end, end - started))


def kiosk_worker(n: int, sessions, catalog, rec: Recorder, stop: threading.Event) -> None:
    i = 0
    while not stop.is_set():
        procedures = PROCEDURES[(n + i) % len(PROCEDURES)]
        i += 1
        try:
            t = time.monotonic()
            with transaction(sessions) as s:
                case = cases.open_case(s, CARD, procedures, catalog=catalog, actor=f"kiosk:{n}")
                for code in procedures:
                    if code in FIELDS:
                        cases.set_resident_fields(
                            s, case, code, FIELDS[code], catalog=catalog, actor=f"kiosk:{n}"
                        )
            rec.op(t)
            t = time.monotonic()
            with transaction(sessions) as s:
                case = cases.get_case(s, case.id)
                cases.confirm_case(s, case, catalog=catalog, actor=f"kiosk:{n}")
            rec.op(t)
            if case.fee_yen:
                for step in (cases.mark_awaiting_payment, cases.mark_paid):
                    t = time.monotonic()
                    with transaction(sessions) as s:
                        step(s, case, actor="payment:bench")
                    rec.op(t)
            t = time.monotonic()
            with transaction(sessions) as s:
                ticket = issue_ticket(s, case, actor=f"kiosk:{n}")
                tid = ticket.id
            rec.op(t)
            with rec.lock:
                rec.issued.append(tid)
            rec.tickets.release()
        except Exception as e:  # noqa: BLE001 - counted and reported, the run goes on
            with rec.lock:
                rec.errors.append(f"kiosk {n}: {type(e).__name__}: {e}")


def counter_worker(
    n: int, code: str, sessions, rec: Recorder, stop: threading.Event, drained: threading.Event
) -> None:
    actor = f"staff:{n}"
    while not stop.is_set():
        rec.tickets.acquire(timeout=0.2)
        try:
            t = time.monotonic()
            with transaction(sessions) as s:
                ticket = call_next(s, get_counter(s, code), actor=actor)
                tid = ticket.id if ticket is not None else None
            if tid is None:
                if drained.is_set():
                    return
                continue
            rec.op(t)
            with rec.lock:
                rec.called.append(tid)
            for step in (start_serving, complete):
                t = time.monotonic()
                with transaction(sessions) as s:
                    step(s, get_ticket(s, tid), actor=actor)
                rec.op(t)
        except Exception as e:  # noqa: BLE001
            with rec.lock:
                rec.errors.append(f"counter {n}: {type(e).__name__}: {e}")


def check(sessions, rec: Recorder) -> tuple[int, int, int]:
    with transaction(sessions) as s:
        audit_calls = Tally(
            s.scalars(select(AuditEvent.ticket_id).where(AuditEvent.action == "ticket.called"))
        )
        rows = s.execute(select(Ticket.id, Ticket.status)).all()
        duplicates = s.execute(
            select(func.count())
            .select_from(Ticket)
            .group_by(Ticket.origin_queue_id, Ticket.business_day, Ticket.number)
            .having(func.count() > 1)
        ).all()
    worker_calls = Tally(rec.called)
    double = {t for t, c in audit_calls.items() if c > 1} | {
        t for t, c in worker_calls.items() if c > 1
    }
    status = dict(rows)
    lost = 0
    for tid in set(rec.issued) | set(status):
        called_once = audit_calls.get(tid, 0) == 1 and worker_calls.get(tid, 0) == 1
        waiting = status.get(tid) is TicketStatus.WAITING and tid not in audit_calls
        if not (called_once or waiting) or tid not in status:
            lost += 1
    return len(double), lost, len(duplicates)


def run_process(
    url: str,
    key: bytes,
    kiosks: list[int],
    counters: list[tuple[int, str]],
    shared: dict,
    results: Any,
) -> None:
    """One worker process: its own engine and a thread per kiosk or counter."""
    engine = make_engine(url, key, pool_size=len(kiosks) + len(counters) + 1, pre_ping=False)
    # Statements sent (SQLite's BEGIN IMMEDIATE included, PostgreSQL's implicit BEGIN and
    # every COMMIT not), idle call-next attempts included: where the time per op goes.
    statements = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_: Any) -> None:
        statements[0] += 1  # a lost update under threads only blurs a diagnostic figure

    sessions = make_session_factory(engine)
    catalog = load_catalog()
    rec = Recorder(shared["tickets"])
    threads = [
        threading.Thread(
            target=kiosk_worker, args=(n, sessions, catalog, rec, shared["stop_kiosks"])
        )
        for n in kiosks
    ] + [
        threading.Thread(
            target=counter_worker,
            args=(n, code, sessions, rec, shared["stop_counters"], shared["drained"]),
        )
        for n, code in counters
    ]
    shared["ready"].wait()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    results.put((rec.done, rec.issued, rec.called, rec.errors, statements[0]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--kiosks", type=int, default=8)
    parser.add_argument("--counters", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        help="worker processes (default: 1 for SQLite, CPUs up to 4 for PostgreSQL)",
    )
    parser.add_argument("--url", default="", help="use this database instead of a fresh one")
    parser.add_argument("--durable", action="store_true", help="throwaway PostgreSQL with fsync")
    args = parser.parse_args()
    # SQLite: one process, so writers queue on kiosk.db's in-process lock instead of
    # SQLite's sleeping busy handler (which across processes gives p99 near a second).
    default = 1 if args.backend == "sqlite" else min(4, os.cpu_count() or 1)
    processes = args.processes or default

    cluster = None
    tmp = tempfile.TemporaryDirectory(prefix="queue-load-")
    url = args.url
    if not url and args.backend == "sqlite":
        url = f"sqlite:///{tmp.name}/bench.sqlite3"
    elif not url:
        cluster = start_cluster(durable=args.durable, max_connections=300)
        url = cluster.create_database("bench")
    key = os.urandom(32)
    engine = make_engine(url, key, pool_size=2)
    rec = Recorder(None)
    statements = 0
    try:
        upgrade(engine)
        catalog = load_catalog()
        sessions = make_session_factory(engine)
        with transaction(sessions) as s:
            install_catalog(s, catalog)
            codes = [c.code for c in catalog.counters]
        ctx = mp.get_context("fork")
        shared = {
            "tickets": ctx.Semaphore(0),
            "stop_kiosks": ctx.Event(),
            "stop_counters": ctx.Event(),
            "drained": ctx.Event(),
            "ready": ctx.Barrier(processes + 1),
        }
        results = ctx.Queue()
        engine.dispose()  # no pooled connection may cross the fork
        procs = [
            ctx.Process(
                target=run_process,
                args=(
                    url,
                    key,
                    [n for n in range(args.kiosks) if n % processes == p],
                    [
                        (n, codes[n % len(codes)])
                        for n in range(args.counters)
                        if n % processes == p
                    ],
                    shared,
                    results,
                ),
            )
            for p in range(processes)
        ]
        for proc in procs:
            proc.start()
        shared["ready"].wait()
        started = time.monotonic()
        time.sleep(args.seconds)
        shared["stop_kiosks"].set()
        time.sleep(1.0)  # kiosks finish their current visit
        shared["drained"].set()  # counters now stop at the first empty call
        for _ in procs:
            done, issued, called, errors, sent = results.get(timeout=300)
            statements += sent
            rec.done += done
            rec.issued += issued
            rec.called += called
            rec.errors += errors
        for proc in procs:
            proc.join()
        shared["stop_counters"].set()
        double, lost, dup = check(sessions, rec)
    finally:
        engine.dispose()
        if cluster is not None:
            cluster.stop()
        tmp.cleanup()
    window = [lat for end, lat in rec.done if end <= started + args.seconds]
    for error in rec.errors[:10]:
        print(f"error: {error}", file=sys.stderr)
    quantiles = statistics.quantiles(window, n=100) if len(window) > 1 else [0.0] * 99
    print(
        f"queue_load: issued={len(rec.issued)} called={len(rec.called)} errors={len(rec.errors)}"
        f" kiosks={args.kiosks} counters={args.counters} seconds={args.seconds:g}"
        f" processes={processes} statements_per_op={statements / max(1, len(rec.done)):.2f}"
    )
    print(
        f"queue_load: backend={args.backend} ops_per_s={len(window) / args.seconds:.0f}"
        f" p50_ms={quantiles[49] * 1000:.1f} p99_ms={quantiles[98] * 1000:.1f}"
        f" double_called={double} lost={lost} duplicate_numbers={dup}"
    )
    return 1 if (double or lost or dup or rec.errors) else 0


if __name__ == "__main__":
    sys.exit(main())
