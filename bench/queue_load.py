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

``--preload N`` (issue 10, cost flat with the day's size): the same load once on a fresh
database and once with N tickets of the day already issued and finished (``preload_day``),
alternating ``--rounds`` times; the last line gives both rates and their ratio (aim: at
least 0.9 at N=5000, on SQLite and PostgreSQL)::

    python bench/queue_load.py --backend sqlite --preload 5000 --rounds 2
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import secrets
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

from sqlalchemy import event, func, select, text  # noqa: E402

from application.schema import upgrade  # noqa: E402
from cardreader.model import CardInfo, Integrity, Sex  # noqa: E402
from kiosk import cases  # noqa: E402
from kiosk.calling import call_next, complete, start_serving  # noqa: E402
from kiosk.catalog import load_catalog  # noqa: E402
from kiosk.clock import business_day, utcnow  # noqa: E402
from kiosk.counters import get_counter, install_catalog  # noqa: E402
from kiosk.db import make_engine, make_session_factory, transaction  # noqa: E402
from kiosk.models import (  # noqa: E402
    AuditEvent,
    Case,
    CaseProcedure,
    CaseStatus,
    Counter,
    DailySequence,
    Queue,
    Ticket,
    TicketStatus,
)
from kiosk.tickets import get_ticket, issue_ticket  # noqa: E402
from tests.support.pgcluster import start_cluster  # noqa: E402

T = TicketStatus
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


def preload_day(sessions, catalog, count: int) -> int:
    """``count`` tickets already issued today, as a busy morning leaves them: every one
    called and finished (95 % done, 3 % no-show, 2 % cancelled), with their cases, one
    procedure line each, three audit rows each and the daily number series moved on. Bulk
    Core inserts (explicit ids on the fresh database), so 5,000 take seconds, not the
    minutes the domain functions would. Returns the highest preloaded ticket id (the
    consistency check leaves those out)."""
    if count <= 0:
        return 0
    now = utcnow()
    day = business_day(now)
    start = now - timedelta(hours=6)
    procedure_of_queue: dict[str, Any] = {}
    for spec in catalog.procedures:
        procedure_of_queue.setdefault(spec.queue, spec)
    with transaction(sessions) as s:
        queues = [
            q for q in s.scalars(select(Queue).order_by(Queue.id)) if q.code in procedure_of_queue
        ]
        counter_ids = [c.id for c in s.scalars(select(Counter).order_by(Counter.id))]
    numbers: Tally[int] = Tally()
    case_rows, line_rows, ticket_rows, audit_rows = [], [], [], []
    for i in range(1, count + 1):
        queue = queues[i % len(queues)]
        spec = procedure_of_queue[queue.code]
        numbers[queue.id] += 1
        issued = start + timedelta(seconds=i * 4)
        called = issued + timedelta(seconds=300)
        done = called + timedelta(seconds=240)
        kind = i % 100
        status = T.CANCELLED if kind < 2 else T.NO_SHOW if kind < 5 else T.DONE
        case_status = {
            T.CANCELLED: CaseStatus.CANCELLED,
            T.NO_SHOW: CaseStatus.NO_SHOW,
            T.DONE: CaseStatus.DONE,
        }[status]
        fee = spec.unit_fee("kiosk")
        case_rows.append(
            {
                "id": i,
                "status": case_status,
                "language": "ja",
                "channel": "kiosk",
                "priority": 0,
                "opened_by": "kiosk:preload",
                "business_day": day,
                "created_at": issued,
                "updated_at": done,
                "closed_at": done,
                "fee_yen": fee,
                "card_integrity": "verified",
            }
        )
        line_rows.append(
            {
                "case_id": i,
                "position": 0,
                "procedure_code": spec.code,
                "queue_code": queue.code,
                "unit_fee_yen": fee,
                "units": 1,
                "fee_yen": fee,
            }
        )
        finished = status is T.DONE
        ticket_rows.append(
            {
                "id": i,
                "case_id": i,
                "origin_queue_id": queue.id,
                "queue_id": queue.id,
                "business_day": day,
                "number": numbers[queue.id],
                "display_number": f"{queue.prefix}-{numbers[queue.id]:03d}",
                "status": status,
                "priority": 0,
                "token": secrets.token_urlsafe(32),
                "issued_at": issued,
                "sort_at": issued,
                "target_counter_id": None,
                "counter_id": None if status is T.CANCELLED else counter_ids[i % len(counter_ids)],
                "first_called_at": None if status is T.CANCELLED else called,
                "called_at": None if status is T.CANCELLED else called,
                "serving_at": called if finished else None,
                "completed_at": done if status is not T.CANCELLED else None,
                "call_count": 0 if status is T.CANCELLED else 1,
                "quoted_wait_s": 300,
                "actual_wait_s": None if status is T.CANCELLED else 300,
                "service_s": 240 if finished else None,
            }
        )
        for action, at in (
            ("ticket.issued", issued),
            ("ticket.called", called),
            ("ticket.done", done),
        ):
            audit_rows.append(
                {
                    "at": at,
                    "actor": "system",
                    "action": action,
                    "case_id": i,
                    "ticket_id": i,
                    "detail": {},
                }
            )
    with transaction(sessions) as s:
        for table, rows in (
            (Case.__table__, case_rows),
            (CaseProcedure.__table__, line_rows),
            (Ticket.__table__, ticket_rows),
            (AuditEvent.__table__, audit_rows),
        ):
            for chunk in range(0, len(rows), 1000):
                s.execute(table.insert(), rows[chunk : chunk + 1000])
        for queue_id, last in numbers.items():
            s.add(DailySequence(queue_id=queue_id, business_day=day, last_number=last))
        if s.get_bind().dialect.name == "postgresql":  # explicit ids: move the sequences on
            for table in ("cases", "tickets"):
                s.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {count})"))
    return count


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


def check(sessions, rec: Recorder, preloaded: int = 0) -> tuple[int, int, int]:
    with transaction(sessions) as s:
        audit_calls = Tally(
            s.scalars(
                select(AuditEvent.ticket_id).where(
                    AuditEvent.action == "ticket.called", AuditEvent.ticket_id > preloaded
                )
            )
        )
        rows = s.execute(select(Ticket.id, Ticket.status).where(Ticket.id > preloaded)).all()
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
    parser.add_argument(
        "--preload",
        type=int,
        default=0,
        metavar="N",
        help="tickets already issued (and finished) today: runs a round on a fresh database "
        "and one with N preloaded, and prints the ratio of their ops/s",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="with --preload: pairs of rounds, alternating (the ratio is of the totals)",
    )
    args = parser.parse_args()
    # SQLite: one process, so writers queue on kiosk.db's in-process lock instead of
    # SQLite's sleeping busy handler (which across processes gives p99 near a second).
    default = 1 if args.backend == "sqlite" else min(4, os.cpu_count() or 1)
    processes = args.processes or default

    if not args.preload:
        return run(args, processes, 0)[1]
    ops = {0: 0.0, args.preload: 0.0}
    status = 0
    for _ in range(max(1, args.rounds)):
        for preload in (0, args.preload):
            rate, code = run(args, processes, preload)
            ops[preload] += rate
            status = status or code
    ratio = ops[args.preload] / max(ops[0], 1e-9)
    print(
        f"queue_load: backend={args.backend} preload={args.preload} rounds={args.rounds}"
        f" ops_per_s_0={ops[0] / args.rounds:.0f}"
        f" ops_per_s_{args.preload}={ops[args.preload] / args.rounds:.0f} ratio={ratio:.3f}"
    )
    return status


def run(args: argparse.Namespace, processes: int, preload: int) -> tuple[float, int]:
    """One timed round on a fresh database with ``preload`` tickets of the day already
    issued; prints its summary lines, returns (ops per second, exit status)."""
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
        preloaded = preload_day(sessions, catalog, preload)
        if preloaded and args.backend == "postgresql":
            # What autovacuum does within a minute of such a bulk load on a running server
            # (the wait estimate's plan depends on it; SQLite's plans need no statistics).
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
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
        double, lost, dup = check(sessions, rec, preloaded)
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
        f" preload={preload}"
        f" processes={processes} statements_per_op={statements / max(1, len(rec.done)):.2f}"
    )
    print(
        f"queue_load: backend={args.backend} ops_per_s={len(window) / args.seconds:.0f}"
        f" p50_ms={quantiles[49] * 1000:.1f} p99_ms={quantiles[98] * 1000:.1f}"
        f" double_called={double} lost={lost} duplicate_numbers={dup}"
    )
    status = 1 if (double or lost or dup or rec.errors) else 0
    return len(window) / args.seconds, status


if __name__ == "__main__":
    sys.exit(main())
