"""The simulated printer on its own, fed hand-written ESC/POS bytes over TCP (no driver):
what it answers to DLE EOT, how it lays out what it prints, what it refuses."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from hardware_sim.printer import SimulatedPrinter

INIT = b"\x1b@"
CENTER = b"\x1ba\x01"
CUT = b"\x1dV\x00"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimulatedPrinter]:
    """A simulated 58 mm printer on a free port."""
    printer, _address = SimulatedPrinter.start(tmp_path, paper_mm=58)
    yield printer
    printer.stop()


def send(printer: SimulatedPrinter, data: bytes, answers: int = 0) -> bytes:
    """Send ``data`` on one connection; read ``answers`` status bytes; close."""
    with socket.create_connection(("127.0.0.1", printer.port), timeout=5) as conn:
        conn.sendall(data)
        received = b""
        while len(received) < answers:
            chunk = conn.recv(16)
            assert chunk, "the printer closed the connection"
            received += chunk
        conn.shutdown(socket.SHUT_WR)
        assert conn.recv(16) == b""  # the printer closes when it has read everything
    return received


def raster(width_bytes: int, rows: list[bytes]) -> bytes:
    """GS v 0 (normal density) of ``rows``, each ``width_bytes`` bytes, 1 = ink."""
    head = b"\x1dv0\x00" + bytes((width_bytes, 0, len(rows), 0))
    return head + b"".join(rows)


def status(printer: SimulatedPrinter) -> bytes:
    return send(printer, b"\x10\x04\x01\x10\x04\x02\x10\x04\x04", answers=3)


def test_status_bytes_follow_the_faults(sim: SimulatedPrinter) -> None:
    """DLE EOT 1, 2, 4 answer as a real printer does: ready, paper out, cover open, error,
    near end."""
    assert status(sim) == bytes((0x12, 0x12, 0x12))
    sim.set_fault("paper_out")
    assert status(sim) == bytes((0x1A, 0x32, 0x7E))
    sim.clear_fault()
    sim.set_fault("cover_open")
    assert status(sim) == bytes((0x1A, 0x16, 0x12))
    sim.clear_fault()
    sim.set_fault("offline")
    assert status(sim) == bytes((0x1A, 0x52, 0x12))
    sim.clear_fault()
    sim.set_paper_near_end()
    assert status(sim) == bytes((0x12, 0x12, 0x1E))
    assert sim.jobs() == []  # status requests alone are not a print job


def test_centred_raster_feeds_and_cut(sim: SimulatedPrinter) -> None:
    """A 16-dot-wide raster, centred on 384-dot paper, after a line feed, is drawn where the
    paper put it; a cut makes the page's PNG."""
    rows = [b"\xff\x00", b"\x00\xff"]  # left half inked, then right half
    send(sim, INIT + CENTER + b"\n" + raster(2, rows) + b"\x1bd\x01" + CUT)
    (page,) = sim.last_pages(5)
    image = Image.open(page.png)
    assert image.mode == "1" and image.size == (384, 30 + 2 + 30)
    left = (384 - 16) // 2
    assert [image.getpixel((x, 30)) for x in (left, left + 7, left + 8)] == [0, 0, 255]
    assert [image.getpixel((x, 31)) for x in (left + 7, left + 8, left + 15)] == [255, 0, 0]
    assert image.getpixel((left - 1, 30)) == 255
    (job,) = sim.jobs()
    assert job.pages == [page.number] and job.unparsed == 0 and job.refused is None
    assert page.job == job.number and page.complete


def test_cover_open_refuses_the_page(sim: SimulatedPrinter) -> None:
    """What arrives with the cover open is not printed, and the job says why."""
    sim.set_fault("cover_open")
    send(sim, INIT + raster(1, [b"\xff"] * 8) + CUT)
    assert sim.last_pages() == []
    (job,) = sim.jobs()
    assert job.refused == "cover_open" and job.pages == []


def test_roll_ends_during_a_page(sim: SimulatedPrinter) -> None:
    """When the roll ends mid-page, the page is cut short and the printer says paper out."""
    sim.run_out_of_paper_after(5)
    send(sim, INIT + raster(1, [b"\xff"] * 8) + CUT)
    (page,) = sim.last_pages()
    assert not page.complete and page.height == 5
    assert status(sim)[2] == 0x7E
    sim.clear_fault("paper_out")  # staff load a new roll
    assert status(sim) == bytes((0x12, 0x12, 0x12))


def test_text_is_counted_as_unparsed(sim: SimulatedPrinter) -> None:
    """Text bytes (which our driver never sends) are counted, not silently accepted."""
    send(sim, INIT + b"ABC\n" + CUT)
    (job,) = sim.jobs()
    assert job.unparsed == 3


def test_unplugged_printer_drops_the_connection(sim: SimulatedPrinter) -> None:
    """An unplugged printer answers nothing: the connection ends at once."""
    sim.set_fault("unplugged")
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
        try:
            conn.sendall(b"\x10\x04\x01")
            assert conn.recv(16) == b""
        except ConnectionResetError:
            pass  # the other way an unplugged printer shows


def test_unknown_fault_is_refused(sim: SimulatedPrinter) -> None:
    """Only the documented faults can be injected."""
    with pytest.raises(ValueError, match="unknown printer fault"):
        sim.set_fault("on_fire")


def test_restart_starts_with_an_empty_tray(tmp_path: Path) -> None:
    """Pages of an earlier run in the same state folder are removed: numbers restart at 1
    and the panel never shows a stale page as new."""
    first, _ = SimulatedPrinter.start(tmp_path, paper_mm=58)
    send(first, INIT + raster(1, [b"\xff"]) + CUT)
    first.stop()
    assert [p.name for p in (tmp_path / "printed").iterdir()] == ["page-00001.png"]
    second, _ = SimulatedPrinter.start(tmp_path, paper_mm=58)
    try:
        assert list((tmp_path / "printed").iterdir()) == [] and second.last_pages() == []
    finally:
        second.stop()
