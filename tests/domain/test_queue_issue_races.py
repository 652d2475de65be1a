"""Issuing races: a duplicate issue for one case that waited on the case lock."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from kiosk.cases import get_case
from kiosk.models import Ticket
from kiosk.tickets import issue_ticket
from tests.domain.conftest import NOW, Db


def test_issue_blocked_behind_a_concurrent_issue_returns_that_ticket(db: Db) -> None:
    """A second issue for the same case, blocked until the first commits, gets the first's
    ticket back (idempotent) instead of an error or a second ticket."""
    with db.tx() as s:
        case_id = db.ready_case(s, ["juminhyo"], now=NOW).id
    first_issued = threading.Event()
    release_first = threading.Event()
    results: dict[str, int] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with db.tx() as s:
                results["first"] = issue_ticket(s, get_case(s, case_id), actor="kiosk:a").id
                first_issued.set()
                release_first.wait(10)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
            first_issued.set()

    def second() -> None:
        try:
            with db.tx() as s:
                case = get_case(s, case_id)
                results["second"] = issue_ticket(s, case, actor="kiosk:b").id
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    a = threading.Thread(target=first)
    a.start()
    assert first_issued.wait(10)
    b = threading.Thread(target=second)
    b.start()
    time.sleep(0.3)  # b is now waiting for the case row (PostgreSQL) or the write slot
    release_first.set()
    a.join(30)
    b.join(30)
    assert not errors, errors
    assert results["first"] == results["second"]
    with db.tx() as s:
        count = s.scalar(select(func.count()).select_from(Ticket).where(Ticket.case_id == case_id))
    assert count == 1
