"""Administration (admins): counters, the catalog's queues and kiosks, staff accounts; and
the statistics of a day (supervisors)."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from pydantic import ValidationError
from sqlalchemy import select

from kiosk.clock import business_day
from kiosk.counters import get_counter, set_counter_open
from kiosk.db import transaction
from kiosk.help import help_statistics
from kiosk.models import AuditEvent, StaffRole
from kiosk.staff import create_staff, get_staff, list_staff, update_staff
from kiosk.statistics import day_statistics
from payments.counter_statistics import day_and_month, statistics_csv
from ui.api.request_models import StatsQuery
from ui.i18n import current_locale, localized
from ui.services import current_services
from ui.staff import bp
from ui.staff.charts import hour_bars, wait_bars
from ui.staff.console import actor, catalog, role_required, sessions


@bp.get("/admin")
@role_required(StaffRole.ADMIN)
def admin() -> ResponseReturnValue:
    """Counters (open/close), queues and kiosks of the catalog, staff accounts."""
    with sessions()() as s:
        counters = [
            (c.code, dict(c.names), get_counter(s, c.code).is_open) for c in catalog().counters
        ]
        accounts = list_staff(s)
        kiosks = sorted(
            {
                a.removeprefix("kiosk:")
                for a in s.scalars(
                    select(AuditEvent.actor)
                    .where(AuditEvent.actor.like("kiosk:%"))
                    .distinct()
                    .limit(100)
                )
            }
            | {current_services().settings.kiosk_id}
        )
    return render_template(
        "staff/admin.html",
        counters=counters,
        queues=catalog().queues,
        accounts=accounts,
        kiosks=kiosks,
        catalog_source=catalog().source,
        roles=[r.value for r in StaffRole],
    )


@bp.post("/admin/counters/<code>")
@role_required(StaffRole.ADMIN)
def admin_counter(code: str) -> ResponseReturnValue:
    """Open or close any counter."""
    with transaction(sessions()) as s:
        set_counter_open(s, get_counter(s, code), request.form.get("open") == "1", actor=actor())
    flash(_("Saved."), "ok")
    return redirect(url_for("staff.admin"))


def _role(value: str | None) -> StaffRole | None:
    try:
        return StaffRole(value) if value else None
    except ValueError:
        abort(400)


@bp.post("/admin/staff")
@role_required(StaffRole.ADMIN)
def admin_staff_add() -> ResponseReturnValue:
    """A new account."""
    role = _role(request.form.get("role")) or StaffRole.STAFF
    with transaction(sessions()) as s:
        create_staff(
            s,
            request.form.get("username", "").strip(),
            request.form.get("password", ""),
            role,
            actor=actor(),
            display_name=request.form.get("display_name", ""),
        )
    flash(_("Saved."), "ok")
    return redirect(url_for("staff.admin"))


@bp.post("/admin/staff/<int:staff_id>")
@role_required(StaffRole.ADMIN)
def admin_staff_update(staff_id: int) -> ResponseReturnValue:
    """Change role, enable/disable, unlock or set a new password."""
    active = request.form.get("active")
    with transaction(sessions()) as s:
        update_staff(
            s,
            get_staff(s, staff_id),
            actor=actor(),
            role=_role(request.form.get("role")),
            active=None if active is None else active == "1",
            password=request.form.get("password") or None,
            unlock=request.form.get("unlock") == "1",
        )
    flash(_("Saved."), "ok")
    return redirect(url_for("staff.admin"))


@bp.get("/stats")
@role_required(StaffRole.SUPERVISOR)
def stats() -> ResponseReturnValue:
    """Tickets per hour and waits per queue of a day (``?day=YYYY-MM-DD``), as inline SVG."""
    # The JSON API's rule for ``day`` (StatsQuery); a day it cannot read shows today.
    try:
        day = StatsQuery.model_validate_strings(request.args.to_dict()).day or business_day()
    except ValidationError:
        day = business_day()
    with sessions()() as s:
        data = day_statistics(s, day)
        help_stats = help_statistics(s, day)
        counter_day, counter_month = day_and_month(s, day)
    names = {q.code: localized(q.names) for q in catalog().queues}
    return render_template(
        "staff/stats.html",
        data=data,
        names=names,
        hour_chart=hour_bars(data.per_hour),
        wait_chart=wait_bars(data.queues, names),
        help_stats=help_stats,
        locale=current_locale(),
        counter_periods=(counter_day, counter_month),
        procedure_names={p.code: localized(p.names) for p in catalog().procedures},
    )


@bp.get("/stats/counter.csv")
@role_required(StaffRole.SUPERVISOR)
def stats_counter_csv() -> ResponseReturnValue:
    """The counter's figures of ``?day=`` and its month as CSV (``period,metric,key,value``)."""
    try:
        day = StatsQuery.model_validate_strings(request.args.to_dict()).day or business_day()
    except ValidationError:
        day = business_day()
    with sessions()() as s:
        periods = day_and_month(s, day)
    return Response(
        statistics_csv(periods).encode("utf-8"),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="counter-{day.isoformat()}.csv"'},
    )
