"""``kiosk sim``: the simulator's own commands (``hardware_sim.cli``, reached through the
registry, the only production module that imports ``hardware_sim``), refused in production
mode before any of them runs."""

from __future__ import annotations

import click

from application.registry import simulator_commands
from kiosk.config import ConfigError, load_settings


@click.group(name="sim")
def command() -> None:
    """Simulated My Number cards (for demos and training; never in production)."""
    try:
        mode = load_settings().mode
    except ConfigError as e:
        raise click.ClickException(f"configuration error: {e}") from e
    if mode == "production":
        raise click.ClickException(
            "KIOSK_MODE=production: the simulator commands are not available"
        )


for _name, _subcommand in simulator_commands().commands.items():
    command.add_command(_subcommand, _name)
