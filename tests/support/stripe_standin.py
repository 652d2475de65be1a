"""A small local stand-in for the part of Stripe's HTTP API this project uses.

It speaks Stripe's shapes (form-encoded requests, JSON objects with ``object`` and
``pi_``/``cs_``/``tmr_``/``re_``/``evt_`` ids, ``{"error": {"type", "code", "message"}}``
bodies, ``Idempotency-Key`` replay) for:

- ``/v1/payment_intents`` create / retrieve / cancel
- ``/v1/refunds`` create / retrieve / list (``payment_intent`` or ``charge`` filter); a
  refund made without our service (Stripe's Dashboard) is the same create from a test
- ``/v1/terminal/readers/{id}`` retrieve, ``process_payment_intent``, ``cancel_action``
- ``/v1/test_helpers/terminal/readers/{id}/present_payment_method`` (Stripe's test helper)
- ``/v1/checkout/sessions`` create / retrieve / ``expire``, plus a test-only
  ``POST /_standin/checkout/sessions/{id}/complete`` (the resident paying on the phone)
- ``/v1/balance_transactions`` list (``created[gte|gt|lte|lt]``, ``type``, ``limit``,
  ``starting_after``, ``expand[]=data.source``): a ``charge`` for every payment taken (with
  Stripe's Japanese fee of 3.6 %) and a ``refund`` for every refund; ``balance_transaction``
  kept on the charge and the refund

and sends webhook events signed like Stripe (``Stripe-Signature: t=...,v1=HMAC-SHA256``) to
a configured URL, keeping every event for tests to re-deliver, duplicate or reorder.

It exists because Stripe cannot be reached from the test machines and localstripe has no
Terminal, no Checkout and no idempotency replay. It is not a payment system: there are no
cards, only Stripe's documented test card numbers deciding the outcome.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

JSON = dict[str, Any]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]

# Stripe's documented test cards (card_present numbers) and what they do.
TEST_CARDS = {
    "4242424242424242": None,
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
    "4000000000000069": "expired_card",
}
DEFAULT_READER = "tmr_standin_kiosk1"


class StripeStandinError(Exception):
    """An API error answered with Stripe's error body."""

    def __init__(self, status: int, type_: str, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.type, self.code, self.extra = status, type_, code, extra

    def body(self) -> JSON:
        return {"error": {"type": self.type, "code": self.code, "message": str(self), **self.extra}}


def decode_form(body: str) -> JSON:
    """Stripe's form encoding (``a[b][0]=x``) into nested dicts and lists."""
    result: JSON = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        node: Any = result
        for part, nxt in itertools.pairwise(parts):
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append([] if nxt.isdigit() else {})
                node = node[index]
            else:
                node = node.setdefault(part, [] if nxt.isdigit() else {})
        last = parts[-1]
        if isinstance(node, list):
            node.append(value)
        else:
            node[last] = value
    return result


@dataclass
class _Replay:
    fingerprint: str
    status: int
    body: JSON


@dataclass
class StripeStandin:
    """The stand-in's state plus a WSGI app (``self``). See the module docstring.

    ``webhook_url``/``webhook_secret``: where signed events go (none: only kept in
    ``events``). ``deliver``: send each event as it happens (a background thread, like
    Stripe's asynchronous delivery).
    """

    api_key_prefix: str = "sk_test_"
    webhook_secret: str = "whsec_standin"
    webhook_url: str | None = None
    base_url: str = "http://127.0.0.1"
    readers: Iterable[str] = (DEFAULT_READER,)
    events: list[JSON] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self.payment_intents: dict[str, JSON] = {}
        self.refunds: dict[str, JSON] = {}
        self.sessions: dict[str, JSON] = {}
        self.charges: dict[str, JSON] = {}
        self.balance_transactions: list[JSON] = []  # creation order
        self.reader_objects: dict[str, JSON] = {r: self._reader(r) for r in self.readers}
        self._replays: dict[tuple[str, str], _Replay] = {}
        self._fail: list[tuple[int, str]] = []
        self._threads: list[threading.Thread] = []

    # --- test controls ------------------------------------------------------------------

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        """The next ``count`` API calls answer ``status`` (503 API error, 429 rate limit)."""
        code = "rate_limit" if status == 429 else "api_error"
        with self._lock:
            self._fail.extend([(status, code)] * count)

    def sign(
        self, event: JSON, *, timestamp: int | None = None, secret: str | None = None
    ) -> tuple[bytes, str]:
        """The body and ``Stripe-Signature`` header Stripe would send for ``event``."""
        body = json.dumps(event, ensure_ascii=False).encode()
        t = int(time.time()) if timestamp is None else timestamp
        mac = hmac.new(
            (secret or self.webhook_secret).encode(), f"{t}.".encode() + body, hashlib.sha256
        ).hexdigest()
        return body, f"t={t},v1={mac}"

    def fail_refund(self, refund_id: str) -> JSON:
        """The bank sent a refund back (it happens days later with some methods): the
        refund becomes ``failed`` and ``refund.failed`` is sent. Returns the event."""
        with self._lock:
            refund = self._get(self.refunds, refund_id, "refund")
            refund["status"] = "failed"
            return self._event("refund.failed", refund)

    def events_of(self, type_: str) -> list[JSON]:
        return [e for e in self.events if e["type"] == type_]

    def join_deliveries(self, timeout_s: float = 5.0) -> None:
        """Wait for webhook deliveries in flight (tests)."""
        for t in list(self._threads):
            t.join(timeout_s)

    # --- objects --------------------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(12)}"

    def _reader(self, reader_id: str) -> JSON:
        return {
            "id": reader_id,
            "object": "terminal.reader",
            "action": None,
            "device_type": "simulated_wisepos_e",
            "label": "kiosk stand-in reader",
            "livemode": False,
            "location": "tml_standin",
            "metadata": {},
            "serial_number": reader_id[-8:],
            "status": "online",
        }

    def _event(self, type_: str, obj: JSON) -> JSON:
        event = {
            "id": self._id("evt"),
            "object": "event",
            "api_version": "2025-01-27.acacia",
            "created": int(time.time()),
            "data": {"object": json.loads(json.dumps(obj))},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type_,
        }
        self.events.append(event)
        if self.webhook_url:
            thread = threading.Thread(target=self._deliver, args=(event,), daemon=True)
            self._threads.append(thread)
            thread.start()
        return event

    def _deliver(self, event: JSON) -> None:
        body, header = self.sign(event)
        req = urllib.request.Request(
            self.webhook_url or "",
            data=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": header},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                resp.read()
        except OSError:
            pass  # Stripe would retry later; tests re-deliver from self.events

    # --- dispatch ---------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length).decode() if length else ""
        if method == "GET":
            raw = environ.get("QUERY_STRING", "")
        params = decode_form(raw)
        try:
            status, body = self._handle(environ, method, path, params)
        except StripeStandinError as e:
            status, body = e.status, e.body()
        payload = json.dumps(body).encode()
        start_response(
            f"{status} {'OK' if status == 200 else 'Error'}",
            [("Content-Type", "application/json"), ("Request-Id", self._id("req"))],
        )
        return [payload]

    def _handle(
        self, environ: dict[str, Any], method: str, path: str, params: JSON
    ) -> tuple[int, JSON]:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if not auth.startswith(f"Bearer {self.api_key_prefix}"):
            raise StripeStandinError(
                401, "invalid_request_error", "api_key_invalid", "Invalid API Key provided."
            )
        with self._lock:
            self.requests.append((method, path))
            if self._fail:
                status, code = self._fail.pop(0)
                kind = "rate_limit_error" if status == 429 else "api_error"
                raise StripeStandinError(status, kind, code, "stand-in: injected failure")
            key = environ.get("HTTP_IDEMPOTENCY_KEY")
            if method == "POST" and key:
                fingerprint = hashlib.sha256(
                    json.dumps([path, params], sort_keys=True).encode()
                ).hexdigest()
                replay = self._replays.get((path.split("/")[2], key))
                if replay is not None:
                    if replay.fingerprint != fingerprint:
                        raise StripeStandinError(
                            400,
                            "idempotency_error",
                            "idempotency_key_in_use",
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with.",
                        )
                    return replay.status, replay.body
                try:
                    status, body = self._route(method, path, params)
                except StripeStandinError as e:
                    status, body = e.status, e.body()
                if status < 500:
                    self._replays[(path.split("/")[2], key)] = _Replay(fingerprint, status, body)
                return status, body
            return self._route(method, path, params)

    def _route(self, method: str, path: str, params: JSON) -> tuple[int, JSON]:
        parts = [p for p in path.split("/") if p]
        match (method, parts):
            case ("POST", ["v1", "payment_intents"]):
                return 200, self._create_pi(params)
            case ("GET", ["v1", "payment_intents", pi_id]):
                return 200, self._pi(pi_id)
            case ("POST", ["v1", "payment_intents", pi_id, "cancel"]):
                return 200, self._cancel_pi(pi_id, params)
            case ("POST", ["v1", "refunds"]):
                return 200, self._create_refund(params)
            case ("GET", ["v1", "refunds"]):
                return 200, self._list_refunds(params)
            case ("GET", ["v1", "refunds", re_id]):
                return 200, self._get(self.refunds, re_id, "refund")
            case ("GET", ["v1", "balance_transactions"]):
                return 200, self._list_balance(params)
            case ("GET", ["v1", "terminal", "readers", reader_id]):
                return 200, self._get(self.reader_objects, reader_id, "terminal.reader")
            case ("POST", ["v1", "terminal", "readers", reader_id, "process_payment_intent"]):
                return 200, self._process(reader_id, params)
            case ("POST", ["v1", "terminal", "readers", reader_id, "cancel_action"]):
                return 200, self._cancel_action(reader_id)
            case (
                "POST",
                ["v1", "test_helpers", "terminal", "readers", reader_id, "present_payment_method"],
            ):
                return 200, self._present(reader_id, params)
            case ("POST", ["v1", "checkout", "sessions"]):
                return 200, self._create_session(params)
            case ("GET", ["v1", "checkout", "sessions", cs_id]):
                return 200, self._get(self.sessions, cs_id, "checkout.session")
            case ("POST", ["v1", "checkout", "sessions", cs_id, "expire"]):
                return 200, self._expire_session(cs_id)
            case ("POST", ["_standin", "checkout", "sessions", cs_id, "complete"]):
                return 200, self._complete_session(cs_id, params)
        raise StripeStandinError(
            404,
            "invalid_request_error",
            "resource_missing",
            f"Unrecognized request URL ({method}: {path}).",
        )

    def _get(self, table: dict[str, JSON], obj_id: str, kind: str) -> JSON:
        if obj_id not in table:
            raise StripeStandinError(
                404,
                "invalid_request_error",
                "resource_missing",
                f"No such {kind}: '{obj_id}'",
                param="id",
            )
        return table[obj_id]

    # --- PaymentIntents -------------------------------------------------------------------

    def _create_pi(self, params: JSON, *, status: str = "requires_payment_method") -> JSON:
        try:
            amount = int(params["amount"])
        except (KeyError, ValueError):
            raise StripeStandinError(
                400,
                "invalid_request_error",
                "parameter_missing",
                "Missing required param: amount.",
                param="amount",
            ) from None
        if params.get("currency") != "jpy":
            raise StripeStandinError(
                400,
                "invalid_request_error",
                "parameter_invalid_string",
                "Only JPY is accepted by this account.",
                param="currency",
            )
        if amount < 50:
            raise StripeStandinError(
                400,
                "invalid_request_error",
                "amount_too_small",
                "Amount must be at least ¥50 jpy",
                param="amount",
            )
        pi = {
            "id": self._id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "capture_method": params.get("capture_method", "automatic"),
            "created": int(time.time()),
            "currency": "jpy",
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": params.get("metadata", {}),
            "payment_method": None,
            "payment_method_types": params.get("payment_method_types", ["card"]),
            "status": status,
            "cancellation_reason": None,
            "amount_refunded": 0,  # stand-in convenience: Stripe keeps it on the charge
        }
        self.payment_intents[pi["id"]] = pi
        self._event("payment_intent.created", pi)
        return pi

    def _pi(self, pi_id: str) -> JSON:
        return self._get(self.payment_intents, pi_id, "payment_intent")

    def _cancel_pi(self, pi_id: str, params: JSON) -> JSON:
        pi = self._pi(pi_id)
        if pi["status"] in ("succeeded", "canceled"):
            raise StripeStandinError(
                400,
                "invalid_request_error",
                "payment_intent_unexpected_state",
                f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}.",
                payment_intent=pi,
            )
        pi["status"] = "canceled"
        pi["cancellation_reason"] = params.get("cancellation_reason", "requested_by_customer")
        for reader in self.reader_objects.values():
            action = reader["action"]
            if action and action["process_payment_intent"]["payment_intent"] == pi_id:
                reader["action"] = None
        self._event("payment_intent.canceled", pi)
        return pi

    def _balance(self, type_: str, amount: int, fee: int, source: str) -> str:
        txn = {
            "id": self._id("txn"),
            "object": "balance_transaction",
            "amount": amount,
            "available_on": int(time.time()) + 4 * 86400,
            "created": int(time.time()),
            "currency": "jpy",
            "fee": fee,
            "net": amount - fee,
            "reporting_category": type_,
            "source": source,
            "status": "pending",
            "type": type_,
        }
        self.balance_transactions.append(txn)
        return str(txn["id"])

    def _succeed(self, pi: JSON, method_type: str) -> None:
        pi["status"] = "succeeded"
        pi["amount_received"] = pi["amount"]
        pi["latest_charge"] = self._id("ch")
        # Stripe's fee for Japanese cards (3.6 %), rounded as yen are.
        fee = round(pi["amount"] * 0.036)
        self.charges[pi["latest_charge"]] = {
            "id": pi["latest_charge"],
            "object": "charge",
            "amount": pi["amount"],
            "currency": "jpy",
            "payment_intent": pi["id"],
            "balance_transaction": self._balance("charge", pi["amount"], fee, pi["latest_charge"]),
        }
        pi["payment_method"] = self._id("pm")
        pi["payment_method_types"] = pi["payment_method_types"] or [method_type]
        pi["last_payment_error"] = None
        self._event("payment_intent.succeeded", pi)

    # --- Refunds ----------------------------------------------------------------------------

    def _create_refund(self, params: JSON) -> JSON:
        pi = self._pi(params.get("payment_intent", ""))
        left = pi["amount_received"] - pi["amount_refunded"]
        amount = int(params.get("amount", left))
        if pi["status"] != "succeeded" or left == 0:
            raise StripeStandinError(
                400,
                "invalid_request_error",
                "charge_already_refunded",
                "This charge has already been refunded or was not paid.",
            )
        if not 0 < amount <= left:
            raise StripeStandinError(
                400,
                "invalid_request_error",
                "amount_too_large",
                f"Refund amount (¥{amount}) is greater than unrefunded amount on charge (¥{left})",
                param="amount",
            )
        pi["amount_refunded"] += amount
        refund = {
            "id": self._id("re"),
            "object": "refund",
            "amount": amount,
            "charge": pi["latest_charge"],
            "created": int(time.time()),
            "currency": "jpy",
            "metadata": params.get("metadata", {}),
            "payment_intent": pi["id"],
            "reason": params.get("reason"),
            "status": "succeeded",
        }
        refund["balance_transaction"] = self._balance("refund", -amount, 0, refund["id"])
        self.refunds[refund["id"]] = refund
        # Stripe (API 2024-10-28.acacia and later) sends refund.created for every refund,
        # and charge.refunded for the charge whose refunded amount changed.
        self._event("refund.created", refund)
        charge = {
            "id": pi["latest_charge"],
            "object": "charge",
            "amount": pi["amount"],
            "amount_refunded": pi["amount_refunded"],
            "currency": "jpy",
            "metadata": pi["metadata"],
            "payment_intent": pi["id"],
            "refunded": pi["amount_refunded"] == pi["amount"],
            "status": "succeeded",
        }
        self._event("charge.refunded", charge)
        return refund

    def _list_refunds(self, params: JSON) -> JSON:
        found = [
            r
            for r in self.refunds.values()
            if r["payment_intent"] == params.get("payment_intent", r["payment_intent"])
            and r["charge"] == params.get("charge", r["charge"])
        ]
        if "payment_intent" in params:
            self._pi(params["payment_intent"])  # 404 for an unknown one, like Stripe
        limit = int(params.get("limit", 10))
        newest_first = list(reversed(found))  # insertion order is creation order
        if "starting_after" in params:
            ids = [r["id"] for r in newest_first]
            newest_first = newest_first[ids.index(params["starting_after"]) + 1 :]
        return {
            "object": "list",
            "data": newest_first[:limit],
            "has_more": len(newest_first) > limit,
            "url": "/v1/refunds",
        }

    # --- Balance transactions ---------------------------------------------------------------

    def _list_balance(self, params: JSON) -> JSON:
        created = params.get("created") or {}
        bounds = {op: int(v) for op, v in created.items()} if isinstance(created, dict) else {}

        def within(t: int) -> bool:
            return (
                t >= bounds.get("gte", t)
                and t > bounds.get("gt", t - 1)
                and t <= bounds.get("lte", t)
                and t < bounds.get("lt", t + 1)
            )

        found = [
            txn
            for txn in reversed(self.balance_transactions)  # Stripe lists newest first
            if within(txn["created"]) and txn["type"] == params.get("type", txn["type"])
        ]
        if "starting_after" in params:
            ids = [txn["id"] for txn in found]
            found = found[ids.index(params["starting_after"]) + 1 :]
        limit = min(int(params.get("limit", 10)), 100)
        page = [dict(txn) for txn in found[:limit]]
        expand = params.get("expand") or []
        if "data.source" in (expand if isinstance(expand, list) else [expand]):
            for txn in page:
                txn["source"] = self.charges.get(txn["source"]) or self.refunds.get(txn["source"])
        return {
            "object": "list",
            "data": page,
            "has_more": len(found) > limit,
            "url": "/v1/balance_transactions",
        }

    # --- Terminal ---------------------------------------------------------------------------

    def _process(self, reader_id: str, params: JSON) -> JSON:
        reader = self._get(self.reader_objects, reader_id, "terminal.reader")
        pi = self._pi(params.get("payment_intent", ""))
        if reader["action"] and reader["action"]["status"] == "in_progress":
            raise StripeStandinError(
                409,
                "invalid_request_error",
                "terminal_reader_busy",
                "Reader is currently busy processing another request.",
            )
        if pi["status"] not in ("requires_payment_method", "requires_confirmation"):
            raise StripeStandinError(
                400,
                "invalid_request_error",
                "payment_intent_unexpected_state",
                f"This PaymentIntent's status is {pi['status']}.",
            )
        reader["action"] = {
            "type": "process_payment_intent",
            "status": "in_progress",
            "failure_code": None,
            "failure_message": None,
            "process_payment_intent": {"payment_intent": pi["id"]},
        }
        return reader

    def _cancel_action(self, reader_id: str) -> JSON:
        reader = self._get(self.reader_objects, reader_id, "terminal.reader")
        action = reader["action"]
        if not action or action["status"] != "in_progress":
            raise StripeStandinError(
                400,
                "invalid_request_error",
                "terminal_reader_no_action",
                "This Reader has no action in progress to cancel.",
            )
        reader["action"] = None
        return reader

    def _present(self, reader_id: str, params: JSON) -> JSON:
        reader = self._get(self.reader_objects, reader_id, "terminal.reader")
        action = reader["action"]
        if not action or action["status"] != "in_progress":
            raise StripeStandinError(
                400,
                "invalid_request_error",
                "terminal_reader_no_action",
                "This Reader has no action in progress.",
            )
        number = (params.get("card_present") or {}).get("number", "4242424242424242")
        decline = TEST_CARDS.get(number, "card_declined")
        pi = self._pi(action["process_payment_intent"]["payment_intent"])
        if decline is None:
            action["status"] = "succeeded"
            self._succeed(pi, "card_present")
            self._event("terminal.reader.action_succeeded", reader)
        else:
            action["status"] = "failed"
            action["failure_code"] = decline
            action["failure_message"] = "Your card was declined."
            pi["last_payment_error"] = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": decline,
                "message": "Your card was declined.",
            }
            self._event("payment_intent.payment_failed", pi)
            self._event("terminal.reader.action_failed", reader)
        return reader

    # --- Checkout ------------------------------------------------------------------------------

    def _create_session(self, params: JSON) -> JSON:
        items = params.get("line_items") or []
        try:
            total = sum(
                int(i["price_data"]["unit_amount"]) * int(i.get("quantity", 1)) for i in items
            )
        except (KeyError, ValueError, TypeError):
            raise StripeStandinError(
                400,
                "invalid_request_error",
                "parameter_missing",
                "line_items need price_data.unit_amount",
                param="line_items",
            ) from None
        now = int(time.time())
        expires_at = int(params.get("expires_at", now + 86400))
        if not now + 1800 <= expires_at <= now + 86400:
            raise StripeStandinError(
                400,
                "invalid_request_error",
                "parameter_invalid_integer",
                "The `expires_at` timestamp must be between 30 minutes and 24 hours from "
                "Checkout Session creation.",
                param="expires_at",
            )
        cs_id = f"cs_test_{secrets.token_hex(16)}"
        session = {
            "id": cs_id,
            "object": "checkout.session",
            "amount_total": total,
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": params.get("currency", "jpy"),
            "expires_at": expires_at,
            "livemode": False,
            "locale": params.get("locale"),
            "metadata": params.get("metadata", {}),
            "mode": params.get("mode", "payment"),
            "payment_intent": None,
            "payment_method_types": params.get("payment_method_types", ["card"]),
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "url": f"{self.base_url}/c/pay/{cs_id}",
            "_payment_intent_data": params.get("payment_intent_data", {}),
        }
        self.sessions[cs_id] = session
        return session

    def _expire_session(self, cs_id: str) -> JSON:
        session = self._get(self.sessions, cs_id, "checkout.session")
        if session["status"] != "open":
            raise StripeStandinError(
                400,
                "invalid_request_error",
                "checkout_session_unexpected_state",
                f'Only Checkout Sessions with a status in ["open"] can be expired. This '
                f'Checkout Session has a status of "{session["status"]}".',
            )
        session["status"] = "expired"
        self._event("checkout.session.expired", session)
        return session

    def _complete_session(self, cs_id: str, params: JSON) -> JSON:
        session = self._get(self.sessions, cs_id, "checkout.session")
        if session["status"] != "open":
            raise StripeStandinError(
                400,
                "invalid_request_error",
                "checkout_session_unexpected_state",
                f"Checkout Session is {session['status']}.",
            )
        method = params.get("payment_method_type", "card")
        pi_params = {
            "amount": session["amount_total"],
            "currency": "jpy",
            "metadata": session["_payment_intent_data"].get("metadata", {}),
            "payment_method_types": [method],
        }
        pi = self._create_pi(pi_params)
        self._succeed(pi, method)
        session.update(status="complete", payment_status="paid", payment_intent=pi["id"])
        self._event("checkout.session.completed", session)
        return session


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class StandinServer:
    """Serve a :class:`StripeStandin` on 127.0.0.1 in a background thread.

    ``with StandinServer() as server: server.url`` — the base address for
    ``stripe.StripeClient(..., base_addresses={"api": server.url})``.
    """

    def __init__(self, standin: StripeStandin | None = None, port: int = 0) -> None:
        self.standin = standin or StripeStandin()
        self._server = make_server(
            "127.0.0.1",
            port,
            self.standin,
            server_class=_ThreadingServer,
            handler_class=_QuietHandler,
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self.standin.base_url = self.url
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> StandinServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self.standin.join_deliveries()

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """``python -m tests.support.stripe_standin [port] [webhook_url]``: run it for a demo."""
    import sys

    standin = StripeStandin(webhook_url=sys.argv[2] if len(sys.argv) > 2 else None)
    server = StandinServer(standin, int(sys.argv[1]) if len(sys.argv) > 1 else 12111)
    print(f"Stripe stand-in on {server.url} (webhook secret {standin.webhook_secret})")
    server._server.serve_forever()


if __name__ == "__main__":
    main()
