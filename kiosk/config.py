"""Configuration: defaults, then ``KIOSK_*`` environment variables, then an explicit mapping.

Validated once at start-up; a bad value fails with a message naming the variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from cardreader.trust import CardTrust

# Languages of spoken board announcements (the catalog's language keys).
SPEECH_LANGUAGES = ("ja", "en", "zh-Hans", "ko")
# Genuine-card checks a ward may require of every card (KIOSK_CARD_CHECKS).
CARD_CHECKS = ("chip", "chain", "jpki")


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the variable."""


# Printable width of thermal paper at 203 dpi: 58 mm paper prints 48 mm, 80 mm prints 72 mm.
PAPER_WIDTH_DOTS = {58: 384, 80: 576}
SERIAL_BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
_PRINTER_FORMS = "none, sim, tcp://HOST[:PORT], usb:VID:PID (hex) or serial:DEVICE[?baudrate=N]"


@dataclass(frozen=True)
class PrinterAddress:
    """Where the kiosk's ticket printer is (``KIOSK_PRINTER``), parsed.

    ``kind``: ``sim`` (the simulated printer, started by the application), ``tcp`` (a
    network printer, ``host``:``port``), ``usb`` (``vendor_id``:``product_id``) or
    ``serial`` (``device`` at ``baudrate``).
    """

    kind: str
    host: str = ""
    port: int = 9100
    vendor_id: int = 0
    product_id: int = 0
    device: str = ""
    baudrate: int = 9600


def parse_printer(value: str) -> PrinterAddress | None:
    """``KIOSK_PRINTER`` -> a PrinterAddress, or None for ``none`` or empty (no printer).

    Raises ConfigError naming the variable for anything else than the forms in the README.
    """
    text = value.strip()
    bad = ConfigError(f"KIOSK_PRINTER={value!r}: expected {_PRINTER_FORMS}")
    if text in ("", "none"):
        return None
    if text == "sim":
        return PrinterAddress("sim")
    if text.startswith("tcp://"):
        match = re.fullmatch(r"tcp://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?/?", text)
        if not match:
            raise bad
        port = int(match.group(2) or 9100)
        if not 0 < port < 65536:
            raise ConfigError(f"KIOSK_PRINTER={value!r}: {port} is not a TCP port")
        return PrinterAddress("tcp", host=match.group(1).strip("[]"), port=port)
    if text.startswith("usb:"):
        match = re.fullmatch(r"usb:(?:0x)?([0-9A-Fa-f]{4}):(?:0x)?([0-9A-Fa-f]{4})", text)
        if not match:
            raise bad
        return PrinterAddress(
            "usb", vendor_id=int(match.group(1), 16), product_id=int(match.group(2), 16)
        )
    if text.startswith("serial:"):
        match = re.fullmatch(r"serial:(/[^?\s]+)(?:\?baudrate=(\d+))?", text)
        if not match:
            raise bad
        baudrate = int(match.group(2) or 9600)
        if baudrate not in SERIAL_BAUDRATES:
            raise ConfigError(
                f"KIOSK_PRINTER={value!r}: baudrate {baudrate} is not one of "
                f"{', '.join(map(str, SERIAL_BAUDRATES))}"
            )
        return PrinterAddress("serial", device=match.group(1), baudrate=baudrate)
    raise bad


def check_public_url(value: str, variable: str) -> str:
    """``value`` if it is an absolute http(s) URL a phone can open (a host, an optional
    port and path; no user, query or fragment), else ConfigError naming ``variable``."""
    bad = ConfigError(
        f"{variable}={value!r}: expected an absolute http(s) URL such as "
        "https://madoguchi.city.example.lg.jp (no user, query or fragment)"
    )
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError for a port that is not a number or too large
    except ValueError:
        raise bad from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
        or re.search(r"\s", value)
        or port == 0
    ):
        raise bad
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment.

    ``mode``: ``simulation`` (the embedded default) or ``production`` (refuses every
    simulator). ``card_reader``: ``sim`` plugs a simulated card (``sim_persona``) into
    pcscd through the vpcd driver and reads it through PC/SC like real hardware;
    ``sim-direct`` talks to the simulated card in-process (no pcscd needed); ``pcsc`` uses
    a real reader whose name contains ``reader_name``. Which names exist, and which of
    them are simulators, is the registry's business (``application.registry``).
    """

    mode: str = "simulation"
    data_dir: Path = Path("var")
    database_url: str = ""
    card_reader: str = "sim"
    reader_name: str = ""
    sim_persona: str = "yamada"
    sim_vpcd_port: int = 35963
    payments: str = "sim"
    host: str = "127.0.0.1"
    port: int = 8080
    data_key: str = ""
    # Overrides the catalog's [ward] names in every language (KIOSK_WARD_NAME); empty = catalog.
    ward_name: str = ""
    # Procedure catalog TOML (KIOSK_CATALOG); empty = the one shipped in kiosk/data.
    catalog: str = ""
    # Personal data of closed cases is kept until the end of the business day, plus this.
    retention_days: int = 0
    # Payments (KIOSK_PAYMENTS chooses the provider; live Stripe is only these values).
    stripe_api_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = "https://api.stripe.com"
    stripe_reader_id: str = ""
    stripe_location: str = ""
    # Where the phone returns after Checkout: this service's /pay/done page at the address
    # phones reach (required for stripe_checkout).
    stripe_return_url: str = ""
    # The kiosk gives up on a payment after this long and cancels it at the provider.
    payment_timeout_s: int = 120
    # Reconciliation with the provider runs at start-up and then every this many seconds.
    reconcile_interval_s: int = 300
    # Title of the payment document: 利用明細 (statement) or 領収書 (receipt), per ward.
    receipt_title: str = "利用明細"
    # The simulated terminal: "" (a person decides), approve, decline[:code], time_out.
    sim_terminal_auto: str = ""
    # Signs the kiosk's session cookie (KIOSK_SECRET_KEY); empty = a 0600 file in data_dir,
    # created on first run.
    secret_key: str = ""
    # Resident kiosk inactivity: a warning idle_warning_s before the visit is wiped
    # idle_timeout_s after the last touch (card data, form, pending payment).
    idle_timeout_s: int = 120
    idle_warning_s: int = 30
    # Names this kiosk in audit rows and payments (kiosk:<kiosk_id>).
    kiosk_id: str = "kiosk-1"
    # Offline speech: the espeak-ng program (a name on PATH or a path); empty = no voice
    # (the board only chimes, the kiosk shows no read-aloud button).
    voice_command: str = "espeak-ng"
    # Languages the display board announces a call in, in this order (comma-separated
    # ja, en, zh-Hans, ko); empty = chime only.
    announce_languages: str = "ja,en"
    # The kiosk's ticket printer (ESC/POS): none, sim, tcp://HOST[:PORT], usb:VID:PID or
    # serial:DEVICE[?baudrate=N]; and the width of its paper roll in mm (58 or 80).
    printer: str = "sim"
    printer_paper_mm: int = 80
    # --- issue 10: the card answers only to its kiosk (application.device) ---------------
    # The kiosk's device credential (KIOSK_DEVICE_KEY): the kiosk's own screen presents it
    # (cookie, or the X-Kiosk-Device header of API clients) for every visit and card
    # operation. Empty = a 0600 file in data_dir, created on first run (`kiosk device`).
    device_key: str = ""
    # Per client address and minute (application.rate_limits): card reads and PIN-tries
    # reads, staff log-in attempts, synthesised speech.
    card_reads_per_minute: int = 30
    logins_per_minute: int = 10
    speech_per_minute: int = 60

    @property
    def printer_address(self) -> PrinterAddress | None:
        """``printer`` parsed (None: no printer). Validated at start-up."""
        return parse_printer(self.printer)

    @property
    def printer_width_dots(self) -> int:
        """Dots across the printable width of the paper (384 for 58 mm, 576 for 80 mm)."""
        return PAPER_WIDTH_DOTS[self.printer_paper_mm]

    # Genuine-card checks (cardreader.trust): the J-LIS CVC issuer keys (JSON), the JPKI CA
    # certificates (PEM bundle) and a JPKI CRL; empty = that chain is not checked.
    card_trust_keys: str = ""
    jpki_trust_anchors: str = ""
    jpki_crl: str = ""
    # Which of them a card must pass to become a case (application.card_policy): a
    # comma-separated subset of chip, chain, jpki, or none. chain needs card_trust_keys.
    card_checks: str = "chip,chain"
    # --- live streams and the front (see application.live, ui.event_server, deploy/) ---
    # The event server of `kiosk serve` (board and phone streams) listens on host:this.
    events_port: int = 8081
    # Where browsers open the streams: empty = this page's host name on events_port (the
    # embedded default, no proxy); behind the reverse proxy of deploy/ "/" (same origin).
    events_url: str = ""
    # Open streams per process, and per client address (more get 503 / 429, retry later).
    events_max_streams: int = 1000
    events_max_per_address: int = 20
    # The reverse proxy's address (e.g. 127.0.0.1): only from it are X-Forwarded-* headers
    # believed (client address, https). Empty: none is.
    trusted_proxy: str = ""
    # The address residents' phones reach this service at (KIOSK_PUBLIC_URL, e.g.
    # https://madoguchi.city.example.lg.jp): the ticket's QR code and every link a phone
    # opens are built from it, never from a request's Host header. Empty: in simulation
    # http://<host>:<port>; production mode requires it (see public_base_url).
    public_url: str = ""
    # --- the counter desk (application.counter_desk; what each counter's hardware is is the
    # registry's business) ---
    # Each counter's own card reader: "CODE=part of the PC/SC reader name,CODE=...";
    # empty: in simulation a simulated reader per counter, otherwise none; "none": none.
    counter_readers: str = ""
    # Each counter's own payment terminal: "CODE=tmr_...,CODE=sim"; empty: a simulated
    # terminal per counter when KIOSK_PAYMENTS=sim, otherwise none; "none": none.
    counter_terminals: str = ""
    # The payment QR code on the counters' customer displays: empty (none) or
    # stripe_checkout (card or PayPay on the resident's phone).
    counter_qr: str = ""
    # Each cash drawer's change fund (釣銭準備金) at the start of a day, in yen.
    cash_float_yen: int = 30000

    @property
    def counter_reader_map(self) -> dict[str, str] | None:
        """``counter_readers`` as {counter code: reader name}; None when not set (the
        default), {} for ``none``. Validated at start-up."""
        return parse_counter_map("KIOSK_COUNTER_READERS", self.counter_readers)

    @property
    def counter_terminal_map(self) -> dict[str, str] | None:
        """``counter_terminals`` as {counter code: ``tmr_...`` or ``sim``}; None when not set
        (the default), {} for ``none``. Validated at start-up."""
        return parse_counter_map("KIOSK_COUNTER_TERMINALS", self.counter_terminals)

    @property
    def card_check_list(self) -> tuple[str, ...]:
        """``card_checks`` as a tuple in the order given (``none`` or empty: ``()``)."""
        parts = [part.strip() for part in self.card_checks.split(",") if part.strip()]
        return () if parts == ["none"] else tuple(parts)

    @property
    def announce_language_list(self) -> tuple[str, ...]:
        """``announce_languages`` as a tuple (validated: known, no duplicates)."""
        return tuple(part.strip() for part in self.announce_languages.split(",") if part.strip())

    def card_trust(self) -> CardTrust:
        """The trust anchors of the genuine-card checks, loaded from the configured files.

        Raises :class:`ConfigError` naming the variable whose file is missing or malformed.
        """
        from cardreader.trust import CardTrust, TrustFileError

        try:
            return CardTrust.load(self.card_trust_keys, self.jpki_trust_anchors, self.jpki_crl)
        except TrustFileError as e:
            raise ConfigError(f"KIOSK_{e.setting.upper()}={getattr(self, e.setting)!r}: {e}") from e

    @property
    def public_base_url(self) -> str:
        """Where phones reach this service, without a trailing slash: ``public_url``, or
        ``http://<host>:<port>`` when it is not set (simulation only: production mode
        refuses that, ``application.registry.check_settings``)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'kiosk.sqlite3').resolve()}"

    def validate(self) -> Settings:
        if self.retention_days < 0:
            raise ConfigError(f"KIOSK_RETENTION_DAYS={self.retention_days}: must be >= 0")
        if self.receipt_title not in ("利用明細", "領収書"):
            raise ConfigError(
                f"KIOSK_RECEIPT_TITLE={self.receipt_title!r}: expected 利用明細 or 領収書"
            )
        if self.payment_timeout_s <= 0 or self.reconcile_interval_s <= 0:
            raise ConfigError("KIOSK_PAYMENT_TIMEOUT_S / KIOSK_RECONCILE_INTERVAL_S must be > 0")
        if not 0 < self.idle_warning_s < self.idle_timeout_s:
            raise ConfigError(
                f"KIOSK_IDLE_WARNING_S={self.idle_warning_s}: must be > 0 and below "
                f"KIOSK_IDLE_TIMEOUT_S={self.idle_timeout_s}"
            )
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", self.kiosk_id):
            raise ConfigError(f"KIOSK_KIOSK_ID={self.kiosk_id!r}: letters, digits, _ . - only")
        languages = self.announce_language_list
        unknown = [lang for lang in languages if lang not in SPEECH_LANGUAGES]
        if unknown or len(set(languages)) != len(languages):
            raise ConfigError(
                f"KIOSK_ANNOUNCE_LANGUAGES={self.announce_languages!r}: a comma-separated list "
                f"of distinct languages out of {', '.join(SPEECH_LANGUAGES)}"
            )
        if not 0 < self.port < 65536:
            raise ConfigError(f"KIOSK_PORT={self.port}: not a TCP port")
        parse_printer(self.printer)
        for name in ("card_reads_per_minute", "logins_per_minute", "speech_per_minute"):
            if getattr(self, name) < 1:
                raise ConfigError(f"KIOSK_{name.upper()}={getattr(self, name)}: must be > 0")
        if self.device_key and len(self.device_key.strip()) < 32:
            raise ConfigError("KIOSK_DEVICE_KEY: at least 32 characters (see `kiosk device`)")
        if self.printer_paper_mm not in PAPER_WIDTH_DOTS:
            raise ConfigError(f"KIOSK_PRINTER_PAPER_MM={self.printer_paper_mm}: expected 58 or 80")

        if self.card_trust_keys or self.jpki_trust_anchors or self.jpki_crl:
            self.card_trust()
        checks = self.card_check_list
        if any(c not in CARD_CHECKS for c in checks) or len(set(checks)) != len(checks):
            raise ConfigError(
                f"KIOSK_CARD_CHECKS={self.card_checks!r}: none, or a comma-separated list of "
                f"distinct checks out of {', '.join(CARD_CHECKS)}"
            )
        if not 0 <= self.events_port < 65536 or self.events_port == self.port:
            raise ConfigError(
                f"KIOSK_EVENTS_PORT={self.events_port}: a TCP port other than KIOSK_PORT"
            )
        if self.events_url and not re.fullmatch(r"https?://[^/\s]+(/\S*)?|/\S*", self.events_url):
            raise ConfigError(
                f"KIOSK_EVENTS_URL={self.events_url!r}: empty, a path (/) or http(s)://host[:port]"
            )
        if self.public_url:
            check_public_url(self.public_url, "KIOSK_PUBLIC_URL")
        if self.stripe_return_url:
            check_public_url(self.stripe_return_url, "KIOSK_STRIPE_RETURN_URL")
        if self.events_max_streams < 1 or self.events_max_per_address < 1:
            raise ConfigError("KIOSK_EVENTS_MAX_STREAMS / KIOSK_EVENTS_MAX_PER_ADDRESS must be > 0")
        self.counter_reader_map  # noqa: B018 - parsing is the validation
        for code, value in (self.counter_terminal_map or {}).items():
            if value != "sim" and not re.fullmatch(r"tmr_[A-Za-z0-9_]{1,120}", value):
                raise ConfigError(
                    f"KIOSK_COUNTER_TERMINALS: counter {code}: {value!r} is neither a Stripe "
                    "reader id (tmr_...) nor sim"
                )
        if self.counter_qr not in ("", "stripe_checkout"):
            raise ConfigError(f"KIOSK_COUNTER_QR={self.counter_qr!r}: expected stripe_checkout")
        if not 0 <= self.cash_float_yen <= 10_000_000:
            raise ConfigError(f"KIOSK_CASH_FLOAT_YEN={self.cash_float_yen}: 0 to 10,000,000 yen")
        return self


def parse_counter_map(variable: str, value: str) -> dict[str, str] | None:
    """``"CODE=value,CODE=value"`` (a counter code of the catalog, then a reader name or a
    terminal id) as a dict; None for an empty value (the default applies), {} for
    ``none``. Raises ConfigError naming ``variable``."""
    text = value.strip()
    if not text:
        return None
    if text == "none":
        return {}
    result: dict[str, str] = {}
    for part in text.split(","):
        code, sep, item = part.partition("=")
        code, item = code.strip(), item.strip()
        if not sep or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", code) or not item:
            raise ConfigError(f"{variable}={value!r}: expected CODE=value,CODE=value or none")
        if code in result:
            raise ConfigError(f"{variable}: counter {code} is given twice")
        result[code] = item
    return result


def _coerce(name: str, raw: Any, target: Any) -> Any:
    if isinstance(raw, str) and target is int:
        try:
            return int(raw)
        except ValueError as e:
            raise ConfigError(f"KIOSK_{name.upper()}={raw!r}: not a whole number") from e
    if target is Path and not isinstance(raw, Path):
        return Path(raw)
    return raw


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Defaults, then ``KIOSK_<FIELD>`` from ``environ`` (default ``os.environ``), then
    ``overrides`` (keys are field names). Returns validated settings or raises ConfigError."""
    environ = os.environ if environ is None else environ
    types = {f.name: (Path if f.name == "data_dir" else type(f.default)) for f in fields(Settings)}
    values: dict[str, Any] = {}
    for name, target in types.items():
        env_name = f"KIOSK_{name.upper()}"
        if env_name in environ:
            values[name] = _coerce(name, environ[env_name], target)
    for name, raw in (overrides or {}).items():
        if name not in types:
            raise ConfigError(f"unknown setting {name!r}")
        values[name] = _coerce(name, raw, types[name])
    return replace(Settings(), **values).validate()
