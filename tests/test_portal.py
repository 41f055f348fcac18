"""The owner portal: dashboard, blocked addresses, the request form, my requests and withdraw;
tenant isolation (every portal URL with another school's ids is a 404) and CSRF on every form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, reverse
from django.utils import timezone, translation

from deliverability import reinstatement as flow
from deliverability.models import AuditEvent, Contact, ListCheck, ReinstatementRequest, School, Suppression
from deliverability.portal import urls as portal_urls
from deliverability.services import record_bounce
from tests.conftest import client_for
from tests.factories import ContactFactory, OwnerFactory

pytestmark = pytest.mark.django_db

REASON = "The client confirmed she cleared her mailbox yesterday."
# Another school's bounce of the same address: its return path, message id and other
# recipients must never reach the owner.
FOREIGN_DIAGNOSTIC = (
    "550 5.1.1 <{email}>: Recipient address rejected: User unknown in virtual mailbox table; "
    "return-path bounces+school-b-4711@mail.platform.test; Message-ID: <4711.school-b@platform.test>; "
    "also failed: piotr@other.example"
)


@pytest.fixture(autouse=True)
def english_after_each_test() -> Iterator[None]:
    """LocaleMiddleware leaves the last request's language active in this thread: put English
    back, so later tests (and their service calls) don't run in Polish."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def blocked_contact(
    school: School,
    email: str,
    *,
    reason: str = "mailbox_not_found",
    event_type: str = "hard",
    bounce_school: School | None = None,
    diagnostic: str | None = None,
    days_ago: float = 1,
    name: str = "",
) -> Contact:
    contact = Contact.objects.filter(school=school, email=email).first() or ContactFactory(
        school=school, email=email, name=name
    )
    record_bounce(
        email=email,
        source="api:platform",
        source_event_id=f"{email}-{reason}-{days_ago}",
        occurred_at=timezone.now() - timedelta(days=days_ago),
        event_type=event_type,
        reason=reason,
        sender_side=False,
        school=bounce_school,
        smtp_code=550,
        status="5.1.1",
        diagnostic=FOREIGN_DIAGNOSTIC.format(email=email) if diagnostic is None else diagnostic,
        message_id=f"<{email}-{days_ago}@platform.test>",
    )
    return contact


def submit(owner: User, school: School, email: str, **fields: Any) -> ReinstatementRequest:
    values = {"what_changed": "mailbox_cleared", "reason": REASON, "language": "en", **fields}
    return flow.submit_reinstatement_request(school=school, email=email, requested_by=owner, **values)


def html_of(client: Client, url: str, **params: Any) -> str:
    response = client.get(url, params)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def blocked_url(school: School) -> str:
    return reverse("portal:blocked", args=[school.slug])


def request_url(school: School, contact: Contact) -> str:
    return reverse("portal:request", args=[school.slug, contact.pk])


@pytest.fixture
def anna(school_a: School) -> Contact:
    return blocked_contact(school_a, "anna@example.org", name="Anna Nowak")


# --- who gets in ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/portal/",
        "/portal/schools/school-a/",
        "/portal/schools/school-a/blocked/",
        "/portal/schools/school-a/contacts/1/request/",
        "/portal/requests/",
    ],
)
def test_anonymous_visitors_are_sent_to_the_login_page(anonymous: Client, school_a: School, url: str) -> None:
    response = anonymous.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_one_school_goes_straight_to_its_dashboard(owner_a: User) -> None:
    response = client_for(owner_a).get("/portal/")
    assert (response.status_code, response["Location"]) == (302, "/portal/schools/school-a/")


def test_several_schools_get_a_picker(owner_a: User, school_a: School) -> None:
    second = School.objects.create(name="Zeta Academy", slug="zeta")
    owner_a.memberships.create(school=second)
    html = html_of(client_for(owner_a), "/portal/")
    assert html.index("Akademia A") < html.index("Zeta Academy")
    assert 'href="/portal/schools/zeta/"' in html and 'href="/portal/schools/school-a/"' in html


def test_staff_without_a_school_get_a_friendly_page(support: User) -> None:
    html = html_of(client_for(support), "/portal/")
    assert "does not own a school" in html and 'href="/admin/"' in html
    assert client_for(support).get("/portal/requests/").status_code == 200


# --- the dashboard -------------------------------------------------------------------------


def test_the_dashboard_counts_blocks_by_reason_and_shows_requests_and_decisions(
    owner_a: User, school_a: School, support: User
) -> None:
    blocked_contact(school_a, "anna@example.org")
    blocked_contact(school_a, "ewa@example.org")
    blocked_contact(school_a, "jan@example.org", reason="complaint", event_type="complaint", bounce_school=school_a)
    # Not a contact of school A: not counted.
    blocked_contact(School.objects.create(name="Other", slug="other"), "stranger@example.org")
    pending = submit(owner_a, school_a, "anna@example.org")
    decided = submit(owner_a, school_a, "ewa@example.org")
    flow.reject_reinstatement_request(request=decided, acting_user=support, note="It bounced again on Monday.")

    html = html_of(client_for(owner_a), "/portal/schools/school-a/")
    text = text_of(html)
    assert re.search(r'id="blocked-card">.*?class="big">3<', html, re.S)
    assert "Mailbox not found 2" in text and "Spam complaint 1" in text
    assert "Open request (1)" in text and pending.email in text
    assert "It bounced again on Monday." in text and "Rejected" in text
    assert "stranger@example.org" not in text
    assert "18 requests left today" in text  # 20 a day, 2 filed


# --- blocked addresses ---------------------------------------------------------------------


def test_a_blocked_address_in_plain_words_with_a_masked_diagnostic(
    owner_a: User, school_a: School, anna: Contact
) -> None:
    html = html_of(client_for(owner_a), blocked_url(school_a))
    text = text_of(html)
    assert "anna@example.org" in text and "Anna Nowak" in text
    assert "The address does not exist, or its account has been disabled." in text  # what it means
    assert "Check the address for typos with the recipient." in text  # what to do
    assert "Blocked on the whole platform" in text and "All messages" in text
    assert "since" in text
    # The diagnostic: the contact's own address stays, everything of the other school goes.
    assert "550 5.1.1 &lt;anna@example.org&gt;: Recipient address rejected" in html
    for secret in ("school-b", "4711", "piotr@other.example", "bounces+", "platform.test"):
        assert secret not in html
    assert f'href="{request_url(school_a, anna)}"' in html


def test_why_a_request_is_not_possible(owner_a: User, school_a: School, support: User, settings: Any) -> None:
    pending = blocked_contact(school_a, "pending@example.org")
    failed = blocked_contact(school_a, "failed@example.org")
    complaint = blocked_contact(
        school_a, "complaint@example.org", reason="complaint", event_type="complaint", bounce_school=school_a
    )
    submit(owner_a, school_a, pending.email)
    approved = submit(owner_a, school_a, failed.email)
    flow.approve_reinstatement_request(request=approved, acting_user=support, note="ok")
    blocked_contact(school_a, failed.email, days_ago=0)  # bounces again during probation

    rows = {row["email"]: row for row in rows_of(html_of(client_for(owner_a), blocked_url(school_a)))}
    assert "already waiting for support" in rows[pending.email]["action"]
    assert (
        "An earlier reinstatement of this address failed; new requests are possible from"
        in rows[failed.email]["action"]
    )
    assert "Ask to resume sending" in rows[complaint.email]["action"]
    assert "Only if the recipient confirmed they want our mail." in rows[complaint.email]["action"]

    settings.DELIVERABILITY = {**settings.DELIVERABILITY, "REQUEST_DAILY_LIMIT": 2}
    rows = {row["email"]: row for row in rows_of(html_of(client_for(owner_a), blocked_url(school_a)))}
    assert "reached today's limit" in rows[complaint.email]["action"]


def rows_of(html: str) -> list[dict[str, str]]:
    rows = re.findall(r'<tr class="blocked-row" data-email="([^"]+)">(.*?)</tr>', html, re.S)
    return [{"email": email, "action": text_of(body.rsplit("<td>", 1)[-1])} for email, body in rows]


def test_only_suppressions_that_apply_to_the_school_are_listed(
    owner_a: User, school_a: School, school_b: School
) -> None:
    # Blocked for school B only (the recipient blocked B's sender): sendable for school A.
    blocked_contact(school_a, "shared@example.org", reason="sender_blocked", bounce_school=school_b)
    ContactFactory(school=school_b, email="shared@example.org")
    blocked_contact(school_b, "only-b@example.org")
    html = html_of(client_for(owner_a), blocked_url(school_a))
    assert "shared@example.org" not in html and "only-b@example.org" not in html
    assert "none of your contacts is blocked" in html


def test_search_and_pages(owner_a: User, school_a: School) -> None:
    for i in range(30):
        blocked_contact(school_a, f"user{i:02d}@example.org")
    client = client_for(owner_a)
    first = [row["email"] for row in rows_of(html_of(client, blocked_url(school_a)))]
    second = [row["email"] for row in rows_of(html_of(client, blocked_url(school_a), page=2))]
    assert len(first) == 25 and len(second) == 5 and not set(first) & set(second)
    assert [row["email"] for row in rows_of(html_of(client, blocked_url(school_a), q="USER07"))] == [
        "user07@example.org"
    ]
    assert rows_of(html_of(client, blocked_url(school_a), page="junk"))  # a bad page number is page 1


@pytest.mark.parametrize("n", [1, 25])
def test_the_blocked_page_costs_the_same_queries_for_any_number_of_rows(
    owner_a: User, school_a: School, n: int, django_assert_num_queries: Any
) -> None:
    for i in range(n):
        blocked_contact(school_a, f"user{i:02d}@example.org")
    client = client_for(owner_a)
    # session, user, the school, count, the page, then eligibility: suppressions with their
    # causes, contacts, pending requests, failed reinstatements, today's requests.
    with django_assert_num_queries(10):
        html = html_of(client, blocked_url(school_a))
    assert len(rows_of(html)) == n


def test_the_dashboard_costs_a_fixed_number_of_queries(
    owner_a: User, school_a: School, django_assert_num_queries: Any
) -> None:
    for i in range(5):
        blocked_contact(school_a, f"user{i}@example.org")
        submit(owner_a, school_a, f"user{i}@example.org")
    client = client_for(owner_a)
    with django_assert_num_queries(9):  # session, user, the school, six for the dashboard
        client.get("/portal/schools/school-a/")


# --- the request form ----------------------------------------------------------------------


def test_the_form_says_what_support_will_check(owner_a: User, school_a: School, anna: Contact) -> None:
    text = text_of(html_of(client_for(owner_a), request_url(school_a, anna)))
    assert "What support will check" in text
    assert "whole bounce history" in text
    assert "within 30 days" in text and "refused for 90 days" in text
    assert "The recipient cleared the mailbox" in text and "Other" in text
    assert "At least 20 characters" in text


def test_filing_a_request(owner_a: User, school_a: School, anna: Contact) -> None:
    client = client_for(owner_a)
    response = client.post(
        request_url(school_a, anna),
        {"what_changed": "mailbox_cleared", "reason": REASON},
        HTTP_ACCEPT_LANGUAGE="pl",
    )
    assert (response.status_code, response["Location"]) == (302, "/portal/requests/")
    request = ReinstatementRequest.objects.get()
    assert (request.email, request.school, request.requested_by, request.status) == (
        "anna@example.org",
        school_a,
        owner_a,
        "pending",
    )
    assert (request.what_changed, request.reason, request.language) == ("mailbox_cleared", REASON, "pl")
    text = text_of(html_of(client, "/portal/requests/"))
    assert "anna@example.org" in text and "Waiting for support." in text


def field_errors(html: str, field: str) -> list[str]:
    """The errors shown beside one field (the list right under it, with the field's id)."""
    block = re.search(rf'<ul class="errors" id="id_{field}_errors">(.*?)</ul>', html, re.S)
    return [text_of(item) for item in re.findall(r"<li>(.*?)</li>", block.group(1), re.S)] if block else []


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"what_changed": "mailbox_cleared", "reason": "too short"}, "reason", "at least 20 characters"),
        ({"what_changed": "mailbox_cleared", "reason": " " * 40}, "reason", "This field is required."),
        ({"what_changed": "mailbox_cleared", "reason": ""}, "reason", "This field is required."),
        ({"what_changed": "mailbox_cleared", "reason": "x" * 5001}, "reason", "at most 5000 characters"),
        ({"reason": REASON}, "what_changed", "This field is required."),
        ({"what_changed": "magic", "reason": REASON}, "what_changed", "Select a valid choice"),
    ],
)
def test_bad_input_is_shown_beside_its_field_and_changes_nothing(
    owner_a: User, school_a: School, anna: Contact, data: dict[str, str], field: str, message: str
) -> None:
    response = client_for(owner_a).post(request_url(school_a, anna), data)
    assert response.status_code == 200
    errors = field_errors(response.content.decode(), field)
    assert errors and message in errors[0]
    assert not ReinstatementRequest.objects.exists()


def test_a_complaint_needs_the_recipients_consent(owner_a: User, school_a: School) -> None:
    contact = blocked_contact(
        school_a, "jan@example.org", reason="complaint", event_type="complaint", bounce_school=school_a
    )
    client = client_for(owner_a)
    html = html_of(client, request_url(school_a, contact))
    assert re.search(r'value="wants_mail"[^>]* checked>', html)  # preselected
    response = client.post(request_url(school_a, contact), {"what_changed": "mailbox_cleared", "reason": REASON})
    assert "confirmed they want it" in field_errors(response.content.decode(), "what_changed")[0]
    assert not ReinstatementRequest.objects.exists()
    client.post(request_url(school_a, contact), {"what_changed": "wants_mail", "reason": REASON})
    assert ReinstatementRequest.objects.get().what_changed == "wants_mail"


def test_when_a_request_is_not_possible_the_page_says_why_and_a_post_changes_nothing(
    owner_a: User, school_a: School, anna: Contact
) -> None:
    submit(owner_a, school_a, anna.email)
    client = client_for(owner_a)
    html = html_of(client, request_url(school_a, anna))
    assert "A request is not possible now" in html and "already waiting for support" in html
    assert 'id="request-form"' not in html
    before = AuditEvent.objects.count()
    response = client.post(request_url(school_a, anna), {"what_changed": "mailbox_cleared", "reason": REASON})
    assert response.status_code == 200 and "already waiting for support" in response.content.decode()
    assert ReinstatementRequest.objects.count() == 1 and AuditEvent.objects.count() == before


def test_a_contact_that_is_not_blocked(owner_a: User, school_a: School) -> None:
    contact = ContactFactory(school=school_a, email="fine@example.org")
    html = html_of(client_for(owner_a), request_url(school_a, contact))
    assert "not blocked for your school" in html and "No longer blocked." in html


def test_the_daily_limit_per_school(owner_a: User, school_a: School, settings: Any) -> None:
    settings.DELIVERABILITY = {**settings.DELIVERABILITY, "REQUEST_DAILY_LIMIT": 1}
    first, second = blocked_contact(school_a, "a@example.org"), blocked_contact(school_a, "b@example.org")
    client = client_for(owner_a)
    client.post(request_url(school_a, first), {"what_changed": "other", "reason": REASON})
    response = client.post(request_url(school_a, second), {"what_changed": "other", "reason": REASON})
    assert "reached today's limit" in text_of(response.content.decode())
    assert list(ReinstatementRequest.objects.values_list("email", flat=True)) == ["a@example.org"]


# --- my requests and withdrawing -----------------------------------------------------------


def test_my_requests_show_status_the_decision_note_and_withdraw_while_pending(
    owner_a: User, school_a: School, support: User
) -> None:
    for email in ("p@example.org", "r@example.org", "a@example.org"):
        blocked_contact(school_a, email)
    pending = submit(owner_a, school_a, "p@example.org")
    flow.reject_reinstatement_request(
        request=submit(owner_a, school_a, "r@example.org"), acting_user=support, note="Still bouncing today."
    )
    flow.approve_reinstatement_request(
        request=submit(owner_a, school_a, "a@example.org"), acting_user=support, note="Looks fixed, resuming."
    )
    html = html_of(client_for(owner_a), "/portal/requests/")
    rows = dict(re.findall(r'data-email="([^"]+)" data-status="(\w+)"', html))
    assert rows == {"p@example.org": "pending", "r@example.org": "rejected", "a@example.org": "approved"}
    text = text_of(html)
    assert "Still bouncing today." in text and "Looks fixed, resuming." in text and "On probation" in text
    assert "support" not in re.findall(r'data-email="r@example.org".*?</tr>', html, re.S)[0]  # no agent names
    assert html.count(">Withdraw</button>") == 1
    assert f'action="/portal/requests/{pending.pk}/withdraw/"' in html


def test_withdrawing_a_pending_request(owner_a: User, school_a: School, anna: Contact) -> None:
    request = submit(owner_a, school_a, anna.email)
    client = client_for(owner_a)
    response = client.post(f"/portal/requests/{request.pk}/withdraw/", follow=True)
    request.refresh_from_db()
    assert request.status == "withdrawn"
    assert "Your request for anna@example.org was withdrawn." in response.content.decode()
    assert client.get(f"/portal/requests/{request.pk}/withdraw/").status_code == 405


@pytest.mark.parametrize("first", ["approved", "rejected", "withdrawn"])
def test_a_decided_request_cant_be_withdrawn_and_nothing_changes(
    owner_a: User, school_a: School, anna: Contact, support: User, first: str
) -> None:
    request = submit(owner_a, school_a, anna.email)
    if first == "approved":
        flow.approve_reinstatement_request(request=request, acting_user=support, note="ok")
    elif first == "rejected":
        flow.reject_reinstatement_request(request=request, acting_user=support, note="no")
    else:
        flow.withdraw_reinstatement_request(request=request, acting_user=owner_a)
    before = (AuditEvent.objects.count(), Suppression.objects.active().count())
    response = client_for(owner_a).post(f"/portal/requests/{request.pk}/withdraw/", follow=True)
    assert f"This request is already {first}, so it can't be withdrawn. Nothing was changed." in text_of(
        response.content.decode()
    )
    request.refresh_from_db()
    assert request.status == first
    assert (AuditEvent.objects.count(), Suppression.objects.active().count()) == before


def test_a_co_owner_sees_and_withdraws_the_schools_requests(owner_a: User, school_a: School, anna: Contact) -> None:
    co_owner = OwnerFactory(username="co-owner", school=school_a)
    request = submit(owner_a, school_a, anna.email)
    client = client_for(co_owner)
    assert "anna@example.org" in html_of(client, "/portal/requests/")
    client.post(f"/portal/requests/{request.pk}/withdraw/")
    request.refresh_from_db()
    assert request.status == "withdrawn"


def test_a_failed_reinstatement_shows_in_my_requests(
    owner_a: User, school_a: School, anna: Contact, support: User
) -> None:
    request = submit(owner_a, school_a, anna.email)
    flow.approve_reinstatement_request(request=request, acting_user=support, note="ok")
    blocked_contact(school_a, anna.email, days_ago=0)
    assert "Failed: bounced again during probation" in html_of(client_for(owner_a), "/portal/requests/")


# --- tenant isolation ----------------------------------------------------------------------


@pytest.fixture
def foreign(school_b: School, owner_b: User) -> dict[str, Any]:
    """School B's contact and request, which owner A must never reach."""
    contact = blocked_contact(school_b, "b-secret@example.org")
    check = ListCheck.objects.create(school=school_b, original_name="b-secret.csv", upload_path="b/upload")
    return {
        "school": school_b,
        "contact": contact,
        "request": submit(owner_b, school_b, contact.email),
        "list_check": check,
    }


# (URL name, method, how to build a URL owner A must not reach)
ISOLATION = [
    ("dashboard", "get", lambda a, b: reverse("portal:dashboard", args=[b["school"].slug])),
    ("blocked", "get", lambda a, b: reverse("portal:blocked", args=[b["school"].slug])),
    ("request", "get", lambda a, b: reverse("portal:request", args=[b["school"].slug, b["contact"].pk])),
    ("request", "post", lambda a, b: reverse("portal:request", args=[b["school"].slug, b["contact"].pk])),
    # Owner A's own school with B's contact id.
    ("request", "get", lambda a, b: reverse("portal:request", args=[a.slug, b["contact"].pk])),
    ("request", "post", lambda a, b: reverse("portal:request", args=[a.slug, b["contact"].pk])),
    ("requests", "get", lambda a, b: reverse("portal:requests") + f"?school={b['school'].slug}"),
    ("withdraw", "post", lambda a, b: reverse("portal:withdraw", args=[b["request"].pk])),
    ("list_check", "get", lambda a, b: reverse("portal:list_check", args=[b["school"].slug])),
    ("list_check", "post", lambda a, b: reverse("portal:list_check", args=[b["school"].slug])),
    # Owner A's own school with B's check id.
    ("list_check_detail", "get", lambda a, b: reverse("portal:list_check_detail", args=[a.slug, b["list_check"].pk])),
    ("list_check_status", "get", lambda a, b: reverse("portal:list_check_status", args=[a.slug, b["list_check"].pk])),
    ("list_check_report", "get", lambda a, b: reverse("portal:list_check_report", args=[a.slug, b["list_check"].pk])),
]


@pytest.mark.parametrize(("name", "method", "url"), ISOLATION)
def test_another_schools_ids_are_404_and_change_nothing(
    owner_a: User, school_a: School, foreign: dict[str, Any], name: str, method: str, url: Any
) -> None:
    before = (AuditEvent.objects.count(), ReinstatementRequest.objects.filter(status="pending").count())
    client = client_for(owner_a)
    data = {"what_changed": "other", "reason": REASON} if method == "post" else None
    response = getattr(client, method)(url(school_a, foreign), data)
    assert response.status_code == 404
    assert "b-secret@example.org" not in response.content.decode()
    assert (AuditEvent.objects.count(), ReinstatementRequest.objects.filter(status="pending").count()) == before


def test_the_isolation_matrix_covers_every_portal_url() -> None:
    names = {p.name for p in portal_urls.urlpatterns if isinstance(p, URLPattern)}
    covered = {name for name, _method, _url in ISOLATION}
    assert names - {"index"} == covered  # the index takes no id


def test_nothing_of_another_school_shows_on_owner_as_pages(
    owner_a: User, school_a: School, anna: Contact, foreign: dict[str, Any]
) -> None:
    client = client_for(owner_a)
    for url in ("/portal/schools/school-a/", blocked_url(school_a), "/portal/requests/", request_url(school_a, anna)):
        html = html_of(client, url)
        assert "b-secret@example.org" not in html and "Szkoła B" not in html


# --- CSRF ----------------------------------------------------------------------------------


def test_every_portal_form_needs_the_csrf_token(owner_a: User, school_a: School, anna: Contact) -> None:
    request = submit(owner_a, school_a, anna.email)
    other = blocked_contact(school_a, "other@example.org")
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner_a)
    posts = [
        (request_url(school_a, other), {"what_changed": "other", "reason": REASON}),
        (f"/portal/requests/{request.pk}/withdraw/", {}),
        ("/i18n/setlang/", {"language": "pl"}),
        ("/accounts/logout/", {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    request.refresh_from_db()
    assert request.status == "pending" and ReinstatementRequest.objects.count() == 1
    # The pages carry the token in every form.
    for url in (request_url(school_a, other), "/portal/requests/"):
        html = client.get(url).content.decode()
        assert html.count("<form") == html.count('name="csrfmiddlewaretoken"')
    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.post("/accounts/login/", {"username": "owner-a", "password": "demo"}).status_code == 403
    assert anonymous.post("/accounts/password_reset/", {"email": "x@example.org"}).status_code == 403


# --- the page read agrees with the service ---------------------------------------------------


def test_the_page_eligibility_agrees_with_the_single_one(
    owner_a: User, school_a: School, support: User, settings: Any
) -> None:
    blocked_contact(school_a, "free@example.org")
    blocked_contact(school_a, "pending@example.org")
    blocked_contact(school_a, "failed@example.org")
    ContactFactory(school=school_a, email="fine@example.org")
    blocked_contact(School.objects.create(name="Else", slug="else"), "stranger@example.org")
    submit(owner_a, school_a, "pending@example.org")
    approved = submit(owner_a, school_a, "failed@example.org")
    flow.approve_reinstatement_request(request=approved, acting_user=support, note="ok")
    blocked_contact(school_a, "failed@example.org", days_ago=0)
    emails = [
        "free@example.org",
        "pending@example.org",
        "failed@example.org",
        "fine@example.org",
        "stranger@example.org",
    ]
    for limit in (20, 2):
        settings.DELIVERABILITY = {**settings.DELIVERABILITY, "REQUEST_DAILY_LIMIT": limit}
        many = flow.request_eligibilities(school=school_a, emails=emails)
        for email in emails:
            one = flow.request_eligibility(school=school_a, email=email)
            assert (many[email].allowed, many[email].why_not) == (one.allowed, one.why_not), email
            assert [s.pk for s in many[email].suppressions] == [s.pk for s in one.suppressions]
        assert many["free@example.org"].allowed is (limit == 20)
