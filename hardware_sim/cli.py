"""``kiosk sim``: the card simulator for demos, staff training and manual testing (the
``kiosk`` command line takes this group from the registry, and only in simulation mode).

``kiosk sim card --persona yamada`` plugs that resident's simulated My Number card into
pcscd (vpcd reader) until stopped; ``kiosk sim personas`` lists the demo residents.
Individual numbers are never printed. Text PINs are, because these are demo personas and
trainers need them.

``kiosk sim trust-keys``, ``trust-anchors`` and ``jpki-crl`` write the simulator's test trust
configuration for ``KIOSK_CARD_TRUST_KEYS``, ``KIOSK_JPKI_TRUST_ANCHORS`` and
``KIOSK_JPKI_CRL``: the keys of the simulator state given by ``--state`` (the same as the
simulated cards'), never to be configured on a production kiosk.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import BinaryIO

import click

DEFAULT_STATE = Path("var/sim-cards.json")
SEX_LABELS = {"1": "男", "2": "女", "9": "適用不能"}


@click.group(name="sim")
def command() -> None:
    """Simulated My Number cards (for demos and training; never in production)."""


@command.command("personas")
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_STATE,
    show_default=True,
    help="PIN state store: shows the tries left of cards already used.",
)
def personas_command(state: Path) -> None:
    """List the demo residents (key, name, birth date, sex, Text PIN, tries left, notes)."""
    from hardware_sim.card import PIN_TEXT, PinStateStore
    from hardware_sim.personas import japanese_era, load_personas

    store = PinStateStore(state)
    rows = [("KEY", "NAME", "BORN", "SEX", "PIN", "TRIES", "NOTES")]
    for persona in load_personas().values():
        era, year = japanese_era(persona.birth_date)
        stored = store.get(persona.card_serial, PIN_TEXT)
        tries = persona.text_tries if stored is None else stored
        rows.append(
            (
                persona.key,
                persona.name,
                f"{persona.birth_date.isoformat()} ({era}{year})",
                SEX_LABELS.get(persona.sex_code, persona.sex_code),
                persona.text_pin,
                f"{tries}/3" + (" LOCKED" if tries == 0 else ""),
                persona.notes,
            )
        )
    widths = [max(_width(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [c + " " * (w - _width(c)) for c, w in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())


def _width(text: str) -> int:
    """Display width: East Asian wide characters take two columns."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


@command.command("card")
@click.option("--persona", "persona_key", required=True, help="Persona key, e.g. yamada.")
@click.option("--host", default="127.0.0.1", show_default=True, help="vpcd host.")
@click.option("--port", type=int, default=35963, show_default=True, help="vpcd reader port.")
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_STATE,
    show_default=True,
    help="PIN state store shared with other simulator processes.",
)
def card_command(persona_key: str, host: str, port: int, state: Path) -> None:
    """Insert PERSONA's card into the vpcd reader until SIGINT/SIGTERM, then remove it."""
    from hardware_sim.card import PinStateStore, SimulatedCard
    from hardware_sim.personas import load_personas
    from hardware_sim.vpcd import VirtualCardClient

    personas = load_personas()
    if persona_key not in personas:
        raise click.BadParameter(
            f"unknown persona; choose from {', '.join(personas)}", param_hint="--persona"
        )
    persona = personas[persona_key]
    card = SimulatedCard.from_persona(
        persona, PinStateStore(state), key_dir=state.parent / "sim-keys"
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    client = VirtualCardClient(host, port)
    try:
        try:
            client.insert(card)
        except OSError as e:
            raise click.ClickException(
                f"cannot reach the vpcd reader at {host}:{port} ({e.strerror or e}); "
                "is pcscd running (scripts/pcscd.sh start)?"
            ) from e
        click.echo(f"card of {persona.key} ({persona.name}) inserted at {host}:{port}")
        while not stop.wait(0.5):
            if not client.inserted:  # pcscd restarted or the reader dropped us: plug in again
                try:
                    client.insert(card)
                except OSError:
                    continue
    finally:
        client.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    click.echo("card removed")


_STATE_OPTION = click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_STATE,
    show_default=True,
    help="Simulator state whose test keys (in sim-keys/ beside it) to use.",
)
_OUT_OPTION = click.option(
    "--out",
    type=click.File("wb"),
    default="-",
    show_default=True,
    help="Where to write it ('-': standard output).",
)


@command.command("trust-keys")
@_STATE_OPTION
@_OUT_OPTION
def trust_keys_command(state: Path, out: BinaryIO) -> None:
    """Write the simulator's CVC issuer key in the KIOSK_CARD_TRUST_KEYS format (JSON)."""
    import json

    from hardware_sim.trust import card_trust_keys

    out.write((json.dumps(card_trust_keys(state.parent / "sim-keys"), indent=1) + "\n").encode())


@command.command("trust-anchors")
@_STATE_OPTION
@_OUT_OPTION
def trust_anchors_command(state: Path, out: BinaryIO) -> None:
    """Write the simulator's JPKI CA certificates for KIOSK_JPKI_TRUST_ANCHORS (PEM)."""
    from hardware_sim.trust import jpki_trust_anchors_pem

    out.write(jpki_trust_anchors_pem(state.parent / "sim-keys"))


@command.command("jpki-crl")
@_STATE_OPTION
@_OUT_OPTION
@click.option(
    "--days", type=click.IntRange(min=1), default=7, show_default=True, help="Valid for N days."
)
def jpki_crl_command(state: Path, out: BinaryIO, days: int) -> None:
    """Write a CRL of the simulator's JPKI CA revoking the personas marked revoked (PEM)."""
    from datetime import timedelta

    from hardware_sim.trust import jpki_crl_pem

    out.write(jpki_crl_pem(key_dir=state.parent / "sim-keys", valid_for=timedelta(days=days)))
