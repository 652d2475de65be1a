"""Personal data: encrypted at rest, key handling, purge, and nothing personal in logs."""

from __future__ import annotations

import logging
import os
import re
import stat
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from kiosk import cases
from kiosk.audit import events_for_case
from kiosk.calling import call_next, complete, start_serving
from kiosk.counters import get_counter
from kiosk.db import make_engine, make_session_factory, transaction
from kiosk.models import Case, CaseProcedure
from kiosk.privacy import DataKeyError, DecryptionFailed, load_data_key, parse_data_key
from kiosk.retention import compact_storage, purge
from kiosk.statistics import daily_stats
from kiosk.tickets import issue_ticket
from tests.domain.conftest import INDIVIDUAL_NUMBER, KIOSK, NOW, STAFF, TODAY, Db, make_card

NAME = ("鈴木", "一郎")
ADDRESS = "北海道札幌市中央区北一条西二丁目"
BIRTH = date(1957, 11, 3)
PIN = "4826"
HONSEKI = "京都府京都市左京区吉田本町"


def _personal_case(db: Db) -> int:
    card = make_card(
        family_name=NAME[0],
        given_name=NAME[1],
        address=ADDRESS,
        birth_date=BIRTH,
        individual_number=INDIVIDUAL_NUMBER,
    )
    with db.tx() as s:
        case = db.ready_case(
            s,
            ["tenshutsu", "koseki"],
            card=card,
            fields={"koseki": {"honseki": HONSEKI, "hittousha": NAME[0] + NAME[1]}},
        )
        issue_ticket(s, case, actor=KIOSK, now=NOW)
        return case.id


def _secrets() -> list[bytes]:
    return [
        s.encode()
        for s in (
            NAME[0],
            NAME[1],
            ADDRESS,
            INDIVIDUAL_NUMBER,
            HONSEKI,
            BIRTH.isoformat(),
            "1957-11-03",
            "19571103",
        )
    ]


def test_personal_data_is_encrypted_at_rest(db: Db) -> None:
    """Neither the SQLite file nor PostgreSQL's rows contain name, address, birth date,
    individual number or typed 本籍 in clear, while the app reads them back fine."""
    case_id = _personal_case(db)
    stored = db.stored_bytes()
    assert b"tenshutsu" in stored  # the scan sees plain columns, so it would see these
    for secret in _secrets():
        assert secret not in stored, secret
    with db.tx() as s:
        detail = cases.view_case(s, case_id, actor=STAFF, catalog=db.catalog)
    assert detail.individual_number == INDIVIDUAL_NUMBER and detail.address == ADDRESS
    assert detail.procedures[1].fields["honseki"] == HONSEKI


def test_wrong_key_cannot_read(db: Db) -> None:
    """An engine with another key fails to decrypt instead of returning garbage."""
    case_id = _personal_case(db)
    other = make_engine(db.url, os.urandom(32), pool_size=1)
    try:
        with transaction(make_session_factory(other)) as s, pytest.raises(DecryptionFailed):
            s.get(Case, case_id)
    finally:
        other.dispose()


def test_key_file_created_0600_and_reused(tmp_path: Path) -> None:
    """Without KIOSK_DATA_KEY a key file is made once with mode 0600 and then reused."""
    data_dir = tmp_path / "var"
    key = load_data_key("", data_dir)
    path = data_dir / "data.key"
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_data_key("", data_dir) == key
    path.chmod(0o644)
    with pytest.raises(DataKeyError, match="chmod 600"):
        load_data_key("", data_dir)


def test_explicit_key_wins_and_is_validated(tmp_path: Path) -> None:
    """KIOSK_DATA_KEY (hex or base64 of 32 bytes) is used as is; anything else is refused."""
    assert load_data_key("ab" * 32, tmp_path) == bytes.fromhex("ab" * 32)
    assert not (tmp_path / "data.key").exists()
    with pytest.raises(DataKeyError):
        parse_data_key("too-short")


def test_purge_removes_personal_data_keeps_stats_and_audits(db: Db) -> None:
    """Closed cases of earlier days lose every personal column; stats and audit remain;
    a case of the day of the purge keeps its data."""
    old = _personal_case(db)
    tomorrow = NOW + timedelta(days=1)
    with db.tx() as s:
        # Its ticket visits the moving counter, then the family register's (its two queues).
        for counter, minutes in (("3", 5), ("2", 9)):
            t = call_next(s, get_counter(s, counter), actor=STAFF, now=NOW)
            start_serving(s, t, actor=STAFF, now=NOW)
            complete(s, t, actor=STAFF, now=NOW + timedelta(minutes=minutes))
        still_open = db.ready_case(s, ["juminhyo"], now=tomorrow).id
    with db.tx() as s:
        same_day = purge(s, actor="system", now=NOW + timedelta(hours=1))
        assert same_day.count == 0  # retention: until the end of the business day
        result = purge(s, actor="system", now=tomorrow)
        assert result.purged_case_ids == (old,)
    compact_storage(db.engine)
    with db.tx() as s:
        case = s.get(Case, old)
        assert case.name is None and case.address is None and case.birth_date is None
        assert case.individual_number is None and case.sex is None
        assert case.purged_at is not None and case.status.value == "done"
        fields = s.scalars(
            select(CaseProcedure.resident_fields).where(CaseProcedure.case_id == old)
        ).all()
        assert fields == [None, None]
        assert s.get(Case, still_open).name is not None
        purged = [e for e in events_for_case(s, old) if e.action == "case.purged"]
        assert len(purged) == 1 and purged[0].actor == "system"
        [moving] = [st for st in daily_stats(s, TODAY) if st.queue == "moving"]
        assert (moving.issued, moving.served, moving.mean_service_s) == (1, 1, 300.0)
        assert purge(s, now=tomorrow).count == 0
    stored = db.stored_bytes()
    for secret in _secrets():
        assert secret not in stored


def test_logs_never_hold_pin_or_individual_number(db: Db, caplog: pytest.LogCaptureFixture) -> None:
    """A whole visit logged at DEBUG (SQL echo included) shows no PIN, number or name."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")  # SQL and its parameters
    card = make_card(
        family_name=NAME[0],
        given_name=NAME[1],
        address=ADDRESS,
        individual_number=INDIVIDUAL_NUMBER,
    )
    pin = PIN  # what the kiosk held while reading the card; the domain never sees it
    logging.getLogger("tests.kiosk").info("card read: %r", card)
    with db.tx() as s:
        case = cases.open_case(s, card, ["tenshutsu"], catalog=db.catalog, actor=KIOSK, now=NOW)
        cases.set_resident_fields(
            s,
            case,
            "tenshutsu",
            {"destination_address": HONSEKI, "moving_date": "2026-04-10"},
            catalog=db.catalog,
            actor=KIOSK,
            now=NOW,
        )
        cases.confirm_case(s, case, catalog=db.catalog, actor=KIOSK, now=NOW)
        ticket = issue_ticket(s, case, actor=KIOSK, now=NOW)
        logging.getLogger("tests.kiosk").info("case %r ticket %r", case, ticket)
        call_next(s, get_counter(s, "3"), actor=STAFF, now=NOW)
        cases.view_case(s, case.id, actor=STAFF, catalog=db.catalog)
    assert "case" in caplog.text and "SELECT" in caplog.text  # logging really was on
    for secret in (NAME[0], NAME[1], ADDRESS, HONSEKI):
        assert secret not in caplog.text
    # Digits are searched as whole numbers: "4826" inside a timing like "0.04826s" is no PIN.
    for secret in (pin, INDIVIDUAL_NUMBER):
        assert re.search(rf"(?<![0-9]){secret}(?![0-9])", caplog.text) is None
