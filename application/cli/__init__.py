"""The ``kiosk`` command line. Each area registers its own group from its own module."""

from __future__ import annotations

import importlib

import click

# Modules under application.cli that each expose ``command`` (a click command or group).
COMMAND_MODULES = [
    "serve",
    "sim",
    "card",
    "payments",
    "db",
    "purge",
    "staff",
    "device",
    "ledger",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """No-writing counter (書かない窓口) kiosk service and tools."""


for _module in COMMAND_MODULES:
    cli.add_command(importlib.import_module(f"application.cli.{_module}").command)


def main() -> None:
    cli(prog_name="kiosk")
