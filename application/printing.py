"""The kiosk's printing: tickets (and receipts) printed in the background, never inside a
request.

Drawing a ticket takes about 50 ms and printing it up to seconds (a ticket is 30 to 65 KB of
raster: a serial printer at 19200 baud needs half a minute), so a request only hands the job
over: :meth:`PrintService.ticket_issued` puts the ticket's token on a queue, and one worker
thread draws the pages (:class:`Printouts`, given by the front end, whose words and fonts
they are) and sends them to the printer (``application.printer.TicketPrinter``), one job
after the other, like the printer itself works.

Each ticket's printing has a state the kiosk's ticket screen follows
(:meth:`PrintService.state`): ``queued``, ``printing``, ``printed`` or ``failed`` with the
printer's reason (``paper_out``, ``cover_open``, ``printer_offline``,
``printer_unreachable``): then the screen tells the resident to photograph the QR code or ask
staff, and ``on_problem`` is told (the composition root raises a call for staff, so someone
brings paper). :meth:`PrintService.health` asks the printer how it is within a short time, for
``/healthz``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from application.printer import PrinterError, PrinterStatus, TicketPrinter

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

KEEP_STATES = 200  # tickets whose printing state is remembered (a day's worth at one kiosk)
MAX_QUEUED = 20  # jobs waiting; beyond, a ticket is not printed (the screen says so)
MAX_PRINTS = 3  # a ticket is printed at most this often (the first time and two reprints)


class Printouts(Protocol):
    """Draws what a ticket's printing puts on paper (the front end's: its words, fonts and
    layout). Called on the print worker's thread, never inside a request."""

    def visit_pages(self, ticket_token: str) -> list[Image.Image]:
        """The pages for the ticket ``ticket_token``, in its resident's language: the ticket,
        and the receipt when a fee was paid. Each a mode "1" image as wide as the printer's
        paper. Raises anything for a ticket that cannot be drawn (the job then fails as
        ``render_failed``)."""
        ...


@dataclass(frozen=True)
class PrintState:
    """Where a ticket's printing is: ``none`` (never asked), ``queued``, ``printing``,
    ``printed``, ``failed`` (``problem``: the printer error's code, ``queue_full`` or
    ``render_failed``). ``prints``: how often it was printed or tried."""

    state: str
    problem: str | None = None
    prints: int = 0

    @property
    def may_print_again(self) -> bool:
        return self.state in ("printed", "failed", "none") and self.prints < MAX_PRINTS


@dataclass(frozen=True)
class PrinterHealth:
    """For ``/healthz``: whether the printer can print now (``ok``), what it said
    (``status``) or why it could not be asked (``problem``), and the jobs waiting."""

    ok: bool
    status: PrinterStatus | None
    problem: str | None
    queued: int

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "status": self.status.to_json() if self.status is not None else None,
            "problem": self.problem,
            "queued": self.queued,
        }


class PrintService:
    """The kiosk's ticket printer with its background queue (see the module docstring).
    Thread-safe. ``start()`` starts the worker; ``close()`` stops it (a job being printed
    finishes) and releases the printer."""

    def __init__(
        self,
        printer: TicketPrinter,
        *,
        name: str,
        on_problem: Callable[[str], object] | None = None,
        health_timeout_s: float = 1.5,
    ) -> None:
        self.printer = printer
        self.name = name
        self.printouts: Printouts | None = None  # given by the front end at start-up
        self.on_problem = on_problem
        self.health_timeout_s = health_timeout_s
        self._jobs: queue.Queue[str | None] = queue.Queue(maxsize=MAX_QUEUED)
        self._states: OrderedDict[str, PrintState] = OrderedDict()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._probe = ThreadPoolExecutor(max_workers=1, thread_name_prefix="printer-probe")
        self._probing: Future[PrinterStatus] | None = None
        self._last_health: PrinterHealth | None = None
        self.printed_pages = 0

    # --- life --------------------------------------------------------------------------------

    def start(self) -> PrintService:
        self._worker = threading.Thread(target=self._run, name="kiosk-printer", daemon=True)
        self._worker.start()
        return self

    def close(self) -> None:
        """Stop after the job being printed; jobs still queued are not printed."""
        worker, self._worker = self._worker, None
        if worker is not None:
            while True:
                try:
                    self._jobs.get_nowait()
                except queue.Empty:
                    break
            self._jobs.put(None)
            worker.join(timeout=30)
        self._probe.shutdown(wait=False, cancel_futures=True)
        self.printer.close()

    # --- what the kiosk asks -------------------------------------------------------------

    def ticket_issued(self, ticket_token: str) -> PrintState:
        """Print the ticket ``ticket_token`` (and its receipt) now, in the background. Never
        blocks and never raises: a full queue is a failed print (the screen says so).
        Asking again for a ticket printed :data:`MAX_PRINTS` times, or not finished yet,
        changes nothing."""
        with self._lock:
            current = self._states.get(ticket_token, PrintState("none"))
            if not current.may_print_again:
                return current
            try:
                self._jobs.put_nowait(ticket_token)
            except queue.Full:
                state = PrintState("failed", "queue_full", current.prints)
            else:
                state = PrintState("queued", None, current.prints)
            self._remember(ticket_token, state)
        if state.problem == "queue_full":
            log.warning("printer %s: queue full, a ticket was not printed", self.name)
        return state

    def state(self, ticket_token: str) -> PrintState:
        """The printing state of ticket ``ticket_token`` (``none`` if never asked)."""
        with self._lock:
            return self._states.get(ticket_token, PrintState("none"))

    def health(self) -> PrinterHealth:
        """Ask the printer how it is, waiting at most ``health_timeout_s`` (a printer that
        does not answer in time is reported as such; the question finishes in the
        background). While a job is being printed the printer is not asked: the last answer
        stands."""
        queued = self._jobs.qsize()
        with self._lock:
            busy = any(s.state == "printing" for s in self._states.values())
        if busy and self._last_health is not None:
            return PrinterHealth(
                self._last_health.ok, self._last_health.status, self._last_health.problem, queued
            )
        if self._probing is None or self._probing.done():
            self._probing = self._probe.submit(self.printer.status)
        try:
            status = self._probing.result(timeout=self.health_timeout_s)
        except FutureTimeout:
            health = PrinterHealth(False, None, "no_answer", queued)
        except PrinterError as e:
            health = PrinterHealth(False, None, e.code, queued)
        else:
            problem = status.problem
            health = PrinterHealth(
                problem is None, status, problem.code if problem else None, queued
            )
        self._last_health = health
        return health

    # --- the worker ----------------------------------------------------------------------

    def _remember(self, token: str, state: PrintState) -> None:
        self._states[token] = state
        self._states.move_to_end(token)
        while len(self._states) > KEEP_STATES:
            self._states.popitem(last=False)

    def _set(self, token: str, state: str, problem: str | None = None) -> None:
        with self._lock:
            prints = self._states.get(token, PrintState("none")).prints
            if state in ("printed", "failed"):
                prints += 1
            self._remember(token, PrintState(state, problem, prints))

    def _run(self) -> None:
        while True:
            token = self._jobs.get()
            if token is None:
                return
            self._set(token, "printing")
            started = time.monotonic()
            try:
                if self.printouts is None:
                    raise RuntimeError("no printouts were given to the print service")
                pages = self.printouts.visit_pages(token)
            except Exception:  # noqa: BLE001 - a ticket that cannot be drawn must not stop printing
                log.exception("printer %s: a ticket could not be drawn", self.name)
                self._set(token, "failed", "render_failed")
                continue
            try:
                for page in pages:
                    self.printer.print_page(page)
                    self.printed_pages += 1
            except PrinterError as e:
                log.warning("printer %s: %s (%s)", self.name, e.code, e)
                # Staff are called before the screen shows the failure: by the time the
                # resident reads "ask staff", someone has been told.
                if self.on_problem is not None:
                    try:
                        self.on_problem(e.code)
                    except Exception:  # noqa: BLE001 - telling staff must not stop printing
                        log.exception("printer %s: the problem could not be reported", self.name)
                self._set(token, "failed", e.code)
                continue
            self._set(token, "printed")
            log.info(
                "printer %s: %d page(s) in %.2f s",
                self.name,
                len(pages),
                time.monotonic() - started,
            )
