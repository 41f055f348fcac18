"""API keys: issuing them (command), proving them (Bearer), scoping them to a school, and
throttling them."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from deliverability.api import throttling
from deliverability.api.authentication import hash_key
from deliverability.api.services import issue_api_key
from deliverability.api.throttling import ApiKeyRateThrottle, parse_rate
from deliverability.models import ApiKey, AuditEvent, School
from tests.factories import SuppressionFactory

pytestmark = pytest.mark.django_db

CHECK = "/api/v1/check/"


def bearer(secret: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def check_one(client: Client, **params: str):
    return client.get(CHECK, {"email": "someone@example.com", "category": "bulk", **params})


@pytest.fixture
def platform_secret() -> str:
    return issue_api_key(name="mailer", school=None, actor_label="test").secret


@pytest.fixture
def school_a_secret(school_a: School) -> str:
    return issue_api_key(name="school A mailer", school=school_a, actor_label="test").secret


# --- create_api_key --------------------------------------------------------------------------


def test_create_api_key_prints_the_key_once_and_stores_only_its_hash(school_a: School) -> None:
    out, err = StringIO(), StringIO()
    call_command("create_api_key", "mailer A", "--school", "school-a", stdout=out, stderr=err)
    secret = out.getvalue().strip()
    key = ApiKey.objects.get()
    assert secret.startswith(f"dbo_{key.prefix}_") and len(secret) == len("dbo_") + 8 + 1 + 43
    assert key.key_hash == hash_key(secret) and secret not in key.key_hash
    assert (key.name, key.school, key.is_active) == ("mailer A", school_a, True)
    assert "not shown again" in err.getvalue() and secret not in err.getvalue()
    assert AuditEvent.objects.get(action="api_key.issued").target_id == str(key.pk)
    assert check_one(bearer(secret)).status_code == 200


def test_create_api_key_without_school_makes_a_platform_key() -> None:
    out = StringIO()
    call_command("create_api_key", "platform mailer", stdout=out, stderr=StringIO())
    assert ApiKey.objects.get().school is None
    assert check_one(bearer(out.getvalue().strip()), school="").status_code == 200


def test_create_api_key_for_an_unknown_school_fails_and_creates_nothing() -> None:
    with pytest.raises(CommandError, match="No school has the slug 'nope'"):
        call_command("create_api_key", "mailer", "--school", "nope", stdout=StringIO(), stderr=StringIO())
    assert not ApiKey.objects.exists()


def test_create_api_key_refuses_a_blank_name() -> None:
    with pytest.raises(CommandError, match="name"):
        call_command("create_api_key", "  ", stdout=StringIO(), stderr=StringIO())
    assert not ApiKey.objects.exists()


def test_each_key_is_different() -> None:
    first = issue_api_key(name="a", school=None, actor_label="test")
    second = issue_api_key(name="b", school=None, actor_label="test")
    assert first.secret != second.secret and first.api_key.prefix != second.api_key.prefix


# --- Authorization: Bearer -------------------------------------------------------------------


def assert_401(response, code: str) -> None:
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["error"]["code"] == code


def test_missing_header_is_401(platform_secret: str) -> None:
    assert_401(check_one(Client()), "not_authenticated")


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token dbo_abcdefgh_" + "a" * 43,
        "Bearer dbo_abcdefgh_short",
        "Bearer " + "x" * 10_000,
        "Bearer dbo_abcdefgh_" + "a" * 10_000,
        "Bearer dbo_abcdefgh_" + "a" * 42 + "\u00e9",
    ],
    ids=["empty", "no-key", "blank-key", "basic", "token", "short", "10k-garbage", "10k-key", "non-ascii"],
)
def test_malformed_authorization_is_401(platform_secret: str, header: str, django_assert_num_queries) -> None:
    with django_assert_num_queries(0):  # refused before any lookup
        response = check_one(Client(HTTP_AUTHORIZATION=header))
    assert_401(response, "authentication_failed")


def test_unknown_key_with_a_known_prefix_is_401(platform_secret: str) -> None:
    prefix = platform_secret.split("_")[1]
    assert_401(check_one(bearer(f"dbo_{prefix}_" + "A" * 43)), "authentication_failed")


def test_unknown_key_is_401() -> None:
    assert_401(check_one(bearer("dbo_abcdefgh_" + "A" * 43)), "authentication_failed")


def test_revoked_key_is_401(platform_secret: str) -> None:
    ApiKey.objects.update(is_active=False)
    response = check_one(bearer(platform_secret))
    assert_401(response, "authentication_failed")
    assert "revoked" in response.json()["error"]["message"]


def test_scheme_is_case_insensitive(platform_secret: str) -> None:
    assert check_one(Client(HTTP_AUTHORIZATION=f"bearer {platform_secret}")).status_code == 200


def test_last_used_is_written_at_most_once_a_minute(platform_secret: str, django_assert_num_queries) -> None:
    client = bearer(platform_secret)
    assert check_one(client).status_code == 200
    first = ApiKey.objects.get().last_used_at
    assert first is not None
    with django_assert_num_queries(2):  # the key and the check: no UPDATE of the key
        check_one(client)
    assert ApiKey.objects.get().last_used_at == first
    ApiKey.objects.update(last_used_at=first - timedelta(minutes=2))
    check_one(client)
    latest = ApiKey.objects.get().last_used_at
    assert latest is not None and latest > first


# --- scope ---------------------------------------------------------------------------------------


def test_a_school_key_naming_another_school_is_403_on_every_endpoint(school_a_secret: str, school_b: School) -> None:
    SuppressionFactory.create(email="x@example.com", school=school_b)
    client = bearer(school_a_secret)
    responses = [
        check_one(client, school="school-b"),
        check_one(client, school="no-such-school"),
        client.post(CHECK, {"emails": ["x@example.com"], "category": "bulk", "school": "school-b"}, "application/json"),
        client.post(
            "/api/v1/contacts/", {"school": "school-b", "contacts": [{"email": "x@example.com"}]}, "application/json"
        ),
        client.get("/api/v1/suppressions/", {"school": "school-b"}),
    ]
    for response in responses:
        assert response.status_code == 403, response.content
        assert response.json()["error"]["code"] == "permission_denied"
    assert not school_b.contacts.exists()


def test_a_school_key_may_name_its_own_school_or_none(school_a_secret: str) -> None:
    client = bearer(school_a_secret)
    assert check_one(client, school="school-a").status_code == 200
    assert check_one(client).status_code == 200


def test_a_platform_key_acts_for_any_school(platform_secret: str, school_a: School, school_b: School) -> None:
    client = bearer(platform_secret)
    assert check_one(client, school="school-a").status_code == 200
    assert check_one(client, school="school-b").status_code == 200


def test_a_platform_key_naming_an_unknown_school_is_400(platform_secret: str) -> None:
    response = check_one(bearer(platform_secret), school="nope")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"school": ["No school has this slug."]}


# --- throttling ----------------------------------------------------------------------------------


@pytest.fixture
def two_a_minute(settings, monkeypatch) -> list[float]:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "2/min"}}
    now = [1_000_000.0]  # 40 s into a minute
    monkeypatch.setattr(ApiKeyRateThrottle, "timer", staticmethod(lambda: now[0]))
    return now


def test_throttling_answers_429_with_retry_after(
    two_a_minute: list[float], platform_secret: str, school_a_secret: str
) -> None:
    client = bearer(platform_secret)
    assert [check_one(client).status_code for _ in range(2)] == [200, 200]
    refused = check_one(client)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "20"
    assert refused.json()["error"]["code"] == "throttled"
    # Per key: another key still has its own budget.
    assert check_one(bearer(school_a_secret)).status_code == 200
    # The next window starts afresh.
    two_a_minute[0] += 20
    assert check_one(client).status_code == 200


def test_throttle_counts_live_in_the_shared_database_cache(two_a_minute: list[float], platform_secret: str) -> None:
    check_one(bearer(platform_secret))
    key = ApiKey.objects.get()
    assert cache.get(f"api-throttle:{key.pk}:60:{1_000_000 // 60}") == 1
    # A second "worker" (a fresh client; the count is not in process memory) is held to it.
    check_one(bearer(platform_secret))
    assert check_one(bearer(platform_secret)).status_code == 429


def test_unauthenticated_requests_are_401_not_throttled(two_a_minute: list[float]) -> None:
    assert {check_one(Client()).status_code for _ in range(4)} == {401}


def test_parse_rate() -> None:
    assert parse_rate("6000/min") == (6000, 60)
    assert parse_rate("10/s") == (10, 1)
    assert parse_rate("5/hour") == (5, 3600)
    assert parse_rate("1/day") == (1, 86400)
    for bad in ["", "fast", "10", "/min", "10/fortnight", "-1/min"]:
        with pytest.raises(Exception, match="API_THROTTLE_RATE"):
            parse_rate(bad)


def test_last_used_at_is_not_updated_for_refused_keys(platform_secret: str) -> None:
    ApiKey.objects.update(is_active=False, last_used_at=timezone.now() - timedelta(days=1))
    before = ApiKey.objects.get().last_used_at
    check_one(bearer(platform_secret))
    assert ApiKey.objects.get().last_used_at == before


def test_a_worker_writes_its_count_to_the_shared_cache_at_most_once_a_second(
    settings, monkeypatch, platform_secret: str
) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "100/min"}}
    monkeypatch.setattr(throttling, "SYNC_SECONDS", 1.0)
    now = [1_000_000.0]
    monkeypatch.setattr(ApiKeyRateThrottle, "timer", staticmethod(lambda: now[0]))
    client = bearer(platform_secret)
    key_pk = ApiKey.objects.get().pk
    cache_key = f"api-throttle:{key_pk}:60:{1_000_000 // 60}"
    for _ in range(10):
        assert check_one(client).status_code == 200
    assert cache.get(cache_key) == 1  # the first request synced; nine are pending in this worker
    now[0] += 1.5
    assert check_one(client).status_code == 200
    assert cache.get(cache_key) == 11  # the nine pending and this one
    # Another worker's requests meanwhile count against the same limit.
    cache.set(cache_key, 95)
    now[0] += 1.5
    results = [check_one(client).status_code for _ in range(8)]
    assert results == [200] * 5 + [429] * 3  # near the limit every request syncs: 100 exactly
    assert cache.get(cache_key) == 100
