"""Structured logs: one JSON object per line on stdout, with the request id."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from deliverability.middleware import request_id_var


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        for key in ("status_code", "method", "path"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "path"):
            entry.setdefault("method", request.method)
            entry.setdefault("path", request.path)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
