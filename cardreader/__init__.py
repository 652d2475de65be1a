"""Reading Japanese My Number cards through PC/SC (or an in-process simulated card)."""
