"""Fault injection for the simulated card: pull it out, slow it down, garble or hang it.

One :class:`FaultPlan` is shared between whoever sets faults (a test, the simulator panel)
and whoever carries APDUs (:class:`FaultyCard` in-process, or
:class:`hardware_sim.vpcd.VirtualCardClient` over pcscd). It can be changed at any time
from any thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class ApduProcessor(Protocol):
    """Structural twin of ``cardreader.transport.ApduProcessor`` (hardware_sim never imports it)."""

    def process_apdu(self, apdu: bytes) -> bytes: ...

    def reset(self) -> bytes: ...


@dataclass(frozen=True)
class FaultDecision:
    """What the carrier must do with the APDU it is about to deliver."""

    remove: bool
    delay_s: float
    corrupt: bool


class FaultPlan:
    """Faults to inject, changeable at run time; thread-safe.

    * ``remove_after``: N -> the card answers N more APDUs, then is pulled out instead of
      answering the next one (one-shot: the setting clears itself when it fires). Setting it
      restarts the count.
    * ``delay_s``: sleep this long before answering each APDU.
    * ``corrupt``: flip (XOR ``FF``) the middle byte of the data part of each response;
      responses that are only SW1 SW2 pass unchanged.
    * ``hang``: stop answering until ``hang`` is cleared or the card is pulled.
    """

    def __init__(
        self,
        remove_after: int | None = None,
        delay_s: float = 0.0,
        corrupt: bool = False,
        hang: bool = False,
    ) -> None:
        self._cond = threading.Condition()
        self._remove_after = remove_after
        self._delay_s = delay_s
        self._corrupt = corrupt
        self._hang = hang
        self._count = 0

    def set(self, **changes: object) -> None:
        """Change several settings at once, e.g. ``plan.set(delay_s=0.2, corrupt=True)``."""
        allowed = {"remove_after", "delay_s", "corrupt", "hang"}
        unknown = set(changes) - allowed
        if unknown:
            raise TypeError(f"unknown fault settings {sorted(unknown)}")
        with self._cond:
            for name, value in changes.items():
                setattr(self, f"_{name}", value)
            if "remove_after" in changes:
                self._count = 0
            self._cond.notify_all()

    def clear(self) -> None:
        """Remove every fault."""
        self.set(remove_after=None, delay_s=0.0, corrupt=False, hang=False)

    @property
    def remove_after(self) -> int | None:
        """APDUs still answered before the card is pulled (None: never)."""
        with self._cond:
            return self._remove_after

    @remove_after.setter
    def remove_after(self, value: int | None) -> None:
        self.set(remove_after=value)

    @property
    def delay_s(self) -> float:
        """Delay before each answer, in seconds."""
        with self._cond:
            return self._delay_s

    @delay_s.setter
    def delay_s(self, value: float) -> None:
        self.set(delay_s=value)

    @property
    def corrupt(self) -> bool:
        """Whether response data is garbled."""
        with self._cond:
            return self._corrupt

    @corrupt.setter
    def corrupt(self, value: bool) -> None:
        self.set(corrupt=value)

    @property
    def hang(self) -> bool:
        """Whether the card has stopped answering."""
        with self._cond:
            return self._hang

    @hang.setter
    def hang(self, value: bool) -> None:
        self.set(hang=value)

    def before_apdu(self) -> FaultDecision:
        """Called by a carrier once per command APDU; counts it and says what to do."""
        with self._cond:
            self._count += 1
            remove = self._remove_after is not None and self._count > self._remove_after
            if remove:
                self._remove_after = None
            return FaultDecision(remove, self._delay_s, self._corrupt)

    def wait_while_hung(self, pulled: Callable[[], bool], poll_s: float = 0.05) -> None:
        """Block while ``hang`` is set, returning early once ``pulled()`` becomes true."""
        with self._cond:
            while self._hang and not pulled():
                self._cond.wait(poll_s)

    @staticmethod
    def corrupt_response(response: bytes) -> bytes:
        """Flip the middle byte of the data part; an SW-only response is left alone."""
        if len(response) <= 2:
            return response
        data = bytearray(response[:-2])
        data[len(data) // 2] ^= 0xFF
        return bytes(data) + response[-2:]


class FaultyCard:
    """Wraps an APDU processor with a :class:`FaultPlan`; itself an ``ApduProcessor``.

    When the plan pulls the card, this APDU and every later call (``process_apdu`` and
    ``reset``) raise the builtin :class:`ConnectionError`, as a removed card does for
    ``cardreader``'s DirectTransport, until :meth:`reinsert`. :meth:`remove` pulls the card
    from another thread, also waking a hung exchange.
    """

    def __init__(self, card: ApduProcessor, plan: FaultPlan | None = None) -> None:
        self.card = card
        self.plan = plan if plan is not None else FaultPlan()
        self._pulled = threading.Event()

    @property
    def removed(self) -> bool:
        """True once the card has been pulled (by the plan or by :meth:`remove`)."""
        return self._pulled.is_set()

    def remove(self) -> None:
        """Pull the card out now."""
        self._pulled.set()

    def reinsert(self) -> bytes:
        """Put the card back (volatile state reset); returns the ATR."""
        self._pulled.clear()
        return self.card.reset()

    def reset(self) -> bytes:
        """Reset the card; ConnectionError if it has been pulled."""
        if self.removed:
            raise ConnectionError("card removed")
        return self.card.reset()

    def process_apdu(self, apdu: bytes) -> bytes:
        """Deliver one APDU through the fault plan; ConnectionError if the card is gone."""
        if self.removed:
            raise ConnectionError("card removed")
        decision = self.plan.before_apdu()
        if decision.remove:
            self._pulled.set()
            raise ConnectionError("card removed (fault injection)")
        self.plan.wait_while_hung(self._pulled.is_set)
        if self.removed:
            raise ConnectionError("card removed while not answering")
        if decision.delay_s > 0:
            time.sleep(decision.delay_s)
        response = self.card.process_apdu(apdu)
        return FaultPlan.corrupt_response(response) if decision.corrupt else response
