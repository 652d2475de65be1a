"""Benchmark: concurrent payments end to end, from the Payment row to the ticket.

N kiosks (threads), each with its own terminal, take M payments between them. One payment:
open and confirm a case, ``start_payment`` (row committed, then the terminal), the resident
pays, the kiosk polls until the case has its ticket; then the success is applied a second
time (a duplicated webhook / poll) to show it changes nothing. Afterwards the database and
the terminals are checked for double charges and tickets per paid case. Last line:

    payments: provider=P payments=M ok=M double_charges=0 tickets_per_paid_case=1.0 \
        p50_ms=X p99_ms=Y            (one line; wrapped here)

Usage: .venv/bin/python bench/payments.py --provider sim --kiosks 4 --payments 200
       (--provider stripe_terminal runs against the local Stripe stand-in;
        --database-url postgresql+psycopg://... to use PostgreSQL instead of a SQLite file)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from application.schema import upgrade  # noqa: E402
from cardreader.model import CardInfo, Integrity, Sex  # noqa: E402
from kiosk import cases  # noqa: E402
from kiosk.catalog import load_catalog  # noqa: E402
from kiosk.counters import install_catalog  # noqa: E402
from kiosk.db import make_engine, make_session_factory, transaction  # noqa: E402
from kiosk.models import Ticket  # noqa: E402
from payments.collect import refresh_payment, start_payment  # noqa: E402
from payments.models import Payment, PaymentStatus  # noqa: E402
from payments.provider import PaymentProvider, ProviderStatus  # noqa: E402
from payments.states import apply_provider_state, get_payment  # noqa: E402

CARD = CardInfo(
    family_name="渡辺",
    given_name="花子",
    address="東京都港区芝公園四丁目二番八号",
    birth_date=date(1980, 2, 17),
    sex=Sex.FEMALE,
    integrity=Integrity.VERIFIED,
    individual_number=None,
)
POLL_S = 0.002


def _kiosk_providers(kind: str, kiosks: int, latency_s: float):  # type: ignore[no-untyped-def]
    """One (provider, pay) pair per kiosk; ``pay(ref)`` is the resident paying."""
    if kind == "sim":
        from application.registry import simulated_payments
        from hardware_sim.terminal import SimulatedTerminal

        out = []
        for i in range(kiosks):
            terminal = SimulatedTerminal(latency_s=latency_s, terminal_id=f"sim-{i}")
            out.append((simulated_payments(terminal), terminal.approve))
        return out, None
    if kind == "stripe_terminal":
        from payments.stripe_common import StripeConnection
        from payments.stripe_terminal import StripeTerminalProvider
        from tests.support.stripe_standin import StandinServer, StripeStandin

        readers = [f"tmr_bench{i}" for i in range(kiosks)]
        server = StandinServer(StripeStandin(readers=readers)).start()
        out = []
        for reader in readers:
            provider = StripeTerminalProvider(
                StripeConnection("sk_test_bench", server.url, max_network_retries=0),
                reader_id=reader,
                webhook_secret="whsec_bench",
            )

            def pay(_ref: str, p: StripeTerminalProvider = provider, r: str = reader) -> None:
                p.client.v1.test_helpers.terminal.readers.present_payment_method(
                    r, params={"type": "card_present"}
                )

            out.append((provider, pay))
        return out, server
    raise SystemExit(f"--provider {kind}: expected sim or stripe_terminal")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--provider", default="sim")
    parser.add_argument("--kiosks", type=int, default=4)
    parser.add_argument("--payments", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="per terminal call")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{Path(tmp.name) / 'bench.sqlite3'}"
    engine = make_engine(url, os.urandom(32), pool_size=args.kiosks + 2)
    upgrade(engine)
    sessions = make_session_factory(engine)
    catalog = load_catalog()
    with transaction(sessions) as s:
        install_catalog(s, catalog)

    kiosks, server = _kiosk_providers(args.provider, args.kiosks, args.latency_ms / 1000)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    todo = iter(range(args.payments))

    def one(provider: PaymentProvider, pay, actor: str) -> None:  # type: ignore[no-untyped-def]
        with transaction(sessions) as s:
            case = cases.open_case(s, CARD, ["juminhyo"], catalog=catalog, actor=actor)
            cases.confirm_case(s, case, catalog=catalog, actor=actor)
            case_id = case.id
        started = time.perf_counter()
        payment = start_payment(sessions, provider, case_id, actor=actor)
        pay(payment.provider_ref)
        while True:
            with transaction(sessions) as s:
                row = refresh_payment(s, provider, payment.public_id)
                done = row.status is PaymentStatus.SUCCEEDED
            if done:
                break
            if row.status is not PaymentStatus.PENDING:
                raise RuntimeError(f"{payment.public_id} ended {row.status.value}")
            time.sleep(POLL_S)
        elapsed = time.perf_counter() - started
        # The same success arriving again (duplicate webhook, a second poll): a no-op.
        with transaction(sessions) as s:
            view = provider.status(payment.provider_ref or "")
            assert view.status is ProviderStatus.SUCCEEDED
            apply_provider_state(s, get_payment(s, payment.public_id), view, actor=actor)
        with lock:
            latencies.append(elapsed)

    def kiosk(index: int) -> None:
        provider, pay = kiosks[index]
        actor = f"kiosk:bench{index}"
        while True:
            with lock:
                n = next(todo, None)
            if n is None:
                return
            try:
                one(provider, pay, actor)
            except Exception as e:  # counted, and the benchmark carries on
                with lock:
                    failures.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=kiosk, args=(i,)) for i in range(args.kiosks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    with transaction(sessions) as s:
        taken = [PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED]
        per_case = Counter(
            s.scalars(select(Payment.case_id).where(Payment.status.in_(taken))).all()
        )
        tickets = s.scalar(select(func.count()).select_from(Ticket)) or 0
    provider_charges: Counter[str] = Counter()
    if args.provider == "sim":
        for provider, _ in kiosks:
            for p in provider.terminal._payments.values():  # type: ignore[attr-defined]
                if p.status == "succeeded":
                    provider_charges[p.reference] += 1
    elif server is not None:
        for pi in server.standin.payment_intents.values():
            if pi["status"] == "succeeded":
                provider_charges[pi["metadata"]["case"]] += 1
    double = sum(1 for c in per_case.values() if c > 1) + sum(
        1 for c in provider_charges.values() if c > 1
    )
    paid_cases = len(per_case)
    for provider, _ in kiosks:
        provider.close()
    if server is not None:
        server.stop()
    engine.dispose()
    tmp.cleanup()
    for f in failures[:5]:
        print(f"failure: {f}", file=sys.stderr)
    ms = sorted(x * 1000 for x in latencies) or [0.0]
    p99 = ms[min(len(ms) - 1, int(round(0.99 * (len(ms) - 1))))]
    ratio = tickets / paid_cases if paid_cases else 0.0
    print(
        f"payments: provider={args.provider} payments={args.payments} ok={len(latencies)} "
        f"double_charges={double} tickets_per_paid_case={ratio:.1f} "
        f"p50_ms={statistics.median(ms):.1f} p99_ms={p99:.1f}"
    )


if __name__ == "__main__":
    main()
