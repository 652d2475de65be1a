"""Cashless fee payment: the provider interface and its implementations (Stripe Terminal,
Stripe Checkout as a QR code, the simulated terminal), chosen by ``KIOSK_PAYMENTS``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hardware_sim.terminal import SimulatedTerminal
    from kiosk.config import Settings
    from payments.provider import PaymentProvider


def make_provider(
    settings: Settings, *, terminal: SimulatedTerminal | None = None
) -> PaymentProvider:
    """The provider ``settings.payments`` names, built from configuration only (live Stripe
    is a different key, webhook secret, reader id and API base). ``terminal``: the
    simulated terminal to drive (``sim``; a new one when omitted). Close it at shutdown."""
    if settings.payments == "sim":
        from hardware_sim.terminal import SimulatedTerminal
        from payments.sim import SimulatedTerminalProvider

        return SimulatedTerminalProvider(
            terminal or SimulatedTerminal(auto=settings.sim_terminal_auto or None)
        )
    from payments.stripe_common import StripeConnection

    connection = StripeConnection(settings.stripe_api_key, settings.stripe_api_base)
    if settings.payments == "stripe_terminal":
        from payments.stripe_terminal import StripeTerminalProvider

        return StripeTerminalProvider(
            connection,
            reader_id=settings.stripe_reader_id,
            webhook_secret=settings.stripe_webhook_secret,
            location=settings.stripe_location,
        )
    from payments.stripe_checkout import StripeCheckoutProvider

    return StripeCheckoutProvider(
        connection,
        webhook_secret=settings.stripe_webhook_secret,
        return_url=settings.stripe_return_url,
    )
