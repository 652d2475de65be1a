"""Japanese era dates at every era boundary."""

from __future__ import annotations

from datetime import date

import pytest

from kiosk.eras import EraOutOfRange, format_japanese, to_japanese


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(1868, 10, 23), "明治元年10月23日"),
        (date(1912, 7, 29), "明治45年7月29日"),
        (date(1912, 7, 30), "大正元年7月30日"),
        (date(1926, 12, 24), "大正15年12月24日"),
        (date(1926, 12, 25), "昭和元年12月25日"),
        (date(1980, 2, 17), "昭和55年2月17日"),
        (date(1989, 1, 7), "昭和64年1月7日"),
        (date(1989, 1, 8), "平成元年1月8日"),
        (date(2019, 4, 30), "平成31年4月30日"),
        (date(2019, 5, 1), "令和元年5月1日"),
        (date(2026, 4, 1), "令和8年4月1日"),
    ],
)
def test_era_boundaries(day: date, expected: str) -> None:
    """Each Gregorian date maps to the era in force that day, with 元年 for year one."""
    assert format_japanese(day) == expected


def test_romaji_form_names_era_and_gregorian_year() -> None:
    """The Latin form shows the era name, era year and the Gregorian date."""
    assert to_japanese(date(1989, 1, 8)).format_romaji() == "Heisei 1 (1989-01-08)"


def test_before_meiji_is_refused() -> None:
    """Dates before the Meiji era raise EraOutOfRange instead of inventing an era."""
    with pytest.raises(EraOutOfRange):
        to_japanese(date(1868, 10, 22))
