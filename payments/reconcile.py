"""Reconciliation: comparing our payments with the provider and repairing what a crash
or a lost webhook left behind (``reconcile``), once from the command line or at start-up
and then periodically in the service's own thread (``Reconciler``).

It re-reads open payments (cancelling abandoned ones), recovers ``created`` rows a crash
left through their idempotency key, checks recently closed ones for a late success,
issues the ticket a crash kept from a taken payment, and finds refunds made outside the
service that no webhook reported.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kiosk.clock import aware
from kiosk.db import transaction
from kiosk.errors import DomainError
from kiosk.models import Case, CaseStatus, Ticket
from payments.models import Payment, PaymentStatus
from payments.provider import PaymentError, PaymentProvider, ProviderStatus
from payments.refunds import apply_provider_refunds
from payments.states import (
    REFUNDABLE,
    actor_for,
    apply_provider_state,
    lock_payment,
    request_for,
    settle_case,
)

log = logging.getLogger(__name__)

P = PaymentStatus
# A "created" row younger than this may still be waiting for its provider call to return.
CREATED_GRACE = timedelta(seconds=60)
# Closed payments are re-checked this long (a late success is money we must account for).
LATE_SUCCESS_WINDOW = timedelta(days=1)
# Taken payments are re-read for refunds made outside the service for this long after
# they succeeded (reconcile's ``refund_window``); webhooks catch the rest as they happen.
REFUND_WINDOW = timedelta(days=7)
# ... at most this many per background Reconciler run, in turns (the CLI run checks all).
REFUND_BATCH = 50


@dataclass
class ReconcileReport:
    """What one reconciliation run looked at and changed (payment public ids)."""

    checked: int = 0
    repaired: list[str] = field(default_factory=list)
    tickets_issued: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    #: payments in which refunds made outside the service were found and recorded
    refunds_found: list[str] = field(default_factory=list)
    #: id of the last payment whose refunds were read when the batch limit stopped the
    #: pass (the next run goes on after it); 0 when the pass reached the end
    refund_cursor: int = 0

    def line(self) -> str:
        return (
            f"reconcile: checked={self.checked} repaired={len(self.repaired)} "
            f"tickets_issued={len(self.tickets_issued)} unreachable={len(self.unreachable)} "
            f"refunds_found={len(self.refunds_found)}"
        )


def _reconcile_one(
    session: Session,
    provider: PaymentProvider,
    payment: Payment,
    *,
    now: datetime,
    timeout: timedelta,
    report: ReconcileReport,
) -> None:
    actor = actor_for(provider)
    before = payment.status
    payment = lock_payment(session, payment.id)
    if payment.status is P.CREATED:
        if now - payment.created_at < CREATED_GRACE:
            return
        # A crash between commit and the provider's answer: find what start created.
        view = provider.recover(request_for(payment))
        if view.status is ProviderStatus.PENDING:
            view = provider.cancel(view.provider_ref)
        apply_provider_state(session, payment, view, actor=actor, now=now)
    elif payment.provider_ref is not None:
        view = provider.status(payment.provider_ref)
        if view.status is ProviderStatus.PENDING and now - payment.created_at >= timeout:
            view = provider.cancel(payment.provider_ref)
        apply_provider_state(session, payment, view, actor=actor, now=now)
    if payment.status is not before:
        report.repaired.append(payment.public_id)


def reconcile(
    session: Session,
    provider: PaymentProvider,
    *,
    timeout_s: int = 120,
    refund_window: timedelta | None = REFUND_WINDOW,
    refund_limit: int | None = None,
    refund_after: int = 0,
    counter_code: str | None = None,
    now: datetime | None = None,
) -> ReconcileReport:
    """Find this provider's payments whose provider state differs from ours and repair them:
    open payments are re-read (abandoned ones past ``timeout_s`` cancelled), ``created``
    rows left by a crash are recovered through the idempotency key, recently closed ones are
    checked for a late success, and taken payments whose case has no ticket get it.

    Refunds made outside the service (a missed refund webhook, or the simulated terminal,
    which sends none) are found by re-reading the refunds of the payments that can still be
    refunded (succeeded or partially refunded) and succeeded within ``refund_window``: one
    provider request per such payment (two for Checkout). ``None`` skips this pass;
    ``refund_limit`` reads at most that many payments, those with an id above
    ``refund_after`` (``report.refund_cursor`` says where the next run goes on).

    ``counter_code``: the payments taken at that counter's device (its terminal or QR
    checkout, each a provider of its own); None (the default): those of the kiosk's provider,
    taken at no counter.

    Per-payment ProviderUnavailable is reported, not raised. Commit afterwards.
    """
    now = aware(now)
    report = ReconcileReport()
    timeout = timedelta(seconds=timeout_s)
    mine = _of_device(provider, counter_code)
    stmt = (
        select(Payment)
        .where(
            mine,
            Payment.status.in_([P.CREATED, P.PENDING])
            | (
                Payment.status.in_([P.FAILED, P.CANCELLED, P.EXPIRED])
                & (Payment.updated_at >= now - LATE_SUCCESS_WINDOW)
            ),
        )
        .order_by(Payment.id)
    )
    for payment in list(session.scalars(stmt)):
        report.checked += 1
        try:
            with session.begin_nested():
                _reconcile_one(session, provider, payment, now=now, timeout=timeout, report=report)
        except PaymentError:
            report.unreachable.append(payment.public_id)
    # Taken but not queued: the crash fell between "succeeded" and the ticket.
    orphans = (
        select(Payment)
        .join(Case, Case.id == Payment.case_id)
        .where(
            mine,
            Payment.status == P.SUCCEEDED,
            Case.status.in_([CaseStatus.AWAITING_PAYMENT, CaseStatus.PAID]),
            ~select(Ticket.id).where(Ticket.case_id == Payment.case_id).exists(),
        )
    )
    for payment in list(session.scalars(orphans)):
        report.checked += 1
        payment = lock_payment(session, payment.id)
        try:
            with session.begin_nested():
                settle_case(session, payment, actor=actor_for(provider), now=now)
        except DomainError:
            continue
        if session.scalars(select(Ticket.id).where(Ticket.case_id == payment.case_id)).first():
            report.tickets_issued.append(payment.public_id)
    if refund_window is not None:
        _reconcile_refunds(
            session,
            provider,
            now=now,
            window=refund_window,
            limit=refund_limit,
            after=refund_after,
            report=report,
            mine=mine,
        )
    session.flush()
    return report


def _of_device(provider: PaymentProvider, counter_code: str | None) -> Any:
    """The payments one provider object took: its name, and the counter whose device it is
    (the kiosk's provider: none)."""
    where_counter = (
        Payment.counter_code.is_(None)
        if counter_code is None
        else Payment.counter_code == counter_code
    )
    return (Payment.provider == provider.name) & where_counter


def _reconcile_refunds(
    session: Session,
    provider: PaymentProvider,
    *,
    now: datetime,
    window: timedelta,
    limit: int | None,
    after: int,
    report: ReconcileReport,
    mine: Any,
) -> None:
    refundable = (
        select(Payment)
        .where(
            mine,
            Payment.status.in_(REFUNDABLE),
            Payment.succeeded_at >= now - window,
            Payment.id > after,
        )
        .order_by(Payment.id)
        .limit(limit)
    )
    batch = list(session.scalars(refundable))
    if limit is not None and len(batch) == limit:
        report.refund_cursor = batch[-1].id
    for payment in batch:
        report.checked += 1
        try:
            with session.begin_nested():
                payment = lock_payment(session, payment.id)
                if apply_provider_refunds(session, provider, payment, now=now):
                    report.refunds_found.append(payment.public_id)
        except PaymentError:
            report.unreachable.append(payment.public_id)


class Reconciler:
    """Runs ``reconcile`` once at start-up and then every ``interval_s`` in its own thread
    (with its own sessions). Each run reads the refunds of at most ``refund_batch`` recent
    taken payments, in turns, so the provider requests per run stay bounded however many
    payments the window holds. ``stop`` ends it; errors are logged, never fatal."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        provider: PaymentProvider,
        *,
        interval_s: float,
        timeout_s: int,
        refund_batch: int = REFUND_BATCH,
        refund_window: timedelta = REFUND_WINDOW,
        on_report: Callable[[ReconcileReport], None] | None = None,
        counter_code: str | None = None,
    ) -> None:
        self.sessions, self.provider = sessions, provider
        self.counter_code = counter_code
        self.interval_s, self.timeout_s = interval_s, timeout_s
        self.refund_batch, self.refund_window = refund_batch, refund_window
        self.on_report = on_report
        self._refund_cursor = 0
        self._stop = threading.Event()
        name = "payments-reconciler" + (f"-counter-{counter_code}" if counter_code else "")
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def run_once(self) -> ReconcileReport:
        with transaction(self.sessions) as session:
            report = reconcile(
                session,
                self.provider,
                timeout_s=self.timeout_s,
                refund_window=self.refund_window,
                refund_limit=self.refund_batch,
                refund_after=self._refund_cursor,
                counter_code=self.counter_code,
            )
        self._refund_cursor = report.refund_cursor
        if report.repaired or report.tickets_issued or report.refunds_found:
            log.warning(report.line())
        if self.on_report:
            self.on_report(report)
        return report

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a bad run must not kill the thread; the next one retries
                log.exception("payment reconciliation failed")
            self._stop.wait(self.interval_s)

    def start(self) -> Reconciler:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        """True while the background thread is alive."""
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
