"""The payment provider seam: one Protocol, provider-neutral results and events, one error root.

A provider knows how to take money for one payment at one vendor (Stripe Terminal, Stripe
Checkout shown as a QR code, the simulated terminal). It knows nothing about cases, tickets or
the database: ``payments.states`` and the modules on it own our state and call the provider
with plain values.

All amounts are integer yen (JPY is zero-decimal: 300 yen is ``300``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


class PaymentError(Exception):
    """Root of every error a provider raises on purpose (vendor errors are wrapped)."""

    code: str = "payment_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class Declined(PaymentError):
    """The card or wallet was declined; ``code`` is a Stripe-like decline code."""

    code = "card_declined"


class ProviderUnavailable(PaymentError):
    """The provider cannot be reached or is rate limiting: route the resident to cash."""

    code = "provider_unavailable"


class InvalidSignature(PaymentError):
    """A webhook's signature is wrong, missing or too old; the body must be ignored."""

    code = "invalid_signature"


class MalformedEvent(PaymentError):
    """A webhook is validly signed but is not an event we can read (not JSON, fields missing
    or of the wrong type). The provider did send it: acknowledge it, change nothing."""

    code = "malformed_event"


class ProviderRejected(PaymentError):
    """The provider refused the request as invalid (our bug or a configuration error)."""

    code = "invalid_request"


class RefundNotAllowed(PaymentError):
    """The refund is larger than what is left, or the payment was never taken."""

    code = "refund_not_allowed"


class ProviderStatus(enum.Enum):
    """What the provider says about one payment, mapped to our vocabulary."""

    PENDING = "pending"  # created / on the terminal / QR shown, money not taken yet
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # declined or errored; nothing taken
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@dataclass(frozen=True)
class PaymentRequest:
    """What the service asks a provider to collect.

    ``idempotency_key`` is derived from our own payment id: sending the same request twice
    must never create a second charge. ``reference`` (e.g. ``case-42``) goes into the
    provider's metadata so a human can find the payment in the vendor's dashboard.
    """

    payment_id: str
    amount_yen: int
    reference: str
    idempotency_key: str
    description: str = ""
    language: str = "ja"


@dataclass(frozen=True)
class ProviderPayment:
    """A provider's view of one payment at one moment.

    ``provider_ref`` is the id we store (``pi_...``, ``cs_...``, ``simpay_...``);
    ``payment_intent_id`` is the PaymentIntent behind it when there is one (refunds use it).
    ``display_url`` is what the kiosk renders as a QR code (Checkout only).
    """

    provider_ref: str
    status: ProviderStatus
    amount_yen: int
    payment_intent_id: str | None = None
    method: str | None = None
    display_url: str | None = None
    failure_code: str | None = None
    amount_refunded_yen: int = 0


@dataclass(frozen=True)
class ProviderRefund:
    """A refund as the provider reports it (``re_...`` for Stripe, ``simre_...``).

    ``status`` uses Stripe's words: ``succeeded``, ``pending`` (money on its way back; it
    counts as refunded), ``requires_action``, ``failed``, ``canceled`` (nothing given back).
    """

    refund_ref: str
    amount_yen: int
    status: str

    @property
    def gives_money_back(self) -> bool:
        """True for a refund that has returned, or is returning, its amount."""
        return self.status in ("succeeded", "pending")


@dataclass(frozen=True)
class BalanceTransaction:
    """One movement of the provider account's balance (Stripe's balance transaction): a
    payment taken (``charge``/``payment``: ``amount_yen`` > 0) or a refund (< 0), with the
    provider's fee and the net that the payout brings. ``payment_intent_id`` /
    ``refund_ref`` name what it belongs to (from its source)."""

    id: str
    type: str
    amount_yen: int
    fee_yen: int
    net_yen: int
    created: datetime
    payment_intent_id: str | None = None
    refund_ref: str | None = None
    source: str = ""


class EventKind(enum.Enum):
    """Provider-neutral meaning of a webhook event."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REFUNDED = "refunded"  # the payment's refunds changed (any source): re-read them
    IGNORED = "ignored"  # verified, but nothing we act on


@dataclass(frozen=True)
class PaymentEvent:
    """One verified webhook event.

    ``event_id`` is the de-duplication key. ``provider_ref`` names the object we store
    (PaymentIntent or Checkout Session id); ``payment_id`` is our id from metadata when the
    provider echoed it. ``created`` is the provider's timestamp (seconds), for diagnostics
    only: ordering is decided by re-reading the object, never by timestamps.
    """

    event_id: str
    kind: EventKind
    provider_ref: str | None
    payment_id: str | None = None
    created: int = 0
    raw_type: str = ""
    failure_code: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class PaymentProvider(Protocol):
    """One way of taking a payment. Implementations: ``SimulatedTerminalProvider``,
    ``StripeTerminalProvider``, ``StripeCheckoutProvider``.

    Every method may block on the network for a bounded time. Every method wraps vendor
    errors: it raises only :class:`PaymentError` subclasses (``ProviderUnavailable`` for
    connection errors, time-outs and rate limits). No method touches the database, logs
    card data or sets global state (such as ``stripe.api_key``).
    """

    #: configuration name: ``sim`` | ``stripe_terminal`` | ``stripe_checkout``
    name: str

    def start(self, request: PaymentRequest) -> ProviderPayment:
        """Begin collecting ``request.amount_yen``: put it on the terminal or create the QR
        checkout. Called once per payment, after our Payment row is committed.

        Returns the provider's object, usually PENDING. Idempotent on
        ``request.idempotency_key``: a repeat returns the same object, never a second charge.
        Raises ProviderUnavailable (nothing was charged; the resident goes to cash),
        Declined (refused at once), ProviderRejected.
        """
        ...

    def recover(self, request: PaymentRequest) -> ProviderPayment:
        """Find the object ``start`` would have created for ``request`` (after a crash
        between calling ``start`` and storing its result), without starting anything on a
        terminal or screen. May create an inert object when ``start`` never reached the
        provider; the caller then cancels it. Raises ProviderUnavailable."""
        ...

    def status(self, provider_ref: str) -> ProviderPayment:
        """Re-read the provider's current state of ``provider_ref`` (polling fallback,
        reconciliation, out-of-order webhooks). Read-only. Raises ProviderUnavailable."""
        ...

    def cancel(self, provider_ref: str) -> ProviderPayment:
        """Stop a payment that has not completed: cancel the reader action and the
        PaymentIntent, or expire the Checkout Session. Returns the resulting state, which is
        SUCCEEDED when the money was taken first (the caller must then keep it, or refund).
        Idempotent on already cancelled payments. Raises ProviderUnavailable."""
        ...

    def refund(
        self, provider_ref: str, amount_yen: int, *, idempotency_key: str, reason: str
    ) -> ProviderRefund:
        """Give back ``amount_yen`` (all or part) of a succeeded payment. Idempotent on
        ``idempotency_key``. ``reason`` is staff text kept in our database; it is never
        sent to the provider (it may name the resident).
        Raises RefundNotAllowed, ProviderUnavailable."""
        ...

    def refunds(self, provider_ref: str) -> list[ProviderRefund]:
        """Every refund the provider holds for the payment ``provider_ref``, oldest first,
        whoever made it: this service (``refund``), staff in the vendor's dashboard or on
        the terminal's own menu, or the vendor itself. Called for refund webhooks and by
        reconciliation, to find refunds made outside the service. Read-only; one or two
        requests per call. An unpaid payment has none. Raises ProviderUnavailable."""
        ...

    def parse_webhook(self, payload: bytes, signature: str | None) -> PaymentEvent:
        """Verify ``payload`` (the raw request body, byte for byte) against ``signature``
        and turn it into a provider-neutral event. Raises InvalidSignature for a bad,
        missing or stale signature (nothing in it may be trusted). Pure: no network."""
        ...

    def close(self) -> None:
        """Release HTTP connections and threads. Called once at shutdown."""
        ...


@runtime_checkable
class DrivesAReader(Protocol):
    """A provider that drives a payment reader of this kiosk (Stripe Terminal): after a
    crash the reader may still be busy with an action nobody waits for any more, refusing
    the next resident's payment ("reader busy") until it is cancelled (issue 10: about
    5 minutes). Recovery (``application.recovery``) asks the provider to free it."""

    def release_reader(self, keep: frozenset[str] = frozenset()) -> str | None:
        """Cancel whatever the kiosk's reader is doing, unless it is collecting one of the
        payments in ``keep`` (provider refs of payments still in progress). Returns the
        provider ref (PaymentIntent id) of the action cancelled, or None when the reader
        was idle or busy with a kept payment. Never charges, never refunds.
        Raises ProviderUnavailable."""
        ...
