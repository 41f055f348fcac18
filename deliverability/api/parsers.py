"""The API's one request parser: JSON in UTF-8, within the view's body limit.

DRF's JSONParser reads the request stream directly, which bypasses Django's
DATA_UPLOAD_MAX_MEMORY_SIZE; this parser enforces a limit per view instead (`max_body_bytes`,
else the global setting) and answers 413 above it, before reading the body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from deliverability.api.exceptions import PayloadTooLarge


def body_limit(view: Any) -> int:
    limit = getattr(view, "max_body_bytes", None)
    if limit is None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440
    return int(limit)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


class BoundedJSONParser(BaseParser):
    media_type = "application/json"

    def parse(
        self, stream: IO[Any] | None, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        context = parser_context or {}
        limit = body_limit(context.get("view"))
        request = context.get("request")
        meta = getattr(request, "META", {})
        try:
            declared = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            raise PayloadTooLarge(limit)
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(limit)
        try:
            # RFC 8259: JSON exchanged between systems is UTF-8, whatever charset is claimed.
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ParseError(f"The body is not valid UTF-8 (byte {error.start}).") from None
        try:
            return json.loads(text, parse_constant=_refuse_constant)
        except ValueError as error:  # also integers longer than Python converts
            raise ParseError(f"JSON parse error - {error}") from None
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
