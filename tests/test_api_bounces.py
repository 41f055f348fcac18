"""POST /api/v1/bounces/ and GET /api/v1/suppressions/changes/ (DESIGN.md, "Interfaces")."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from deliverability.api.services import issue_api_key
from deliverability.models import BounceEvent, School, Suppression, SuppressionChange
from deliverability.services import Actor, lift_suppression, record_bounce

pytestmark = pytest.mark.django_db

WHEN = "2026-11-20T10:15:00Z"
GMAIL_UNKNOWN = "550-5.1.1 The email account that you tried to reach does not exist."


def key_for(school: School | None = None) -> str:
    return issue_api_key(name="mailer", school=school, actor_label="test").secret


def post(key: str, body: Any, raw: bytes | None = None, **headers: Any) -> Any:
    data = raw if raw is not None else json.dumps(body)
    return Client().post(
        "/api/v1/bounces/", data=data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}", **headers
    )


def event(**fields: Any) -> dict[str, Any]:
    base = {
        "email": "Ann@Example.com",
        "event_id": "e1",
        "occurred_at": WHEN,
        "kind": "bounce",
        "smtp_code": 550,
        "status": "5.1.1",
        "diagnostic": GMAIL_UNKNOWN,
        "category": "bulk",
        "message_id": "<m1@platform.example>",
    }
    base.update(fields)
    return base


def test_one_event_is_recorded_classified_and_answered(school_a: School) -> None:
    response = post(key_for(), event(school="school-a"))
    assert response.status_code == 200
    (result,) = response.json()["results"]
    suppression = Suppression.objects.get()
    assert result == {
        "event_id": "e1",
        "email": "Ann@Example.com",
        "result": "created",
        "errors": {},
        "type": "hard",
        "reason": "mailbox_not_found",
        "suppressed": True,
        "suppression": {
            "email": "Ann@Example.com",
            "normalized": "ann@example.com",
            "reason": "mailbox_not_found",
            "scope": "platform",
            "school": None,
            "since": result["suppression"]["since"],
            "suppression_id": suppression.pk,
        },
    }
    stored = BounceEvent.objects.get()
    assert (stored.source, stored.source_event_id, stored.school, stored.message_id) == (
        "api:platform",
        "e1",
        school_a,
        "m1@platform.example",
    )
    assert stored.occurred_at == datetime(2026, 11, 20, 10, 15, tzinfo=UTC)


def test_a_retried_batch_answers_the_same_with_duplicate() -> None:
    key = key_for()
    batch = {"events": [event(event_id=f"e{i}", email=f"user{i}@example.com") for i in range(5)]}
    first = post(key, batch).json()["results"]
    again = post(key, batch).json()["results"]
    assert [r["result"] for r in first] == ["created"] * 5
    assert [r["result"] for r in again] == ["duplicate"] * 5
    assert [{**r, "result": None} for r in first] == [{**r, "result": None} for r in again]
    assert BounceEvent.objects.count() == 5 and SuppressionChange.objects.count() == 5


def test_each_event_is_validated_on_its_own() -> None:
    batch = {
        "events": [
            event(event_id="ok"),
            event(event_id="bad-email", email="not-an-address"),
            event(event_id=""),
            event(event_id="naive", occurred_at="2026-11-20T10:15:00"),
            event(event_id="future", occurred_at=(timezone.now() + timedelta(days=2)).isoformat()),
            event(event_id="code", smtp_code="550"),
            event(event_id="status", status="five"),
            event(event_id="kind", kind="exploded"),
            event(event_id="nul", diagnostic="a\x00b"),
            event(event_id="long", diagnostic="x" * 4001),
            event(event_id="extra", colour="red"),
            "not an object",
            event(event_id="cat", category="newsletter"),
        ]
    }
    results = post(key_for(), batch).json()["results"]
    assert [r["result"] for r in results] == ["created"] + ["invalid"] * 12
    errors = [sorted(r["errors"]) for r in results[1:]]
    assert errors == [
        ["email"],
        ["event_id"],
        ["occurred_at"],
        ["occurred_at"],
        ["smtp_code"],
        ["status"],
        ["kind"],
        ["diagnostic"],
        ["diagnostic"],
        ["non_field_errors"],
        ["non_field_errors"],
        ["category"],
    ]
    assert BounceEvent.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([event()], "non_field_errors"),
        ({"events": "x"}, "events"),
        ({"events": []}, "events"),
        ({"events": [event()] * 1001}, "events"),
    ],
)
def test_a_bad_envelope_is_a_400_and_records_nothing(body: Any, field: str) -> None:
    response = post(key_for(), body)
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    assert not BounceEvent.objects.exists()


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe{}", b'{"email": "\x00"', b"null"])
def test_malformed_bodies_are_4xx_json(raw: bytes) -> None:
    response = post(key_for(), None, raw=raw)
    assert 400 <= response.status_code < 500 and "error" in response.json()
    assert not BounceEvent.objects.exists()


def test_kinds_map_to_the_taxonomy() -> None:
    batch = {
        "events": [
            event(event_id="c", kind="complaint", smtp_code=None, status="", diagnostic=""),
            event(event_id="d", kind="delivered", email="ok@example.com", smtp_code=250, status="2.0.0", diagnostic=""),
            event(
                event_id="w",
                kind="delayed",
                email="slow@example.com",
                smtp_code=451,
                status="4.3.0",
                diagnostic="451 4.3.0 try again later",
            ),
        ]
    }
    results = post(key_for(), batch).json()["results"]
    assert [(r["type"], r["reason"]) for r in results] == [
        ("complaint", "complaint"),
        ("delivered", "delivered"),
        ("soft", "server_unavailable"),
    ]
    assert BounceEvent.objects.get(source_event_id="w").action == "delayed"


def test_school_scope_and_unknown_slugs(school_a: School, school_b: School) -> None:
    school_key = key_for(school_a)
    (own, other) = post(school_key, {"events": [event(event_id="a"), event(event_id="b", school="school-b")]}).json()[
        "results"
    ]
    assert own["result"] == "created" and BounceEvent.objects.get(source_event_id="a").school == school_a
    assert other["result"] == "invalid" and "school" in other["errors"]
    assert BounceEvent.objects.get(source_event_id="a").source == f"api:school:{school_a.pk}"
    # A platform key naming no known school still records the event, without a school.
    (unknown,) = post(key_for(), event(event_id="c", school="no-such-school")).json()["results"]
    assert unknown["result"] == "created" and BounceEvent.objects.get(source_event_id="c").school is None


def test_a_complaint_for_a_school_suppresses_for_that_school_only(school_a: School) -> None:
    (result,) = post(key_for(school_a), event(kind="complaint", smtp_code=None, status="", diagnostic="")).json()[
        "results"
    ]
    assert result["suppressed"] and result["suppression"]["scope"] == "school"
    assert result["suppression"]["school"] == "school-a"


def test_unauthenticated_is_401_and_records_nothing() -> None:
    response = Client().post("/api/v1/bounces/", data=json.dumps(event()), content_type="application/json")
    assert response.status_code == 401 and not BounceEvent.objects.exists()


def test_query_count_does_not_depend_on_the_batch_for_the_answer(django_assert_max_num_queries: Any) -> None:
    key = key_for()
    post(key, {"events": [event(event_id=f"w{i}", email=f"warm{i}@example.com") for i in range(2)]})
    # Per event: record_bounce's own statements; the suppression state is one query per school.
    with django_assert_max_num_queries(8 + 20 * 10):
        post(key, {"events": [event(event_id=f"q{i}", email=f"q{i}@d{i}.example") for i in range(10)]})


# --- the change feed -----------------------------------------------------------------------


def feed(key: str, after: str | None = None, **params: Any) -> Any:
    query = {**({"after": after} if after else {}), **params}
    return Client().get("/api/v1/suppressions/changes/", query, HTTP_AUTHORIZATION=f"Bearer {key}")


def hard(email: str, school: School | None = None, reason: str = "mailbox_not_found", n: int = 0) -> None:
    record_bounce(
        email=email,
        source="dsn",
        source_event_id=f"{email}-{n}",
        occurred_at=timezone.now(),
        event_type="hard",
        reason=reason,
        sender_side=False,
        school=school,
    )


def test_the_feed_pages_in_order_and_replays_to_the_active_list(lead: Any) -> None:
    for i in range(7):
        hard(f"user{i}@d{i}.example")
    lift_suppression(suppression=Suppression.objects.get(email="user3@d3.example"), actor=Actor.of(lead), note="ok")
    key = key_for()
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = feed(key, cursor, limit=3).json()
        seen += page["changes"]
        cursor = page["next"]
        if not page["has_more"]:
            break
    assert [c["change"] for c in seen] == ["suppressed"] * 7 + ["lifted"]
    active: dict[int, str] = {}
    for change in seen:
        if change["change"] == "lifted":
            active.pop(change["suppression_id"])
        else:
            active[change["suppression_id"]] = change["email"]
    assert sorted(active.values()) == sorted(Suppression.objects.active().values_list("email", flat=True))
    # Nothing new: the same cursor comes back, with no changes.
    assert feed(key, cursor).json() == {"changes": [], "next": cursor, "has_more": False}


def test_a_school_key_sees_platform_changes_and_its_own(school_a: School, school_b: School) -> None:
    hard("p@example.com")
    hard("a@example.com", school=school_a, reason="sender_blocked")
    hard("b@example.com", school=school_b, reason="sender_blocked")
    emails = [c["email"] for c in feed(key_for(school_a)).json()["changes"]]
    assert emails == ["p@example.com", "a@example.com"]


@pytest.mark.parametrize("after", ["garbage", "YzE6LTE", "Yzk6MQ", "\x00", "x" * 5000])
def test_bad_cursors_and_limits_are_400(after: str) -> None:
    assert feed(key_for(), after).status_code == 400
    assert feed(key_for(), limit="0").status_code == 400
    assert feed(key_for(), limit="1001").status_code == 400


def test_there_is_no_way_to_lift_or_delete_through_the_api() -> None:
    hard("x@example.com")
    key = key_for()
    suppression = Suppression.objects.get()
    for method in ("delete", "put", "patch"):
        response = getattr(Client(), method)(
            f"/api/v1/suppressions/{suppression.pk}/", HTTP_AUTHORIZATION=f"Bearer {key}"
        )
        assert response.status_code in (404, 405)
    assert Suppression.objects.active().count() == 1
