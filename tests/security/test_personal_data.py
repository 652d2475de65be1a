"""Issue 10, personal data end to end: the data folder and database files are private
(0700 / 0600, WAL and shared memory included, also when an older version left them
readable), ciphertext lengths do not tell the value (the sex code was readable from them)
while rows written before padding still read, and ``kiosk purge`` removes the personal
data of every case past retention whatever its state (2,444 stuck or queued cases kept
theirs 45 days later), then closes the days they were left open on."""

from __future__ import annotations

import dataclasses
import os
import stat
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, text, update

from application.cli import cli
from application.closing import close_open_cases
from cardreader.model import Sex
from kiosk import cases
from kiosk.models import Case, CaseStatus
from kiosk.retention import purge
from kiosk.tickets import issue_ticket
from payments.models import Payment, PaymentStatus
from tests.domain.conftest import (
    KIOSK,
    NOW,
    TODAY,
    Db,
    make_card,
)
from tests.ui.conftest import upgraded_database


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_folder_and_database_files_are_private(tmp_path: Path) -> None:
    """A data folder and a database an older version left readable (0755 / 0644) are made
    0700 / 0600 at start; the WAL and shared-memory files SQLite makes are 0600 too, as
    are the keys."""
    from ui import create_app
    from ui.services import services_of

    data_dir = tmp_path / "var"
    data_dir.mkdir()
    data_dir.chmod(0o755)
    old_db = data_dir / "kiosk.sqlite3"
    old_db.touch()
    old_db.chmod(0o644)
    url = upgraded_database(data_dir)
    app = create_app({"data_dir": data_dir, "database_url": url, "card_reader": "sim-direct"})
    try:
        services = services_of(app)
        with services.sessions.begin() as session:  # a write: the WAL fills
            session.execute(text("UPDATE counters SET is_open = is_open"))
        wal, shm = Path(f"{old_db}-wal"), Path(f"{old_db}-shm")
        assert wal.exists() and shm.exists()
        assert _mode(data_dir) == 0o700
        for path in (old_db, wal, shm, data_dir / "data.key", data_dir / "secret_key"):
            assert _mode(path) == 0o600, path
    finally:
        services_of(app).close()


def test_a_new_data_folder_is_private_from_the_first_write(tmp_path: Path) -> None:
    """With a permissive umask, a fresh data folder and database are still 0700 / 0600."""
    old_umask = os.umask(0o022)
    try:
        data_dir = tmp_path / "fresh" / "var"
        upgraded_database(data_dir)
    finally:
        os.umask(old_umask)
    assert _mode(data_dir) == 0o700
    database = data_dir / "kiosk.sqlite3"
    assert _mode(database) == 0o600
    for suffix in ("-wal", "-shm"):
        side = Path(f"{database}{suffix}")
        if side.exists():
            assert _mode(side) == 0o600


def _stored(db: Db, case_id: int, column: str) -> bytes:
    with db.engine.connect() as conn:
        value = conn.execute(
            text(f"SELECT {column} FROM cases WHERE id = :id"), {"id": case_id}
        ).scalar_one()
    return bytes(value)


def test_ciphertext_length_does_not_reveal_the_value(db: Db) -> None:
    """Every sex code is stored as ciphertext of one length; so are short names of
    different lengths (only a 32-byte bucket is visible)."""
    ids: dict[str, int] = {}
    with db.tx() as s:
        for sex in Sex:
            card = dataclasses.replace(make_card(family_name="李", given_name=""), sex=sex)
            ids[sex.value] = db.open_case(s, card=card).id
        long_name = make_card(family_name="長谷川", given_name="美智子")
        ids["long"] = db.open_case(s, card=dataclasses.replace(long_name, sex=Sex.MALE)).id
    sex_lengths = {len(_stored(db, ids[sex.value], "sex")) for sex in Sex}
    assert len(sex_lengths) == 1, sex_lengths
    names = {len(_stored(db, ids[key], "family_name")) for key in ("male", "long")}
    assert len(names) == 1, names
    with db.tx() as s:
        assert {s.get(Case, ids[sex.value]).sex for sex in Sex} == {sex.value for sex in Sex}


def test_rows_written_before_padding_still_read(db: Db, data_key: bytes) -> None:
    """A format-1 ciphertext (unpadded, as earlier versions wrote) decrypts as before; a
    format-2 one relabelled as format 1 is refused, never shown with its padding."""
    with db.tx() as s:
        case_id = db.open_case(s).id
    nonce = os.urandom(12)
    old = b"\x01" + nonce + AESGCM(data_key).encrypt(nonce, "不明".encode(), b"case.sex")
    with db.engine.begin() as conn:
        conn.execute(update(Case).where(Case.id == case_id).values(sex=None))
        conn.execute(text("UPDATE cases SET sex = :v WHERE id = :id"), {"v": old, "id": case_id})
    with db.tx() as s:
        assert s.get(Case, case_id).sex == "不明"
    padded = _stored(db, case_id, "family_name")
    relabelled = b"\x01" + padded[1:]
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE cases SET family_name = :v WHERE id = :id"),
            {"v": relabelled, "id": case_id},
        )
    from kiosk.privacy import DecryptionFailed

    with db.tx() as s:
        try:
            s.scalars(select(Case.family_name).where(Case.id == case_id)).one()
        except DecryptionFailed:
            pass
        else:
            raise AssertionError("a relabelled ciphertext was accepted")


def _cases_in_every_state(db: Db) -> dict[str, int]:
    """One case per state a crash, an abandoned visit or a normal day leaves behind."""
    ids: dict[str, int] = {}
    with db.tx() as s:
        ids["draft"] = db.open_case(s).id
        confirmed = db.open_case(s)
        cases.confirm_case(s, confirmed, catalog=db.catalog, actor=KIOSK, now=NOW)
        ids["confirmed"] = confirmed.id
        awaiting = db.open_case(s)
        cases.confirm_case(s, awaiting, catalog=db.catalog, actor=KIOSK, now=NOW)
        cases.mark_awaiting_payment(s, awaiting, actor=KIOSK, now=NOW)
        ids["awaiting_payment"] = awaiting.id
        open_payment = db.open_case(s)
        cases.confirm_case(s, open_payment, catalog=db.catalog, actor=KIOSK, now=NOW)
        cases.mark_awaiting_payment(s, open_payment, actor=KIOSK, now=NOW)
        s.add(
            Payment(
                public_id="pay_left_pending",
                case_id=open_payment.id,
                amount_yen=open_payment.fee_yen,
                provider="sim",
                idempotency_key="kiosk-pay_left_pending",
                status=PaymentStatus.PENDING,
                refunded_yen=0,
                kiosk_id="k1",
                created_at=NOW,
                updated_at=NOW,
            )
        )
        ids["awaiting_open_payment"] = open_payment.id
        ids["paid"] = db.ready_case(s).id
        paid_queued = db.ready_case(s)
        issue_ticket(s, paid_queued, actor=KIOSK, now=NOW)
        ids["queued_paid"] = paid_queued.id
        free = db.ready_case(
            s,
            ["tenkyo"],
        )
        issue_ticket(s, free, actor=KIOSK, now=NOW)
        ids["queued_free"] = free.id
    return ids


def test_purge_removes_every_case_past_retention_whatever_its_state(db: Db) -> None:
    """45 days later every case lost its personal data (draft, confirmed, awaiting
    payment, paid, queued paid or free); on their own day none did."""
    ids = _cases_in_every_state(db)
    with db.tx() as s:
        assert purge(s, now=NOW + timedelta(hours=2)).count == 0
    with db.tx() as s:
        result = purge(s, actor="system", now=NOW + timedelta(days=45))
    assert sorted(result.purged_case_ids) == sorted(ids.values())
    with db.tx() as s:
        for case_id in ids.values():
            case = s.get(Case, case_id)
            assert case.name is None and case.address is None and case.sex is None
            assert case.birth_date is None and case.purged_at is not None


def test_end_of_day_close_cancels_what_was_left_open(db: Db) -> None:
    """The close of earlier days cancels abandoned and fee-free cases (their tickets too),
    leaves a case whose payment is still open and paid cases, and changes nothing when
    run again; today's cases are not touched."""
    ids = _cases_in_every_state(db)
    with db.tx() as s:
        same_day = close_open_cases(s, before=TODAY, actor="system", now=NOW)
    assert same_day.cancelled == () and same_day.left == ()
    later = NOW + timedelta(days=1)
    with db.tx() as s:
        result = close_open_cases(s, before=TODAY + timedelta(days=1), actor="system", now=later)
    expected = {"draft", "confirmed", "awaiting_payment", "queued_free"}
    assert set(result.cancelled) == {ids[k] for k in expected}
    assert set(result.left) == {ids["awaiting_open_payment"], ids["queued_paid"]}
    with db.tx() as s:
        for key in expected:
            assert s.get(Case, ids[key]).status is CaseStatus.CANCELLED, key
        ticket = s.get(Case, ids["queued_free"]).ticket
        assert ticket is not None and ticket.status.value == "cancelled"
        assert s.get(Case, ids["paid"]).status is CaseStatus.PAID
        assert s.get(Case, ids["queued_paid"]).status is CaseStatus.QUEUED
    with db.tx() as s:
        again = close_open_cases(s, before=TODAY + timedelta(days=1), actor="system", now=later)
    assert again.cancelled == ()


def test_kiosk_purge_command_purges_stuck_cases_and_closes_the_days(
    db: Db,
    data_key: bytes,
    tmp_path: Path,
) -> None:
    """``kiosk purge`` 45 days later: every case purged, the open ones of earlier days
    cancelled; the command says how many."""
    ids = _cases_in_every_state(db)
    env = {
        "KIOSK_DATA_DIR": str(tmp_path / "var"),
        "KIOSK_DATABASE_URL": db.url,
        "KIOSK_DATA_KEY": data_key.hex(),
    }
    later = (NOW + timedelta(days=45)).isoformat()
    result = CliRunner().invoke(cli, ["purge", "--now", later], env=env)
    assert result.exit_code == 0, result.output
    assert f"purged personal data of {len(ids)} case(s)" in result.output
    assert "4 case(s) cancelled, 2 left" in result.output
    with db.tx() as s:
        states = {k: s.get(Case, v).status.value for k, v in ids.items()}
        assert all(s.get(Case, v).purged_at is not None for v in ids.values())
    assert states["draft"] == "cancelled" and states["queued_free"] == "cancelled"
    assert states["awaiting_open_payment"] == "awaiting_payment"
