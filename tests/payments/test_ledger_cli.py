"""``kiosk ledger show / close / reconcile`` from the command line (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from application.cli import cli
from application.registry import simulated_payments
from hardware_sim.terminal import SimulatedTerminal
from kiosk.cases import confirm_case
from kiosk.counter_cases import open_counter_case, serve_at_counter
from kiosk.counters import get_counter
from payments.collect import refresh_payment, start_payment
from payments.counter import take_cash
from tests.domain.conftest import make_card
from tests.payments.conftest import API_KEY, KIOSK, NOW, STAFF, Db, Resident, confirmed_case
from tests.support.stripe_standin import StandinServer

DAY = "2026-04-01"
HEADER = "procedure_code,method,count,gross_yen,refunds_yen,net_yen"


def _env(db: Db, data_key: bytes, tmp_path: Path, **more: str) -> dict[str, str]:
    env = {
        "KIOSK_DATA_DIR": str(tmp_path),
        "KIOSK_DATABASE_URL": db.url,
        "KIOSK_DATA_KEY": data_key.hex(),
        "KIOSK_PAYMENTS": "sim",
        "KIOSK_CASH_FLOAT_YEN": "30000",
    }
    env.update(more)
    return env


def _day_of_takings(db: Db) -> None:
    """Cash 300 at counter 1 (tendered 1000) and a card payment of 600 at the kiosk."""
    with db.tx() as s:
        case = open_counter_case(
            s, ["juminhyo"], catalog=db.catalog, actor=STAFF, card=make_card(), now=NOW
        )
        confirm_case(s, case, catalog=db.catalog, actor=STAFF, now=NOW)
        serve_at_counter(s, case, get_counter(s, "1"), actor=STAFF, now=NOW)
        take_cash(
            s, case.id, amount_yen=300, tendered_yen=1000, counter_code="1", actor=STAFF, now=NOW
        )
    provider = simulated_payments(SimulatedTerminal(auto="approve"))
    case_id = confirmed_case(db, ("juminhyo", "inkan"))
    payment = start_payment(db.sessions, provider, case_id, actor=KIOSK, now=NOW)
    with db.tx() as s:
        refresh_payment(s, provider, payment.public_id, now=NOW)


def test_show_prints_the_ledger_and_exact_csv_in_utf8_and_cp932(
    db: Db, data_key: bytes, tmp_path: Path
) -> None:
    """The table names procedures in Japanese and the drawers; --csv has exactly the
    contract's columns and a final TOTAL row; --encoding cp932 is Shift_JIS bytes."""
    _day_of_takings(db)
    env = _env(db, data_key, tmp_path)
    runner = CliRunner()
    table = runner.invoke(cli, ["ledger", "show", DAY], env=env)
    assert table.exit_code == 0, table.output
    assert "収納日計表 2026-04-01 (open)" in table.output
    assert "住民票の写し" in table.output and "印鑑登録証明書" in table.output
    csv = runner.invoke(cli, ["ledger", "show", DAY, "--csv"], env=env)
    assert csv.exit_code == 0, csv.output
    assert csv.stdout_bytes.decode("utf-8").split("\r\n") == [
        HEADER,
        "inkan,card,1,300,0,300",
        "juminhyo,card,1,300,0,300",
        "juminhyo,cash,1,300,0,300",
        "TOTAL,,3,900,0,900",
        "",
    ]
    sjis = runner.invoke(cli, ["ledger", "show", DAY, "--csv", "--encoding", "cp932"], env=env)
    assert sjis.stdout_bytes == csv.stdout_bytes  # ASCII content: identical bytes
    bad = runner.invoke(cli, ["ledger", "show", "01/04/2026"], env=env)
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


def test_close_refuses_wrong_counts_then_closes_once(
    db: Db, data_key: bytes, tmp_path: Path
) -> None:
    """Missing drawers and an unexplained difference are refused (exit 1, nothing
    recorded); with a reason the day closes and shows the difference; a second close is
    refused; a cash payment on the closed day is refused."""
    _day_of_takings(db)
    env = _env(db, data_key, tmp_path)
    runner = CliRunner()
    missing = runner.invoke(cli, ["ledger", "close", DAY, "--counted", "1=30300"], env=env)
    assert missing.exit_code == 1
    assert "drawer 2: no count given" in missing.output and "nothing was recorded" in missing.output
    args = [
        "ledger",
        "close",
        DAY,
        "--counted",
        "1=30200",
        "--counted",
        "2=30000",
        "--counted",
        "3=30000",
    ]
    unexplained = runner.invoke(cli, args, env=env)
    assert unexplained.exit_code == 1 and "give --reason" in unexplained.output
    malformed = runner.invoke(cli, ["ledger", "close", DAY, "--counted", "1=lots"], env=env)
    assert malformed.exit_code == 2
    closed = runner.invoke(cli, [*args, "--reason", "1=釣銭の渡し誤り"], env=env)
    assert closed.exit_code == 0, closed.output
    assert "cash_difference_yen=-100" in closed.output and "gross_yen=900" in closed.output
    again = runner.invoke(cli, [*args, "--reason", "1=x"], env=env)
    assert again.exit_code == 1 and "was closed already" in again.output
    table = runner.invoke(cli, ["ledger", "show", DAY], env=env)
    assert "closed" in table.output and "釣銭の渡し誤り" in table.output


def test_reconcile_against_the_stand_in(
    db: Db, data_key: bytes, tmp_path: Path, terminal_resident: Resident
) -> None:
    """With Stripe configured the day's card payments are matched (exit 0); a charge Stripe
    does not know of ours makes it report the mismatch (exit 1)."""
    case_id = confirmed_case(db)
    payment = start_payment(db.sessions, terminal_resident.provider, case_id, actor=KIOSK, now=NOW)
    terminal_resident.pay(payment)  # type: ignore[arg-type]
    with db.tx() as s:
        refresh_payment(s, terminal_resident.provider, payment.public_id, now=NOW)
    server: StandinServer = terminal_resident.server  # type: ignore[assignment]
    for txn in server.standin.balance_transactions:
        txn["created"] = int(NOW.timestamp())
    env = _env(
        db, data_key, tmp_path, KIOSK_STRIPE_API_KEY=API_KEY, KIOSK_STRIPE_API_BASE=server.url
    )
    runner = CliRunner()
    matched = runner.invoke(cli, ["ledger", "reconcile", DAY], env=env)
    assert matched.exit_code == 0, matched.output
    assert "matched=1 mismatches=0 gross_yen=300 fee_yen=11 net_yen=289" in matched.output
    server.standin._balance("charge", 450, 16, "ch_not_ours")
    server.standin.balance_transactions[-1]["created"] = int(NOW.timestamp())
    found = runner.invoke(cli, ["ledger", "reconcile", DAY], env=env)
    assert found.exit_code == 1
    assert "mismatch: unknown_at_provider" in found.output and "provider=450" in found.output
    plain = runner.invoke(cli, ["ledger", "reconcile", DAY], env=_env(db, data_key, tmp_path))
    assert (
        plain.exit_code == 0
        and "not reconcilable: 1 line(s) of provider stripe_terminal" in plain.output
    )
