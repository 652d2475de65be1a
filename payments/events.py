"""Provider events: verified webhooks applied to our payments, each exactly once.

An event is recorded by its id (``ProviderEventRecord``), so a redelivery changes
nothing. Order is never trusted: an event whose move is not legal from our current state
makes us re-read the payment at the provider and apply the provider's truth; a refund
event makes us re-read the payment's refunds (``payments.refunds``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiosk.clock import aware
from payments.models import Payment, PaymentStatus, ProviderEventRecord
from payments.provider import EventKind, PaymentError, PaymentEvent, PaymentProvider
from payments.refunds import apply_provider_refunds
from payments.states import (
    PAYMENT_TRANSITIONS,
    TAKEN,
    actor_for,
    apply_provider_state,
    lock_payment,
    settle_case,
    transition_payment,
)

P = PaymentStatus
_FROM_EVENT = {
    EventKind.PENDING: P.PENDING,
    EventKind.SUCCEEDED: P.SUCCEEDED,
    EventKind.FAILED: P.FAILED,
    EventKind.CANCELLED: P.CANCELLED,
    EventKind.EXPIRED: P.EXPIRED,
}


def _find_for_event(session: Session, event: PaymentEvent) -> Payment | None:
    if event.provider_ref:
        stmt = select(Payment).where(
            (Payment.provider_ref == event.provider_ref)
            | (Payment.payment_intent_id == event.provider_ref)
        )
        found = session.scalars(stmt).first()
        if found is not None:
            return found
    if event.payment_id:
        return session.scalars(
            select(Payment).where(Payment.public_id == event.payment_id)
        ).one_or_none()
    return None


def _enrich(provider: PaymentProvider, payment: Payment) -> None:
    """Fill in what the receipt and refunds need (method, PaymentIntent) when the event did
    not carry it. Best effort: the payment is recorded even if the provider is unreachable."""
    if payment.method and payment.payment_intent_id or payment.provider_ref is None:
        return
    try:
        view = provider.status(payment.provider_ref)
    except PaymentError:
        return
    payment.method = payment.method or view.method
    payment.payment_intent_id = payment.payment_intent_id or view.payment_intent_id


def record_provider_event(
    session: Session,
    provider: PaymentProvider,
    event: PaymentEvent,
    *,
    now: datetime | None = None,
) -> str:
    """Apply one verified event. Returns the outcome: ``duplicate`` (event id seen before:
    nothing changes), ``ignored``, ``unknown_payment``, ``applied`` or ``stale`` (the event
    is older than what we know; re-read the object and applied that instead).

    Order is never trusted: an event whose move is not legal from our current state makes
    us re-read the object at the provider (``status``) and apply the provider's truth.
    """
    now = aware(now)
    if session.get(ProviderEventRecord, event.event_id) is not None:
        return "duplicate"
    payment = _find_for_event(session, event)
    outcome = "ignored"
    if payment is None:
        outcome = "ignored" if event.kind is EventKind.IGNORED else "unknown_payment"
    elif event.kind is EventKind.REFUNDED:
        payment = lock_payment(session, payment.id)
        outcome = _refunds_changed(session, provider, payment, event, now=now)
    elif event.kind is not EventKind.IGNORED:
        payment = lock_payment(session, payment.id)
        actor = actor_for(provider)
        target = _FROM_EVENT.get(event.kind)
        if target is not None and target in PAYMENT_TRANSITIONS[payment.status]:
            if target is P.FAILED:
                payment.failure_code = event.failure_code
            if payment.provider_ref is None and event.provider_ref:
                payment.provider_ref = event.provider_ref
            transition_payment(
                session, payment, target, actor=actor, now=now, detail={"event": event.event_id}
            )
            if target is P.SUCCEEDED:
                _enrich(provider, payment)
                settle_case(session, payment, actor=actor, now=now)
            outcome = "applied"
        elif target is payment.status:
            outcome = "applied"  # a second event saying the same thing (e.g. reader + PI)
        elif payment.provider_ref is not None:
            view = provider.status(payment.provider_ref)
            apply_provider_state(session, payment, view, actor=actor, now=now)
            outcome = "stale"
    session.add(
        ProviderEventRecord(
            event_id=event.event_id,
            provider=provider.name,
            type=event.raw_type[:64],
            payment_id=payment.id if payment is not None else None,
            outcome=outcome,
            received_at=now,
        )
    )
    session.flush()
    return outcome


def _refunds_changed(
    session: Session,
    provider: PaymentProvider,
    payment: Payment,
    event: PaymentEvent,
    *,
    now: datetime,
) -> str:
    """A refund event: the provider's refunds of ``payment`` are the truth, not the event."""
    if payment.provider_ref is None:
        return "ignored"
    if payment.status not in TAKEN:
        # The refund overtook the payment's own success event: record the payment first.
        view = provider.status(payment.provider_ref)
        apply_provider_state(session, payment, view, actor=actor_for(provider), now=now)
    apply_provider_refunds(session, provider, payment, now=now, event_id=event.event_id)
    return "applied"


def handle_webhook(
    session: Session,
    provider: PaymentProvider,
    payload: bytes,
    signature: str | None,
    *,
    now: datetime | None = None,
) -> str:
    """Verify the raw body (``provider.parse_webhook``) and apply it. Raises
    InvalidSignature before touching the database for a bad, missing or stale signature."""
    event = provider.parse_webhook(payload, signature)
    return record_provider_event(session, provider, event, now=now)
