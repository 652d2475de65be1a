"""Links a resident's phone opens (the ticket's QR code, on the screen and on paper), built
from ``KIOSK_PUBLIC_URL`` (``Settings.public_base_url``) and never from the request: the
kiosk's browser reaches the service at an address of its own (often 127.0.0.1) that no phone
can open, and a Host header is whatever the client sent."""

from __future__ import annotations

from typing import Any

from flask import current_app

from ui.services import current_services


def public_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of ``endpoint`` at the address phones reach, e.g.
    ``public_url("phone.status", token=...)``. Works inside a request or only an app
    context (the print worker renders tickets outside any request)."""
    path = current_app.url_map.bind("", script_name="/").build(endpoint, values)
    return current_services().settings.public_base_url + path


def phone_status_url(token: str) -> str:
    """The phone page of the ticket ``token``: what its QR code encodes."""
    return public_url("phone.status", token=token)
