"""Login throttling: failed logins are counted per (username, client IP) and per client IP in
the shared database cache; past the limit the login is refused, without checking the password,
until the lockout has passed since the last failure. Password-reset e-mails are limited per IP
and per address the same way, so the form can't be used to flood a mailbox.

Limits are settings read at call time (LOGIN_FAILURES_ALLOWED, LOGIN_IP_FAILURES_ALLOWED,
LOGIN_LOCKOUT_SECONDS, PASSWORD_RESETS_PER_HOUR), with the defaults below.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

DEFAULTS = {
    "LOGIN_FAILURES_ALLOWED": 5,  # per username and IP
    "LOGIN_IP_FAILURES_ALLOWED": 30,  # per IP, whatever the usernames (credential stuffing)
    "LOGIN_LOCKOUT_SECONDS": 15 * 60,
    "PASSWORD_RESETS_PER_HOUR": 5,  # per IP, and per e-mail address
}


def limit(name: str) -> int:
    value: int = getattr(settings, name, DEFAULTS[name])
    return value


def client_ip(request: HttpRequest | None) -> str:
    """The peer address. X-Forwarded-For is not trusted: anyone can send it; a proxy in front
    must set REMOTE_ADDR (gunicorn's --forwarded-allow-ips does)."""
    if request is None:
        return ""
    return str(request.META.get("REMOTE_ADDR", ""))


def _key(kind: str, *parts: str) -> str:
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:40]
    return f"throttle:{kind}:{digest}"


class LoginThrottle:
    """The failure counters of one login attempt."""

    def __init__(self, request: HttpRequest | None, username: str) -> None:
        ip = client_ip(request)
        self.user_key = _key("login", username.strip().lower(), ip)
        self.ip_key = _key("login-ip", ip)

    @property
    def lockout_minutes(self) -> int:
        return max(1, -(-limit("LOGIN_LOCKOUT_SECONDS") // 60))

    def locked(self) -> bool:
        counts = cache.get_many([self.user_key, self.ip_key])
        return counts.get(self.user_key, 0) >= limit("LOGIN_FAILURES_ALLOWED") or counts.get(self.ip_key, 0) >= limit(
            "LOGIN_IP_FAILURES_ALLOWED"
        )

    def failed(self) -> None:
        # get + set, not incr: the database cache's incr resets the expiry anyway, and a lost
        # update between two workers only lets one extra attempt through.
        lockout = limit("LOGIN_LOCKOUT_SECONDS")
        counts = cache.get_many([self.user_key, self.ip_key])
        cache.set_many({key: counts.get(key, 0) + 1 for key in (self.user_key, self.ip_key)}, timeout=lockout)

    def succeeded(self) -> None:
        cache.delete(self.user_key)


class ThrottledLoginMixin:
    """For an AuthenticationForm: refuse while locked out, count failures, reset on success."""

    throttled_message = _(
        "Too many failed logins. For your security, logging in is paused for %(minutes)d minutes. "
        "You can reset your password meanwhile."
    )
    request: HttpRequest | None
    cleaned_data: dict[str, Any]

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return super().clean()  # type: ignore[misc]
        throttle = LoginThrottle(self.request, username)
        if throttle.locked():
            raise forms.ValidationError(
                self.throttled_message, code="throttled", params={"minutes": throttle.lockout_minutes}
            )
        try:
            cleaned: dict[str, Any] = super().clean()  # type: ignore[misc]
        except forms.ValidationError:
            throttle.failed()
            raise
        throttle.succeeded()
        return cleaned


class ThrottledAuthenticationForm(ThrottledLoginMixin, AuthenticationForm):
    """The portal's login form (/accounts/login/)."""


class ThrottledAdminAuthenticationForm(ThrottledLoginMixin, AdminAuthenticationForm):
    """The same for the admin's own login page: `admin.site.login_form = ...`."""


def password_reset_allowed(request: HttpRequest, email: str) -> bool:
    """Count one password-reset request; False once the IP or the address had its hourly share."""
    keys = [_key("reset-ip", client_ip(request)), _key("reset-email", email.strip().lower())]
    counts = cache.get_many(keys)
    if any(counts.get(key, 0) >= limit("PASSWORD_RESETS_PER_HOUR") for key in keys):
        return False
    cache.set_many({key: counts.get(key, 0) + 1 for key in keys}, timeout=3600)
    return True
