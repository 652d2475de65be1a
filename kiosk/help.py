"""Help at the kiosks: a resident presses "Call staff", every staff console shows the alert
(which kiosk, which screen, since when) until a member of staff acknowledges it; the
kiosk's screen then tells the resident that someone is coming.

A request holds no personal data: the kiosk, the screen, the times and the member of staff
who acknowledged. Pressing "Call staff" again while the kiosk's request is open keeps that
request (and its start time: the resident's wait began then) and notes the newer screen.
Acknowledging is audited and happens once; a second acknowledgement (two members of staff
at once) changes nothing and says who was first. Requests are never deleted: the
statistics count how long residents waited for help.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from kiosk import audit
from kiosk.clock import aware, business_day
from kiosk.errors import NotFound
from kiosk.models import HelpRequest, Staff
from kiosk.staff import actor_of

# Screens a request may name (the kiosk's steps, the welcome, the "take your card" screen);
# anything else is recorded as "other".
SCREENS = frozenset(
    {
        "welcome",
        "procedures",
        "fields",
        "card",
        "pin",
        "check",
        "pay",
        "ticket",
        "take_card",
        "printer",  # raised by the kiosk itself: its ticket printer cannot print
        "other",
    }
)
# How long an acknowledged request stays in the live view (consoles show "handled"; the
# kiosk learns that someone is coming).
RECENT = timedelta(minutes=10)


@dataclass(frozen=True)
class HelpAlert:
    """A help request as staff screens and the API show it (no token, no personal data)."""

    id: int
    kiosk_id: str
    screen: str
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None  # the member of staff's display name (or user name)

    @property
    def open(self) -> bool:
        return self.acknowledged_at is None

    def waited_s(self, now: datetime | None = None) -> int:
        """Seconds from the call to its acknowledgement (or to ``now`` while open)."""
        end = self.acknowledged_at or aware(now)
        return max(0, int((end - self.raised_at).total_seconds()))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kiosk_id": self.kiosk_id,
            "screen": self.screen,
            "raised_at": self.raised_at.isoformat(),
            "acknowledged_at": self.acknowledged_at.isoformat() if self.acknowledged_at else None,
            "acknowledged_by": self.acknowledged_by,
        }


def _alert(request: HelpRequest) -> HelpAlert:
    staff = request.acknowledged_by
    return HelpAlert(
        id=request.id,
        kiosk_id=request.kiosk_id,
        screen=request.screen,
        raised_at=request.raised_at,
        acknowledged_at=request.acknowledged_at,
        acknowledged_by=(staff.display_name or staff.username) if staff is not None else None,
    )


def raise_help(
    session: Session, kiosk_id: str, screen: str, *, now: datetime | None = None
) -> HelpRequest:
    """The resident at ``kiosk_id`` asked for staff on ``screen``: a new open request, or
    the kiosk's open one (its start time kept, its screen updated). Audited as
    ``help.raised`` by ``kiosk:<kiosk_id>``. Returns the request (with its token)."""
    at = aware(now)
    screen = screen if screen in SCREENS else "other"
    existing = session.scalars(
        select(HelpRequest)
        .where(HelpRequest.kiosk_id == kiosk_id, HelpRequest.acknowledged_at.is_(None))
        .order_by(HelpRequest.id)
        .limit(1)
        .with_for_update()
    ).first()
    if existing is not None:
        existing.screen = screen
        request = existing
    else:
        request = HelpRequest(
            token=secrets.token_urlsafe(24),
            kiosk_id=kiosk_id,
            screen=screen,
            business_day=business_day(at),
            raised_at=at,
        )
        session.add(request)
    session.flush()
    audit.record(
        session,
        f"kiosk:{kiosk_id}",
        "help.raised",
        detail={"help_id": request.id, "screen": screen, "again": existing is not None},
        now=at,
    )
    return request


@dataclass(frozen=True)
class Acknowledgement:
    """The outcome of :func:`acknowledge_help`: the alert as it now is, and whether this
    call acknowledged it (False: someone else had, first)."""

    alert: HelpAlert
    acknowledged_now: bool


def acknowledge_help(
    session: Session, help_id: int, staff: Staff, *, now: datetime | None = None
) -> Acknowledgement:
    """``staff`` is going to the kiosk of request ``help_id``. The first acknowledgement
    is kept and audited (``help.acknowledged``, with the wait in seconds); later ones
    change nothing. Raises NotFound."""
    at = aware(now)
    request = session.get(HelpRequest, help_id, with_for_update=True)
    if request is None:
        raise NotFound(f"no help request {help_id}")
    if request.acknowledged_at is not None:
        return Acknowledgement(_alert(request), acknowledged_now=False)
    request.acknowledged_at = at
    request.acknowledged_by = staff
    session.flush()
    waited = max(0, int((at - request.raised_at).total_seconds()))
    audit.record(
        session,
        actor_of(staff),
        "help.acknowledged",
        detail={"help_id": request.id, "kiosk": request.kiosk_id, "waited_s": waited},
        now=at,
    )
    return Acknowledgement(_alert(request), acknowledged_now=True)


def open_alerts(session: Session) -> list[HelpAlert]:
    """Every request nobody has acknowledged yet, oldest first."""
    stmt = (
        select(HelpRequest)
        .where(HelpRequest.acknowledged_at.is_(None))
        .order_by(HelpRequest.raised_at, HelpRequest.id)
    )
    return [_alert(r) for r in session.scalars(stmt)]


@dataclass(frozen=True)
class HelpBoard:
    """What live screens show: ``alerts`` (open ones oldest first, then those acknowledged
    within :data:`RECENT`, newest first) and ``states`` (each of their tokens -> ``open`` or
    ``acknowledged``, for the kiosks that follow their own request)."""

    alerts: tuple[HelpAlert, ...]
    states: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"alerts": [a.to_json() for a in self.alerts], "states": dict(self.states)}


def help_board(session: Session, *, now: datetime | None = None) -> HelpBoard:
    """Open requests and recently acknowledged ones (one indexed read)."""
    since = aware(now) - RECENT
    stmt = select(HelpRequest).where(
        or_(HelpRequest.acknowledged_at.is_(None), HelpRequest.acknowledged_at >= since)
    )
    rows = list(session.scalars(stmt))
    rows.sort(key=lambda r: (r.acknowledged_at is not None, r.raised_at, r.id))
    acknowledged = [r for r in rows if r.acknowledged_at is not None]
    acknowledged.sort(key=lambda r: r.acknowledged_at or r.raised_at, reverse=True)
    ordered = [r for r in rows if r.acknowledged_at is None] + acknowledged
    return HelpBoard(
        alerts=tuple(_alert(r) for r in ordered),
        states={r.token: "open" if r.acknowledged_at is None else "acknowledged" for r in rows},
    )


def help_state(session: Session, token: str) -> HelpAlert:
    """The request behind a kiosk's ``token``. Raises NotFound."""
    request = session.scalars(select(HelpRequest).where(HelpRequest.token == token)).first()
    if request is None:
        raise NotFound("no such help request")
    return _alert(request)


@dataclass(frozen=True)
class HelpStatistics:
    """Calls for help on one business day and how long residents waited for a member of
    staff to acknowledge (seconds; None without acknowledged calls)."""

    day: date
    calls: int
    acknowledged: int
    still_open: int
    mean_wait_s: float | None
    p90_wait_s: float | None
    longest_wait_s: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "calls": self.calls,
            "acknowledged": self.acknowledged,
            "still_open": self.still_open,
            "mean_wait_s": self.mean_wait_s,
            "p90_wait_s": self.p90_wait_s,
            "longest_wait_s": self.longest_wait_s,
        }


def help_statistics(session: Session, day: date) -> HelpStatistics:
    """How often residents called for help on ``day`` and how long they waited."""
    rows = session.execute(
        select(HelpRequest.raised_at, HelpRequest.acknowledged_at).where(
            HelpRequest.business_day == day
        )
    ).all()
    waits = sorted(max(0, int((acked - raised).total_seconds())) for raised, acked in rows if acked)
    return HelpStatistics(
        day=day,
        calls=len(rows),
        acknowledged=len(waits),
        still_open=len(rows) - len(waits),
        mean_wait_s=sum(waits) / len(waits) if waits else None,
        p90_wait_s=float(waits[math.ceil(0.9 * len(waits)) - 1]) if waits else None,
        longest_wait_s=waits[-1] if waits else None,
    )
