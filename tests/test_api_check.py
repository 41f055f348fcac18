"""POST and GET /api/v1/check/: which addresses may be sent a message, in one query."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from deliverability.api.services import issue_api_key
from deliverability.api.views import CHECK_MAX_BODY_BYTES
from deliverability.models import School
from deliverability.taxonomy import BlockedCategories, SuppressionReason
from tests.factories import SuppressionFactory

pytestmark = pytest.mark.django_db

CHECK = "/api/v1/check/"


def bearer(secret: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.fixture
def platform() -> Client:
    return bearer(issue_api_key(name="mailer", school=None, actor_label="test").secret)


@pytest.fixture
def key_a(school_a: School) -> Client:
    return bearer(issue_api_key(name="school A", school=school_a, actor_label="test").secret)


def check(client: Client, emails: list, category: str = "bulk", **extra):
    return client.post(CHECK, json.dumps({"emails": emails, "category": category, **extra}), "application/json")


def max_length_address(n: int) -> str:
    """A valid address of exactly 254 characters (64-character local part)."""
    domain = f"{'d' * 63}.{'e' * 63}.{'f' * 57}.com"
    address = f"{n:064d}@{domain}"
    assert len(address) == 254
    return address


# --- POST ------------------------------------------------------------------------------------


def test_blocked_addresses_are_answered_with_the_suppression(platform: Client, school_a: School) -> None:
    since = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    dead = SuppressionFactory.create(email="dead@example.com", created_at=since)
    response = check(platform, ["Dead@Example.COM ", "alive@example.com"], school="school-a")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "checked": 2,
        "blocked": [
            {
                "email": "Dead@Example.COM ",
                "normalized": "dead@example.com",
                "reason": "mailbox_not_found",
                "scope": "platform",
                "school": None,
                "since": "2026-03-01T12:30:00Z",
                "suppression_id": dead.pk,
            }
        ],
        "invalid": [],
    }


def test_school_suppressions_apply_to_their_school_only(platform: Client, school_a: School, school_b: School) -> None:
    own = SuppressionFactory.create(
        email="blocked-a@example.com", school=school_a, reason=SuppressionReason.SENDER_BLOCKED
    )
    SuppressionFactory.create(email="blocked-b@example.com", school=school_b)
    emails = ["blocked-a@example.com", "blocked-b@example.com"]
    body = check(platform, emails, school="school-a").json()
    assert [(b["email"], b["scope"], b["school"], b["suppression_id"]) for b in body["blocked"]] == [
        ("blocked-a@example.com", "school", "school-a", own.pk)
    ]
    # Without a school, a platform key sees platform-wide suppressions only.
    assert check(platform, emails).json()["blocked"] == []


def test_the_platform_suppression_wins_when_both_apply(platform: Client, school_a: School) -> None:
    SuppressionFactory.create(email="both@example.com", school=school_a)
    platform_wide = SuppressionFactory.create(email="both@example.com", school=None)
    blocked = check(platform, ["both@example.com"], school="school-a").json()["blocked"]
    assert [(b["scope"], b["suppression_id"]) for b in blocked] == [("platform", platform_wide.pk)]


def test_categories_are_respected(platform: Client, school_a: School) -> None:
    SuppressionFactory.create(
        email="complained@example.com", school=school_a, categories=BlockedCategories.BULK_AND_AUTOMATION
    )
    SuppressionFactory.create(email="dead@example.com", categories=BlockedCategories.ALL)
    emails = ["complained@example.com", "dead@example.com"]

    def blocked(category: str) -> list[str]:
        return [b["email"] for b in check(platform, emails, category, school="school-a").json()["blocked"]]

    assert blocked("bulk") == emails
    assert blocked("automation") == emails
    assert blocked("system") == ["dead@example.com"]  # activation mail still goes


def test_lifted_suppressions_do_not_block(platform: Client) -> None:
    now = timezone.now()
    SuppressionFactory.create(email="lifted@example.com", created_at=now - timedelta(days=1), lifted_at=now)
    assert check(platform, ["lifted@example.com"]).json()["blocked"] == []


def test_a_school_key_checks_for_its_school(key_a: Client, school_a: School, school_b: School) -> None:
    SuppressionFactory.create(email="a@example.com", school=school_a)
    SuppressionFactory.create(email="b@example.com", school=school_b)
    body = check(key_a, ["a@example.com", "b@example.com"]).json()
    assert [(b["email"], b["school"]) for b in body["blocked"]] == [("a@example.com", "school-a")]


def test_every_entry_is_answered_duplicates_included(platform: Client) -> None:
    SuppressionFactory.create(email="dead@example.com")
    emails = ["dead@example.com", "DEAD@example.com", "dead@example.com", "nope", "nope", "ok@example.com"]
    body = check(platform, emails).json()
    assert body["checked"] == 6
    assert [(b["email"], b["normalized"]) for b in body["blocked"]] == [
        ("dead@example.com", "dead@example.com"),
        ("DEAD@example.com", "dead@example.com"),
        ("dead@example.com", "dead@example.com"),
    ]
    assert body["invalid"] == [{"email": "nope", "error": "missing @"}] * 2


def test_invalid_addresses_are_listed_not_refused(platform: Client) -> None:
    emails = ["", "no-at-sign", "a@b", "x@" + "d" * 300 + ".com", "nul\x00@example.com", "a b@example.com"]
    body = check(platform, emails).json()
    assert body["checked"] == len(emails)
    assert [entry["email"] for entry in body["invalid"]] == emails
    assert all(entry["error"] for entry in body["invalid"])


def test_an_empty_list_checks_nothing(platform: Client, django_assert_num_queries) -> None:
    assert check(platform, []).json() == {"checked": 0, "blocked": [], "invalid": []}


def test_non_strings_in_the_list_are_a_400_naming_them(platform: Client) -> None:
    response = check(platform, ["ok@example.com", 5, None, ["x"], {"email": "x"}])
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {f"emails.{i}": ["Expected a string."] for i in (1, 2, 3, 4)}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"category": "bulk"}, "emails"),
        ({"emails": ["a@example.com"]}, "category"),
        ({"emails": ["a@example.com"], "category": "newsletter"}, "category"),
        ({"emails": "a@example.com", "category": "bulk"}, "emails"),
        ({"emails": ["a@example.com"], "category": "bulk", "school": "not a slug"}, "school"),
        ({"emails": ["a@example.com"], "category": "bulk", "school": 7}, "school"),
        ({"emails": ["a@example.com"], "category": "bulk", "school": "nul\x00"}, "school"),
    ],
)
def test_envelope_errors_are_400_with_the_field(platform: Client, body: dict, field: str) -> None:
    response = platform.post(CHECK, json.dumps(body), "application/json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_ten_thousand_addresses_of_maximum_length_fit(platform: Client) -> None:
    SuppressionFactory.create(email=max_length_address(9_999))
    emails = [max_length_address(n) for n in range(10_000)]
    body = json.dumps({"emails": emails, "category": "bulk"}, indent=4)  # pretty-printed
    # Larger than Django's global limit, which stays as it is for the rest of the site.
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 2_621_440
    response = platform.post(CHECK, body, "application/json")
    assert response.status_code == 200
    result = response.json()
    assert result["checked"] == 10_000 and result["invalid"] == []
    assert [b["email"] for b in result["blocked"]] == [max_length_address(9_999)]


def test_ten_thousand_and_one_addresses_are_refused(platform: Client) -> None:
    response = check(platform, [f"user{n}@example.com" for n in range(10_001)])
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"emails": ["At most 10,000 addresses per request."]}


def test_a_body_over_the_limit_is_413(platform: Client) -> None:
    body = b'{"emails": [], "category": "bulk"' + b" " * CHECK_MAX_BODY_BYTES + b"}"
    response = platform.post(CHECK, body, "application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "payload_too_large"
    # and no more than the largest batch: the limit is about 10 MB, not unbounded
    assert 10_000 * 254 < CHECK_MAX_BODY_BYTES < 11_000_000


# --- query counts ----------------------------------------------------------------------------

# Per request: the key (1), then the check itself (1) — plus the school (1) when a platform
# key names one. A first request warms up last_used_at (written at most once a minute) and the
# worker's throttle counter (written to the shared cache at most once a second).


@pytest.mark.parametrize("size", [1, 10_000])
def test_a_check_is_one_query_whatever_its_size_school_key(
    key_a: Client, school_a: School, size: int, django_assert_num_queries
) -> None:
    SuppressionFactory.create(email="user0@example.com", school=school_a)
    SuppressionFactory.create(email="user1@example.com")
    emails = [f"user{n}@example.com" for n in range(size)]
    check(key_a, ["warm@example.com"])
    with django_assert_num_queries(2):
        response = check(key_a, emails)
    assert response.json()["checked"] == size
    assert len(response.json()["blocked"]) == min(size, 2)


@pytest.mark.parametrize("size", [1, 10_000])
def test_a_check_is_one_query_whatever_its_size_platform_key(
    platform: Client, school_a: School, size: int, django_assert_num_queries
) -> None:
    emails = [f"user{n}@example.com" for n in range(size)]
    check(platform, ["warm@example.com"])
    with django_assert_num_queries(3):
        response = check(platform, emails, school="school-a")
    assert response.json()["checked"] == size


def test_the_check_query_has_one_parameter_for_the_addresses(
    platform: Client, django_assert_num_queries, school_a: School
) -> None:
    check(platform, ["warm@example.com"])
    with django_assert_num_queries(3) as captured:
        check(platform, [f"user{n}@example.com" for n in range(10_000)], school="school-a")
    statement = next(q["sql"] for q in captured.captured_queries if "lifted_at" in q["sql"])
    assert "json_each" in statement or "unnest(" in statement
    assert statement.count("user9999@example.com") <= 1


# --- GET -------------------------------------------------------------------------------------


def test_get_answers_sendable(platform: Client) -> None:
    response = platform.get(CHECK, {"email": "ok@example.com", "category": "bulk"})
    assert response.status_code == 200
    assert response.json() == {"email": "ok@example.com", "sendable": True, "blocked_by": None}


def test_get_answers_blocked_by(platform: Client, school_a: School) -> None:
    blocking = SuppressionFactory.create(
        email="a@example.com", school=school_a, created_at=datetime(2026, 1, 2, tzinfo=UTC)
    )
    response = platform.get(CHECK, {"email": "A@example.com", "category": "system", "school": "school-a"})
    assert response.json() == {
        "email": "A@example.com",
        "sendable": False,
        "blocked_by": {
            "email": "A@example.com",
            "normalized": "a@example.com",
            "reason": "mailbox_not_found",
            "scope": "school",
            "school": "school-a",
            "since": "2026-01-02T00:00:00Z",
            "suppression_id": blocking.pk,
        },
    }
    # not for another school
    assert platform.get(CHECK, {"email": "a@example.com", "category": "bulk"}).json()["sendable"] is True


def test_get_respects_categories(platform: Client) -> None:
    SuppressionFactory.create(email="c@example.com", categories=BlockedCategories.BULK_AND_AUTOMATION)
    assert platform.get(CHECK, {"email": "c@example.com", "category": "system"}).json()["sendable"] is True
    assert platform.get(CHECK, {"email": "c@example.com", "category": "automation"}).json()["sendable"] is False


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"category": "bulk"}, "email"),
        ({"email": "not-an-address", "category": "bulk"}, "email"),
        ({"email": "nul\x00@example.com", "category": "bulk"}, "email"),
        ({"email": "a@example.com"}, "category"),
        ({"email": "a@example.com", "category": "\x00"}, "category"),
        ({"email": "a@example.com", "category": "bulk", "school": "\x00"}, "school"),
        ({"email": "a@example.com", "category": "bulk", "school": "x" * 10_000}, "school"),
    ],
)
def test_get_input_errors_are_400(platform: Client, params: dict, field: str) -> None:
    response = platform.get(CHECK, params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_get_is_one_query_after_the_key(key_a: Client, django_assert_num_queries) -> None:
    key_a.get(CHECK, {"email": "warm@example.com", "category": "bulk"})
    with django_assert_num_queries(2):
        key_a.get(CHECK, {"email": "a@example.com", "category": "bulk"})


def test_blocked_entry_of_a_suppression_matches_the_check(platform: Client, school_a: School) -> None:
    from deliverability.api.selectors import blocked_entry

    suppression = SuppressionFactory.create(email="x@example.com", school=school_a)
    (entry,) = check(platform, ["X@example.com"], school="school-a").json()["blocked"]
    assert blocked_entry(suppression, email="X@example.com") == entry
