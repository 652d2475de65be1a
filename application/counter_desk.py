"""The counter desk: the third adapter of the resident's visit, beside the kiosk screens and
the JSON API. Staff start a case for the resident in front of them, the resident types the
PIN and checks the prefilled form on the counter's customer display, money is taken or given
back at the counter, and cases are corrected there.

One :class:`CounterDesk` per counter of the catalog holds what that counter is doing now
(the intake in progress, the case on its customer display, an open payment, the last message
for staff and resident), in this process: a counter's service runs on the counter's PC, like
its card reader. :class:`CounterDeskWorkflow` owns every operation; the staff console pages,
the customer display and the JSON API are thin over it. Each operation that writes is one
transaction (it commits or rolls back all it did) and raises the boundary's own errors
(``DomainError``, ``CardError``, ``PaymentError``) or the few below.

An intake goes::

    idle -> choosing (procedures, fields) -> pin (the display shows the PIN pad) -> reading
         -> check (the draft case, prefilled; the resident checks it on the display)
         -> payment (confirmed, its ticket serving at this counter, the fee due) -> done
    choosing -> check                  (no card: staff type the basic four and record the
                                        identity document they checked)

and a resident who already holds a ticket is served on that case: staff put it on the display
(:meth:`CounterDeskWorkflow.show_case`) for its amount due, amendments and payment.

Safety and privacy, as at the kiosk: the PIN goes from the customer display to the card and
nowhere else (never to the staff screen, never stored or logged); with one PIN try left no PIN
is asked for (``application.visits.refuse_unsafe_tries``); a card pulled or a display closed
mid-visit leaves no case half-written (the case opens only after a complete read) and says so
on both screens. :class:`DeskView` (what both screens poll) holds no personal data.

The ward's card policy (:mod:`application.card_policy`) applies here as at the kiosk, through
the same code: the counter's reads ask the card for the checks the policy wants, a card that
fails a required check opens no case (a ``card.refused`` audit row by the member of staff,
with the counter's code and no personal data; the desk's message ``card_not_genuine`` with
the check and its result, for staff to go on with an identity document), and a passing
card's check results are stored with the case. The counter makes no JPKI check (its display
has no JPKI PIN step): procedures that want it are refused before any PIN is asked for
(:class:`~application.card_policy.JpkiNotAtCounter`): the kiosk, or a document.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from application.card_policy import CardNotGenuine, CardPolicy, JpkiNotAtCounter
from application.card_policy import enforce as enforce_card_policy
from application.visits import (
    FieldsInvalid,
    NothingChosen,
    NotYet,
    refuse_unsafe_tries,
    validate_procedure_fields,
)
from cardreader.errors import CardError, WrongPin
from cardreader.reader import CardReader
from kiosk.amendments import Amendment, LinesInvalid, amend_case
from kiosk.calling import complete
from kiosk.cases import CLOSED_STATES, confirm_case, get_case, set_resident_fields
from kiosk.catalog import Catalog
from kiosk.clock import aware, business_day
from kiosk.counter_cases import (
    check_person,
    grant_exemption,
    open_counter_case,
    serve_at_counter,
)
from kiosk.counters import get_counter
from kiosk.db import transaction
from kiosk.errors import DomainError, UnknownProcedure
from kiosk.models import Case, CaseAmendment, CaseStatus, Staff, StaffRole
from kiosk.staff import actor_of, require_role
from kiosk.tickets import cancel_case, lock_ticket
from payments.collect import cancel_payment, refresh_payment
from payments.counter import (
    CashTaken,
    PaymentInProgress,
    refund_at_counter,
    refund_difference,
    start_counter_payment,
    take_cash,
)
from payments.ledger import DayLedger, book_exemption, close_day, day_ledger
from payments.models import Payment, PaymentRefund, PaymentStatus
from payments.provider import PaymentError, PaymentProvider
from payments.states import OPEN, get_payment, payments_of_case

log = logging.getLogger(__name__)

P = PaymentStatus
DISPLAY_GRACE_S = 4.0  # a display between two polls still counts as there
POLL_TIMEOUT_S = 15.0


class DeskStep(enum.Enum):
    """What a counter is doing (see the module docstring)."""

    IDLE = "idle"
    CHOOSING = "choosing"
    PIN = "pin"
    READING = "reading"
    CHECK = "check"
    PAYMENT = "payment"
    DONE = "done"


class NoDevice(DomainError):
    """This counter has no such device (``device``: ``reader``, ``terminal`` or ``qr``)."""

    def __init__(self, device: str) -> None:
        super().__init__(f"this counter has no {device}")
        self.device = device


class DisplayNotConnected(DomainError):
    """The counter's customer display is not open: the resident cannot type the PIN."""


class DeskBusy(DomainError):
    """The card is being read at this counter: wait for it."""


@dataclass(frozen=True)
class DeskView:
    """A counter's desk as both screens poll it: no personal data, never a PIN. ``message``
    is a code for both screens (a card error's code, ``display_closed``, ``declined``,
    ``timed_out``, ``paid``, ``correction_asked``, ``card_not_genuine``, ...).
    ``refused_check`` / ``refused_result``: with ``card_not_genuine``, the check the card
    failed and what it found (codes of :class:`~application.card_policy.CardNotGenuine`)."""

    counter: str
    version: int
    step: str
    procedures: tuple[str, ...]
    language: str
    case_id: int | None
    payment_id: str | None
    message: str | None
    tries_left: int | None
    change_yen: int | None
    display_connected: bool
    has_reader: bool
    has_terminal: bool
    has_qr: bool
    refused_check: str | None = None
    refused_result: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "counter": self.counter,
            "version": self.version,
            "step": self.step,
            "procedures": list(self.procedures),
            "language": self.language,
            "case_id": self.case_id,
            "payment_id": self.payment_id,
            "message": self.message,
            "tries_left": self.tries_left,
            "change_yen": self.change_yen,
            "display_connected": self.display_connected,
            "refused_check": self.refused_check,
            "refused_result": self.refused_result,
        }


@dataclass
class CounterDesk:
    """One counter's desk: its devices and what it is doing now. Thread-safe: the staff
    screen, the customer display and the payment polls meet here."""

    code: str
    reader: CardReader | None = None
    terminal: PaymentProvider | None = None
    qr: PaymentProvider | None = None
    step: DeskStep = DeskStep.IDLE
    staff_actor: str | None = None
    procedures: list[str] = field(default_factory=list)
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    language: str = "ja"
    case_id: int | None = None
    payment_id: str | None = None
    message: str | None = None
    tries_left: int | None = None
    change_yen: int | None = None
    refused_check: str | None = None
    refused_result: str | None = None

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._version = 1
        self._display_polls = 0
        self._display_seen = 0.0
        # Closed (the page said so): not there, even while its last poll is still running.
        self._display_gone = False

    def view(self) -> DeskView:
        with self._cond:
            return DeskView(
                counter=self.code,
                version=self._version,
                step=self.step.value,
                procedures=tuple(self.procedures),
                language=self.language,
                case_id=self.case_id,
                payment_id=self.payment_id,
                message=self.message,
                tries_left=self.tries_left,
                change_yen=self.change_yen,
                display_connected=self._connected(),
                has_reader=self.reader is not None,
                has_terminal=self.terminal is not None,
                has_qr=self.qr is not None,
                refused_check=self.refused_check,
                refused_result=self.refused_result,
            )

    def update(self, **changes: Any) -> DeskView:
        """Change the desk and wake every screen waiting on it. A new message clears the
        refusal's details unless they come with it."""
        if "message" in changes:
            changes.setdefault("refused_check", None)
            changes.setdefault("refused_result", None)
        with self._cond:
            for name, value in changes.items():
                if not hasattr(self, name):
                    raise AttributeError(name)
                setattr(self, name, value)
            self._version += 1
            self._cond.notify_all()
        return self.view()

    def reset(self, **changes: Any) -> DeskView:
        """Back to idle (then ``changes``)."""
        cleared: dict[str, Any] = {
            "step": DeskStep.IDLE,
            "staff_actor": None,
            "procedures": [],
            "fields": {},
            "case_id": None,
            "payment_id": None,
            "message": None,
            "tries_left": None,
            "change_yen": None,
            "refused_check": None,
            "refused_result": None,
        }
        return self.update(**{**cleared, **changes})

    def wait(self, since: int, timeout_s: float) -> DeskView:
        """The desk once its version differs from ``since`` (or after ``timeout_s``)."""
        with self._cond:
            self._cond.wait_for(lambda: self._version != since, timeout=timeout_s)
        return self.view()

    @contextmanager
    def display_polling(self) -> Iterator[None]:
        """The customer display is waiting on the desk (it counts as connected)."""
        with self._cond:
            became = not self._connected()
            self._display_gone = False
            self._display_polls += 1
            self._display_seen = time.monotonic()
            if became:
                self._version += 1
                self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._display_polls -= 1
                self._display_seen = time.monotonic()

    def display_gone(self) -> None:
        with self._cond:
            self._display_gone = True

    def _connected(self) -> bool:
        if self._display_gone:
            return False
        return self._display_polls > 0 or time.monotonic() - self._display_seen < DISPLAY_GRACE_S


class CounterDeskWorkflow:
    """Every operation of the counter desk (see the module docstring). ``readers``,
    ``terminals`` and ``qr`` are the counters' own devices by counter code (the registry's
    ``CounterHardware``); ``kiosk_payments`` is the kiosk's provider (for refunds of what was
    paid at the kiosk); ``float_yen`` is each drawer's change fund; ``policy`` the ward's
    genuine-card checks (``KIOSK_CARD_CHECKS``), the same object the kiosk applies."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        catalog: Catalog,
        kiosk_payments: PaymentProvider,
        readers: Mapping[str, CardReader] | None = None,
        terminals: Mapping[str, PaymentProvider] | None = None,
        qr: Mapping[str, PaymentProvider] | None = None,
        float_yen: int = 30000,
        payment_timeout_s: int = 120,
        policy: CardPolicy | None = None,
    ) -> None:
        self.sessions = sessions
        self.policy = policy or CardPolicy()
        self.catalog = catalog
        self.kiosk_payments = kiosk_payments
        self.float_yen = float_yen
        self.payment_timeout = timedelta(seconds=payment_timeout_s)
        readers, terminals, qr = readers or {}, terminals or {}, qr or {}
        self.desks = {
            c.code: CounterDesk(c.code, readers.get(c.code), terminals.get(c.code), qr.get(c.code))
            for c in catalog.counters
        }
        self._reading = threading.Lock()

    # --- desks and devices ----------------------------------------------------------------------

    def desk(self, code: str | None) -> CounterDesk:
        """The desk of counter ``code``; NotYet("counter") when none was chosen."""
        if not code or code not in self.desks:
            raise NotYet("counter")
        return self.desks[code]

    @property
    def drawers(self) -> tuple[str, ...]:
        """The cash drawers: one per counter, named by its code."""
        return tuple(self.desks)

    def provider_for(self, payment: Payment) -> PaymentProvider:
        """The provider object that took ``payment`` (a counter's terminal or QR checkout,
        or the kiosk's)."""
        desk = self.desks.get(payment.counter_code or "")
        if desk is not None:
            for provider in (desk.terminal, desk.qr):
                if provider is not None and provider.name == payment.provider:
                    return provider
        return self.kiosk_payments

    def stripe_provider(self) -> PaymentProvider | None:
        """A provider on the service's Stripe account (for webhooks and reconciling the
        ledger when the kiosk itself is not on Stripe), or None."""
        candidates = [self.kiosk_payments] + [
            p for d in self.desks.values() for p in (d.terminal, d.qr) if p is not None
        ]
        return next((p for p in candidates if p.name.startswith("stripe")), None)

    # --- the intake -------------------------------------------------------------------------------

    def start(self, code: str, *, actor: str, language: str = "ja") -> DeskView:
        """A new case at this counter: whatever the desk held is let go (an unconfirmed
        draft is cancelled, never a paid case), then staff choose procedures."""
        desk = self.desk(code)
        self._let_go(desk, actor=actor, reason="new_case")
        return desk.reset(step=DeskStep.CHOOSING, staff_actor=actor, language=language)

    def choose(
        self,
        code: str,
        procedures: Sequence[str],
        fields: Mapping[str, Mapping[str, Any]],
        *,
        language: str,
    ) -> DeskView:
        """The procedures (any of the catalog, counter-only ones too) and their fields.
        Raises NothingChosen, UnknownProcedure, FieldsInvalid (every problem at once),
        NotYet("intake") when no intake is in progress or the case is open already."""
        desk = self.desk(code)
        if desk.step not in (DeskStep.CHOOSING, DeskStep.PIN):
            raise NotYet("intake")
        known = [p.code for p in self.catalog.procedures]
        if len(set(procedures)) != len(procedures) or any(c not in known for c in procedures):
            raise UnknownProcedure("unknown or repeated procedure code")
        if not procedures:
            raise NothingChosen("choose at least one procedure")
        chosen = [c for c in known if c in procedures]
        if any(c not in chosen for c in fields):
            raise UnknownProcedure("fields of a procedure that was not chosen")
        normalised = validate_procedure_fields(
            self.catalog, {c: dict(fields.get(c, {})) for c in chosen}, language
        )
        return desk.update(
            step=DeskStep.CHOOSING, procedures=chosen, fields=normalised, message=None
        )

    def ask_for_pin(self, code: str) -> DeskView:
        """Put the PIN pad on the customer display, after asking the card how many tries are
        left. Raises NotYet("procedures"), NoDevice("reader"), JpkiNotAtCounter (a chosen
        procedure wants the JPKI check), DisplayNotConnected, PinWouldLock / PinLocked (the
        one-try-left rule: go on without the card) and any CardError of the reader; each also
        leaves its message on the desk."""
        desk = self.desk(code)
        if desk.step is not DeskStep.CHOOSING or not desk.procedures:
            raise NotYet("procedures")
        if desk.reader is None:
            raise NoDevice("reader")
        self._refuse_jpki(desk)
        if not desk.view().display_connected:
            desk.update(message="display_closed")
            raise DisplayNotConnected("open the customer display first")
        try:
            tries = desk.reader.pin_tries_left()
            refuse_unsafe_tries(tries)
        except CardError as e:
            desk.update(message=e.code, tries_left=e.tries_left)
            raise
        return desk.update(step=DeskStep.PIN, tries_left=tries, message=None)

    def enter_pin(self, code: str, pin: str, *, language: str | None = None) -> DeskView:
        """The resident typed the PIN on the customer display: read the card at this
        counter's reader (the PIN is used in this call only) and open the draft case,
        prefilled, on behalf of the member of staff who started the intake.

        Raises NotYet("pin") when no PIN is asked for, DeskBusy, WrongPin (tries left > 1:
        the PIN pad stays), PinWouldLock / PinLocked (the rule: no further PIN; staff go on
        without the card), any other CardError (a card pulled: the PIN pad stays, place it
        again), JpkiNotAtCounter (nothing sent), CardNotGenuine (a check the ward requires
        failed: audited, no case; staff go on with an identity document) and the domain's
        errors of opening the case. Nothing is written unless the read was complete."""
        desk = self.desk(code)
        if desk.step is not DeskStep.PIN or desk.reader is None:
            raise NotYet("pin")
        self._refuse_jpki(desk)
        if not self._reading.acquire(blocking=False):
            raise DeskBusy("a card is being read")
        try:
            desk.update(step=DeskStep.READING, message=None)
            specs = [self.catalog.procedure(c) for c in desk.procedures]
            with_number = any(spec.needs_individual_number for spec in specs)
            try:
                # The checks the kiosk asks for; never the JPKI check (refused above).
                info = desk.reader.read(
                    pin, with_number=with_number, checks=self.policy.checks_wanted(jpki=False)
                )
            except WrongPin as e:
                try:
                    refuse_unsafe_tries(e.tries_left)
                except CardError as stop:
                    desk.update(step=DeskStep.CHOOSING, message=stop.code, tries_left=e.tries_left)
                    raise stop from None
                desk.update(step=DeskStep.PIN, message=e.code, tries_left=e.tries_left)
                raise
            except CardError as e:
                again = e.code in ("card_removed", "no_card", "card_error")
                desk.update(
                    step=DeskStep.PIN if again else DeskStep.CHOOSING,
                    message=e.code,
                    tries_left=e.tries_left,
                )
                raise
            try:
                enforce_card_policy(
                    self.policy,
                    self.sessions,
                    info,
                    desk.procedures,
                    actor=desk.staff_actor or f"counter:{desk.code}",
                    jpki=False,
                    where={"counter": desk.code},
                )
            except CardNotGenuine as e:
                desk.update(
                    step=DeskStep.CHOOSING,
                    message=e.code,
                    refused_check=e.check,
                    refused_result=e.result,
                    tries_left=None,
                )
                raise
            try:
                case_id = self._open(desk, language or desk.language, card=info)
            except DomainError:
                desk.update(step=DeskStep.CHOOSING, message="case_not_opened")
                raise
            return desk.update(step=DeskStep.CHECK, case_id=case_id, message=None, tries_left=None)
        finally:
            self._reading.release()

    def _refuse_jpki(self, desk: CounterDesk) -> None:
        specs = [self.catalog.procedure(c) for c in desk.procedures]
        if self.policy.wants_jpki(specs):
            desk.update(step=DeskStep.CHOOSING, message=JpkiNotAtCounter.code, tries_left=None)
            raise JpkiNotAtCounter("a chosen procedure wants the JPKI check: kiosk or document")

    def open_without_card(
        self, code: str, person: Mapping[str, Any], identity_document: str
    ) -> DeskView:
        """No card (or one try left): staff typed the basic four from the identity document
        they checked. Raises NotYet("procedures"), PersonInvalid, and the domain's errors
        of opening the case (a procedure that needs the individual number cannot be
        done without the card)."""
        desk = self.desk(code)
        if desk.step is not DeskStep.CHOOSING or not desk.procedures:
            raise NotYet("procedures")
        typed = check_person(person, today=business_day())
        case_id = self._open(desk, desk.language, person=typed, document=identity_document)
        return desk.update(step=DeskStep.CHECK, case_id=case_id, message=None, tries_left=None)

    def _open(self, desk: CounterDesk, language: str, **how: Any) -> int:
        actor = desk.staff_actor or f"counter:{desk.code}"
        with transaction(self.sessions) as s:
            case = open_counter_case(
                s,
                desk.procedures,
                catalog=self.catalog,
                actor=actor,
                language=language,
                card=how.get("card"),
                person=how.get("person"),
                identity_document=how.get("document"),
            )
            for procedure, values in desk.fields.items():
                set_resident_fields(s, case, procedure, values, catalog=self.catalog, actor=actor)
            return case.id

    def confirm(self, code: str, *, actor: str) -> DeskView:
        """The form was checked (by the resident on the display, or staff): the case is
        confirmed, its ticket serves at this counter and its fee is due here. Raises
        NotYet("case"), InvalidTransition, ValidationFailed (a required field is missing)."""
        desk = self.desk(code)
        if desk.case_id is None or desk.step is not DeskStep.CHECK:
            raise NotYet("case")
        with transaction(self.sessions) as s:
            case = get_case(s, desk.case_id)
            confirm_case(s, case, catalog=self.catalog, actor=actor)
            serve_at_counter(s, case, get_counter(s, code), actor=actor)
            due = case.due_yen
        return desk.update(
            step=DeskStep.PAYMENT if due else DeskStep.DONE, message=None, change_yen=None
        )

    def ask_for_correction(self, code: str) -> DeskView:
        """The resident asks, on the display, for something on the form to be corrected."""
        desk = self.desk(code)
        if desk.case_id is None:
            raise NotYet("case")
        return desk.update(message="correction_asked")

    def show_case(self, code: str, case_id: int, *, actor: str) -> DeskView:
        """Serve a resident who holds a ticket (or any open case) at this counter: the case
        goes on the display with what is due. Raises NotFound, NotYet("case") (closed)."""
        desk = self.desk(code)
        with self.sessions() as s:
            case = get_case(s, case_id)
            if case.status in CLOSED_STATES:
                raise NotYet("case")
            step = DeskStep.CHECK if case.status is CaseStatus.DRAFT else self._money_step(case)
            procedures = [line.procedure_code for line in case.procedures]
            open_payment = next(
                (p.public_id for p in payments_of_case(s, case_id) if p.status in OPEN), None
            )
        if desk.case_id != case_id:
            self._let_go(desk, actor=actor, reason="next_case")
        return desk.reset(
            step=step,
            staff_actor=actor,
            case_id=case_id,
            procedures=procedures,
            payment_id=open_payment,
        )

    def finish(self, code: str) -> DeskView:
        """The resident has gone: the desk and the display go back to idle."""
        return self.desk(code).reset()

    def cancel(self, code: str, *, actor: str) -> DeskView:
        """Staff stop the intake: an open payment is cancelled, an unpaid case cancelled
        (a paid one stays for a refund), the desk goes idle."""
        desk = self.desk(code)
        self._let_go(desk, actor=actor, reason="cancelled_at_counter")
        return desk.reset()

    def _let_go(self, desk: CounterDesk, *, actor: str, reason: str) -> None:
        if desk.payment_id:
            try:
                self.cancel_payment(desk.code, actor=actor)
            except (PaymentError, DomainError) as e:
                log.warning("counter %s: payment not cancelled (%s)", desk.code, type(e).__name__)
        if desk.case_id is None:
            return
        with transaction(self.sessions) as s:
            case = get_case(s, desk.case_id)
            if case.status in (CaseStatus.DRAFT, CaseStatus.CONFIRMED) or (
                case.channel == "counter"
                and case.status is CaseStatus.SERVING
                and case.due_yen == case.fee_yen
                and not any(p.status in OPEN | {P.SUCCEEDED} for p in payments_of_case(s, case.id))
            ):
                cancel_case(s, case, actor=actor, reason=reason)

    # --- money ------------------------------------------------------------------------------------

    def _money_step(self, case: Case) -> DeskStep:
        return DeskStep.PAYMENT if case.due_yen else DeskStep.DONE

    def _after_money(self, code: str | None, case_id: int, **changes: Any) -> None:
        desk = self.desks.get(code or "")
        if desk is None or desk.case_id != case_id:
            return
        with self.sessions() as s:
            step = self._money_step(get_case(s, case_id))
        desk.update(step=step, **changes)

    def pay_cash(
        self,
        code: str,
        case_id: int,
        *,
        amount_yen: int,
        tendered_yen: int,
        actor: str,
        request_key: str | None = None,
    ) -> CashTaken:
        """Cash for what the case owes, into this counter's drawer; the display shows the
        change. Raises like ``payments.counter.take_cash`` (NothingDue, WrongAmount,
        TooLittleTendered, PaymentInProgress, KeyReused, DayClosed)."""
        self.desk(code)
        with transaction(self.sessions) as s:
            taken = take_cash(
                s,
                case_id,
                amount_yen=amount_yen,
                tendered_yen=tendered_yen,
                counter_code=code,
                actor=actor,
                request_key=request_key,
            )
        self._after_money(
            code, case_id, change_yen=taken.change_yen, payment_id=None, message="paid"
        )
        return taken

    def start_device_payment(
        self,
        code: str,
        case_id: int,
        *,
        device: str,
        actor: str,
        request_key: str | None = None,
    ) -> Payment:
        """What the case owes on this counter's ``terminal``, or as a ``qr`` code on its
        display. Raises NoDevice, NothingDue, PaymentInProgress, PaymentError (the terminal
        cannot be reached: take cash); the error's code is left on the desk."""
        desk = self.desk(code)
        provider = desk.terminal if device == "terminal" else desk.qr if device == "qr" else None
        if provider is None:
            raise NoDevice(device)
        try:
            payment = start_counter_payment(
                self.sessions,
                provider,
                case_id,
                counter_code=code,
                actor=actor,
                request_key=request_key,
            )
        except PaymentError as e:
            if desk.case_id == case_id:
                desk.update(message=e.code)
            raise
        if desk.case_id != case_id:
            self.show_case(code, case_id, actor=actor)
        desk.update(payment_id=payment.public_id, message=None, change_yen=None)
        self.refresh(code)
        return payment

    def refresh(self, code: str) -> DeskView:
        """Re-read this counter's open payment at its provider (the polls of both screens):
        taken -> the due falls and the desk moves on; declined, timed out or cancelled ->
        its message; still open past the payment time-out -> cancelled."""
        desk = self.desk(code)
        public_id = desk.payment_id
        if not public_id:
            return desk.view()
        try:
            with transaction(self.sessions) as s:
                payment = get_payment(s, public_id)
                provider = self.provider_for(payment)
                payment = refresh_payment(s, provider, public_id)
                age = aware(None) - payment.created_at
                if payment.status in OPEN and age > self.payment_timeout:
                    payment = cancel_payment(
                        s, provider, public_id, actor=f"counter:{code}", reason="timeout"
                    )
                status, case_id = payment.status, payment.case_id
        except PaymentError as e:
            return desk.update(message=e.code)
        if status in OPEN:
            return desk.view()
        message = {
            P.SUCCEEDED: "paid",
            P.FAILED: "declined",
            P.EXPIRED: "timed_out",
            P.CANCELLED: "payment_cancelled",
        }.get(status, "paid")
        self._after_money(code, case_id, payment_id=None, message=message)
        return desk.view()

    def cancel_payment(self, code: str, *, actor: str) -> DeskView:
        """Withdraw the open payment from the terminal or the display (if the money was
        taken first, it stands)."""
        desk = self.desk(code)
        if desk.payment_id:
            with transaction(self.sessions) as s:
                payment = get_payment(s, desk.payment_id)
                cancel_payment(
                    s, self.provider_for(payment), desk.payment_id, actor=actor, reason="staff"
                )
        return self.refresh(code)

    def refund(
        self,
        code: str | None,
        public_id: str,
        *,
        staff: Staff,
        cash: bool,
        reason: str,
        amount_yen: int | None = None,
    ) -> PaymentRefund:
        """A supervisor gives back (part of) one payment, in cash from this counter's drawer
        or through its provider. Raises PermissionDenied, RefundNotAllowed (more than was
        paid), DayClosed (cash on a closed day), ProviderUnavailable, NotYet("counter")
        (cash needs this counter's drawer)."""
        require_role(staff, StaffRole.SUPERVISOR)
        if cash or code:
            self.desk(code)
        with transaction(self.sessions) as s:
            refund = refund_at_counter(
                s,
                public_id,
                provider_for=self.provider_for,
                cash=cash,
                counter_code=code or "",
                actor=actor_of(staff),
                reason=reason,
                amount_yen=amount_yen,
            )
            case_id = refund.payment.case_id
        self._after_money(code, case_id, message="refunded")
        return refund

    def refund_difference(
        self, code: str, case_id: int, *, staff: Staff, cash: bool, reason: str
    ) -> list[PaymentRefund]:
        """A supervisor gives back what the case owes the resident after an amendment or an
        exemption (cash, or through the providers that took it). Raises PermissionDenied,
        NothingDue, RefundNotAllowed, DayClosed, ProviderUnavailable."""
        require_role(staff, StaffRole.SUPERVISOR)
        self.desk(code)
        with transaction(self.sessions) as s:
            refunds = refund_difference(
                s,
                case_id,
                provider_for=self.provider_for,
                cash=cash,
                counter_code=code,
                actor=actor_of(staff),
                reason=reason,
            )
        self._after_money(code, case_id, message="refunded")
        return refunds

    def exempt(
        self, code: str | None, case_id: int, *, staff: Staff, kind: str, basis: str
    ) -> DeskView | None:
        """A supervisor exempts the case from its fees (公用請求 or by ordinance), with the
        basis; the exempt lines are counted in the day's takings, and what was paid becomes
        due back. Raises PermissionDenied, ExemptionInvalid, InvalidTransition,
        PaymentInProgress."""
        require_role(staff, StaffRole.SUPERVISOR)
        with transaction(self.sessions) as s:
            if any(p.status in OPEN for p in payments_of_case(s, case_id)):
                raise PaymentInProgress("cancel the payment in progress first")
            case = get_case(s, case_id)
            grant_exemption(s, case, kind=kind, basis=basis, actor=actor_of(staff))
            book_exemption(s, case)
        self._after_money(code, case_id, message="exempted")
        return self.desks[code].view() if code in self.desks else None

    def amend(
        self, code: str | None, case_id: int, amendment: Amendment, *, actor: str
    ) -> CaseAmendment:
        """Correct the case (``kiosk.amendments``); the difference in fee becomes due at the
        counter. Raises PaymentInProgress (a payment is open: the amount must not change
        under it), FieldsInvalid (every bad field), and the domain's errors."""
        with transaction(self.sessions) as s:
            if any(p.status in OPEN for p in payments_of_case(s, case_id)):
                raise PaymentInProgress("cancel the payment in progress first")
            try:
                record = amend_case(s, case_id, amendment, catalog=self.catalog, actor=actor)
            except LinesInvalid as e:
                raise FieldsInvalid(e.failures) from e
            case = get_case(s, case_id)
            procedures = [line.procedure_code for line in case.procedures]
            step = DeskStep.CHECK if case.status is CaseStatus.DRAFT else self._money_step(case)
        desk = self.desks.get(code or "")
        if desk is not None and desk.case_id == case_id:
            desk.update(step=step, procedures=procedures, message="amended", change_yen=None)
        return record

    def complete(self, code: str | None, case_id: int, *, actor: str) -> None:
        """The resident's business is done: the ticket is completed (FeeDue while anything is
        due at the counter) and the desk goes idle."""
        with transaction(self.sessions) as s:
            case = get_case(s, case_id)
            if case.ticket is None:
                raise NotYet("ticket")
            complete(s, lock_ticket(s, case.ticket.id), actor=actor)
        desk = self.desks.get(code or "")
        if desk is not None and desk.case_id == case_id:
            desk.reset()

    # --- the day's takings ------------------------------------------------------------------------

    def day_ledger(self, day: date) -> DayLedger:
        """The ledger of ``day`` with every counter's drawer."""
        with self.sessions() as s:
            return day_ledger(s, day, drawers=self.drawers, float_yen=self.float_yen)

    def close_day(
        self,
        day: date,
        counted: Mapping[str, int],
        *,
        staff: Staff,
        reasons: Mapping[str, str] | None = None,
    ) -> DayLedger:
        """A supervisor closes ``day`` with the cash counted per drawer (and the reason of
        any difference). Raises PermissionDenied, CountInvalid, DayAlreadyClosed,
        DayNotOver."""
        require_role(staff, StaffRole.SUPERVISOR)
        with transaction(self.sessions) as s:
            return close_day(
                s,
                day,
                counted,
                drawers=self.drawers,
                float_yen=self.float_yen,
                actor=actor_of(staff),
                reasons=reasons,
            )

    # --- the customer display ---------------------------------------------------------------------

    def display_poll(self, code: str, since: int, timeout_s: float = POLL_TIMEOUT_S) -> DeskView:
        """The display waits for the desk to change (a payment in progress is re-read every
        second meanwhile); while it waits it counts as connected."""
        with self.desk(code).display_polling():
            return self.staff_poll(code, since, timeout_s)

    def staff_poll(self, code: str, since: int, timeout_s: float = POLL_TIMEOUT_S) -> DeskView:
        """The staff screen waits for the desk to change (payments re-read every second)."""
        desk = self.desk(code)
        deadline = time.monotonic() + timeout_s
        while True:
            if desk.payment_id:
                view = self.refresh(code)
                if view.version != since:
                    return view
                wait = min(1.0, deadline - time.monotonic())
            else:
                wait = deadline - time.monotonic()
            view = desk.wait(since, max(0.0, wait))
            if view.version != since or time.monotonic() >= deadline:
                return view

    def display_closed(self, code: str) -> DeskView:
        """The customer display was closed (or lost): a PIN that was being asked for is
        withdrawn (nothing was read: staff may open the display again, or go on without
        the card); both screens are told."""
        desk = self.desk(code)
        desk.display_gone()
        if desk.step in (DeskStep.PIN,):
            return desk.update(step=DeskStep.CHOOSING, message="display_closed")
        if desk.step is DeskStep.IDLE:
            return desk.update()
        return desk.update(message="display_closed")

    def display_language(self, code: str, language: str) -> DeskView:
        """The resident chose the display's language (the case's, when it opens after)."""
        desk = self.desk(code)
        if desk.case_id is None and desk.language != language:
            return desk.update(language=language)
        return desk.view()

    def case_on_display(self, code: str) -> Case | None:
        """The case the display shows (its own data, to the resident at the counter), loaded
        and detached; None when there is none."""
        desk = self.desk(code)
        if desk.case_id is None:
            return None
        with self.sessions() as s:
            case = get_case(s, desk.case_id)
            _ = [line.resident_fields for line in case.procedures], case.ticket
        return case

    def open_payment(self, code: str) -> Payment | None:
        """The payment open on this counter's terminal or display (its QR), or None."""
        desk = self.desk(code)
        if not desk.payment_id:
            return None
        with self.sessions() as s:
            return get_payment(s, desk.payment_id)
