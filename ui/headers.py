"""Security headers on every response of the app, set in one place (one ``after_request``
for the whole app, so a new blueprint, an error page or a 404 outside every blueprint gets
them too, and no surface can forget them).

- ``Content-Security-Policy``: scripts, styles, fonts, images and connections from this
  service only (no inline script anywhere; kiosks may be offline, so there is no CDN to
  allow), no plugins, no ``<base>``, forms post only here, and no page may be framed
  (``frame-ancestors 'none'``: a framed kiosk or console could be click-jacked). The staff
  console and the simulator panel also allow inline style attributes (their charts and
  panel use them); the board, the phone page, the kiosk (the answer to "Call staff") and
  the staff console (the kiosks' calls for staff) may also connect to the live streams'
  origin (``ui.live_links``: the event server's port, or the same origin behind the
  proxy). JSON and other non-HTML answers get ``default-src 'none'``.
- ``X-Frame-Options: DENY`` for browsers that predate ``frame-ancestors``.
- ``X-Content-Type-Options: nosniff``: a JSON or WAV answer is never run as a script.
- ``Referrer-Policy: same-origin`` unless the view chose a stricter one (the phone page
  sends none at all: its URL is the ticket's token).
"""

from __future__ import annotations

from flask import Flask, Response, request

BASE_POLICY = (
    "default-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
INLINE_STYLE = "style-src 'self' 'unsafe-inline'"
# Blueprints whose templates use style attributes (charts, the simulator's panel).
INLINE_STYLE_BLUEPRINTS = frozenset({"staff", "simulator"})
# Blueprints whose pages open a live stream (EventSource) to the event server.
STREAMING_BLUEPRINTS = frozenset({"board", "phone", "kiosk", "staff"})
NOT_HTML_POLICY = "default-src 'none'; frame-ancestors 'none'"


def content_security_policy(response: Response) -> str:
    """The policy of ``response`` to the current request."""
    if response.mimetype != "text/html":
        return NOT_HTML_POLICY
    parts = list(BASE_POLICY)
    blueprint = request.blueprint or ""
    if blueprint in STREAMING_BLUEPRINTS:
        from ui.live_links import connect_sources

        parts.insert(1, f"connect-src {connect_sources()}")
    if blueprint in INLINE_STYLE_BLUEPRINTS:
        parts.append(INLINE_STYLE)
    return "; ".join(parts)


def init_security_headers(app: Flask) -> None:
    """Register the one ``after_request`` that sets the headers above on every response."""

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        headers["Content-Security-Policy"] = content_security_policy(response)
        headers["X-Frame-Options"] = "DENY"
        headers["X-Content-Type-Options"] = "nosniff"
        headers.setdefault("Referrer-Policy", "same-origin")
        return response
