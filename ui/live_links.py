"""Where a page's browser opens its live stream (``ui.event_server``), and the CSP source
that lets it.

``KIOSK_EVENTS_URL`` set (behind the reverse proxy of ``deploy/``: ``/``, same origin): the
streams are under that prefix. Empty (the embedded default, no proxy): the page's own
host name on the port the event server was started on (``kiosk serve`` records it in
``Services.live``). Neither: no stream, and the pages poll.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from flask import request

from ui.services import current_services


def stream_url(path: str) -> str:
    """The URL of the live stream ``path`` (e.g. ``/board/events``) for this request's
    page, or "" when this process serves no streams."""
    services = current_services()
    base = services.settings.events_url
    if base:
        return base.rstrip("/") + quote(path)
    if services.live is None:
        return ""
    port = services.live.port
    host = urlsplit(f"//{request.host}").hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    return f"{request.scheme}://{host}:{port}{quote(path)}"


def connect_sources() -> str:
    """The CSP ``connect-src`` value for pages that stream: 'self', plus the stream's
    origin when that is another one."""
    parts = urlsplit(stream_url("/"))
    if parts.scheme and parts.netloc:
        return f"'self' {parts.scheme}://{parts.netloc}"
    return "'self'"
