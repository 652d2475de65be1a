"""Contract: what the ESC/POS driver prints is what the simulated printer renders, over
real TCP, on 58 and 80 mm paper; and the printer's faults reach the driver as the right
errors. The printed PNGs of a ja and an en ticket and receipt are kept under
``test-artifacts/printer/`` (git-ignored) to be looked at."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable

import pytest
import zxingcpp
from flask import Flask
from PIL import Image, ImageChops

from application.printer import (
    CoverOpen,
    EscposTicketPrinter,
    PaperOut,
    PrinterOffline,
    PrinterUnreachable,
)
from hardware_sim.printer import SimulatedPrinter
from tests.printer.conftest import ARTIFACTS, PHONE_URL, receipt, ticket
from ui.printout import Printout, render_receipt, render_ticket

Start = Callable[..., tuple[SimulatedPrinter, EscposTicketPrinter]]


def printed_as_sent(sim: SimulatedPrinter, sent: Image.Image) -> Image.Image:
    """The simulator's newest page, checked to be ``sent`` dot for dot followed only by
    blank paper (the feed that carries the page past the cutter)."""
    (page,) = sim.last_pages(1)
    assert page.complete
    printed = Image.open(page.png)
    assert printed.mode == "1" and printed.width == sent.width
    assert printed.height > sent.height
    top = printed.crop((0, 0, sent.width, sent.height))
    assert ImageChops.difference(top.convert("L"), sent.convert("L")).getbbox() is None
    tail = printed.crop((0, sent.height, printed.width, printed.height))
    assert tail.convert("L").getextrema() == (255, 255)
    return printed


def ink_bands(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    """Runs of dot rows with ink inside ``box``: one line of text or digits is one band."""
    region = image.crop(box).convert("L")
    bands, inked_before = 0, False
    for y in range(region.height):
        inked = region.crop((0, y, region.width, y + 1)).getextrema()[0] == 0
        bands += inked and not inked_before
        inked_before = inked
    return bands


def has_ink(image: Image.Image, box: tuple[int, int, int, int]) -> bool:
    return image.crop(box).convert("L").getextrema()[0] == 0


def keep(sim: SimulatedPrinter, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sim.last_pages(1)[0].png, ARTIFACTS / f"{name}.png")


@pytest.mark.parametrize("paper_mm", [58, 80])
@pytest.mark.parametrize("language", ["ja", "en"])
def test_ticket_prints_as_rendered(
    start_printer: Start, babel_app: Flask, paper_mm: int, language: str
) -> None:
    """The ticket arrives dot for dot; its QR code decodes back to the phone page's URL; the
    number is one line inside the paper; the ward and queue names are on the paper."""
    sim, driver = start_printer(paper_mm)
    with babel_app.app_context():
        rendered: Printout = render_ticket(
            ticket(language), width_dots=driver.width_dots, language=language
        )
    driver.print_page(rendered.image)
    printed = printed_as_sent(sim, rendered.image)
    keep(sim, f"ticket-{language}-{paper_mm}mm")

    decoded = zxingcpp.read_barcodes(printed.convert("L"))
    assert [code.text for code in decoded] == [PHONE_URL]
    left, top, right, bottom = rendered.regions["number"]
    assert 0 < left and right < driver.width_dots
    assert ink_bands(printed, (0, top, driver.width_dots, bottom)) == 1
    assert bottom - top > driver.width_dots // 6  # big: a sixth of the paper's width or more
    for part in ("ward", "queue", "people_ahead", "issued", "scan", "show"):
        assert has_ink(printed, rendered.regions[part]), part
    (job,) = sim.jobs()
    assert job.unparsed == 0 and job.refused is None
    assert job.status_requests == 6  # DLE EOT 1, 2, 4 before and after the page


@pytest.mark.parametrize("paper_mm", [58, 80])
@pytest.mark.parametrize("language", ["ja", "en"])
def test_receipt_prints_as_rendered(start_printer: Start, paper_mm: int, language: str) -> None:
    """The receipt arrives dot for dot with every part of the kiosk's receipt on paper."""
    sim, driver = start_printer(paper_mm)
    rendered = render_receipt(receipt(language), width_dots=driver.width_dots)
    driver.print_page(rendered.image)
    printed = printed_as_sent(sim, rendered.image)
    keep(sim, f"receipt-{language}-{paper_mm}mm")
    for part in ("title", "ward", "number", "date", "line0", "line1", "total", "method"):
        assert has_ink(printed, rendered.regions[part]), part
    assert "refunded" not in rendered.regions


def test_tall_page_is_sent_in_pieces_and_reassembled(start_printer: Start) -> None:
    """A page taller than one raster command (python-escpos splits at 960 rows) is printed
    whole, without gaps."""
    sim, driver = start_printer(58)
    page = Image.new("1", (384, 2500), 1)
    for y in range(0, 2500, 50):
        page.paste(0, (y % 384, y, y % 384 + 8, y + 25))
    driver.print_page(page)
    printed_as_sent(sim, page)


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [
        ("paper_out", PaperOut, "paper_out"),
        ("cover_open", CoverOpen, "cover_open"),
        ("offline", PrinterOffline, "printer_offline"),
        ("unplugged", PrinterUnreachable, "printer_unreachable"),
    ],
)
def test_fault_stops_the_page_before_it_is_sent(
    start_printer: Start, fault: str, error: type[Exception], code: str
) -> None:
    """A printer that cannot print gets nothing to print; the driver raises the fault's
    error with its code; once the fault is cleared, the same page prints."""
    sim, driver = start_printer(80)
    page = Image.new("1", (576, 40), 0)
    sim.set_fault(fault)
    with pytest.raises(error) as caught:
        driver.print_page(page)
    assert caught.value.code == code
    assert sim.last_pages() == [] and sim.jobs() == []
    sim.clear_fault(fault)
    driver.print_page(page)
    printed_as_sent(sim, page)


def test_roll_ending_during_the_page_is_paper_out(start_printer: Start) -> None:
    """When the roll ends while the page prints, the status asked afterwards makes the
    driver raise PaperOut (the resident must be told: the ticket is incomplete)."""
    sim, driver = start_printer(80)
    sim.run_out_of_paper_after(100)
    with pytest.raises(PaperOut):
        driver.print_page(Image.new("1", (576, 300), 0))
    (page,) = sim.last_pages()
    assert not page.complete and page.height == 100


def test_status_reports_without_printing(start_printer: Start) -> None:
    """status() reports near end and faults as they are, without raising or printing."""
    sim, driver = start_printer(58)
    assert driver.status().to_json() == {
        "online": True,
        "cover_open": False,
        "paper_out": False,
        "paper_near_end": False,
        "error": False,
        "problem": None,
    }
    sim.set_paper_near_end()
    assert driver.status().paper_near_end and driver.status().problem is None
    sim.set_fault("cover_open")
    assert driver.status().to_json()["problem"] == "cover_open"
    assert sim.jobs() == []


def test_stopped_printer_is_unreachable(start_printer: Start) -> None:
    """A printer that is not there (nothing listens) is PrinterUnreachable, not a socket
    error."""
    sim, driver = start_printer(80)
    sim.stop()
    with pytest.raises(PrinterUnreachable) as caught:
        driver.status()
    assert isinstance(caught.value.__cause__, Exception)
    with pytest.raises(PrinterUnreachable):
        driver.print_page(Image.new("1", (576, 8), 0))


def test_wrong_pages_are_refused_before_anything_is_sent(start_printer: Start) -> None:
    """A page wider than the paper, or not 1-bit, is a programming error: nothing is sent."""
    sim, driver = start_printer(58)
    with pytest.raises(ValueError, match="384"):
        driver.print_page(Image.new("1", (576, 10), 0))
    with pytest.raises(ValueError, match="mode"):
        driver.print_page(Image.new("L", (384, 10), 0))
    assert sim.jobs() == []


def test_two_kiosk_threads_print_whole_pages(start_printer: Start) -> None:
    """Two threads printing at once give two whole pages, never interleaved."""
    sim, driver = start_printer(58)
    pages = [Image.new("1", (384, 200), 0), Image.new("1", (384, 120), 1)]
    pages[1].paste(0, (0, 0, 200, 120))
    threads = [threading.Thread(target=driver.print_page, args=(page,)) for page in pages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    printed = sorted((Image.open(p.png) for p in sim.last_pages(2)), key=lambda i: i.height)
    assert len(printed) == 2 and all(p.complete for p in sim.last_pages(2))
    for image, page in zip(printed, sorted(pages, key=lambda p: p.height), strict=True):
        top = image.crop((0, 0, 384, page.height))
        assert ImageChops.difference(top.convert("L"), page.convert("L")).getbbox() is None
