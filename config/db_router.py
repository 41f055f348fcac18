"""Read-replica routing for the check API (docs/deploy.md, "Scaling out").

Active only when DATABASE_REPLICA_URL is set (settings add a "replica" alias and this router).
Only reads a view marks with `replica_reads()` go to the replica — the check API's lookups —
and never after a write: a write in the request pins the rest of it to the primary, and
`pin_to_primary(key)` remembers a client that just wrote (e.g. reported bounces) for
REPLICA_PIN_SECONDS, so its next check reads its own writes.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.cache import cache

_replica_ok: contextvars.ContextVar[bool] = contextvars.ContextVar("replica_ok", default=False)
_wrote: contextvars.ContextVar[bool] = contextvars.ContextVar("wrote", default=False)


def _pin_key(client: str) -> str:
    return f"replica-pin:{client}"


def pin_to_primary(client: str) -> None:
    """After `client` wrote, its reads go to the primary until the replica has caught up."""
    if "replica" in settings.DATABASES:
        cache.set(_pin_key(client), 1, timeout=settings.REPLICA_PIN_SECONDS)


@contextmanager
def replica_reads(client: str) -> Iterator[None]:
    """Let the reads inside go to the replica, unless `client` wrote recently."""
    if "replica" not in settings.DATABASES:  # no replica: no lookup, no cost
        yield
        return
    token = _replica_ok.set(cache.get(_pin_key(client)) is None)
    try:
        yield
    finally:
        _replica_ok.reset(token)


class PrimaryReplicaRouter:
    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        if _replica_ok.get() and not _wrote.get() and "replica" in settings.DATABASES:
            return "replica"
        return "default"

    def db_for_write(self, model: Any, **hints: Any) -> str:
        _wrote.set(True)
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # same data on both

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == "default"
