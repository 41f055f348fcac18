"""The API's one error shape and its one exception handler.

Every error, whatever raised it, answers `{"error": {"code", "message", "fields"}}`: `code` is
stable and machine-readable, `message` is for people, `fields` maps a field path (`emails.3`,
`contacts.0.email`) to its messages and is empty when no field is at fault.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import Resolver404, resolve
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger("deliverability.api")

# DRF's codes, except for validation errors, whose default code ("invalid") is too vague here.
_CODES: dict[type[exceptions.APIException], str] = {exceptions.ValidationError: "validation_error"}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "The request body is too large."

    def __init__(self, limit: int | None = None) -> None:
        detail = f"The request body is larger than this endpoint's limit of {limit:,} bytes." if limit else None
        super().__init__(detail)


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def flatten_fields(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {"path.to.field": [messages]}."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(flatten_fields(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {prefix or "non_field_errors": [str(item) for item in detail]}
        flat = {}
        for index, value in enumerate(detail):
            if value:  # a ListField reports every item, the valid ones as {}
                flat.update(flatten_fields(value, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix or "non_field_errors": [str(detail)]}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: every exception of an API view becomes the error
    shape. Unexpected ones are logged with their traceback and answer a JSON 500 — a client
    of a JSON API should never have to parse an HTML error page."""
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is down or restarting: re-raised, so DatabaseUnavailableMiddleware
        # answers a fast 503 with Retry-After (a 500 would tell the mailer not to retry).
        set_rollback()
        return None
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    if not isinstance(exc, exceptions.APIException):
        logger.error("Unexpected error in an API view", exc_info=exc)
        set_rollback()
        return Response(
            error_body("server_error", "Something went wrong on our side; the error has been logged."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    headers: dict[str, str] = {}
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    wait = getattr(exc, "wait", None)
    if wait is not None:
        headers["Retry-After"] = str(max(1, math.ceil(wait)))

    code = _CODES.get(type(exc), exc.default_code)
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_fields(exc.detail)
        first_field, messages = next(iter(fields.items()), ("", ["Invalid input."]))
        where = "" if first_field == "non_field_errors" else f"{first_field}: "
        message = f"Invalid input ({where}{messages[0]})" if first_field else "Invalid input."
        body = error_body(code, message, fields)
    elif isinstance(exc, exceptions.Throttled) and "Retry-After" in headers:
        body = error_body(code, f"Too many requests with this API key; retry in {headers['Retry-After']} s.")
    else:
        body = error_body(code, str(exc.detail))
    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)


def api_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Any /api/v1/ path that names no endpoint: the JSON 404 rather than Django's HTML one
    (and rather than APPEND_SLASH's redirect, which would lose a POST body)."""
    message = "No API endpoint at this address; the endpoints are listed at /api/v1/docs/."
    if not request.path.endswith("/"):
        try:
            match = resolve(f"{request.path}/")
        except Resolver404:
            match = None
        if match is not None and match.url_name != "not-found":
            message = f"No API endpoint at this address; did you mean {request.path}/ (with the trailing slash)?"
    return JsonResponse(error_body("not_found", message), status=404)
