"""A simulated ESC/POS thermal ticket printer on the network, where the real one would be.

It listens on TCP like a network printer's port 9100 (bound to 127.0.0.1; port 0 takes any
free port) and reads the byte stream a driver sends: ``ESC @`` (initialize), ``ESC a n``
(alignment), ``ESC d n`` / ``LF`` (feed), ``ESC 2`` / ``ESC 3 n`` (line spacing),
``GS v 0`` (raster image), ``GS V`` (cut) and ``DLE EOT n`` (real-time status, answered at
once with the status byte a real printer sends). Each cut page is rendered to a 1-bit PNG
as it would come out of the printer: paper-wide, raster images where the alignment put them,
feeds as white space. Each connection that sent something to print is recorded as a job
(its bytes, when, which pages it produced, what could not be parsed).

Faults a trainer or a test injects: ``paper_out`` and ``cover_open`` (the printer goes
offline, DLE EOT says why, and what arrives is not printed), ``offline`` (stopped on an
error, e.g. a cutter jam), ``unplugged`` (the connection is dropped at once, like a printer
that is switched off), the roll ending after a given length (a page is cut short, then
``paper_out``), and ``paper_near_end`` (a warning; it still prints).

It shares no code with the driver (``application.printer``): two independent readings of
ESC/POS catch each other's mistakes. Thread-safe: a thread per connection, served one at a
time like a real printer's port, and one lock for the faults and the records.
"""

from __future__ import annotations

import itertools
import logging
import socket
import socketserver
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from PIL import Image

log = logging.getLogger(__name__)

FAULTS = ("paper_out", "cover_open", "offline", "unplugged")
WIDTH_DOTS = {58: 384, 80: 576}
# Default line spacing of ESC/POS printers: 1/6 inch, 30 dots in the 180 dpi motion unit
# that ESC 3 uses (real printers round to their own head; the simulator keeps dots).
DEFAULT_LINE_DOTS = 30
KEEP_PAGES = 100  # PNGs kept on disk and in memory: a long demo must not fill the disk
KEEP_JOBS = 50
IDLE_TIMEOUT_S = 30.0  # a client that neither sends nor closes is dropped, like a printer does


@dataclass(frozen=True)
class PrintedPage:
    """One cut page. ``complete`` is False when the roll ended during it (the PNG shows what
    came out)."""

    number: int
    job: int
    printed_at: datetime
    png: Path
    width: int
    height: int
    complete: bool = True


@dataclass
class PrintJob:
    """What one connection sent. ``refused``: why nothing (or not everything) was printed
    (a fault), else None. ``unparsed``: bytes the simulator did not understand; a correct
    driver sends none."""

    number: int
    received_at: datetime
    data: bytes = b""
    pages: list[int] = field(default_factory=list)
    status_requests: int = 0  # DLE EOT requests on the job's connection
    refused: str | None = None
    unparsed: int = 0


@dataclass
class _State:
    faults: set[str] = field(default_factory=set)
    paper_near_end: bool = False
    # Dots of paper left on the roll; None: plenty.
    paper_left_dots: int | None = None


class _Page:
    """The paper since the last cut: raster strips on a paper-wide canvas."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.strips: list[tuple[int, Image.Image]] = []  # (top y, 1-bit strip)
        self.y = 0
        self.cut_short = False  # the roll ended during this page
        self.lost = False  # something arrived while the printer could not print

    @property
    def inked(self) -> bool:
        return bool(self.strips)

    def place(self, strip: Image.Image, align: int) -> None:
        x = {0: 0, 1: (self.width - strip.width) // 2, 2: self.width - strip.width}[align]
        canvas = Image.new("1", (self.width, strip.height), 1)
        canvas.paste(strip, (max(x, 0), 0))
        self.strips.append((self.y, canvas))
        self.y += strip.height

    def render(self) -> Image.Image:
        page = Image.new("1", (self.width, max(self.y, 1)), 1)
        for top, strip in self.strips:
            page.paste(strip, (0, top))
        return page


class SimulatedPrinter:
    """See the module docstring. Build it with :meth:`start`; stop it with :meth:`stop`."""

    def __init__(self, state_dir: Path, paper_mm: int = 80) -> None:
        if paper_mm not in WIDTH_DOTS:
            raise ValueError(f"paper_mm={paper_mm}: expected 58 or 80")
        self.paper_mm = paper_mm
        self.width_dots = WIDTH_DOTS[paper_mm]
        self.out_dir = Path(state_dir) / "printed"
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for old in self.out_dir.glob("page-*.png"):  # an earlier run's pages: numbers restart
            old.unlink()
        self._lock = threading.Lock()  # faults, pages, jobs
        self._state = _State()
        self._pages: list[PrintedPage] = []
        self._jobs: list[PrintJob] = []
        self._page_numbers = itertools.count(1)
        self._job_numbers = itertools.count(1)
        # Like a real network printer, one client at a time: the next one waits.
        self._busy = threading.Lock()
        # The mechanism's state, touched only by the connection holding _busy.
        self._page = _Page(self.width_dots)
        self._align = 0
        self._line_dots = DEFAULT_LINE_DOTS
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None

    # --- the factory the registry calls ----------------------------------------------------

    @classmethod
    def start(
        cls, state_dir: Path, *, paper_mm: int = 80, port: int = 0
    ) -> tuple[SimulatedPrinter, str]:
        """Start a simulated printer on 127.0.0.1:``port`` (0: any free port); return it and
        the ``KIOSK_PRINTER`` address the driver connects to (``tcp://127.0.0.1:<port>``).
        Printed pages go to ``state_dir/printed/`` (an earlier run's are removed)."""
        printer = cls(state_dir, paper_mm)
        printer._serve(port)
        return printer, f"tcp://127.0.0.1:{printer.port}"

    def _serve(self, port: int) -> None:
        printer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                printer._handle_connection(self.request)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self._server = Server(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="simulated-printer",
            daemon=True,
        )
        self._thread.start()

    @property
    def port(self) -> int:
        """The TCP port the printer listens on."""
        if self._server is None:
            raise RuntimeError("the simulated printer is not started")
        return int(self._server.server_address[1])

    def stop(self) -> None:
        """Stop listening (idempotent); a connection being served may finish."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- what the simulator panel and tests use -------------------------------------------

    def set_fault(self, fault: str) -> None:
        """Inject ``fault`` (one of :data:`FAULTS`); it stays until cleared."""
        if fault not in FAULTS:
            raise ValueError(f"unknown printer fault {fault!r}: one of {', '.join(FAULTS)}")
        with self._lock:
            self._state.faults.add(fault)

    def clear_fault(self, fault: str | None = None) -> None:
        """Clear ``fault``, or every fault (None). Clearing ``paper_out`` loads a new roll."""
        with self._lock:
            if fault is None:
                self._state.faults.clear()
            else:
                self._state.faults.discard(fault)
            if fault in (None, "paper_out"):
                self._state.paper_left_dots = None
                self._state.paper_near_end = False

    @property
    def faults(self) -> frozenset[str]:
        """The faults in force."""
        with self._lock:
            return frozenset(self._state.faults)

    def set_paper_near_end(self, near_end: bool = True) -> None:
        """The near-end sensor sees (or no longer sees) the end of the roll coming."""
        with self._lock:
            self._state.paper_near_end = near_end

    def run_out_of_paper_after(self, dots: int) -> None:
        """The roll ends after ``dots`` more dot rows of printing or feeding: the page then
        being printed is cut short, and the printer reports paper out."""
        with self._lock:
            self._state.paper_left_dots = max(dots, 0)
            self._state.paper_near_end = True

    def last_pages(self, n: int = 5) -> list[PrintedPage]:
        """The ``n`` pages printed last, newest first."""
        with self._lock:
            return list(reversed(self._pages[-n:])) if n > 0 else []

    def jobs(self) -> list[PrintJob]:
        """The jobs received, oldest first (the last :data:`KEEP_JOBS`). A job's ``data``
        is complete once its connection has closed."""
        with self._lock:
            return list(self._jobs)

    # --- the printer ---------------------------------------------------------------------

    def status_byte(self, n: int) -> int:
        """The answer to DLE EOT ``n`` (1 printer, 2 offline cause, 3 error cause, 4 paper
        sensor), as the real printer sends it: bits 1 and 4 always set."""
        with self._lock:
            faults = set(self._state.faults)
            near_end = self._state.paper_near_end
        paper_out = "paper_out" in faults
        cover_open = "cover_open" in faults
        error = "offline" in faults
        byte = 0x12
        if n == 1:
            byte |= 0x08 if paper_out or cover_open or error else 0
        elif n == 2:
            byte |= 0x04 if cover_open else 0
            byte |= 0x20 if paper_out else 0
            byte |= 0x40 if error else 0
        elif n == 3:
            byte |= 0x08 if error else 0  # the auto-cutter is the usual error
        elif n == 4:
            byte |= 0x0C if near_end or paper_out else 0
            byte |= 0x60 if paper_out else 0
        return byte

    def _refusal(self) -> str | None:
        """Why the printer cannot print now, or None."""
        with self._lock:
            for fault in ("cover_open", "paper_out", "offline"):
                if fault in self._state.faults:
                    return fault
        return None

    def _use_paper(self, dots: int) -> int:
        """Take ``dots`` rows off the roll; return how many there were."""
        with self._lock:
            left = self._state.paper_left_dots
            if left is None:
                return dots
            used = min(left, dots)
            self._state.paper_left_dots = left - used
            if self._state.paper_left_dots == 0:
                self._state.faults.add("paper_out")
            return used

    def _handle_connection(self, conn: socket.socket) -> None:
        if "unplugged" in self.faults:
            conn.close()
            return
        conn.settimeout(IDLE_TIMEOUT_S)
        with self._busy:
            connection = _Connection(self, conn)
            try:
                connection.run()
            except OSError as e:  # includes the idle timeout
                log.info("simulated printer: connection ended: %s", e)
            finally:
                conn.close()
                connection.finish()

    def _new_job(self) -> PrintJob:
        with self._lock:
            job = PrintJob(number=next(self._job_numbers), received_at=_now())
            self._jobs.append(job)
            del self._jobs[:-KEEP_JOBS]
            return job

    # Commands; each is given the job it belongs to.

    def _initialize(self) -> None:
        # ESC @ resets modes; what is already on paper stays there.
        self._align = 0
        self._line_dots = DEFAULT_LINE_DOTS

    def _feed(self, dots: int, job: PrintJob) -> None:
        refusal = self._refusal()
        if refusal:
            job.refused = job.refused or refusal
            return
        self._page.y += self._use_paper(dots)

    def _raster(self, width_bytes: int, height: int, mode: int, data: bytes, job: PrintJob) -> None:
        refusal = self._refusal()
        if refusal:
            self._page.lost = True
            job.refused = job.refused or refusal
            return
        width = width_bytes * 8
        if width == 0 or height == 0:
            return
        # ESC/POS raster: a set bit is a dot of ink, most significant bit leftmost. PIL's
        # raw mode "1;I" reads exactly that (inverted: a set bit is black).
        strip = Image.frombytes("1", (width, height), data, "raw", "1;I")
        if mode & 1:  # double width
            strip = strip.resize((width * 2, strip.height), Image.Resampling.NEAREST)
        if mode & 2:  # double height
            strip = strip.resize((strip.width, height * 2), Image.Resampling.NEAREST)
        if strip.width > self._page.width:
            strip = strip.crop((0, 0, self._page.width, strip.height))  # the head is so wide
        rows = self._use_paper(strip.height)
        if rows < strip.height:
            strip = strip.crop((0, 0, strip.width, rows))
            self._page.cut_short = True
            job.refused = job.refused or "paper_out"
        if rows:
            self._page.place(strip, self._align)

    def _cut(self, job: PrintJob) -> None:
        page, self._page = self._page, _Page(self.width_dots)
        if not page.inked:
            return  # blank paper, or a page that never printed
        image = page.render()
        with self._lock:
            number = next(self._page_numbers)
        png = self.out_dir / f"page-{number:05d}.png"
        image.save(png)
        printed = PrintedPage(
            number=number,
            job=job.number,
            printed_at=_now(),
            png=png,
            width=image.width,
            height=image.height,
            complete=not page.cut_short and not page.lost,
        )
        with self._lock:
            job.pages.append(number)
            self._pages.append(printed)
            while len(self._pages) > KEEP_PAGES:
                self._pages.pop(0).png.unlink(missing_ok=True)


def _now() -> datetime:
    return datetime.now().astimezone()


class _Connection:
    """Reads one client's byte stream and drives the printer's mechanism."""

    def __init__(self, printer: SimulatedPrinter, conn: socket.socket) -> None:
        self.printer = printer
        self.conn = conn
        self.reader = _StreamReader(conn)
        self.received = bytearray()  # everything but status requests
        self.job: PrintJob | None = None
        self.status_requests = 0

    def take(self, n: int) -> bytes:
        data = self.reader.take(n)
        if data is None:
            raise EOFError
        self.received += data
        return data

    def current_job(self) -> PrintJob:
        if self.job is None:
            self.job = self.printer._new_job()
        return self.job

    def unparsed(self, count: int) -> None:
        self.current_job().unparsed += count

    def run(self) -> None:
        try:
            while True:
                first = self.reader.take(1)
                if first is None:
                    return
                if first[0] == 0x10:  # DLE: real-time requests are answered at once
                    self.real_time()
                    continue
                self.received += first
                self.command(first[0], self.current_job())
        except EOFError:
            return  # the stream ended inside a command: the rest never arrived

    def real_time(self) -> None:
        rest = self.reader.take(2)
        if rest is None:
            return
        if rest[0] == 0x04 and rest[1] in (1, 2, 3, 4):  # DLE EOT n
            self.conn.sendall(bytes((self.printer.status_byte(rest[1]),)))
            self.status_requests += 1
            return
        self.received += b"\x10" + rest
        self.unparsed(3)

    def command(self, b: int, job: PrintJob) -> None:
        printer = self.printer
        if b == 0x1B:  # ESC
            self.escape(job)
        elif b == 0x1D:  # GS
            self.group_separator(job)
        elif b == 0x0A:  # LF: print and feed one line
            printer._feed(printer._line_dots, job)
        elif b == 0x0D:  # CR: no motion on its own
            pass
        else:
            # Text: a driver that prints everything as raster sends none. It is not
            # rendered; it counts as unparsed so a test sees it.
            job.unparsed += 1

    def escape(self, job: PrintJob) -> None:
        printer = self.printer
        c = self.take(1)[0]
        if c == 0x40:  # ESC @
            printer._initialize()
        elif c == 0x32:  # ESC 2: default line spacing
            printer._line_dots = DEFAULT_LINE_DOTS
        elif c == 0x61:  # ESC a n: 0/48 left, 1/49 centre, 2/50 right
            n = self.take(1)[0]
            printer._align = {0: 0, 1: 1, 2: 2, 48: 0, 49: 1, 50: 2}.get(n, printer._align)
        elif c == 0x64:  # ESC d n: print and feed n lines
            printer._feed(self.take(1)[0] * printer._line_dots, job)
        elif c == 0x33:  # ESC 3 n: line spacing of n motion units
            printer._line_dots = self.take(1)[0]
        elif c in (0x45, 0x21, 0x2D, 0x4D, 0x74):  # ESC E / ! / - / M / t n: text modes
            self.take(1)
        else:
            job.unparsed += 2

    def group_separator(self, job: PrintJob) -> None:
        printer = self.printer
        c = self.take(1)[0]
        if c == 0x76:  # GS v 0 m xL xH yL yH d1...dk: raster bit image
            head = self.take(6)
            if head[0] not in (0x00, 0x30):
                job.unparsed += 8
                return
            width_bytes = head[2] | head[3] << 8
            height = head[4] | head[5] << 8
            data = self.take(width_bytes * height)
            printer._raster(width_bytes, height, head[1] & 0x03, data, job)
        elif c == 0x56:  # GS V m [n]: cut
            m = self.take(1)[0]
            if m in (65, 66, 97, 98, 103, 104):  # functions B, C, D: feed n dots, then cut
                printer._feed(self.take(1)[0], job)
            elif m not in (0, 1, 48, 49):
                job.unparsed += 3
                return
            printer._cut(job)
        elif c == 0x21:  # GS ! n: character size (text only)
            self.take(1)
        else:
            job.unparsed += 2

    def finish(self) -> None:
        if self.job is None:
            return
        job = self.job
        job.data = bytes(self.received)
        job.status_requests = self.status_requests
        log.info(
            "simulated printer: job %d, %d bytes, pages %s%s",
            job.number,
            len(job.data),
            job.pages,
            f", refused: {job.refused}" if job.refused else "",
        )


class _StreamReader:
    """Exact reads from a socket: ``take(n)`` returns n bytes, or None at the end."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self._buffer = bytearray()

    def take(self, n: int) -> bytes | None:
        while len(self._buffer) < n:
            chunk = self._conn.recv(65536)
            if not chunk:
                return None
            self._buffer += chunk
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        return out
