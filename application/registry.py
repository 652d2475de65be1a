"""The one registry: configuration names -> the real or simulated implementation.

``KIOSK_CARD_READER``, ``KIOSK_PAYMENTS`` and ``KIOSK_PRINTER`` name an implementation here,
and nowhere else; so do the counters' own readers, terminals and QR checkout
(``KIOSK_COUNTER_READERS``, ``KIOSK_COUNTER_TERMINALS``, ``KIOSK_COUNTER_QR``:
:func:`build_counter_hardware`). This is the only production module that imports
``hardware_sim``: the simulated card (and its reader rig), the simulated payment terminal,
the simulated ticket printer. Every entry says whether it is a simulator, so the production
mode can refuse them all in one place.

``KIOSK_MODE``:

- ``simulation`` (the embedded default, so ``scripts/serve.sh`` runs on a fresh machine):
  any implementation; the simulator panel (``/sim/``) exists when something is simulated.
- ``production`` (a ward office): every simulator is refused at start-up with a one-line
  reason naming the variable: a simulated card or reader, the simulated terminal (at the
  kiosk or at a counter), and a Stripe API base that is not Stripe's (the test stand-in).
  ``/sim/`` does not exist.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import click

from application.printer import TicketPrinter, connect_printer
from cardreader.reader import CardReader, DirectCardReader, PcscCardReader
from cardreader.trust import CardTrust
from hardware_sim.cli import command as _simulator_group
from hardware_sim.printer import FAULTS as PRINTER_FAULTS
from hardware_sim.printer import SimulatedPrinter
from hardware_sim.rig import SimulatedReaderRig, UnknownPersona
from hardware_sim.terminal import (
    RefundTooLarge,
    SimulatedTerminal,
    TerminalError,
    TerminalOffline,
    UnknownPayment,
)
from hardware_sim.trust import write_trust_files
from kiosk.config import ConfigError, Settings, parse_printer
from payments.provider import PaymentProvider
from payments.sim import SimulatedTerminalProvider, TerminalFaults
from payments.states import CRASH_AT_ENV

__all__ = [
    "CARD_READERS",
    "MODES",
    "CardReaderChoice",
    "PAYMENT_PROVIDERS",
    "LIVE_STRIPE_API_BASE",
    "PRINTERS",
    "PRINTER_FAULTS",
    "RefundTooLarge",
    "SimulatedPrinter",
    "SimulatedReaderRig",
    "SimulatedTerminal",
    "Simulation",
    "TerminalError",
    "UnknownPersona",
    "CounterHardware",
    "build_card_reader",
    "build_counter_hardware",
    "build_payment_provider",
    "build_printer",
    "check_settings",
    "checkout_return_url",
    "is_loopback",
    "only_this_machine",
    "simulated_payments",
    "simulator_commands",
]

MODES = ("simulation", "production")
LIVE_STRIPE_API_BASE = "https://api.stripe.com"


@dataclass(frozen=True)
class Implementation:
    """One choice of a configuration variable: what it is and whether it is a simulator."""

    description: str
    simulated: bool


CARD_READERS: dict[str, Implementation] = {
    "pcsc": Implementation("a real PC/SC card reader", simulated=False),
    "sim": Implementation("a simulated card plugged into pcscd through vpcd", simulated=True),
    "sim-direct": Implementation("a simulated card read in-process", simulated=True),
}
# KIOSK_PRINTER by kind (kiosk.config.parse_printer reads the address).
PRINTERS: dict[str, Implementation] = {
    "none": Implementation("no ticket printer", simulated=False),
    "sim": Implementation("the simulated ticket printer", simulated=True),
    "tcp": Implementation("a network ESC/POS printer", simulated=False),
    "usb": Implementation("a USB ESC/POS printer", simulated=False),
    "serial": Implementation("a serial ESC/POS printer", simulated=False),
}
PAYMENT_PROVIDERS: dict[str, Implementation] = {
    "stripe_terminal": Implementation("Stripe Terminal (card present)", simulated=False),
    "stripe_checkout": Implementation("Stripe Checkout shown as a QR code", simulated=False),
    "sim": Implementation("the simulated payment terminal", simulated=True),
}


@dataclass
class Simulation:
    """What the simulator panel and staff training drive; present only in simulation mode
    and only when something is simulated. ``reader``: the simulated reader rig (insert and
    remove personas' cards, PIN tries, faults); ``terminal``: the simulated payment
    terminal (approve, decline, time out, refund at the terminal); ``printer``: the
    simulated ticket printer (the pages it printed, paper out, cover open, ...);
    ``counter_readers`` and ``counter_terminals``: the same for each counter's own devices,
    by counter code."""

    reader: SimulatedReaderRig | None
    terminal: SimulatedTerminal | None
    printer: SimulatedPrinter | None = None
    counter_readers: dict[str, SimulatedReaderRig] = field(default_factory=dict)
    counter_terminals: dict[str, SimulatedTerminal] = field(default_factory=dict)


def _choice(variable: str, value: str, table: dict[str, Implementation]) -> Implementation:
    try:
        return table[value]
    except KeyError:
        raise ConfigError(f"{variable}={value!r}: expected one of {', '.join(table)}") from None


def check_settings(settings: Settings) -> None:
    """Validate the choices this registry owns; in production refuse every simulator.

    Raises :class:`ConfigError` with one line naming the variable to change.
    """
    if settings.mode not in MODES:
        raise ConfigError(f"KIOSK_MODE={settings.mode!r}: expected one of {', '.join(MODES)}")
    reader = _choice("KIOSK_CARD_READER", settings.card_reader, CARD_READERS)
    payments = _choice("KIOSK_PAYMENTS", settings.payments, PAYMENT_PROVIDERS)
    if settings.payments.startswith("stripe"):
        if not (settings.stripe_api_key and settings.stripe_webhook_secret):
            raise ConfigError(
                f"KIOSK_PAYMENTS={settings.payments}: set KIOSK_STRIPE_API_KEY and "
                "KIOSK_STRIPE_WEBHOOK_SECRET"
            )
        if settings.payments == "stripe_terminal" and not settings.stripe_reader_id:
            raise ConfigError("KIOSK_PAYMENTS=stripe_terminal: set KIOSK_STRIPE_READER_ID")
        if settings.payments == "stripe_checkout" and not (
            settings.stripe_return_url or settings.public_url
        ):
            raise ConfigError(
                "KIOSK_PAYMENTS=stripe_checkout: set KIOSK_PUBLIC_URL (the return page is then "
                "<KIOSK_PUBLIC_URL>/pay/done) or KIOSK_STRIPE_RETURN_URL"
            )
    _check_counter_settings(settings)
    if settings.mode != "production":
        return
    if "sim" in (settings.counter_terminal_map or {}).values():
        code = next(c for c, v in (settings.counter_terminal_map or {}).items() if v == "sim")
        raise ConfigError(
            f"KIOSK_MODE=production refuses KIOSK_COUNTER_TERMINALS={code}=sim (the simulated "
            "payment terminal): give the counter's Stripe reader id (tmr_...)"
        )
    if reader.simulated:
        raise ConfigError(
            f"KIOSK_MODE=production refuses KIOSK_CARD_READER={settings.card_reader} "
            f"({reader.description}): set KIOSK_CARD_READER=pcsc"
        )
    if payments.simulated:
        raise ConfigError(
            f"KIOSK_MODE=production refuses KIOSK_PAYMENTS={settings.payments} "
            f"({payments.description}): set stripe_terminal or stripe_checkout"
        )
    if settings.stripe_api_base.rstrip("/") != LIVE_STRIPE_API_BASE:
        raise ConfigError(
            f"KIOSK_MODE=production refuses KIOSK_STRIPE_API_BASE={settings.stripe_api_base} "
            f"(a stand-in of Stripe's API): unset it to use {LIVE_STRIPE_API_BASE}"
        )
    if os.environ.get(CRASH_AT_ENV):
        raise ConfigError(
            f"KIOSK_MODE=production refuses {CRASH_AT_ENV} (the tests' crash points): unset it"
        )
    printer = settings.printer_address
    if printer is not None and PRINTERS[printer.kind].simulated:
        raise ConfigError(
            f"KIOSK_MODE=production refuses KIOSK_PRINTER={settings.printer} "
            f"({PRINTERS[printer.kind].description}): set tcp://HOST, usb:VID:PID, "
            "serial:DEVICE or none"
        )
    _check_public_addresses(settings)


def _check_public_addresses(settings: Settings) -> None:
    """Production: phones must be able to open what the QR codes and return pages say."""
    if not settings.public_url:
        raise ConfigError(
            "KIOSK_MODE=production needs KIOSK_PUBLIC_URL: the address residents' phones "
            "reach this service at (e.g. https://madoguchi.city.example.lg.jp)"
        )
    for variable, url in (
        ("KIOSK_PUBLIC_URL", settings.public_url),
        ("KIOSK_STRIPE_RETURN_URL", settings.stripe_return_url),
    ):
        host = urlsplit(url).hostname or ""
        if url and only_this_machine(host):
            raise ConfigError(
                f"KIOSK_MODE=production refuses {variable}={url} (a loopback address: a "
                "resident's phone cannot reach it): use the address phones reach"
            )


def only_this_machine(host: str) -> bool:
    """Whether a URL's ``host`` can only be reached from this machine: a loopback name or
    address (``localhost``, ``*.localhost``, ``127.0.0.0/8``, ``::1``) or the unspecified
    address (``0.0.0.0``, ``::``)."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _check_counter_settings(settings: Settings) -> None:
    """The counters' devices: Stripe at a counter needs the service's Stripe keys (its
    webhook serves the counters too), a QR checkout also the page phones return to."""
    stripe_needed = [
        f"KIOSK_COUNTER_TERMINALS={code}={value}"
        for code, value in (settings.counter_terminal_map or {}).items()
        if value.startswith("tmr_")
    ]
    if settings.counter_qr:
        stripe_needed.append(f"KIOSK_COUNTER_QR={settings.counter_qr}")
        if not settings.stripe_return_url:
            raise ConfigError(
                f"KIOSK_COUNTER_QR={settings.counter_qr}: set KIOSK_STRIPE_RETURN_URL (the page "
                "of this service a resident's phone returns to, e.g. https://<service>/pay/done)"
            )
    if stripe_needed and not (settings.stripe_api_key and settings.stripe_webhook_secret):
        raise ConfigError(
            f"{stripe_needed[0]}: set KIOSK_STRIPE_API_KEY and KIOSK_STRIPE_WEBHOOK_SECRET"
        )


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class CardReaderChoice:
    """What :func:`build_card_reader` built: the reader, the simulated reader rig behind it
    (None for a real reader), and the trust anchors the reader checks cards against, with
    where they came from (``configured``: the ward's files; ``simulator``: the simulator's
    own test keys, for simulated cards only)."""

    reader: CardReader
    rig: SimulatedReaderRig | None
    trust: CardTrust
    trust_source: str


def build_card_reader(settings: Settings, shutdown: list[Callable[[], None]]) -> CardReaderChoice:
    """The card reader ``KIOSK_CARD_READER`` names, the simulated reader rig behind it and its
    trust anchors. ``pcsc``: a real reader. ``sim``: the simulator plugs the demo persona's
    card into pcscd (vpcd driver) and the production PC/SC path reads it. ``sim-direct``: the
    simulated card is read in-process (no pcscd)."""
    _choice("KIOSK_CARD_READER", settings.card_reader, CARD_READERS)
    if settings.card_reader == "pcsc":
        trust = settings.card_trust()
        return CardReaderChoice(
            PcscCardReader(settings.reader_name, trust=trust), None, trust, "configured"
        )
    via_pcscd = settings.card_reader == "sim"
    rig = SimulatedReaderRig(
        settings.data_dir, via_pcscd=via_pcscd, vpcd_port=settings.sim_vpcd_port
    )
    shutdown.append(rig.close)
    if settings.sim_persona:
        rig.insert(settings.sim_persona)
    trust, source = _simulation_trust(settings, rig)
    if via_pcscd:
        reader: CardReader = PcscCardReader(
            settings.reader_name or "Virtual PCD 00 00", trust=trust
        )
    else:
        reader = DirectCardReader(
            rig.in_process_card, trust=trust, card_events=lambda: rig.card_events
        )
    return CardReaderChoice(reader, rig, trust, source)


def _simulation_trust(settings: Settings, rig: SimulatedReaderRig) -> tuple[CardTrust, str]:
    """The trust anchors for simulated cards: the configured files if any, else the
    simulator's own test keys (written into the data dir), so the genuine-card checks run
    in simulation exactly as a ward configures them with J-LIS keys."""
    if settings.card_trust_keys or settings.jpki_trust_anchors or settings.jpki_crl:
        return settings.card_trust(), "configured"
    files = write_trust_files(Path(settings.data_dir) / "sim-trust", key_dir=rig.key_dir)
    trust = CardTrust.load(files.card_trust_keys, files.jpki_trust_anchors, files.jpki_crl)
    return trust, "simulator"


def build_printer(
    settings: Settings, shutdown: list[Callable[[], None]]
) -> tuple[TicketPrinter | None, SimulatedPrinter | None]:
    """The ticket printer ``KIOSK_PRINTER`` names (None for ``none``), and the simulated
    printer behind it (``sim``: started on a free 127.0.0.1 port, its pages in
    ``<KIOSK_DATA_DIR>/printed/``, and driven by the real ESC/POS driver over TCP, as a
    network printer would be). Nothing is opened on a real printer until the first print.
    The caller's ``shutdown`` list stops the simulated printer."""
    address = settings.printer_address
    if address is None:
        return None, None
    width = settings.printer_width_dots
    if address.kind != "sim":
        return connect_printer(address, width, timeout_s=PRINTER_TIMEOUT_S), None
    simulated, sim_address = SimulatedPrinter.start(
        Path(settings.data_dir), paper_mm=settings.printer_paper_mm
    )
    shutdown.append(simulated.stop)
    tcp = parse_printer(sim_address)
    assert tcp is not None  # a tcp:// address
    return connect_printer(tcp, width, timeout_s=PRINTER_TIMEOUT_S), simulated


# A printer that does not answer within this long is reported as unreachable (a job, or the
# health check's probe).
PRINTER_TIMEOUT_S = 3.0


def simulated_payments(terminal: SimulatedTerminal) -> SimulatedTerminalProvider:
    """The ``sim`` payment provider driving ``terminal``."""
    faults = TerminalFaults(
        offline=TerminalOffline, unknown_payment=UnknownPayment, refund_too_large=RefundTooLarge
    )
    return SimulatedTerminalProvider(terminal, faults)


def build_payment_provider(
    settings: Settings, *, terminal: SimulatedTerminal | None = None
) -> tuple[PaymentProvider, SimulatedTerminal | None]:
    """The provider ``KIOSK_PAYMENTS`` names, built from configuration only (live Stripe is
    a different key, webhook secret, reader id and API base), and the simulated terminal
    behind it (None for Stripe). ``terminal``: the simulated terminal to drive (``sim``; a
    new one when omitted). The caller closes the provider at shutdown."""
    _choice("KIOSK_PAYMENTS", settings.payments, PAYMENT_PROVIDERS)
    if settings.payments == "sim":
        terminal = terminal or SimulatedTerminal(auto=settings.sim_terminal_auto or None)
        return simulated_payments(terminal), terminal
    from payments.stripe_common import StripeConnection

    connection = StripeConnection(settings.stripe_api_key, settings.stripe_api_base)
    if settings.payments == "stripe_terminal":
        from payments.stripe_terminal import StripeTerminalProvider

        return (
            StripeTerminalProvider(
                connection,
                reader_id=settings.stripe_reader_id,
                webhook_secret=settings.stripe_webhook_secret,
                location=settings.stripe_location,
            ),
            None,
        )
    from payments.stripe_checkout import StripeCheckoutProvider

    return (
        StripeCheckoutProvider(
            connection,
            webhook_secret=settings.stripe_webhook_secret,
            return_url=checkout_return_url(settings),
        ),
        None,
    )


def checkout_return_url(settings: Settings) -> str:
    """Where a phone lands after Stripe Checkout: ``KIOSK_STRIPE_RETURN_URL`` if set, else
    ``<KIOSK_PUBLIC_URL>/pay/done``."""
    return settings.stripe_return_url or f"{settings.public_base_url}/pay/done"


@dataclass
class CounterHardware:
    """Each counter's own devices, by counter code: its card ``readers``, its payment
    ``terminals`` and its ``qr`` checkout (a provider per device; a counter may have none);
    and, in simulation, the simulated ones behind them (for the simulator panel)."""

    readers: dict[str, CardReader] = field(default_factory=dict)
    terminals: dict[str, PaymentProvider] = field(default_factory=dict)
    qr: dict[str, PaymentProvider] = field(default_factory=dict)
    reader_rigs: dict[str, SimulatedReaderRig] = field(default_factory=dict)
    sim_terminals: dict[str, SimulatedTerminal] = field(default_factory=dict)


_VPCD_SLOT = re.compile(r"Virtual PCD 00 0(\d)")


def build_counter_hardware(
    settings: Settings, counter_codes: Sequence[str], shutdown: list[Callable[[], None]]
) -> CounterHardware:
    """Build the counters' devices from configuration (``counter_codes``: the catalog's).

    Readers (``KIOSK_COUNTER_READERS``): a mapped counter reads the PC/SC reader whose name
    contains the given text; in simulation, when that name is a vpcd slot ("Virtual PCD 00
    01"), a simulated card rig is plugged into that slot first. Unset in simulation (with a
    simulated kiosk reader): every counter gets a simulated reader of its own, read
    in-process. Terminals (``KIOSK_COUNTER_TERMINALS``): ``tmr_...`` is the counter's Stripe
    Terminal reader, ``sim`` a simulated terminal; unset with ``KIOSK_PAYMENTS=sim``: a
    simulated terminal per counter. ``KIOSK_COUNTER_QR=stripe_checkout``: a Checkout QR for
    every counter. Raises ConfigError for a counter the catalog does not have."""
    hardware = CounterHardware()
    simulated_reader = settings.card_reader in ("sim", "sim-direct")
    readers = settings.counter_reader_map
    if readers is None:
        readers = dict.fromkeys(counter_codes, "") if simulated_reader else {}
    terminals = settings.counter_terminal_map
    if terminals is None:
        terminals = dict.fromkeys(counter_codes, "sim") if settings.payments == "sim" else {}
    for variable, mapping in (
        ("KIOSK_COUNTER_READERS", readers),
        ("KIOSK_COUNTER_TERMINALS", terminals),
    ):
        unknown = [code for code in mapping if code not in counter_codes]
        if unknown:
            raise ConfigError(f"{variable}: the catalog has no counter {unknown[0]!r}")
    for code, name in readers.items():
        hardware.readers[code] = _counter_reader(settings, code, name, hardware, shutdown)
    for code, value in terminals.items():
        if value == "sim":
            terminal = SimulatedTerminal(
                auto=settings.sim_terminal_auto or None, terminal_id=f"sim-counter-{code}"
            )
            hardware.sim_terminals[code] = terminal
            provider: PaymentProvider = simulated_payments(terminal)
        else:
            from payments.stripe_common import StripeConnection
            from payments.stripe_terminal import StripeTerminalProvider

            provider = StripeTerminalProvider(
                StripeConnection(settings.stripe_api_key, settings.stripe_api_base),
                reader_id=value,
                webhook_secret=settings.stripe_webhook_secret,
                location=settings.stripe_location,
            )
        shutdown.append(provider.close)
        hardware.terminals[code] = provider
    if settings.counter_qr == "stripe_checkout":
        from payments.stripe_checkout import StripeCheckoutProvider
        from payments.stripe_common import StripeConnection

        for code in counter_codes:
            checkout = StripeCheckoutProvider(
                StripeConnection(settings.stripe_api_key, settings.stripe_api_base),
                webhook_secret=settings.stripe_webhook_secret,
                return_url=settings.stripe_return_url,
            )
            shutdown.append(checkout.close)
            hardware.qr[code] = checkout
    return hardware


def _counter_reader(
    settings: Settings,
    code: str,
    name: str,
    hardware: CounterHardware,
    shutdown: list[Callable[[], None]],
) -> CardReader:
    simulated = settings.card_reader in ("sim", "sim-direct")
    if not simulated:
        return PcscCardReader(name, trust=settings.card_trust())
    slot = _VPCD_SLOT.search(name)
    # The counters share the kiosk rig's folder: one PIN store and one set of card keys, as
    # a resident has one card (and the trust anchors of simulation match every reader).
    rig = SimulatedReaderRig(
        settings.data_dir,
        via_pcscd=slot is not None and settings.card_reader == "sim",
        vpcd_port=settings.sim_vpcd_port - _slot_of(settings.reader_name) + int(slot.group(1))
        if slot
        else settings.sim_vpcd_port,
    )
    shutdown.append(rig.close)
    hardware.reader_rigs[code] = rig
    trust, _source = _simulation_trust(settings, rig)
    if rig.via_pcscd:
        return PcscCardReader(name, trust=trust)
    return DirectCardReader(rig.in_process_card, trust=trust)


def _slot_of(reader_name: str) -> int:
    """The vpcd slot the kiosk's simulated card uses (its port is KIOSK_SIM_VPCD_PORT)."""
    found = _VPCD_SLOT.search(reader_name or "Virtual PCD 00 00")
    return int(found.group(1)) if found else 0


def simulator_commands() -> click.Group:
    """The simulator's own commands (plug a persona's card into pcscd, list the personas);
    ``kiosk sim`` offers them only in simulation mode."""
    return _simulator_group
