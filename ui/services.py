"""How a view reaches the app's services: the one typed object the composition root built
(``application.services.Services``), kept as ``app.extensions["kiosk"]``."""

from __future__ import annotations

from flask import Flask, current_app

from application.services import Services

EXTENSION = "kiosk"


def current_services() -> Services:
    """The services of the app handling the current request."""
    services: Services = current_app.extensions[EXTENSION]
    return services


def services_of(app: Flask) -> Services:
    """The services of ``app`` (outside a request: tests, the command line)."""
    services: Services = app.extensions[EXTENSION]
    return services
