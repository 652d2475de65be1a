"""``kiosk serve``: the Flask app under waitress, and beside it the event server of the
live streams (``application.live``: the hub and ``ui.event_server``)."""

from __future__ import annotations

import logging
import sys

import click

from application.registry import is_loopback
from kiosk.config import ConfigError, Settings, load_settings


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
    from application.schema import SchemaOutdated
    from ui import create_app
    from ui.event_server import start_live_updates
    from ui.i18n import TranslationsNotCompiled
    from ui.services import services_of

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
    except (SchemaOutdated, TranslationsNotCompiled) as e:
        click.echo(f"kiosk: {e}", err=True)
        sys.exit(2)
    services = services_of(app)
    base = f"http://{settings.host}:{settings.port}"
    surfaces = [
        ("resident kiosk", "/kiosk/"),
        ("staff console", "/staff/"),
        ("display board", "/board/"),
        ("health", "/healthz"),
        ("API (OpenAPI)", "/api/openapi.json"),
    ]
    if services.simulation is not None:
        surfaces.append(("simulator panel", "/sim/"))
        if not settings.device_key:
            # A demo: enrolling this machine's browser as the kiosk's screen is one click.
            from application.device import provision_device_credential

            key = provision_device_credential(settings.data_dir)
            surfaces.insert(0, ("kiosk screen", f"/device/#{key}"))
    click.echo(
        f"kiosk: serving on {base}/ (database {settings.effective_database_url.split('?')[0]}, "
        f"card reader {settings.card_reader}, payments {settings.payments}); Ctrl+C stops",
        err=True,
    )
    for label, path in surfaces:
        click.echo(f"  {label:<16} {base}{path}", err=True)
    for warning in startup_warnings(settings):
        click.echo(f"kiosk: WARNING: {warning}", err=True)
    # The live streams are served beside waitress (no worker thread each).
    raise_open_files_limit()
    try:
        live = start_live_updates(app, host=settings.host, port=settings.events_port)
    except OSError as e:
        services.close()
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
        services.close()


def startup_warnings(settings: Settings) -> list[str]:
    """What ``serve`` warns about before it listens (printed, never fatal)."""
    warnings = []
    if settings.mode == "simulation" and not is_loopback(settings.host):
        warnings.append(
            f"simulation mode on {settings.host}, reachable from other machines: simulated "
            "cards and a simulated payment terminal (a fee can be marked paid with no money). "
            "A ward office runs KIOSK_MODE=production with real hardware."
        )
    unspecified = settings.host in ("0.0.0.0", "::")
    if settings.mode == "simulation" and not settings.public_url and unspecified:
        warnings.append(
            f"KIOSK_PUBLIC_URL is not set: the tickets' QR codes point at "
            f"{settings.public_base_url}, which no phone can open. Set it to the address "
            "phones reach this service at."
        )
    return warnings
