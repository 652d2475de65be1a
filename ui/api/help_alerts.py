"""The kiosks' calls for staff through the JSON API (by staff bearer token, like the other
``/api/staff`` endpoints): the open alerts, acknowledging one (audited, the same operation as
the console's "I am going"), and how long residents waited for help. No personal data: a
kiosk, a screen, times and who went."""

from __future__ import annotations

from datetime import date

from flask import g

from kiosk.clock import business_day
from kiosk.db import transaction
from kiosk.help import HelpAlert, acknowledge_help, help_statistics, open_alerts
from kiosk.models import StaffRole
from kiosk.staff import get_staff
from ui.api import bp
from ui.api.protocol import operation
from ui.api.request_models import StatsQuery
from ui.api.response_models import ResponseModel
from ui.services import current_services


class StaffAlert(ResponseModel):
    """A kiosk's call for staff: which kiosk, on which screen, since when (ISO 8601), who
    acknowledged it when (null while open), and the seconds the resident waited (until now
    while open)."""

    id: int
    kiosk_id: str
    screen: str
    raised_at: str
    acknowledged_at: str | None
    acknowledged_by: str | None
    waited_s: int

    @classmethod
    def of(cls, alert: HelpAlert) -> StaffAlert:
        return cls.model_validate({**alert.to_json(), "waited_s": alert.waited_s()})


class StaffAlerts(ResponseModel):
    alerts: list[StaffAlert]


class AlertAcknowledged(ResponseModel):
    """The alert after the acknowledgement; ``acknowledged_now`` is false when someone else
    had acknowledged it first (then ``acknowledged_by`` names them)."""

    alert: StaffAlert
    acknowledged_now: bool


class HelpDayStats(ResponseModel):
    """Calls for staff of one day and how long residents waited until someone acknowledged
    (seconds; null without an acknowledged call)."""

    day: date
    calls: int
    acknowledged: int
    still_open: int
    mean_wait_s: float | None
    p90_wait_s: float | None
    longest_wait_s: int | None


@bp.get("/staff/alerts")
@operation(
    "Calls for staff nobody has acknowledged yet, oldest first",
    tag="staff",
    response=StaffAlerts,
    staff=StaffRole.STAFF,
)
def staff_alerts() -> StaffAlerts:
    """Open calls for staff: kiosk, screen, since when, seconds waited."""
    with current_services().sessions() as s:
        alerts = open_alerts(s)
    return StaffAlerts(alerts=[StaffAlert.of(a) for a in alerts])


@bp.post("/staff/alerts/<int:alert_id>/acknowledge")
@operation(
    "Going to the kiosk: the alert leaves every console, the kiosk is told (audited)",
    tag="staff",
    response=AlertAcknowledged,
    errors=("not_found",),
    staff=StaffRole.STAFF,
)
def staff_alert_acknowledge(alert_id: int) -> AlertAcknowledged:
    """The token's member of staff is going to the kiosk; acknowledging an acknowledged
    alert changes nothing."""
    with transaction(current_services().sessions) as s:
        outcome = acknowledge_help(s, alert_id, get_staff(s, g.staff.id))
    return AlertAcknowledged(
        alert=StaffAlert.of(outcome.alert), acknowledged_now=outcome.acknowledged_now
    )


@bp.get("/staff/alerts/statistics")
@operation(
    "Calls for staff of a day and how long residents waited (supervisor or admin)",
    tag="staff",
    response=HelpDayStats,
    query=StatsQuery,
    staff=StaffRole.SUPERVISOR,
)
def staff_alert_statistics(query: StatsQuery) -> HelpDayStats:
    """Calls for staff of ``?day=YYYY-MM-DD`` (default today): mean, 90th percentile and
    longest wait until acknowledged."""
    with current_services().sessions() as s:
        stats = help_statistics(s, query.day or business_day())
    return HelpDayStats.model_validate(stats, from_attributes=True)
