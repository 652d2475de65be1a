"""``KIOSK_PAYMENTS=stripe_checkout``: the resident pays on their own phone.

One Checkout Session per payment (card and PayPay, JPY, ``expires_at`` 30 minutes), its URL
shown on the kiosk as a QR code (``display_url``). Completion and expiry arrive as
``checkout.session.*`` webhooks, with ``status`` (retrieve) as the fallback; ``cancel``
expires the session when the kiosk session ends.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from payments.provider import (
    BalanceTransaction,
    PaymentEvent,
    PaymentRequest,
    ProviderPayment,
    ProviderRefund,
    ProviderRejected,
    ProviderStatus,
    RefundNotAllowed,
)
from payments.stripe_common import (
    StripeConnection,
    call,
    list_balance_transactions,
    list_refunds,
    parse_event,
    refund_payment_intent,
    value_of,
)

# Stripe accepts 30 minutes to 24 hours; a minute more than the minimum so that clock skew
# between us and Stripe cannot make the request invalid.
SESSION_LIFETIME_S = 30 * 60 + 60
METHODS = ["card", "paypay"]
_LOCALES = {"ja": "ja", "en": "en", "zh-Hans": "zh", "ko": "ko"}


class StripeCheckoutProvider:
    """PaymentProvider over Stripe Checkout Sessions (see ``payments.provider``)."""

    name = "stripe_checkout"

    def __init__(
        self,
        connection: StripeConnection,
        *,
        webhook_secret: str,
        return_url: str = "http://localhost/pay/done",
    ) -> None:
        self.connection = connection
        self.client = connection.client
        self.webhook_secret = webhook_secret
        self.return_url = return_url

    def _session(self, request: PaymentRequest) -> Any:
        metadata = {"case": request.reference, "payment_id": request.payment_id}
        params: dict[str, Any] = {
            "mode": "payment",
            "currency": "jpy",
            "payment_method_types": METHODS,
            "line_items": [
                {
                    "price_data": {
                        "currency": "jpy",
                        "unit_amount": request.amount_yen,
                        "product_data": {"name": request.description or request.reference},
                    },
                    "quantity": 1,
                }
            ],
            "expires_at": int(time.time()) + SESSION_LIFETIME_S,
            "client_reference_id": request.reference,
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "locale": _LOCALES.get(request.language, "auto"),
            "success_url": self.return_url,
            "cancel_url": self.return_url,
        }
        return call(
            "create Checkout Session",
            self.client.v1.checkout.sessions.create,
            params=params,
            options={"idempotency_key": request.idempotency_key},
        )

    def _view(self, session: Any) -> ProviderPayment:
        status, paid = session["status"], session["payment_status"] == "paid"
        if status == "complete" and paid:
            mapped = ProviderStatus.SUCCEEDED
        elif status == "expired":
            mapped = ProviderStatus.EXPIRED
        else:
            mapped = ProviderStatus.PENDING
        refunded = 0
        method = None
        pi_id = session["payment_intent"]
        if isinstance(pi_id, str) and mapped is ProviderStatus.SUCCEEDED:
            pi = call("retrieve PaymentIntent", self.client.v1.payment_intents.retrieve, pi_id)
            types = pi["payment_method_types"] or []
            method = types[0] if len(types) == 1 else None
            refunded = int(value_of(pi, "amount_refunded", 0))
        return ProviderPayment(
            provider_ref=session["id"],
            status=mapped,
            amount_yen=int(session["amount_total"]),
            payment_intent_id=pi_id if isinstance(pi_id, str) else None,
            method=method,
            display_url=session["url"],
            amount_refunded_yen=refunded,
        )

    def start(self, request: PaymentRequest) -> ProviderPayment:
        return self._view(self._session(request))

    def recover(self, request: PaymentRequest) -> ProviderPayment:
        # The same idempotency key replays the first create; nothing is shown anywhere.
        return self._view(self._session(request))

    def status(self, provider_ref: str) -> ProviderPayment:
        session = call(
            "retrieve Checkout Session", self.client.v1.checkout.sessions.retrieve, provider_ref
        )
        return self._view(session)

    def cancel(self, provider_ref: str) -> ProviderPayment:
        try:
            session = call(
                "expire Checkout Session", self.client.v1.checkout.sessions.expire, provider_ref
            )
        except ProviderRejected:
            return self.status(provider_ref)  # completed (paid) or expired first
        # An expired-by-us session is a cancellation from the kiosk's point of view.
        view = self._view(session)
        if view.status is ProviderStatus.EXPIRED:
            return ProviderPayment(**{**view.__dict__, "status": ProviderStatus.CANCELLED})
        return view

    def refund(
        self, provider_ref: str, amount_yen: int, *, idempotency_key: str, reason: str
    ) -> ProviderRefund:
        view = self.status(provider_ref)
        if view.payment_intent_id is None or view.status is not ProviderStatus.SUCCEEDED:
            raise RefundNotAllowed(f"{provider_ref} was not paid")
        return refund_payment_intent(
            self.client, view.payment_intent_id, amount_yen, idempotency_key
        )

    def refunds(self, provider_ref: str) -> list[ProviderRefund]:
        session = call(
            "retrieve Checkout Session", self.client.v1.checkout.sessions.retrieve, provider_ref
        )
        pi_id = session["payment_intent"]
        if not isinstance(pi_id, str):
            return []  # never paid: nothing to refund
        return list_refunds(self.client, pi_id)

    def balance_transactions(self, start: datetime, end: datetime) -> list[BalanceTransaction]:
        """The Stripe account's balance transactions in [start, end) (``payments.balance``)."""
        return list_balance_transactions(self.client, start, end)

    def parse_webhook(self, payload: bytes, signature: str | None) -> PaymentEvent:
        return parse_event(self.client, payload, signature, self.webhook_secret)

    def close(self) -> None:
        self.connection.close()
