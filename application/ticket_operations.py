"""Staff ticket operations: what a member of staff does to a ticket from the console, the
JSON API (and the counter desk), as pure callables: no request, no form, no response.

Each operation is one transaction (:func:`run_ticket_operation` commits or rolls back) and
raises domain errors (``NotFound``, ``InvalidTransition``, ``CounterClosed``) or
:class:`TargetMissing` when the operation needs a counter or a queue it was not given.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from sqlalchemy.orm import Session, sessionmaker

from kiosk.calling import (
    call_next,
    call_ticket,
    complete,
    hold,
    mark_no_show,
    recall,
    resume,
    return_no_show,
    start_serving,
    transfer,
)
from kiosk.counters import get_counter, get_queue
from kiosk.db import transaction
from kiosk.errors import DomainError
from kiosk.models import Ticket
from kiosk.tickets import get_ticket


class TicketOperation(enum.Enum):
    """The operations, by the name the console and the API use in their URLs."""

    CALL = "call"
    RECALL = "recall"
    SERVE = "serve"
    COMPLETE = "complete"
    # Done at this counter although the ticket has further stops (this counter did them).
    COMPLETE_ALL = "complete-all"
    NO_SHOW = "no-show"
    RETURN = "return"
    HOLD = "hold"
    RESUME = "resume"
    TRANSFER = "transfer"


class TargetMissing(DomainError):
    """The operation needs a counter (``call``) or a queue or counter (``transfer``):
    ``field`` says which was missing."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} is needed")
        self.field = field


@dataclass(frozen=True)
class TicketOutcome:
    """A ticket after an operation (plain values, usable after the transaction)."""

    id: int
    number: str
    status: str
    case_id: int
    counter_id: int | None
    queue_code: str = ""  # where it waits now (the next stop's queue once routed on)


def _outcome(ticket: Ticket) -> TicketOutcome:
    return TicketOutcome(
        ticket.id,
        ticket.display_number,
        ticket.status.value,
        ticket.case_id,
        ticket.counter_id,
        ticket.queue.code,
    )


_SIMPLE: dict[TicketOperation, Callable[..., Ticket]] = {
    TicketOperation.RECALL: recall,
    TicketOperation.SERVE: start_serving,
    TicketOperation.COMPLETE: complete,
    TicketOperation.COMPLETE_ALL: partial(complete, whole_case=True),
    TicketOperation.NO_SHOW: mark_no_show,
    TicketOperation.RETURN: return_no_show,
    TicketOperation.HOLD: hold,
    TicketOperation.RESUME: resume,
}


def run_ticket_operation(
    sessions: sessionmaker[Session],
    operation: TicketOperation,
    ticket_id: int,
    *,
    actor: str,
    counter_code: str | None = None,
    queue_code: str | None = None,
) -> TicketOutcome:
    """Do ``operation`` to ticket ``ticket_id`` as ``actor``. ``counter_code``: the counter a
    ``call`` calls to, or a ``transfer``'s target counter; ``queue_code``: a ``transfer``'s
    target queue. Raises TargetMissing, NotFound, InvalidTransition, CounterClosed."""
    if operation is TicketOperation.CALL and not counter_code:
        raise TargetMissing("counter")
    if operation is TicketOperation.TRANSFER and not (counter_code or queue_code):
        raise TargetMissing("queue")
    with transaction(sessions) as s:
        ticket = get_ticket(s, ticket_id)
        if operation is TicketOperation.CALL:
            assert counter_code is not None
            ticket = call_ticket(s, ticket, get_counter(s, counter_code), actor=actor)
        elif operation is TicketOperation.TRANSFER:
            ticket = transfer(
                s,
                ticket,
                actor=actor,
                queue=get_queue(s, queue_code) if queue_code else None,
                counter=get_counter(s, counter_code) if counter_code else None,
            )
        else:
            ticket = _SIMPLE[operation](s, ticket, actor=actor)
        return _outcome(ticket)


def call_next_ticket(
    sessions: sessionmaker[Session], counter_code: str, *, actor: str
) -> TicketOutcome | None:
    """Call the next waiting ticket to counter ``counter_code``; None when nobody waits.
    Raises NotFound, CounterClosed."""
    with transaction(sessions) as s:
        ticket = call_next(s, get_counter(s, counter_code), actor=actor)
        return _outcome(ticket) if ticket is not None else None
