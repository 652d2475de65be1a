"""The JSON API (``/api``): everything the kiosk, staff console and board screens do, for
another front end (a tablet app, a second counter display). Documented by
``/api/openapi.json``, generated from the same declarations the views run on.

One blueprint (``api``), in modules by concern:

- :mod:`ui.api.protocol`: what every operation shares: the :func:`~ui.api.protocol.operation`
  decorator (staff token, path, query and body parsed by their models, the response model
  serialised), the error format and the error handlers, the body limits;
- :mod:`ui.api.request_models` and :mod:`ui.api.response_models`: the bodies, as pydantic
  models; :mod:`ui.api.json_body`: reading a body safely (depth, constants);
- :mod:`ui.api.document`: the operations' declarations and the OpenAPI 3.1 document made
  from them;
- :mod:`ui.api.public` (catalog, board, a ticket's status, the document),
  :mod:`ui.api.visits` (the resident's visit), :mod:`ui.api.staff` (counter work by
  bearer token), :mod:`ui.api.counter` (money, amendments and the day's takings at the
  counter desk) and :mod:`ui.api.help_alerts` (the kiosks' calls for staff): the views.

Errors are ``{"error": {"code": ..., "message": ...}}`` with a stable code (``ui.errors``)
and the message in the request's language (``?lang=`` or Accept-Language). Malformed input
is a 4xx, never a 500: a body that is not a JSON object is ``400 invalid_json``; a value that
breaks its model is ``422 invalid_field`` with the value's path in ``field``; fields of a
procedure that the catalog refuses are ``422 validation_failed`` with a message per field.
Staff endpoints take ``Authorization: Bearer <token>`` from ``POST /api/staff/login`` (a
signed, expiring token: no cookie, hence no CSRF exposure).

The visit endpoints are an adapter over the same workflow as the kiosk screens
(``application.visits``), the staff ticket endpoints over the same operations as the console
(``application.ticket_operations``): a view parses nothing itself, calls one workflow or
domain function and returns its response model.
"""

from __future__ import annotations

from flask import Blueprint

bp: Blueprint = Blueprint("api", __name__, url_prefix="/api")

# The modules below add their routes and hooks to ``bp``.
from ui.api import counter, help_alerts, protocol, public, staff, visits  # noqa: E402, F401
from ui.api.protocol import http_error_response  # noqa: E402

__all__ = ["bp", "http_error_response"]
