"""What a kiosk learns from a My Number card."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date


class Sex(enum.Enum):
    """Sex code of EF 0002 / DF25 (JIS X 0303 / ISO 5218)."""

    MALE = "male"  # "1"
    FEMALE = "female"  # "2"
    NOT_APPLICABLE = "not_applicable"  # "9"
    UNKNOWN = "unknown"  # "0" or anything else

    @classmethod
    def from_card_code(cls, code: str) -> Sex:
        return {"1": cls.MALE, "2": cls.FEMALE, "9": cls.NOT_APPLICABLE}.get(code, cls.UNKNOWN)


class Integrity(enum.Enum):
    """Result of checking EF 0003 against what was read."""

    VERIFIED = "verified"
    DIGEST_MISMATCH = "digest_mismatch"
    SIGNATURE_INVALID = "signature_invalid"


class Genuine(enum.Enum):
    """Result of a chain to a trust anchor the ward configured (see :mod:`cardreader.genuine`).

    ``VERIFIED``: every link verified. ``CHAIN_INVALID``: no path to a configured key or
    certificate (unknown issuer, a certificate that cannot be an end entity, no usable CRL
    when one is configured). ``SIGNATURE_INVALID``: an issuer was found but a signature on the
    path (the trusted key's, the card's certificate's, or the chip's over our challenge) does
    not verify. ``EXPIRED``: outside a validity period. ``REVOKED``: on the configured CRL.
    ``NOT_CHECKED``: the check was not made (not configured, not asked for, or no PIN given).
    """

    VERIFIED = "verified"
    CHAIN_INVALID = "chain_invalid"
    SIGNATURE_INVALID = "signature_invalid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    NOT_CHECKED = "not_checked"


@dataclass(frozen=True)
class CardChecksWanted:
    """Which genuine-card checks a read makes, beyond the integrity check it always makes.

    ``chip``: internal authentication (the chip signs a fresh challenge of ours under the key
    EF 0007 publishes and binds to the EF 0004 key); no PIN, 5 more APDUs. ``card_chain``:
    the chain from that challenge to a J-LIS CVC key the ward configured
    (``CardTrust.cvc_keys``); it includes the chip check, and costs one more APDU. Without
    configured keys it is not made. ``jpki``: the JPKI user-authentication certificate and a
    signature by its key, with the resident's JPKI authentication PIN (a separate PIN,
    passed as ``jpki_pin``; without it the check is not made), against
    ``CardTrust.jpki_anchors``; about 11 more APDUs.
    """

    chip: bool = True
    card_chain: bool = True
    jpki: bool = False

    @classmethod
    def none(cls) -> CardChecksWanted:
        """Only the integrity check (the read as it was before the genuine-card checks)."""
        return cls(chip=False, card_chain=False, jpki=False)


DEFAULT_CHECKS = CardChecksWanted()


@dataclass(frozen=True)
class CardChecks:
    """What the genuine-card checks of one read found.

    *Consistent* is :attr:`CardInfo.integrity`. *Present* is ``chip_authenticated``: the chip
    signed our fresh challenge under the key its EF 0007 publishes, and that key is signed by
    the same EF 0004 key that signs the data (``False`` too when the check was not made:
    ``chip_checked`` says whether it was). *Genuine* is ``genuine``: ``VERIFIED`` when every
    chain that was asked for and configured verified, ``NOT_CHECKED`` when none was (or the
    JPKI check was asked for without its PIN), else the first failure (card chain first).
    ``card_chain`` and ``jpki_chain`` are the results of each chain.
    """

    chip_checked: bool = False
    chip_authenticated: bool = False
    card_chain: Genuine = Genuine.NOT_CHECKED
    jpki_chain: Genuine = Genuine.NOT_CHECKED
    genuine: Genuine = Genuine.NOT_CHECKED


@dataclass(frozen=True)
class CardInfo:
    """The basic four items (and, only when asked for, the individual number).

    ``family_name`` and ``given_name`` are split at the first U+3000 of the card's name; a
    name without one (e.g. some foreign residents' Latin-script names) has it all in
    ``family_name`` and an empty ``given_name``. ``individual_number`` is ``None`` unless the
    read asked for it. ``integrity`` says the data is consistent (EF 0003 under the card's
    own EF 0004 key); ``checks`` says whether the chip is present and the card genuine. Its
    ``repr`` masks personal data so it is safe to log by accident.
    """

    family_name: str
    given_name: str
    address: str
    birth_date: date
    sex: Sex
    integrity: Integrity
    individual_number: str | None = field(default=None)
    checks: CardChecks = field(default_factory=CardChecks)

    @property
    def name(self) -> str:
        """The name as printed on the card (family and given joined by U+3000)."""
        return f"{self.family_name}\u3000{self.given_name}" if self.given_name else self.family_name

    @property
    def chip_authenticated(self) -> bool:
        """See :attr:`CardChecks.chip_authenticated`."""
        return self.checks.chip_authenticated

    @property
    def genuine(self) -> Genuine:
        """See :attr:`CardChecks.genuine`."""
        return self.checks.genuine

    def __repr__(self) -> str:
        number = "<absent>" if self.individual_number is None else "************"
        checks = self.checks
        return (
            f"CardInfo(name=<{len(self.name)} chars>, address=<{len(self.address)} chars>, "
            f"birth_date=<masked>, sex={self.sex.value}, integrity={self.integrity.value}, "
            f"chip_authenticated={checks.chip_authenticated}, "
            f"card_chain={checks.card_chain.value}, jpki_chain={checks.jpki_chain.value}, "
            f"genuine={checks.genuine.value}, individual_number={number})"
        )
