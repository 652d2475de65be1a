"""How the case functions write: Core statements at once, objects left clean and usable."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select

from kiosk import cases
from kiosk.audit import events_for_case
from kiosk.catalog import ValidationFailed
from kiosk.models import Case, CaseProcedure, CaseStatus
from tests.domain.conftest import KIOSK, NOW, Db


def test_opened_case_is_usable_after_the_session_closed(db: Db) -> None:
    """open_case returns a case whose lines, ticket and card fields read without a
    session (views render after the commit), and the rows hold the same values."""
    with db.tx() as s:
        case = db.open_case(s, ["tax_certificate", "juminhyo"])
        cases.set_resident_fields(
            s,
            case,
            "tax_certificate",
            {"fiscal_years": [2024, 2025]},
            catalog=db.catalog,
            actor=KIOSK,
            now=NOW,
        )
    assert case.status is CaseStatus.DRAFT and case.ticket is None
    assert case.name == "渡辺\u3000花子"
    assert [(p.procedure_code, p.fee_yen) for p in case.procedures] == [
        ("tax_certificate", 600),
        ("juminhyo", 300),
    ]
    assert case.fee_yen == 900 and case.procedures[0].case is case
    with db.tx() as s:
        stored = cases.get_case(s, case.id)
        assert stored.fee_yen == 900 and stored.name == "渡辺\u3000花子"
        assert [p.fee_yen for p in stored.procedures] == [600, 300]
        assert stored.procedures[0].resident_fields["fiscal_years"] == [2024, 2025]


def test_transitions_are_written_at_once_and_leave_the_session_clean(db: Db) -> None:
    """After confirm and payment the rows already hold the new state (no flush pending),
    and every step has its audit row."""
    with db.tx() as s:
        case = db.ready_case(s, ["juminhyo"])
        assert not s.dirty and not s.new
        status = s.connection().execute(
            select(Case.__table__.c.status).where(Case.__table__.c.id == case.id)
        )
        assert status.scalar_one() is CaseStatus.PAID
        actions = [e.action for e in events_for_case(s, case.id)]
    assert actions == ["case.opened", "case.confirmed", "case.awaiting_payment", "case.paid"]


def test_mark_paid_locks_without_reading_personal_columns(db: Db) -> None:
    """mark_* on a case the session has not loaded fetch only its state: the personal
    columns are not loaded (nor decrypted) until something reads them."""
    with db.tx() as s:
        case = db.open_case(s)
        cases.confirm_case(s, case, catalog=db.catalog, actor=KIOSK, now=NOW)
    with db.tx() as s:
        paying = cases.mark_awaiting_payment(s, case, actor="payment:sim", now=NOW)
        assert paying is not case and paying.status is CaseStatus.AWAITING_PAYMENT
        assert {"family_name", "address", "individual_number"} <= inspect(paying).unloaded
        paid = cases.mark_paid(s, case, actor="payment:sim", now=NOW, payment_ref="pi_9")
        assert paid is paying and paid.status is CaseStatus.PAID
        assert paid.name == "渡辺\u3000花子"  # still loadable in the session


def test_mark_paid_refreshes_the_case_the_session_holds(db: Db) -> None:
    """A case already in the session is the one returned, its state refreshed; a replay
    is a no-op."""
    with db.tx() as s:
        case = db.open_case(s)
        cases.confirm_case(s, case, catalog=db.catalog, actor=KIOSK, now=NOW)
    with db.tx() as s:
        held = cases.get_case(s, case.id)
        assert cases.mark_awaiting_payment(s, case, actor="payment:sim", now=NOW) is held
        assert cases.mark_paid(s, held, actor="payment:sim", now=NOW) is held
        assert cases.mark_paid(s, held, actor="payment:sim", now=NOW) is held
        assert held.status is CaseStatus.PAID and held.fee_yen == 300
        paid_rows = [e for e in events_for_case(s, case.id) if e.action == "case.paid"]
    assert len(paid_rows) == 1


def test_confirm_writes_no_line_when_one_is_invalid(db: Db) -> None:
    """A confirmation refused for one procedure's fields leaves every line as stored."""
    with db.tx() as s:
        case = db.open_case(s, ["juminhyo", "koseki"])
        case_id = case.id
    with db.tx() as s:
        case = cases.get_case(s, case_id)
        with pytest.raises(ValidationFailed):  # the view shows it, then commits
            cases.confirm_case(s, case, catalog=db.catalog, actor=KIOSK, now=NOW)
    with db.tx() as s:
        rows = s.execute(
            select(CaseProcedure.units, CaseProcedure.fee_yen).where(
                CaseProcedure.case_id == case_id
            )
        ).all()
        assert cases.get_case(s, case_id).status is CaseStatus.DRAFT
    assert [tuple(r) for r in rows] == [(1, 300), (1, 450)]


def test_transition_case_write_now_leaves_nothing_to_flush(db: Db) -> None:
    """transition_case(write_now=True) writes the row and its audit row at once; without it
    the new state waits for the flush, as before."""
    with db.tx() as s:
        case = db.open_case(s)
        cases.transition_case(s, case, CaseStatus.CANCELLED, actor=KIOSK, now=NOW, write_now=True)
        assert not s.dirty and case.closed_at == NOW
        row = s.connection().execute(
            select(Case.__table__.c.status).where(Case.__table__.c.id == case.id)
        )
        assert row.scalar_one() is CaseStatus.CANCELLED
        other = db.open_case(s)
        cases.transition_case(s, other, CaseStatus.CANCELLED, actor=KIOSK, now=NOW)
        assert other in s.dirty
        actions = [e.action for e in events_for_case(s, case.id)]
    assert actions == ["case.opened", "case.cancelled"]
    with db.tx() as s:
        assert cases.get_case(s, other.id).status is CaseStatus.CANCELLED
