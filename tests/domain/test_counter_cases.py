"""Cases at the counter: card-less intake, the fee due at the counter, tickets served where
the case was opened, exemptions and amendments (on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from kiosk import cases
from kiosk.amendments import Amendment, LinesInvalid, NothingChanged, amend_case, amendments_of
from kiosk.audit import events_for_case
from kiosk.calling import call_ticket, complete, start_serving
from kiosk.counter_cases import (
    ExemptionInvalid,
    PersonInvalid,
    check_person,
    grant_exemption,
    leave_fee_to_counter,
    open_counter_case,
    serve_at_counter,
    settle_due,
)
from kiosk.counters import get_counter
from kiosk.errors import (
    CaseNotEditable,
    FeeDue,
    InvalidTransition,
    MissingIndividualNumber,
    UnknownProcedure,
)
from kiosk.models import AuditEvent, Case, CaseAmendment, CaseStatus, TicketStatus
from kiosk.overview import board_state
from kiosk.retention import purge
from kiosk.tickets import cancel_case, issue_ticket
from tests.domain.conftest import KIOSK, NOW, STAFF, TODAY, Db, make_card

SUPERVISOR = "staff:chief"
TYPED = {
    "family_name": "髙橋",
    "given_name": "花子",
    "address": "東京都千代田区九段南一丁目2番1号",
    "birth_date": "1949-03-15",
    "sex": "female",
}


def _counter_case(db: Db, s, procedures=("juminhyo",), *, card=None):  # type: ignore[no-untyped-def]
    if card is None:
        person = check_person(TYPED, today=TODAY)
        return open_counter_case(
            s,
            list(procedures),
            catalog=db.catalog,
            actor=STAFF,
            person=person,
            identity_document="drivers_license",
            now=NOW,
        )
    return open_counter_case(
        s, list(procedures), catalog=db.catalog, actor=STAFF, card=card, now=NOW
    )


def _audit_text(s, case_id: int) -> str:  # type: ignore[no-untyped-def]
    return json.dumps([e.detail for e in events_for_case(s, case_id)], ensure_ascii=False)


def test_cardless_intake_records_the_document_and_not_a_read(db: Db) -> None:
    """Typed basic four plus the identity document checked: a counter case, opened by staff,
    card integrity 'not_read', the document's code on the case and in its audit row."""
    with db.tx() as s:
        case = _counter_case(db, s, ("inkan_toroku",))
        assert case.channel == "counter" and case.opened_by == STAFF
        assert case.card_integrity == "not_read"
        assert case.identity_document == "drivers_license"
        assert case.name == "髙橋\u3000花子" and case.birth_date == date(1949, 3, 15)
        opened = events_for_case(s, case.id)[0]
        assert opened.action == "case.opened"
        assert opened.detail["identity_document"] == "drivers_license"
        assert opened.detail["channel"] == "counter"
        assert "髙橋" not in _audit_text(s, case.id)


def test_cardless_intake_refuses_bad_typing_and_unknown_documents(db: Db) -> None:
    """Every bad field is named at once; a document outside the list is refused."""
    with pytest.raises(PersonInvalid) as info:
        check_person(
            {"family_name": "", "address": "x\u202ey", "birth_date": "1800-01-01", "sex": "?"},
            today=TODAY,
        )
    assert info.value.errors == {
        "family_name": "required",
        "address": "invalid_text",
        "birth_date": "not_a_date",
        "sex": "not_a_choice",
    }
    with db.tx() as s, pytest.raises(PersonInvalid):
        open_counter_case(
            s,
            ["juminhyo"],
            catalog=db.catalog,
            actor=STAFF,
            person=check_person(TYPED, today=TODAY),
            identity_document="library_card",
            now=NOW,
        )


def test_counter_case_is_served_at_once_and_not_completed_while_due(db: Db) -> None:
    """Confirmed at the counter: the fee is due, the ticket serves at that counter without a
    call on the board; completing is refused (FeeDue) until the due is settled."""
    with db.tx() as s:
        case = _counter_case(db, s, ("juminhyo",), card=make_card())
        cases.confirm_case(s, case, catalog=db.catalog, actor=STAFF, now=NOW)
        counter = get_counter(s, "1")
        ticket = serve_at_counter(s, case, counter, actor=STAFF, now=NOW)
        assert ticket.status is TicketStatus.SERVING and ticket.counter_id == counter.id
        assert case.status is CaseStatus.SERVING and case.due_yen == 300
        assert board_state(s, TODAY).calls == ()
        with pytest.raises(FeeDue) as info:
            complete(s, ticket, actor=STAFF, now=NOW)
        assert info.value.due_yen == 300
    with db.tx() as s:
        case = s.get(Case, case.id)
        assert case is not None and case.status is CaseStatus.SERVING  # nothing half-written
        settle_due(s, case.id, paid_yen=300, actor="payment:cash", now=NOW)
        complete(s, case.ticket, actor=STAFF, now=NOW)
        assert case.status is CaseStatus.DONE and case.due_yen == 0


def test_kiosk_resident_pays_cash_at_the_counter(db: Db) -> None:
    """Cash chosen at the kiosk: the ticket is issued at once with the whole fee due; a
    queued unpaid case can still be cancelled (nothing was paid), a paid one not."""
    with db.tx() as s:
        case = db.open_case(s, ["juminhyo", "inkan"])
        cases.confirm_case(s, case, catalog=db.catalog, actor=KIOSK, now=NOW)
        cases.mark_awaiting_payment(s, case, actor=KIOSK, now=NOW)  # tried the terminal
        leave_fee_to_counter(s, case, actor=KIOSK, now=NOW)
        ticket = issue_ticket(s, case, actor=KIOSK, now=NOW)
        assert case.status is CaseStatus.QUEUED and case.due_yen == case.fee_yen == 600
        assert ticket.status is TicketStatus.WAITING
        call_ticket(s, ticket, get_counter(s, "1"), actor=STAFF, now=NOW)
        start_serving(s, ticket, actor=STAFF, now=NOW)
        with pytest.raises(FeeDue):
            complete(s, ticket, actor=STAFF, now=NOW)
        other = db.open_case(s, ["juminhyo"])
        cases.confirm_case(s, other, catalog=db.catalog, actor=KIOSK, now=NOW)
        leave_fee_to_counter(s, other, actor=KIOSK, now=NOW)
        issue_ticket(s, other, actor=KIOSK, now=NOW)
        cancel_case(s, other, actor=STAFF, now=NOW)
        assert other.status is CaseStatus.CANCELLED
        with pytest.raises(InvalidTransition):
            leave_fee_to_counter(s, db.ready_case(s, ["juminhyo"]), actor=KIOSK, now=NOW)


def test_exemption_needs_basis_and_turns_what_was_paid_into_money_due_back(db: Db) -> None:
    """A 公用請求 exemption: every line's fee becomes 0; a paid case then owes the resident
    what was paid; the basis is encrypted and kept out of the audit rows."""
    basis = "東京都千代田区福祉事務所長 公用請求 第123号"
    with db.tx() as s:
        case = db.ready_case(s, ["juminhyo"])  # paid 300 at the kiosk
        with pytest.raises(ExemptionInvalid):
            grant_exemption(s, case, kind="official_request", basis=" ", actor=SUPERVISOR)
        with pytest.raises(ExemptionInvalid):
            grant_exemption(s, case, kind="friendship", basis=basis, actor=SUPERVISOR)
        grant_exemption(s, case, kind="official_request", basis=basis, actor=SUPERVISOR, now=NOW)
        assert case.fee_yen == 0 and case.due_yen == -300
        assert [line.fee_yen for line in case.procedures] == [0]
        assert case.exemption == "official_request" and case.exempted_by == SUPERVISOR
        assert "福祉事務所" not in _audit_text(s, case.id)
        actions = [e.action for e in events_for_case(s, case.id)]
        assert "case.exempted" in actions and "case.fee_changed" in actions
    assert "福祉事務所".encode() not in db.stored_bytes()


def test_amendment_adds_a_copy_records_before_after_encrypted(db: Db) -> None:
    """Correcting the name and adding a copy: the fee goes up by 300, due at the counter;
    the amendment keeps before/after encrypted; the audit row names only the fields."""
    with db.tx() as s:
        case = db.ready_case(s, ["juminhyo"])
        issue_ticket(s, case, actor=KIOSK, now=NOW)
        record = amend_case(
            s,
            case.id,
            Amendment(person={"family_name": "邊見"}, fields={"juminhyo": {"copies": 2}}),
            catalog=db.catalog,
            actor=STAFF,
            now=NOW,
        )
        assert (record.fee_before_yen, record.fee_after_yen) == (300, 600)
        assert case.fee_yen == 600 and case.due_yen == 300 and case.family_name == "邊見"
        assert record.summary["fields"] == ["family_name", "juminhyo.copies"]
        assert record.changes["case"]["family_name"] == ["渡辺", "邊見"]
        assert record.changes["procedures"]["juminhyo"]["copies"] == [1, 2]
        amended = [e for e in events_for_case(s, case.id) if e.action == "case.amended"]
        assert amended and amended[0].detail["fee_yen"] == 600
        text = _audit_text(s, case.id)
        assert "邊見" not in text and "渡辺" not in text
    stored = db.stored_bytes()
    assert "邊見".encode() not in stored and "渡辺".encode() not in stored


def test_amendment_removes_a_procedure_and_owes_the_difference(db: Db) -> None:
    """Removing a paid procedure leaves money due back; refused amendments change nothing."""
    with db.tx() as s:
        case = db.ready_case(s, ["juminhyo", "inkan"])
        issue_ticket(s, case, actor=KIOSK, now=NOW)
        with pytest.raises(UnknownProcedure):
            amend_case(s, case.id, Amendment(remove=["koseki"]), catalog=db.catalog, actor=STAFF)
        with pytest.raises(UnknownProcedure):
            amend_case(
                s,
                case.id,
                Amendment(remove=["juminhyo", "inkan"]),
                catalog=db.catalog,
                actor=STAFF,
            )
        with pytest.raises(LinesInvalid) as info:
            amend_case(
                s,
                case.id,
                Amendment(fields={"juminhyo": {"copies": 99}}, add=["koseki"]),
                catalog=db.catalog,
                actor=STAFF,
            )
        assert set(info.value.failures) == {"juminhyo", "koseki"}
        with pytest.raises(NothingChanged):
            amend_case(
                s,
                case.id,
                Amendment(fields={"juminhyo": {"copies": 1}}),
                catalog=db.catalog,
                actor=STAFF,
            )
        with pytest.raises(MissingIndividualNumber):
            amend_case(s, case.id, Amendment(add=["tenshutsu"]), catalog=db.catalog, actor=STAFF)
        assert case.fee_yen == 600 and len(case.procedures) == 2
        amend_case(
            s, case.id, Amendment(remove=["inkan"]), catalog=db.catalog, actor=STAFF, now=NOW
        )
        assert [line.procedure_code for line in case.procedures] == ["juminhyo"]
        assert case.fee_yen == 300 and case.due_yen == -300
        ticket = case.ticket
        call_ticket(s, ticket, get_counter(s, "1"), actor=STAFF, now=NOW)
        start_serving(s, ticket, actor=STAFF, now=NOW)
        with pytest.raises(FeeDue) as info:
            complete(s, ticket, actor=STAFF, now=NOW)
        assert info.value.due_yen == -300


def test_added_procedure_on_an_exempt_case_is_free_and_closed_cases_are_not_amended(
    db: Db,
) -> None:
    """Under an exemption an added procedure costs nothing; a done case cannot be amended."""
    with db.tx() as s:
        case = _counter_case(db, s, ("juminhyo",), card=make_card())
        grant_exemption(s, case, kind="statutory", basis="生活保護法", actor=SUPERVISOR, now=NOW)
        amend_case(s, case.id, Amendment(add=["inkan"]), catalog=db.catalog, actor=STAFF, now=NOW)
        assert case.fee_yen == 0 and case.due_yen == 0  # still a draft: nothing due
        cases.confirm_case(s, case, catalog=db.catalog, actor=STAFF, now=NOW)
        assert case.fee_yen == 0
        ticket = serve_at_counter(s, case, get_counter(s, "2"), actor=STAFF, now=NOW)
        complete(s, ticket, actor=STAFF, now=NOW)
        with pytest.raises(CaseNotEditable):
            amend_case(
                s, case.id, Amendment(add=["koseki"]), catalog=db.catalog, actor=STAFF, now=NOW
            )


def test_purge_removes_amendment_values_and_the_exemption_basis(db: Db) -> None:
    """After retention, what staff corrected and the exemption's basis go with the case."""
    with db.tx() as s:
        case = _counter_case(db, s, ("juminhyo",), card=make_card())
        amend_case(
            s,
            case.id,
            Amendment(person={"address": "東京都千代田区一番町99番地"}),
            catalog=db.catalog,
            actor=STAFF,
            now=NOW,
        )
        grant_exemption(s, case, kind="statutory", basis="年金請求", actor=SUPERVISOR, now=NOW)
        cases.confirm_case(s, case, catalog=db.catalog, actor=STAFF, now=NOW)
        ticket = serve_at_counter(s, case, get_counter(s, "1"), actor=STAFF, now=NOW)
        complete(s, ticket, actor=STAFF, now=NOW)
        case_id = case.id
    with db.tx() as s:
        purge(s, now=NOW + timedelta(days=1))
    with db.tx() as s:
        record = s.scalars(select(CaseAmendment).where(CaseAmendment.case_id == case_id)).one()
        assert record.changes is None and record.summary["fields"] == ["address"]
        case = s.get(Case, case_id)
        assert case is not None and case.exemption_basis is None
        assert case.exemption == "statutory"  # the fact stays for statistics
        assert amendments_of(s, case_id) == [record]
    stored = db.stored_bytes()
    assert "一番町99".encode() not in stored and "年金請求".encode() not in stored
    with db.tx() as s:
        assert s.scalar(select(AuditEvent.id).where(AuditEvent.action == "case.purged"))
