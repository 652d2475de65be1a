"""Which requests spend which per-address budget (``application.rate_limits``), and the
429 answer (with ``Retry-After``) in each surface's own form.

- ``card``: the PIN pad (it reads the card's tries), the PIN, and the API's reader view and
  card read;
- ``login``: the console's and the API's log-in, and the kiosk screen's enrolment;
- ``speech``: every synthesised WAV (read-aloud, board announcements).

The client address is the one the WSGI server reports: waitress replaces it with the
forwarded one only for requests from ``KIOSK_TRUSTED_PROXY``. Requests are matched by method
and path (not by view names), so a front end rewritten under the same URLs keeps its budgets.
"""

from __future__ import annotations

import re

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from ui.services import current_services

# (budget, methods, path): the first match decides.
BUDGETS: tuple[tuple[str, frozenset[str], re.Pattern[str]], ...] = (
    ("card", frozenset({"GET", "POST"}), re.compile(r"/kiosk/pin")),
    ("card", frozenset({"GET", "POST"}), re.compile(r"/api/visits/[^/]+/card(?:/read)?")),
    ("login", frozenset({"POST"}), re.compile(r"/(?:api/)?staff/login")),
    ("login", frozenset({"POST"}), re.compile(r"/device/")),
    ("speech", frozenset({"GET"}), re.compile(r"/api/voice/.+")),
)


def budget_of_request() -> str | None:
    """The budget the current request spends, or None."""
    for kind, methods, path in BUDGETS:
        if request.method in methods and path.fullmatch(request.path):
            return kind
    return None


def too_many(retry_after_s: int) -> ResponseReturnValue:
    """429 with ``Retry-After``: the API's JSON error, the log-in form, or a short page."""
    message = _("Too many attempts. Please wait a moment and try again.")
    headers = {"Retry-After": str(retry_after_s), "Cache-Control": "no-store"}
    if request.path.startswith("/api/"):
        from ui.api.protocol import error_response

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
