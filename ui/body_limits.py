"""Request body caps per route: a request whose body is larger than its route can use gets
413 before any view reads it.

The caps are per blueprint (what its forms and JSON can legitimately hold, with room to
spare); the server's own cap (``application.front.MAX_BODY_BYTES``, 1 MiB) is above all of
them, so a body over a route's cap is answered here, with the route's error style (JSON
under ``/api``). The cap is also set as the request's ``max_content_length``, so a body
read as a stream is cut at the same size.
"""

from __future__ import annotations

from flask import Flask, abort, request

KIB = 1024
# Routes with no body of their own (board, phone, health, voice): GET only.
DEFAULT_BYTES = 16 * KIB
BY_BLUEPRINT = {
    "kiosk": 64 * KIB,  # the resident's fields, typed on the kiosk
    "staff": 64 * KIB,  # console forms
    "api": 64 * KIB,  # JSON of the screens' operations (ui.api checks the same)
    "simulator": 64 * KIB,
    "webhooks": 512 * KIB,  # Stripe events (a few kilobytes; far below Stripe's largest)
}


def body_cap() -> int:
    """The cap of the current request's route, in bytes."""
    return BY_BLUEPRINT.get(request.blueprint or "", DEFAULT_BYTES)


def init_body_limits(app: Flask) -> None:
    """Check every request's declared length against its route's cap (413 above it)."""

    @app.before_request
    def _cap_body() -> None:
        cap = body_cap()
        request.max_content_length = cap
        if (request.content_length or 0) > cap:
            abort(413)
