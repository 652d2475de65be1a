"""Amending a case at the counter: staff correct the basic four or a procedure's fields, add
or remove procedures, change copies or fiscal years. The fee is computed again; once the
case is confirmed the difference becomes due at the counter (to collect, or to give back:
``kiosk.counter_cases``), which the payments package then settles.

The audit trail keeps every amendment: a ``case.amended`` row names what changed (field
names, procedure codes, the fees: nothing personal) and points at its ``CaseAmendment``,
whose ``changes`` (values before and after) are encrypted like the case and purged with it.

Takes a Session, may flush, never commits. The caller makes sure no payment of the case is
open at a provider (an amount on a terminal must not change under it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk import audit
from kiosk.cases import line_fee, lock_case
from kiosk.catalog import Catalog, ValidationFailed
from kiosk.clock import aware, business_day
from kiosk.counter_cases import change_fee, check_person
from kiosk.errors import (
    CaseNotEditable,
    DomainError,
    MissingIndividualNumber,
    UnknownProcedure,
)
from kiosk.models import Case, CaseAmendment, CaseProcedure, CaseStatus
from kiosk.privacy import PersonalDict

S = CaseStatus
# Where a case can still be corrected: before it is paid, and while it is in the queue or at
# the counter. Not while a payment is on a terminal (awaiting_payment), never once closed.
AMENDABLE = frozenset({S.DRAFT, S.CONFIRMED, S.PAID, S.QUEUED, S.CALLED, S.SERVING})
PERSON_FIELDS = ("family_name", "given_name", "address", "birth_date", "sex")


class NothingChanged(DomainError):
    """The amendment would change nothing."""


class LinesInvalid(DomainError):
    """Fields of some procedure lines are not valid: ``failures`` maps each procedure code
    to its :class:`ValidationFailed` (nothing was stored)."""

    def __init__(self, failures: Mapping[str, ValidationFailed]) -> None:
        super().__init__(f"invalid fields in {', '.join(failures)}")
        self.failures = dict(failures)


@dataclass(frozen=True)
class Amendment:
    """What staff change: ``person`` (corrected basic four, only those given), procedures to
    ``add`` and ``remove`` (codes) and ``fields`` per procedure code (merged into the line's
    fields; for an added procedure, its fields)."""

    person: Mapping[str, Any] = field(default_factory=dict)
    add: Sequence[str] = ()
    remove: Sequence[str] = ()
    fields: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "value"):  # an enum (Sex)
        return value.value
    return value


def _person_changes(case: Case, given: Mapping[str, Any], today: date) -> dict[str, list[Any]]:
    unknown = set(given) - set(PERSON_FIELDS)
    if unknown:
        raise ValueError(f"not a person field: {sorted(unknown)}")
    current = {
        "family_name": case.family_name,
        "given_name": case.given_name,
        "address": case.address,
        "birth_date": case.birth_date,
        "sex": case.sex,
    }
    person = check_person({**current, **given}, today=today)  # PersonInvalid
    after = {
        "family_name": person.family_name,
        "given_name": person.given_name,
        "address": person.address,
        "birth_date": person.birth_date,
        "sex": person.sex.value,
    }
    return {
        name: [_jsonable(current[name]), _jsonable(after[name])]
        for name in PERSON_FIELDS
        if _jsonable(current[name]) != _jsonable(after[name])
    }


def amend_case(
    session: Session,
    case_id: int,
    amendment: Amendment,
    *,
    catalog: Catalog,
    actor: str,
    now: datetime | None = None,
) -> CaseAmendment:
    """Apply ``amendment`` to the case (row-locked) and record it. Returns the record.

    Every check comes before any write, so a refused amendment stores nothing. Raises
    CaseNotEditable (closed, or a payment on a terminal), PersonInvalid (bad basic four),
    LinesInvalid (bad procedure fields, every problem at once), UnknownProcedure (an
    unknown code, one added twice or that the case has, one removed it does not have, or
    no procedure left), MissingIndividualNumber (an added procedure needs the individual
    number and the case has none), NothingChanged.
    """
    now = aware(now)
    today = business_day(now)
    case = lock_case(session, case_id)
    if case.status not in AMENDABLE:
        raise CaseNotEditable(f"case {case.id} is {case.status.value}")
    lines = {line.procedure_code: line for line in case.procedures}
    add, remove = list(amendment.add), list(amendment.remove)
    if len(set(add)) != len(add) or any(code in lines for code in add):
        raise UnknownProcedure("a procedure added twice, or one the case already has")
    if len(set(remove)) != len(remove) or any(code not in lines for code in remove):
        raise UnknownProcedure("a procedure removed that the case does not have")
    if len(lines) - len(remove) + len(add) < 1:
        raise UnknownProcedure("a case keeps at least one procedure")
    try:
        added_specs = [catalog.procedure(code) for code in add]
    except KeyError as e:
        raise UnknownProcedure(str(e)) from e
    if any(spec.needs_individual_number for spec in added_specs) and not case.individual_number:
        raise MissingIndividualNumber("an added procedure needs the individual number")
    kept = [code for code in lines if code not in remove]
    stray = [code for code in amendment.fields if code not in kept and code not in add]
    if stray:
        raise UnknownProcedure(f"fields of a procedure the case will not have: {stray}")

    person = _person_changes(case, amendment.person, today) if amendment.person else {}
    # Every line's fields validated (merged with what it has) before anything is written.
    failures: dict[str, ValidationFailed] = {}
    validated: dict[str, dict[str, Any]] = {}
    for code in [*kept, *add]:
        given = amendment.fields.get(code)
        if code in lines and given is None:
            continue
        spec = catalog.procedure(code)
        base = dict(lines[code].resident_fields or {}) if code in lines else {}
        try:
            validated[code] = spec.validate_fields(
                {**base, **(given or {})}, case.language, today=today
            )
        except ValidationFailed as e:
            failures[code] = e
    if failures:
        raise LinesInvalid(failures)

    procedure_changes: dict[str, Any] = {}
    for code, values in validated.items():
        if code in lines:
            before = dict(lines[code].resident_fields or {})
            diff = {
                name: [before.get(name), value]
                for name, value in values.items()
                if before.get(name) != value
            }
            if diff:
                procedure_changes[code] = diff
    if not (person or procedure_changes or add or remove):
        raise NothingChanged(f"case {case.id}: nothing to change")

    fee_before = case.fee_yen
    # --- writes ---------------------------------------------------------------------------
    if person:
        corrected: dict[str, Any] = {name: after for name, (_before, after) in person.items()}
        if "birth_date" in corrected:
            corrected["birth_date"] = date.fromisoformat(corrected["birth_date"])
        for name, value in corrected.items():
            setattr(case, name, value)
    for code in remove:
        procedure_changes[code] = {"removed": dict(lines[code].resident_fields or {})}
        case.procedures.remove(lines[code])  # delete-orphan: the line row goes
    for code, values in validated.items():
        if code not in lines or code in remove:
            continue
        line = lines[code]
        spec = catalog.procedure(code)
        units = spec.units(values)
        line.resident_fields = PersonalDict(values)
        line.units = units
        line.fee_yen = line_fee(case, line, units)
    position = max((line.position for line in lines.values()), default=-1) + 1
    for offset, spec in enumerate(added_specs):
        values = validated[spec.code]
        units = spec.units(values)
        line = CaseProcedure(
            position=position + offset,
            procedure_code=spec.code,
            queue_code=spec.queue,
            unit_fee_yen=spec.unit_fee(case.channel),
            units=units,
            fee_yen=0,
            resident_fields=PersonalDict(values),
        )
        line.fee_yen = line_fee(case, line, units)
        case.procedures.append(line)
        procedure_changes[spec.code] = {"added": values}
    session.flush()
    fee_after = sum(line.fee_yen for line in case.procedures)
    record = CaseAmendment(
        case_id=case.id,
        at=now,
        actor=audit.check_actor(actor),
        fee_before_yen=fee_before,
        fee_after_yen=fee_after,
        summary={
            "fields": sorted(person)
            + sorted(
                f"{code}.{name}"
                for code, diff in procedure_changes.items()
                if "added" not in diff and "removed" not in diff
                for name in diff
            ),
            "added": list(add),
            "removed": list(remove),
        },
        changes={"case": person, "procedures": procedure_changes},
    )
    session.add(record)
    session.flush()
    change_fee(session, case, fee_after, actor=actor, now=now, detail={"amendment": record.id})
    audit.record(
        session,
        actor,
        "case.amended",
        case_id=case.id,
        detail={
            "amendment": record.id,
            **record.summary,
            "fee_before_yen": fee_before,
            "fee_yen": fee_after,
            "due_yen": case.due_yen,
        },
        now=now,
    )
    return record


def amendments_of(session: Session, case_id: int) -> list[CaseAmendment]:
    """The amendments of a case, oldest first (``changes`` in clear: show them only on the
    audited case view)."""
    stmt = select(CaseAmendment).where(CaseAmendment.case_id == case_id).order_by(CaseAmendment.id)
    return list(session.scalars(stmt))
