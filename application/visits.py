"""The resident's visit: one workflow that the kiosk screens and the JSON API (and the
counter desk's customer display) share.

A visit goes: choose procedures -> fields -> card on the reader -> PIN -> the prefilled case
to check -> confirm -> pay (a fee-free case gets its ticket at confirmation; a resident who
pays in cash at the counter gets it at once, the fee left due on the case) -> ticket ->
wipe. :class:`VisitWorkflow` owns every step: each method is one operation with one
transaction (it commits, or rolls back everything it did), takes a :class:`Visit` and raises
the boundary's own errors (``DomainError``, ``CardError``, ``PaymentError``) or the few
below. Front ends parse input, call one method and render; they hold no rule.

The product's safety rule lives here, once: the kiosk never sends a PIN when the card has one
try left (:meth:`VisitWorkflow.pin_tries` and :meth:`VisitWorkflow.read_card`), so it can never
be what locks a resident's card. (The card layer refuses such a VERIFY too, as a last line.)
The same rule holds for the JPKI user-authentication PIN (:meth:`VisitWorkflow.jpki_pin_tries`),
a PIN of its own that is asked for only when a chosen procedure wants the JPKI check and is
only ever sent to the JPKI application.

The ward's card policy (:mod:`application.card_policy`) applies in
:meth:`VisitWorkflow.read_card`: a card that fails a required genuine-card check opens no case
(:class:`~application.card_policy.CardNotGenuine`, with an audit row without personal data).

So does "one card, one visit": a visit only ever uses a card placed on the reader after it
began. A card left behind by the previous resident (or placed before Start) is refused with
:class:`CardFromEarlier` until it has been taken off and a card placed again: the reader's
card event count (``ReaderStatus.card_events``, pcscd's event counter) tells the two apart,
and where a reader cannot count, a card is new once the visit has seen the reader empty.
A stranger's PIN attempts can then never use up another resident's tries.

A visit's progress lives in :class:`VisitStore`, in this process: one service runs per kiosk
PC (its card reader is local), so the store is as local as the reader. Card data is never in
the store: it goes into the case (encrypted at rest by the domain). The PIN exists only in the
call of :meth:`VisitWorkflow.read_card` (so does the JPKI PIN).
"""

from __future__ import annotations

import enum
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from application.card_policy import CardPolicy, JpkiPinNotWanted, JpkiPinRequired
from application.card_policy import enforce as enforce_card_policy
from application.printing import PrintService, PrintState
from cardreader.errors import (
    CardError,
    JpkiPinLocked,
    JpkiPinWouldLock,
    JpkiWrongPin,
    PinLocked,
    PinWouldLock,
    WrongPin,
)
from cardreader.reader import CardReader, ReaderStatus
from kiosk import audit
from kiosk.cases import confirm_case, get_case, open_case, set_resident_fields
from kiosk.catalog import Catalog, ValidationFailed
from kiosk.clock import business_day
from kiosk.counter_cases import leave_fee_to_counter
from kiosk.db import transaction
from kiosk.errors import CaseNotEditable, DomainError, InvalidTransition, UnknownProcedure
from kiosk.help import HelpAlert, help_state, raise_help
from kiosk.models import Case, CaseStatus
from kiosk.overview import TicketStatusView, ticket_status
from kiosk.tickets import cancel_case, issue_ticket
from payments.collect import cancel_payment, refresh_payment
from payments.collect import start_payment as start_case_payment
from payments.models import Payment
from payments.provider import PaymentError, PaymentProvider
from payments.states import TAKEN, crash_point, get_payment, payments_of_case

log = logging.getLogger(__name__)


class VisitEnded(Exception):
    """The visit timed out, was wiped, or never existed."""


class CardFromEarlier(CardError):
    """The card on the reader was already there when the visit began (the previous
    resident's, or one placed before Start): it is not read, and no PIN is sent to it,
    until it has been taken off and a card placed again."""

    code = "card_from_earlier"  # worded by ui.words.CARD_ERRORS


# Visit.card_before when a card was on the reader at the start and the reader cannot count
# cards: any card is from earlier until the visit has seen the reader empty.
UNCOUNTED_CARD = -1


class NothingChosen(DomainError):
    """A visit needs at least one procedure."""


class FieldsInvalid(DomainError):
    """Some fields of the chosen procedures are not valid: ``failures`` maps each procedure
    code to its :class:`ValidationFailed` (every problem at once; nothing was stored)."""

    def __init__(self, failures: Mapping[str, ValidationFailed]) -> None:
        super().__init__(f"invalid fields in {', '.join(failures)}")
        self.failures = dict(failures)


class NotYet(DomainError):
    """The step needs an earlier one first (``missing``: what is missing: ``procedures``,
    ``case``, ``payment`` or ``ticket``)."""

    def __init__(self, missing: str) -> None:
        super().__init__(f"the visit has no {missing} yet")
        self.missing = missing


@dataclass
class Visit:
    """One resident's trip through the kiosk (no personal data, no PIN)."""

    id: str
    language: str
    created: float
    touched: float
    procedures: list[str] = field(default_factory=list)
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    case_id: int | None = None
    payment_id: str | None = None
    ticket_token: str | None = None
    card_seen: bool = False
    # The card on the reader when the visit began: its card event count (ReaderStatus.
    # card_events), UNCOUNTED_CARD when the reader cannot count, None when there was none.
    card_before: int | None = None


class VisitStore:
    """Visits by id, expiring ``idle_timeout_s`` (plus a grace for the page's own timer)
    after the last request. ``on_expire`` is called for each expired visit (to cancel its
    payment and case) outside the store's lock. Thread-safe."""

    GRACE_S = 15.0

    def __init__(
        self,
        idle_timeout_s: float,
        on_expire: Callable[[Visit], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_timeout_s = idle_timeout_s
        self.on_expire = on_expire
        self._clock = clock
        self._lock = threading.Lock()
        self._visits: dict[str, Visit] = {}

    def start(self, language: str) -> Visit:
        """A new visit with a fresh unguessable id."""
        now = self._clock()
        visit = Visit(secrets.token_urlsafe(24), language, now, now)
        with self._lock:
            self._visits[visit.id] = visit
        self.sweep()
        return visit

    def get(self, visit_id: str | None, *, touch: bool = True) -> Visit | None:
        """The live visit ``visit_id`` (touched unless ``touch`` is False), or None."""
        self.sweep()
        if not visit_id:
            return None
        with self._lock:
            visit = self._visits.get(visit_id)
            if visit is not None and touch:
                visit.touched = self._clock()
            return visit

    def end(self, visit_id: str | None) -> Visit | None:
        """Forget the visit and return it (None if there was none)."""
        if not visit_id:
            return None
        with self._lock:
            return self._visits.pop(visit_id, None)

    def sweep(self) -> list[Visit]:
        """Drop visits idle for longer than the timeout; returns them after ``on_expire``."""
        limit = self._clock() - self.idle_timeout_s - self.GRACE_S
        with self._lock:
            expired = [v for v in self._visits.values() if v.touched < limit]
            for visit in expired:
                del self._visits[visit.id]
        for visit in expired:
            if self.on_expire is not None:
                self.on_expire(visit)
        return expired

    def __len__(self) -> int:
        with self._lock:
            return len(self._visits)


class CardState(enum.Enum):
    """What the card screen shows while the resident places the card."""

    NO_READER = "no_reader"
    WAITING = "waiting"
    PRESENT = "present"
    READING = "reading"
    REMOVED = "removed"  # a card seen earlier in this visit is gone
    FROM_EARLIER = "from_earlier"  # on the reader since before the visit: take it off first


@dataclass(frozen=True)
class ReaderView:
    """The reader as a front end may show it (``pin_tries_left`` None without a card, and
    for a card from before the visit, which is not asked anything).

    ``jpki_pin_wanted``: the chosen procedures want the JPKI check (a second PIN);
    ``jpki_pin_tries_left``: its tries (None when not wanted or without a card)."""

    reader_present: bool
    card_present: bool
    pin_tries_left: int | None
    jpki_pin_wanted: bool = False
    jpki_pin_tries_left: int | None = None
    card_from_earlier: bool = False


@dataclass(frozen=True)
class Confirmation:
    """The confirmed case's fee and, for a fee-free case, its ticket at once."""

    fee_yen: int
    ticket_token: str | None


@dataclass(frozen=True)
class PaymentView:
    """The visit's payment as last read from the provider (detached from any session),
    and the ticket once the payment has issued one."""

    status: str  # "none" before a payment was started
    payment: Payment | None
    ticket_token: str | None


@dataclass(frozen=True)
class TicketView:
    """The visit's ticket: its status-page view (with the queues of its route), token, the
    queue it waits in now, its issue time, and the fee still to pay at the counter (0 when
    paid or fee-free)."""

    token: str
    status: TicketStatusView
    queue_code: str
    issued_at: Any
    has_receipt: bool
    due_yen: int = 0


class _ReaderActivity:
    """How many card operations are running (the card screen shows "reading")."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    @contextmanager
    def running(self) -> Iterator[None]:
        with self._lock:
            self.count += 1
        try:
            yield
        finally:
            with self._lock:
                self.count -= 1


def validate_procedure_fields(
    catalog: Catalog, values: Mapping[str, Mapping[str, Any]], language: str
) -> dict[str, dict[str, Any]]:
    """Validate what is given for each procedure (``{code: {field: value}}``) before there is
    a case: every procedure is checked and the normalised values returned, or FieldsInvalid
    lists every problem at once (messages in ``language``). Shared by the kiosk, the API and
    the counter desk."""
    failures: dict[str, ValidationFailed] = {}
    normalised: dict[str, dict[str, Any]] = {}
    for code, given in values.items():
        try:
            normalised[code] = catalog.procedure(code).validate_fields(
                given, language, today=business_day()
            )
        except ValidationFailed as e:
            failures[code] = e
    if failures:
        raise FieldsInvalid(failures)
    return normalised


def refuse_unsafe_tries(tries_left: int, *, jpki: bool = False) -> None:
    """The product's safety rule: with one try left (or none) no PIN is sent; the resident
    goes to the counter. Raises PinWouldLock (1) or PinLocked (0); for the JPKI
    user-authentication PIN (``jpki``) JpkiPinWouldLock or JpkiPinLocked."""
    if tries_left > 1:
        return
    if jpki:
        raise JpkiPinLocked() if tries_left <= 0 else JpkiPinWouldLock()
    raise PinLocked() if tries_left <= 0 else PinWouldLock()


class VisitWorkflow:
    """The resident's visit over the domain, the card reader and the payment provider.

    ``actor`` names this kiosk in audit rows (``kiosk:<id>``), ``kiosk_id`` in payments.
    ``policy``: the genuine-card checks a card must pass (``KIOSK_CARD_CHECKS``).
    """

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        catalog: Catalog,
        reader: CardReader,
        payments: PaymentProvider,
        store: VisitStore,
        kiosk_id: str,
        printing: PrintService | None = None,
        policy: CardPolicy | None = None,
    ) -> None:
        self.sessions = sessions
        self.catalog = catalog
        self.reader = reader
        self.policy = policy or CardPolicy()
        self.payments = payments
        self.store = store
        self.kiosk_id = kiosk_id
        # The kiosk's ticket printer: every ticket is printed once it is issued.
        self.printing = printing
        self.actor = f"kiosk:{kiosk_id}"
        self.reader_activity = _ReaderActivity()
        store.on_expire = lambda visit: self.wipe(visit, reason="timeout")

    # --- the visit itself -------------------------------------------------------------------

    def start(self, language: str, *, replacing: str | None = None) -> Visit:
        """A new visit; the visit ``replacing`` (this browser's previous one) is wiped. The
        card on the reader now, if any, is noted: this visit will not use it (see
        :class:`CardFromEarlier`)."""
        old = self.store.end(replacing)
        if old is not None:
            self.wipe(old, reason="restart")
        status = self.reader.status()
        visit = self.store.start(language)
        if status.card_present:
            visit.card_before = (
                status.card_events if status.card_events is not None else UNCOUNTED_CARD
            )
        elif not status.reader_present:
            # Nothing can be known of a card now: the first card seen counts as from earlier
            # until the reader has been seen empty.
            visit.card_before = UNCOUNTED_CARD
        return visit

    def open(
        self,
        language: str,
        procedures: Sequence[str],
        fields: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Visit:
        """A new visit with its procedures and, optionally, their fields at once (a front
        end that sends everything in one request): all or nothing, a refusal ends the visit
        again. Raises what :meth:`choose_procedures` and :meth:`set_fields` raise."""
        visit = self.start(language)
        try:
            self.choose_procedures(visit, procedures)
            self.set_fields(visit, fields or {}, language)
        except BaseException:
            self.end(visit.id, reason="rejected")
            raise
        return visit

    def get(self, visit_id: str | None, *, touch: bool = True) -> Visit:
        """The live visit (touched: the resident is still there). Raises VisitEnded."""
        visit = self.store.get(visit_id[:64] if visit_id else None, touch=touch)
        if visit is None:
            raise VisitEnded()
        return visit

    def end(self, visit_id: str | None, *, reason: str) -> None:
        """End the visit ``visit_id`` if it still lives (see :meth:`wipe`)."""
        visit = self.store.end(visit_id[:64] if visit_id else None)
        if visit is not None:
            self.wipe(visit, reason=reason)

    def wipe(self, visit: Visit, *, reason: str) -> None:
        """End a visit everywhere: cancel a pending payment at the provider, cancel the case
        unless it reached the queue, forget the visit. Never raises (logs instead)."""
        self.store.end(visit.id)
        if visit.payment_id and not visit.ticket_token:
            try:
                with transaction(self.sessions) as s:
                    cancel_payment(
                        s, self.payments, visit.payment_id, actor=self.actor, reason=reason
                    )
            except (PaymentError, DomainError) as e:
                log.warning("visit wipe: payment not cancelled (%s)", type(e).__name__)
        if visit.case_id and not visit.ticket_token:
            try:
                with transaction(self.sessions) as s:
                    cancel_case(s, get_case(s, visit.case_id), actor=self.actor, reason=reason)
            except InvalidTransition:
                pass  # paid meanwhile: the case stays for its ticket (or a staff refund)
            except DomainError as e:
                log.warning("visit wipe: case not cancelled (%s)", type(e).__name__)
        log.info("visit ended (%s)", reason)

    def card_left_on_reader(self) -> bool:
        """Whether a card is on the reader now: after a visit ends, the kiosk asks the
        resident to take it (it will not serve the next visit anyway)."""
        return self.reader.status().card_present

    def call_staff(self, screen: str) -> str:
        """The resident asked for a member of staff on ``screen``: an alert on every staff
        console until someone acknowledges it (``kiosk.help``; no personal data). Returns
        the request's token, with which this kiosk's screen follows it (pressing again
        while it is open keeps the same request)."""
        with transaction(self.sessions) as s:
            return raise_help(s, self.kiosk_id, screen).token

    def help_state(self, token: str) -> HelpAlert:
        """The help request this kiosk raised (``token``): open, or acknowledged (by whom,
        when). Raises NotFound."""
        with self.sessions() as s:
            return help_state(s, token)

    # --- procedures and fields --------------------------------------------------------------

    def choose_procedures(self, visit: Visit, codes: Sequence[str]) -> None:
        """Keep the chosen procedures (in catalog order; fields of others are dropped).

        Raises NothingChosen, UnknownProcedure (unknown or repeated code), CaseNotEditable
        once the card was read (the case holds the procedures from then on).
        """
        known = [p.code for p in self.catalog.kiosk_procedures]  # never counter-only ones
        if len(set(codes)) != len(codes) or any(c not in known for c in codes):
            raise UnknownProcedure("unknown or repeated procedure code")
        if not codes:
            raise NothingChosen("choose at least one procedure")
        if visit.case_id is not None:
            raise CaseNotEditable("the procedures are in the case")
        visit.procedures = [code for code in known if code in codes]
        visit.fields = {c: v for c, v in visit.fields.items() if c in visit.procedures}

    def set_fields(
        self, visit: Visit, submitted: Mapping[str, Mapping[str, Any]], language: str
    ) -> int | None:
        """Set what the resident gives for the chosen procedures (``{code: {field: value}}``,
        merged into what was given before). Every procedure is checked and nothing is kept
        unless all are valid. Before the card is read the values stay with the visit; after,
        they go into the draft case and the fee is recomputed (returned; None before).

        Raises FieldsInvalid (all problems at once), NotYet("procedures"), UnknownProcedure
        (a code that was not chosen), CaseNotEditable (confirmed already).
        """
        if not visit.procedures:
            raise NotYet("procedures")
        if any(code not in visit.procedures for code in submitted):
            raise UnknownProcedure("fields of a procedure that was not chosen")
        # Before the card read every chosen procedure is checked; after it, what was sent.
        merged = {
            code: {**visit.fields.get(code, {}), **submitted.get(code, {})}
            for code in visit.procedures
            if visit.case_id is None or code in submitted
        }
        failures: dict[str, ValidationFailed] = {}
        normalised: dict[str, dict[str, Any]] = {}
        if visit.case_id is None:
            visit.fields = validate_procedure_fields(self.catalog, merged, language)
            return None
        with transaction(self.sessions) as s:
            case = get_case(s, visit.case_id)
            for code, values in merged.items():
                try:
                    line = set_resident_fields(
                        s, case, code, values, catalog=self.catalog, actor=self.actor
                    )
                    normalised[code] = dict(line.resident_fields or {})
                except ValidationFailed as e:
                    failures[code] = e
            if failures:
                raise FieldsInvalid(failures)  # rolls back what the valid ones wrote
            fee = case.fee_yen
        visit.fields.update(normalised)
        return fee

    # --- the card -----------------------------------------------------------------------------

    def card_state(self, visit: Visit) -> CardState:
        """The reader as the card screen shows it (a poll: not a touch of the visit)."""
        if self.reader_activity.count:
            return CardState.READING
        status = self.reader.status()
        if not status.reader_present:
            return CardState.NO_READER
        if status.card_present:
            if self._from_earlier(visit, status):
                return CardState.FROM_EARLIER
            visit.card_seen = True
            return CardState.PRESENT
        self._from_earlier(visit, status)
        return CardState.REMOVED if visit.card_seen else CardState.WAITING

    def reader_view(self, visit: Visit) -> ReaderView:
        """Reader present, card present, PIN tries left (None without a readable card, and
        for a card from before the visit: it is not asked); when the chosen procedures want
        the JPKI check, the JPKI PIN's tries too."""
        status = self.reader.status()
        tries = jpki_tries = None
        jpki = bool(visit.procedures) and self.wants_jpki(visit)
        if status.card_present and self._from_earlier(visit, status):
            return ReaderView(status.reader_present, True, None, jpki, card_from_earlier=True)
        if status.card_present:
            try:
                tries = self.reader.pin_tries_left()
                if jpki:
                    jpki_tries = self.reader.jpki_pin_tries_left()
            except CardError:
                pass
        return ReaderView(status.reader_present, status.card_present, tries, jpki, jpki_tries)

    def _from_earlier(self, visit: Visit, status: ReaderStatus) -> bool:
        """Whether the card on the reader (``status``) was there when the visit began. Once
        the reader is seen empty, or the count moved on, no earlier card is left to refuse."""
        if visit.card_before is None:
            return False
        if status.reader_present and not status.card_present:
            visit.card_before = None  # taken off: whatever card comes next is new
            return False
        if not status.card_present:
            return False
        if visit.card_before == UNCOUNTED_CARD or status.card_events is None:
            return True
        if status.card_events != visit.card_before:
            visit.card_before = None
            return False
        return True

    def _refuse_card_from_earlier(self, visit: Visit) -> None:
        """The "one card, one visit" rule, before anything is sent to a card."""
        if self._from_earlier(visit, self.reader.status()):
            raise CardFromEarlier()

    def pin_tries(self, visit: Visit) -> int:
        """Before the PIN pad: the tries left, when a PIN may be sent at all.

        Raises NotYet("procedures"), CardFromEarlier (a card placed before the visit
        began), PinWouldLock / PinLocked (the safety rule), any CardError of the reader (no
        card, removed, not a My Number card, ...).
        """
        self._require_procedures(visit)
        self._refuse_card_from_earlier(visit)
        tries = self.reader.pin_tries_left()
        visit.card_seen = True
        refuse_unsafe_tries(tries)
        return tries

    def wants_jpki(self, visit: Visit) -> bool:
        """Whether the chosen procedures (or the ward) want the JPKI check, and so the
        resident's JPKI user-authentication PIN. Raises NotYet("procedures")."""
        return self.policy.wants_jpki(self._require_procedures(visit))

    def jpki_pin_tries(self, visit: Visit) -> int | None:
        """Before the JPKI PIN is asked for: its tries left, when a PIN may be sent at all;
        None when no chosen procedure wants the JPKI check (then no JPKI PIN is asked).

        Raises NotYet("procedures"), JpkiPinWouldLock / JpkiPinLocked (the safety rule),
        any CardError of the reader.
        """
        if not self.wants_jpki(visit):
            return None
        tries = self.reader.jpki_pin_tries_left()
        refuse_unsafe_tries(tries, jpki=True)
        return tries

    def decline_jpki(self, visit: Visit) -> None:
        """The resident does not give the JPKI PIN (does not know it, or does not want the
        check): an audit row without personal data; the kiosk sends them to the counter."""
        procedures = [s.code for s in self._require_procedures(visit) if s.jpki_check]
        with transaction(self.sessions) as s:
            audit.record(s, self.actor, "kiosk.jpki_declined", detail={"procedures": procedures})

    def read_card(
        self,
        visit: Visit,
        pin: str,
        *,
        jpki_pin: str | None = None,
        language: str | None = None,
    ) -> Case:
        """Read the card with ``pin`` (used in this call only, never kept) and open the draft
        case with the chosen procedures and fields, prefilled from the card, in ``language``
        (the screen's now; default the visit's). ``jpki_pin``: the JPKI user-authentication
        PIN, given exactly when a chosen procedure wants the JPKI check (:meth:`wants_jpki`);
        only ever sent to the JPKI application. The card must pass the ward's policy
        (:mod:`application.card_policy`). Returns the case (loaded, usable after the
        transaction) for the resident to check.

        Raises NotYet("procedures"), CaseNotEditable (a case is open already),
        CardFromEarlier (a card placed before the visit began: nothing is sent to it),
        JpkiPinRequired / JpkiPinNotWanted (nothing sent), WrongPin / JpkiWrongPin (tries
        left > 1), PinWouldLock / PinLocked / JpkiPinWouldLock / JpkiPinLocked (the safety
        rule: also when a wrong PIN left one try or none), any other CardError,
        CardNotGenuine (a required check failed: audited, no case), MissingIndividualNumber.
        """
        specs = self._require_procedures(visit)
        if visit.case_id is not None:
            raise CaseNotEditable("the card was read already")
        jpki = self.policy.wants_jpki(specs)
        if jpki and not jpki_pin:
            raise JpkiPinRequired("the chosen procedures want the JPKI check")
        if not jpki and jpki_pin:
            raise JpkiPinNotWanted("no chosen procedure wants the JPKI check")
        self._refuse_card_from_earlier(visit)
        with_number = any(spec.needs_individual_number for spec in specs)
        try:
            with self.reader_activity.running():
                # The reader asks the card for each PIN's tries before its VERIFY and refuses
                # at one try left: no second round trip for the rule here.
                info = self.reader.read(
                    pin,
                    with_number=with_number,
                    checks=self.policy.checks_wanted(jpki=jpki),
                    jpki_pin=jpki_pin if jpki else None,
                )
        except WrongPin as e:
            refuse_unsafe_tries(e.tries_left)
            raise
        except JpkiWrongPin as e:
            refuse_unsafe_tries(e.tries_left, jpki=True)
            raise
        enforce_card_policy(
            self.policy, self.sessions, info, visit.procedures, actor=self.actor, jpki=jpki
        )
        with transaction(self.sessions) as s:
            case = open_case(
                s,
                info,
                visit.procedures,
                catalog=self.catalog,
                actor=self.actor,
                language=language or visit.language,
            )
            for code, values in visit.fields.items():
                set_resident_fields(s, case, code, values, catalog=self.catalog, actor=self.actor)
        crash_point("after_case_opened")
        visit.case_id = case.id
        return case

    def _require_procedures(self, visit: Visit) -> list[Any]:
        if not visit.procedures:
            raise NotYet("procedures")
        return [self.catalog.procedure(code) for code in visit.procedures]

    # --- the case -----------------------------------------------------------------------------

    def case(self, visit: Visit) -> Case:
        """The visit's case, loaded and detached (for the check screen). NotYet("case")."""
        if visit.case_id is None:
            raise NotYet("case")
        with self.sessions() as s:
            case = get_case(s, visit.case_id)
            _ = [line.resident_fields for line in case.procedures], case.ticket
        return case

    def confirm(self, visit: Visit) -> Confirmation:
        """The resident checked the prefilled form: confirm the case; a fee-free case gets
        its ticket at once. Raises NotYet("case"), InvalidTransition."""
        if visit.case_id is None:
            raise NotYet("case")
        with transaction(self.sessions) as s:
            case = get_case(s, visit.case_id)
            confirm_case(s, case, catalog=self.catalog, actor=self.actor)
            issued = issue_ticket(s, case, actor=self.actor).token if case.fee_yen == 0 else None
            fee = case.fee_yen
        crash_point("after_ticket_issued" if issued else "after_case_confirmed")
        if issued is not None:
            self._ticket_issued(visit, issued)
        return Confirmation(fee, visit.ticket_token)

    # --- payment ------------------------------------------------------------------------------

    def start_payment(self, visit: Visit) -> Payment:
        """Put the fee on the terminal (or open the QR checkout). Raises NotYet("case"),
        InvalidTransition, PaymentError."""
        if visit.case_id is None:
            raise NotYet("case")
        payment = start_case_payment(
            self.sessions, self.payments, visit.case_id, actor=self.actor, kiosk_id=self.kiosk_id
        )
        visit.payment_id = payment.public_id
        return payment

    def pay_at_counter(self, visit: Visit) -> Confirmation:
        """The resident pays in cash at the counter: a payment still open on the terminal is
        cancelled first, then the ticket is issued at once with the fee due on the case
        (``kiosk.counter_cases.leave_fee_to_counter``); the counter cannot complete it
        before the fee is paid. If the terminal took the money meanwhile, that payment
        stands and its ticket is the visit's. Raises NotYet("case"), InvalidTransition
        (not confirmed, fee-free, or already paid), PaymentError (the terminal could not
        be reached to cancel: nothing changed)."""
        if visit.case_id is None:
            raise NotYet("case")
        if visit.payment_id and not visit.ticket_token:
            with transaction(self.sessions) as s:
                cancel_payment(s, self.payments, visit.payment_id, actor=self.actor, reason="cash")
        with transaction(self.sessions) as s:
            case = get_case(s, visit.case_id)
            if case.ticket is None:
                leave_fee_to_counter(s, case, actor=self.actor)
            ticket = case.ticket or issue_ticket(s, case, actor=self.actor)
            visit.ticket_token = ticket.token
            due = case.due_yen
        return Confirmation(due, visit.ticket_token)

    def payment(self, visit: Visit) -> PaymentView:
        """The visit's payment, re-read at the provider while it is open; once it succeeded,
        the ticket it issued. ``status`` is "none" before a payment was started."""
        if visit.payment_id is None:
            return PaymentView("none", None, visit.ticket_token)
        issued = None
        with transaction(self.sessions) as s:
            refresh_payment(s, self.payments, visit.payment_id)
            if visit.ticket_token is None and visit.case_id is not None:
                ticket = get_case(s, visit.case_id).ticket
                if ticket is not None:
                    issued = ticket.token
            payment = get_payment(s, visit.payment_id)
        if issued is not None:
            self._ticket_issued(visit, issued)
        return PaymentView(payment.status.value, payment, visit.ticket_token)

    def _ticket_issued(self, visit: Visit, token: str) -> None:
        """The visit's ticket exists (committed): keep it, and print it (with the receipt
        when a fee was paid) on the kiosk's printer, in the background."""
        if visit.ticket_token == token:
            return
        visit.ticket_token = token
        if self.printing is not None:
            self.printing.ticket_issued(token)

    def fee_and_status(self, visit: Visit) -> tuple[int, CaseStatus]:
        """The case's fee and status (the pay screen). NotYet("case")."""
        if visit.case_id is None:
            raise NotYet("case")
        with self.sessions() as s:
            case = get_case(s, visit.case_id)
            return case.fee_yen, case.status

    # --- ticket and receipt ---------------------------------------------------------------------

    def print_state(self, visit: Visit) -> PrintState | None:
        """How the printing of the visit's ticket goes (None: the kiosk has no printer).
        Raises NotYet("ticket")."""
        if not visit.ticket_token:
            raise NotYet("ticket")
        return self.printing.state(visit.ticket_token) if self.printing is not None else None

    def print_again(self, visit: Visit) -> PrintState | None:
        """The resident asks for the ticket on paper again (after a printer problem, or a
        lost slip): printed at most ``application.printing.MAX_PRINTS`` times. None: the
        kiosk has no printer. Raises NotYet("ticket")."""
        if not visit.ticket_token:
            raise NotYet("ticket")
        if self.printing is None:
            return None
        return self.printing.ticket_issued(visit.ticket_token)

    def ticket(self, visit: Visit) -> TicketView:
        """The visit's ticket. Raises NotYet("ticket")."""
        if not visit.ticket_token or visit.case_id is None:
            raise NotYet("ticket")
        with self.sessions() as s:
            status = ticket_status(s, visit.ticket_token)
            case = get_case(s, visit.case_id)
            issued_at = case.ticket.issued_at if case.ticket else None
            queue_code = case.ticket.queue.code if case.ticket else case.procedures[0].queue_code
            has_receipt = taken_payment_of_case(s, case.id) is not None
            due = case.due_yen
        return TicketView(visit.ticket_token, status, queue_code, issued_at, has_receipt, due)

    def receipt_payment(self, visit: Visit) -> str | None:
        """The public id of the payment the visit's receipt is for, or None when nothing was
        paid (a fee-free case, or not paid yet)."""
        if visit.case_id is None:
            return None
        with self.sessions() as s:
            return taken_payment_of_case(s, visit.case_id)


def taken_payment_of_case(session: Session, case_id: int) -> str | None:
    """The public id of the case's newest taken payment (its receipt's), or None."""
    taken = [p for p in payments_of_case(session, case_id) if p.status in TAKEN]
    return taken[-1].public_id if taken else None
