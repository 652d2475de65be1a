"""A 転居届 as the kiosk and the JSON API take it: the new address picked from the ward's
town list (parts, never free text) and a moving date inside the catalog's window (a few
days before today's business day: the window is the last 14 days up to today)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kiosk.clock import business_day

# 東京都千代田区霞が関一丁目1番1号 as the address picker sends it.
KASUMIGASEKI = {"town": "霞が関", "chome": "1", "ban": "1", "go": "1", "building": ""}
KASUMIGASEKI_TEXT = "東京都千代田区霞が関一丁目1番1号"


def moving_date(days_ago: int = 3) -> str:
    """An ISO date ``days_ago`` days before today's business day (Asia/Tokyo)."""
    return (business_day() - timedelta(days=days_ago)).isoformat()


def move_form(code: str = "tenkyo") -> dict[str, str]:
    """The fields screen's form for a 転居届 to 霞が関一丁目1番1号 three days ago."""
    form = {f"{code}.new_address.{part}": value for part, value in KASUMIGASEKI.items()}
    form.update({f"{code}.moving_date": moving_date(), f"{code}.household_members": "1"})
    return form


def move_fields() -> dict[str, Any]:
    """The same 転居届 as JSON API fields."""
    return {"new_address": dict(KASUMIGASEKI), "moving_date": moving_date(), "household_members": 1}
