"""The resident's phone: the status page behind the ticket's QR code.

Shows the number, people ahead, the estimated wait and, once called, the counter, in the
ticket's language (``?lang=`` overrides). It follows the ticket live: the page opens
``/t/<token>/events`` on the event server (``ui.event_server``; the views come from the
process's hub, one read per change for all phones) and redraws itself from the event with
the words it was given in its language; without a stream it fetches itself every
:data:`REFRESH_S` seconds. It shows nothing personal: the token is the only key, and a
wrong token is a plain 404.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, make_response, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import force_locale, get_translations, gettext

from kiosk.errors import NotFound
from kiosk.overview import ticket_by_token, ticket_status
from ui.i18n import domain_language, normalise_locale
from ui.live_links import stream_url
from ui.receipts import receipt_context, receipt_of_case, receipt_title
from ui.services import current_services

bp = Blueprint("phone", __name__, url_prefix="/t")
# Where a resident's phone lands after paying with Stripe Checkout (KIOSK_STRIPE_RETURN_URL
# points here: https://<the address phones reach>/pay/done).
checkout_return = Blueprint("checkout_return", __name__, url_prefix="/pay")

REFRESH_S = 15


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    # CSP (with the live stream's origin), frames, sniffing: the app's (ui.headers).
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
            events_url=stream_url(f"/t/{token}/events"),
            live_words=_live_words(locale),
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


def _live_words(locale: str) -> dict[str, Any]:
    """The page's words in its language, placeholders kept (``%(num)d``, ``%(counter)s``),
    for redrawing the ticket from a stream event. Plurals as [n == 1, other]: right for the
    four languages (English has two forms, the others one)."""
    plural = get_translations().ngettext
    return {
        "lang": domain_language(locale),
        "called": gettext("Called: please go to %(counter)s"),
        "ahead_label": gettext("People ahead of you"),
        "people": [plural("%(num)d person", "%(num)d people", n) for n in (1, 2)],
        "wait_label": gettext("Estimated wait"),
        "next_in_line": gettext("You are next"),
        "minutes": [plural("About %(num)d minute", "About %(num)d minutes", n) for n in (1, 2)],
        "minutes_range": gettext("About %(low)d–%(high)d minutes"),
        "next_queue": gettext("Next: %(queue)s"),
        "serving": gettext("You are being served."),
        "done": gettext("Finished. Thank you."),
        "no_show": gettext(
            "We called your number but could not find you. Please speak to a member of staff."
        ),
        "invalid": gettext("This ticket is no longer valid."),
    }


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
