"""Cashless fee payment: the provider interface and its implementations (Stripe Terminal,
Stripe Checkout as a QR code, the simulated terminal). Which one runs is chosen by
``KIOSK_PAYMENTS`` in the registry (``application.registry``)."""
