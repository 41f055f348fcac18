"""The bounce events admin: a read-only list with filters, exact search and a link to the
timeline, pinned queries; and the sender-side failures report."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from deliverability import services
from deliverability.models import BounceEvent, School
from deliverability.selectors import receiving_provider, sender_problem, sender_side_failures
from deliverability.services import Actor
from tests.conftest import client_for
from tests.factories import BounceEventFactory, SuppressionFactory

pytestmark = pytest.mark.django_db


LIST = "/admin/deliverability/bounceevent/"
SENDER_SIDE = "/admin/deliverability/bounceevent/sender-side/"


def shown(html: str) -> int:
    return html.count('class="field-address"')


def test_the_list_shows_events_in_plain_words_with_a_link_to_the_timeline(support: User, school_a: School) -> None:
    BounceEventFactory.create(
        email="anna@example.com", school=school_a, source="webhook:amazon_ses", raw={"big": "x" * 10}
    )
    html = client_for(support).get(LIST).content.decode()
    assert "Hard bounce" in html and "Mailbox not found" in html and "Webhook: Amazon SES" in html
    assert "dlv-badge dlv-hard" in html
    assert "/admin/deliverability/bounceevent/address/?email=anna%40example.com" in html
    assert "550 5.1.1" in html and "Recipient address rejected" in html


def test_events_cannot_be_added_changed_or_deleted_by_anyone(support: User, lead: User) -> None:
    event = BounceEventFactory.create(raw={"payload": "original"})
    for user in (support, lead):
        client = client_for(user)
        html = client.get(f"{LIST}{event.pk}/change/").content.decode()
        assert "original" in html and 'name="raw"' not in html and 'name="diagnostic"' not in html
        assert client.get(f"{LIST}add/").status_code == 403
        assert client.get(f"{LIST}{event.pk}/delete/").status_code == 403
        assert client.post(f"{LIST}{event.pk}/change/", {"diagnostic": "edited"}).status_code == 403
    event.refresh_from_db()
    assert event.raw == {"payload": "original"}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"type__exact": "soft"}, {"soft@example.com", "delayed@example.com", "ours@example.com"}),
        ({"action__exact": "delayed"}, {"delayed@example.com"}),
        ({"reason__exact": "spam_filtered"}, {"ours@example.com"}),
        ({"sender_side__exact": "1"}, {"ours@example.com"}),
        ({"school": "school-a"}, {"soft@example.com"}),
        ({"source": "api"}, {"delayed@example.com"}),
        ({"source": "dsn"}, {"hard@example.com"}),
        ({"source": "webhook:postmark"}, {"ours@example.com", "soft@example.com"}),
        ({"q": "HARD@example.com"}, {"hard@example.com"}),
        ({"q": "hard"}, set()),
    ],
)
def test_filters_and_search(support: User, school_a: School, params: dict[str, str], expected: set[str]) -> None:
    BounceEventFactory.create(email="hard@example.com", source="dsn")
    BounceEventFactory.create(
        email="soft@example.com", type="soft", reason="mailbox_full", school=school_a, source="webhook:postmark"
    )
    BounceEventFactory.create(
        email="delayed@example.com", type="soft", reason="server_unavailable", action="delayed", source="api:platform"
    )
    BounceEventFactory.create(
        email="ours@example.com", type="soft", reason="spam_filtered", sender_side=True, source="webhook:postmark"
    )
    html = client_for(support).get(LIST, params).content.decode()
    found = {e for e in ["hard", "soft", "delayed", "ours"] if f">{e}@example.com</a>" in html}
    assert {f"{e}@example.com" for e in found} == expected


def test_the_date_filter(support: User) -> None:
    BounceEventFactory.create(email="new@example.com")
    BounceEventFactory.create(email="old@example.com", occurred_at=timezone.now() - timedelta(days=40))
    since = (timezone.localtime() - timedelta(days=7)).isoformat()
    html = client_for(support).get(LIST, {"occurred_at__gte": since}).content.decode()
    assert ">new@example.com</a>" in html and ">old@example.com</a>" not in html


def test_a_searched_address_links_to_its_timeline_even_without_events(support: User) -> None:
    html = client_for(support).get(LIST, {"q": "Nobody@Example.com"}).content.decode()
    assert "Open its timeline" in html and "email=nobody%40example.com" in html


# Session, user, permissions (2), the bounded count, the page (school joined, diagnostic cut).
LIST_QUERIES = 6


@pytest.mark.parametrize("n", [1, 80])
def test_the_list_costs_the_same_queries_for_1_or_80_rows(
    support: User, school_a: School, n: int, django_assert_num_queries: Any
) -> None:
    BounceEventFactory.create_batch(n, school=school_a, raw={"x": "y" * 1000})
    client = client_for(support)
    client.get(LIST)
    with django_assert_num_queries(LIST_QUERIES):
        response = client.get(LIST)
    assert shown(response.content.decode()) == n
    with django_assert_num_queries(LIST_QUERIES):
        client.get(LIST, {"type__exact": "hard", "school": "school-a", "source": "api", "sender_side__exact": "0"})


def test_the_list_never_reads_raw_payloads(support: User, django_assert_num_queries: Any) -> None:
    BounceEventFactory.create(raw={"secret": "payload"})
    client = client_for(support)
    with django_assert_num_queries(LIST_QUERIES) as captured:
        client.get(LIST)
    page_query = next(q["sql"] for q in captured.captured_queries if "SUBSTR" in q["sql"].upper())
    assert '"raw"' not in page_query


def test_only_the_time_column_sorts(support: User) -> None:
    BounceEventFactory.create()
    html = client_for(support).get(LIST).content.decode()
    assert html.count('class="sortable') == 1


# --- sender-side failures ------------------------------------------------------------------


def sender_side(email: str, **kwargs: Any) -> BounceEvent:
    kwargs.setdefault("occurred_at", timezone.now() - timedelta(hours=1))
    event: BounceEvent = BounceEventFactory.create(
        email=email, type="hard", reason="rejected", sender_side=True, **kwargs
    )
    return event


def test_the_report_groups_our_failures_by_receiving_provider_and_problem(support: User) -> None:
    sender_side(
        "a@gmail.com",
        status="5.7.26",
        smtp_code=550,
        remote_mta="gmail-smtp-in.l.google.com",
        diagnostic="550-5.7.26 Unauthenticated email from platform.test is not accepted due to DMARC policy",
    )
    sender_side(
        "b@gmail.com",
        status="5.7.26",
        smtp_code=550,
        remote_mta="gmail-smtp-in.l.google.com",
        diagnostic="550-5.7.26 This mail has been blocked because the sender is unauthenticated",
    )
    sender_side(
        "c@school.edu",
        status="5.7.1",
        smtp_code=550,
        remote_mta="school-edu.mail.protection.outlook.com",
        diagnostic="550 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using Spamhaus",
    )
    sender_side(
        "d@wp.pl",
        status="5.7.1",
        smtp_code=554,
        remote_mta="mx.wp.pl",
        diagnostic="554 5.7.1 Message content rejected as spam",
    )
    sender_side("old@gmail.com", status="5.7.26", diagnostic="dmarc", occurred_at=timezone.now() - timedelta(days=8))
    BounceEventFactory.create(email="victim@gmail.com")  # recipient side: not in the report

    report = sender_side_failures(days=7)
    groups = {(g.provider, g.problem): g for g in report.groups}
    assert set(groups) == {("Google", "authentication"), ("Microsoft", "blocklist"), ("WP / o2", "content")}
    assert groups[("Google", "authentication")].count == 2
    assert groups[("Google", "authentication")].statuses == {"5.7.26": 2}

    html = client_for(support).get(SENDER_SIDE).content.decode()
    assert "Authentication (SPF, DKIM, DMARC, reverse DNS)" in html and "Blocklist or reputation" in html
    assert "Google" in html and "Microsoft" in html and "blocked using Spamhaus" in html


def test_the_report_costs_one_query_after_auth(support: User, django_assert_num_queries: Any) -> None:
    for i in range(30):
        sender_side(f"u{i}@gmail.com", status="5.7.26", diagnostic="dmarc")
    client = client_for(support)
    client.get(SENDER_SIDE)
    with django_assert_num_queries(5):  # session, user, permissions (2), the report
        client.get(SENDER_SIDE)


@pytest.mark.parametrize(
    ("domain", "mta", "provider"),
    [
        ("gmail.com", "", "Google"),
        ("firma.pl", "aspmx.l.google.com", "Google"),
        ("firma.pl", "firma-pl.mail.protection.outlook.com.", "Microsoft"),
        ("hotmail.com", "", "Microsoft"),
        ("firma.pl", "mx.firma.pl", "firma.pl"),
        ("notgoogle.com", "evilgoogle.com", "notgoogle.com"),
    ],
)
def test_receiving_provider(domain: str, mta: str, provider: str) -> None:
    assert receiving_provider(domain, mta) == provider


@pytest.mark.parametrize(
    ("status", "diagnostic", "problem"),
    [
        ("5.7.26", "", "authentication"),
        ("5.7.1", "SPF check failed", "authentication"),
        ("5.7.1", "listed at zen.spamhaus.org", "blocklist"),
        ("5.7.1", "message content rejected", "content"),
        ("5.5.2", "syntax error in MAIL FROM", "other"),
    ],
)
def test_sender_problem(status: str, diagnostic: str, problem: str) -> None:
    assert sender_problem(status, diagnostic) == problem


# --- the audit log and the change log ------------------------------------------------------

# Session, user, permissions (2), the bounded count, the page (actor and school joined).
LOG_QUERIES = 6


@pytest.mark.parametrize("n", [1, 30])
def test_the_audit_and_change_logs_cost_the_same_queries(
    support: User, lead: User, n: int, django_assert_num_queries: Any
) -> None:
    for i in range(n):
        suppression = SuppressionFactory.create(email=f"s{i}@example.com")
        services.lift_suppression(suppression=suppression, actor=Actor.of(lead), note=f"note {i}")
    client = client_for(support)
    for url in ["/admin/deliverability/auditevent/", "/admin/deliverability/suppressionchange/"]:
        client.get(url)
        with django_assert_num_queries(LOG_QUERIES):
            html = client.get(url).content.decode()
        assert html.count('class="field-address"') == n
    searched = client.get("/admin/deliverability/auditevent/", {"q": "S3@example.com", "family": "suppression."})
    assert searched.content.decode().count('class="field-address"') == (1 if n > 3 else 0)
