"""Policy thresholds (settings.DELIVERABILITY), read at call time so tests can override them."""

from __future__ import annotations

from django.conf import settings


def policy(name: str) -> int:
    """One threshold of DESIGN.md's policy, e.g. policy("SOFT_BOUNCE_LIMIT")."""
    value: int = settings.DELIVERABILITY[name]
    return value
