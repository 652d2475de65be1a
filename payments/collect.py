"""Collecting a fee: create, submit and start a payment, poll it, cancel it.

The start of a payment is the one place where we commit in the middle: the ``created``
row must be committed *before* the provider is called (so a crash can never leave a
charge we do not know about), hence ``create_payment`` and ``submit_payment`` are two
steps and ``start_payment`` runs them in two transactions. Everything else here takes a
Session, may flush and never commits.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from kiosk import audit
from kiosk.cases import lock_case, mark_awaiting_payment
from kiosk.clock import aware
from kiosk.db import transaction
from kiosk.errors import InvalidTransition
from payments.models import Payment, PaymentStatus
from payments.provider import PaymentError, PaymentProvider
from payments.states import (
    OPEN,
    TAKEN,
    actor_for,
    apply_provider_state,
    crash_point,
    get_payment,
    lock_payment,
    payments_of_case,
    request_for,
    transition_payment,
)

P = PaymentStatus


def create_payment(
    session: Session,
    case_id: int,
    *,
    provider_name: str,
    actor: str,
    kiosk_id: str = "",
    now: datetime | None = None,
) -> Payment:
    """Step 1 of a payment: the case moves to awaiting_payment and a ``created`` Payment row
    for its fee is written, with a fresh idempotency key. Commit before ``submit_payment``.

    An open payment of the case is returned as it is (a double tap on "pay" is one
    payment). Raises InvalidTransition for fee-free or already paid cases, NotFound.
    """
    now = aware(now)
    case = lock_case(session, case_id)
    for existing in payments_of_case(session, case.id):
        if existing.status in OPEN:
            return existing
        if existing.status in TAKEN:
            raise InvalidTransition(
                "case", case.id, case.status.value, "payment", "the case is already paid"
            )
    mark_awaiting_payment(session, case, actor=actor, now=now)
    public_id = f"pay_{secrets.token_hex(12)}"
    payment = Payment(
        public_id=public_id,
        case_id=case.id,
        amount_yen=case.fee_yen,
        provider=provider_name,
        idempotency_key=f"kiosk-{public_id}",
        status=P.CREATED,
        refunded_yen=0,
        kiosk_id=kiosk_id,
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    session.flush()
    audit.record(
        session,
        actor,
        "payment.created",
        case_id=case.id,
        detail={"payment": public_id, "amount_yen": payment.amount_yen, "provider": provider_name},
        now=now,
    )
    return payment


def submit_payment(
    session: Session,
    provider: PaymentProvider,
    public_id: str,
    *,
    now: datetime | None = None,
) -> Payment:
    """Step 2: ask the provider to collect a committed ``created`` payment (terminal shows the
    amount / QR appears) and store its ids; usually -> pending.

    ProviderUnavailable and other PaymentErrors: the row is marked failed in ``session``
    (the case stays awaiting_payment: the resident pays at the cash counter or retries)
    and the error is re-raised. Commit the session in both cases (``start_payment`` does).
    """
    payment = lock_payment(session, get_payment(session, public_id).id)
    if payment.status is not P.CREATED:
        return payment
    actor = actor_for(provider)
    try:
        view = provider.start(request_for(payment))
    except PaymentError as e:
        payment.failure_code = e.code[:64]
        transition_payment(
            session, payment, P.FAILED, actor=actor, now=now, detail={"failure_code": e.code}
        )
        session.flush()
        raise
    crash_point("after_intent_created")
    return apply_provider_state(session, payment, view, actor=actor, now=now)


def start_payment(
    sessions: sessionmaker[Session],
    provider: PaymentProvider,
    case_id: int,
    *,
    actor: str,
    kiosk_id: str = "",
    now: datetime | None = None,
) -> Payment:
    """``create_payment`` and ``submit_payment`` in two committed transactions: what the
    kiosk's "pay" button calls. Returns the payment (pending, or already final). Raises
    ProviderUnavailable (after committing the failed row) -> show the cash-counter screen."""
    with transaction(sessions) as session:
        payment = create_payment(
            session, case_id, provider_name=provider.name, actor=actor, kiosk_id=kiosk_id, now=now
        )
        public_id = payment.public_id
    crash_point("after_payment_created")
    error: PaymentError | None = None
    with transaction(sessions) as session:
        try:
            payment = submit_payment(session, provider, public_id, now=now)
        except PaymentError as e:
            error = e  # commit the failed row first, then tell the caller
    if error is not None:
        raise error
    crash_point("after_payment_pending")
    return payment


def refresh_payment(
    session: Session, provider: PaymentProvider, public_id: str, *, now: datetime | None = None
) -> Payment:
    """The polling fallback: re-read an open payment at the provider and apply it. Closed
    payments are returned without a provider call. Raises ProviderUnavailable."""
    payment = lock_payment(session, get_payment(session, public_id).id)
    if payment.status not in OPEN or payment.provider_ref is None:
        return payment
    view = provider.status(payment.provider_ref)
    return apply_provider_state(session, payment, view, actor=actor_for(provider), now=now)


def cancel_payment(
    session: Session,
    provider: PaymentProvider,
    public_id: str,
    *,
    actor: str,
    reason: str = "",
    now: datetime | None = None,
) -> Payment:
    """The resident cancelled or the kiosk timed out: stop the payment at the provider
    (reader action cancelled / session expired) and record it. If the money was taken
    first, the payment becomes succeeded instead (and the case moves on). The case is not
    cancelled here: the kiosk decides that (``kiosk.tickets.cancel_case``)."""
    now = aware(now)
    payment = lock_payment(session, get_payment(session, public_id).id)
    if payment.status not in OPEN:
        return payment
    if payment.provider_ref is None:
        # The provider never answered start: nothing to stop there (reconcile re-checks).
        return transition_payment(
            session, payment, P.CANCELLED, actor=actor, now=now, detail={"reason": reason[:64]}
        )
    view = provider.cancel(payment.provider_ref)
    return apply_provider_state(session, payment, view, actor=actor_for(provider), now=now)
