"""API keys: their format, how a request proves one, and who may call the API."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from deliverability.models import ApiKey

# dbo_<prefix>_<secret>: the prefix finds the row and tells keys apart in the admin; the
# secret is 32 random bytes (token_urlsafe), so a plain SHA-256 of the key is a safe hash.
KEY_FORMAT = "dbo_<prefix>_<secret>"
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_PREFIX_LENGTH = 8
_SECRET_BYTES = 32
_KEY = re.compile(r"dbo_([a-z0-9]{8})_([A-Za-z0-9_-]{43})")

# last_used_at is advisory: one write a minute per key instead of one per request.
LAST_USED_GRANULARITY = timedelta(minutes=1)


def generate_key() -> tuple[str, str]:
    """A new (prefix, whole key)."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(_PREFIX_LENGTH))
    return prefix, f"dbo_{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class ApiClient:
    """`request.user` of an API request: the program holding `key`, not a person."""

    key: ApiKey
    is_authenticated: ClassVar[bool] = True
    is_anonymous: ClassVar[bool] = False

    def __str__(self) -> str:
        return self.key.actor_label


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer dbo_<prefix>_<secret>`. No header: not authenticated (401 through
    `HasApiKey`); a malformed, unknown or revoked key: 401 at once."""

    def authenticate(self, request: Request) -> tuple[ApiClient, ApiKey] | None:
        header = request.META.get("HTTP_AUTHORIZATION")
        if header is None:
            return None
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer":
            raise exceptions.AuthenticationFailed("Use the header `Authorization: Bearer <api key>`.")
        credentials = credentials.strip()
        # Checked before any query: a 10,000-character header costs one regex.
        match = _KEY.fullmatch(credentials)
        if match is None:
            raise exceptions.AuthenticationFailed(f"Malformed API key: expected {KEY_FORMAT}.")
        key = ApiKey.objects.select_related("school").filter(prefix=match[1]).first()
        if key is None or not hmac.compare_digest(key.key_hash, hash_key(credentials)):
            raise exceptions.AuthenticationFailed("Unknown API key.")
        if not key.is_active:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        _touch(key)
        return ApiClient(key), key

    def authenticate_header(self, request: Request) -> str:
        # Its presence makes DRF answer 401 rather than 403 to unauthenticated requests.
        return 'Bearer realm="api"'


def _touch(key: ApiKey) -> None:
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_GRANULARITY:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


class HasApiKey(BasePermission):
    """Only requests with a valid key; without one DRF answers 401 (see authenticate_header)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, ApiKey)


def api_key_of(request: Request) -> ApiKey:
    """The key that authenticated `request` (views behind `HasApiKey` always have one)."""
    key = request.auth
    if not isinstance(key, ApiKey):
        raise exceptions.NotAuthenticated()
    return key


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes `ApiKeyAuthentication`."""

    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": KEY_FORMAT,
            "description": "An API key from `manage.py create_api_key`: platform-wide or for one school.",
        }
