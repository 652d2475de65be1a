"""``POST /webhooks/stripe``: Stripe's signed events (Terminal and Checkout).

Uses the app's session factory and PaymentProvider (``ui.services``). Reads the raw body (the
signature covers the exact bytes), lets the payment service verify and apply it, commits
once. 400 for a bad, stale or future-dated signature (nothing changes), 200 for everything
verified, including duplicates, events we do not use and signed bodies we cannot read
(Stripe would otherwise retry them for days; nothing changes for those), 503 when the
provider must be re-read and cannot be reached (Stripe retries later).
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError

from kiosk.db import transaction
from payments.events import handle_webhook
from payments.provider import InvalidSignature, MalformedEvent, ProviderUnavailable
from ui.services import current_services

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.post("/stripe")
def stripe_webhook() -> ResponseReturnValue:
    payload = request.get_data(cache=False, as_text=False)
    signature = request.headers.get("Stripe-Signature")
    services = current_services()
    provider = services.payments
    try:
        with transaction(services.sessions) as session:
            outcome = handle_webhook(session, provider, payload, signature)
    except InvalidSignature as e:
        log.warning("webhook rejected: %s", e)
        return jsonify(error="invalid signature"), 400
    except MalformedEvent as e:
        log.warning("webhook acknowledged, not understood: %s", e)
        return jsonify(outcome="malformed"), 200
    except IntegrityError:
        # The same event committed by a concurrent delivery a moment ago.
        return jsonify(outcome="duplicate"), 200
    except ProviderUnavailable:
        return jsonify(error="provider unavailable, retry"), 503
    return jsonify(outcome=outcome), 200
