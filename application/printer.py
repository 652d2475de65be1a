"""The kiosk's ticket printer: an ESC/POS thermal printer on USB, the network or a serial line.

The seam is :class:`TicketPrinter` (print one raster page, report status, close); the real
implementation, :class:`EscposTicketPrinter`, speaks ESC/POS through python-escpos and is
chosen by configuration only (``KIOSK_PRINTER``, parsed by :func:`kiosk.config.parse_printer`;
``KIOSK_PRINTER_PAPER_MM``). Every page is a 1-bit image printed with ``GS v 0``: Japanese
is drawn by our renderer (``ui.printout``) with a local CJK font, because printer kanji
modes and code pages vary by model.

Status comes from the real-time request ``DLE EOT n`` (n = 1 printer, 2 offline cause,
4 paper sensor), asked before a page is sent (nothing is sent to a printer that cannot
print) and after it (a roll that ran out, or a cover opened, during the page). Paper out,
cover open and offline are distinct errors under :class:`PrinterError`, each with a
``code``; no exception of python-escpos, pyusb, pyserial or the socket leaks out.

One connection per operation: a network printer on port 9100 serves one client at a time,
and a printer that was switched off and on again needs no reconnect logic.
"""

from __future__ import annotations

import functools
import importlib
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from kiosk.config import PAPER_WIDTH_DOTS, PrinterAddress

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "CoverOpen",
    "EscposTicketPrinter",
    "PaperOut",
    "PrinterError",
    "PrinterOffline",
    "PrinterStatus",
    "PrinterUnreachable",
    "TicketPrinter",
    "connect_printer",
    "status_from_bytes",
]


class PrinterError(Exception):
    """Root of the ticket printer's errors. ``code`` names the cause for screens and
    ``/healthz``; the message is for the log and staff, never for the resident."""

    code = "printer_error"


class PaperOut(PrinterError):
    """The paper roll is empty (or ran out during the page): staff must load paper."""

    code = "paper_out"


class CoverOpen(PrinterError):
    """The printer's cover is open: nothing prints until it is closed."""

    code = "cover_open"


class PrinterOffline(PrinterError):
    """The printer answers but says it is offline for another reason (a cutter jam, an
    overheated head, the feed button held): staff must look at it."""

    code = "printer_offline"


class PrinterUnreachable(PrinterError):
    """The printer cannot be reached or gives no usable answer (switched off, cable out,
    wrong address, not an ESC/POS printer)."""

    code = "printer_unreachable"


# DLE EOT answers (ESC/POS command reference, "Transmit real-time status"). In every
# answer bit 1 and bit 4 are fixed at 1 and bits 0 and 7 at 0: that is how a status byte is
# told from anything else a device might send.
_FIXED_MASK, _FIXED_BITS = 0b1001_0011, 0b0001_0010
_OFFLINE = 0x08  # n=1 bit 3
_COVER_OPEN = 0x04  # n=2 bit 2
_STOPPED_BY_PAPER_END = 0x20  # n=2 bit 5
_ERROR = 0x40  # n=2 bit 6
_PAPER_NEAR_END = 0x0C  # n=4 bits 2-3
_PAPER_END = 0x60  # n=4 bits 5-6
DLE_EOT = b"\x10\x04"


@dataclass(frozen=True)
class PrinterStatus:
    """What the printer said about itself: the three DLE EOT answers, decoded.

    ``paper_near_end`` is a warning (the roll is nearly used up; it still prints).
    """

    online: bool
    cover_open: bool
    paper_out: bool
    paper_near_end: bool
    error: bool

    @property
    def problem(self) -> PrinterError | None:
        """The error that keeps the printer from printing, or None when it can print.
        A cover that is open is named first: closing it is what staff must do first."""
        if self.cover_open:
            return CoverOpen("the printer's cover is open")
        if self.paper_out:
            return PaperOut("the printer is out of paper")
        if self.error:
            return PrinterOffline("the printer stopped on an error (cutter, head, voltage)")
        if not self.online:
            return PrinterOffline("the printer is offline")
        return None

    def to_json(self) -> dict[str, Any]:
        """For ``/healthz`` and the simulator panel: the flags, plus ``problem`` (an error
        code or None)."""
        problem = self.problem
        return {
            "online": self.online,
            "cover_open": self.cover_open,
            "paper_out": self.paper_out,
            "paper_near_end": self.paper_near_end,
            "error": self.error,
            "problem": problem.code if problem else None,
        }


def status_from_bytes(printer: int, offline_cause: int, paper: int) -> PrinterStatus:
    """Decode the answers to DLE EOT 1, 2 and 4. Raises PrinterUnreachable when a byte is
    not a status byte (the fixed bits are wrong): the device is not an ESC/POS printer, or
    the line is garbled."""
    for n, value in ((1, printer), (2, offline_cause), (4, paper)):
        if value & _FIXED_MASK != _FIXED_BITS:
            raise PrinterUnreachable(f"DLE EOT {n} was answered with 0x{value:02x}, not a status")
    return PrinterStatus(
        online=not printer & _OFFLINE,
        cover_open=bool(offline_cause & _COVER_OPEN),
        paper_out=bool(paper & _PAPER_END) or bool(offline_cause & _STOPPED_BY_PAPER_END),
        paper_near_end=bool(paper & _PAPER_NEAR_END),
        error=bool(offline_cause & _ERROR),
    )


class TicketPrinter(Protocol):
    """A ticket printer in a kiosk. Implementations are thread-safe: a request thread and
    the health check may call at once; calls are served one after the other."""

    @property
    def width_dots(self) -> int:
        """Dots across the printable width (384 on 58 mm paper, 576 on 80 mm): the width
        of the pages :meth:`print_page` takes."""
        ...

    def status(self) -> PrinterStatus:
        """Ask the printer how it is (DLE EOT 1, 2, 4) without printing anything. Returns
        the status even when it shows a problem (see ``PrinterStatus.problem``); raises
        PrinterUnreachable when the printer cannot be reached or does not answer. Takes
        milliseconds from a printer that answers, at most about twice the connection's
        timeout from one that does not."""
        ...

    def print_page(self, page: Image.Image) -> None:
        """Print ``page`` (a mode ``"1"`` image, black = ink, at most :attr:`width_dots`
        wide, centred) and cut the paper. Checks the status first and prints nothing when
        the printer cannot print; checks it again afterwards. Raises CoverOpen, PaperOut,
        PrinterOffline or PrinterUnreachable (all PrinterError); after an error raised
        once the page was sent, part of it may be on paper. Raises ValueError for a page
        of the wrong mode or width (a programming error, nothing is sent)."""
        ...

    def close(self) -> None:
        """Release the printer (idempotent). Called at shutdown; nothing may be printed
        afterwards."""
        ...


# The connection seam: a function that opens the printer and returns the open python-escpos
# printer object (Network, Usb or Serial); it raises what the transport raises.
Connect = Callable[[], Any]


class EscposTicketPrinter:
    """:class:`TicketPrinter` over python-escpos. Build it with :func:`connect_printer`."""

    def __init__(self, connect: Connect, width_dots: int, *, name: str) -> None:
        self._connect = connect
        self._width_dots = width_dots
        self.name = name
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"EscposTicketPrinter({self.name}, {self._width_dots} dots)"

    @property
    def width_dots(self) -> int:
        return self._width_dots

    def status(self) -> PrinterStatus:
        with self._lock, self._open() as device:
            return self._query(device)

    def print_page(self, page: Image.Image) -> None:
        if page.mode != "1":
            raise ValueError(f"a page is a 1-bit image (mode '1'), not mode {page.mode!r}")
        if not 0 < page.width <= self._width_dots or page.height <= 0:
            raise ValueError(f"a page is 1..{self._width_dots} dots wide, not {page.width}")
        with self._lock, self._open() as device:
            self._raise_problem(self._query(device))
            try:
                device.hw("INIT")  # ESC @: forget whatever a previous client left set
                device.set(align="center")  # ESC a 1
                device.image(page, impl="bitImageRaster", center=False)  # GS v 0
                device.cut()  # ESC d 6 (the page past the cutter), GS V 0
            except _vendor_errors() as e:
                raise PrinterUnreachable(f"{self.name}: sending the page failed: {_line(e)}") from e
            self._raise_problem(self._query(device))

    def close(self) -> None:
        self._closed = True

    @contextmanager
    def _open(self) -> Iterator[Any]:
        if self._closed:
            raise PrinterUnreachable(f"{self.name}: the printer was closed")
        try:
            device = self._connect()
        except _connect_errors() as e:
            raise PrinterUnreachable(f"{self.name}: cannot connect: {_line(e)}") from e
        try:
            yield device
        finally:
            try:
                device.close()
            except _vendor_errors():
                pass  # already gone: nothing left to release

    def _query(self, device: Any) -> PrinterStatus:
        answers = [self._ask(device, n) for n in (1, 2, 4)]
        return status_from_bytes(*answers)

    def _ask(self, device: Any, n: int) -> int:
        try:
            answer = device.query_status(DLE_EOT + bytes((n,)))
        except _vendor_errors() as e:
            raise PrinterUnreachable(f"{self.name}: no answer to DLE EOT {n}: {_line(e)}") from e
        if not answer:
            raise PrinterUnreachable(f"{self.name}: the printer closed the connection")
        # A read may return more than one byte if an earlier answer came late: the newest
        # byte answers this request.
        return int(answer[-1])

    @staticmethod
    def _raise_problem(status: PrinterStatus) -> None:
        problem = status.problem
        if problem is not None:
            raise problem


def _line(error: BaseException) -> str:
    """A vendor error's message on one line (python-escpos' span several)."""
    return " ".join(str(error).split()) or type(error).__name__


def _vendor_errors() -> tuple[type[BaseException], ...]:
    """What python-escpos and the transports below it raise while talking: escpos' own
    errors, and socket, serial and USB errors (pyserial's and pyusb's are OSErrors)."""
    from escpos.exceptions import Error as EscposError

    return (EscposError, OSError)


def _connect_errors() -> tuple[type[BaseException], ...]:
    """What opening a printer raises besides: ValueError for a serial port that does not
    exist, and pyusb's NoBackendError (a ValueError) when libusb is missing."""
    return (*_vendor_errors(), ValueError)


def _profile(width_dots: int) -> Any:
    """python-escpos' generic profile with the paper's width filled in, so that an image
    wider than the paper is refused and no "width unknown" notice is printed to stdout."""
    from escpos.capabilities import Profile, get_profile_class

    generic = get_profile_class("default").profile_data
    mm = next(mm for mm, dots in PAPER_WIDTH_DOTS.items() if dots == width_dots)
    profile = Profile(features=dict(generic["features"]))
    # This instance only: the class' data is python-escpos' shared printer database.
    profile.profile_data = {
        **generic,
        "media": {"dpi": 203, "width": {"mm": mm, "pixels": width_dots}},
    }
    return profile


@functools.cache
def _serial_printer_class() -> type:
    """python-escpos' Serial, reading a status answer as the one byte it is: python-escpos
    reads up to 16, and a serial read waits out its whole timeout for bytes that never come
    (pyserial's inter-byte timeout does not shorten that on POSIX)."""
    from escpos.printer import Serial

    class OneByteAnswerSerial(Serial):
        def _read(self) -> bytes:
            return bytes(self.device.read(1))

    return OneByteAnswerSerial


def connect_printer(
    address: PrinterAddress, width_dots: int, *, timeout_s: float = 5.0
) -> EscposTicketPrinter:
    """The real printer at ``address`` (``tcp``, ``usb`` or ``serial``). Nothing is opened
    until the first call. ``sim`` is not an address of a device: the registry starts the
    simulated printer and connects to it with a ``tcp`` address. Raises ValueError for
    ``sim`` or a width other than 384 or 576 dots."""
    if width_dots not in PAPER_WIDTH_DOTS.values():
        raise ValueError(f"width_dots={width_dots}: expected 384 or 576")
    # python-escpos is imported only here, when a printer is configured: its import sets up
    # logging and a cache folder, and loading its printer database takes most of a second.
    # So it is imported now, at start-up: the first status question (``/healthz`` waits
    # about a second and a half for the printer's answer) and the first ticket wait for the
    # printer only, never for the import.
    importlib.import_module("escpos.printer")
    if address.kind == "tcp":

        def connect() -> Any:
            from escpos.printer import Network

            printer = Network(
                address.host, address.port, timeout=timeout_s, profile=_profile(width_dots)
            )
            # Our own connect instead of Network.open(): that one leaves the socket open
            # when the connection fails.
            printer.device = socket.create_connection(
                (address.host, address.port), timeout=timeout_s
            )
            return printer

        name = f"tcp://{address.host}:{address.port}"
    elif address.kind == "usb":

        def connect() -> Any:
            from escpos.printer import Usb

            printer = Usb(
                address.vendor_id,
                address.product_id,
                timeout=int(timeout_s * 1000),
                profile=_profile(width_dots),
            )
            printer.open()
            return printer

        name = f"usb:{address.vendor_id:04x}:{address.product_id:04x}"
    elif address.kind == "serial":

        def connect() -> Any:
            printer = _serial_printer_class()(
                address.device,
                baudrate=address.baudrate,
                timeout=timeout_s,
                profile=_profile(width_dots),
            )
            printer.open()
            return printer

        name = f"serial:{address.device}"
    else:
        raise ValueError(f"no device for printer kind {address.kind!r}")
    return EscposTicketPrinter(connect, width_dots, name=name)
