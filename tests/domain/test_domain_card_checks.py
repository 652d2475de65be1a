"""A case keeps what the genuine-card checks of its card read found (no personal data), and
the staff view of the case shows it; cases of reads that made no check say so."""

from __future__ import annotations

import dataclasses

from sqlalchemy import text

from cardreader.model import CardChecks, Genuine
from kiosk.cases import CardCheckRecord, view_case
from tests.domain.conftest import Db, make_card

STAFF = "staff:1"


def test_the_case_stores_each_checks_result(db: Db) -> None:
    """Chip signed, card chain verified, JPKI chain expired (a ward that does not require
    it): each result is stored with the case and comes back in the staff view."""
    checks = CardChecks(
        chip_checked=True,
        chip_authenticated=True,
        card_chain=Genuine.VERIFIED,
        jpki_chain=Genuine.EXPIRED,
        genuine=Genuine.EXPIRED,
    )
    card = dataclasses.replace(make_card(), checks=checks)
    with db.tx() as s:
        case_id = db.open_case(s, card=card).id
    with db.tx() as s:
        detail = view_case(s, case_id, actor=STAFF, catalog=db.catalog)
    assert detail.card_checks == CardCheckRecord("verified", True, "verified", "expired", "expired")
    with db.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT card_chip_authenticated, card_chain, card_jpki_chain, card_genuine "
                "FROM cases WHERE id = :id"
            ),
            {"id": case_id},
        ).one()
    assert (bool(row[0]), row[1], row[2], row[3]) == (True, "verified", "expired", "expired")


def test_a_read_without_checks_is_recorded_as_not_checked(db: Db) -> None:
    """A read that made no genuine-card check (the chip was not asked): the chip is stored as
    unknown (NULL), not as a failure, and every chain as not_checked."""
    with db.tx() as s:
        case_id = db.open_case(s, card=make_card()).id
    with db.tx() as s:
        checks = view_case(s, case_id, actor=STAFF, catalog=db.catalog).card_checks
    assert checks == CardCheckRecord("verified", None, "not_checked", "not_checked", "not_checked")
