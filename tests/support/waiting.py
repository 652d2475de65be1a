"""Waiting for something another thread or process does, with a deadline (one helper for
every test instead of a hand-written loop in each)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class NotInTime(AssertionError):
    """The awaited condition did not come true before the deadline."""


def wait_until(
    probe: Callable[[], T],
    *,
    timeout_s: float = 5.0,
    interval_s: float = 0.02,
    message: str = "the condition",
) -> T:
    """Call ``probe`` until it returns something truthy, and return that; fail the test with
    ``message`` (``NotInTime``, an AssertionError) when ``timeout_s`` passes first. The probe
    is called at least once, and once more right at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise NotInTime(f"{message} did not happen within {timeout_s:g} s")
        time.sleep(interval_s)
