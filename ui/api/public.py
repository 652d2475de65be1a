"""The public part of the JSON API: the catalog, the display board, a ticket's status by
its phone-page token, and this API's OpenAPI document."""

from __future__ import annotations

from functools import lru_cache

from flask import Flask, current_app

from kiosk.clock import business_day
from kiosk.overview import board_state, ticket_status
from ui.api import bp
from ui.api.document import document
from ui.api.protocol import operation
from ui.api.response_models import BoardView, CatalogView, OpenApiDocument, TicketStatusView
from ui.services import current_services


@bp.get("/catalog")
@operation("Procedures, fees, fields, queues, counters", tag="kiosk", response=CatalogView)
def catalog() -> CatalogView:
    """Procedures with fees (per unit at the kiosk) and fields, queues and counters."""
    return CatalogView.of(current_services().catalog)


@bp.get("/board")
@operation("Display board state: latest calls, waiting counts", tag="board", response=BoardView)
def board() -> BoardView:
    """The display board's state: latest calls and waiting counts (numbers only)."""
    with current_services().sessions() as s:
        return BoardView.model_validate(board_state(s, business_day()).to_json())


@bp.get("/tickets/<token>")
@operation(
    "Ticket status by its status-page token (no personal data)",
    tag="board",
    response=TicketStatusView,
    errors=("not_found",),
)
def ticket_by_token(token: str) -> TicketStatusView:
    """A ticket's status by its status-page token (what the phone page shows)."""
    with current_services().sessions() as s:
        return TicketStatusView(**TicketStatusView.fields_of(ticket_status(s, token)))


@lru_cache(maxsize=8)
def _document_of(app: Flask) -> OpenApiDocument:
    # A function of the app's routes and the declarations, fixed once the app runs; making
    # it takes tens of milliseconds, too much to give away to every caller.
    return OpenApiDocument.model_validate(document(app))


@bp.get("/openapi.json")
@operation("This document", tag="meta", response=OpenApiDocument)
def openapi() -> OpenApiDocument:
    """This API's OpenAPI 3.1 document, generated from the operations and their models."""
    return _document_of(current_app._get_current_object())  # type: ignore[attr-defined]
