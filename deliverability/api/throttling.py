"""Per-key request throttling, shared by every worker through the default (database) cache."""

from __future__ import annotations

import math
import re
import time
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from deliverability.models import ApiKey

SCOPE = "api_key"
# DRF's rate syntax: "<requests>/<period>", the period read by its first letter.
_RATE = re.compile(r"\s*(\d+)\s*/\s*([smhd])[a-z]*\s*")
_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "6000/min" → (6000, 60). Raises ImproperlyConfigured on anything else."""
    match = _RATE.fullmatch(rate)
    if match is None:
        raise ImproperlyConfigured(
            f"REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['{SCOPE}'] (env API_THROTTLE_RATE) must look like "
            f"'6000/min', got {rate!r}"
        )
    return int(match[1]), _PERIOD_SECONDS[match[2]]


class ApiKeyRateThrottle(BaseThrottle):
    """A fixed-window counter per key: at most N requests per window, the window aligned to
    the clock. Unlike DRF's SimpleRateThrottle it stores one integer, not a list of every
    request's time (6,000 timestamps pickled on each request at the default rate).

    The database cache has no atomic increment, so two workers racing may both count the
    same value: the limit can be overshot slightly, never undershot. A fixed window also
    allows a burst of 2N across a window boundary; the rate is a guard, not a billing meter.
    """

    timer = staticmethod(time.time)  # tests freeze it

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return True  # unauthenticated requests never get this far (401 first)
        limit, period = parse_rate(str(api_settings.DEFAULT_THROTTLE_RATES.get(SCOPE) or ""))
        now = self.timer()
        window = int(now // period)
        window_end = (window + 1) * period
        cache_key = f"api-throttle:{key.pk}:{period}:{window}"
        count = cache.get(cache_key, 0)
        if not isinstance(count, int):
            count = 0
        if count >= limit:
            self._wait = window_end - now
            return False
        # The key changes with the window, so the entry only needs to outlive it.
        cache.set(cache_key, count + 1, timeout=math.ceil(window_end - now) + 1)
        return True

    def wait(self) -> float | None:
        return self._wait
