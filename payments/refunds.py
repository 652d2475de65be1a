"""Refunds: given back by staff through the service (``refund_payment``) or made outside
it, in the provider's dashboard, on the terminal's own menu or by the provider itself
(``apply_provider_refunds``, from a refund webhook or by reconciliation).

Both are recorded the same way, the outside ones with the provider as the actor. A refund
is known by the provider's refund id, so none is ever recorded twice, whoever made it and
however often it is reported. A refund that leaves the case holding nothing for its fee
moves the case to refunded (its waiting ticket is cancelled, ``kiosk.tickets.mark_refunded``);
a partial one leaves the case as it is, and one that gives back money due to the resident
after an amendment or an exemption settles that due instead. Every refund is booked in the
day's takings (``payments.ledger``). Functions take a Session, may flush, never commit.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk import audit
from kiosk.cases import get_case
from kiosk.clock import aware
from kiosk.errors import InvalidTransition
from kiosk.tickets import mark_refunded
from payments.ledger import book_refund
from payments.models import Payment, PaymentRefund, PaymentStatus
from payments.provider import PaymentProvider, ProviderRefund, RefundNotAllowed
from payments.states import (
    REFUNDABLE,
    TAKEN,
    actor_for,
    count_refund_against_due,
    get_payment,
    lock_payment,
    transition_payment,
)

log = logging.getLogger(__name__)

P = PaymentStatus


def refund_payment(
    session: Session,
    provider: PaymentProvider,
    public_id: str,
    *,
    actor: str,
    reason: str,
    amount_yen: int | None = None,
    now: datetime | None = None,
) -> PaymentRefund:
    """A supervisor gives back ``amount_yen`` (default: all that is left) of a taken payment.

    ``actor`` must be a staff actor and ``reason`` non-empty; both are kept with the refund
    and audited. A refund that leaves the case holding nothing for its fee moves the case to
    refunded (its waiting ticket is cancelled); one of money due back settles that due.
    Raises RefundNotAllowed, ValueError, ProviderUnavailable (nothing recorded then).
    """
    now = aware(now)
    check_refund_request(actor, reason)
    payment = lock_payment(session, get_payment(session, public_id).id)
    amount = check_refundable(payment, amount_yen)
    assert payment.provider_ref is not None
    # Stable across a retry of the same step (the count only grows once a refund committed).
    key = f"{payment.idempotency_key}-re{len(payment.refunds) + 1}"
    result = provider.refund(payment.provider_ref, amount, idempotency_key=key, reason=reason)
    refund = PaymentRefund(
        payment_id=payment.id,
        amount_yen=amount,
        reason=reason.strip()[:200],
        actor=audit.check_actor(actor),
        idempotency_key=key,
        refund_ref=result.refund_ref,
        status=result.status,
        created_at=now,
    )
    return record_refund(
        session, payment, refund, actor=actor, now=now, detail={"refund_ref": result.refund_ref}
    )


def check_refund_request(actor: str, reason: str) -> None:
    """A refund is given by staff, with a reason (ValueError otherwise)."""
    if not actor.startswith("staff:"):
        raise ValueError("refunds are given by staff (actor 'staff:<id>')")
    if not reason.strip():
        raise ValueError("a refund needs a reason")


def check_refundable(payment: Payment, amount_yen: int | None) -> int:
    """The yen to give back of ``payment`` (``amount_yen``, default all that is left);
    RefundNotAllowed when it was not taken or less is left."""
    if payment.status not in REFUNDABLE:
        raise RefundNotAllowed(f"payment {payment.public_id} is {payment.status.value}")
    left = payment.amount_yen - payment.refunded_yen
    amount = left if amount_yen is None else amount_yen
    if not 0 < amount <= left:
        raise RefundNotAllowed(f"{amount} yen asked back, {left} yen refundable")
    return amount


def record_refund(
    session: Session,
    payment: Payment,
    refund: PaymentRefund,
    *,
    actor: str,
    now: datetime,
    detail: dict[str, object],
    after_booking: Callable[[], object] | None = None,
) -> PaymentRefund:
    """Record ``refund`` (given back already, by the provider or in cash) on the locked
    ``payment``: its state, the audit row (``detail`` added), the day's takings
    (``after_booking`` runs next: the cash drawer), money due back settled, and the case
    refunded when it holds nothing for its fee any more."""
    payment.refunds.append(refund)
    payment.refunded_yen += refund.amount_yen
    full = payment.refunded_yen == payment.amount_yen
    session.flush()
    transition_payment(
        session,
        payment,
        P.REFUNDED if full else P.PARTIALLY_REFUNDED,
        actor=actor,
        now=now,
        detail={
            "refund_id": refund.id,
            **detail,
            "amount_yen": refund.amount_yen,
            "refunded_yen": payment.refunded_yen,
        },
    )
    book_refund(session, refund, now=now)
    if after_booking is not None:
        after_booking()
    if count_refund_against_due(session, payment, refund.amount_yen, actor=actor, now=now):
        mark_case_refunded(session, payment, actor=actor, now=now)
    session.flush()
    return refund


def _outside_key(refund_ref: str) -> str:
    # Unique like our own keys, so the database refuses a second row for the same refund.
    key = f"provider-{refund_ref}"
    if len(key) > 64:
        key = f"provider-{hashlib.sha256(refund_ref.encode()).hexdigest()[:48]}"
    return key


def apply_provider_refunds(
    session: Session,
    provider: PaymentProvider,
    payment: Payment,
    *,
    now: datetime | None = None,
    event_id: str | None = None,
) -> list[PaymentRefund]:
    """Record the refunds the provider holds for a (locked) taken payment that we do not
    know yet: made in the provider's dashboard, on the terminal's own menu, by the provider
    itself, or by a ``refund_payment`` whose commit was lost. Returns the new rows.

    Each new refund becomes a PaymentRefund with the provider as actor
    (``payment:<provider>``) and its refund id; the payment moves to partially_refunded or
    refunded with an audit row naming that id. A refund that leaves the case holding
    nothing moves the case to refunded
    (its waiting ticket is cancelled); a partial one leaves the case as it is: staff see it
    as the payment's status and refunded amount. Refunds we already hold (by refund id,
    including our own) only get their status brought up to date. Safe to call any number of
    times. Raises ProviderUnavailable (nothing recorded then).
    """
    now = aware(now)
    if payment.provider_ref is None or payment.status not in TAKEN:
        return []
    actor = actor_for(provider)
    rows = session.scalars(select(PaymentRefund).where(PaymentRefund.payment_id == payment.id))
    held = {r.refund_ref: r for r in rows if r.refund_ref}
    new: list[PaymentRefund] = []
    for seen in provider.refunds(payment.provider_ref):
        known = held.get(seen.refund_ref)
        if known is not None:
            _update_refund_status(session, payment, known, seen, actor=actor, now=now)
        elif seen.gives_money_back:
            refund = _record_outside_refund(
                session, payment, seen, actor=actor, now=now, event_id=event_id
            )
            if refund is not None:
                new.append(refund)
    session.flush()
    return new


def _update_refund_status(
    session: Session,
    payment: Payment,
    refund: PaymentRefund,
    seen: ProviderRefund,
    *,
    actor: str,
    now: datetime,
) -> None:
    if refund.status == seen.status:
        return
    audit.record(
        session,
        actor,
        "payment.refund_status",
        case_id=payment.case_id,
        detail={
            "payment": payment.public_id,
            "refund_ref": seen.refund_ref,
            "from": refund.status,
            "to": seen.status,
        },
        now=now,
    )
    if not seen.gives_money_back:
        # The state machine does not go back: staff must settle it with the resident.
        log.warning(
            "refund %s of payment %s is %s", seen.refund_ref, payment.public_id, seen.status
        )
    refund.status = seen.status[:16]


def _record_outside_refund(
    session: Session,
    payment: Payment,
    seen: ProviderRefund,
    *,
    actor: str,
    now: datetime,
    event_id: str | None,
) -> PaymentRefund | None:
    left = payment.amount_yen - payment.refunded_yen
    if not 0 < seen.amount_yen <= left:
        # Our books and the provider's disagree: never guess, show it to staff.
        audit.record(
            session,
            actor,
            "payment.refund_mismatch",
            case_id=payment.case_id,
            detail={
                "payment": payment.public_id,
                "refund_ref": seen.refund_ref,
                "amount_yen": seen.amount_yen,
                "refundable_yen": left,
            },
            now=now,
        )
        log.error("refund %s does not fit payment %s", seen.refund_ref, payment.public_id)
        return None
    refund = PaymentRefund(
        amount_yen=seen.amount_yen,
        reason="refunded at the provider, outside this service",
        actor=actor,
        idempotency_key=_outside_key(seen.refund_ref),
        refund_ref=seen.refund_ref,
        status=seen.status[:16],
        created_at=now,
    )
    # Through the collection, so refund_payment's count of refunds (its key) stays right.
    payment.refunds.append(refund)
    payment.refunded_yen += seen.amount_yen
    full = payment.refunded_yen == payment.amount_yen
    session.flush()
    detail: dict[str, Any] = {
        "refund_id": refund.id,
        "refund_ref": seen.refund_ref,
        "amount_yen": seen.amount_yen,
        "refunded_yen": payment.refunded_yen,
        "source": "provider",
    }
    if event_id:
        detail["event"] = event_id
    transition_payment(
        session,
        payment,
        P.REFUNDED if full else P.PARTIALLY_REFUNDED,
        actor=actor,
        now=now,
        detail=detail,
    )
    log.warning(
        "payment %s: %s yen refunded outside the service (%s)",
        payment.public_id,
        seen.amount_yen,
        seen.refund_ref,
    )
    book_refund(session, refund, now=now)
    if count_refund_against_due(session, payment, seen.amount_yen, actor=actor, now=now):
        mark_case_refunded(session, payment, actor=actor, now=now)
    return refund


def mark_case_refunded(session: Session, payment: Payment, *, actor: str, now: datetime) -> None:
    """The case of ``payment`` holds nothing for its fee any more: it is refunded (a done
    case keeps its state)."""
    case = get_case(session, payment.case_id)
    try:
        mark_refunded(session, case, actor=actor, now=now)
    except InvalidTransition:
        # A finished (done) case keeps its state; the refund is still recorded.
        log.info("case %s stays %s after a full refund", case.id, case.status.value)
