"""What every operation of the JSON API shares: the :func:`operation` decorator that runs a
view from its declaration, the error format and the blueprint's error handlers.

A view is declared with :func:`operation` (an :class:`ui.api.document.Operation`): the
decorator checks the staff bearer token, parses the path variables, the query and the body
with their models, calls the view with the parsed values and serialises the response model
it returns. The same declaration is what ``/api/openapi.json`` shows, so the two cannot
differ. The error codes an operation can answer are its own list plus those of the token,
the path, the query and the body, added here.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, current_app, g, request
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from application.card_policy import CardNotGenuine
from application.ticket_operations import TargetMissing
from application.visits import FieldsInvalid, NotYet, VisitEnded
from cardreader.errors import CardError
from kiosk.catalog import ValidationFailed
from kiosk.errors import DomainError, NotFound
from kiosk.models import Staff, StaffRole
from kiosk.staff import get_staff, require_role, session_is_current
from kiosk.text import is_safe_text
from payments.provider import PaymentError
from ui.api import bp
from ui.api.document import HEADER_PARAMETERS, PATH_PARAMETERS, Operation
from ui.api.json_body import BodyTooDeep, NotAJsonObject, read_json_object
from ui.api.request_models import QueryModel, RequestModel
from ui.api.response_models import ErrorBody, ErrorDetail
from ui.errors import describe
from ui.i18n import domain_language
from ui.services import current_services
from ui.words import field_messages

log = logging.getLogger(__name__)

TOKEN_MAX_AGE_S = 8 * 3600
MAX_BODY_BYTES = 64 * 1024


class ApiError(Exception):
    """A client error with a stable code (and optional details: ``field``, ``fields``,
    ``tries_left``)."""

    def __init__(self, code: str, **details: Any) -> None:
        super().__init__(code)
        self.code = code
        self.details = details


def error_response(code: str, status: int, message: str, **details: Any) -> Response:
    """The API's error body (:class:`ui.api.response_models.ErrorBody`) with ``status``."""
    body = ErrorBody(error=ErrorDetail(code=code, message=message, **details))
    return Response(body.model_dump_json(), status=status, mimetype="application/json")


@bp.before_request
def _limits() -> ResponseReturnValue | None:
    # The header for honest clients; the limit on the stream for chunked bodies without one.
    request.max_content_length = MAX_BODY_BYTES
    if (request.content_length or 0) > MAX_BODY_BYTES:
        code, status, message = describe("too_large")
        return error_response(code, status, message)
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.errorhandler(ApiError)
def _api_error(e: ApiError) -> ResponseReturnValue:
    code, status, message = describe(e.code)
    return error_response(code, status, message, **e.details)


@bp.errorhandler(ValidationFailed)
def _validation(e: ValidationFailed) -> ResponseReturnValue:
    code, status, message = describe(e)
    return error_response(code, status, message, fields=field_messages(e, domain_language()))


@bp.errorhandler(CardError)
def _card_error(e: CardError) -> ResponseReturnValue:
    code, status, message = describe(e)
    return error_response(code, status, message, tries_left=e.tries_left)


@bp.errorhandler(CardNotGenuine)
def _card_not_genuine(e: CardNotGenuine) -> ResponseReturnValue:
    # Refused by the ward's policy (audited by the workflow): which check, what it found.
    code, status, message = describe(e)
    return error_response(code, status, message, check=e.check, result=e.result)


@bp.errorhandler(TargetMissing)
def _target_missing(e: TargetMissing) -> ResponseReturnValue:
    code, status, message = describe("invalid_field")
    return error_response(code, status, message, field=e.field)


@bp.errorhandler(VisitEnded)
def _visit_ended(_e: VisitEnded) -> ResponseReturnValue:
    code, status, message = describe("visit_not_found")
    return error_response(code, status, message)


@bp.errorhandler(NotYet)
def _not_yet(e: NotYet) -> ResponseReturnValue:
    # A step asked before the case exists cannot be done now; a payment or a ticket that
    # does not exist yet is not found.
    code, status, message = describe("invalid_transition" if e.missing == "case" else "not_found")
    return error_response(code, status, message)


@bp.errorhandler(FieldsInvalid)
def _fields_invalid(e: FieldsInvalid) -> ResponseReturnValue:
    code, status, message = describe("validation_failed")
    language = domain_language()
    fields = {code: field_messages(failure, language) for code, failure in e.failures.items()}
    return error_response(code, status, message, fields=fields)


@bp.errorhandler(DomainError)
@bp.errorhandler(PaymentError)
def _domain_error(e: Exception) -> ResponseReturnValue:
    code, status, message = describe(e)
    log.info("api: %s (%s)", code, type(e).__name__)
    return error_response(code, status, message)


@bp.errorhandler(HTTPException)
def http_error_response(e: HTTPException) -> Response:
    """An HTTP error (also a routing 404/405 under ``/api``) in the API's error format."""
    codes = {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "too_large",
    }
    code, _status, message = describe(codes.get(e.code or 400, "bad_request"))
    return error_response(code, e.code or 400, message)


# --- declared operations ------------------------------------------------------------------


def _field_path(location: tuple[int | str, ...] | list[int | str]) -> str:
    parts = []
    for part in location:
        if part == "[key]":
            continue  # the key itself was refused: the path so far names it
        text = str(part)
        # The path goes back in the answer: a refused key must not break the JSON or the log.
        parts.append(text if is_safe_text(text) else text.encode("unicode_escape").decode())
    return ".".join(parts)


def _invalid(e: ValidationError) -> ApiError:
    return ApiError("invalid_field", field=_field_path(e.errors()[0]["loc"]))


def _parse_body(model: type[RequestModel]) -> RequestModel:
    try:
        data = read_json_object(request.get_data(cache=True))
    except NotAJsonObject:
        raise ApiError("invalid_json") from None
    except BodyTooDeep as e:
        raise ApiError("invalid_field", field=_field_path(e.path)) from None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise _invalid(e) from None


def _parse_query(model: type[QueryModel]) -> QueryModel:
    try:
        return model.model_validate_strings(request.args.to_dict())
    except ValidationError as e:
        raise _invalid(e) from None


def _parse_path(name: str, value: Any) -> Any:
    spec = PATH_PARAMETERS[name]
    try:
        return spec.adapter.validate_python(value)
    except ValidationError:
        raise ApiError(spec.not_found) from None


def _parse_header(name: str) -> Any:
    value = request.headers.get(name)
    if value is None:
        return None
    spec = HEADER_PARAMETERS[name]
    try:
        return spec.adapter.validate_python(value)
    except ValidationError:
        raise ApiError(spec.not_found, field=name) from None


def header_argument(name: str) -> str:
    """The view's keyword for header ``name`` (``Idempotency-Key`` -> ``idempotency_key``)."""
    return name.lower().replace("-", "_")


def token_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt="kiosk.staff-api")


def password_stamp(staff: Any) -> str:
    """A token's tie to the password it was issued under."""
    # Changes with the password (a reset revokes old tokens) and reveals nothing of the hash.
    return hashlib.sha256(staff.password_hash.encode()).hexdigest()[:16]


def token_is_current(staff: Staff, data: dict[str, Any]) -> bool:
    """Whether a token's claims still hold: the account's session version
    (``kiosk.staff.end_sessions``: log-out, password change, deactivation, role change) and,
    belt and braces, the password stamp."""
    return session_is_current(staff, data.get("sv")) and data.get("pw") == password_stamp(staff)


def _token_holder(role: StaffRole) -> Staff:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        raise ApiError("unauthorized")
    try:
        data = token_serializer().loads(header[7:].strip(), max_age=TOKEN_MAX_AGE_S)
        staff_id = int(data["sid"])
        with current_services().sessions() as s:
            staff = get_staff(s, staff_id)
    except (BadSignature, SignatureExpired, KeyError, TypeError, ValueError, NotFound):
        raise ApiError("unauthorized") from None
    if not token_is_current(staff, data):
        raise ApiError("unauthorized")
    require_role(staff, role)
    return staff


def operation(
    summary: str,
    *,
    tag: str,
    response: type[BaseModel] | None,
    success: int = 200,
    body: type[RequestModel] | None = None,
    body_required: bool = True,
    query: type[QueryModel] | None = None,
    headers: tuple[str, ...] = (),
    errors: tuple[str, ...] = (),
    staff: StaffRole | None = None,
    kiosk_device: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., ResponseReturnValue]]:
    """Declare a view as an :class:`ui.api.document.Operation` and run it so: staff token
    (``staff``: the role needed; the holder is ``g.staff``), path variables, ``query=`` and
    ``body=`` parsed by their models, ``headers=`` (names in
    ``ui.api.document.HEADER_PARAMETERS``; the view gets each as a keyword, None when not
    sent: :func:`header_argument`), the view's return value (an instance of ``response``,
    or None when ``response`` is None) serialised with status ``success``.

    ``kiosk_device``: the operation answers only to the kiosk's own screen; the check is the
    app's (``ui.device``, before any view), declared here for the document.

    ``errors`` lists the codes the view itself can cause; those of the token, the device
    key, the path, the query and the body are added here, so the document lists them all.
    """

    def decorate(view: Callable[..., Any]) -> Callable[..., ResponseReturnValue]:
        variables = [name for name in inspect.signature(view).parameters if name in PATH_PARAMETERS]
        implicit = ["too_large", *(PATH_PARAMETERS[name].not_found for name in variables)]
        if body is not None:
            implicit += ["invalid_json", "invalid_field"]
        if query is not None or headers:
            implicit.append("invalid_field")
        if staff is not None:
            implicit.append("unauthorized")
            if staff is not StaffRole.STAFF:
                implicit.append("forbidden")
        if kiosk_device:
            implicit.append("kiosk_device_required")
        declared = Operation(
            summary,
            tag,
            success,
            response,
            body=body,
            body_required=body_required,
            query=query,
            errors=tuple(dict.fromkeys((*errors, *implicit))),
            staff=staff.value if staff is not None else None,
            kiosk_device=kiosk_device,
            description=(view.__doc__ or "").strip(),
            headers=headers,
        )

        @wraps(view)
        def run(**path: Any) -> ResponseReturnValue:
            if staff is not None:
                g.staff = _token_holder(staff)
            kwargs = {name: _parse_path(name, value) for name, value in path.items()}
            if query is not None:
                kwargs["query"] = _parse_query(query)
            if body is not None:
                kwargs["body"] = _parse_body(body)
            for name in headers:
                kwargs[header_argument(name)] = _parse_header(name)
            result = view(**kwargs)
            if response is None:
                return Response(status=success)
            if not isinstance(result, response):
                raise TypeError(f"{view.__name__} returned {type(result).__name__}")
            return Response(result.model_dump_json(), status=success, mimetype="application/json")

        run.operation = declared  # type: ignore[attr-defined]
        return run

    return decorate
