"""Hostile and malformed requests: always the one JSON error shape with a 4xx, never HTML,
never a 500, and nothing written."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from deliverability.api import views
from deliverability.api.services import issue_api_key
from deliverability.models import Contact

pytestmark = pytest.mark.django_db

CHECK = "/api/v1/check/"
CONTACTS = "/api/v1/contacts/"


@pytest.fixture
def secret() -> str:
    return issue_api_key(name="mailer", school=None, actor_label="test").secret


@pytest.fixture
def client(secret: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b'{"emails": [}',
        b"{'emails': []}",
        b'{"emails": ["a@example.com"], "category": "bulk"} trailing',
        b'{"emails": ["\x00"], "category": "bulk"}',  # a raw NUL: not even JSON
        b'{"emails": ["\xff\xfe"], "category": "bulk"}',  # not UTF-8
        b"\xef\xbb\xbf{}",  # a BOM
        b'{"emails": [], "category": NaN}',
        b'{"emails": [], "category": Infinity}',
        b'{"n": ' + b"9" * 5000 + b"}",  # an integer longer than Python converts
        b"[" * 100_000 + b"]" * 100_000,  # nested past the recursion limit
        b'{"emails": ["' + "é".encode("latin-1") + b'"], "category": "bulk"}',
    ],
    ids=[
        "truncated",
        "broken-list",
        "single-quotes",
        "trailing",
        "raw-nul",
        "invalid-utf8",
        "bom",
        "nan",
        "infinity",
        "huge-int",
        "deep",
        "latin1",
    ],
)
@pytest.mark.parametrize("url", [CHECK, CONTACTS])
def test_unparseable_bodies_are_400(client: Client, url: str, raw: bytes) -> None:
    assert_error(client.post(url, raw, "application/json"), 400, "parse_error")
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        [],
        ["a@example.com"],
        "a@example.com",
        None,
        7,
        {"emails": 1e308 * 10, "category": "bulk"},  # inf after parsing
        {"emails": [10**100], "category": "bulk"},
        {"emails": [], "category": ["bulk"]},
        {"emails": [], "category": {"$ne": 1}},
        {"emails": [], "category": True},
    ],
    ids=["list", "list-of-str", "str", "null", "int", "huge-float", "huge-int", "cat-list", "cat-dict", "cat-bool"],
)
def test_wrong_types_are_400_validation_errors(client: Client, body) -> None:
    raw = json.dumps(body).replace("Infinity", "1e999")
    error = assert_error(client.post(CHECK, raw, "application/json"), 400, "validation_error")
    assert error["fields"]


def test_an_empty_body_is_400_naming_the_required_fields(client: Client) -> None:
    error = assert_error(client.post(CHECK, b"", "application/json"), 400, "validation_error")
    assert set(error["fields"]) == {"emails", "category"}
    assert error["message"].startswith("Invalid input (")


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "x" * 10_000,
    ],
)
def test_bodies_that_are_not_json_are_415(client: Client, content_type: str) -> None:
    response = client.generic("POST", CHECK, b'{"emails": [], "category": "bulk"}', content_type)
    assert_error(response, 415, "unsupported_media_type")


def test_a_charset_claim_does_not_change_how_json_is_read(client: Client) -> None:
    body = json.dumps({"emails": ["zoë@example.com"], "category": "bulk"}, ensure_ascii=False).encode()
    for content_type in ["application/json; charset=latin-1", "application/json; charset=nonsense"]:
        response = client.generic("POST", CHECK, body, content_type)  # post() would transcode
        assert response.status_code == 200
        assert response.json()["checked"] == 1


@pytest.mark.parametrize(
    "header", ["Accept", "User-Agent", "X-Request-Id", "Accept-Language", "Cookie", "Content-Type"]
)
def test_ten_thousand_character_headers_are_harmless(client: Client, header: str) -> None:
    response = client.get(CHECK, {"email": "a@example.com", "category": "bulk"}, headers={header: "x" * 10_000})
    assert response["Content-Type"] == "application/json"
    assert response.status_code in (200, 406)


def test_an_unacceptable_accept_header_is_a_json_406(client: Client) -> None:
    response = client.get(CHECK, {"email": "a@example.com", "category": "bulk"}, HTTP_ACCEPT="text/html")
    assert_error(response, 406, "not_acceptable")


@pytest.mark.parametrize(
    "path", ["/api/v1/", "/api/v1/nothing/", "/api/v1/bouncez/", "/api/v1/check/extra/", "/api/v1/" + "x" * 10_000]
)
@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
def test_unknown_api_paths_are_json_404(client: Client, path: str, method: str) -> None:
    assert_error(getattr(client, method)(path), 404, "not_found")
    assert_error(getattr(Client(), method)(path), 404, "not_found")  # also without a key


def test_a_missing_trailing_slash_is_a_404_with_a_hint_not_a_redirect(client: Client) -> None:
    response = client.post("/api/v1/check", "{}", "application/json")
    error = assert_error(response, 404, "not_found")
    assert "/api/v1/check/" in error["message"]


@pytest.mark.parametrize(("method", "url"), [("delete", CHECK), ("put", CHECK), ("get", CONTACTS), ("patch", CONTACTS)])
def test_wrong_methods_are_json_405(client: Client, method: str, url: str) -> None:
    response = getattr(client, method)(url)
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"]


def test_auth_comes_before_parsing(client: Client) -> None:
    assert_error(Client().post(CHECK, b"{", "application/json"), 401, "not_authenticated")


def test_an_unexpected_error_is_a_logged_json_500(client: Client, monkeypatch, caplog) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "check_addresses", broken)
    with caplog.at_level(logging.ERROR, logger="deliverability.api"):
        response = client.post(CHECK, {"emails": [], "category": "bulk"}, "application/json")
    assert_error(response, 500, "server_error")
    assert "boom" not in response.content.decode()
    assert any(record.exc_info and "boom" in str(record.exc_info[1]) for record in caplog.records)
