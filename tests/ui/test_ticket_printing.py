"""The printed ticket wired into the kiosk: the registry's printer (``KIOSK_PRINTER``), the
background print queue (``application.printing``), the ticket (and the receipt of a paid
visit) printed when it is issued, the ticket screen when the printer cannot print, ``/healthz``
and the simulator panel. Printed on the simulated network printer through the real ESC/POS
driver; the pages are decoded back from the printer's PNGs."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from flask import Flask
from PIL import Image

from application.printing import MAX_PRINTS
from kiosk.config import ConfigError
from kiosk.help import open_alerts
from kiosk.models import Ticket
from tests.support.waiting import wait_until
from tests.ui.test_receipts_resident import free_visit, paid_visit
from ui.services import services_of

PUBLIC = "https://madoguchi.city.example.lg.jp"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "printer"


def _printer(app: Flask) -> Any:
    return services_of(app).simulation.printer  # type: ignore[union-attr]


def _settled(client: Any) -> dict[str, Any]:
    """The ticket screen's print state once the job is done (printed or failed)."""
    return wait_until(
        lambda: (
            (state := client.get("/kiosk/ticket/print-state").get_json())["state"]
            in ("printed", "failed")
            and state
        ),
        timeout_s=15,
        message="the ticket's printing",
    )


def qr_texts(png: Path) -> list[str]:
    """The texts of the QR codes on a printed page."""
    with Image.open(png) as image:
        return [code.text for code in zxingcpp.read_barcodes(image.convert("L"))]


def _token(app: Flask) -> str:
    with services_of(app).sessions() as s:
        return s.query(Ticket).order_by(Ticket.id.desc()).first().token  # type: ignore[union-attr]


def test_a_paid_visit_prints_its_ticket_and_receipt_with_the_public_qr(
    make_app: Callable[..., Flask],
) -> None:
    """Paying issues the ticket, which is printed by itself with its receipt: two pages,
    the ticket's QR code decodes back to the phone page at KIOSK_PUBLIC_URL."""
    app = make_app(sim_persona="yamada", public_url=PUBLIC)
    kiosk = paid_visit(app, "ja")
    state = _settled(kiosk.client)
    assert state["state"] == "printed"
    assert state["message"] == "番号券を 印刷しました。プリンターから 取って ください。"
    receipt, ticket = _printer(app).last_pages(2)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(ticket.png, ARTIFACTS / "kiosk-ticket-ja.png")
    shutil.copy(receipt.png, ARTIFACTS / "kiosk-receipt-ja.png")
    assert qr_texts(ticket.png) == [f"{PUBLIC}/t/{_token(app)}"]
    assert ticket.complete and receipt.complete
    assert qr_texts(receipt.png) == []


def test_the_request_never_waits_for_the_printer(make_app: Callable[..., Flask]) -> None:
    """While the printer is still busy with the ticket, the confirmation has already sent
    the resident to the ticket screen, which says it is printing."""
    app = make_app(sim_persona="yamada")
    service = services_of(app).printer
    assert service is not None
    release = threading.Event()
    drawing = service.printouts

    class SlowPrintouts:
        def visit_pages(self, ticket_token: str) -> list[Any]:
            release.wait(timeout=20)
            return drawing.visit_pages(ticket_token)  # type: ignore[union-attr]

    service.printouts = SlowPrintouts()
    kiosk = free_visit(app, "en")  # asserts the confirmation redirected to the ticket
    state = kiosk.client.get("/kiosk/ticket/print-state").get_json()
    assert state["state"] in ("queued", "printing")
    assert "Printing your ticket" in kiosk.client.get("/kiosk/ticket").get_data(as_text=True)
    release.set()
    assert _settled(kiosk.client)["state"] == "printed"


def test_paper_out_tells_the_resident_and_calls_staff_then_prints_again(
    make_app: Callable[..., Flask],
) -> None:
    """Paper out: the ticket screen asks the resident to photograph the QR code or ask staff
    (with its voice), a call for staff names the printer; after a new roll the resident's
    "Print ticket" prints it, a few times at most."""
    app = make_app(sim_persona="yamada")
    _printer(app).set_fault("paper_out")
    kiosk = free_visit(app, "ja")
    state = _settled(kiosk.client)
    assert (state["state"], state["problem"]) == ("failed", "paper_out")
    assert state["may_print_again"] is True
    html = kiosk.client.get("/kiosk/ticket").get_data(as_text=True)
    assert "QRコードの 写真を とるか、職員に 声を かけて ください" in html
    assert 'data-state="failed"' in html and "/api/voice/guide/print_failed" in html
    with services_of(app).sessions() as s:
        assert [a.screen for a in open_alerts(s)] == ["printer"]
    assert _printer(app).last_pages() == []

    _printer(app).clear_fault()
    kiosk.client.post("/kiosk/ticket/print")
    assert _settled(kiosk.client)["state"] == "printed"
    assert len(_printer(app).last_pages()) == 1
    for _ in range(MAX_PRINTS):
        kiosk.client.post("/kiosk/ticket/print")
        _settled(kiosk.client)
    final = kiosk.client.get("/kiosk/ticket/print-state").get_json()
    assert final["may_print_again"] is False
    assert len(_printer(app).last_pages(10)) == MAX_PRINTS - 1  # the failed try counts


def test_healthz_reports_the_printer(make_app: Callable[..., Flask]) -> None:
    """/healthz asks the printer: ok when it can print, 503 naming cover_open when not."""
    app = make_app()
    client = app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.get_json()["printer"]["ok"] is True
    assert health.get_json()["printer"]["printer"] == "sim"
    _printer(app).set_fault("cover_open")
    health = client.get("/healthz")
    assert health.status_code == 503
    printer = health.get_json()["printer"]
    assert (printer["ok"], printer["problem"]) == (False, "cover_open")


def test_without_a_printer_the_screen_offers_the_browser_print(
    make_app: Callable[..., Flask],
) -> None:
    """KIOSK_PRINTER=none: no print service, no printer in /healthz, the ticket screen keeps
    the browser's print button and the print state says there is no printer."""
    app = make_app(sim_persona="yamada", printer="none")
    assert services_of(app).printer is None
    kiosk = free_visit(app, "en")
    assert kiosk.client.get("/kiosk/ticket/print-state").get_json() == {"state": "no_printer"}
    html = kiosk.client.get("/kiosk/ticket").get_data(as_text=True)
    assert "data-print" in html and 'id="print-state"' not in html
    assert "printer" not in kiosk.client.get("/healthz").get_json()


def test_a_missing_cjk_font_stops_start_up(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kiosk whose printer cannot draw Japanese must not start: one line naming the
    printer setting and the missing font."""
    import ui.printing
    from ui.printout import FontMissing

    def no_font(weight: str) -> Path:
        raise FontMissing("Noto Sans CJK is not installed: apt-get install fonts-noto-cjk")

    monkeypatch.setattr(ui.printing, "font_path", no_font)
    with pytest.raises(ConfigError, match=r"^KIOSK_PRINTER=sim: Noto Sans CJK is not installed"):
        make_app()


def test_the_simulator_panel_shows_printed_pages_and_injects_faults(
    make_app: Callable[..., Flask],
) -> None:
    """The panel lists the last printed page as a PNG it serves, and its buttons set and
    clear the printer's faults."""
    app = make_app(sim_persona="yamada")
    kiosk = free_visit(app, "en")
    _settled(kiosk.client)
    (page,) = _printer(app).last_pages()
    panel = app.test_client()
    html = panel.get("/sim/?lang=en").get_data(as_text=True)
    assert f"/sim/printer/pages/{page.number}.png" in html
    png = panel.get(f"/sim/printer/pages/{page.number}.png")
    assert png.mimetype == "image/png" and png.data.startswith(b"\x89PNG")
    png.close()
    assert panel.get("/sim/printer/pages/999.png").status_code == 404
    panel.post("/sim/printer", data={"action": "fault", "fault": "paper_out"})
    assert _printer(app).faults == {"paper_out"}
    assert panel.post("/sim/printer", data={"action": "fault", "fault": "x"}).status_code == 400
    panel.post("/sim/printer", data={"action": "clear"})
    assert _printer(app).faults == frozenset()
