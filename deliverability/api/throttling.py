"""Per-key request throttling, shared by every worker through the default (database) cache."""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass
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


@dataclass
class _Window:
    """This worker's view of one key's counter in one window."""

    shared: int  # the shared count as last read from the cache, our writes included
    pending: int  # requests this worker allowed since, not yet written
    synced_at: float
    window_end: float


# Counters of this worker process, keyed like the cache entries.
_local: dict[str, _Window] = {}
_local_lock = threading.Lock()
# A worker writes what it allowed to the shared cache at most this often, and on every request
# once the count is within NEAR_LIMIT of the limit: a request costs no query most of the time,
# and the limit still holds to within what the other workers allowed in the last second.
SYNC_SECONDS = 1.0
NEAR_LIMIT = 0.9


def reset_local_counts() -> None:
    """Forget this process's counters (tests; a new process starts empty anyway)."""
    with _local_lock:
        _local.clear()


class ApiKeyRateThrottle(BaseThrottle):
    """A fixed-window counter per key: at most N requests per window, the window aligned to
    the clock, shared by every worker through the database cache (DESIGN.md). It stores one
    integer, not a list of every request's time as DRF's SimpleRateThrottle does.

    Each worker batches its increments (see SYNC_SECONDS). The database cache has no atomic
    increment, so two workers racing may both count the same value: the limit can be
    overshot slightly, never undershot. A fixed window also allows a burst of 2N across a
    window boundary; the rate is a guard, not a billing meter.
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
        with _local_lock:
            state = _local.get(cache_key)
            if (
                state is not None
                and now - state.synced_at < SYNC_SECONDS
                and state.shared + state.pending + 1 <= limit * NEAR_LIMIT
            ):
                state.pending += 1
                return True
            allowed = self._sync(cache_key, state, limit, now, window_end)
        if not allowed:
            self._wait = window_end - now
        return allowed

    @staticmethod
    def _sync(cache_key: str, state: _Window | None, limit: int, now: float, window_end: float) -> bool:
        """Add this worker's pending requests (and this one, if allowed) to the shared count."""
        count = cache.get(cache_key, 0)
        if not isinstance(count, int):
            count = 0
        pending = state.pending if state is not None else 0
        allowed = count + pending < limit
        total = count + pending + (1 if allowed else 0)
        if total != count:
            # The key changes with the window, so the entry only needs to outlive it.
            cache.set(cache_key, total, timeout=math.ceil(window_end - now) + 1)
        for stale in [k for k, w in _local.items() if w.window_end <= now]:
            del _local[stale]
        _local[cache_key] = _Window(shared=total, pending=0, synced_at=now, window_end=window_end)
        return allowed

    def wait(self) -> float | None:
        return self._wait
