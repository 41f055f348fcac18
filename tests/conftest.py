"""The fixed cast of users (support agent, lead, owner of school A, owner of school B,
anonymous) and the rules for tests that need PostgreSQL, Chromium or the shared corpus."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client
from django.utils import translation

from deliverability.models import School
from tests import factories

OUTPUT = Path(__file__).resolve().parents[1] / "test-output"  # screenshots (git-ignored)
CHROMIUM = Path("/usr/bin/chromium")
# Debian's Chromium as root on a closed network: without these it fails or hangs.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
CORPUS_DIR = Path(os.environ.get("CORPUS_DIR", Path(__file__).resolve().parents[2] / "shared" / "corpus"))


def require(what: str, available: bool, why: str) -> None:
    """Skip with a clear message, or fail when REQUIRE_<WHAT>=1 says it must be there."""
    if available:
        return
    if os.environ.get(f"REQUIRE_{what.upper()}") == "1":
        pytest.fail(f"REQUIRE_{what.upper()}=1 but {why}")
    pytest.skip(why)


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Which pass of `make test` runs a test: `postgres` tests the PostgreSQL pass, `browser`
    tests the SQLite pass (one Chromium run is enough). Both passes are mandatory in CI, so
    nothing skipped here goes unrun."""
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    other_pass = {
        "postgres": (not on_postgres, "needs PostgreSQL: runs in the PostgreSQL pass of `make test`"),
        "browser": (on_postgres, "drives Chromium: runs in the SQLite pass of `make test`"),
    }
    for item in items:
        for marker, (elsewhere, reason) in other_pass.items():
            if elsewhere and item.get_closest_marker(marker) is not None:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """The cast's users are made per test; a production-strength hash costs a second each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_throttle_counters(monkeypatch: pytest.MonkeyPatch) -> None:
    """API throttle counters live partly in process memory; each test starts with none, and a
    worker's count reaches the shared cache only on its first request (or near the limit), so
    pinned query counts don't depend on how fast the machine is. Tests of the syncing set
    SYNC_SECONDS themselves."""
    from deliverability.api import throttling

    throttling.reset_local_counts()
    monkeypatch.setattr(throttling, "SYNC_SECONDS", 3600.0)


@pytest.fixture(autouse=True)
def _english_after_each_test() -> Iterator[None]:
    """A request in Polish leaves Polish active in the test thread (LocaleMiddleware); reset it
    so the next test's messages don't depend on test order."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def corpus_dir() -> Path:
    require("corpus", CORPUS_DIR.is_dir(), f"the shared corpus is not at {CORPUS_DIR}")
    return CORPUS_DIR


def _staff(username: str, group: str) -> User:
    user = User.objects.create_user(username, f"{username}@platform.test", "demo", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def support(db: None) -> User:
    return _staff("support", "Support agents")


@pytest.fixture
def lead(db: None) -> User:
    return _staff("lead", "Deliverability leads")


@pytest.fixture
def school_a(db: None) -> School:
    return factories.SchoolFactory(name="Akademia A", slug="school-a")


@pytest.fixture
def school_b(db: None) -> School:
    return factories.SchoolFactory(name="Szkoła B", slug="school-b")


@pytest.fixture
def owner_a(school_a: School) -> User:
    return factories.OwnerFactory(username="owner-a", school=school_a)


@pytest.fixture
def owner_b(school_b: School) -> User:
    return factories.OwnerFactory(username="owner-b", school=school_b)


@pytest.fixture
def anonymous() -> Client:
    return Client()


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def browser_page(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A page of headless Debian Chromium (Playwright). Browser tests run in the SQLite pass
    only; REQUIRE_BROWSER=1 turns a missing Chromium or Playwright into a failure."""
    require("browser", CHROMIUM.exists(), f"Chromium is not installed at {CHROMIUM} (Debian package 'chromium')")
    try:
        from playwright import sync_api
    except ImportError:
        require("browser", False, "Playwright is not installed")
        raise
    # Playwright's sync API keeps an event loop in this thread; the ORM calls of the test body
    # are still synchronous and safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    OUTPUT.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
        page = context.new_page()
        page.set_default_timeout(15_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()
