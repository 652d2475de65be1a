"""Kiosk screen speed on the embedded default: p95 answer time of every kiosk step and the
weight of the first page (HTML plus the CSS and JS it loads).

Runs the app in-process (Flask test client) on a fresh SQLite file with the in-process
simulated card and terminal, walks N resident visits through every step, and ends with
``screens: p95_ms=X first_page_kb=Y``. The PIN step is timed without the card's own APDU
time (measured separately and subtracted), the terminal's decision is not timed.

    .venv/bin/python bench/screens.py [--visits 30]
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

# bench/ holds scripts named like the packages (bench/payments.py): keep it off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

from application.schema import upgrade  # noqa: E402
from kiosk import db  # noqa: E402
from kiosk.privacy import load_data_key  # noqa: E402
from ui.services import services_of  # noqa: E402

BENCH_DEVICE_KEY = "bench-device-key-of-this-kiosk-0123456789"


def _app(data_dir: Path) -> Any:
    from ui import create_app

    url = f"sqlite:///{data_dir / 'kiosk.sqlite3'}"
    engine = db.make_engine(url, load_data_key("", data_dir))
    upgrade(engine)
    engine.dispose()
    return create_app(
        {
            "data_dir": data_dir,
            "database_url": url,
            "card_reader": "sim-direct",
            "sim_persona": "yamada",
            # The bench is the kiosk's own screen, walking visits back to back.
            "device_key": BENCH_DEVICE_KEY,
            "card_reads_per_minute": 100_000,
        }
    )


def _first_page_kb(client: Any) -> float:
    html = client.get("/kiosk/?lang=ja").get_data()
    total = len(html)
    for ref in re.findall(rb'(?:href|src)="(/static/[^"]+)"', html):
        total += len(client.get(ref.decode()).get_data())
    return total / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = _app(Path(tmp))
        reader = services_of(app).card_reader
        terminal = services_of(app).payments.terminal
        timings: dict[str, list[float]] = {}
        try:
            first_kb = _first_page_kb(app.test_client())
            for _ in range(args.visits):
                c = app.test_client()
                c.environ_base["HTTP_X_KIOSK_DEVICE"] = BENCH_DEVICE_KEY
                apdu_ms = 0.0

                def step(name: str, method: str, path: str, c: Any = c, **kw: Any) -> Any:
                    t0 = time.perf_counter()
                    response = getattr(c, method)(path, **kw)
                    elapsed = (time.perf_counter() - t0) * 1000
                    timings.setdefault(name, []).append(elapsed)
                    assert response.status_code < 400, (name, response.status_code)
                    return response

                step("welcome", "get", "/kiosk/?lang=ja")
                step("start", "post", "/kiosk/start")
                step("procedures", "get", "/kiosk/procedures")
                step("procedures_post", "post", "/kiosk/procedures", data={"procedure": "juminhyo"})
                step("fields", "get", "/kiosk/fields")
                step("fields_post", "post", "/kiosk/fields", data={"juminhyo.copies": "1"})
                step("card", "get", "/kiosk/card")
                step("card_state", "get", "/kiosk/card/state")
                t0 = time.perf_counter()
                reader.pin_tries_left()
                tries_ms = (time.perf_counter() - t0) * 1000
                step("pin", "get", "/kiosk/pin")
                timings["pin"][-1] = max(0.0, timings["pin"][-1] - tries_ms)
                t0 = time.perf_counter()
                reader.read("1234")
                apdu_ms = (time.perf_counter() - t0) * 1000
                step("pin_post", "post", "/kiosk/pin", data={"pin": "1234"})
                timings["pin_post"][-1] = max(0.0, timings["pin_post"][-1] - apdu_ms)
                step("check", "get", "/kiosk/check")
                step("confirm", "post", "/kiosk/confirm")
                step("pay", "get", "/kiosk/pay")
                step("pay_post", "post", "/kiosk/pay")
                step("pay_state", "get", "/kiosk/pay/state")
                terminal.approve()
                step("pay_done", "get", "/kiosk/pay/state")
                step("ticket", "get", "/kiosk/ticket")
                step("wipe", "post", "/kiosk/wipe")
        finally:
            services_of(app).close()
    every = sorted(t for ts in timings.values() for t in ts)
    p95 = statistics.quantiles(every, n=100)[94]
    for name, ts in timings.items():
        print(f"  {name:16s} p95={statistics.quantiles(ts, n=20)[18]:7.1f} ms")
    print(f"screens: p95_ms={p95:.1f} first_page_kb={first_kb:.1f}")


if __name__ == "__main__":
    main()
