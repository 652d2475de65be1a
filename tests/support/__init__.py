"""Test support that never ships in the product: the stand-in of Stripe's HTTP API, the
throwaway PostgreSQL cluster, and waiting for something to happen in another thread or
process (:func:`tests.support.waiting.wait_until`)."""
