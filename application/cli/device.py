"""``kiosk device``: this kiosk's device key, which the kiosk's own screen presents for every
visit and card operation (``application.device``)."""

from __future__ import annotations

import sys

import click

from application.device import device_file, provision_device_credential
from kiosk.config import ConfigError, load_settings


@click.group("device")
def command() -> None:
    """The kiosk's device key (card and PIN operations answer only to its holder)."""


@command.command("provision")
@click.option(
    "--rotate",
    is_flag=True,
    help="Replace the key (every enrolled browser and API client must be given the new one; "
    "restart the service).",
)
def provision_command(rotate: bool) -> None:
    """Create this kiosk's device key (once, at install) and print it with the link that
    enrols the kiosk's browser: open it once on the kiosk's own screen. API clients send the
    key as the X-Kiosk-Device header."""
    try:
        settings = load_settings()
    except ConfigError as e:
        click.echo(f"kiosk: configuration error: {e}", err=True)
        sys.exit(2)
    if settings.device_key:
        click.echo(
            "kiosk: KIOSK_DEVICE_KEY is set: the device key is that value (nothing written)",
            err=True,
        )
        credential = settings.device_key.strip()
    else:
        existed = device_file(settings.data_dir).exists()
        credential = provision_device_credential(settings.data_dir, rotate=rotate)
        done = "replaced" if rotate and existed else ("kept" if existed else "created")
        click.echo(f"kiosk: device key {done} in {device_file(settings.data_dir)}", err=True)
    click.echo(credential)
    click.echo(
        f"kiosk: enrol the kiosk's browser once: "
        f"http://{settings.host}:{settings.port}/device/#{credential}",
        err=True,
    )
