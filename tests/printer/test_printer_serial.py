"""The serial and USB paths of the driver. Serial: the real pyserial port on a
pseudo-terminal, bridged to the simulated printer (the bridge is the cable). USB: without a
device, a PrinterUnreachable that says so."""

from __future__ import annotations

import os
import select
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from application.printer import PrinterUnreachable, connect_printer
from hardware_sim.printer import SimulatedPrinter
from kiosk.config import parse_printer


@pytest.fixture
def serial_cable(tmp_path: Path) -> Iterator[tuple[SimulatedPrinter, str]]:
    """A simulated 58 mm printer at the end of a serial line: a pty whose master side is
    copied to and from the printer's TCP port. Yields (printer, the pty's device path)."""
    sim, _address = SimulatedPrinter.start(tmp_path, paper_mm=58)
    master, slave = os.openpty()
    device = os.ttyname(slave)
    stop = threading.Event()

    def bridge() -> None:
        with socket.create_connection(("127.0.0.1", sim.port)) as conn:
            while not stop.is_set():
                ready, _, _ = select.select([master, conn], [], [], 0.05)
                if master in ready:
                    conn.sendall(os.read(master, 65536))
                if conn in ready:
                    data = conn.recv(65536)
                    if not data:
                        return
                    os.write(master, data)

    thread = threading.Thread(target=bridge, daemon=True)
    thread.start()
    yield sim, device
    stop.set()
    thread.join(5)
    os.close(master)
    os.close(slave)
    sim.stop()


def test_serial_printer_prints_and_reports(serial_cable: tuple[SimulatedPrinter, str]) -> None:
    """Over a serial line at 19200 baud the page arrives whole and status comes back."""
    sim, device = serial_cable
    driver = connect_printer(parse_printer(f"serial:{device}?baudrate=19200"), 384, timeout_s=2)
    assert driver.status().problem is None
    page = Image.new("1", (384, 64), 1)
    page.paste(0, (100, 10, 300, 50))
    driver.print_page(page)
    (printed,) = sim.last_pages(1)
    top = Image.open(printed.png).crop((0, 0, 384, 64))
    assert ImageChops.difference(top.convert("L"), page.convert("L")).getbbox() is None
    sim.set_fault("paper_out")
    assert driver.status().to_json()["problem"] == "paper_out"


def test_missing_serial_port_is_unreachable() -> None:
    """A serial port that does not exist is PrinterUnreachable naming the port, one line."""
    driver = connect_printer(parse_printer("serial:/dev/ttyNoSuchPort9"), 576)
    with pytest.raises(PrinterUnreachable, match="/dev/ttyNoSuchPort9") as caught:
        driver.status()
    assert "\n" not in str(caught.value)


def test_missing_usb_printer_is_unreachable() -> None:
    """A USB printer that is not plugged in is PrinterUnreachable, not a pyusb error."""
    driver = connect_printer(parse_printer("usb:04b8:ffff"), 576)
    with pytest.raises(PrinterUnreachable, match="usb:04b8:ffff"):
        driver.status()
