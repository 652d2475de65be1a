"""``KIOSK_PAYMENTS=stripe_terminal``: card-present payments on a Stripe Terminal reader,
server-driven (the kiosk's server tells the reader what to do; no Terminal SDK in the
browser).

Flow: create a PaymentIntent in JPY for ``card_present`` with our case reference and
payment id in metadata and our idempotency key; ``process_payment_intent`` on the kiosk's
reader; the outcome arrives as webhooks (``payment_intent.*``, ``terminal.reader.action_*``)
and, as a fallback, by polling ``status``; ``cancel`` cancels the reader action and the
PaymentIntent when the resident cancels or the kiosk times out. No offline mode: an
unreachable Stripe is ``ProviderUnavailable`` and the resident pays in cash.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from payments.provider import (
    BalanceTransaction,
    PaymentEvent,
    PaymentRequest,
    ProviderPayment,
    ProviderRefund,
    ProviderRejected,
)
from payments.stripe_common import (
    StripeConnection,
    call,
    intent_view,
    list_balance_transactions,
    list_refunds,
    parse_event,
    refund_payment_intent,
    value_of,
)


class StripeTerminalProvider:
    """PaymentProvider over Stripe Terminal (see ``payments.provider`` for the contract)."""

    name = "stripe_terminal"

    def __init__(
        self,
        connection: StripeConnection,
        *,
        reader_id: str,
        webhook_secret: str,
        location: str = "",
    ) -> None:
        if not reader_id:
            raise ValueError("a Terminal reader id is required (KIOSK_STRIPE_READER_ID)")
        self.connection = connection
        self.client = connection.client
        self.reader_id = reader_id
        self.location = location
        self.webhook_secret = webhook_secret

    def _create_intent(self, request: PaymentRequest) -> Any:
        params: dict[str, Any] = {
            "amount": request.amount_yen,
            "currency": "jpy",
            "payment_method_types": ["card_present"],
            "capture_method": "automatic",
            "description": request.description or request.reference,
            "metadata": {"case": request.reference, "payment_id": request.payment_id},
        }
        return call(
            "create PaymentIntent",
            self.client.v1.payment_intents.create,
            params=params,
            options={"idempotency_key": request.idempotency_key},
        )

    def start(self, request: PaymentRequest) -> ProviderPayment:
        pi = self._create_intent(request)
        if pi["status"] in ("requires_payment_method", "requires_confirmation"):
            # A separate key: replaying the create must not re-send the reader action, and a
            # replayed process call returns the first answer instead of "reader busy".
            call(
                "process_payment_intent",
                self.client.v1.terminal.readers.process_payment_intent,
                self.reader_id,
                params={"payment_intent": pi["id"]},
                options={"idempotency_key": f"{request.idempotency_key}-process"},
            )
        return intent_view(pi)

    def recover(self, request: PaymentRequest) -> ProviderPayment:
        # Within Stripe's 24 h idempotency window the same key replays the first create.
        return intent_view(self._create_intent(request))

    def _reader_failure(self, pi_id: str) -> str | None:
        reader = call("retrieve reader", self.client.v1.terminal.readers.retrieve, self.reader_id)
        action = reader["action"]
        if not action or action["status"] != "failed":
            return None
        ppi = action["process_payment_intent"]
        if ppi is None or ppi["payment_intent"] != pi_id:
            return None
        return action["failure_code"] or "reader_action_failed"

    def status(self, provider_ref: str) -> ProviderPayment:
        pi = call("retrieve PaymentIntent", self.client.v1.payment_intents.retrieve, provider_ref)
        failure = None
        if pi["status"] == "requires_payment_method" and not value_of(pi, "last_payment_error"):
            # The PaymentIntent alone cannot tell "waiting for a card" from "the reader gave
            # up" (time-out, resident cancelled on the reader): the reader action can.
            failure = self._reader_failure(pi["id"])
        return intent_view(pi, reader_failure=failure)

    def _reader_busy_with(self, pi_id: str) -> bool:
        reader = call("retrieve reader", self.client.v1.terminal.readers.retrieve, self.reader_id)
        action = reader["action"]
        return bool(
            action
            and action["status"] == "in_progress"
            and action["process_payment_intent"]
            and action["process_payment_intent"]["payment_intent"] == pi_id
        )

    def cancel(self, provider_ref: str) -> ProviderPayment:
        # cancel_action stops whatever the reader does now: only when it is this payment,
        # or reconciling an old payment would cancel the next resident's.
        if self._reader_busy_with(provider_ref):
            try:
                call("cancel_action", self.client.v1.terminal.readers.cancel_action, self.reader_id)
            except ProviderRejected:
                pass  # the action finished between the two calls
        try:
            pi = call("cancel PaymentIntent", self.client.v1.payment_intents.cancel, provider_ref)
        except ProviderRejected:
            # Succeeded (or already cancelled) before we got there: report what it is.
            return self.status(provider_ref)
        return intent_view(pi)

    def release_reader(self, keep: frozenset[str] = frozenset()) -> str | None:
        """See ``payments.provider.DrivesAReader``: ``cancel_action`` on this kiosk's reader
        when it is busy with a PaymentIntent not in ``keep``."""
        reader = call("retrieve reader", self.client.v1.terminal.readers.retrieve, self.reader_id)
        action = reader["action"]
        if not action or action["status"] != "in_progress":
            return None
        process = value_of(action, "process_payment_intent") or {}
        busy_with = value_of(process, "payment_intent")
        if busy_with in keep:
            return None
        try:
            call("cancel_action", self.client.v1.terminal.readers.cancel_action, self.reader_id)
        except ProviderRejected:
            return None  # the action finished between the two calls
        return str(busy_with or action["type"])

    def refund(
        self, provider_ref: str, amount_yen: int, *, idempotency_key: str, reason: str
    ) -> ProviderRefund:
        return refund_payment_intent(self.client, provider_ref, amount_yen, idempotency_key)

    def refunds(self, provider_ref: str) -> list[ProviderRefund]:
        return list_refunds(self.client, provider_ref)

    def balance_transactions(self, start: datetime, end: datetime) -> list[BalanceTransaction]:
        """The Stripe account's balance transactions in [start, end) (``payments.balance``)."""
        return list_balance_transactions(self.client, start, end)

    def parse_webhook(self, payload: bytes, signature: str | None) -> PaymentEvent:
        return parse_event(self.client, payload, signature, self.webhook_secret)

    def close(self) -> None:
        self.connection.close()
