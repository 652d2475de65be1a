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


@dataclass(frozen=True)
class CardInfo:
    """The basic four items (and, only when asked for, the individual number).

    ``family_name`` and ``given_name`` are split at the first U+3000 of the card's name; a
    name without one (e.g. some foreign residents' Latin-script names) has it all in
    ``family_name`` and an empty ``given_name``. ``individual_number`` is ``None`` unless the
    read asked for it. Its ``repr`` masks personal data so it is safe to log by accident.
    """

    family_name: str
    given_name: str
    address: str
    birth_date: date
    sex: Sex
    integrity: Integrity
    individual_number: str | None = field(default=None)

    @property
    def name(self) -> str:
        """The name as printed on the card (family and given joined by U+3000)."""
        return f"{self.family_name}\u3000{self.given_name}" if self.given_name else self.family_name

    def __repr__(self) -> str:
        number = "<absent>" if self.individual_number is None else "************"
        return (
            f"CardInfo(name=<{len(self.name)} chars>, address=<{len(self.address)} chars>, "
            f"birth_date=<masked>, sex={self.sex.value}, integrity={self.integrity.value}, "
            f"individual_number={number})"
        )
