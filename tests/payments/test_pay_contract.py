"""Contract tests: the same behaviour from every PaymentProvider (sim, Stripe Terminal on the
stand-in, Stripe Checkout on the stand-in)."""

from __future__ import annotations

import secrets

import pytest

from payments.provider import (
    PaymentProvider,
    PaymentRequest,
    ProviderStatus,
    ProviderUnavailable,
    RefundNotAllowed,
)
from tests.payments.conftest import Resident, connection


def request(amount: int = 300) -> PaymentRequest:
    pid = f"pay_{secrets.token_hex(6)}"
    return PaymentRequest(pid, amount, "case-1", f"kiosk-{pid}", "住民票の写し")


def test_is_a_payment_provider(resident: Resident) -> None:
    """Every implementation satisfies the PaymentProvider protocol."""
    assert isinstance(resident.provider, PaymentProvider)
    assert resident.provider.name in ("sim", "stripe_terminal", "stripe_checkout")


def test_start_is_pending_for_the_amount_in_yen(resident: Resident) -> None:
    """A started payment is pending for exactly the amount in yen, with a provider id."""
    view = resident.provider.start(request(450))
    assert view.status is ProviderStatus.PENDING
    assert view.amount_yen == 450
    assert view.provider_ref
    if resident.provider.name == "stripe_checkout":
        assert view.display_url and view.provider_ref in view.display_url


def test_start_twice_with_one_key_is_one_payment(resident: Resident) -> None:
    """Repeating start with the same idempotency key returns the same object (no second charge)."""
    req = request()
    assert resident.provider.start(req).provider_ref == resident.provider.start(req).provider_ref


def test_recover_finds_what_start_created(resident: Resident) -> None:
    """recover (after a crash) finds the object start created for the same request."""
    req = request()
    first = resident.provider.start(req)
    assert resident.provider.recover(req).provider_ref == first.provider_ref


def test_paid_is_succeeded(resident: Resident) -> None:
    """After the resident pays, status reports succeeded with the full amount."""
    view = resident.provider.start(request(300))
    resident.pay(view)
    after = resident.provider.status(view.provider_ref)
    assert after.status is ProviderStatus.SUCCEEDED
    assert after.amount_yen == 300


def test_cancel_pending_is_cancelled(resident: Resident) -> None:
    """Cancelling a pending payment closes it unpaid, also when asked twice (Checkout can
    only say "expired" when re-read: Stripe keeps no cancelled state for sessions)."""
    closed = {ProviderStatus.CANCELLED, ProviderStatus.EXPIRED}
    view = resident.provider.start(request())
    assert resident.provider.cancel(view.provider_ref).status is ProviderStatus.CANCELLED
    assert resident.provider.cancel(view.provider_ref).status in closed
    assert resident.provider.status(view.provider_ref).status in closed


def test_cancel_after_payment_reports_succeeded(resident: Resident) -> None:
    """Cancelling a payment that was already taken reports succeeded (the money stays)."""
    view = resident.provider.start(request())
    resident.pay(view)
    assert resident.provider.cancel(view.provider_ref).status is ProviderStatus.SUCCEEDED


def test_refund_partial_then_rest_then_nothing_left(resident: Resident) -> None:
    """Refunds may be partial; more than what is left is RefundNotAllowed."""
    view = resident.provider.start(request(600))
    resident.pay(view)
    first = resident.provider.refund(view.provider_ref, 300, idempotency_key="r1", reason="x")
    assert first.amount_yen == 300 and first.refund_ref
    again = resident.provider.refund(view.provider_ref, 300, idempotency_key="r1", reason="x")
    assert again.refund_ref == first.refund_ref  # replayed, not a second refund
    resident.provider.refund(view.provider_ref, 300, idempotency_key="r2", reason="x")
    with pytest.raises(RefundNotAllowed):
        resident.provider.refund(view.provider_ref, 1, idempotency_key="r3", reason="x")


def test_refunds_lists_our_refunds_and_those_made_outside(resident: Resident) -> None:
    """refunds lists every refund of the payment, oldest first: ours and one made without
    the service (Stripe's Dashboard, the terminal's own menu); an unpaid payment has none."""
    assert resident.refund_outside is not None
    view = resident.provider.start(request(600))
    resident.pay(view)
    ours = resident.provider.refund(view.provider_ref, 100, idempotency_key="r1", reason="x")
    outside = resident.refund_outside(view.provider_ref, 200)
    listed = resident.provider.refunds(view.provider_ref)
    assert [(r.refund_ref, r.amount_yen) for r in listed] == [
        (ours.refund_ref, 100),
        (outside, 200),
    ]
    assert all(r.status == "succeeded" and r.gives_money_back for r in listed)
    unpaid = resident.provider.start(request())
    assert resident.provider.refunds(unpaid.provider_ref) == []


def test_refund_of_an_unpaid_payment_is_refused(resident: Resident) -> None:
    """Nothing can be refunded before the money was taken."""
    view = resident.provider.start(request())
    with pytest.raises(RefundNotAllowed):
        resident.provider.refund(view.provider_ref, 300, idempotency_key="r", reason="x")


def test_decline_is_failed_with_a_decline_code(resident: Resident) -> None:
    """A refused card makes the payment failed with a Stripe-like decline code."""
    if resident.decline is None:
        assert resident.provider.name == "stripe_checkout"  # phones show declines to the payer
        return
    view = resident.provider.start(request())
    resident.decline(view, "insufficient_funds")
    after = resident.provider.status(view.provider_ref)
    assert after.status is ProviderStatus.FAILED
    assert after.failure_code == "insufficient_funds"


def test_unreachable_provider_is_provider_unavailable(resident: Resident) -> None:
    """A provider that cannot be reached raises ProviderUnavailable, never a vendor error."""
    if resident.terminal is not None:
        resident.terminal.offline = True
        provider = resident.provider
    else:
        # A port nobody listens on: a real connection error through the real SDK.
        import socket

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        conn = connection(f"http://127.0.0.1:{port}")
        provider = type(resident.provider)(conn, **_kwargs(resident.provider))
    try:
        with pytest.raises(ProviderUnavailable):
            provider.start(request())
    finally:
        if provider is not resident.provider:
            provider.close()


def _kwargs(provider: PaymentProvider) -> dict[str, str]:
    if provider.name == "stripe_terminal":
        return {"reader_id": provider.reader_id, "webhook_secret": "x"}  # type: ignore[attr-defined]
    return {"webhook_secret": "x"}
