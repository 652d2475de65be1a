"""Time: all timestamps are aware UTC; the business day is the date in Asia/Tokyo.

Domain functions take ``now`` (default: the real clock) so tests and replays can pin time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(now: datetime | None) -> datetime:
    """``now`` as aware UTC (the real clock when None); naive datetimes are refused."""
    if now is None:
        return utcnow()
    if now.tzinfo is None:
        raise ValueError("naive datetime: pass an aware one (e.g. with tzinfo=UTC)")
    return now.astimezone(UTC)


def business_day(now: datetime | None = None) -> date:
    """The ward office's date (Asia/Tokyo) at ``now``; ticket numbers restart with it."""
    return aware(now).astimezone(TOKYO).date()
