"""The resident's phone: the status page behind the ticket's QR code.

Shows the number, people ahead, the estimated wait and, once called, the counter; it
refreshes itself and speaks the ticket's language (``?lang=`` overrides). It shows nothing
personal: the token is the only key, and a wrong token is a plain 404.
"""

from __future__ import annotations

from flask import Blueprint, make_response, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import force_locale

from kiosk.errors import NotFound
from kiosk.overview import ticket_by_token, ticket_status
from ui.i18n import domain_language, normalise_locale
from ui.receipts import receipt_context, receipt_of_case, receipt_title
from ui.services import current_services

bp = Blueprint("phone", __name__, url_prefix="/t")
# Where a resident's phone lands after paying with Stripe Checkout (KIOSK_STRIPE_RETURN_URL
# points here: https://<the address phones reach>/pay/done).
checkout_return = Blueprint("checkout_return", __name__, url_prefix="/pay")

REFRESH_S = 15


@bp.after_request
def _headers(response):  # type: ignore[no-untyped-def]
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.errorhandler(NotFound)
def _not_found(_e: NotFound) -> ResponseReturnValue:
    return render_template("phone/missing.html"), 404


@bp.get("/<token>")
def status(token: str) -> ResponseReturnValue:
    """Ticket status for ``token``, in the ticket's language unless ``?lang=`` asks."""
    with current_services().sessions() as s:
        view = ticket_status(s, token)
        ticket = ticket_by_token(s, token)
        language = ticket.case.language
        queue_names = dict(ticket.queue.names)
        locale = _locale(language)
        has_receipt = receipt_of_case(s, ticket.case_id, domain_language(locale)) is not None
    with force_locale(locale):
        return render_template(
            "phone/status.html",
            view=view,
            queue_names=queue_names,
            refresh_s=REFRESH_S,
            token=token,
            page_locale=locale,
            receipt_label=receipt_title(domain_language(locale)) if has_receipt else None,
        )


@bp.get("/<token>/receipt")
def receipt(token: str) -> ResponseReturnValue:
    """The receipt of the ticket's paid case (the token is the only key), in the ticket's
    language unless ``?lang=`` asks; 404 for a fee-free case."""
    with current_services().sessions() as s:
        ticket = ticket_by_token(s, token[:64])
        locale = _locale(ticket.case.language)
        found = receipt_of_case(s, ticket.case_id, domain_language(locale))
    with force_locale(locale):
        if found is None:
            return render_template("phone/missing.html", no_receipt=True), 404
        return render_template(
            "phone/receipt.html", token=token, page_locale=locale, **receipt_context(found)
        )


def _locale(ticket_language: str | None) -> str:
    asked = normalise_locale(request.args.get("lang"))
    return asked or normalise_locale(ticket_language) or "ja"


@checkout_return.get("/done")
def paid() -> ResponseReturnValue:
    """The page a phone returns to from Stripe Checkout (paid or given up: the kiosk screen
    shows which), in the phone's language; it shows nothing of the case."""
    response = make_response(render_template("phone/paid.html"))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
