"""KIOSK_PRINTER and KIOSK_PRINTER_PAPER_MM: every accepted form, and a one-line error
naming the variable for anything else."""

from __future__ import annotations

import pytest

from kiosk.config import ConfigError, PrinterAddress, load_settings, parse_printer


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("none", None),
        ("", None),
        ("sim", PrinterAddress("sim")),
        ("tcp://192.168.10.31", PrinterAddress("tcp", host="192.168.10.31", port=9100)),
        (
            "tcp://kiosk-printer-2.ward.local:9101",
            PrinterAddress("tcp", host="kiosk-printer-2.ward.local", port=9101),
        ),
        ("tcp://[fd00::31]:9100", PrinterAddress("tcp", host="fd00::31", port=9100)),
        ("usb:04b8:0e28", PrinterAddress("usb", vendor_id=0x04B8, product_id=0x0E28)),
        ("usb:0x0416:0x5011", PrinterAddress("usb", vendor_id=0x0416, product_id=0x5011)),
        (
            "serial:/dev/ttyUSB0?baudrate=19200",
            PrinterAddress("serial", device="/dev/ttyUSB0", baudrate=19200),
        ),
        ("serial:/dev/ttyS0", PrinterAddress("serial", device="/dev/ttyS0", baudrate=9600)),
    ],
)
def test_accepted_printer_addresses(value: str, expected: PrinterAddress | None) -> None:
    """Each documented form of KIOSK_PRINTER parses to the device it names."""
    assert parse_printer(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "tcp://",
        "tcp://printer:0",
        "tcp://printer:99999",
        "http://printer:9100",
        "usb:4b8:e28",
        "usb:04b8",
        "serial:ttyUSB0",
        "serial:/dev/ttyUSB0?baudrate=12345",
        "lpt1",
        "Sim",
    ],
)
def test_bad_printer_addresses_name_the_variable(value: str) -> None:
    """A bad KIOSK_PRINTER stops start-up with one line that names the variable and value."""
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"KIOSK_PRINTER": value})
    message = str(caught.value)
    assert message.startswith(f"KIOSK_PRINTER={value!r}:")
    assert "\n" not in message


def test_paper_width_in_dots() -> None:
    """58 mm paper is 384 dots across and 80 mm paper 576, read from the environment."""
    assert load_settings(environ={"KIOSK_PRINTER_PAPER_MM": "58"}).printer_width_dots == 384
    assert load_settings(environ={"KIOSK_PRINTER_PAPER_MM": "80"}).printer_width_dots == 576


@pytest.mark.parametrize("value", ["72", "0", "wide"])
def test_bad_paper_width_names_the_variable(value: str) -> None:
    """Only 58 and 80 mm rolls exist for these printers; anything else names the variable."""
    with pytest.raises(ConfigError, match=r"^KIOSK_PRINTER_PAPER_MM="):
        load_settings(environ={"KIOSK_PRINTER_PAPER_MM": value})


def test_printer_address_from_settings() -> None:
    """Settings give the parsed address the application connects to."""
    settings = load_settings({"printer": "tcp://10.0.0.5:9100", "printer_paper_mm": 58})
    assert settings.printer_address == PrinterAddress("tcp", host="10.0.0.5", port=9100)
    assert load_settings({"printer": "none"}).printer_address is None
