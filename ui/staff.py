"""The staff console: log in, pick a counter, work the queue, open the paid prefilled case,
print it for the signature, refund (supervisor), administration and statistics (admin).

Views are thin: parse the form, call one domain operation, commit once, redirect with a
flash message (or render). Every POST carries the session's CSRF token. Opening a case
(screen or print) goes through ``kiosk.cases.view_case``, which writes the audit row.
Domain errors become a flash message in the staff member's language (``ui.errors``).
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask.typing import ResponseReturnValue
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from kiosk.addresses import address_parts
from kiosk.cases import view_case
from kiosk.catalog import Catalog
from kiosk.clock import business_day
from kiosk.db import transaction
from kiosk.errors import DomainError, NotFound
from kiosk.models import StaffRole
from kiosk.overview import day_statistics, open_tickets, queue_counts
from kiosk.queue import (
    call_next,
    call_ticket,
    complete,
    get_counter,
    get_queue,
    get_ticket,
    hold,
    mark_no_show,
    recall,
    resume,
    return_no_show,
    set_counter_open,
    start_serving,
    transfer,
)
from kiosk.staff import (
    PermissionDenied,
    actor_of,
    authenticate,
    create_staff,
    get_staff,
    list_staff,
    require_role,
    update_staff,
)
from payments.provider import PaymentError
from payments.receipts import METHODS, build_receipt, render_html
from payments.service import payments_of_case, refund_payment
from ui.errors import describe
from ui.i18n import current_locale, domain_language, localized, ward_name
from ui.kiosk import OPTION_LABELS

log = logging.getLogger(__name__)

bp = Blueprint("staff", __name__, url_prefix="/staff")

IDLE_TIMEOUT_S = 30 * 60
PUBLIC_ENDPOINTS = {"staff.login", "staff.login_submit"}
STATUS_LABELS: dict[str, Any] = {
    "waiting": _l("Waiting"),
    "held": _l("Held"),
    "called": _l("Called"),
    "serving": _l("Serving"),
    "no_show": _l("No-show"),
    "done": _l("Done"),
    "cancelled": _l("Cancelled"),
}
STATUS_LABELS.update(
    {
        "queued": _l("Waiting"),
        "paid": _l("Paid"),
        "refunded": _l("Refunded in full"),
        "partially_refunded": _l("Partly refunded"),
        "succeeded": _l("Paid"),
        "pending": _l("In progress"),
        "created": _l("In progress"),
        "failed": _l("Failed"),
        "expired": _l("Failed"),
        "confirmed": _l("Not paid yet."),
        "awaiting_payment": _l("Not paid yet."),
    }
)
ROLE_LABELS: dict[str, Any] = {
    "staff": _l("Staff"),
    "supervisor": _l("Supervisor"),
    "admin": _l("Administrator"),
}


class AutoSecureSessionInterface(SecureCookieSessionInterface):
    """The session cookie gets ``Secure`` whenever the request came over HTTPS (behind a
    TLS proxy that waitress trusts), so the same app works on the kiosk's loopback too."""

    def get_cookie_secure(self, app: Flask) -> bool:
        from flask import has_request_context

        return bool(app.config.get("SESSION_COOKIE_SECURE")) or (
            has_request_context() and request.is_secure
        )


@bp.record_once
def _setup(state: Any) -> None:
    app: Flask = state.app
    app.session_interface = AutoSecureSessionInterface()
    app.jinja_env.globals.setdefault("csrf_token", csrf_token)


# --- helpers ----------------------------------------------------------------------------------


def _sessions() -> Any:
    return current_app.extensions["kiosk.sessions"]


def _catalog() -> Catalog:
    return current_app.extensions["kiosk.catalog"]


def csrf_token() -> str:
    """The session's CSRF token (created on first use); every console form posts it."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def _csrf_ok() -> bool:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    return bool(expected) and hmac.compare_digest(str(sent), str(expected))


def _actor() -> str:
    return actor_of(g.staff)


def _counter_code() -> str | None:
    return session.get("counter")


def _back(default: str = "staff.overview") -> Response:
    target = request.form.get("next", "")
    parts = urlsplit(target)
    if target.startswith("/staff") and not parts.scheme and not parts.netloc:
        return redirect(target)
    return redirect(url_for(default))


def role_required(role: StaffRole) -> Any:
    def decorate(view: Any) -> Any:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            require_role(g.staff, role)
            return view(*args, **kwargs)

        return wrapped

    return decorate


@bp.url_value_preprocessor
def _check_ids(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    # Ids beyond the database's integer range are simply not there (never an overflow).
    for value in (values or {}).values():
        if isinstance(value, int) and not 0 < value < 2**31:
            abort(404)


@bp.before_request
def _load_staff() -> ResponseReturnValue | None:
    g.staff = None
    staff_id = session.get("staff_id")
    if staff_id is not None:
        if time.time() - float(session.get("staff_seen", 0)) > IDLE_TIMEOUT_S:
            _forget_staff()
        else:
            with _sessions()() as s:
                try:
                    staff = get_staff(s, int(staff_id))
                except NotFound:
                    staff = None
            if staff is None or not staff.active:
                _forget_staff()
            else:
                g.staff = staff
                session["staff_seen"] = time.time()
    if request.method == "POST" and not _csrf_ok():
        code, _status, message = describe("csrf_failed")
        return render_template("staff/error.html", message=message, code=code), 400
    if g.staff is None and request.endpoint not in PUBLIC_ENDPOINTS:
        return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))
    return None


def _forget_staff() -> None:
    for key in ("staff_id", "staff_seen", "counter"):
        session.pop(key, None)


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "object-src 'none'; frame-ancestors 'none'; form-action 'self'"
    )
    return response


@bp.context_processor
def _context() -> dict[str, Any]:
    return {
        "staff": g.get("staff"),
        "counter_code": _counter_code(),
        "status_label": lambda s: str(STATUS_LABELS.get(s, s)),
        "role_label": lambda r: str(ROLE_LABELS.get(r, r)),
        "localized": localized,
        "StaffRole": StaffRole,
    }


@bp.errorhandler(DomainError)
@bp.errorhandler(PaymentError)
def _domain_error(e: Exception) -> ResponseReturnValue:
    code, status, message = describe(e)
    log.info("staff console: %s (%s)", code, type(e).__name__)
    if isinstance(e, PermissionDenied):
        return render_template("staff/error.html", message=message, code=code), 403
    if request.method == "POST":
        flash(message, "error")
        return _back()
    return render_template("staff/error.html", message=message, code=code), status


@bp.errorhandler(HTTPException)
def _http_error(e: HTTPException) -> ResponseReturnValue:
    codes = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
    code, _status, message = describe(codes.get(e.code or 400, "bad_request"))
    return render_template("staff/error.html", message=message, code=code), e.code or 400


# --- log in, log out, counter ---------------------------------------------------------------------


@bp.get("/login")
def login() -> ResponseReturnValue:
    """The log-in form."""
    if g.staff is not None:
        return redirect(url_for("staff.overview"))
    return render_template("staff/login.html", next=request.args.get("next", ""))


@bp.post("/login")
def login_submit() -> ResponseReturnValue:
    """Check the password (failures counted, lock-out after five); a new session on
    success (no fixation: the old session's content is dropped)."""
    username = request.form.get("username", "").strip()[:64]
    password = request.form.get("password", "")
    with transaction(_sessions()) as s:
        result = authenticate(s, username, password)
    if result.staff is None:
        code = "account_locked" if result.locked_until else "login_failed"
        _c, status, message = describe(code)
        return render_template("staff/login.html", error=message, next="", username=username), (
            status
        )
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    session["staff_id"] = result.staff.id
    session["staff_seen"] = time.time()
    session["csrf"] = secrets.token_urlsafe(32)
    target = request.form.get("next", "")
    if target.startswith("/staff") and not urlsplit(target).netloc and "login" not in target:
        return redirect(target)
    return redirect(url_for("staff.counter"))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the staff session."""
    _forget_staff()
    session.pop("csrf", None)
    return redirect(url_for("staff.login"))


@bp.get("/counter")
def counter() -> ResponseReturnValue:
    """Choose the counter (窓口) this browser works at; open or close it."""
    with _sessions()() as s:
        counters = [get_counter(s, c.code) for c in _catalog().counters]
        rows = [(c.code, dict(c.names), c.is_open, [q.code for q in c.queues]) for c in counters]
    return render_template("staff/counter.html", counters=rows, queues=_catalog().queues)


@bp.post("/counter")
def counter_submit() -> ResponseReturnValue:
    """Remember the chosen counter; ``open`` = 1/0 opens or closes it (audited)."""
    code = request.form.get("counter", "")
    with transaction(_sessions()) as s:
        counter = get_counter(s, code)
        if request.form.get("open") in ("0", "1"):
            set_counter_open(s, counter, request.form["open"] == "1", actor=_actor())
    session["counter"] = code
    return redirect(url_for("staff.overview"))


# --- the queue ------------------------------------------------------------------------------------


@bp.get("/")
def overview() -> ResponseReturnValue:
    """Waiting / held / no-show per queue, my counter's current ticket, every open ticket
    with its actions. Numbers only (the case opens on a separate, audited page)."""
    code = _counter_code()
    if code is None:
        return redirect(url_for("staff.counter"))
    day = business_day()
    with _sessions()() as s:
        counter = get_counter(s, code)
        counter_view = (counter.code, dict(counter.names), counter.is_open)
        counts = queue_counts(s, day)
        tickets = open_tickets(s, day)
    mine = [t for t in tickets if t.counter == code and t.status in ("called", "serving")]
    return render_template(
        "staff/overview.html",
        counter=counter_view,
        counts=counts,
        tickets=tickets,
        mine=mine,
        queues=_catalog().queues,
        counters=_catalog().counters,
    )


@bp.get("/tickets.json")
def tickets_json() -> ResponseReturnValue:
    """The overview's data for its 2-second refresh (numbers only)."""
    day = business_day()
    with _sessions()() as s:
        counts = queue_counts(s, day)
        tickets = open_tickets(s, day)
    return {
        "queues": [{"queue": c.code, "waiting": c.waiting, "held": c.held} for c in counts],
        "tickets": [{"id": t.id, "number": t.number, "status": t.status} for t in tickets],
    }


@bp.post("/call-next")
def call_next_view() -> ResponseReturnValue:
    """Call the next ticket for my counter."""
    code = _counter_code()
    if code is None:
        return redirect(url_for("staff.counter"))
    with transaction(_sessions()) as s:
        ticket = call_next(s, get_counter(s, code), actor=_actor())
        number = ticket.display_number if ticket else None
    if number is None:
        flash(_("Nobody is waiting."), "info")
    else:
        flash(_("%(number)s called to your counter.", number=number), "ok")
    return redirect(url_for("staff.overview"))


def _with_counter(op: Any) -> Any:
    def run(s: Any, ticket: Any, actor: str) -> Any:
        code = _counter_code()
        if code is None:
            raise NotFound("no counter chosen")
        return op(s, ticket, get_counter(s, code), actor=actor)

    return run


def _transfer(s: Any, ticket: Any, actor: str) -> Any:
    queue_code = request.form.get("queue", "")
    counter_code = request.form.get("counter", "")
    return transfer(
        s,
        ticket,
        actor=actor,
        queue=get_queue(s, queue_code) if queue_code else None,
        counter=get_counter(s, counter_code) if counter_code else None,
    )


TICKET_OPERATIONS: dict[str, tuple[Any, Any]] = {
    "call": (_with_counter(call_ticket), _l("%(number)s called to your counter.")),
    "recall": (lambda s, t, a: recall(s, t, actor=a), _l("%(number)s called again.")),
    "serve": (lambda s, t, a: start_serving(s, t, actor=a), _l("Serving %(number)s.")),
    "complete": (lambda s, t, a: complete(s, t, actor=a), _l("%(number)s is done.")),
    "no-show": (lambda s, t, a: mark_no_show(s, t, actor=a), _l("%(number)s marked no-show.")),
    "return": (lambda s, t, a: return_no_show(s, t, actor=a), _l("%(number)s waits again.")),
    "hold": (lambda s, t, a: hold(s, t, actor=a), _l("%(number)s is on hold.")),
    "resume": (lambda s, t, a: resume(s, t, actor=a), _l("%(number)s waits again.")),
    "transfer": (_transfer, _l("%(number)s transferred.")),
}


@bp.post("/tickets/<int:ticket_id>/<operation>")
def ticket_operation(ticket_id: int, operation: str) -> ResponseReturnValue:
    """call / recall / serve / complete / no-show / return / hold / resume / transfer."""
    if operation not in TICKET_OPERATIONS:
        abort(404)
    if operation == "transfer" and not (request.form.get("queue") or request.form.get("counter")):
        flash(str(describe("invalid_field")[2]), "error")
        return _back()
    op, message = TICKET_OPERATIONS[operation]
    with transaction(_sessions()) as s:
        ticket = op(s, get_ticket(s, ticket_id), _actor())
        number = ticket.display_number
    flash(str(message) % {"number": number}, "ok")
    return _back()


# --- the case -------------------------------------------------------------------------------


def _field_rows(detail: Any, *, parts: bool = True) -> list[tuple[Any, list[tuple[str, str]]]]:
    """Per procedure line: its labelled fields in the console's language; an address in the
    ward also lists its parts (町名, 丁目, 番, 号, building) unless ``parts`` is false."""
    out = []
    for line in detail.procedures:
        try:
            spec = _catalog().procedure(line.code)
        except KeyError:
            spec = None
        rows = []
        for name, value in line.fields.items():
            field = spec.field_spec(name) if spec else None
            label = localized(field.label) if field else name
            if value is None or value == "" or value == []:
                text = "—"
            elif isinstance(value, bool):
                text = _("Yes") if value else _("No")
            elif isinstance(value, list):
                text = ", ".join(str(v) for v in value)
            elif field is not None and field.kind == "choice":
                text = str(OPTION_LABELS.get(value, value))
            elif isinstance(value, dict) and field is not None and field.kind == "ward_address":
                rows.append((label, str(value.get("address") or "—")))
                if parts:
                    parts_of = address_parts(value, domain_language())
                    rows.extend((f"{label}: {part}", text) for part, text in parts_of)
                continue
            else:
                text = str(value)
            rows.append((label, text))
        out.append((line, rows))
    return out


def _case_page(case_id: int, template: str) -> ResponseReturnValue:
    lang = domain_language()
    with transaction(_sessions()) as s:
        detail = view_case(s, case_id, actor=_actor(), catalog=_catalog())
        payments = [
            {
                "public_id": p.public_id,
                "status": p.status.value,
                "amount_yen": p.amount_yen,
                "refunded_yen": p.refunded_yen,
                "method": METHODS.get(p.method or "", {}).get(lang, p.method or ""),
                "provider": p.provider,
                "has_receipt": p.status.value in ("succeeded", "partially_refunded", "refunded"),
            }
            for p in payments_of_case(s, case_id)
        ]
    if template == "staff/print.html":  # the form itself is always Japanese
        with force_locale("ja"):
            return render_template(
                template, case=detail, lines=_field_rows(detail, parts=False), payments=payments
            )
    return render_template(
        template,
        case=detail,
        lines=_field_rows(detail),
        payments=payments,
        can_refund=g.staff.role.rank >= StaffRole.SUPERVISOR.rank,
    )


@bp.get("/cases/<int:case_id>")
def case(case_id: int) -> ResponseReturnValue:
    """The prefilled, paid case in clear (audited), its payments and receipt."""
    return _case_page(case_id, "staff/case.html")


@bp.get("/cases/<int:case_id>/print")
def case_print(case_id: int) -> ResponseReturnValue:
    """The A4 application with the card data filled in, for the resident's signature
    (audited like the case view)."""
    return _case_page(case_id, "staff/print.html")


@bp.get("/payments/<public_id>/receipt")
def receipt(public_id: str) -> ResponseReturnValue:
    """The printable receipt of a payment (no personal data on it)."""
    settings = current_app.config["KIOSK_SETTINGS"]
    with _sessions()() as s:
        html = render_html(
            build_receipt(
                s,
                public_id[:64],
                catalog=_catalog(),
                ward_name=ward_name(domain_language()),
                title=settings.receipt_title,
                language=domain_language(),
            )
        )
    return Response(html, mimetype="text/html")


@bp.post("/payments/<public_id>/refund")
@role_required(StaffRole.SUPERVISOR)
def refund(public_id: str) -> ResponseReturnValue:
    """Refund (all, or ``amount_yen``) with a reason: supervisors and admins only."""
    reason = request.form.get("reason", "").strip()[:200]
    amount_text = request.form.get("amount_yen", "").strip()
    if not reason or (amount_text and not (amount_text.isdigit() and len(amount_text) < 9)):
        flash(str(describe("invalid_field")[2]), "error")
        return _back()
    with transaction(_sessions()) as s:
        refund_payment(
            s,
            current_app.extensions["kiosk.payments"],
            public_id[:64],
            actor=_actor(),
            reason=reason,
            amount_yen=int(amount_text) if amount_text else None,
        )
    flash(_("The refund was made."), "ok")
    return _back()


# --- administration and statistics ---------------------------------------------------------


@bp.get("/admin")
@role_required(StaffRole.ADMIN)
def admin() -> ResponseReturnValue:
    """Counters (open/close), queues and kiosks of the catalog, staff accounts."""
    from sqlalchemy import select

    from kiosk.models import AuditEvent

    with _sessions()() as s:
        counters = [
            (c.code, dict(c.names), get_counter(s, c.code).is_open) for c in _catalog().counters
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
            | {current_app.config["KIOSK_SETTINGS"].kiosk_id}
        )
    return render_template(
        "staff/admin.html",
        counters=counters,
        queues=_catalog().queues,
        accounts=accounts,
        kiosks=kiosks,
        catalog_source=_catalog().source,
        roles=[r.value for r in StaffRole],
    )


@bp.post("/admin/counters/<code>")
@role_required(StaffRole.ADMIN)
def admin_counter(code: str) -> ResponseReturnValue:
    """Open or close any counter."""
    with transaction(_sessions()) as s:
        set_counter_open(s, get_counter(s, code), request.form.get("open") == "1", actor=_actor())
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
    with transaction(_sessions()) as s:
        create_staff(
            s,
            request.form.get("username", "").strip(),
            request.form.get("password", ""),
            role,
            actor=_actor(),
            display_name=request.form.get("display_name", ""),
        )
    flash(_("Saved."), "ok")
    return redirect(url_for("staff.admin"))


@bp.post("/admin/staff/<int:staff_id>")
@role_required(StaffRole.ADMIN)
def admin_staff_update(staff_id: int) -> ResponseReturnValue:
    """Change role, enable/disable, unlock or set a new password."""
    active = request.form.get("active")
    with transaction(_sessions()) as s:
        update_staff(
            s,
            get_staff(s, staff_id),
            actor=_actor(),
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
    from datetime import date

    try:
        day = date.fromisoformat(request.args.get("day", "")[:10])
    except ValueError:
        day = business_day()
    with _sessions()() as s:
        data = day_statistics(s, day)
    names = {q.code: localized(q.names) for q in _catalog().queues}
    return render_template(
        "staff/stats.html",
        data=data,
        names=names,
        hour_chart=_bar_chart_hours(data.per_hour),
        wait_chart=_wait_chart(data.queues, names),
        locale=current_locale(),
    )


def _bar_chart_hours(per_hour: tuple[int, ...]) -> dict[str, Any]:
    """Geometry of the per-hour bar chart (07:00-20:00 plus any other hour with tickets)."""
    hours = [h for h in range(24) if 7 <= h <= 20 or per_hour[h]]
    top = max([per_hour[h] for h in hours] + [1])
    width, height, pad = 640, 220, 30
    step = (width - pad * 2) / max(1, len(hours))
    bars = []
    for i, h in enumerate(hours):
        bar_h = (height - pad * 2) * per_hour[h] / top
        bars.append(
            {
                "x": round(pad + i * step + 2, 1),
                "y": round(height - pad - bar_h, 1),
                "w": round(step - 4, 1),
                "h": round(bar_h, 1),
                "hour": h,
                "n": per_hour[h],
            }
        )
    return {"width": width, "height": height, "pad": pad, "bars": bars, "top": top}


def _wait_chart(queues: tuple[Any, ...], names: dict[str, str]) -> dict[str, Any]:
    """Geometry of the waits-per-queue chart: mean and p90 wait in minutes."""
    rows = []
    top = max([(q.p90_wait_s or q.mean_wait_s or 0) for q in queues] + [60]) / 60
    width, row_h, label_w = 640, 34, 160
    for i, q in enumerate(queues):
        mean = (q.mean_wait_s or 0) / 60
        p90 = (q.p90_wait_s or 0) / 60
        scale = (width - label_w - 60) / top
        rows.append(
            {
                "y": 10 + i * row_h,
                "label": names.get(q.queue, q.queue),
                "mean_w": round(mean * scale, 1),
                "p90_w": round(p90 * scale, 1),
                "mean": round(mean, 1),
                "p90": round(p90, 1),
            }
        )
    return {"width": width, "height": 20 + row_h * len(rows), "label_w": label_w, "rows": rows}
