"""The end-of-day close: cases of earlier business days that were left open are ended.

A visit that was abandoned (the resident walked away, the kiosk crashed, the payment
terminal was down and the resident went to the cash counter) leaves its case in
``draft``, ``confirmed`` or ``awaiting_payment``; a fee-free ticket nobody came back for
leaves its case ``queued`` or ``no_show``. None of them can move on after their day (tickets
are called only on their own business day), so the close cancels them, each with the
usual ``case.cancelled`` audit row (reason ``end_of_day``) and, for a waiting ticket, the
ticket's own cancellation.

What the close leaves alone, on purpose:

- a case whose payment is still open at the provider (``created`` or ``pending``):
  reconciliation settles it first (the money may have been taken), the next close ends it;
- cases where money was taken (``paid``, or a paid case still ``queued``/``no_show``):
  they are refunded by staff, never cancelled; their personal data goes at the purge like
  every other case's (``kiosk.retention``), their payments and refunds stay.

It lives above the domain because "no open payment" is the payments package's knowledge.
Run by ``kiosk purge`` (for every business day before today's) after the purge itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.cases import get_case
from kiosk.clock import aware
from kiosk.errors import InvalidTransition
from kiosk.models import Case, CaseStatus
from kiosk.tickets import cancel_case
from payments.states import OPEN, payments_of_case

log = logging.getLogger(__name__)

S = CaseStatus
# States a case can be left in when its visit or its day ended without it.
LEFT_OPEN = (S.DRAFT, S.CONFIRMED, S.AWAITING_PAYMENT, S.QUEUED, S.NO_SHOW)


@dataclass(frozen=True)
class CloseResult:
    """Case ids the close cancelled, and those it left for reconciliation or staff."""

    cancelled: tuple[int, ...]
    left: tuple[int, ...]


def close_open_cases(
    session: Session, *, before: date, actor: str, now: datetime | None = None
) -> CloseResult:
    """Cancel every case of a business day before ``before`` that was left open and holds
    no money (see the module docstring); returns what was cancelled and what was left.
    Takes the usual row locks; commit afterwards. Running it twice changes nothing."""
    now = aware(now)
    ids = list(
        session.scalars(
            select(Case.id)
            .where(Case.business_day < before, Case.status.in_(LEFT_OPEN))
            .order_by(Case.id)
        )
    )
    cancelled: list[int] = []
    left: list[int] = []
    for case_id in ids:
        case = get_case(session, case_id)
        if case.status is S.AWAITING_PAYMENT and any(
            p.status in OPEN for p in payments_of_case(session, case_id)
        ):
            left.append(case_id)
            continue
        try:
            with session.begin_nested():
                cancel_case(session, case, actor=actor, now=now, reason="end_of_day")
        except InvalidTransition:
            left.append(case_id)  # money was taken: a staff refund, not a cancellation
            continue
        cancelled.append(case_id)
    if cancelled:
        log.info("end-of-day close: %d case(s) cancelled", len(cancelled))
    return CloseResult(tuple(cancelled), tuple(left))
