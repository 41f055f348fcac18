"""Configuration from the environment: the typed readers of config/env.py fail loudly, and
config/settings.py refuses to start in production without what production needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str, parse_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------------------------------------
# env_bool / env_int / env_list / env_str


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[("1", True), ("true", True), ("TRUE", True), (" yes ", True), ("on", True)],
        *[("0", False), ("false", False), ("No", False), ("off", False), ("", False)],
    ],
)
def test_env_bool_reads_the_usual_spellings(monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool) -> None:
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG", default=not expected) is expected


def test_env_bool_default_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLAG", raising=False)
    assert env_bool("FLAG", default=True) is True
    assert env_bool("FLAG") is False


@pytest.mark.parametrize("raw", ["maybe", "2", "yess", "enabled"])
def test_env_bool_refuses_anything_else(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("FLAG", raw)
    with pytest.raises(ImproperlyConfigured) as error:
        env_bool("FLAG", default=True)
    assert str(error.value) == f"FLAG must be a boolean (1/0, true/false), got {raw!r}"


def test_env_int_reads_integers_and_defaults_when_unset_or_blank(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("N", " 42 ")
    assert env_int("N", 7) == 42
    monkeypatch.setenv("N", "-3")
    assert env_int("N", 7) == -3
    monkeypatch.setenv("N", "  ")
    assert env_int("N", 7) == 7
    monkeypatch.delenv("N")
    assert env_int("N", 7, minimum=10) == 7  # the default is the code's business, not checked


@pytest.mark.parametrize("raw", ["abc", "1.5", "10k", "0x10"])
def test_env_int_refuses_non_integers(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("N", raw)
    with pytest.raises(ImproperlyConfigured) as error:
        env_int("N", 7)
    assert str(error.value) == f"N must be an integer, got {raw!r}"


def test_env_int_enforces_the_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("N", "0")
    with pytest.raises(ImproperlyConfigured) as error:
        env_int("N", 7, minimum=1)
    assert str(error.value) == "N must be at least 1, got 0"
    monkeypatch.setenv("N", "1")
    assert env_int("N", 7, minimum=1) == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a.example", ["a.example"]),
        ("a.example, b.example ,c.example", ["a.example", "b.example", "c.example"]),
        ("a.example,,", ["a.example"]),  # stray commas add no empty host
        ("", []),  # set but empty: explicitly nothing, not the default
        (" , ", []),
    ],
)
def test_env_list_splits_on_commas(monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]) -> None:
    monkeypatch.setenv("HOSTS", raw)
    assert env_list("HOSTS", ["default.example"]) == expected


def test_env_list_and_env_str_default_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOSTS", raising=False)
    assert env_list("HOSTS", ["default.example"]) == ["default.example"]
    assert env_str("HOSTS", "fallback") == "fallback"
    assert env_str("HOSTS") == ""


# ---------------------------------------------------------------------------------------------
# parse_database_url


def test_sqlite_relative_path_is_under_the_base_dir_and_its_folder_is_created(tmp_path: Path) -> None:
    assert parse_database_url("sqlite:///var/db.sqlite3", base_dir=tmp_path) == {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(tmp_path / "var" / "db.sqlite3"),
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
    }
    assert (tmp_path / "var").is_dir()


def test_sqlite_absolute_path(tmp_path: Path) -> None:
    target = tmp_path / "abs" / "db.sqlite3"
    config = parse_database_url(f"sqlite:///{target}", base_dir=Path("/nonexistent"))
    assert config["NAME"] == str(target)
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert target.parent.is_dir()


def test_sqlite_in_memory(tmp_path: Path) -> None:
    assert parse_database_url("sqlite:///:memory:", base_dir=tmp_path) == {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
    }
    assert list(tmp_path.iterdir()) == []  # no folder made for it


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///"])
def test_sqlite_without_a_file_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(ImproperlyConfigured) as error:
        parse_database_url(url, base_dir=tmp_path)
    assert str(error.value) == f"DATABASE_URL names no SQLite file: {url!r}"


def test_postgres_with_user_password_port_and_options() -> None:
    url = "postgres://app%40team:p%40ss%3Aw0rd@db.internal:6543/back%20office?sslmode=require&connect_timeout=30"
    assert parse_database_url(url, base_dir=BASE_DIR) == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "back office",
        "USER": "app@team",
        "PASSWORD": "p@ss:w0rd",
        "HOST": "db.internal",
        "PORT": "6543",
        "OPTIONS": {"sslmode": "require", "connect_timeout": "30"},  # the URL's own timeout wins
    }


# Explicit ids: a bare "postgres" id would be taken for the `postgres` marker by conftest.
@pytest.mark.parametrize(
    "scheme", [pytest.param(scheme, id=f"{scheme}-url") for scheme in ["postgres", "postgresql", "pgsql", "PostgreSQL"]]
)
def test_postgres_scheme_spellings_and_defaults(scheme: str) -> None:
    assert parse_database_url(f"{scheme}://localhost/app", base_dir=BASE_DIR) == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "app",
        "USER": "",
        "PASSWORD": "",
        "HOST": "localhost",
        "PORT": "",
        "OPTIONS": {"connect_timeout": "5"},  # fail fast while the server is down: a 503, not a hung worker
    }


def test_postgres_socket_directory_as_host_option() -> None:
    config = parse_database_url("postgres://postgres@/app?host=/var/run/postgresql&sslmode=disable", base_dir=BASE_DIR)
    assert config["HOST"] == "/var/run/postgresql"
    assert config["USER"] == "postgres"
    assert config["NAME"] == "app"
    # `host` is the connection's host, not a libpq option passed twice.
    assert config["OPTIONS"] == {"sslmode": "disable", "connect_timeout": "5"}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:p@h/db", "DATABASE_URL scheme must be sqlite or postgres, got 'mysql'"),
        ("postgres.example.com/db", "DATABASE_URL scheme must be sqlite or postgres, got ''"),
        ("", "DATABASE_URL scheme must be sqlite or postgres, got ''"),
        ("postgres://u@h", "DATABASE_URL names no database: 'postgres://u@h'"),
        ("postgres://u@h/", "DATABASE_URL names no database: 'postgres://u@h/'"),
        ("postgres://u@h:port/db", "DATABASE_URL has a bad port: 'postgres://u@h:port/db'"),
        ("postgres://u@h:99999/db", "DATABASE_URL has a bad port: 'postgres://u@h:99999/db'"),
    ],
)
def test_bad_database_urls_are_refused_clearly(url: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as error:
        parse_database_url(url, base_dir=BASE_DIR)
    assert str(error.value) == message


# ---------------------------------------------------------------------------------------------
# config/settings.py, imported in a fresh interpreter with exactly the environment given


_PRINT_SETTINGS = (
    "import json, config.settings as s; print(json.dumps({'DEBUG': s.DEBUG, 'ALLOWED_HOSTS': s.ALLOWED_HOSTS,"
    " 'SESSION_COOKIE_SECURE': s.SESSION_COOKIE_SECURE, 'SECURE_SSL_REDIRECT': s.SECURE_SSL_REDIRECT,"
    " 'SECURE_HSTS_SECONDS': s.SECURE_HSTS_SECONDS, 'SECRET_KEY': s.SECRET_KEY}))"
)


def _import_settings(**env: str) -> subprocess.CompletedProcess[str]:
    # Only PATH from the outer environment: no SECRET_KEY, DEBUG or DATABASE_URL leaks in.
    environment = {"PATH": os.environ.get("PATH", ""), "DATABASE_URL": "sqlite:///:memory:", **env}
    return subprocess.run(
        [sys.executable, "-c", _PRINT_SETTINGS],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_development_needs_no_variables_at_all() -> None:
    result = _import_settings()
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["DEBUG"] is True
    assert "127.0.0.1" in values["ALLOWED_HOSTS"]
    assert values["SESSION_COOKIE_SECURE"] is False


def test_production_without_a_secret_key_refuses_to_start() -> None:
    result = _import_settings(DEBUG="0")
    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured: SECRET_KEY must be set when DEBUG is off." in result.stderr
    assert result.stdout == ""


def test_production_with_its_variables_starts_hardened() -> None:
    result = _import_settings(DEBUG="0", SECRET_KEY="x", ALLOWED_HOSTS="a.example")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "DEBUG": False,
        "ALLOWED_HOSTS": ["a.example"],
        "SESSION_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECRET_KEY": "x",
    }


def test_production_allows_no_host_unless_told() -> None:
    result = _import_settings(DEBUG="0", SECRET_KEY="x")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ALLOWED_HOSTS"] == []


def test_a_malformed_debug_flag_is_a_clear_error() -> None:
    result = _import_settings(DEBUG="maybe")
    assert result.returncode != 0
    assert (
        "django.core.exceptions.ImproperlyConfigured: DEBUG must be a boolean (1/0, true/false), got 'maybe'"
        in result.stderr
    )


def test_a_malformed_number_is_a_clear_error() -> None:
    result = _import_settings(CONN_MAX_AGE="ten")
    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured: CONN_MAX_AGE must be an integer, got 'ten'" in result.stderr


def test_a_bad_database_url_is_a_clear_error() -> None:
    result = _import_settings(DATABASE_URL="mysql://u@h/db")
    assert result.returncode != 0
    assert (
        "django.core.exceptions.ImproperlyConfigured: DATABASE_URL scheme must be sqlite or postgres, got 'mysql'"
        in result.stderr
    )
