"""What both Stripe providers share: the injected client, error wrapping, webhook parsing.

The client is always built from configuration (``stripe.StripeClient(api_key,
base_addresses={"api": ...})``); nothing here touches ``stripe.api_key``. Switching from
the local stand-in to live Stripe is a different key, webhook secret and API base.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
import stripe
from stripe.params import BalanceTransactionListParams

from payments.provider import (
    BalanceTransaction,
    Declined,
    EventKind,
    InvalidSignature,
    MalformedEvent,
    PaymentError,
    PaymentEvent,
    ProviderPayment,
    ProviderRefund,
    ProviderRejected,
    ProviderStatus,
    ProviderUnavailable,
    RefundNotAllowed,
)

DEFAULT_API_BASE = "https://api.stripe.com"
WEBHOOK_TOLERANCE_S = 300  # Stripe's default: older signatures are replays
# ... and signatures dated further ahead than this are refused too: Stripe's library checks
# only the past, so a body signed for a future instant would stay replayable until then
# (a minute covers any honest difference between Stripe's clock and ours).
WEBHOOK_FUTURE_SKEW_S = 60
HTTP_TIMEOUT_S = 15.0
# Reader states that mean "try again later or pay in cash", not "your card was refused".
_UNAVAILABLE_CODES = {
    "terminal_reader_offline",
    "terminal_reader_busy",
    "terminal_reader_timeout",
    "lock_timeout",
    "rate_limit",
}
_REFUND_CODES = {"charge_already_refunded", "amount_too_large"}
# What Stripe sends when a charge is refunded, fully or in part, from the API, the Dashboard
# or by Stripe itself: ``charge.refunded`` (the charge, without refund ids), and since API
# version 2024-10-28.acacia ``refund.created`` / ``refund.updated`` / ``refund.failed`` for
# every refund (the refund itself). ``charge.refund.updated`` is the older name of the
# status change. Any of them is enough: each makes the service re-read the refunds.
_REFUND_EVENTS = frozenset(
    {
        "charge.refunded",
        "charge.refund.updated",
        "refund.created",
        "refund.updated",
        "refund.failed",
    }
)

T = TypeVar("T")


class StripeConnection:
    """One StripeClient with an HTTP session we own (closed by ``close``, so no socket is
    left for the garbage collector to warn about)."""

    def __init__(
        self, api_key: str, api_base: str = DEFAULT_API_BASE, *, max_network_retries: int = 1
    ) -> None:
        if not api_key:
            raise ValueError("a Stripe secret key is required (KIOSK_STRIPE_API_KEY)")
        self._session = requests.Session()
        self._http = stripe.RequestsClient(session=self._session, timeout=HTTP_TIMEOUT_S)
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base},
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    def close(self) -> None:
        self._http.close()
        self._session.close()


@contextmanager
def wrapped(action: str) -> Iterator[None]:
    """Turn stripe-python's exceptions into our PaymentError family (``raise ... from e``)."""
    try:
        yield
    except PaymentError:
        raise
    except stripe.CardError as e:
        raise Declined(f"{action}: declined", code=e.code or "card_declined") from e
    except (stripe.APIConnectionError, stripe.RateLimitError) as e:
        raise ProviderUnavailable(f"{action}: Stripe cannot be reached ({type(e).__name__})") from e
    except stripe.InvalidRequestError as e:
        if e.code in _UNAVAILABLE_CODES:
            raise ProviderUnavailable(f"{action}: {e.code}", code=e.code) from e
        if e.code in _REFUND_CODES:
            raise RefundNotAllowed(f"{action}: {e.code}", code=e.code) from e
        raise ProviderRejected(f"{action}: {e.code or 'invalid request'}", code=e.code) from e
    except stripe.AuthenticationError as e:
        raise ProviderRejected(f"{action}: Stripe refused the API key", code="auth") from e
    except stripe.StripeError as e:
        # 5xx and anything unexpected from Stripe's side: retryable, not the resident's fault.
        raise ProviderUnavailable(f"{action}: Stripe error {e.http_status}") from e


def call(action: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    with wrapped(action):
        return fn(*args, **kwargs)


def value_of(obj: Any, key: str, default: Any = None) -> Any:
    try:
        value = obj[key]
    except (KeyError, TypeError):
        return default
    return default if value is None else value


def intent_view(
    pi: Any,
    *,
    provider_ref: str | None = None,
    display_url: str | None = None,
    reader_failure: str | None = None,
) -> ProviderPayment:
    """A PaymentIntent as a ProviderPayment. ``requires_payment_method`` after an error
    (or a failed reader action) is FAILED: the attempt is over, nothing was taken."""
    status = pi["status"]
    error = value_of(pi, "last_payment_error")
    failure = None
    if status == "succeeded":
        mapped = ProviderStatus.SUCCEEDED
    elif status == "canceled":
        mapped = ProviderStatus.CANCELLED
    elif status == "requires_payment_method" and (error or reader_failure):
        mapped = ProviderStatus.FAILED
        failure = (
            (value_of(error, "decline_code") or value_of(error, "code"))
            if error
            else reader_failure
        )
    else:
        mapped = ProviderStatus.PENDING
    types = value_of(pi, "payment_method_types", [])
    return ProviderPayment(
        provider_ref=provider_ref or pi["id"],
        status=mapped,
        amount_yen=int(pi["amount"]),
        payment_intent_id=pi["id"],
        method=types[0] if len(types) == 1 else None,
        display_url=display_url,
        failure_code=failure,
        amount_refunded_yen=int(value_of(pi, "amount_refunded", 0)),
    )


def signature_time(signature: str | None) -> int | None:
    """The signing time (``t=``) of a ``Stripe-Signature`` header, the first one as Stripe's
    library reads it; None when there is none or it is not a number."""
    for item in (signature or "").split(","):
        key, _, value = item.partition("=")
        if key.strip() == "t":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def verify_signature(
    payload: bytes, signature: str | None, secret: str, *, now: float | None = None
) -> None:
    """Check a webhook's ``Stripe-Signature``: an HMAC of ``secret`` over the exact body,
    signed at most :data:`WEBHOOK_TOLERANCE_S` ago and at most :data:`WEBHOOK_FUTURE_SKEW_S`
    ahead. Raises InvalidSignature otherwise."""
    if not secret:
        raise InvalidSignature("no webhook secret configured (KIOSK_STRIPE_WEBHOOK_SECRET)")
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, WEBHOOK_TOLERANCE_S)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as e:
        raise InvalidSignature(f"webhook rejected: {type(e).__name__}") from e
    signed_at = signature_time(signature)
    current = time.time() if now is None else now
    if signed_at is None or signed_at > current + WEBHOOK_FUTURE_SKEW_S:
        raise InvalidSignature("webhook rejected: signed in the future")


def parse_event(
    client: stripe.StripeClient, payload: bytes, signature: str | None, secret: str
) -> PaymentEvent:
    """Verify the signature (:func:`verify_signature`), then map the event to our
    vocabulary. A validly signed body that is not an event we can read (not JSON, no id,
    a payment intent without an id, ...) raises MalformedEvent: Stripe sent it, so it is
    acknowledged, and nothing is changed for it."""
    verify_signature(payload, signature, secret)
    try:
        event = client.construct_event_without_verification(payload)
        return _event_of(event)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        raise MalformedEvent(f"signed webhook not understood: {type(e).__name__}") from e


def _event_of(event: Any) -> PaymentEvent:
    if not (isinstance(event.id, str) and 0 < len(event.id) <= 128):
        raise ValueError("an event needs an id (at most 128 characters)")
    if not isinstance(event.type, str):
        raise ValueError("an event needs a type")
    obj = event.data.object
    type_ = event.type
    kind, ref, failure = EventKind.IGNORED, None, None
    extra: dict[str, str] = {}
    metadata = value_of(obj, "metadata", {}) or {}
    if type_.startswith("payment_intent."):
        ref = obj["id"]
        kind = {
            "payment_intent.succeeded": EventKind.SUCCEEDED,
            "payment_intent.payment_failed": EventKind.FAILED,
            "payment_intent.canceled": EventKind.CANCELLED,
            "payment_intent.processing": EventKind.PENDING,
        }.get(type_, EventKind.IGNORED)
        error = value_of(obj, "last_payment_error")
        if error:
            failure = value_of(error, "decline_code") or value_of(error, "code")
    elif type_ in _REFUND_EVENTS:
        # The event only says "refunds of this PaymentIntent changed": the service re-reads
        # them (``refunds``), so order, duplicates and which of the events came are moot.
        ref, kind = value_of(obj, "payment_intent"), EventKind.REFUNDED
        if value_of(obj, "object") == "refund":
            extra = {"refund": obj["id"]}
    elif type_.startswith("terminal.reader.action_"):
        action = value_of(obj, "action") or {}
        ref = value_of(value_of(action, "process_payment_intent", {}), "payment_intent")
        if type_ == "terminal.reader.action_failed":
            kind, failure = EventKind.FAILED, value_of(action, "failure_code")
    elif type_.startswith("checkout.session."):
        ref = obj["id"]
        paid = value_of(obj, "payment_status") == "paid"
        kind = {
            "checkout.session.completed": EventKind.SUCCEEDED if paid else EventKind.PENDING,
            "checkout.session.async_payment_succeeded": EventKind.SUCCEEDED,
            "checkout.session.async_payment_failed": EventKind.FAILED,
            "checkout.session.expired": EventKind.EXPIRED,
        }.get(type_, EventKind.IGNORED)
    payment_id = value_of(metadata, "payment_id")
    for text in (ref, payment_id, failure, *extra.values()):
        if text is not None and not (isinstance(text, str) and len(text) <= 255):
            raise TypeError("an id or code of the event is not a short string")
    return PaymentEvent(
        event_id=event.id,
        kind=kind,
        provider_ref=ref,
        payment_id=payment_id,
        created=int(value_of(event, "created", 0)),
        raw_type=type_,
        failure_code=failure,
        extra=extra,
    )


def refund_payment_intent(
    client: stripe.StripeClient, payment_intent_id: str, amount_yen: int, idempotency_key: str
) -> ProviderRefund:
    """Refund ``amount_yen`` of a succeeded PaymentIntent (Refunds API, after capture).

    The staff's reason stays in our database: Stripe's ``reason`` only takes its own codes.
    """
    refund = call(
        "create refund",
        client.v1.refunds.create,
        params={"payment_intent": payment_intent_id, "amount": amount_yen},
        options={"idempotency_key": idempotency_key},
    )
    return ProviderRefund(refund["id"], int(refund["amount"]), refund["status"])


def list_refunds(client: stripe.StripeClient, payment_intent_id: str) -> list[ProviderRefund]:
    """Every refund of a PaymentIntent, oldest first (Stripe lists newest first), whoever
    made it. One request for up to 100 refunds; more pages are followed."""
    with wrapped("list refunds"):
        page = client.v1.refunds.list(params={"payment_intent": payment_intent_id, "limit": 100})
        found = list(page.auto_paging_iter())
    found.reverse()  # Stripe lists newest first; ids are random, so keep its order
    found.sort(key=lambda r: int(value_of(r, "created", 0)))
    return [ProviderRefund(r["id"], int(r["amount"]), r["status"]) for r in found]


def list_balance_transactions(
    client: stripe.StripeClient, start: datetime, end: datetime
) -> list[BalanceTransaction]:
    """The account's balance transactions created in [``start``, ``end``), oldest first,
    with the charge or refund behind each (``expand[]=data.source``, so each names its
    PaymentIntent or refund id). Pages of 100 are followed."""
    params: BalanceTransactionListParams = {
        "created": {"gte": int(start.timestamp()), "lt": int(end.timestamp())},
        "limit": 100,
        "expand": ["data.source"],
    }
    with wrapped("list balance transactions"):
        page = client.v1.balance_transactions.list(params=params)
        found = list(page.auto_paging_iter())
    result = []
    for txn in found:
        source = value_of(txn, "source")
        source_id = value_of(source, "id") if not isinstance(source, str) else source
        kind = value_of(source, "object") if not isinstance(source, str) else ""
        result.append(
            BalanceTransaction(
                id=txn["id"],
                type=txn["type"],
                amount_yen=int(txn["amount"]),
                fee_yen=int(value_of(txn, "fee", 0)),
                net_yen=int(value_of(txn, "net", 0)),
                created=datetime.fromtimestamp(int(txn["created"]), UTC),
                payment_intent_id=value_of(source, "payment_intent") if kind else None,
                refund_ref=source_id if kind == "refund" else None,
                source=source_id or "",
            )
        )
    result.sort(key=lambda t: t.created)
    return result


class StripeAccountBalance:
    """The Stripe account's balance transactions (``payments.balance.BalanceSource``) for
    ``kiosk ledger reconcile``: one account serves the kiosks' and the counters' providers."""

    def __init__(self, connection: StripeConnection) -> None:
        self.connection = connection

    def balance_transactions(self, start: datetime, end: datetime) -> list[BalanceTransaction]:
        return list_balance_transactions(self.connection.client, start, end)

    def close(self) -> None:
        self.connection.close()
