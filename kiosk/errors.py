"""The domain's exceptions: one root, ``DomainError``, that the UI maps to friendly pages."""

from __future__ import annotations


class DomainError(Exception):
    """Root of every error the domain raises on purpose."""


class InvalidTransition(DomainError):
    """A case or ticket was asked to move to a state it cannot reach from where it is.

    ``entity`` is "case" or "ticket"; ``current`` and ``target`` are status values.
    """

    def __init__(
        self, entity: str, entity_id: int | None, current: str, target: str, reason: str = ""
    ) -> None:
        self.entity, self.entity_id = entity, entity_id
        self.current, self.target, self.reason = current, target, reason
        text = f"{entity} {entity_id}: {current} -> {target} is not allowed"
        super().__init__(f"{text} ({reason})" if reason else text)


class NotFound(DomainError):
    """No case, ticket, queue or counter with that id, code or token."""


class UnknownProcedure(DomainError):
    """A procedure code that the catalog does not have."""


class CardNotUsable(DomainError):
    """The card read cannot become a case (integrity check failed)."""


class MissingIndividualNumber(DomainError):
    """A procedure needs the individual number and the card read did not include it."""


class CaseNotEditable(DomainError):
    """Resident fields can only change while the case is a draft."""


class CounterClosed(DomainError):
    """A closed counter tried to call a ticket."""


class FeeDue(InvalidTransition):
    """A case cannot be completed while money is due at the counter: ``due_yen`` > 0 is a
    fee still to collect, < 0 money to give back to the resident."""

    def __init__(self, case_id: int | None, current: str, due_yen: int) -> None:
        reason = "a fee is due" if due_yen > 0 else "money is due back to the resident"
        super().__init__("case", case_id, current, "done", reason)
        self.due_yen = due_yen
