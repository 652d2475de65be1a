"""Stand-ins for the outside world: the My Number card, its reader (vpcd), the payment terminal."""
