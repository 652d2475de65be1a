"""``kiosk serve``: the Flask app under waitress, and beside it the event server of the
live streams (``application.live``: the hub and ``ui.event_server``)."""

from __future__ import annotations

import logging
import sys

import click

from kiosk.config import ConfigError, load_settings


@click.command("serve")
@click.option(
    "--host", default=None, help="Address to listen on (default KIOSK_HOST or 127.0.0.1)."
)
@click.option("--port", type=int, default=None, help="Port (default KIOSK_PORT or 8080).")
@click.option("--threads", type=int, default=16, show_default=True, help="waitress worker threads.")
@click.option(
    "--events-port",
    type=int,
    default=None,
    help="Port of the live streams (default KIOSK_EVENTS_PORT or 8081).",
)
def command(host: str | None, port: int | None, threads: int, events_port: int | None) -> None:
    """Run the kiosk service (resident screens, staff console, board, API) under waitress."""
    import waitress

    from application.front import raise_open_files_limit, waitress_options
    from application.live import start_live_updates
    from ui import create_app

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    overrides = {
        k: v
        for k, v in {"host": host, "port": port, "events_port": events_port}.items()
        if v is not None
    }
    try:
        settings = load_settings(overrides)
        app = create_app(settings=settings)
    except ConfigError as e:
        click.echo(f"kiosk: configuration error: {e}", err=True)
        sys.exit(2)
    base = f"http://{settings.host}:{settings.port}"
    surfaces = [
        ("resident kiosk", "/kiosk/"),
        ("staff console", "/staff/"),
        ("display board", "/board/"),
        ("health", "/healthz"),
        ("API (OpenAPI)", "/api/openapi.json"),
    ]
    if "kiosk.card_simulator" in app.extensions or settings.payments == "sim":
        surfaces.append(("simulator panel", "/sim/"))
    click.echo(
        f"kiosk: serving on {base}/ (database {settings.effective_database_url.split('?')[0]}, "
        f"card reader {settings.card_reader}, payments {settings.payments}); Ctrl+C stops",
        err=True,
    )
    for label, path in surfaces:
        click.echo(f"  {label:<16} {base}{path}", err=True)
    # issue 10: the live streams are served beside waitress (no worker thread each).
    raise_open_files_limit()
    try:
        live = start_live_updates(app, host=settings.host, port=settings.events_port)
    except OSError as e:
        app.extensions["kiosk.shutdown"]()
        click.echo(
            f"kiosk: live streams: cannot listen on port {settings.events_port}: {e}", err=True
        )
        sys.exit(2)
    click.echo(
        f"  {'live streams':<16} http://{settings.host}:{live.server.port}/board/events", err=True
    )
    try:
        waitress.serve(
            app,
            host=settings.host,
            port=settings.port,
            **waitress_options(settings, threads=threads),
        )
    finally:
        live.stop()
        app.extensions["kiosk.shutdown"]()
