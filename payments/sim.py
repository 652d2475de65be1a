"""``KIOSK_PAYMENTS=sim``: the payment provider over the simulated terminal (hardware_sim),
handed over by the registry (``application.registry``).

Real code chosen by configuration (demos, staff training, CI, the embedded default): the
kiosk drives the same service and screens as with Stripe; a person at the simulator panel or
a test decides what the "resident" does. There are no webhooks: the kiosk polls ``status``,
and refunds made on the terminal itself are found by reconciliation (``refunds``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from payments.provider import (
    InvalidSignature,
    PaymentEvent,
    PaymentRequest,
    ProviderPayment,
    ProviderRefund,
    ProviderRejected,
    ProviderStatus,
    ProviderUnavailable,
    RefundNotAllowed,
)

T = TypeVar("T")


class TerminalPayment(Protocol):
    """A payment as the simulated terminal shows it (read-only: the terminal's own record)."""

    @property
    def ref(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def amount_yen(self) -> int: ...
    @property
    def method(self) -> str | None: ...
    @property
    def decline_code(self) -> str | None: ...
    @property
    def refunded_yen(self) -> int: ...


class TerminalRefund(Protocol):
    """A refund the simulated terminal gave."""

    @property
    def ref(self) -> str: ...
    @property
    def amount_yen(self) -> int: ...
    @property
    def status(self) -> str: ...


class SimulatedTerminalPort(Protocol):
    """The simulated terminal (``hardware_sim.terminal.SimulatedTerminal``) as this
    provider drives it; the registry hands it over, so ``payments`` never imports the
    simulator."""

    def put_amount(
        self, amount_yen: int, reference: str, idempotency_key: str, *, show: bool = True
    ) -> TerminalPayment: ...

    def get(self, ref: str) -> TerminalPayment: ...

    def cancel(self, ref: str) -> TerminalPayment: ...

    def refund(self, ref: str, amount_yen: int, idempotency_key: str) -> str: ...

    def refunds_of(self, ref: str) -> Sequence[TerminalRefund]: ...


@dataclass(frozen=True)
class TerminalFaults:
    """The simulated terminal's own exception types, mapped to provider errors."""

    offline: type[Exception]  # -> ProviderUnavailable
    unknown_payment: type[Exception]  # -> ProviderRejected
    refund_too_large: type[Exception]  # -> RefundNotAllowed


class SimulatedTerminalProvider:
    """PaymentProvider over the simulated terminal (see ``payments.provider``)."""

    name = "sim"

    def __init__(self, terminal: SimulatedTerminalPort, faults: TerminalFaults) -> None:
        self.terminal = terminal
        self.faults = faults

    def _view(self, payment: TerminalPayment) -> ProviderPayment:
        return ProviderPayment(
            provider_ref=payment.ref,
            status=ProviderStatus(payment.status),
            amount_yen=payment.amount_yen,
            method=payment.method,
            failure_code=payment.decline_code,
            amount_refunded_yen=payment.refunded_yen,
        )

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except self.faults.offline as e:
            raise ProviderUnavailable(str(e)) from e
        except self.faults.unknown_payment as e:
            raise ProviderRejected(f"unknown payment {e}") from e
        except self.faults.refund_too_large as e:
            raise RefundNotAllowed(str(e)) from e

    def start(self, request: PaymentRequest) -> ProviderPayment:
        payment = self._call(
            self.terminal.put_amount,
            request.amount_yen,
            request.reference,
            request.idempotency_key,
        )
        return self._view(payment)

    def recover(self, request: PaymentRequest) -> ProviderPayment:
        payment = self._call(
            self.terminal.put_amount,
            request.amount_yen,
            request.reference,
            request.idempotency_key,
            show=False,
        )
        return self._view(payment)

    def status(self, provider_ref: str) -> ProviderPayment:
        return self._view(self._call(self.terminal.get, provider_ref))

    def cancel(self, provider_ref: str) -> ProviderPayment:
        return self._view(self._call(self.terminal.cancel, provider_ref))

    def refund(
        self, provider_ref: str, amount_yen: int, *, idempotency_key: str, reason: str
    ) -> ProviderRefund:
        ref = self._call(self.terminal.refund, provider_ref, amount_yen, idempotency_key)
        return ProviderRefund(refund_ref=ref, amount_yen=amount_yen, status="succeeded")

    def refunds(self, provider_ref: str) -> list[ProviderRefund]:
        return [
            ProviderRefund(r.ref, r.amount_yen, r.status)
            for r in self._call(self.terminal.refunds_of, provider_ref)
        ]

    def parse_webhook(self, payload: bytes, signature: str | None) -> PaymentEvent:
        # The simulated terminal has no webhooks; anything posted claiming to be one is
        # refused exactly like a forged Stripe event.
        raise InvalidSignature("the simulated terminal sends no webhooks")

    def close(self) -> None:
        return None
