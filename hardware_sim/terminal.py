"""A simulated card payment terminal that a person (simulator panel) or a test drives.

It behaves like a counter-top terminal in front of the resident: the kiosk puts an amount on
it, then the resident taps a card (``approve``), the card is refused (``decline`` with a
Stripe-like decline code), nobody does anything (``time_out``) or the resident presses the
terminal's cancel key (``resident_cancel``). Staff can also give money back on the
terminal's own menu (``refund_at_terminal``) without the kiosk knowing. ``auto`` makes it
answer by itself after ``auto_delay_s`` (demos, the benchmark). ``latency_s`` delays every
call like a network hop; ``offline`` makes every call fail like an unplugged terminal.

Thread-safe: the kiosk's request threads, a polling thread and the person at the simulator
panel may all call it at once. It keeps no card data: there is no card.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from dataclasses import dataclass, replace

# Stripe's decline codes that a test or a trainer may choose from.
DECLINE_CODES = (
    "card_declined",
    "insufficient_funds",
    "expired_card",
    "incorrect_pin",
    "do_not_honor",
    "lost_card",
    "stolen_card",
    "processing_error",
)


class TerminalError(Exception):
    """Root of the simulated terminal's errors."""


class TerminalOffline(TerminalError):
    """The terminal does not answer (cable pulled, network down)."""


class UnknownPayment(TerminalError):
    """No payment with that reference was ever put on this terminal."""


class RefundTooLarge(TerminalError):
    """More than the remaining amount was asked back, or the payment was not taken."""


@dataclass(frozen=True)
class TerminalPayment:
    """One amount put on the terminal. ``status``: pending | succeeded | failed | cancelled
    | expired (the same words as ``payments.provider.ProviderStatus``)."""

    ref: str
    amount_yen: int
    reference: str
    status: str = "pending"
    decline_code: str | None = None
    refunded_yen: int = 0
    method: str = "card_present"


@dataclass(frozen=True)
class TerminalRefund:
    """Money given back on one payment: by the kiosk (``refund``) or at the terminal itself
    (``refund_at_terminal``, the kiosk is not told)."""

    ref: str
    payment_ref: str
    amount_yen: int
    status: str = "succeeded"


class SimulatedTerminal:
    """See the module docstring. ``auto``: None (a person decides), ``"approve"``,
    ``"decline"`` or ``"decline:<code>"``, ``"time_out"``, ``"cancel"``."""

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        auto: str | None = None,
        auto_delay_s: float = 0.0,
        terminal_id: str = "sim-terminal-1",
    ) -> None:
        self.terminal_id = terminal_id
        self.latency_s = latency_s
        self.auto = auto
        self.auto_delay_s = auto_delay_s
        self.offline = False
        self._lock = threading.Lock()
        self._payments: dict[str, TerminalPayment] = {}
        self._by_key: dict[str, str] = {}
        self._refunds: dict[str, TerminalRefund] = {}  # by idempotency key
        self._current: str | None = None
        self._seq = itertools.count(1)
        self._changed = threading.Condition(self._lock)

    # --- what the kiosk (through payments.sim) calls ------------------------------------

    def _hop(self) -> None:
        if self.offline:
            raise TerminalOffline(f"terminal {self.terminal_id} does not answer")
        if self.latency_s:
            time.sleep(self.latency_s)

    def put_amount(
        self, amount_yen: int, reference: str, idempotency_key: str, *, show: bool = True
    ) -> TerminalPayment:
        """Show ``amount_yen`` to the resident (``show=False``: only create, for recovery).
        The same ``idempotency_key`` returns the same payment, never a second one."""
        if amount_yen <= 0:
            raise ValueError("amount must be a positive number of yen")
        self._hop()
        with self._lock:
            ref = self._by_key.get(idempotency_key)
            if ref is None:
                ref = f"simpay_{next(self._seq):06d}{secrets.token_hex(4)}"
                self._payments[ref] = TerminalPayment(ref, amount_yen, reference)
                self._by_key[idempotency_key] = ref
            payment = self._payments[ref]
            if show and payment.status == "pending":
                self._current = ref
                self._changed.notify_all()
        if show and self.auto:
            self._schedule_auto(ref)
        return payment

    def get(self, ref: str) -> TerminalPayment:
        """The payment's current state."""
        self._hop()
        with self._lock:
            return self._get(ref)

    def cancel(self, ref: str) -> TerminalPayment:
        """The kiosk withdraws the amount (time-out or cancel on the kiosk screen). A payment
        that already succeeded stays succeeded (the money was taken first)."""
        self._hop()
        return self._finish(ref, "cancelled")

    def refund(self, ref: str, amount_yen: int, idempotency_key: str) -> str:
        """Give back ``amount_yen`` of a succeeded payment; returns the refund reference."""
        self._hop()
        with self._lock:
            if idempotency_key in self._refunds:
                return self._refunds[idempotency_key].ref
            return self._give_back(ref, amount_yen, idempotency_key).ref

    def refunds_of(self, ref: str) -> list[TerminalRefund]:
        """Every refund of the payment ``ref``, oldest first, whoever made it."""
        self._hop()
        with self._lock:
            self._get(ref)
            return [r for r in self._refunds.values() if r.payment_ref == ref]

    # --- what a person or a test does at the terminal ----------------------------------------

    @property
    def current(self) -> TerminalPayment | None:
        """The pending payment shown on the terminal's screen, if any."""
        with self._lock:
            if self._current is None:
                return None
            payment = self._payments[self._current]
            return payment if payment.status == "pending" else None

    def approve(self, ref: str | None = None) -> TerminalPayment:
        """The resident taps a card and it is accepted."""
        return self._finish(self._target(ref), "succeeded")

    def decline(self, code: str = "card_declined", ref: str | None = None) -> TerminalPayment:
        """The card is refused with a Stripe-like decline ``code``."""
        if code not in DECLINE_CODES:
            raise ValueError(f"decline code {code!r}: expected one of {', '.join(DECLINE_CODES)}")
        return self._finish(self._target(ref), "failed", code)

    def time_out(self, ref: str | None = None) -> TerminalPayment:
        """Nobody presented a card in time."""
        return self._finish(self._target(ref), "expired")

    def resident_cancel(self, ref: str | None = None) -> TerminalPayment:
        """The resident pressed the terminal's cancel key."""
        return self._finish(self._target(ref), "cancelled")

    def refund_at_terminal(self, ref: str, amount_yen: int | None = None) -> TerminalRefund:
        """Staff refund ``amount_yen`` (default: all that is left) on the terminal's own
        menu, as with a card company's portal or Stripe's Dashboard: the kiosk is not told
        and must find it itself (``refunds_of``, through reconciliation). Raises
        RefundTooLarge."""
        with self._lock:
            payment = self._get(ref)
            left = payment.amount_yen - payment.refunded_yen
            amount = left if amount_yen is None else amount_yen
            return self._give_back(ref, amount, f"terminal-{secrets.token_hex(8)}")

    def wait_for_payment(self, timeout_s: float = 5.0) -> TerminalPayment:
        """Block until a pending payment is on the screen (tests driving the terminal from
        another thread); raises TimeoutError."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                if self._current and self._payments[self._current].status == "pending":
                    return self._payments[self._current]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no payment was put on the terminal")
                self._changed.wait(left)

    # --- internals -----------------------------------------------------------------------------

    def _get(self, ref: str) -> TerminalPayment:
        try:
            return self._payments[ref]
        except KeyError:
            raise UnknownPayment(ref) from None

    def _give_back(self, ref: str, amount_yen: int, key: str) -> TerminalRefund:
        payment = self._get(ref)
        left = payment.amount_yen - payment.refunded_yen
        if payment.status != "succeeded" or not 0 < amount_yen <= left:
            raise RefundTooLarge(f"{ref}: {amount_yen} yen asked back, {left} refundable")
        self._payments[ref] = replace(payment, refunded_yen=payment.refunded_yen + amount_yen)
        refund = TerminalRefund(f"simre_{secrets.token_hex(6)}", ref, amount_yen)
        self._refunds[key] = refund
        return refund

    def _target(self, ref: str | None) -> str:
        with self._lock:
            target = ref or self._current
        if target is None:
            raise UnknownPayment("no payment is on the terminal")
        return target

    def _finish(self, ref: str, status: str, code: str | None = None) -> TerminalPayment:
        with self._changed:
            payment = self._get(ref)
            # Only a pending payment changes: the first outcome wins, like a real terminal.
            if payment.status == "pending":
                payment = replace(payment, status=status, decline_code=code)
                self._payments[ref] = payment
                if self._current == ref:
                    self._current = None
            self._changed.notify_all()
            return payment

    def _schedule_auto(self, ref: str) -> None:
        auto = self.auto or ""

        def act() -> None:
            try:
                if auto == "approve":
                    self.approve(ref)
                elif auto.startswith("decline"):
                    self.decline(auto.partition(":")[2] or "card_declined", ref)
                elif auto == "time_out":
                    self.time_out(ref)
                elif auto == "cancel":
                    self.resident_cancel(ref)
            except TerminalError:
                pass  # the payment vanished (terminal reset): nothing to answer

        if self.auto_delay_s <= 0:
            act()
        else:
            timer = threading.Timer(self.auto_delay_s, act)
            timer.daemon = True
            timer.start()
