"""Cases: a card read plus the chosen procedures, their fields, fee and state.

State machine (``CASE_TRANSITIONS``)::

    draft -> confirmed -> awaiting_payment -> paid -> queued -> called -> serving -> done
    confirmed -> queued                  (fee-free: no payment)
    confirmed | awaiting_payment -> queued (the fee is paid at the counter: ``due_yen``)
    confirmed -> serving                 (opened at the counter: served there at once)
    called -> no_show -> queued | called (a no-show can come back)
    called | serving -> queued           (transfer to another queue or counter)
    draft | confirmed | awaiting_payment -> cancelled
    queued | no_show | serving -> cancelled             (only when nothing was paid)
    paid | queued | serving | no_show -> refunded       (only when a fee was charged)
    serving -> done                      (only when nothing is due: ``FeeDue`` otherwise)

``due_yen`` is the money still to settle at the counter (``kiosk.counter_cases``): a fee
left to pay there, or a difference an amendment or an exemption left to collect (> 0) or to
give back (< 0). What the case holds net is ``fee_yen - due_yen``.

Every function here takes a Session, may flush, never commits; the caller's one commit
makes the transition and its audit row atomic. Card fields are copied from ``CardInfo``
once and never edited; the individual number is kept only when a procedure needs it.

This module knows nothing of tickets. Transitions that move a case's ticket too (issuing,
calling, cancelling and refunding a queued case) live in ``kiosk.tickets``, which defines
the lock order between the two rows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.session import make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from cardreader.model import CardInfo, Integrity
from kiosk import audit
from kiosk.catalog import LANGUAGES, Catalog
from kiosk.clock import aware, business_day
from kiosk.db import inserted_id, table_of, write_row
from kiosk.eras import EraOutOfRange, format_japanese
from kiosk.errors import (
    CardNotUsable,
    CaseNotEditable,
    FeeDue,
    InvalidTransition,
    MissingIndividualNumber,
    NotFound,
    UnknownProcedure,
)
from kiosk.models import Case, CaseProcedure, CaseStatus, Priority
from kiosk.privacy import PersonalDict, mask_address, mask_birth_date, mask_name

log = logging.getLogger(__name__)

S = CaseStatus
# ``Case.card_integrity`` of a case opened at the counter without a card read.
NOT_READ = "not_read"
CASE_TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    S.DRAFT: frozenset({S.CONFIRMED, S.CANCELLED}),
    S.CONFIRMED: frozenset({S.DRAFT, S.AWAITING_PAYMENT, S.QUEUED, S.SERVING, S.CANCELLED}),
    S.AWAITING_PAYMENT: frozenset({S.PAID, S.QUEUED, S.CANCELLED}),
    S.PAID: frozenset({S.QUEUED, S.REFUNDED}),
    S.QUEUED: frozenset({S.CALLED, S.CANCELLED, S.REFUNDED}),
    S.CALLED: frozenset({S.SERVING, S.NO_SHOW, S.QUEUED}),
    S.SERVING: frozenset({S.DONE, S.QUEUED, S.REFUNDED, S.CANCELLED}),
    S.NO_SHOW: frozenset({S.QUEUED, S.CALLED, S.CANCELLED, S.REFUNDED}),
    S.DONE: frozenset(),
    S.CANCELLED: frozenset(),
    S.REFUNDED: frozenset(),
}
# States where the case's business is over; personal data may be purged after retention.
CLOSED_STATES = frozenset({S.DONE, S.CANCELLED, S.NO_SHOW, S.REFUNDED})
_PAID_LATER = frozenset({S.PAID, S.QUEUED, S.CALLED, S.SERVING, S.DONE, S.NO_SHOW})


def refusal(case: Case, target: CaseStatus) -> str:
    """Why the state machine refuses to move ``case`` to ``target`` ("" when it allows it):
    the transition table first, then the fee rules."""
    if target not in CASE_TRANSITIONS[case.status]:
        return "not in the state machine"
    return _guard(case, target)


def held_yen(case: Case) -> int:
    """What the case holds net: its fee less what is still due at the counter."""
    return case.fee_yen - case.due_yen


def _guard(case: Case, target: CaseStatus) -> str:
    """Why a transition allowed by the table is still refused for this case ("" = fine)."""
    if case.status is S.CONFIRMED and target is S.AWAITING_PAYMENT and case.fee_yen == 0:
        return "fee-free cases skip payment"
    unpaid = case.fee_yen > 0 and case.due_yen != case.fee_yen  # neither paid nor left due
    if case.status in (S.CONFIRMED, S.AWAITING_PAYMENT) and target is S.QUEUED:
        if case.status is S.AWAITING_PAYMENT and case.due_yen <= 0:
            return "the fee is being paid at the kiosk"
        if unpaid:
            return "the fee has not been paid"
    if case.status is S.CONFIRMED and target is S.SERVING:
        if case.channel != "counter":
            return "only a case opened at the counter is served at once"
        if unpaid:
            return "the fee is neither paid nor due at the counter"
    if target is S.DONE and case.due_yen > 0:
        return "a fee is due"
    if target is S.DONE and case.due_yen < 0:
        return "money is due back to the resident"
    if target is S.REFUNDED and held_yen(case) <= 0:
        return "nothing was paid"
    if (
        target is S.CANCELLED
        and case.status in (S.QUEUED, S.NO_SHOW, S.SERVING)
        and held_yen(case) > 0
    ):
        return "a paid case is refunded, not cancelled"
    return ""


def transition_case(
    session: Session,
    case: Case,
    target: CaseStatus,
    *,
    actor: str,
    now: datetime | None = None,
    detail: dict[str, Any] | None = None,
    ticket_id: int | None = None,
    write_now: bool = False,
    also: dict[str, Any] | None = None,
) -> Case:
    """The case state machine: the only place that decides a transition and assigns
    ``Case.status``. Moves ``case`` to ``target`` and writes the audit row; raises
    InvalidTransition if the table or a fee rule forbids it. The new state is assigned on
    the object and reaches the database with the session's next flush; with ``write_now``
    it is written at once (one Core UPDATE, with ``also``: other case columns) and the
    object is left clean, so a commit has nothing to flush for it (hot paths: a
    unit-of-work pass costs more CPU than the statement)."""
    now = aware(now)
    reason = refusal(case, target)
    if reason:
        if target is S.DONE and case.due_yen and target in CASE_TRANSITIONS[case.status]:
            raise FeeDue(case.id, case.status.value, case.due_yen)
        raise InvalidTransition("case", case.id, case.status.value, target.value, reason)
    previous = case.status
    values = {
        **(also or {}),
        "status": target,
        "updated_at": now,
        "closed_at": now if target in CLOSED_STATES else None,
    }
    if write_now:
        write_row(session, case, values)
    else:
        for key, value in values.items():
            setattr(case, key, value)
    audit.record(
        session,
        actor,
        f"case.{target.value}",
        case_id=case.id,
        ticket_id=ticket_id,
        detail={"from": previous.value, "to": target.value, **(detail or {})},
        now=now,
    )
    log.info("case %s: %s -> %s by %s", case.id, previous.value, target.value, actor)
    return case


# Hot-path statements are built once, with bound parameters (as in kiosk.tickets): building
# and cache-keying an expression per call cost more CPU than running it on SQLite.
_LOCK_CASE = (
    select(Case)
    .where(Case.id == bindparam("case_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_CASES = table_of(Case)
_LINES = table_of(CaseProcedure)
# The columns a case transition reads or writes; never the personal (encrypted) ones.
STATE_COLUMNS = ("status", "fee_yen", "due_yen", "channel", "priority", "updated_at", "closed_at")
_LOCK_CASE_STATE = (
    select(*(_CASES.c[name] for name in STATE_COLUMNS))
    .where(_CASES.c.id == bindparam("case_id"))
    .with_for_update()
)
_INSERT_CASE = insert(_CASES)
_INSERT_LINES = insert(_LINES).returning(_LINES.c.id, sort_by_parameter_order=True)


def lock_case(session: Session, case_id: int) -> Case:
    """Load the case with a row lock (PostgreSQL ``FOR UPDATE``; SQLite's write
    transaction already excludes other writers) and fresh state; NotFound if absent."""
    case = session.scalars(_LOCK_CASE, {"case_id": case_id}).one_or_none()
    if case is None:
        raise NotFound(f"case {case_id}")
    return case


def lock_case_state(session: Session, case_id: int) -> Case:
    """Like :func:`lock_case`, but reading only the state columns (one Core statement):
    the personal columns are neither fetched nor decrypted. Returns the session's object
    for the case with its state refreshed; one not loaded yet joins the session with
    only its state loaded (the rest loads on first access, as with ``load_only``). What
    every transition on a hot path locks the case with (payments, tickets)."""
    session.flush()  # what a query would autoflush: a pending change must not be lost
    row = session.connection().execute(_LOCK_CASE_STATE, {"case_id": case_id}).one_or_none()
    if row is None:
        raise NotFound(f"case {case_id}")
    state = dict(row._mapping)
    case = session.identity_map.get(identity_key(Case, case_id))
    if case is None:
        case = Case(id=case_id, **state)
        make_transient_to_detached(case)
        session.add(case)
    else:
        for key, value in state.items():
            set_committed_value(case, key, value)
    return case


def _transition(
    session: Session,
    case: Case,
    target: CaseStatus,
    *,
    actor: str,
    now: datetime | None = None,
    detail: dict[str, Any] | None = None,
    also: dict[str, Any] | None = None,
) -> Case:
    # Written at once, not flushed at commit: the object stays clean (no unit-of-work pass).
    return transition_case(
        session, case, target, actor=actor, now=now, detail=detail, write_now=True, also=also
    )


def get_case(session: Session, case_id: int) -> Case:
    """The case (no lock); NotFound if absent."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"case {case_id}")
    return case


# --- opening and filling in -----------------------------------------------------------------


def open_case(
    session: Session,
    card: CardInfo,
    procedures: Sequence[str],
    *,
    catalog: Catalog,
    actor: str,
    language: str = "ja",
    priority: Priority = Priority.NORMAL,
    channel: str = "kiosk",
    identity_document: str | None = None,
    now: datetime | None = None,
) -> Case:
    """A draft case from one card read and one or more procedure codes (in the order the
    resident chose them; the first decides the queue).

    At the counter without a card, ``card`` holds the basic four that staff typed and
    ``identity_document`` names the document they checked (``kiosk.counter_cases`` checks
    both before calling this); the card's integrity is then not asked for.

    Raises UnknownProcedure, CardNotUsable (integrity not verified) or
    MissingIndividualNumber (a procedure needs it, the read lacks it). The individual
    number is dropped unless a chosen procedure needs it.
    """
    now = aware(now)
    if language not in LANGUAGES:
        raise ValueError(f"language {language!r}: expected one of {', '.join(LANGUAGES)}")
    if not procedures or len(set(procedures)) != len(procedures):
        raise UnknownProcedure("choose at least one procedure, each once")
    try:
        specs = [catalog.procedure(code) for code in procedures]
    except KeyError as e:
        raise UnknownProcedure(str(e)) from e
    if identity_document is None and card.integrity is not Integrity.VERIFIED:
        raise CardNotUsable(f"card data integrity: {card.integrity.value}")
    needs_number = any(spec.needs_individual_number for spec in specs)
    if needs_number and not card.individual_number:
        raise MissingIndividualNumber(
            f"{', '.join(s.code for s in specs if s.needs_individual_number)} "
            "needs the individual number"
        )
    values: dict[str, Any] = {
        "status": S.DRAFT,
        "language": language,
        "channel": channel,
        "priority": int(priority),
        "opened_by": audit.check_actor(actor),
        "business_day": business_day(now),
        "created_at": now,
        "updated_at": now,
        "closed_at": None,
        "card_integrity": NOT_READ if identity_document else card.integrity.value,
        "card_chip_authenticated": (
            card.checks.chip_authenticated if card.checks.chip_checked else None
        ),
        "card_chain": card.checks.card_chain.value,
        "card_jpki_chain": card.checks.jpki_chain.value,
        "card_genuine": card.checks.genuine.value,
        "family_name": card.family_name,
        "given_name": card.given_name,
        "address": card.address,
        "birth_date": card.birth_date,
        "sex": card.sex.value,
        "individual_number": card.individual_number if needs_number else None,
        "purged_at": None,
        "due_yen": 0,
        "identity_document": identity_document,
        "exemption": None,
        "exemption_basis": None,
        "exempted_by": None,
    }
    line_values: list[dict[str, Any]] = []
    for position, spec in enumerate(specs):
        defaults = PersonalDict({f.name: f.default for f in spec.fields if f.default is not None})
        line_values.append(
            {
                "position": position,
                "procedure_code": spec.code,
                "queue_code": spec.queue,
                "unit_fee_yen": spec.unit_fee(channel),
                "units": spec.units(defaults),
                "fee_yen": spec.fee(defaults, channel),
                "resident_fields": defaults,
            }
        )
    values["fee_yen"] = sum(line["fee_yen"] for line in line_values)
    # Core inserts (bound through the column types: personal columns are encrypted), then
    # the objects join the session as if loaded, relationships included: no unit-of-work
    # flush, and no lazy load when the caller reads case.procedures or case.ticket.
    connection = session.connection()
    case_id = inserted_id(connection.execute(_INSERT_CASE, values))
    for line in line_values:
        line["case_id"] = case_id
    line_ids = connection.execute(_INSERT_LINES, line_values).scalars().all()
    case = Case(id=case_id, **values)
    make_transient_to_detached(case)
    lines = []
    for line_id, line in zip(line_ids, line_values, strict=True):
        procedure = CaseProcedure(id=line_id, **line)
        make_transient_to_detached(procedure)
        set_committed_value(procedure, "case", case)
        lines.append(procedure)
    set_committed_value(case, "procedures", lines)
    set_committed_value(case, "ticket", None)
    session.add(case)
    session.add_all(lines)
    detail: dict[str, Any] = {
        "procedures": list(procedures),
        "individual_number_kept": needs_number,
    }
    if channel != "kiosk":
        detail["channel"] = channel
    if identity_document:
        detail["identity_document"] = identity_document
    audit.record(session, actor, "case.opened", case_id=case.id, detail=detail, now=now)
    log.info("case %s opened by %s: %s", case.id, actor, ",".join(procedures))
    return case


def line_fee(case: Case, line: CaseProcedure, units: int) -> int:
    """A procedure line's fee: its unit fee times ``units``, or nothing under an exemption."""
    return 0 if case.exemption else line.unit_fee_yen * units


def _line(case: Case, procedure_code: str) -> CaseProcedure:
    for line in case.procedures:
        if line.procedure_code == procedure_code:
            return line
    raise UnknownProcedure(f"case {case.id} has no procedure {procedure_code!r}")


def set_resident_fields(
    session: Session,
    case: Case,
    procedure_code: str,
    values: Mapping[str, Any],
    *,
    catalog: Catalog,
    actor: str,
    now: datetime | None = None,
) -> CaseProcedure:
    """Merge ``values`` into the fields the resident gives for one procedure, validate all
    of them and recompute the fee.

    Raises CaseNotEditable unless the case is a draft, and ValidationFailed (messages in
    the case's language) for bad values, unknown names or card fields (read-only).
    Nothing is stored when validation fails.
    """
    if case.status is not S.DRAFT:
        raise CaseNotEditable(f"case {case.id} is {case.status.value}, not draft")
    line = _line(case, procedure_code)
    spec = catalog.procedure(procedure_code)
    # Card fields are rejected by validate_fields; they must not be merged away silently.
    merged = {**(line.resident_fields or {}), **values}
    normalised = spec.validate_fields(merged, case.language, today=business_day(now))
    units = spec.units(normalised)
    write_row(
        session,
        line,
        {"resident_fields": normalised, "units": units, "fee_yen": line_fee(case, line, units)},
    )
    fee = sum(p.fee_yen for p in case.procedures)
    write_row(session, case, {"fee_yen": fee, "updated_at": aware(now)})
    audit.record(
        session,
        actor,
        "case.fields_set",
        case_id=case.id,
        detail={"procedure": procedure_code, "fields": sorted(values)},
        now=now,
    )
    return line


def confirm_case(
    session: Session,
    case: Case,
    *,
    catalog: Catalog,
    actor: str,
    now: datetime | None = None,
) -> Case:
    """The resident checked the prefilled form: validate every procedure's fields again
    (required ones must be there), fix the fee and move draft -> confirmed."""
    if case.status is not S.DRAFT:
        raise InvalidTransition("case", case.id, case.status.value, S.CONFIRMED.value)
    today = business_day(now)
    checked = []  # every line validated before any is written
    for line in case.procedures:
        spec = catalog.procedure(line.procedure_code)
        normalised = spec.validate_fields(line.resident_fields or {}, case.language, today=today)
        units = spec.units(normalised)
        checked.append((line, normalised, units, line_fee(case, line, units)))
    for line, normalised, units, fee_yen in checked:
        # Usually what set_resident_fields stored: then nothing is written (or re-encrypted).
        if (normalised, units, fee_yen) != (line.resident_fields, line.units, line.fee_yen):
            write_row(
                session, line, {"resident_fields": normalised, "units": units, "fee_yen": fee_yen}
            )
    fee = sum(fee_yen for *_, fee_yen in checked)
    return _transition(
        session,
        case,
        S.CONFIRMED,
        actor=actor,
        now=now,
        detail={"fee_yen": fee},
        also={"fee_yen": fee},
    )


def reopen_case(session: Session, case: Case, *, actor: str, now: datetime | None = None) -> Case:
    """The resident pressed "back" on the confirmation screen: confirmed -> draft."""
    return _transition(session, lock_case(session, case.id), S.DRAFT, actor=actor, now=now)


# --- payment-facing transitions ----------------------------------------------------------------


def mark_awaiting_payment(
    session: Session, case: Case, *, actor: str, now: datetime | None = None
) -> Case:
    """confirmed -> awaiting_payment, called by the payment service before it asks the
    provider; InvalidTransition for fee-free cases (they skip payment)."""
    case = lock_case_state(session, case.id)
    if case.status is S.AWAITING_PAYMENT:
        return case  # a retried payment start is not a second transition
    return _transition(session, case, S.AWAITING_PAYMENT, actor=actor, now=now)


def mark_paid(
    session: Session,
    case: Case,
    *,
    actor: str,
    now: datetime | None = None,
    payment_ref: str | None = None,
) -> Case:
    """awaiting_payment -> paid. Idempotent: a replayed webhook for a case that is already
    paid (or further along) returns it unchanged. Refunded/cancelled cases raise
    InvalidTransition. ``payment_ref`` (the provider's id) goes into the audit row."""
    case = lock_case_state(session, case.id)
    if case.status in _PAID_LATER:
        return case
    detail = {"payment_ref": payment_ref} if payment_ref else None
    return _transition(session, case, S.PAID, actor=actor, now=now, detail=detail)


# --- showing cases ----------------------------------------------------------------------------


def birth_date_japanese(d: date | None) -> str:
    """``昭和55年2月17日`` for a birth date ("" when unknown or before Meiji)."""
    if d is None:
        return ""
    try:
        return format_japanese(d)
    except EraOutOfRange:
        return ""


@dataclass(frozen=True)
class ProcedureLine:
    code: str
    names: Mapping[str, str]
    queue: str
    units: int
    unit_fee_yen: int
    fee_yen: int
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class CardCheckRecord:
    """The checks of the case's card read, as stored (no personal data): ``integrity``
    (*consistent*), ``chip_authenticated`` (*present*; None: not checked, or before these
    checks were recorded), and the results of the card chain, the JPKI chain and overall
    (``cardreader.model.Genuine`` values)."""

    integrity: str
    chip_authenticated: bool | None
    card_chain: str
    jpki_chain: str
    genuine: str

    @classmethod
    def of(cls, case: Case) -> CardCheckRecord:
        return cls(
            case.card_integrity,
            case.card_chip_authenticated,
            case.card_chain,
            case.card_jpki_chain,
            case.card_genuine,
        )


@dataclass(frozen=True)
class CaseDetail:
    """The staff case view: personal data in clear. Only ``view_case`` builds it."""

    id: int
    status: str
    language: str
    name: str | None
    family_name: str | None
    given_name: str | None
    address: str | None
    birth_date: date | None
    birth_date_japanese: str
    sex: str | None
    individual_number: str | None
    fee_yen: int
    priority: int
    procedures: tuple[ProcedureLine, ...]
    ticket: str | None
    card_checks: CardCheckRecord
    channel: str = "kiosk"
    due_yen: int = 0
    # Card-less at the counter: the identity document staff checked.
    identity_document: str | None = None
    exemption: str | None = None
    exemption_basis: str | None = None

    def __repr__(self) -> str:
        return f"CaseDetail(id={self.id}, status={self.status}, <personal data hidden>)"


@dataclass(frozen=True)
class CaseSummary:
    """A case as lists, logs and exports show it: masked."""

    id: int
    status: str
    name: str
    address: str
    birth_date: str
    procedures: tuple[str, ...]
    fee_yen: int
    ticket: str | None


def view_case(
    session: Session,
    case_id: int,
    *,
    actor: str,
    catalog: Catalog,
    now: datetime | None = None,
) -> CaseDetail:
    """Open a case at the counter, personal data in clear, and audit that ``actor`` did."""
    case = get_case(session, case_id)
    audit.record(session, actor, "case.viewed", case_id=case.id, now=now)
    session.flush()
    lines = []
    for line in case.procedures:
        fields = dict(line.resident_fields or {})
        try:
            spec = catalog.procedure(line.procedure_code)
            names = spec.names
            # In the form's order (the catalog's), not the storage's (sorted keys); a field
            # the catalog no longer has comes last.
            order = [f.name for f in spec.fields]
            fields = dict(
                sorted(fields.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)
            )
        except KeyError:
            names = {"ja": line.procedure_code}
        lines.append(
            ProcedureLine(
                line.procedure_code,
                names,
                line.queue_code,
                line.units,
                line.unit_fee_yen,
                line.fee_yen,
                fields,
            )
        )
    return CaseDetail(
        id=case.id,
        status=case.status.value,
        language=case.language,
        name=case.name,
        family_name=case.family_name,
        given_name=case.given_name,
        address=case.address,
        birth_date=case.birth_date,
        birth_date_japanese=birth_date_japanese(case.birth_date),
        sex=case.sex,
        individual_number=case.individual_number,
        fee_yen=case.fee_yen,
        priority=case.priority,
        procedures=tuple(lines),
        ticket=case.ticket.display_number if case.ticket else None,
        card_checks=CardCheckRecord.of(case),
        channel=case.channel,
        due_yen=case.due_yen,
        identity_document=case.identity_document,
        exemption=case.exemption,
        exemption_basis=case.exemption_basis,
    )


def summarise_case(case: Case) -> CaseSummary:
    """The masked form of a case (no audit needed: it reveals nothing personal)."""
    return CaseSummary(
        id=case.id,
        status=case.status.value,
        name=mask_name(case.name),
        address=mask_address(case.address),
        birth_date=mask_birth_date(case.birth_date),
        procedures=tuple(p.procedure_code for p in case.procedures),
        fee_yen=case.fee_yen,
        ticket=case.ticket.display_number if case.ticket else None,
    )


def list_cases(session: Session, day: date) -> list[CaseSummary]:
    """Masked summaries of the cases opened on business day ``day``, oldest first."""
    stmt = select(Case).where(Case.business_day == day).order_by(Case.id)
    return [summarise_case(c) for c in session.scalars(stmt)]
