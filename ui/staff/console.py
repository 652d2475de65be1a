"""What every staff console page shares: the logged-in member of staff (``g.staff``), the
CSRF check on every POST, role checks, response headers, error pages and the labels of
statuses and roles."""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from kiosk.catalog import Catalog
from kiosk.errors import DomainError, NotFound
from kiosk.models import Staff, StaffRole
from kiosk.staff import PermissionDenied, actor_of, get_staff, require_role, session_is_current
from payments.provider import PaymentError
from ui.errors import describe
from ui.i18n import localized
from ui.services import current_services
from ui.staff import bp

log = logging.getLogger(__name__)

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


def sessions() -> Any:
    return current_services().sessions


def catalog() -> Catalog:
    return current_services().catalog


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


def actor() -> str:
    return actor_of(g.staff)


def counter_code() -> str | None:
    return session.get("counter")


def back(default: str = "staff.overview") -> ResponseReturnValue:
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


def logged_in_staff() -> Staff | None:
    """The member of staff this browser's session is logged in as (still active, not idle
    for longer than the console allows, and its sessions not ended since: log-out,
    password change, deactivation or role change), or None. Refreshes the idle clock."""
    staff_id = session.get("staff_id")
    if staff_id is None:
        return None
    if time.time() - float(session.get("staff_seen", 0)) > IDLE_TIMEOUT_S:
        forget_staff()
        return None
    with sessions()() as s:
        try:
            staff = get_staff(s, int(staff_id))
        except NotFound:
            staff = None
    if staff is None or not session_is_current(staff, session.get("staff_ver")):
        forget_staff()
        return None
    session["staff_seen"] = time.time()
    return staff


@bp.before_request
def _load_staff() -> ResponseReturnValue | None:
    g.staff = logged_in_staff()
    if request.method == "POST" and not _csrf_ok():
        code, _status, message = describe("csrf_failed")
        return render_template("staff/error.html", message=message, code=code), 400
    if g.staff is None and request.endpoint not in PUBLIC_ENDPOINTS:
        return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))
    return None


def forget_staff() -> None:
    for key in ("staff_id", "staff_ver", "staff_seen", "counter"):
        session.pop(key, None)


@bp.after_request
def _headers(response: Response) -> Response:
    # The security headers (CSP, frames, sniffing, referrer) are the app's: ui.headers.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.context_processor
def _context() -> dict[str, Any]:
    return {
        "staff": g.get("staff"),
        "counter_code": counter_code(),
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
        return back()
    return render_template("staff/error.html", message=message, code=code), status


@bp.errorhandler(HTTPException)
def _http_error(e: HTTPException) -> ResponseReturnValue:
    codes = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
    code, _status, message = describe(codes.get(e.code or 400, "bad_request"))
    return render_template("staff/error.html", message=message, code=code), e.code or 400
