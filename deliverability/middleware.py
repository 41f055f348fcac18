"""Request-wide behaviour: a request id on every request and log line, and a fast, clear 503
when the database is unreachable (never a 500 or a hang)."""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
# A caller's own id (a load balancer's X-Request-ID) is kept when it looks like one.
_VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _VALID_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class DatabaseUnavailableMiddleware:
    """PostgreSQL restarting or unreachable: answer 503 with a Retry-After at once, in JSON
    for the API and webhooks (providers retry a 5xx), so clients back off and retry."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.error("database unavailable: %s", exception.__class__.__name__)
        response: HttpResponse
        if request.path.startswith(("/api/", "/webhooks/")):
            response = JsonResponse(
                {"error": {"code": "service_unavailable", "message": "The database is unavailable; retry shortly."}},
                status=503,
            )
        else:
            response = HttpResponse(
                "The service is briefly unavailable; please retry in a moment.",
                status=503,
                content_type="text/plain; charset=utf-8",
            )
        response["Retry-After"] = "5"
        return response
