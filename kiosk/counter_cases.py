"""Cases at the counter: opened by staff (with a card read at the counter's reader, or
without a card, the basic four typed from an identity document), the money still due at the
counter (``Case.due_yen``) and fee exemptions.

Money due at the counter. ``due_yen`` > 0 is still to collect, < 0 is to give back; what the
case holds net is ``fee_yen - due_yen``. It changes only here and in ``kiosk.amendments``:

- a resident at the kiosk chooses to pay in cash at the counter: the fee becomes due
  (:func:`leave_fee_to_counter`) and the ticket is issued at once;
- a case opened at the counter is confirmed: the fee becomes due and its ticket goes straight
  to serving at that counter (:func:`serve_at_counter`);
- a payment or a refund of a difference at the counter settles it (:func:`settle_due`,
  called by the payments package when the money moved);
- an amendment or an exemption changes the fee of a confirmed case by a difference, which
  becomes due (to collect or to give back).

A case cannot be completed while anything is due (``kiosk.cases``: ``FeeDue``).

Exemptions (免除): a certificate requested by another public body (公用請求) or exempt by the
ward's fee ordinance (public assistance, pension procedures, ...). They need the legal basis
or the requesting body, and a supervisor (the caller checks the role; the actor is recorded);
the fee of every procedure line becomes 0.

Every function takes a Session, may flush, never commits.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from cardreader.model import CardInfo, Integrity, Sex
from kiosk import audit
from kiosk.cases import CLOSED_STATES, lock_case_state, open_case
from kiosk.catalog import Catalog
from kiosk.clock import aware, business_day
from kiosk.db import write_row
from kiosk.errors import DomainError, InvalidTransition
from kiosk.models import Case, CaseStatus, Counter, Ticket
from kiosk.tickets import issue_ticket

S = CaseStatus

# What staff may check instead of reading a My Number card (本人確認書類), by code; the
# console shows them in its language. One document of this list is enough for the
# procedures of the catalog; a ward that asks for two (e.g. health insurance card plus
# pension book) records the first here and the second in its own files.
IDENTITY_DOCUMENTS = (
    "drivers_license",  # 運転免許証
    "passport",  # 旅券（パスポート）
    "residence_card",  # 在留カード
    "special_permanent_resident",  # 特別永住者証明書
    "disability_certificate",  # 身体障害者手帳等
    "health_insurance",  # 健康保険の資格確認書等（写真なし、他の書類と併せて）
    "other_photo_id",  # その他官公署発行の写真付き証明書
)
# Fee exemptions (手数料の免除): requested by another public body, or by the fee ordinance.
EXEMPTIONS = (
    "official_request",  # 公用請求
    "statutory",  # 条例等による免除（生活保護・年金の手続き等）
)
TEXT_LIMITS = {"family_name": 100, "given_name": 100, "address": 200}
BASIS_MAX_LENGTH = 200
OLDEST_BIRTH_DATE = date(1868, 1, 25)  # the first day of Meiji that the forms can write


class PersonInvalid(DomainError):
    """The basic four typed at the counter are not usable: ``errors`` maps each field
    (``family_name``, ``given_name``, ``address``, ``birth_date``, ``sex``,
    ``identity_document``) to a code: ``required``, ``too_long``, ``invalid_text``,
    ``not_a_date``, ``not_a_choice``."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


class ExemptionInvalid(DomainError):
    """An exemption needs a known kind and its basis (the law or the requesting body)."""


class NothingDue(DomainError):
    """Nothing is due at the counter for this case (or not what was asked)."""


# Control characters, bidirectional overrides and isolates, lone surrogates: never in a
# name or an address that is printed on a form.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def clean_text(value: Any, limit: int, *, required: bool) -> tuple[str, str]:
    """``value`` as one line of printable text (NFC, trimmed) and "" when fine, or the
    error code: ``required``, ``too_long`` or ``invalid_text``."""
    text = unicodedata.normalize("NFC", str(value or "")).strip()
    if _UNSAFE.search(text):
        return text, "invalid_text"
    if not text:
        return text, "required" if required else ""
    if len(text) > limit:
        return text, "too_long"
    return text, ""


@dataclass(frozen=True)
class TypedPerson:
    """The basic four as staff typed them from an identity document (not a card read)."""

    family_name: str
    given_name: str
    address: str
    birth_date: date
    sex: Sex


def check_person(values: Mapping[str, Any], *, today: date) -> TypedPerson:
    """Validate typed basic four (``family_name``, ``given_name`` (may be empty),
    ``address``, ``birth_date`` (a date or ISO text), ``sex`` (a ``Sex`` value)); raises
    PersonInvalid listing every problem."""
    errors: dict[str, str] = {}
    texts: dict[str, str] = {}
    for name, limit in TEXT_LIMITS.items():
        texts[name], code = clean_text(values.get(name), limit, required=name != "given_name")
        if code:
            errors[name] = code
    raw_birth = values.get("birth_date")
    birth: date | None = None
    if isinstance(raw_birth, date):
        birth = raw_birth
    elif raw_birth:
        try:
            birth = date.fromisoformat(str(raw_birth).strip())
        except ValueError:
            birth = None
    if birth is None:
        errors["birth_date"] = "required" if not raw_birth else "not_a_date"
    elif not OLDEST_BIRTH_DATE <= birth <= today:
        errors["birth_date"] = "not_a_date"
    try:
        sex = Sex(str(values.get("sex") or ""))
    except ValueError:
        errors["sex"] = "not_a_choice"
        sex = Sex.UNKNOWN
    if errors:
        raise PersonInvalid(errors)
    assert birth is not None
    return TypedPerson(texts["family_name"], texts["given_name"], texts["address"], birth, sex)


def open_counter_case(
    session: Session,
    procedures: Sequence[str],
    *,
    catalog: Catalog,
    actor: str,
    language: str = "ja",
    card: CardInfo | None = None,
    person: TypedPerson | None = None,
    identity_document: str | None = None,
    now: datetime | None = None,
) -> Case:
    """A draft case opened by staff (``actor``: ``staff:<id>``) at the counter, for any
    procedures of the catalog (counter-only ones included): from a ``card`` read at the
    counter's reader, or from a typed ``person`` and the ``identity_document`` checked
    (one of :data:`IDENTITY_DOCUMENTS`, recorded on the case and in its audit row).

    Raises PersonInvalid (no such document), ValueError (neither or both ways), and what
    ``kiosk.cases.open_case`` raises (UnknownProcedure, CardNotUsable,
    MissingIndividualNumber: a card-less case has no individual number).
    """
    if (card is None) == (person is None):
        raise ValueError("a counter case is opened from a card read or from a typed person")
    if person is not None:
        if identity_document not in IDENTITY_DOCUMENTS:
            raise PersonInvalid({"identity_document": "not_a_choice"})
        # The typed basic four in the shape of a read; no integrity to check (not a read).
        card = CardInfo(
            family_name=person.family_name,
            given_name=person.given_name,
            address=person.address,
            birth_date=person.birth_date,
            sex=person.sex,
            integrity=Integrity.VERIFIED,
        )
    else:
        identity_document = None
    assert card is not None
    return open_case(
        session,
        card,
        procedures,
        catalog=catalog,
        actor=actor,
        language=language,
        channel="counter",
        identity_document=identity_document,
        now=now,
    )


def _set_due(
    session: Session,
    case: Case,
    due_yen: int,
    *,
    actor: str,
    now: datetime,
    action: str,
    detail: dict[str, Any] | None = None,
) -> None:
    before = case.due_yen
    write_row(session, case, {"due_yen": due_yen, "updated_at": now})
    audit.record(
        session,
        actor,
        action,
        case_id=case.id,
        detail={"due_before_yen": before, "due_yen": due_yen, **(detail or {})},
        now=now,
    )


def leave_fee_to_counter(
    session: Session, case: Case, *, actor: str, now: datetime | None = None
) -> Case:
    """The resident pays the fee in cash at the counter: the confirmed (or awaiting
    payment, after a terminal attempt) case gets its whole fee due; the caller then issues
    its ticket. Idempotent when the fee is already due. Raises InvalidTransition for a
    fee-free or paid case, or one in another state. The caller makes sure no payment is
    open at the provider."""
    now = aware(now)
    case = lock_case_state(session, case.id)
    if case.status not in (S.CONFIRMED, S.AWAITING_PAYMENT) or case.fee_yen == 0:
        raise InvalidTransition(
            "case", case.id, case.status.value, "fee_due", "only a confirmed case with a fee"
        )
    if case.due_yen == case.fee_yen:
        return case
    _set_due(session, case, case.fee_yen, actor=actor, now=now, action="case.fee_due")
    return case


def serve_at_counter(
    session: Session, case: Case, counter: Counter, *, actor: str, now: datetime | None = None
) -> Ticket:
    """A confirmed case opened at the counter: its fee becomes due there and its ticket is
    issued straight into serving at ``counter`` (the resident is there; the board does not
    call it). Idempotent: a case with a ticket gets it back."""
    now = aware(now)
    case = lock_case_state(session, case.id)
    if case.status is S.CONFIRMED and case.fee_yen > 0 and case.due_yen != case.fee_yen:
        _set_due(session, case, case.fee_yen, actor=actor, now=now, action="case.fee_due")
    return issue_ticket(session, case, actor=actor, now=now, at_counter=counter)


def settle_due(
    session: Session,
    case_id: int,
    *,
    paid_yen: int = 0,
    refunded_yen: int = 0,
    actor: str,
    now: datetime | None = None,
    payment: str | None = None,
) -> Case:
    """Money moved at the counter for this case: ``paid_yen`` taken (the due falls by it)
    or ``refunded_yen`` given back (a due below 0 rises by it). Called by the payments
    package in the transaction that records the payment or the refund (``payment``: its
    public id, for the audit row). Returns the case with its new ``due_yen``."""
    now = aware(now)
    case = lock_case_state(session, case_id)
    due = case.due_yen - paid_yen + refunded_yen
    detail: dict[str, Any] = {"paid_yen": paid_yen, "refunded_yen": refunded_yen}
    if payment:
        detail["payment"] = payment
    _set_due(session, case, due, actor=actor, now=now, action="case.due_settled", detail=detail)
    return case


def change_fee(
    session: Session,
    case: Case,
    fee_yen: int,
    *,
    actor: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> int:
    """Set a (locked) case's fee to ``fee_yen``; once the case is past its draft the
    difference becomes due at the counter (to collect or to give back). Returns the
    difference (new fee - old fee)."""
    difference = fee_yen - case.fee_yen
    values: dict[str, Any] = {"fee_yen": fee_yen, "updated_at": now}
    if case.status is not S.DRAFT:
        values["due_yen"] = case.due_yen + difference
    before_due = case.due_yen
    write_row(session, case, values)
    if difference:
        audit.record(
            session,
            actor,
            "case.fee_changed",
            case_id=case.id,
            detail={
                "fee_before_yen": fee_yen - difference,
                "fee_yen": fee_yen,
                "due_before_yen": before_due,
                "due_yen": case.due_yen,
                **(detail or {}),
            },
            now=now,
        )
    return difference


def grant_exemption(
    session: Session,
    case: Case,
    *,
    kind: str,
    basis: str,
    actor: str,
    now: datetime | None = None,
) -> Case:
    """Exempt the case from its fees (``kind``: one of :data:`EXEMPTIONS`; ``basis``: the
    legal basis or the requesting body, kept encrypted) on a supervisor's authority
    (``actor``; the caller checks the role). Every line's fee becomes 0; once the case is
    confirmed, what was paid becomes due back. Raises ExemptionInvalid, InvalidTransition
    (a closed case, or one already exempt)."""
    now = aware(now)
    if kind not in EXEMPTIONS:
        raise ExemptionInvalid(f"unknown exemption {kind!r}")
    text, problem = clean_text(basis, BASIS_MAX_LENGTH, required=True)
    if problem:
        raise ExemptionInvalid(f"the basis of the exemption: {problem}")
    locked = lock_case_state(session, case.id)
    if locked.status in CLOSED_STATES or locked.status is S.AWAITING_PAYMENT:
        raise InvalidTransition("case", case.id, locked.status.value, "exempted")
    if case.exemption:
        raise InvalidTransition("case", case.id, locked.status.value, "exempted", "already")
    write_row(
        session,
        case,
        {"exemption": kind, "exemption_basis": text, "exempted_by": audit.check_actor(actor)},
    )
    for line in case.procedures:
        if line.fee_yen:
            write_row(session, line, {"fee_yen": 0})
    change_fee(session, case, 0, actor=actor, now=now, detail={"exemption": kind})
    audit.record(
        session,
        actor,
        "case.exempted",
        case_id=case.id,
        detail={"exemption": kind, "business_day": business_day(now).isoformat()},
        now=now,
    )
    return case
