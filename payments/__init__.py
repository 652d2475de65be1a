"""Cashless fee payment: provider interface and implementations (Stripe Terminal, Checkout QR, simulated)."""
