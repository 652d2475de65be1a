"""The kiosk's own screen: enrolment of its browser, and the check that every visit and
card operation comes from it (``application.device`` says why and how the credential is
made).

- ``/device/``: the enrolment page. Open ``/device/#<credential>`` on the kiosk's screen
  once (``kiosk device provision`` prints the link): its script takes the credential from
  the part after ``#`` (never sent to a server, never logged), posts it, and the answer sets
  the ``kiosk_device`` cookie (HttpOnly, SameSite=Strict, Secure over HTTPS, five years).
  Without a script the page is a form to paste the credential into.
- Every request of the kiosk screens except the welcome page, and every API operation
  declared for the kiosk's screen (the ``/api/visits`` ones), must present the credential
  (the cookie, or the ``X-Kiosk-Device`` header for API clients). Others get 403 with a
  message in the request's language and nothing happens: no visit, no reader status, no
  PIN.
"""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    Flask,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from application.device import COOKIE, HEADER
from ui.services import current_services

log = logging.getLogger(__name__)

bp = Blueprint("device", __name__, url_prefix="/device")

COOKIE_MAX_AGE_S = 5 * 365 * 24 * 3600
# Kiosk screens anyone may see: the welcome page (language choice, start button).
DEVICE_FREE_ENDPOINTS = frozenset({"kiosk.welcome"})


def presented_credential() -> str | None:
    """The credential this request presents: the ``X-Kiosk-Device`` header, else the
    enrolment cookie."""
    return request.headers.get(HEADER) or request.cookies.get(COOKIE)


def is_kiosk_screen() -> bool:
    """Whether the current request comes from this kiosk's enrolled screen (or an API
    client holding the credential)."""
    return current_services().device.matches(presented_credential())


def needs_kiosk_screen() -> bool:
    """Whether the current request is a visit or card operation (see the module doc): a
    kiosk screen other than the welcome page, or an API operation declared with
    ``kiosk_device=True`` (``ui.api.protocol.operation``: the same declaration the OpenAPI
    document shows as the ``kioskDevice`` security scheme, so the two cannot differ)."""
    if request.blueprint == "kiosk":
        return request.endpoint not in DEVICE_FREE_ENDPOINTS
    if request.blueprint == "api" and request.endpoint:
        view = current_app.view_functions.get(request.endpoint)
        declared = getattr(view, "operation", None)
        return bool(getattr(declared, "kiosk_device", False))
    return False


def refused() -> ResponseReturnValue:
    """403 in the surface's own form: the API's JSON error, JSON for the screens' polls, a
    kiosk page otherwise."""
    message = _("This screen is not set up as this kiosk's screen. Please ask a member of staff.")
    if request.path.startswith("/api/"):
        from ui.api.protocol import error_response

        return error_response("kiosk_device_required", 403, message)
    if request.path.endswith("/state") or request.accept_mimetypes.best == "application/json":
        response = jsonify(error={"code": "kiosk_device_required", "message": message})
        response.status_code = 403
        return response
    return render_template("kiosk/problem.html", message=message, code="kiosk_device"), 403


def init_device_check(app: Flask) -> None:
    """Refuse visits and card operations that do not come from the kiosk's screen."""

    @app.before_request
    def _kiosk_screen_only() -> ResponseReturnValue | None:
        if not needs_kiosk_screen() or is_kiosk_screen():
            return None
        # The path may hold a visit id: log the route only, and who asked.
        log.warning(
            "refused %s %s from %s: no kiosk device credential",
            request.method,
            request.url_rule.rule if request.url_rule else "?",
            request.remote_addr,
        )
        return refused()


@bp.get("/")
def enrol() -> ResponseReturnValue:
    """The enrolment form (its script submits the credential given after ``#``)."""
    return render_template("device/enrol.html", enrolled=is_kiosk_screen(), error=None)


@bp.post("/")
def enrol_submit() -> ResponseReturnValue:
    """Check the credential; set the enrolment cookie and go to the kiosk, or say no."""
    credential = request.form.get("credential", "").strip()
    if not current_services().device.matches(credential):
        log.warning("device enrolment refused from %s", request.remote_addr)
        error = _("This is not the device key of this kiosk.")
        return render_template("device/enrol.html", enrolled=False, error=error), 403
    response = redirect(url_for("kiosk.welcome"))
    response.set_cookie(
        COOKIE,
        credential,
        max_age=COOKIE_MAX_AGE_S,
        path="/",
        secure=request.is_secure,
        httponly=True,
        samesite="Strict",
    )
    log.info("browser at %s enrolled as this kiosk's screen", request.remote_addr)
    return response
