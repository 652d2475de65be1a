"""Japanese era (和暦) dates: 2019-05-01 -> 令和元年5月1日.

Eras start on the day the new emperor acceded (Gregorian). The first year of an era is
written 元年. Japan used the lunisolar calendar until 明治5年12月2日 (1872-12-31); for the
few dates before 1873 this module keeps the Gregorian month and day (proleptic), which is
what registers of living people never need, so nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


class EraOutOfRange(ValueError):
    """The date lies before 明治 (1868-10-23), where this module has no era."""


@dataclass(frozen=True)
class Era:
    name: str  # 昭和
    romaji: str  # Showa
    first_day: date


# Newest first, so the first era whose first day is not after the date is the right one.
ERAS: tuple[Era, ...] = (
    Era("令和", "Reiwa", date(2019, 5, 1)),
    Era("平成", "Heisei", date(1989, 1, 8)),
    Era("昭和", "Showa", date(1926, 12, 25)),
    Era("大正", "Taisho", date(1912, 7, 30)),
    Era("明治", "Meiji", date(1868, 10, 23)),
)


@dataclass(frozen=True)
class JapaneseDate:
    """A date in era form. ``year`` is 1 in the era's first (partial) calendar year."""

    era: Era
    year: int
    month: int
    day: int

    def format(self) -> str:
        """Official written form, e.g. ``昭和55年2月17日`` or ``平成元年1月8日``."""
        year = "元" if self.year == 1 else str(self.year)
        return f"{self.era.name}{year}年{self.month}月{self.day}日"

    def format_romaji(self) -> str:
        """Latin form for non-Japanese screens, e.g. ``Showa 55 (1980)-02-17``."""
        gregorian = self.era.first_day.year + self.year - 1
        return f"{self.era.romaji} {self.year} ({gregorian}-{self.month:02d}-{self.day:02d})"


def to_japanese(d: date) -> JapaneseDate:
    """Convert a Gregorian date to its era form; raises EraOutOfRange before 1868-10-23."""
    for era in ERAS:
        if d >= era.first_day:
            return JapaneseDate(era, d.year - era.first_day.year + 1, d.month, d.day)
    raise EraOutOfRange(f"{d.isoformat()} is before the Meiji era")


def format_japanese(d: date) -> str:
    """Shortcut for ``to_japanese(d).format()``."""
    return to_japanese(d).format()
