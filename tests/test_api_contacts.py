"""POST /api/v1/contacts/: set-based upsert of a school's contacts."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from deliverability.api.services import issue_api_key
from deliverability.api.views import CONTACTS_MAX_BODY_BYTES
from deliverability.models import AuditEvent, Contact, School
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

CONTACTS = "/api/v1/contacts/"


def bearer(secret: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.fixture
def platform() -> Client:
    return bearer(issue_api_key(name="mailer", school=None, actor_label="test").secret)


@pytest.fixture
def key_a(school_a: School) -> Client:
    return bearer(issue_api_key(name="school A", school=school_a, actor_label="test").secret)


def sync(client: Client, contacts: list, **extra):
    return client.post(CONTACTS, json.dumps({"contacts": contacts, **extra}), "application/json")


def stored(school: School) -> dict[str, str]:
    return dict(Contact.objects.filter(school=school).values_list("email", "name"))


def test_contacts_are_created_and_updated(platform: Client, school_a: School, school_b: School) -> None:
    ContactFactory.create(school=school_a, email="known@example.com", name="Old name")
    ContactFactory.create(school=school_b, email="new@example.com", name="Other school's")
    response = sync(
        platform,
        [{"email": "Known@Example.com", "name": "New name"}, {"email": "new@example.com", "name": "Nowa Osoba"}],
        school="school-a",
    )
    assert response.status_code == 200
    assert response.json() == {"created": 1, "updated": 1, "invalid": []}
    assert stored(school_a) == {"known@example.com": "New name", "new@example.com": "Nowa Osoba"}
    assert stored(school_b) == {"new@example.com": "Other school's"}
    audit = AuditEvent.objects.get(action="contacts.synced")
    assert (audit.school, audit.after, audit.actor_label) == (school_a, {"created": 1, "updated": 1}, audit.actor_label)
    assert audit.actor_label.startswith("api:")


def test_a_school_key_syncs_its_own_school_without_naming_it(key_a: Client, school_a: School) -> None:
    assert sync(key_a, [{"email": "a@example.com", "name": "A"}]).json()["created"] == 1
    assert stored(school_a) == {"a@example.com": "A"}


def test_an_omitted_name_keeps_the_stored_one_and_an_empty_one_clears_it(key_a: Client, school_a: School) -> None:
    ContactFactory.create(school=school_a, email="kept@example.com", name="Kept")
    ContactFactory.create(school=school_a, email="cleared@example.com", name="Cleared")
    body = sync(key_a, [{"email": "kept@example.com"}, {"email": "cleared@example.com", "name": ""}]).json()
    assert body == {"created": 0, "updated": 2, "invalid": []}
    assert stored(school_a) == {"kept@example.com": "Kept", "cleared@example.com": ""}


def test_duplicates_in_one_payload_collapse_to_one_contact(key_a: Client, school_a: School) -> None:
    body = sync(
        key_a,
        [
            {"email": "dup@example.com", "name": "First"},
            {"email": "DUP@example.com", "name": "Last"},
            {"email": " dup@example.com "},
        ],
    ).json()
    assert body == {"created": 1, "updated": 0, "invalid": []}
    assert stored(school_a) == {"dup@example.com": "Last"}


def test_invalid_contacts_are_listed_and_the_rest_saved(key_a: Client, school_a: School) -> None:
    contacts = [
        {"email": "ok@example.com", "name": "OK"},
        {"email": "no-at-sign"},
        {"email": "a..b@example.com"},
        {"email": "x@localhost"},
        {"email": "long-name@example.com", "name": "n" * 201},
        {"email": "nul-name@example.com", "name": "bad\x00name"},
        {"email": "nul\x00@example.com"},
    ]
    body = sync(key_a, contacts).json()
    assert (body["created"], body["updated"]) == (1, 0)
    assert [entry["email"] for entry in body["invalid"]] == [c["email"] for c in contacts[1:]]
    assert stored(school_a) == {"ok@example.com": "OK"}


def test_a_platform_key_must_name_the_school(platform: Client) -> None:
    response = sync(platform, [{"email": "a@example.com"}])
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"school": ["Required with a platform key."]}
    assert not Contact.objects.exists()


def test_an_unknown_school_is_400_and_writes_nothing(platform: Client) -> None:
    response = sync(platform, [{"email": "a@example.com"}], school="nope")
    assert response.status_code == 400
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("contacts", "fields"),
    [
        ("a@example.com", {"contacts": ["Expected a list of contacts."]}),
        (["a@example.com"], {"contacts.0": ['Expected an object: {"email": ..., "name": ...}.']}),
        ([{"name": "No address"}], {"contacts.0.email": ["Required: a string."]}),
        ([{"email": 12}], {"contacts.0.email": ["Required: a string."]}),
        (
            [{"email": "a@example.com"}, {"email": "b@example.com", "name": 5}],
            {"contacts.1.name": ["Expected a string or null."]},
        ),
        (
            [{"email": f"u{n}@example.com"} for n in range(10_001)],
            {"contacts": ["At most 10,000 contacts per request."]},
        ),
    ],
    ids=["not-a-list", "not-objects", "no-email", "email-number", "name-number", "10001"],
)
def test_malformed_contact_lists_are_400_and_write_nothing(key_a: Client, contacts, fields: dict) -> None:
    response = sync(key_a, contacts)
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == fields
    assert not Contact.objects.exists()


def test_ten_thousand_contacts_in_one_request(key_a: Client, school_a: School) -> None:
    ContactFactory.create(school=school_a, email="u0@example.com")
    contacts = [{"email": f"u{n}@example.com", "name": f"User {n}"} for n in range(10_000)]
    assert sync(key_a, contacts).json() == {"created": 9_999, "updated": 1, "invalid": []}
    assert Contact.objects.filter(school=school_a).count() == 10_000
    # Again: all updated.
    assert sync(key_a, contacts).json() == {"created": 0, "updated": 10_000, "invalid": []}


def test_a_body_over_the_limit_is_413(key_a: Client) -> None:
    body = b'{"contacts": []' + b" " * CONTACTS_MAX_BODY_BYTES + b"}"
    response = key_a.post(CONTACTS, body, "application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("size", [1, 1_000])
def test_query_count_does_not_grow_with_the_batch(
    key_a: Client, school_a: School, size: int, django_assert_num_queries
) -> None:
    ContactFactory.create(school=school_a, email="u0@example.com")
    sync(key_a, [{"email": "warm@example.com"}])
    contacts = [{"email": f"u{n}@example.com", "name": "N"} for n in range(size)]
    # key, SAVEPOINT, existing contacts, upsert, audit event, RELEASE
    with django_assert_num_queries(6):
        sync(key_a, contacts)
