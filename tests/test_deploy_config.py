"""The configurations docs/deploy.md shows are loaded and do what it says."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from config import db_router
from deliverability.models import Suppression

ROOT = Path(__file__).resolve().parents[1]


def test_gunicorn_config_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "5")
    monkeypatch.setenv("GUNICORN_TIMEOUT", "12")
    monkeypatch.setenv("BIND", "0.0.0.0:9000")
    config = runpy.run_path(str(ROOT / "config" / "gunicorn.py"))
    assert (config["workers"], config["timeout"], config["bind"]) == (5, 12, "0.0.0.0:9000")


def test_replica_and_pooler_settings_load() -> None:
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://app:pw@db1:5432/bo?sslmode=require",
        "DATABASE_REPLICA_URL": "postgres://app:pw@db2:5432/bo",
        "DATABASE_POOLER": "1",
    }
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.DATABASE_ROUTERS, s.DATABASES['replica']['HOST'], "
        "s.DATABASES['default']['DISABLE_SERVER_SIDE_CURSORS'], s.DATABASES['default']['OPTIONS']]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        '[["config.db_router.PrimaryReplicaRouter"], "db2", true, '
        '{"sslmode": "require", "connect_timeout": "5", "prepare_threshold": null}]'
    )


@pytest.fixture
def with_replica(monkeypatch: pytest.MonkeyPatch) -> db_router.PrimaryReplicaRouter:
    monkeypatch.setitem(settings.DATABASES, "replica", {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"})
    return db_router.PrimaryReplicaRouter()


def test_only_marked_reads_use_the_replica(with_replica: Any, db: None) -> None:
    assert with_replica.db_for_read(Suppression) == "default"
    with db_router.replica_reads("key-1"):
        assert with_replica.db_for_read(Suppression) == "replica"
    assert with_replica.db_for_read(Suppression) == "default"


def test_a_client_that_just_wrote_reads_the_primary(with_replica: Any, db: None) -> None:
    db_router.pin_to_primary("key-1")
    with db_router.replica_reads("key-1"):
        assert with_replica.db_for_read(Suppression) == "default"
    with db_router.replica_reads("key-2"):
        assert with_replica.db_for_read(Suppression) == "replica"


def test_a_write_pins_the_rest_of_the_request(with_replica: Any, db: None) -> None:
    import contextvars

    def request() -> tuple[str, str]:
        with db_router.replica_reads("key-3"):
            before = with_replica.db_for_read(Suppression)
            with_replica.db_for_write(Suppression)
            return before, with_replica.db_for_read(Suppression)

    assert contextvars.copy_context().run(request) == ("replica", "default")
    assert with_replica.allow_migrate("replica", "deliverability") is False
