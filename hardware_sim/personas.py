"""Demo residents whose simulated My Number cards the kiosk can read.

The personas live in ``hardware_sim/data/personas.toml`` (package data) so trainers can read
and extend them without touching code. Every individual number in that file is fictitious
but carries a valid check digit (総務省令第85号 第5条, spec section 2.5).
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from datetime import date
from importlib import resources

# Start dates of the Japanese eras a living resident can be born in (spec section 2.6 uses
# the era year in 照合番号B).
ERAS: tuple[tuple[str, date], ...] = (
    ("令和", date(2019, 5, 1)),
    ("平成", date(1989, 1, 8)),
    ("昭和", date(1926, 12, 25)),
    ("大正", date(1912, 7, 30)),
    ("明治", date(1868, 10, 23)),
)


def check_digit(first_eleven: str) -> int:
    """Return the check digit for the first 11 digits of an individual number (spec 2.5)."""
    if len(first_eleven) != 11 or not first_eleven.isdigit():
        raise ValueError("need exactly 11 digits")
    total = 0
    for n in range(1, 12):
        p = int(first_eleven[11 - n])
        q = n + 1 if n <= 6 else n - 5
        total += p * q
    r = total % 11
    return 0 if r <= 1 else 11 - r


def is_valid_individual_number(number: str) -> bool:
    """True when ``number`` is 12 ASCII digits whose last digit is the right check digit."""
    return (
        len(number) == 12
        and number.isascii()
        and number.isdigit()
        and check_digit(number[:11]) == int(number[11])
    )


def japanese_era(day: date) -> tuple[str, int]:
    """Return (era name, era year) for a date, e.g. 1980-02-17 -> ("昭和", 55)."""
    for name, start in ERAS:
        if day >= start:
            return name, day.year - start.year + 1
    raise ValueError(f"{day} is before the Meiji era")


# What the chip of a persona's card is (see ``Persona.chip``).
CHIPS = ("genuine", "replay", "forged", "forged_trusted_names")
# State of the JPKI user-authentication certificate (see ``Persona.jpki_auth_certificate``).
JPKI_AUTH_CERTIFICATES = ("valid", "expired", "revoked")


@dataclass(frozen=True)
class Persona:
    """One demo resident and the credentials printed on / chosen for their card.

    ``text_tries`` (and the JPKI counterparts) are the *initial* remaining tries; once a card
    has been used, the persistent :class:`hardware_sim.card.PinStateStore` wins.
    ``jpki_sign_password`` is ``None`` for residents under 15, who have no signature
    certificate.

    ``chip`` says what the chip is, for the genuine-card checks:

    * ``genuine``: issued under the simulator's trusted test keys.
    * ``replay``: a chip that replays every file of the card of persona ``replays`` byte for
      byte but holds none of its private keys (its own PINs are this persona's).
    * ``forged``: self-consistent, with keys of its own, a CVC and a JPKI certificate from
      issuers that name themselves and that no ward trusts.
    * ``forged_trusted_names``: like ``forged``, but its issuers copy the trusted issuers'
      証明者鍵ID and name (their signatures cannot verify).

    ``jpki_auth_certificate``: ``valid``, ``expired`` (its validity ended in 2025) or
    ``revoked`` (listed on the CRL ``kiosk sim jpki-crl`` writes).
    """

    key: str
    name: str
    address: str
    birth_date: date
    sex_code: str
    individual_number: str
    text_pin: str
    jpki_auth_pin: str
    jpki_sign_password: str | None
    card_expiry_year: int
    security_code: str
    text_tries: int = 3
    jpki_auth_tries: int = 3
    jpki_sign_tries: int = 5
    foreign_resident: bool = False
    notes: str = ""
    card_serial: str = field(default="")
    chip: str = "genuine"
    replays: str = ""
    jpki_auth_certificate: str = "valid"

    def __post_init__(self) -> None:
        if not self.card_serial:
            digest = hashlib.sha256(f"sim-card:{self.key}".encode()).hexdigest()
            serial = "".join(str(int(c, 16) % 10) for c in digest[:15])
            object.__setattr__(self, "card_serial", serial)

    @property
    def verification_number_b(self) -> str:
        """照合番号B: birth YYMMDD (era year; Gregorian for foreign residents) + expiry + code.

        The foreign-resident form is UNCONFIRMED in the spec; the simulator uses the
        Gregorian two-digit year, as that is what their card face prints.
        """
        if self.foreign_resident:
            year = self.birth_date.year % 100
        else:
            year = japanese_era(self.birth_date)[1]
        return (
            f"{year:02d}{self.birth_date.month:02d}{self.birth_date.day:02d}"
            f"{self.card_expiry_year:04d}{self.security_code}"
        )

    def age_on(self, day: date) -> int:
        """Age in whole years on ``day``."""
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - int(before_birthday)


_FIELDS = {
    "name",
    "address",
    "birth_date",
    "sex_code",
    "individual_number",
    "text_pin",
    "jpki_auth_pin",
    "jpki_sign_password",
    "card_expiry_year",
    "security_code",
    "text_tries",
    "jpki_auth_tries",
    "jpki_sign_tries",
    "foreign_resident",
    "notes",
    "card_serial",
    "chip",
    "replays",
    "jpki_auth_certificate",
}


def parse_personas(text: str) -> dict[str, Persona]:
    """Parse a personas TOML document (one table per persona, keyed by the persona key)."""
    out: dict[str, Persona] = {}
    for key, table in tomllib.loads(text).items():
        unknown = set(table) - _FIELDS
        if unknown:
            raise ValueError(f"persona {key!r}: unknown fields {sorted(unknown)}")
        values = dict(table)
        if values.get("jpki_sign_password") == "":
            values["jpki_sign_password"] = None
        persona = Persona(key=key, **values)
        if not is_valid_individual_number(persona.individual_number):
            raise ValueError(f"persona {key!r}: individual number has a bad check digit")
        if persona.chip not in CHIPS:
            raise ValueError(f"persona {key!r}: chip must be one of {', '.join(CHIPS)}")
        if persona.jpki_auth_certificate not in JPKI_AUTH_CERTIFICATES:
            raise ValueError(
                f"persona {key!r}: jpki_auth_certificate must be one of "
                f"{', '.join(JPKI_AUTH_CERTIFICATES)}"
            )
        if (persona.chip == "replay") != bool(persona.replays):
            raise ValueError(f"persona {key!r}: replays names the card of a replay chip only")
        out[key] = persona
    for persona in out.values():
        source = out.get(persona.replays) if persona.replays else None
        if persona.replays and (source is None or source.chip != "genuine"):
            raise ValueError(f"persona {persona.key!r}: replays must name a genuine persona")
    return out


def load_personas() -> dict[str, Persona]:
    """Load the packaged demo personas, keyed by persona key (``"yamada"``, ...)."""
    text = resources.files("hardware_sim").joinpath("data/personas.toml").read_text("utf-8")
    return parse_personas(text)
