"""The WSGI front: waitress's limits, so that idle sockets, slow or never-ending uploads and
huge bodies cannot take the service down, and the open-files limit they need.

What went wrong with waitress's defaults on a LAN (issue 10): 100 connections in all, so
110 silent sockets were a total outage; a 1 GB body limit, and a chunked upload whose
chunk-size line never ends is searched again from its start on every read (waitress keeps
it whole until it sees CR LF), which pinned the I/O thread for as long as it was fed.
The values below, and why:

``connection_limit`` 1000
    Open connections waitress accepts. An idle connection costs a socket and a few
    kilobytes, never a thread; live streams are not here at all (``ui.event_server``).
``asyncore_use_poll`` True
    ``select()`` cannot watch a descriptor above 1024; ``poll()`` can.
``channel_timeout`` 30 s, ``cleanup_interval`` 10 s
    A connection with no request in progress and no traffic for 30 s is closed (checked
    every 10 s): silent sockets free themselves within 40 s.
``max_request_header_size`` 64 KiB
    Our largest headers are a session cookie and a bearer token.
``max_request_body_size`` :data:`MAX_BODY_BYTES` (1 MiB)
    Above every per-route cap of the app (``ui.body_limits``, at most 512 KiB for Stripe
    webhooks), so the app answers its own caps with a clear 413; anything larger is cut
    by waitress with 413 as soon as it passes 1 MiB, a declared length at once. The bytes
    of an unfinished chunk-size line count towards it, so a never-ending one ends there
    (at most a few hundred milliseconds of CPU: measured by ``tests/security``).
``inbuf_overflow`` 512 KiB, ``outbuf_overflow`` 1 MiB
    Request and response bodies larger than this go to a temporary file, not memory.
``threads``
    Worker threads for requests (``kiosk serve --threads``, default 16): card reads and
    payments hold one for seconds, so they are sized for the kiosks and counters, not for
    the boards and phones (which need none).
``trusted_proxy``
    With ``KIOSK_TRUSTED_PROXY`` (the reverse proxy of ``deploy/``), X-Forwarded-For,
    -Proto, -Host and -Port are believed from that address only, and removed from
    everyone else's requests.

In the ward shape (``deploy/``) nginx stands in front: it holds idle and slow clients
itself (timeouts, per-address limits) and hands waitress whole requests.
"""

from __future__ import annotations

import logging
import resource
from typing import Any

from kiosk.config import Settings

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
CONNECTION_LIMIT = 1000
# Sockets for waitress's connections, the event server's streams, the database pool and
# files: well above CONNECTION_LIMIT + KIOSK_EVENTS_MAX_STREAMS.
OPEN_FILES_WANTED = 8192


def waitress_options(settings: Settings, *, threads: int) -> dict[str, Any]:
    """Keyword arguments for ``waitress.serve`` / ``create_server`` (besides app, host,
    port): the limits documented above."""
    options: dict[str, Any] = {
        "threads": threads,
        "connection_limit": CONNECTION_LIMIT,
        "asyncore_use_poll": True,
        "channel_timeout": 30,
        "cleanup_interval": 10,
        "max_request_header_size": 64 * 1024,
        "max_request_body_size": MAX_BODY_BYTES,
        "inbuf_overflow": 512 * 1024,
        "outbuf_overflow": 1024 * 1024,
        "backlog": 1024,
        "ident": "kiosk",
    }
    if settings.trusted_proxy:
        options.update(
            trusted_proxy=settings.trusted_proxy,
            trusted_proxy_count=1,
            trusted_proxy_headers={
                "x-forwarded-for",
                "x-forwarded-proto",
                "x-forwarded-host",
                "x-forwarded-port",
            },
            clear_untrusted_proxy_headers=True,
        )
    return options


def raise_open_files_limit(wanted: int = OPEN_FILES_WANTED) -> int:
    """Raise this process's soft limit of open files towards ``wanted`` (never above the
    hard limit, never lower); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as e:
            log.warning("could not raise the open-files limit to %d: %s", target, e)
    if soft != resource.RLIM_INFINITY and soft < CONNECTION_LIMIT + 200:
        log.warning(
            "open-files limit %d is below what %d connections need (systemd: LimitNOFILE)",
            soft,
            CONNECTION_LIMIT,
        )
    return int(soft)
