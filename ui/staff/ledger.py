"""The day's takings (収納日計表) in the staff console, for supervisors: a day's ledger per
procedure and payment method, what each drawer should hold, closing the day with the cash
counted, the printable A4 sheet for the accounting office and its CSV (UTF-8 or CP932).
Thin over ``application.counter_desk`` (which reads and closes ``payments.ledger``)."""

from __future__ import annotations

from datetime import date

from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from application.counter_desk import CounterDeskWorkflow
from kiosk.clock import business_day
from kiosk.models import StaffRole
from payments.ledger import CSV_ENCODINGS, CountInvalid, encode_csv, ledger_csv
from ui.i18n import localized
from ui.services import current_services
from ui.staff import bp
from ui.staff.console import catalog, role_required

COUNT_PROBLEMS = {
    "missing": _l("no count given"),
    "unknown": _l("no such drawer"),
    "negative": _l("a count cannot be negative"),
    "reason_required": _l("differs from what it should hold: give the reason"),
}
METHOD_LABELS = {
    "cash": _l("Cash"),
    "card": _l("Card"),
    "paypay": _l("PayPay"),
    "exempt": _l("Exempt"),
}


def _day(text: str | None) -> date:
    try:
        return date.fromisoformat((text or "")[:10])
    except ValueError:
        return business_day()


def _desks() -> CounterDeskWorkflow:
    desks = current_services().counter_desk
    if desks is None:  # pragma: no cover
        abort(404)
    return desks


def _names() -> dict[str, str]:
    return {p.code: localized(p.names) for p in catalog().procedures}


@bp.get("/ledger")
@role_required(StaffRole.SUPERVISOR)
def ledger() -> ResponseReturnValue:
    """The ledger of ``?day=YYYY-MM-DD`` (default today) and, while open, the closing form."""
    day = _day(request.args.get("day"))
    return render_template(
        "staff/ledger.html",
        ledger=_desks().day_ledger(day),
        names=_names(),
        methods=METHOD_LABELS,
        counter_names={c.code: localized(c.names) for c in catalog().counters},
        today=business_day(),
    )


@bp.get("/ledger/<day_text>.csv")
@role_required(StaffRole.SUPERVISOR)
def ledger_csv_download(day_text: str) -> ResponseReturnValue:
    """The ledger as CSV (``?encoding=cp932`` for Shift_JIS): the columns
    ``procedure_code,method,count,gross_yen,refunds_yen,net_yen`` and a TOTAL row."""
    day = _day(day_text)
    encoding = request.args.get("encoding", "utf-8")
    if encoding not in CSV_ENCODINGS:
        abort(400)
    body = encode_csv(ledger_csv(_desks().day_ledger(day)), encoding)
    charset = "Shift_JIS" if encoding == "cp932" else "utf-8"
    return Response(
        body,
        content_type=f"text/csv; charset={charset}",
        headers={
            "Content-Disposition": f'attachment; filename="ledger-{day.isoformat()}.csv"',
        },
    )


@bp.get("/ledger/<day_text>/print")
@role_required(StaffRole.SUPERVISOR)
def ledger_print(day_text: str) -> ResponseReturnValue:
    """The A4 収納日計表 to print for the accounting office (always in Japanese)."""
    day = _day(day_text)
    with force_locale("ja"):
        return render_template(
            "staff/ledger_print.html",
            ledger=_desks().day_ledger(day),
            names={p.code: p.names["ja"] for p in catalog().procedures},
            methods={k: str(v) for k, v in METHOD_LABELS.items()},
            counter_names={c.code: c.names["ja"] for c in catalog().counters},
        )


@bp.post("/ledger/<day_text>/close")
@role_required(StaffRole.SUPERVISOR)
def ledger_close(day_text: str) -> ResponseReturnValue:
    """Close the day with the counted cash of every drawer (and the reason of a
    difference); every problem is shown at once and nothing is recorded then."""
    day = _day(day_text)
    counted: dict[str, int] = {}
    reasons: dict[str, str] = {}
    problems: list[str] = []
    for drawer in _desks().drawers:
        text = request.form.get(f"counted_{drawer}", "").strip().replace(",", "")
        reasons[drawer] = request.form.get(f"reason_{drawer}", "").strip()[:200]
        if not text:
            continue
        if not text.lstrip("-").isdigit() or len(text) > 9:
            problems.append(_("Drawer %(drawer)s: the count is a number of yen.", drawer=drawer))
            continue
        counted[drawer] = int(text)
    if problems:
        for problem in problems:
            flash(problem, "error")
        return redirect(url_for("staff.ledger", day=day.isoformat()))
    try:
        closed = _desks().close_day(day, counted, staff=g.staff, reasons=reasons)
    except CountInvalid as e:
        for drawer, problem in e.errors.items():
            flash(
                _("Drawer %(drawer)s: %(problem)s", drawer=drawer, problem=COUNT_PROBLEMS[problem]),
                "error",
            )
        flash(_("Nothing was recorded; the day stays open."), "error")
        return redirect(url_for("staff.ledger", day=day.isoformat()))
    flash(
        _(
            "The day is closed. Cash difference: %(difference)s yen.",
            difference=f"{closed.cash_difference_yen:+,}",
        ),
        "ok",
    )
    return redirect(url_for("staff.ledger", day=day.isoformat()))
