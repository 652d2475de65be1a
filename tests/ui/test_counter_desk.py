"""The counter desk workflow (application.counter_desk) on a real app: an intake with the
PIN from the customer display and the card at the counter's own (simulated) reader, the
one-try-left rule, a card pulled or a display closed mid-visit, card-less intake, money."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from application.counter_desk import DeskStep, DisplayNotConnected, NoDevice
from application.visits import FieldsInvalid
from cardreader.errors import CardRemoved, PinWouldLock, WrongPin
from kiosk.counter_cases import PersonInvalid
from kiosk.db import transaction
from kiosk.errors import FeeDue
from kiosk.models import Case, CaseStatus, StaffRole
from kiosk.staff import PermissionDenied, create_staff
from payments.counter import TooLittleTendered
from ui.services import services_of

STAFF = "staff:clerk"


@pytest.fixture
def app(make_app: Any) -> Any:
    """An app whose counters have simulated readers and terminals (simulation defaults)."""
    return make_app(sim_persona="")


def _desk(app: Any) -> Any:
    return services_of(app).counter_desk


def _rig(app: Any, counter: str = "1") -> Any:
    return services_of(app).simulation.counter_readers[counter]


class _Display(threading.Event):
    """Set it to close the display (its thread ends after its last poll)."""

    thread: threading.Thread

    def close(self) -> None:
        self.set()
        self.thread.join(5)


def _display_open(app: Any, counter: str = "1") -> _Display:
    """A customer display long-polling the desk in a thread until it is closed."""
    stop = _Display()

    def poll() -> None:
        desk = _desk(app)
        version = 0
        while not stop.is_set():
            version = desk.display_poll(counter, version, timeout_s=0.2).version

    stop.thread = threading.Thread(target=poll, daemon=True)
    stop.thread.start()
    for _ in range(50):
        if _desk(app).desk(counter).view().display_connected:
            break
        stop.wait(0.02)
    return stop


def test_intake_with_pin_on_the_display_and_cash(app: Any) -> None:
    """New case, 住民票 with 2 copies, the PIN typed on the display, the prefilled case on
    the desk, confirmed (ticket serving at counter 1, 600 yen due), cash with change."""
    desk = _desk(app)
    _rig(app).insert("yamada")
    stop = _display_open(app)
    try:
        desk.start("1", actor=STAFF)
        desk.choose("1", ["juminhyo"], {"juminhyo": {"copies": 2}}, language="ja")
        view = desk.ask_for_pin("1")
        assert view.step == "pin" and view.tries_left == 3
        view = desk.enter_pin("1", "1234")
        assert view.step == "check" and view.case_id is not None
        assert "1234" not in repr(view.to_json())
        case = desk.case_on_display("1")
        assert case.family_name == "山田" and case.channel == "counter"
        assert case.opened_by == STAFF
        view = desk.confirm("1", actor="counter:1")
        assert view.step == "payment"
        with pytest.raises(TooLittleTendered):
            desk.pay_cash("1", view.case_id, amount_yen=600, tendered_yen=500, actor=STAFF)
        taken = desk.pay_cash("1", view.case_id, amount_yen=600, tendered_yen=1000, actor=STAFF)
        assert taken.change_yen == 400
        after = desk.desk("1").view()
        assert after.step == "done" and after.change_yen == 400 and after.message == "paid"
        desk.complete("1", view.case_id, actor=STAFF)
        assert desk.desk("1").view().step == "idle"
    finally:
        stop.close()


def test_pin_needs_the_display_and_the_reader(app: Any, make_app: Any) -> None:
    """No display open: the PIN is not asked for; a counter without a reader says so."""
    desk = _desk(app)
    _rig(app).insert("yamada")
    desk.start("1", actor=STAFF)
    desk.choose("1", ["juminhyo"], {}, language="ja")
    with pytest.raises(DisplayNotConnected):
        desk.ask_for_pin("1")
    assert desk.desk("1").view().message == "display_closed"
    bare = make_app(counter_readers="none", counter_terminals="none")
    services_of(bare).counter_desk.start("2", actor=STAFF)
    services_of(bare).counter_desk.choose("2", ["juminhyo"], {}, language="ja")
    with pytest.raises(NoDevice):
        services_of(bare).counter_desk.ask_for_pin("2")


def test_one_try_left_sends_no_pin_and_wrong_pin_keeps_the_pad(app: Any) -> None:
    """A wrong PIN with tries left keeps the PIN pad with the count; at one try left no PIN
    is asked for at all and the desk says so (go on without the card)."""
    desk = _desk(app)
    _rig(app).insert("yamada")
    stop = _display_open(app)
    try:
        desk.start("1", actor=STAFF)
        desk.choose("1", ["juminhyo"], {}, language="ja")
        desk.ask_for_pin("1")
        with pytest.raises(WrongPin):
            desk.enter_pin("1", "0000")
        view = desk.desk("1").view()
        assert (view.step, view.message, view.tries_left) == ("pin", "wrong_pin", 2)
        with pytest.raises(PinWouldLock):
            desk.enter_pin("1", "0000")  # 1 try left after this one: stop
        view = desk.desk("1").view()
        assert (view.step, view.message) == ("choosing", "pin_would_lock")
        with pytest.raises(PinWouldLock):
            desk.ask_for_pin("1")
        assert _rig(app).card.tries_left(0x0011) == 1  # type: ignore[union-attr]
    finally:
        stop.close()


def test_card_pulled_and_display_closed_leave_nothing_written(app: Any) -> None:
    """A card pulled during the read: the PIN pad stays with the message, no case; the
    display closed while the PIN is asked for: back to choosing, no case."""
    desk = _desk(app)
    rig = _rig(app)
    rig.insert("yamada")
    stop = _display_open(app)
    try:
        desk.start("1", actor=STAFF)
        desk.choose("1", ["juminhyo"], {}, language="ja")
        desk.ask_for_pin("1")
        rig.faults.set(remove_after=3)
        with pytest.raises(CardRemoved):
            desk.enter_pin("1", "1234")
        view = desk.desk("1").view()
        assert (view.step, view.message, view.case_id) == ("pin", "card_removed", None)
    finally:
        stop.close()
    view = desk.display_closed("1")
    assert (view.step, view.message, view.display_connected) == (
        "choosing",
        "display_closed",
        False,
    )
    with transaction(services_of(app).sessions) as s:
        assert s.scalar(select(func.count(Case.id))) == 0


def test_cardless_intake_and_bad_typing(app: Any) -> None:
    """Without a card: typed basic four and the document; bad typing names every field."""
    desk = _desk(app)
    desk.start("2", actor=STAFF)
    desk.choose("2", ["inkan_toroku"], {}, language="ja")
    with pytest.raises(PersonInvalid):
        desk.open_without_card("2", {"family_name": "", "birth_date": "x"}, "passport")
    person = {
        "family_name": "Smith",
        "given_name": "Anna",
        "address": "東京都千代田区麹町一丁目1番地",
        "birth_date": "1990-05-01",
        "sex": "female",
    }
    view = desk.open_without_card("2", person, "residence_card")
    assert view.step == "check"
    view = desk.confirm("2", actor=STAFF)
    assert view.step == "done"  # 印鑑登録 is fee-free
    with transaction(services_of(app).sessions) as s:
        case = s.get(Case, view.case_id)
        assert case is not None and case.identity_document == "residence_card"
        assert case.status is CaseStatus.SERVING and case.card_integrity == "not_read"


def test_choosing_validates_fields_and_counter_terminal_pays(app: Any) -> None:
    """Bad fields are refused with every problem; the counter's terminal takes the fee;
    the ticket cannot complete before."""
    desk = _desk(app)
    desk.start("3", actor=STAFF)
    with pytest.raises(FieldsInvalid):
        desk.choose("3", ["tax_certificate"], {"tax_certificate": {"copies": 0}}, language="ja")
    desk.choose("3", ["juminhyo"], {}, language="ja")
    view = desk.open_without_card(
        "3",
        {
            "family_name": "佐藤",
            "address": "東京都千代田区",
            "birth_date": "1960-01-01",
            "sex": "male",
        },
        "drivers_license",
    )
    view = desk.confirm("3", actor=STAFF)
    with pytest.raises(FeeDue):
        desk.complete("3", view.case_id, actor=STAFF)
    terminal = services_of(app).simulation.counter_terminals["3"]
    payment = desk.start_device_payment("3", view.case_id, device="terminal", actor=STAFF)
    assert payment.counter_code == "3" and desk.desk("3").view().payment_id
    terminal.approve(payment.provider_ref)
    view = desk.refresh("3")
    assert view.step == "done" and view.message == "paid" and view.payment_id is None
    desk.complete("3", view.case_id, actor=STAFF)


def test_exemption_needs_a_supervisor(app: Any) -> None:
    """Staff cannot exempt a case; a supervisor can, and the display's amount falls to 0."""
    sessions = services_of(app).sessions
    with transaction(sessions) as s:
        clerk = create_staff(s, "clerk", "correct-horse-42", StaffRole.STAFF, actor="cli:test")
        chief = create_staff(s, "chief", "correct-horse-42", StaffRole.SUPERVISOR, actor="cli:test")
    desk = _desk(app)
    desk.start("1", actor=STAFF)
    desk.choose("1", ["juminhyo"], {}, language="ja")
    desk.open_without_card(
        "1",
        {
            "family_name": "田中",
            "address": "東京都千代田区",
            "birth_date": "1950-01-01",
            "sex": "male",
        },
        "passport",
    )
    case_id = desk.confirm("1", actor=STAFF).case_id
    with pytest.raises(PermissionDenied):
        desk.exempt("1", case_id, staff=clerk, kind="statutory", basis="生活保護")
    view = desk.exempt("1", case_id, staff=chief, kind="statutory", basis="生活保護")
    assert view is not None and view.step == "done"
    desk.complete("1", case_id, actor=STAFF)
    assert desk.desk("1").view().step == DeskStep.IDLE.value
