"""Which requests spend which per-address budget (``application.rate_limits``), and the
429 answer (with ``Retry-After``) in each surface's own form.

- ``card``: the PIN pad (it reads the card's tries), the PIN, and the API's reader view and
  card read;
- ``login``: the console's and the API's log-in, and the kiosk screen's enrolment;
- ``speech``: every synthesised WAV (read-aloud, board announcements).

The client address is the one the WSGI server reports: waitress replaces it with the
forwarded one only for requests from ``KIOSK_TRUSTED_PROXY``.
"""

from __future__ import annotations

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from ui.services import current_services

BUDGETS: dict[str, frozenset[str]] = {
    "card": frozenset({"kiosk.pin", "kiosk.pin_submit", "api.visit_card", "api.visit_card_read"}),
    "login": frozenset({"staff.login_submit", "api.staff_login", "device.enrol_submit"}),
}
SPEECH_BLUEPRINT = "voice"


def budget_of_request() -> str | None:
    """The budget the current request spends, or None."""
    if request.blueprint == SPEECH_BLUEPRINT:
        return "speech"
    for kind, endpoints in BUDGETS.items():
        if request.endpoint in endpoints:
            return kind
    return None


def too_many(retry_after_s: int) -> ResponseReturnValue:
    """429 with ``Retry-After``: the API's JSON error, the log-in form, or a short page."""
    message = _("Too many attempts. Please wait a moment and try again.")
    headers = {"Retry-After": str(retry_after_s), "Cache-Control": "no-store"}
    if request.path.startswith("/api/") or request.blueprint == SPEECH_BLUEPRINT:
        from ui.api import error_response

        response = error_response("too_many_requests", 429, message)
        response.headers.update(headers)
        return response
    if request.blueprint == "staff":
        page = render_template("staff/login.html", error=message, next="", username="")
        return page, 429, headers
    return render_template("kiosk/problem.html", message=message, code="too_many"), 429, headers


def init_rate_limits(app: Flask) -> None:
    """Count every budgeted request against its client address; 429 over budget."""

    @app.before_request
    def _per_address_budget() -> ResponseReturnValue | None:
        kind = budget_of_request()
        if kind is None:
            return None
        verdict = current_services().rate_limits.hit(kind, request.remote_addr or "")
        return None if verdict.allowed else too_many(verdict.retry_after_s)
