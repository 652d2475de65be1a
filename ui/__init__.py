"""The Flask app: resident kiosk, phone page, staff console (with the counter desk), the
counters' customer displays, display board, JSON API, webhooks and, in simulation, the
simulator panel.

``create_app`` takes (or builds, through the composition root
``application.services.build_services``) the one typed services object, keeps it as
``app.extensions["kiosk"]`` and runs a short, ordered list of ``init_*`` steps. Blueprints
only register routes: nothing is built at import time or when a blueprint is registered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from application.services import Services, build_services
from kiosk.config import Settings, load_settings
from ui.services import EXTENSION


def create_app(
    config: Mapping[str, Any] | None = None,
    *,
    settings: Settings | None = None,
    services: Services | None = None,
) -> Flask:
    """Build the app: defaults, then ``KIOSK_*`` environment, then ``config`` (setting names).

    Raises :class:`kiosk.config.ConfigError` for bad configuration (in production mode also
    for any simulator) and :class:`application.schema.SchemaOutdated` when the database
    needs ``kiosk db upgrade``. Close the services at shutdown (``services_of(app).close()``).
    """
    if services is None:
        services = build_services(settings if settings is not None else load_settings(config))
    app = Flask(__name__)
    app.extensions[EXTENSION] = services
    app.config["KIOSK_SETTINGS"] = services.settings  # for templates: {{ config.KIOSK_SETTINGS }}
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    init_sessions(app, services)
    init_i18n(app)
    init_templates(app)
    init_error_handlers(app)
    init_body_limits(app)
    init_security_headers(app)
    init_kiosk_screen_only(app)
    init_rate_limits(app)
    init_blueprints(app, services)
    init_printing(app)
    return app


def init_sessions(app: Flask, services: Services) -> None:
    """Signed session cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` over HTTPS)."""
    from ui.sessions import init_sessions as init

    init(app, services.settings)


def init_i18n(app: Flask) -> None:
    """Flask-Babel: four languages, ``?lang=`` / session / Accept-Language."""
    from ui.i18n import init_i18n as init

    init(app)


def init_templates(app: Flask) -> None:
    """Template helpers every blueprint's pages use (CSRF token, read-aloud URL)."""
    from ui.staff.console import csrf_token
    from ui.voice import voice_guide_url

    app.jinja_env.globals.update(csrf_token=csrf_token, voice_guide_url=voice_guide_url)


def init_body_limits(app: Flask) -> None:
    """413 for a body larger than its route's cap (``ui.body_limits``)."""
    from ui.body_limits import init_body_limits as init

    init(app)


def init_error_handlers(app: Flask) -> None:
    """Routing errors (404/405) never reach a blueprint's handlers: under ``/api`` they are
    answered in the API's JSON error format, elsewhere as usual."""
    from ui.api import http_error_response

    def json_for_api(e: HTTPException) -> Any:
        if request.path.startswith("/api/") or request.path == "/api":
            return http_error_response(e)
        return e

    app.register_error_handler(HTTPException, json_for_api)


def init_printing(app: Flask) -> None:
    """The ticket printer draws this app's printouts; without the CJK font it cannot, and
    the service does not start (``ui.printing``)."""
    from ui.printing import init_printing as init

    try:
        init(app)
    except BaseException:
        app.extensions[EXTENSION].close()  # nothing it started may outlive the refusal
        raise


def init_security_headers(app: Flask) -> None:
    """CSP, frame and sniffing headers on every response, in one place (``ui.headers``)."""
    from ui.headers import init_security_headers as init

    init(app)


def init_kiosk_screen_only(app: Flask) -> None:
    """Visits and card operations only from the kiosk's enrolled screen (``ui.device``)."""
    from ui.device import init_device_check

    init_device_check(app)


def init_rate_limits(app: Flask) -> None:
    """Per-address budgets of card reads, log-ins and speech (``ui.rate_limits``)."""
    from ui.rate_limits import init_rate_limits as init

    init(app)


def init_blueprints(app: Flask, services: Services) -> None:
    """Every surface; the simulator panel only in simulation mode with something simulated."""
    from ui import api, board, device, display, health, kiosk, phone, staff, voice, webhooks

    app.register_blueprint(health.bp)
    app.register_blueprint(device.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(kiosk.bp)
    app.register_blueprint(phone.bp)
    app.register_blueprint(phone.checkout_return)
    app.register_blueprint(staff.bp)
    app.register_blueprint(display.bp)
    app.register_blueprint(board.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(voice.bp)
    if services.simulation is not None:
        from ui import simulator

        app.register_blueprint(simulator.bp)
