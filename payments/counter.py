"""Money at the counter: cash into a counter's drawer (tendered, change), the fee or a
difference on the counter's own terminal or as a QR code on its customer display, and money
given back (cash from the drawer, or a refund through the provider).

What a counter collects is what the case owes there (``Case.due_yen``, see
``kiosk.counter_cases``), all of it at once: each such payment is the case's next payment
(``Payment.sequence``), taken at that counter (``Payment.counter_code``); entering succeeded
books it and settles the due (``payments.states``). Cash succeeds at once; a terminal or a QR
payment starts like a kiosk payment (the ``created`` row committed before the provider is
called, ``payments.collect.submit_payment``) and the provider's answer arrives by webhook
or poll.

A client may send an ``Idempotency-Key`` (the JSON API; the console's forms carry one too):
it is stored with the payment (unique), so a retried request records nothing twice and
answers what the first one did; the same key for another request is refused.

Functions taking a Session may flush and never commit; :func:`start_counter_payment`
commits twice (like ``payments.collect.start_payment``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from kiosk import audit
from kiosk.cases import CLOSED_STATES, lock_case_state
from kiosk.clock import aware
from kiosk.counter_cases import NothingDue
from kiosk.db import transaction
from kiosk.errors import DomainError
from kiosk.models import CaseStatus
from payments.collect import submit_payment
from payments.ledger import CASH, booking_day, record_cash_movement
from payments.models import CashMovement, Payment, PaymentRefund, PaymentStatus
from payments.provider import PaymentError, PaymentProvider, RefundNotAllowed
from payments.refunds import (
    check_refund_request,
    check_refundable,
    record_refund,
    refund_payment,
)
from payments.states import (
    OPEN,
    REFUNDABLE,
    TAKEN,
    get_payment,
    lock_payment,
    payments_of_case,
    transition_payment,
)

P = PaymentStatus
MAX_YEN = 10_000_000  # no fee at a ward counter comes near; a typo does


class CounterPaymentError(DomainError):
    """Root of what a counter payment refuses (each a 422 with its own message)."""

    code = "counter_payment"


class WrongAmount(CounterPaymentError):
    """The amount is not what the case owes at the counter (``due_yen``)."""

    code = "wrong_amount"

    def __init__(self, asked: int, due: int) -> None:
        super().__init__(f"{asked} yen asked, {due} yen due")
        self.asked, self.due = asked, due


class TooLittleTendered(CounterPaymentError):
    """Less cash was handed over than the amount."""

    code = "too_little_tendered"

    def __init__(self, tendered: int, amount: int) -> None:
        super().__init__(f"{tendered} yen tendered for {amount} yen")
        self.tendered, self.amount = tendered, amount


class PaymentInProgress(CounterPaymentError):
    """Another payment of this case is open (on a terminal or as a QR code)."""

    code = "payment_in_progress"


class KeyReused(CounterPaymentError):
    """The Idempotency-Key was used for a different request."""

    code = "idempotency_key_reused"


@dataclass(frozen=True)
class CashTaken:
    """A cash payment and the change handed back (``replayed``: a retry of the same key)."""

    payment: Payment
    tendered_yen: int
    change_yen: int
    replayed: bool = False


def _payment_of_key(session: Session, key: str | None) -> Payment | None:
    if not key:
        return None
    return session.scalars(select(Payment).where(Payment.request_key == key)).one_or_none()


def _next_sequence(session: Session, case_id: int) -> int:
    live = [p.sequence for p in payments_of_case(session, case_id) if p.status in OPEN | TAKEN]
    return max(live, default=0) + 1


def _owed(session: Session, case_id: int) -> int:
    """The case's due, locked; NothingDue when there is nothing to collect, and refuses a
    second payment while one is open."""
    case = lock_case_state(session, case_id)
    if case.status in CLOSED_STATES or case.status is CaseStatus.DRAFT or case.due_yen <= 0:
        raise NothingDue(f"case {case_id}: nothing to collect at the counter")
    if any(p.status in OPEN for p in payments_of_case(session, case_id)):
        raise PaymentInProgress(f"case {case_id} has a payment in progress")
    return case.due_yen


def _new_payment(
    session: Session,
    case_id: int,
    amount: int,
    *,
    provider: str,
    counter_code: str,
    actor: str,
    request_key: str | None,
    now: datetime,
    method: str | None = None,
) -> Payment:
    public_id = f"pay_{secrets.token_hex(12)}"
    payment = Payment(
        public_id=public_id,
        case_id=case_id,
        amount_yen=amount,
        provider=provider,
        idempotency_key=f"counter-{public_id}",
        status=P.CREATED,
        method=method,
        refunded_yen=0,
        kiosk_id="",
        sequence=_next_sequence(session, case_id),
        counter_code=counter_code,
        request_key=request_key,
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as e:  # a concurrent payment took this sequence or this key
        raise PaymentInProgress(f"case {case_id}: another payment was recorded") from e
    audit.record(
        session,
        actor,
        "payment.created",
        case_id=case_id,
        detail={
            "payment": public_id,
            "amount_yen": amount,
            "provider": provider,
            "counter": counter_code,
            "sequence": payment.sequence,
        },
        now=now,
    )
    return payment


def take_cash(
    session: Session,
    case_id: int,
    *,
    amount_yen: int,
    tendered_yen: int,
    counter_code: str,
    actor: str,
    request_key: str | None = None,
    now: datetime | None = None,
) -> CashTaken:
    """The resident pays what the case owes in cash at ``counter_code`` (its drawer):
    ``amount_yen`` must be exactly the due, ``tendered_yen`` at least that; the change is
    the difference. The payment succeeds at once, is booked, settles the due and moves
    cash into the drawer.

    Raises NothingDue, WrongAmount, TooLittleTendered, PaymentInProgress (a terminal or QR
    payment is open), KeyReused, DayClosed (the day's ledger is closed: nothing recorded).
    A repeat of ``request_key`` returns the first result (``replayed``).
    """
    now = aware(now)
    previous = _payment_of_key(session, request_key)
    if previous is not None:
        return _replay_cash(session, previous, case_id, amount_yen, tendered_yen)
    due = _owed(session, case_id)
    if not 0 < amount_yen <= MAX_YEN or amount_yen != due:
        raise WrongAmount(amount_yen, due)
    if tendered_yen < amount_yen:
        raise TooLittleTendered(tendered_yen, amount_yen)
    if tendered_yen > MAX_YEN:
        raise WrongAmount(tendered_yen, due)
    payment = _new_payment(
        session,
        case_id,
        amount_yen,
        provider=CASH,
        counter_code=counter_code,
        actor=actor,
        request_key=request_key,
        now=now,
        method=CASH,
    )
    day = booking_day(session, now, refuse_closed=True)
    transition_payment(
        session,
        payment,
        P.SUCCEEDED,
        actor=actor,
        now=now,
        detail={"tendered_yen": tendered_yen, "change_yen": tendered_yen - amount_yen},
    )
    record_cash_movement(
        session,
        day=day,
        drawer=counter_code,
        amount_yen=amount_yen,
        payment=payment,
        actor=actor,
        now=now,
        tendered_yen=tendered_yen,
    )
    return CashTaken(payment, tendered_yen, tendered_yen - amount_yen)


def _replay_cash(
    session: Session, payment: Payment, case_id: int, amount: int, tendered: int
) -> CashTaken:
    movement = session.scalars(
        select(CashMovement).where(
            CashMovement.payment_id == payment.id, CashMovement.refund_id.is_(None)
        )
    ).first()
    if (
        movement is None
        or payment.case_id != case_id
        or payment.amount_yen != amount
        or movement.tendered_yen != tendered
    ):
        raise KeyReused("this Idempotency-Key was used for another request")
    return CashTaken(payment, tendered, tendered - amount, replayed=True)


def start_counter_payment(
    sessions: sessionmaker[Session],
    provider: PaymentProvider,
    case_id: int,
    *,
    counter_code: str,
    actor: str,
    request_key: str | None = None,
    now: datetime | None = None,
) -> Payment:
    """Put what the case owes on the counter's terminal or its QR checkout (``provider``):
    the ``created`` row is committed, then the provider is asked. Returns the payment
    (usually pending; the answer comes by webhook or :func:`payments.collect.refresh_payment`).

    Raises NothingDue, PaymentInProgress, KeyReused, PaymentError (ProviderUnavailable:
    nothing charged, the failed row is kept; the resident may pay in cash).
    """
    now = aware(now)
    with transaction(sessions) as session:
        previous = _payment_of_key(session, request_key)
        if previous is not None:
            if previous.case_id != case_id or previous.provider != provider.name:
                raise KeyReused("this Idempotency-Key was used for another request")
            return previous
        due = _owed(session, case_id)
        payment = _new_payment(
            session,
            case_id,
            due,
            provider=provider.name,
            counter_code=counter_code,
            actor=actor,
            request_key=request_key,
            now=now,
        )
        public_id = payment.public_id
    error: PaymentError | None = None
    with transaction(sessions) as session:
        try:
            payment = submit_payment(session, provider, public_id, now=now)
        except PaymentError as e:
            error = e  # the failed row is committed first
    if error is not None:
        raise error
    return payment


# --- giving money back ------------------------------------------------------------------------


def give_back_cash(
    session: Session,
    payment: Payment,
    amount_yen: int,
    *,
    counter_code: str,
    actor: str,
    reason: str,
    now: datetime | None = None,
) -> PaymentRefund:
    """Hand ``amount_yen`` of a taken (locked) payment back in cash from ``counter_code``'s
    drawer (any payment: the ward may give a card payment back in cash). The refund is
    recorded on the payment, booked, taken out of the drawer, and counted against money due
    back to the resident; a refund that leaves the case holding nothing for its fee
    refunds the case. ``actor`` is a supervisor (the caller checks the role).

    Raises RefundNotAllowed (not taken, or more than is left), ValueError (no reason, not
    staff), DayClosed.
    """
    now = aware(now)
    check_refund_request(actor, reason)
    check_refundable(payment, amount_yen)
    day = booking_day(session, now, refuse_closed=True)
    refund = PaymentRefund(
        amount_yen=amount_yen,
        reason=reason.strip()[:200],
        actor=audit.check_actor(actor),
        idempotency_key=f"{payment.idempotency_key}-cash{len(payment.refunds) + 1}",
        refund_ref=None,
        status="succeeded",
        created_at=now,
        method=CASH,
        counter_code=counter_code,
    )
    return record_refund(
        session,
        payment,
        refund,
        actor=actor,
        now=now,
        detail={"method": CASH, "counter": counter_code},
        after_booking=lambda: record_cash_movement(
            session,
            day=day,
            drawer=counter_code,
            amount_yen=-amount_yen,
            payment=payment,
            refund=refund,
            actor=actor,
            now=now,
        ),
    )


def refund_at_counter(
    session: Session,
    public_id: str,
    *,
    provider_for: Callable[[Payment], PaymentProvider],
    cash: bool,
    counter_code: str,
    actor: str,
    reason: str,
    amount_yen: int | None = None,
    now: datetime | None = None,
) -> PaymentRefund:
    """A supervisor gives back ``amount_yen`` (default: all that is left) of one payment:
    in ``cash`` from the counter's drawer, or through the provider that took it
    (``provider_for``; a cash payment can only be given back in cash). Raises like
    :func:`give_back_cash` and ``payments.refunds.refund_payment``."""
    payment = lock_payment(session, get_payment(session, public_id).id)
    left = payment.amount_yen - payment.refunded_yen
    amount = left if amount_yen is None else amount_yen
    if cash or payment.provider == CASH:
        return give_back_cash(
            session,
            payment,
            amount,
            counter_code=counter_code,
            actor=actor,
            reason=reason,
            now=now,
        )
    return refund_payment(
        session,
        provider_for(payment),
        public_id,
        actor=actor,
        reason=reason,
        amount_yen=amount,
        now=now,
    )


def refund_difference(
    session: Session,
    case_id: int,
    *,
    provider_for: Callable[[Payment], PaymentProvider],
    cash: bool,
    counter_code: str,
    actor: str,
    reason: str,
    now: datetime | None = None,
) -> list[PaymentRefund]:
    """Give back what the case owes the resident (``-due_yen`` after an amendment or an
    exemption lowered the fee): in ``cash`` from the drawer, or through the providers of
    its card and QR payments (newest first; a cash payment's share always in cash). Each
    refund settles its part of the due. Returns the refunds. Raises NothingDue (nothing is
    owed back), RefundNotAllowed (the payments hold less than is owed), and what each
    refund raises."""
    now = aware(now)
    case = lock_case_state(session, case_id)
    owed = -case.due_yen
    if owed <= 0:
        raise NothingDue(f"case {case_id}: nothing is due back")
    payments = [p for p in reversed(payments_of_case(session, case_id)) if p.status in REFUNDABLE]
    if sum(p.amount_yen - p.refunded_yen for p in payments) < owed:
        raise RefundNotAllowed(f"case {case_id}: the payments hold less than {owed} yen")
    refunds = []
    for payment in payments:
        if owed == 0:
            break
        share = min(owed, payment.amount_yen - payment.refunded_yen)
        refunds.append(
            refund_at_counter(
                session,
                payment.public_id,
                provider_for=provider_for,
                cash=cash,
                counter_code=counter_code,
                actor=actor,
                reason=reason,
                amount_yen=share,
                now=now,
            )
        )
        owed -= share
    return refunds


def cash_of_case(session: Session, case_id: int) -> dict[str, int | None]:
    """Tendered and change of the case's newest cash payment (for its receipt), or {}."""
    row = session.execute(
        select(CashMovement.tendered_yen, CashMovement.change_yen)
        .join(Payment, Payment.id == CashMovement.payment_id)
        .where(Payment.case_id == case_id, CashMovement.tendered_yen.is_not(None))
        .order_by(CashMovement.id.desc())
        .limit(1)
    ).first()
    return {"tendered_yen": row[0], "change_yen": row[1]} if row else {}


def payments_total(session: Session) -> tuple[int, int]:
    """(taken amounts, refunded amounts) over every payment and refund row: the other side
    of the ledger invariant (``payments.ledger.ledger_totals``)."""
    taken = session.scalar(
        select(func.sum(Payment.amount_yen)).where(Payment.status.in_(list(TAKEN)))
    )
    refunded = session.scalar(select(func.sum(PaymentRefund.amount_yen)))
    return int(taken or 0), int(refunded or 0)
