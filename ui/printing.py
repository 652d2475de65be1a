"""What the kiosk's printer puts on paper for a visit: the ticket (number, queue, people
ahead, time of issue, the phone page's QR code at ``KIOSK_PUBLIC_URL``) in the resident's
language and, when a fee was paid, the receipt. Drawn by ``ui.printout`` on the print
worker's thread (``application.printing``), inside an app context of its own: the words
are this app's translations.

``init_printing`` runs at start-up when a printer is configured: it checks that the CJK
font is there (a kiosk that cannot draw Japanese must not start) and gives the print
service these printouts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

from kiosk.config import ConfigError
from kiosk.overview import ticket_by_token, ticket_status
from ui.i18n import localized, ward_name
from ui.printout import FontMissing, TicketPrintout, font_path, render_receipt, render_ticket
from ui.public_links import phone_status_url
from ui.receipts import receipt_of_case
from ui.services import services_of

if TYPE_CHECKING:
    from PIL import Image


class AppPrintouts:
    """:class:`application.printing.Printouts` drawn with this app's words and fonts."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def visit_pages(self, ticket_token: str) -> list[Image.Image]:
        """The ticket of ``ticket_token`` and, when a fee was paid, its receipt, in the
        language the resident used (the case's)."""
        services = services_of(self.app)
        width = services.settings.printer_width_dots
        with self.app.app_context(), services.sessions() as s:
            ticket = ticket_by_token(s, ticket_token)
            view = ticket_status(s, ticket_token)
            language = ticket.case.language
            printout = TicketPrintout(
                ward_name=ward_name(language),
                queue_name=localized(dict(ticket.queue.names), language),
                number=view.number,
                issued_at=ticket.issued_at,
                people_ahead=view.people_ahead,
                phone_url=phone_status_url(ticket_token),
            )
            pages = [render_ticket(printout, width_dots=width, language=language).image]
            receipt = receipt_of_case(s, ticket.case_id, language)
            if receipt is not None:
                pages.append(render_receipt(receipt, width_dots=width).image)
        return pages


def init_printing(app: Flask) -> None:
    """With a printer configured: refuse to start without the CJK font (naming the Debian
    package), and give the print service this app's printouts."""
    printer = services_of(app).printer
    if printer is None:
        return
    try:
        for weight in ("regular", "bold"):
            font_path(weight)
    except FontMissing as e:
        raise ConfigError(f"KIOSK_PRINTER={services_of(app).settings.printer}: {e}") from e
    printer.printouts = AppPrintouts(app)
