"""Benchmark: a 住民票 case at the counter desk, from "new case" to paid, through the web
pages, with the counter's simulated card reader answering each APDU after 30 ms.

Staff at counter 1 (staff console) and the resident at counter 1's customer display are two
browsers (Flask test clients) on one app. A staff action is one form the member of staff
sends (the resident's PIN and check on the display are not staff actions). Measured from
the resident's PIN on the display to the prefilled form on the staff page: the display's
``POST /display/pin`` (the card is read in it) plus the staff page's next ``GET`` (the
page long-polls the desk and reloads when it changes). One line, medians over ``--cases``:

    counter: pin_to_form_ms=X staff_actions=N

Aims (issue 11): pin_to_form_ms < 1500 and staff_actions <= 8.

Usage: .venv/bin/python bench/counter.py [--cases 5] [--apdu-ms 30]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from application.schema import upgrade  # noqa: E402
from kiosk import db  # noqa: E402
from kiosk.db import transaction  # noqa: E402
from kiosk.models import StaffRole  # noqa: E402
from kiosk.privacy import load_data_key  # noqa: E402
from kiosk.staff import create_staff  # noqa: E402
from ui.services import services_of  # noqa: E402

PASSWORD = "bench-password-42"
NAME = "山田"  # the persona's family name


def _app(data_dir: Path) -> Any:
    from ui import create_app

    url = f"sqlite:///{data_dir / 'kiosk.sqlite3'}"
    engine = db.make_engine(url, load_data_key("", data_dir))
    upgrade(engine)
    engine.dispose()
    app = create_app({"data_dir": data_dir, "database_url": url, "card_reader": "sim-direct"})
    with transaction(services_of(app).sessions) as s:
        create_staff(s, "clerk", PASSWORD, StaffRole.STAFF, actor="cli:bench")
    return app


class Browser:
    """A test client that sends the console's CSRF token and counts the forms it sends."""

    def __init__(self, app: Any) -> None:
        self.client = app.test_client()
        self.forms = 0

    def _token(self) -> str:
        with self.client.session_transaction() as sess:
            token = sess.get("csrf")
        if not token:
            html = self.client.get("/staff/login").get_data(as_text=True)
            token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
        return str(token)

    def post(self, url: str, **data: Any) -> Any:
        self.forms += 1
        response = self.client.post(url, data={**data, "csrf_token": self._token()})
        if response.status_code not in (200, 302):
            raise SystemExit(f"POST {url}: {response.status_code}")
        return response

    def get(self, url: str) -> str:
        return str(self.client.get(url).get_data(as_text=True))


def _log_in(browser: Browser) -> None:
    browser.post("/staff/login", username="clerk", password=PASSWORD)
    browser.post("/staff/counter", counter="1")


def one_case(app: Any, staff: Browser, display: Browser) -> tuple[float, int]:
    """One intake; returns (PIN to form in ms, staff forms sent)."""
    desks = services_of(app).counter_desk
    assert desks is not None
    staff.forms = 0
    with desks.desk("1").display_polling():  # the display's page is open and polling
        return _intake(staff, display)


def _intake(staff: Browser, display: Browser) -> tuple[float, int]:
    staff.post("/staff/desk/new")
    staff.post(
        "/staff/desk/procedures", procedure="juminhyo", next="card", **{"juminhyo.copies": "1"}
    )
    started = time.perf_counter()
    display.post("/display/pin", pin="1234")
    page = staff.get("/staff/desk")
    pin_to_form = (time.perf_counter() - started) * 1000
    if NAME not in page:
        raise SystemExit("the prefilled form did not reach the staff page")
    display.post("/display/confirm")
    page = staff.get("/staff/desk")
    found = re.search(r"/staff/cases/(\d+)/cash", page)
    key = re.search(r'name="request_key" value="([^"]+)"', page)
    if not (found and key):
        raise SystemExit("no cash form on the desk page")
    case_id = int(found.group(1))
    staff.post(
        f"/staff/cases/{case_id}/cash",
        amount_yen="300",
        tendered_yen="1000",
        request_key=key.group(1),
        next="/staff/desk",
    )
    staff.post(f"/staff/cases/{case_id}/complete")
    return pin_to_form, staff.forms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5)
    parser.add_argument("--apdu-ms", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = _app(Path(tmp))
        try:
            simulation = services_of(app).simulation
            assert simulation is not None
            reader = simulation.counter_readers["1"]
            reader.insert("yamada")
            reader.faults.set(delay_s=args.apdu_ms / 1000)
            staff = Browser(app)
            _log_in(staff)
            display = Browser(app)
            _log_in(display)
            display.post("/display/pair")
            times, actions = [], []
            for _ in range(args.cases):
                ms, forms = one_case(app, staff, display)
                times.append(ms)
                actions.append(forms)
        finally:
            services_of(app).close()
    print(f"counter: pin_to_form_ms={statistics.median(times):.0f} staff_actions={max(actions)}")


if __name__ == "__main__":
    main()
