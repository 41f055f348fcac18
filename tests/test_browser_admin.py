"""A support agent's morning in a real browser: log in, search an address, open its timeline,
expand a bounce's diagnostic. Headless Debian Chromium through Playwright; screenshots go to
test-output/ (git-ignored). Runs in the SQLite pass only."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from deliverability.models import School
from deliverability.services import record_bounce
from tests.conftest import OUTPUT
from tests.factories import ContactFactory

ADDRESS = "anna.nowak@example.com"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def history(school: School) -> None:
    ContactFactory.create(school=school, email=ADDRESS, name="Anna Nowak")
    now = timezone.now()
    record_bounce(
        email=ADDRESS,
        source="webhook:postmark",
        source_event_id="pm-1",
        occurred_at=now - timedelta(days=2),
        event_type="soft",
        reason="mailbox_full",
        action="failed",
        smtp_code=452,
        status="4.2.2",
        diagnostic="452 4.2.2 The email account that you tried to reach is over quota.",
        school=school,
    )
    record_bounce(
        email=ADDRESS,
        source="dsn",
        source_event_id="dsn-1",
        occurred_at=now - timedelta(hours=3),
        event_type="hard",
        reason="mailbox_not_found",
        action="failed",
        smtp_code=550,
        status="5.1.1",
        remote_mta="gmail-smtp-in.l.google.com",
        diagnostic="550-5.1.1 The email account that you tried to reach does not exist. Please try "
        "double-checking the recipient's email address for typos or unnecessary spaces.",
        raw={"X-Postfix-Queue-ID": "4F2A1"},
    )


def test_an_agent_finds_an_address_and_reads_why_it_bounced(
    browser_page: Any, live_server: Any, support: User, school_a: School
) -> None:
    history(school_a)
    page = browser_page

    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "support")
    page.fill("#id_password", "demo")
    page.click("input[type=submit]")
    page.wait_for_selector("#dlv-address-input")
    page.screenshot(path=str(OUTPUT / "admin-1-index.png"), full_page=True)

    # Search the suppressions list the way an agent would, with stray capitals and spaces.
    page.goto(f"{live_server.url}/admin/deliverability/suppression/")
    page.fill("#searchbar", "  Anna.Nowak@Example.com ")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("a.dlv-timeline-link")
    assert page.locator("#result_list tbody tr").count() == 1
    page.screenshot(path=str(OUTPUT / "admin-2-search.png"), full_page=True)

    page.click("a.dlv-timeline-link")
    page.wait_for_selector(".dlv-timeline")
    page.screenshot(path=str(OUTPUT / "admin-3-timeline.png"), full_page=True)

    hard = page.locator(".dlv-item.dlv-hard").first
    soft = page.locator(".dlv-item.dlv-soft").first
    suppressed = page.locator(".dlv-item.dlv-suppressed").first
    # Reasons in plain words, not codes.
    assert "Mailbox not found" in hard.inner_text()
    assert "The address does not exist, or its account is disabled." in hard.inner_text()
    assert "The recipient's mailbox is over quota." in soft.inner_text()
    assert "mailbox_not_found" not in hard.inner_text()
    # A colour per type: the left border and the icon take the type's colour.
    colour = "(e) => getComputedStyle(e).borderLeftColor"
    colours = {name: item.evaluate(colour) for name, item in [("hard", hard), ("soft", soft), ("sup", suppressed)]}
    assert colours["hard"] == "rgb(185, 28, 28)"
    assert colours["soft"] == "rgb(194, 65, 12)"
    assert len(set(colours.values())) == 3
    # Blocked for every category, on the platform and so for the contact's school too.
    assert page.locator(".dlv-card-status").inner_text().count("⊘") == 6

    # The diagnostic is folded; a click shows it whole.
    full = hard.locator("pre.dlv-diagnostic-full")
    assert not full.is_visible()
    hard.locator("details.dlv-diagnostic-details > summary").click()
    assert full.is_visible()
    assert "double-checking the recipient's email address for typos" in full.inner_text()
    page.screenshot(path=str(OUTPUT / "admin-4-diagnostic.png"), full_page=True)
    assert os.path.getsize(OUTPUT / "admin-4-diagnostic.png") > 10_000
