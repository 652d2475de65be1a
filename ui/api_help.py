"""The kiosks' calls for staff through the JSON API (by staff bearer token, like the other
``/api/staff`` endpoints of ``ui.api``): the open alerts, acknowledging one (audited, the
same operation as the console's "I am going"), and how long residents waited for help."""

from __future__ import annotations

from datetime import date

from flask import g, jsonify, request
from flask.typing import ResponseReturnValue

from kiosk.clock import business_day
from kiosk.db import transaction
from kiosk.help import acknowledge_help, help_statistics, open_alerts
from kiosk.models import StaffRole
from kiosk.staff import get_staff
from ui.api import ApiError, bp, staff_required
from ui.services import current_services


@bp.get("/staff/alerts")
@staff_required()
def staff_alerts() -> ResponseReturnValue:
    """Calls for staff nobody has acknowledged yet, oldest first: kiosk, screen, since when,
    seconds waited (no personal data)."""
    with current_services().sessions() as s:
        alerts = open_alerts(s)
    return jsonify(alerts=[{**a.to_json(), "waited_s": a.waited_s()} for a in alerts])


@bp.post("/staff/alerts/<int:alert_id>/acknowledge")
@staff_required()
def staff_alert_acknowledge(alert_id: int) -> ResponseReturnValue:
    """The token's member of staff is going to the kiosk: the alert leaves every console and
    the kiosk tells the resident. Audited; acknowledging an acknowledged alert changes
    nothing (``acknowledged_now`` false, ``acknowledged_by`` says who was first)."""
    if not 0 < alert_id < 2**31:
        raise ApiError("not_found")
    with transaction(current_services().sessions) as s:
        outcome = acknowledge_help(s, alert_id, get_staff(s, g.staff.id))
    alert = outcome.alert
    return jsonify(
        alert={**alert.to_json(), "waited_s": alert.waited_s()},
        acknowledged_now=outcome.acknowledged_now,
    )


@bp.get("/staff/alerts/statistics")
@staff_required(StaffRole.SUPERVISOR)
def staff_alert_statistics() -> ResponseReturnValue:
    """Calls for staff of ``?day=YYYY-MM-DD`` (default today) and how long residents
    waited until someone acknowledged: mean, 90th percentile and longest, in seconds."""
    text = request.args.get("day", "")
    try:
        day = date.fromisoformat(text[:10]) if text else business_day()
    except ValueError:
        raise ApiError("invalid_field", field="day") from None
    with current_services().sessions() as s:
        return jsonify(help_statistics(s, day).to_json())
