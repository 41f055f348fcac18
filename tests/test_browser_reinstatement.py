"""The reinstatement workflow end to end in a real browser: the owner sees a blocked address with
its reason and files a request; support finds it in the queue, reads the timeline and the risk
and decides with a note; the owner sees the decision. Approved: the address is sendable again.
Rejected: the suppression stays. Headless Debian Chromium through Playwright; screenshots go to
test-output/ (git-ignored). Runs in the SQLite pass only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from deliverability.models import ReinstatementRequest, School, Suppression
from deliverability.services import record_bounce
from tests.conftest import OUTPUT
from tests.factories import ContactFactory

ADDRESS = "anna.nowak@example.org"
OWNER_REASON = "Anna called us: she cleared her mailbox this morning and it has plenty of space now."

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def mailbox_full(school: School) -> None:
    """Five failed messages over five days: the soft-bounce limit suppresses the address."""
    ContactFactory.create(school=school, email=ADDRESS, name="Anna Nowak")
    for day in range(5):
        record_bounce(
            email=ADDRESS,
            source="webhook:postmark",
            source_event_id=f"pm-{day}",
            occurred_at=timezone.now() - timedelta(days=5 - day),
            event_type="soft",
            reason="mailbox_full",
            action="failed",
            smtp_code=452,
            status="4.2.2",
            diagnostic=f"452 4.2.2 <{ADDRESS}>: The email account that you tried to reach is over quota. "
            f"(from bounces+other-school-{day}@mail.platform.test)",
            message_id=f"<m{day}@platform.test>",
        )
    assert Suppression.objects.active().get(email=ADDRESS).reason == "soft_bounce_limit"


def log_in(page: Any, url: str, username: str) -> None:
    page.context.clear_cookies()
    page.goto(url)
    page.fill("#id_username", username)
    page.fill("#id_password", "demo")
    # The portal's form, or the admin's (the portal's header has a language form too).
    page.click("#login-form button[type=submit], #login-form input[type=submit]")


def owner_files_a_request(page: Any, base: str, shot: str) -> None:
    log_in(page, f"{base}/accounts/login/", "owner-a")
    page.wait_for_selector("#blocked-card")
    page.screenshot(path=str(OUTPUT / f"{shot}-1-owner-dashboard.png"), full_page=True)
    page.click("#blocked-card a.button")
    row = page.locator(f'tr.blocked-row[data-email="{ADDRESS}"]')
    text = row.inner_text()
    assert "Repeated soft bounces" in text
    assert "Messages kept failing for days" in text  # what it means
    assert "If the recipient has cleared their mailbox" in text  # what the owner can do
    assert "over quota" in text and "other-school" not in text  # the diagnostic, masked
    page.screenshot(path=str(OUTPUT / f"{shot}-2-owner-blocked.png"), full_page=True)
    row.locator("a.request-link").click()
    page.wait_for_selector("#request-form")
    assert "What support will check" in page.inner_text("#what-support-checks")
    page.check("input[name=what_changed][value=mailbox_cleared]")
    page.fill("textarea[name=reason]", OWNER_REASON)
    page.screenshot(path=str(OUTPUT / f"{shot}-3-owner-request-form.png"), full_page=True)
    page.click("#request-form button[type=submit]")
    page.wait_for_selector(f'tr.request-row[data-email="{ADDRESS}"][data-status="pending"]')
    assert f"Your request for {ADDRESS} is on its way to support." in page.inner_text(".messages")
    page.screenshot(path=str(OUTPUT / f"{shot}-4-owner-requests.png"), full_page=True)


def support_decides(page: Any, base: str, shot: str, decision: str, note: str) -> None:
    log_in(page, f"{base}/admin/login/?next=/admin/deliverability/reinstatementrequest/", "support")
    page.wait_for_selector("#result_list")
    first = page.locator("#result_list tbody tr").first
    assert ADDRESS in first.inner_text() and "Pending" in first.inner_text() and "normal" in first.inner_text()
    page.screenshot(path=str(OUTPUT / f"{shot}-5-support-queue.png"), full_page=True)
    first.locator("th.field-request_title a").click()
    page.wait_for_selector(".dlv-timeline")
    assert page.locator(".dlv-item.dlv-soft").count() == 5  # the bounces on the timeline
    assert page.locator(".dlv-item.dlv-suppressed").count() == 1
    assert "Normal risk" in page.inner_text("#dlv-risk")
    assert OWNER_REASON in page.inner_text("#dlv-request-facts")
    page.fill("#id_note", note)
    page.screenshot(path=str(OUTPUT / f"{shot}-6-support-request-page.png"), full_page=True)
    page.click(f"#dlv-{decision}")
    page.wait_for_selector("#result_list")
    status = "approved" if decision == "approve" else "rejected"
    assert f"for {ADDRESS}: {status}." in page.inner_text(".messagelist")
    page.screenshot(path=str(OUTPUT / f"{shot}-7-support-decided.png"), full_page=True)


def owner_sees_the_decision(page: Any, base: str, shot: str, status: str, note: str) -> None:
    log_in(page, f"{base}/accounts/login/?next=/portal/requests/", "owner-a")
    row = page.locator(f'tr.request-row[data-email="{ADDRESS}"][data-status="{status}"]')
    assert note in row.inner_text()
    page.screenshot(path=str(OUTPUT / f"{shot}-8-owner-decision.png"), full_page=True)


def test_an_approved_request_makes_the_address_sendable_again(
    browser_page: Any,
    live_server: Any,
    owner_a: User,
    school_a: School,
    support: User,
    mailoutbox: list[Any],
) -> None:
    owner_a.email = "owner@school-a.example"
    owner_a.save(update_fields=["email"])
    mailbox_full(school_a)
    page, base = browser_page, live_server.url
    note = "The history shows only a full mailbox; resuming with probation."

    owner_files_a_request(page, base, "reinstatement-approve")
    support_decides(page, base, "reinstatement-approve", "approve", note)

    assert not Suppression.objects.active().filter(email=ADDRESS).exists()  # sendable again
    request = ReinstatementRequest.objects.get()
    assert (request.status, request.outcome, request.decided_by) == ("approved", "probation", support)
    assert Suppression.objects.get(email=ADDRESS).lifted_by_request == request
    assert [m.to for m in mailoutbox] == [["owner@school-a.example"]]

    owner_sees_the_decision(page, base, "reinstatement-approve", "approved", note)
    # The language switcher: the same page in Polish.
    page.select_option("#language-select", "pl")
    page.click("form.language button[type=submit]")
    page.wait_for_selector("text=Moje prośby")
    row = page.locator(f'tr.request-row[data-email="{ADDRESS}"]')
    assert "Zatwierdzono" in row.inner_text() and "Okres próbny" in row.inner_text()
    page.screenshot(path=str(OUTPUT / "reinstatement-approve-9-owner-polish.png"), full_page=True)
    page.goto(f"{base}/portal/schools/school-a/blocked/")
    assert "żaden z Twoich kontaktów nie jest zablokowany" in page.inner_text("main")


def test_a_rejected_request_leaves_the_suppression(
    browser_page: Any, live_server: Any, owner_a: User, school_a: School, support: User
) -> None:
    mailbox_full(school_a)
    page, base = browser_page, live_server.url
    note = "It bounced as full again yesterday; please check with Anna once more."

    owner_files_a_request(page, base, "reinstatement-reject")
    support_decides(page, base, "reinstatement-reject", "reject", note)

    assert Suppression.objects.active().filter(email=ADDRESS).count() == 1
    assert ReinstatementRequest.objects.get().status == "rejected"

    owner_sees_the_decision(page, base, "reinstatement-reject", "rejected", note)
    page.goto(f"{base}/portal/schools/school-a/blocked/")
    assert page.locator(f'tr.blocked-row[data-email="{ADDRESS}"]').count() == 1
