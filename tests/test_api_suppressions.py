"""GET /api/v1/suppressions/: filters, cursor pagination, scope."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.test import Client

from deliverability.api.services import issue_api_key
from deliverability.models import School, Suppression
from deliverability.taxonomy import SuppressionReason
from tests.factories import SuppressionFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v1/suppressions/"
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def bearer(secret: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.fixture
def platform() -> Client:
    return bearer(issue_api_key(name="mailer", school=None, actor_label="test").secret)


@pytest.fixture
def key_a(school_a: School) -> Client:
    return bearer(issue_api_key(name="school A", school=school_a, actor_label="test").secret)


@pytest.fixture
def rows(school_a: School, school_b: School) -> dict[str, Suppression]:
    return {
        "platform": SuppressionFactory.create(email="dead@example.com", created_at=T0),
        "a": SuppressionFactory.create(
            email="blocked@example.com",
            school=school_a,
            reason=SuppressionReason.SENDER_BLOCKED,
            created_at=T0 + timedelta(hours=1),
        ),
        "b": SuppressionFactory.create(
            email="blocked@example.com",
            school=school_b,
            reason=SuppressionReason.COMPLAINT,
            created_at=T0 + timedelta(hours=2),
        ),
        "lifted": SuppressionFactory.create(
            email="back@example.com", created_at=T0 - timedelta(days=3), lifted_at=T0 - timedelta(days=1)
        ),
    }


def ids(client: Client, **params: str) -> list[int]:
    response = client.get(LIST, params)
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_the_list_shows_every_row_newest_first(platform: Client, rows: dict[str, Suppression]) -> None:
    response = platform.get(LIST)
    body = response.json()
    assert [row["id"] for row in body["results"]] == [rows[k].pk for k in ("b", "a", "platform", "lifted")]
    assert body["results"][1] == {
        "id": rows["a"].pk,
        "email": "blocked@example.com",
        "scope": "school",
        "school": "school-a",
        "categories": "all",
        "reason": "sender_blocked",
        "active": True,
        "created_at": "2026-05-01T13:00:00Z",
        "lifted_at": None,
    }
    assert body["results"][3]["lifted_at"] == "2026-04-30T12:00:00Z"
    assert body["next"] is None and body["previous"] is None


def test_a_school_key_sees_platform_rows_and_its_own_never_another_schools(
    key_a: Client, rows: dict[str, Suppression]
) -> None:
    assert ids(key_a) == [rows[k].pk for k in ("a", "platform", "lifted")]
    assert ids(key_a, email="blocked@example.com") == [rows["a"].pk]
    assert ids(key_a, reason="complaint") == []
    assert ids(key_a, scope="school") == [rows["a"].pk]
    assert ids(key_a, school="school-a") == [rows["a"].pk]
    assert key_a.get(LIST, {"school": "school-b"}).status_code == 403


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"email": "Blocked@Example.com"}, ["b", "a"]),
        ({"reason": "complaint"}, ["b"]),
        ({"scope": "platform"}, ["platform", "lifted"]),
        ({"scope": "school"}, ["b", "a"]),
        ({"school": "school-b"}, ["b"]),
        ({"active": "true"}, ["b", "a", "platform"]),
        ({"active": "false"}, ["lifted"]),
        ({"created_after": "2026-05-01T13:00:00Z"}, ["b", "a"]),
        ({"created_before": "2026-05-01T13:00:00Z"}, ["platform", "lifted"]),
        ({"created_after": "2026-05-01T15:00:00+02:00"}, ["b", "a"]),
        ({"created_after": "2026-05-01T13:00:00"}, ["b", "a"]),  # no offset: UTC
        ({"created_after": "2026-05-01"}, ["b", "a", "platform"]),
        ({"created_after": "2026-04-30T15:01:00-20:59"}, ["b", "a", "platform"]),  # PostgreSQL refuses -20:59
        ({"lifted_after": "2026-04-30T00:00:00Z"}, ["lifted"]),
        ({"lifted_before": "2026-04-30T00:00:00Z"}, []),
        ({"scope": "platform", "active": "true"}, ["platform"]),
    ],
)
def test_filters(platform: Client, rows: dict[str, Suppression], params: dict, expected: list[str]) -> None:
    assert ids(platform, **params) == [rows[k].pk for k in expected]


@pytest.mark.parametrize(
    "params",
    [
        {"email": "not-an-address"},
        {"email": "nul\x00@example.com"},
        {"reason": "bored"},
        {"scope": "galaxy"},
        {"school": "not a slug"},
        {"school": "nul\x00"},
        {"created_after": "yesterday"},
        {"created_after": "2026-02-30T00:00:00Z"},
        {"created_after": "0001-01-01T00:00:00+05:00"},
        {"lifted_before": "9999-12-31T23:59:59-05:00"},
        {"created_after": "99999999-01-01"},
    ],
)
def test_bad_filter_values_are_400(platform: Client, params: dict) -> None:
    response = platform.get(LIST, params)
    assert response.status_code == 400, response.content
    assert list(response.json()["error"]["fields"]) == list(params)


def test_cursor_pagination_is_stable_through_equal_times(platform: Client) -> None:
    made = [SuppressionFactory.create(email=f"u{n}@example.com", created_at=T0) for n in range(7)]
    made += [
        SuppressionFactory.create(email=f"v{n}@example.com", created_at=T0 + timedelta(seconds=1)) for n in range(3)
    ]
    expected = [row.pk for row in sorted(made, key=lambda r: (r.created_at, r.pk), reverse=True)]
    seen: list[int] = []
    url: str | None = f"{LIST}?page_size=3"
    while url:
        body = platform.get(url).json()
        assert len(body["results"]) <= 3
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert seen == expected
    # Rows added meanwhile at the top don't shift what follows a cursor.
    first = platform.get(f"{LIST}?page_size=3").json()
    SuppressionFactory.create(email="new@example.com", created_at=T0 + timedelta(days=1))
    assert [row["id"] for row in platform.get(first["next"]).json()["results"]] == expected[3:6]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        base64.b64encode(b"p=not-a-time").decode(),
        base64.b64encode(b"p=0001-01-01 00:00:00+05:00").decode(),
        base64.b64encode(b"p=2026-05-01 12:00:00").decode(),  # no offset: not one we wrote
        base64.b64encode(b"o=99999999999999999999&p=2026-05-01 12:00:00+00:00").decode(),
    ],
)
def test_a_bad_cursor_is_a_json_404(platform: Client, rows: dict[str, Suppression], cursor: str) -> None:
    response = platform.get(f"{LIST}?{urlencode({'cursor': cursor})}")
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": "Invalid cursor", "fields": {}}


def test_a_crafted_cursor_with_an_offset_postgresql_refuses_still_works(
    platform: Client, rows: dict[str, Suppression]
) -> None:
    cursor = base64.b64encode(b"p=2026-04-30 15:01:00-20:59").decode()  # 2026-05-01 12:00 UTC
    response = platform.get(LIST, {"cursor": cursor})
    assert [row["id"] for row in response.json()["results"]] == [rows["lifted"].pk]


def test_a_nul_cursor_decodes_to_the_first_page(platform: Client, rows: dict[str, Suppression]) -> None:
    assert platform.get(LIST, {"cursor": "\x00"}).status_code == 200


def test_page_size_is_bounded(platform: Client) -> None:
    Suppression.objects.bulk_create(
        [
            Suppression(email=f"u{n}@example.com", categories="all", reason="manual", created_via="t")
            for n in range(1_005)
        ]
    )
    assert len(platform.get(LIST, {"page_size": "5000"}).json()["results"]) == 1_000
    assert len(platform.get(LIST, {"page_size": "-1"}).json()["results"]) == 100
    assert len(platform.get(LIST, {"page_size": "9" * 40}).json()["results"]) == 1_000


def test_the_list_costs_the_same_queries_for_1_or_100_rows(
    key_a: Client, school_a: School, django_assert_num_queries
) -> None:
    key_a.get(LIST)  # warm last_used_at
    SuppressionFactory.create(email="one@example.com", school=school_a)
    with django_assert_num_queries(2):  # key, the page (school joined)
        assert len(key_a.get(LIST).json()["results"]) == 1
    Suppression.objects.bulk_create(
        [
            Suppression(email=f"u{n}@example.com", school=school_a, categories="all", reason="manual", created_via="t")
            for n in range(99)
        ]
    )
    with django_assert_num_queries(2):
        assert len(key_a.get(LIST).json()["results"]) == 100


def test_no_endpoint_lifts_or_deletes_a_suppression(platform: Client, rows: dict[str, Suppression]) -> None:
    target = rows["platform"]
    for method in ("put", "patch", "delete"):
        for url in (LIST, f"{LIST}{target.pk}/"):
            response = getattr(platform, method)(url, "{}", "application/json")
            assert response.status_code in (404, 405)
            assert response["Content-Type"] == "application/json"
    assert platform.post(LIST, "{}", "application/json").status_code == 405
    target.refresh_from_db()
    assert target.lifted_at is None and Suppression.objects.count() == 4
