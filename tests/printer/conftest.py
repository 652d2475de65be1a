"""Fixtures for the ticket printer: the simulated printer on a real TCP port, the ESC/POS
driver connected to it, and an app whose translations the printout uses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask

from application.printer import EscposTicketPrinter, connect_printer
from hardware_sim.printer import SimulatedPrinter
from kiosk.config import PAPER_WIDTH_DOTS, parse_printer
from payments.receipts import Receipt, ReceiptLine
from ui.printout import TicketPrintout

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "printer"
PHONE_URL = "https://madoguchi.example.city.lg.jp/t/Qx7hV2mZk9LbW4sR"


@pytest.fixture
def start_printer(
    tmp_path: Path,
) -> Iterator[Callable[..., tuple[SimulatedPrinter, EscposTicketPrinter]]]:
    """Factory: ``start_printer(paper_mm)`` -> (simulated printer on 127.0.0.1, the real
    driver connected to it over TCP). Stopped after the test."""
    started: list[SimulatedPrinter] = []

    def start(
        paper_mm: int = 80, timeout_s: float = 2.0
    ) -> tuple[SimulatedPrinter, EscposTicketPrinter]:
        sim, address = SimulatedPrinter.start(tmp_path / f"sim-{len(started)}", paper_mm=paper_mm)
        started.append(sim)
        driver = connect_printer(
            parse_printer(address), PAPER_WIDTH_DOTS[paper_mm], timeout_s=timeout_s
        )
        return sim, driver

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture(scope="session")
def babel_app() -> Flask:
    """A Flask app with the project's Flask-Babel set-up (the four languages' catalogs)."""
    from ui.i18n import init_i18n

    app = Flask("printout-tests")
    init_i18n(app)
    return app


def ticket(language: str = "ja", number: str = "A-017") -> TicketPrintout:
    """A ticket of the certificates queue, with the queue's name in ``language``."""
    queue = {
        "ja": "証明書の発行",
        "en": "Certificates",
        "zh-Hans": "证明书发行",
        "ko": "증명서 발급",
    }[language]
    return TicketPrintout(
        ward_name="みなと区役所",
        queue_name=queue,
        number=number,
        issued_at=datetime(2026, 11, 27, 1, 15, tzinfo=UTC),
        people_ahead=3,
        phone_url=PHONE_URL,
    )


def receipt(language: str = "ja") -> Receipt:
    """A paid receipt of two procedures (three copies), as payments.receipts builds it."""
    names = {
        "ja": ("住民票の写し", "印鑑登録証明書"),
        "en": ("Certificate of residence", "Seal registration certificate"),
    }[language]
    return Receipt(
        title="利用明細",
        language=language,
        ward_name="みなと区役所",
        number="pay_7Kq2x9Lm4Np8",
        case_id=42,
        paid_at="2026-11-27T10:15:00+09:00",
        lines=(
            ReceiptLine("juminhyo", names[0], 2, 300, 600),
            ReceiptLine("inkan", names[1], 1, 300, 300),
        ),
        total_yen=900,
        refunded_yen=0,
        method="card_present",
        provider="sim",
        provider_reference="pi_3QdemoABCDEFGHIJ",
    )
