"""The OpenAPI schema and its docs page, and schemathesis against the live API: generated
requests (valid and not) never get a 5xx or an answer that breaks the schema."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from io import StringIO
from typing import Any, cast

import pytest
import schemathesis
from django.core.management import call_command
from django.http import HttpResponse
from django.test import Client
from django.test.client import ClientHandler
from hypothesis import HealthCheck, settings

from deliverability.api.services import issue_api_key
from deliverability.models import School
from tests.factories import SuppressionFactory

pytestmark = pytest.mark.django_db


def test_the_schema_generates_without_warnings_and_validates() -> None:
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out)
    assert '"/api/v1/check/"' in out.getvalue()


def test_the_schema_is_public_json_and_names_every_endpoint() -> None:
    response = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) >= {"/api/v1/check/", "/api/v1/contacts/", "/api/v1/suppressions/"}
    assert schema["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "dbo_<prefix>_<secret>",
        "description": "An API key from `manage.py create_api_key`: platform-wide or for one school.",
    }


def test_the_docs_page_loads_its_assets_from_this_server() -> None:
    response = Client().get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui" in asset for asset in assets)
    assert all(asset.startswith("/") for asset in assets), assets  # no CDN: works offline
    # and the schema URL it fetches is ours
    assert "/api/v1/schema/" in html


# --- schemathesis ----------------------------------------------------------------------------


class DjangoTestApp:
    """WSGI in front of Django's test-client handler, which (unlike WSGIHandler) leaves the
    test's database connection open between requests, so the test transaction holds."""

    def __init__(self) -> None:
        self.handler = ClientHandler(enforce_csrf_checks=False)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        response = cast(HttpResponse, self.handler(environ))
        start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
        return [response.content]


@pytest.fixture
def platform_key(school_a: School, school_b: School) -> str:
    SuppressionFactory.create(email="dead@example.com")
    SuppressionFactory.create(email="blocked@example.com", school=school_a)
    return issue_api_key(name="schemathesis", school=None, actor_label="test").secret


# Loaded at collection: the schema view needs no database. (schemathesis.pytest.from_fixture
# would load it per test, but its lazy loader fails under pytest 9.)
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", DjangoTestApp())

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]


@schema.parametrize()
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
def test_the_api_honours_its_schema(case: Any, platform_key: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {platform_key}"}, checks=CHECKS)
