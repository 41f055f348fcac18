"""Login, logout and password reset at /accounts/ (Django's auth views), login throttling per
username and IP in the database cache, and the password-reset e-mail from templates/emails/."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache.backends import db as db_cache
from django.test import Client, RequestFactory
from django.utils import timezone

from deliverability.portal.throttling import ThrottledAdminAuthenticationForm

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
LOCKED = "Too many failed logins"


def login(client: Client, username: str, password: str, ip: str = "198.51.100.7") -> Any:
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_an_owner_logs_in_and_lands_on_the_portal(owner_a: User) -> None:
    client = Client()
    assert 'id="login-form"' in client.get(LOGIN).content.decode()
    response = login(client, "owner-a", "demo")
    assert (response.status_code, response["Location"]) == (302, "/portal/")
    assert client.get(LOGIN)["Location"] == "/portal/"  # already logged in


def test_a_wrong_password_says_so(owner_a: User) -> None:
    response = login(Client(), "owner-a", "wrong")
    assert response.status_code == 200
    assert "Please enter a correct username and password." in response.content.decode()


def test_logout_is_a_post_and_returns_to_the_login_page(owner_a: User) -> None:
    client = Client()
    client.force_login(owner_a)
    response = client.post("/accounts/logout/")
    assert (response.status_code, response["Location"]) == (302, LOGIN)
    assert client.get("/portal/").status_code == 302


def test_five_failures_lock_the_username_from_that_ip(owner_a: User, owner_b: User) -> None:
    client = Client()
    for _ in range(5):
        assert LOCKED not in login(client, "owner-a", "wrong").content.decode()
    response = login(client, "owner-a", "demo")  # even the right password now
    html = response.content.decode()
    assert response.status_code == 200 and LOCKED in html and "15 minutes" in html
    assert "_auth_user_id" not in client.session
    # Another user from the same network, and the same user from elsewhere, are not locked.
    assert login(Client(), "owner-b", "demo").status_code == 302
    assert login(Client(), "owner-a", "demo", ip="203.0.113.9").status_code == 302


def test_the_username_is_counted_case_and_space_insensitively(owner_a: User) -> None:
    for variant in ["owner-a", "Owner-A", " owner-a", "OWNER-A", "owner-a "]:
        login(Client(), variant, "wrong")
    assert LOCKED in login(Client(), "owner-a", "demo").content.decode()


def test_a_success_resets_the_count(owner_a: User) -> None:
    for _ in range(4):
        login(Client(), "owner-a", "wrong")
    assert login(Client(), "owner-a", "demo").status_code == 302
    for _ in range(4):
        login(Client(), "owner-a", "wrong")
    assert login(Client(), "owner-a", "demo").status_code == 302


def test_the_lock_passes_after_the_lockout(owner_a: User, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(5):
        login(Client(), "owner-a", "wrong")
    assert LOCKED in login(Client(), "owner-a", "demo").content.decode()
    later = timezone.now() + timedelta(minutes=16)
    monkeypatch.setattr(db_cache, "tz_now", lambda: later)
    assert login(Client(), "owner-a", "demo").status_code == 302


def test_many_usernames_from_one_ip_lock_that_ip(owner_a: User, settings: Any) -> None:
    settings.LOGIN_IP_FAILURES_ALLOWED = 3
    for name in ("alice", "bob", "carol"):
        login(Client(), name, "guess")
    assert LOCKED in login(Client(), "owner-a", "demo").content.decode()
    assert login(Client(), "owner-a", "demo", ip="203.0.113.9").status_code == 302


def test_the_admin_login_form_can_use_the_same_throttle(support: User) -> None:
    request = RequestFactory().post("/admin/login/", REMOTE_ADDR="198.51.100.7")
    for _ in range(5):
        form = ThrottledAdminAuthenticationForm(request, data={"username": "support", "password": "wrong"})
        assert not form.is_valid()
    form = ThrottledAdminAuthenticationForm(request, data={"username": "support", "password": "demo"})
    assert not form.is_valid() and LOCKED in str(form.errors)


def test_the_admin_login_is_throttled(support: User) -> None:
    client = Client(REMOTE_ADDR="198.51.100.8")
    for _ in range(5):
        client.post("/admin/login/", {"username": "support", "password": "wrong"})
    response = client.post("/admin/login/", {"username": "support", "password": "demo"})
    assert response.status_code == 200 and LOCKED in response.content.decode()
    assert "_auth_user_id" not in client.session


# --- password reset ------------------------------------------------------------------------


def reset_link(body: str) -> str:
    match = re.search(r"http://testserver(/accounts/reset/[^/\s]+/[^/\s]+/)", body)
    assert match, body
    return match.group(1)


def test_password_reset_by_e_mail(owner_a: User, mailoutbox: list[Any]) -> None:
    owner_a.email = "owner@school-a.example"
    owner_a.save(update_fields=["email"])
    client = Client()
    response = client.post("/accounts/password_reset/", {"email": "owner@school-a.example"})
    assert response["Location"] == "/accounts/password_reset/done/"
    (mail,) = mailoutbox
    assert mail.to == ["owner@school-a.example"]
    assert mail.subject == "Reset your password for the school portal"
    assert "Hello owner-a," in mail.body
    html, mimetype = mail.alternatives[0]
    assert mimetype == "text/html" and "Choose a new password" in html
    link = reset_link(mail.body)
    form_page = client.get(link, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "A much better one 42", "new_password2": "A much better one 42"},
    )
    assert done["Location"] == "/accounts/reset/done/"
    assert login(Client(), "owner-a", "A much better one 42").status_code == 302
    assert "no longer works" in client.get(link, follow=True).content.decode()


def test_password_reset_of_an_unknown_address_looks_the_same(mailoutbox: list[Any]) -> None:
    response = Client().post("/accounts/password_reset/", {"email": "nobody@example.org"})
    assert response["Location"] == "/accounts/password_reset/done/" and mailoutbox == []


def test_password_reset_is_limited_per_hour(owner_a: User, mailoutbox: list[Any]) -> None:
    owner_a.email = "owner@school-a.example"
    owner_a.save(update_fields=["email"])
    for _ in range(5):
        assert Client().post("/accounts/password_reset/", {"email": "owner@school-a.example"}).status_code == 302
    response = Client().post("/accounts/password_reset/", {"email": "owner@school-a.example"})
    assert response.status_code == 200 and "Too many password-reset requests" in response.content.decode()
    assert len(mailoutbox) == 5
