"""Serving behaviour: probes, request ids, JSON logs, the database-down answer, deploy checks."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError
from django.test import Client, RequestFactory

from deliverability import health
from deliverability.log_format import JsonFormatter, RequestIdFilter
from deliverability.middleware import DatabaseUnavailableMiddleware, request_id_var

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.django_db
def test_probes_answer_without_authentication(anonymous: Client) -> None:
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    response = anonymous.get("/readyz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert anonymous.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_says_unavailable_without_details_when_the_database_fails(
    anonymous: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    class BrokenCursor:
        def __enter__(self) -> Any:
            raise OperationalError("connection refused: host 10.0.0.5 password=secret")

        def __exit__(self, *args: Any) -> None:
            return None

    monkeypatch.setattr(health.connection, "cursor", lambda: BrokenCursor())
    response = anonymous.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}  # no host, no error text


def test_readyz_is_unavailable_while_migrations_are_pending(
    db: None, anonymous: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "_schema_current", False)
    monkeypatch.setattr(health.MigrationExecutor, "migration_plan", lambda self, targets: ["pending"])
    assert anonymous.get("/readyz").status_code == 503


@pytest.mark.django_db
def test_every_response_carries_a_request_id(anonymous: Client) -> None:
    generated = anonymous.get("/healthz")["X-Request-ID"]
    assert len(generated) == 32
    assert anonymous.get("/healthz", HTTP_X_REQUEST_ID="lb-123.abc")["X-Request-ID"] == "lb-123.abc"
    hostile = anonymous.get("/healthz", HTTP_X_REQUEST_ID="x" * 10_000 + "\n<script>")["X-Request-ID"]
    assert len(hostile) == 32 and "<" not in hostile


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/check/", "application/json"),
        ("/webhooks/anymail/postmark/tracking/", "application/json"),
        ("/portal/", "text/plain; charset=utf-8"),
    ],
)
def test_a_database_outage_is_a_fast_503_not_a_500(path: str, content_type: str) -> None:
    middleware = DatabaseUnavailableMiddleware(lambda request: None)  # type: ignore[arg-type,return-value]
    response = middleware.process_exception(RequestFactory().post(path), OperationalError("server closed"))
    assert response is not None and response.status_code == 503
    assert response["Retry-After"] == "5" and response["Content-Type"] == content_type
    if content_type == "application/json":
        assert json.loads(response.content)["error"]["code"] == "service_unavailable"
    assert middleware.process_exception(RequestFactory().get(path), ValueError("other")) is None


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.LogRecord("deliverability", logging.WARNING, __file__, 1, "hello %s", ("world",), None)
    token = request_id_var.set("req-1")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert {k: line[k] for k in ("level", "logger", "message", "request_id")} == {
        "level": "WARNING",
        "logger": "deliverability",
        "message": "hello world",
        "request_id": "req-1",
    }


PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "bo.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://bo.example.com",
    "DATABASE_URL": "sqlite:///:memory:",
    "WEBHOOK_SECRET": "anymail:a-long-random-webhook-secret",
    "MAILGUN_WEBHOOK_SIGNING_KEY": "key-0123456789",
    "SECURE_HSTS_PRELOAD": "1",
}


def test_check_deploy_is_clean_with_the_documented_production_env() -> None:
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    env.update(PRODUCTION_ENV)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update({"DEBUG": "0", "ALLOWED_HOSTS": "bo.example.com"})
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


@pytest.mark.django_db
def test_an_api_request_during_a_database_outage_is_a_503(monkeypatch: pytest.MonkeyPatch) -> None:
    from deliverability.api import views
    from deliverability.api.services import issue_api_key

    key = issue_api_key(name="mailer", school=None, actor_label="test").secret

    def database_down(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(views, "check_addresses", database_down)
    response = Client().post(
        "/api/v1/check/",
        {"emails": ["a@example.com"], "category": "bulk"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "service_unavailable"
