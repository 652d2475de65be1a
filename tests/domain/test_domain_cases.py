"""Cases: prefill from the card, fields, fees, the state machine and its audit trail."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from cardreader.model import Integrity
from kiosk import cases
from kiosk.audit import InvalidActor, events_for_case
from kiosk.calling import call_next, complete, start_serving
from kiosk.catalog import ValidationFailed
from kiosk.counters import get_counter
from kiosk.errors import (
    CardNotUsable,
    CaseNotEditable,
    InvalidTransition,
    MissingIndividualNumber,
    UnknownProcedure,
)
from kiosk.models import AuditEvent, CaseStatus
from kiosk.tickets import cancel_case, issue_ticket, mark_refunded
from tests.domain.conftest import INDIVIDUAL_NUMBER, KIOSK, NOW, STAFF, TODAY, Db, make_card
from ui.words import field_messages


def test_card_prefills_the_case(db: Db) -> None:
    """Name, address, birth date and sex come from the card; the era form is derived."""
    with db.tx() as s:
        case_id = db.open_case(s).id
    with db.tx() as s:
        detail = cases.view_case(s, case_id, actor=STAFF, catalog=db.catalog)
    assert detail.name == "渡辺\u3000花子"
    assert detail.address == "東京都港区芝公園四丁目二番八号"
    assert detail.birth_date == date(1980, 2, 17)
    assert detail.birth_date_japanese == "昭和55年2月17日"
    assert detail.sex == "female"
    assert detail.status == "draft"


def test_individual_number_kept_only_when_needed(db: Db) -> None:
    """A certificate drops the number even if the card gave it; 転出届 keeps it."""
    card = make_card(individual_number=INDIVIDUAL_NUMBER)
    with db.tx() as s:
        certificate = db.open_case(s, ["juminhyo"], card=card)
        moving_out = db.open_case(s, ["tenshutsu"], card=card)
        ids = certificate.id, moving_out.id
    with db.tx() as s:
        first = cases.view_case(s, ids[0], actor=STAFF, catalog=db.catalog)
        second = cases.view_case(s, ids[1], actor=STAFF, catalog=db.catalog)
    assert first.individual_number is None
    assert second.individual_number == INDIVIDUAL_NUMBER


def test_procedure_needing_number_requires_it(db: Db) -> None:
    """転出届 without the number in the card read is refused before any case exists."""
    with db.tx() as s, pytest.raises(MissingIndividualNumber):
        db.open_case(s, ["tenshutsu"])


def test_unverified_card_and_unknown_procedure_are_refused(db: Db) -> None:
    """A card whose integrity check failed, or an unknown procedure, never becomes a case."""
    with db.tx() as s:
        with pytest.raises(CardNotUsable):
            db.open_case(s, card=make_card(integrity=Integrity.DIGEST_MISMATCH))
        with pytest.raises(UnknownProcedure):
            db.open_case(s, ["passport"])
        with pytest.raises(UnknownProcedure):
            db.open_case(s, ["juminhyo", "juminhyo"])


def test_fee_follows_the_fields(db: Db) -> None:
    """The case fee is the sum of unit fee x units over its procedures."""
    with db.tx() as s:
        case = db.open_case(s, ["tax_certificate", "juminhyo"])
        cases.set_resident_fields(
            s,
            case,
            "tax_certificate",
            {"fiscal_years": [2023, 2024, 2025], "copies": 2},
            catalog=db.catalog,
            actor=KIOSK,
            now=NOW,
        )
        cases.set_resident_fields(
            s, case, "juminhyo", {"copies": 4}, catalog=db.catalog, actor=KIOSK, now=NOW
        )
        cases.confirm_case(s, case, catalog=db.catalog, actor=KIOSK, now=NOW)
        assert [p.fee_yen for p in case.procedures] == [1800, 1200]
        assert case.fee_yen == 3000


def test_resident_fields_validated_in_case_language(db: Db) -> None:
    """Bad input is rejected with messages in the case's language and nothing changes."""
    with db.tx() as s:
        case = db.open_case(s, ["juminhyo"], language="ko")
        with pytest.raises(ValidationFailed) as info:
            cases.set_resident_fields(
                s,
                case,
                "juminhyo",
                {"copies": 0, "name": "X"},
                catalog=db.catalog,
                actor=KIOSK,
                now=NOW,
            )
        messages = field_messages(info.value)
        assert messages["copies"] == "매수은(는) 1에서 10 사이로 입력해 주세요."
        assert messages["name"] == "성명은(는) 카드에서 읽은 내용이라 변경할 수 없습니다."
        assert case.procedures[0].resident_fields["copies"] == 1
        assert case.name == "渡辺\u3000花子"


def test_confirm_needs_required_fields(db: Db) -> None:
    """A family-register request cannot be confirmed without 本籍 and 筆頭者."""
    with db.tx() as s:
        case = db.open_case(s, ["koseki"])
        with pytest.raises(ValidationFailed) as info:
            cases.confirm_case(s, case, catalog=db.catalog, actor=KIOSK, now=NOW)
        assert {e.field for e in info.value.errors} == {"honseki", "hittousha"}
        assert case.status is CaseStatus.DRAFT


def test_paid_path_walks_every_state_with_audit(db: Db) -> None:
    """draft→confirmed→awaiting_payment→paid→queued→called→serving→done, each audited."""
    with db.tx() as s:
        case = db.open_case(s, ["juminhyo"])
        cases.confirm_case(s, case, catalog=db.catalog, actor=KIOSK, now=NOW)
        cases.mark_awaiting_payment(s, case, actor="payment:sim", now=NOW)
        cases.mark_paid(s, case, actor="payment:sim", now=NOW, payment_ref="pi_1")
        ticket = issue_ticket(s, case, actor="payment:sim", now=NOW)
        counter = get_counter(s, "1")
        assert call_next(s, counter, actor=STAFF, now=NOW) is not None
        start_serving(s, ticket, actor=STAFF, now=NOW)
        complete(s, ticket, actor=STAFF, now=NOW)
        case_id = case.id
    with db.tx() as s:
        case = cases.get_case(s, case_id)
        assert case.status is CaseStatus.DONE and case.closed_at is not None
        actions = [e.action for e in events_for_case(s, case_id)]
        transitions = [a for a in actions if a.startswith("case.") and a != "case.opened"]
        assert transitions == [
            "case.confirmed",
            "case.awaiting_payment",
            "case.paid",
            "case.queued",
            "case.called",
            "case.serving",
            "case.done",
        ]
        paid = next(e for e in events_for_case(s, case_id) if e.action == "case.paid")
        assert paid.actor == "payment:sim" and paid.detail["payment_ref"] == "pi_1"
        assert paid.detail["from"] == "awaiting_payment" and paid.at is not None


def test_fee_free_case_skips_payment(db: Db) -> None:
    """転居届 goes confirmed→queued directly and cannot be sent to payment."""
    with db.tx() as s:
        case = db.ready_case(s, ["tenkyo"])
        assert case.status is CaseStatus.CONFIRMED and case.fee_yen == 0
        with pytest.raises(InvalidTransition, match="fee-free"):
            cases.mark_awaiting_payment(s, case, actor="payment:sim", now=NOW)
        issue_ticket(s, case, actor=KIOSK, now=NOW)
        assert case.status is CaseStatus.QUEUED


def test_unpaid_case_gets_no_ticket(db: Db) -> None:
    """A confirmed case with a fee cannot be queued before it is paid."""
    with db.tx() as s:
        case = db.open_case(s, ["juminhyo"])
        cases.confirm_case(s, case, catalog=db.catalog, actor=KIOSK, now=NOW)
        with pytest.raises(InvalidTransition):
            issue_ticket(s, case, actor=KIOSK, now=NOW)
        with pytest.raises(InvalidTransition):
            cases.transition_case(s, case, CaseStatus.QUEUED, actor=KIOSK, now=NOW)


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (CaseStatus.DRAFT, CaseStatus.PAID),
        (CaseStatus.DRAFT, CaseStatus.QUEUED),
        (CaseStatus.CONFIRMED, CaseStatus.DONE),
        (CaseStatus.PAID, CaseStatus.CANCELLED),
        (CaseStatus.DONE, CaseStatus.QUEUED),
        (CaseStatus.CANCELLED, CaseStatus.DRAFT),
        (CaseStatus.REFUNDED, CaseStatus.PAID),
        (CaseStatus.QUEUED, CaseStatus.SERVING),
    ],
)
def test_illegal_transitions_raise(db: Db, start: CaseStatus, target: CaseStatus) -> None:
    """Transitions outside the state machine raise InvalidTransition and change nothing."""
    with db.tx() as s:
        case = db.open_case(s, ["juminhyo"])
        case.status = start  # set up the starting point directly
        before = s.scalar(select(func.count(AuditEvent.id)))
        with pytest.raises(InvalidTransition) as info:
            cases.transition_case(s, case, target, actor=KIOSK, now=NOW)
        assert info.value.current == start.value and info.value.target == target.value
        assert case.status is start
        assert s.scalar(select(func.count(AuditEvent.id))) == before


def test_every_table_transition_is_reachable(db: Db) -> None:
    """Every transition listed in CASE_TRANSITIONS succeeds when its fee rule allows it."""
    done = 0
    for start, targets in cases.CASE_TRANSITIONS.items():
        for target in targets:
            with db.tx() as s:
                case = db.open_case(
                    s,
                    ["juminhyo"]
                    if target is not CaseStatus.QUEUED or start is not CaseStatus.CONFIRMED
                    else ["tenkyo"],
                )
                if target is CaseStatus.CANCELLED and start in (
                    CaseStatus.QUEUED,
                    CaseStatus.NO_SHOW,
                    CaseStatus.SERVING,
                ):
                    case.fee_yen = 0
                if target is CaseStatus.QUEUED and start is CaseStatus.AWAITING_PAYMENT:
                    case.due_yen = case.fee_yen  # cash at the counter chosen after all
                if target is CaseStatus.SERVING and start is CaseStatus.CONFIRMED:
                    case.channel, case.due_yen = "counter", case.fee_yen  # opened there
                case.status = start
                cases.transition_case(s, case, target, actor=STAFF, now=NOW)
                assert case.status is target
                done += 1
    assert done == sum(len(t) for t in cases.CASE_TRANSITIONS.values())


def test_mark_paid_is_idempotent(db: Db) -> None:
    """A replayed payment webhook is a no-op; paying a cancelled case is an error."""
    with db.tx() as s:
        case = db.ready_case(s, ["juminhyo"])
        paid_events = len(events_for_case(s, case.id))
        cases.mark_paid(s, case, actor="payment:sim", now=NOW)
        assert case.status is CaseStatus.PAID
        assert len(events_for_case(s, case.id)) == paid_events
        other = db.open_case(s, ["juminhyo"])
        cancel_case(s, other, actor=KIOSK, now=NOW, reason="timeout")
        with pytest.raises(InvalidTransition):
            cases.mark_paid(s, other, actor="payment:sim", now=NOW)


def test_cancel_and_refund(db: Db) -> None:
    """Queued fee-free cases cancel with their ticket; paid ones refund instead."""
    with db.tx() as s:
        free = db.ready_case(s, ["tenkyo"])
        free_ticket = issue_ticket(s, free, actor=KIOSK, now=NOW)
        cancel_case(s, free, actor=STAFF, now=NOW)
        assert free.status is CaseStatus.CANCELLED and free_ticket.status.value == "cancelled"
        paid = db.ready_case(s, ["juminhyo"])
        paid_ticket = issue_ticket(s, paid, actor=KIOSK, now=NOW)
        with pytest.raises(InvalidTransition):
            cancel_case(s, paid, actor=STAFF, now=NOW)
        mark_refunded(s, paid, actor=STAFF, now=NOW)
        assert paid.status is CaseStatus.REFUNDED and paid_ticket.status.value == "cancelled"
        with pytest.raises(InvalidTransition):
            mark_refunded(s, free, actor=STAFF, now=NOW)


def test_draft_only_editing_and_reopen(db: Db) -> None:
    """Fields change only in draft; "back" on the confirmation screen reopens the draft."""
    with db.tx() as s:
        case = db.open_case(s, ["juminhyo"])
        cases.confirm_case(s, case, catalog=db.catalog, actor=KIOSK, now=NOW)
        with pytest.raises(CaseNotEditable):
            cases.set_resident_fields(
                s, case, "juminhyo", {"copies": 2}, catalog=db.catalog, actor=KIOSK, now=NOW
            )
        cases.reopen_case(s, case, actor=KIOSK, now=NOW)
        cases.set_resident_fields(
            s, case, "juminhyo", {"copies": 2}, catalog=db.catalog, actor=KIOSK, now=NOW
        )
        assert case.status is CaseStatus.DRAFT and case.fee_yen == 600


def test_multi_procedure_case_one_payment_one_ticket(db: Db) -> None:
    """転居届 + 住民票の写し: one card read, one fee, one ticket in the first one's queue."""
    with db.tx() as s:
        case = db.ready_case(s, ["tenkyo", "juminhyo"], fields={"juminhyo": {"copies": 2}})
        assert case.fee_yen == 600 and case.status is CaseStatus.PAID
        ticket = issue_ticket(s, case, actor="payment:sim", now=NOW)
        again = issue_ticket(s, case, actor="payment:sim", now=NOW)
        assert ticket.id == again.id
        assert ticket.display_number == "D-001"
        assert [p.procedure_code for p in case.procedures] == ["tenkyo", "juminhyo"]


def test_staff_view_is_audited_and_lists_are_masked(db: Db) -> None:
    """Viewing a case writes case.viewed with the actor; lists show masked data only."""
    with db.tx() as s:
        case_id = db.ready_case(s, ["juminhyo"]).id
    with db.tx() as s:
        cases.view_case(s, case_id, actor="staff:42", catalog=db.catalog)
    with db.tx() as s:
        views = [e for e in events_for_case(s, case_id) if e.action == "case.viewed"]
        assert [v.actor for v in views] == ["staff:42"]
        [summary] = cases.list_cases(s, TODAY)
        assert summary.name == "渡*\u3000花*"
        assert "芝公園" not in summary.address and summary.birth_date == "****-**-**"
        assert "花子" not in repr(cases.get_case(s, case_id))
        with pytest.raises(InvalidActor):
            cases.view_case(s, case_id, actor="bob", catalog=db.catalog)
