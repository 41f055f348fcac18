"""The suppressions admin: the list (filters, exact search, the cause in the row, bounded
counts, pinned queries), a lead's manual suppression and lift, CSV export and import — all
through the services, all audited, and every form refusing bad input with nothing changed."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.utils import timezone

from deliverability import services, suppression_csv
from deliverability.admin import scale
from deliverability.models import AuditEvent, School, Suppression, SuppressionChange
from deliverability.services import Actor, record_bounce
from tests.conftest import client_for, is_postgres
from tests.factories import SuppressionFactory

pytestmark = pytest.mark.django_db


LIST = "/admin/deliverability/suppression/"
ADD = "/admin/deliverability/suppression/add/"
IMPORT = "/admin/deliverability/suppression/import/"
EXPORT = "/admin/deliverability/suppression/export/"


def state() -> tuple[list[tuple[Any, ...]], int, int]:
    """Everything a refused request must leave as it was."""
    rows = list(
        Suppression.objects.order_by("id").values_list("email", "school_id", "categories", "reason", "lifted_at")
    )
    return rows, SuppressionChange.objects.count(), AuditEvent.objects.count()


def hard_bounce(email: str, diagnostic: str = "550 5.1.1 user unknown") -> Suppression:
    result = record_bounce(
        email=email,
        source="dsn",
        occurred_at=timezone.now(),
        event_type="hard",
        reason="mailbox_not_found",
        action="failed",
        sender_side=False,
        smtp_code=550,
        status="5.1.1",
        diagnostic=diagnostic,
        source_event_id=f"evt-{email}",
    )
    assert result.suppression is not None
    return result.suppression


def rows_of(html: str) -> int:
    return html.count('class="field-address"')


def errors_beside(html: str, field: str) -> str:
    """The text of the error list rendered beside `field`."""
    return unescape(html.split(f"field-{field}", 1)[1].split("</ul>", 1)[0])


# --- the list ------------------------------------------------------------------------------


def test_the_row_shows_the_address_scope_reason_and_the_causes_diagnostic(support: User) -> None:
    hard_bounce("dead@example.com", diagnostic="550 5.1.1 <dead@example.com>: Recipient address rejected")
    html = client_for(support).get(LIST).content.decode()
    assert "dead@example.com" in html and "platform-wide" in html
    assert "Mailbox not found" in html and "Recipient address rejected" in html
    assert "/admin/deliverability/bounceevent/address/?email=dead%40example.com" in html


def test_search_is_exact_on_the_normalized_address(support: User) -> None:
    SuppressionFactory.create(email="anna@example.com")
    SuppressionFactory.create(email="anna@example.community")
    client = client_for(support)
    html = client.get(LIST, {"q": "  ANNA@Example.com "}).content.decode()
    assert rows_of(html) == 1 and "Open its timeline" in html
    assert rows_of(client.get(LIST, {"q": "anna"}).content.decode()) == 0
    assert "Search takes one exact e-mail address" in client.get(LIST, {"q": "anna"}).content.decode()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"reason__exact": "complaint"}, {"complaint@example.com"}),
        ({"scope": "platform"}, {"dead@example.com", "old@example.com"}),
        ({"scope": "school"}, {"complaint@example.com"}),
        ({"school": "school-a"}, {"complaint@example.com"}),
        ({"school": "-"}, {"dead@example.com", "old@example.com"}),
        ({"school": "no-such-school"}, set()),
        ({"active": "yes"}, {"dead@example.com", "complaint@example.com"}),
        ({"active": "no"}, {"old@example.com"}),
        ({"lifted_at__isnull": "False"}, {"old@example.com"}),
    ],
)
def test_filters(support: User, lead: User, school_a: School, params: dict[str, str], expected: set[str]) -> None:
    SuppressionFactory.create(email="dead@example.com")
    SuppressionFactory.create(
        email="complaint@example.com", school=school_a, reason="complaint", categories="bulk_and_automation"
    )
    old = SuppressionFactory.create(email="old@example.com", created_at=timezone.now() - timedelta(days=400))
    services.lift_suppression(suppression=old, actor=Actor.of(lead), note="ok")
    html = client_for(support).get(LIST, params).content.decode()
    shown = {e for e in ["dead@example.com", "complaint@example.com", "old@example.com"] if f">{e}</a>" in html}
    assert shown == expected


def test_the_created_date_filter(support: User) -> None:
    SuppressionFactory.create(email="new@example.com")
    SuppressionFactory.create(email="old@example.com", created_at=timezone.now() - timedelta(days=400))
    since = (timezone.localtime() - timedelta(days=7)).isoformat()
    html = client_for(support).get(LIST, {"created_at__gte": since}).content.decode()
    assert ">new@example.com</a>" in html and ">old@example.com</a>" not in html


# Session, user, permissions (2), the bounded count, the page's rows (school and the cause's
# diagnostic joined in).
LIST_QUERIES = 6


@pytest.mark.parametrize("n", [1, 60])
def test_the_list_costs_the_same_queries_for_1_or_60_rows(
    support: User, school_a: School, n: int, django_assert_num_queries: Any
) -> None:
    for i in range(n):
        hard_bounce(f"user{i}@example{i}.com")  # one domain each: no incident
    Suppression.objects.filter(email="user0@example0.com").update(school=school_a)
    client = client_for(support)
    client.get(LIST)
    with django_assert_num_queries(LIST_QUERIES):
        response = client.get(LIST)
    assert rows_of(response.content.decode()) == n
    with django_assert_num_queries(LIST_QUERIES):
        client.get(LIST, {"active": "yes", "school": "school-a", "q": "user0@example0.com"})


def test_past_the_cap_the_count_is_estimated_or_bounded(support: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scale, "COUNT_CAP", 5)
    for i in range(8):
        SuppressionFactory.create(email=f"s{i}@example.com")
    if is_postgres():  # the estimate is the planner's: give it statistics
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE deliverability_suppression")
    client = client_for(support)
    assert "about 8" in client.get(LIST).content.decode()  # unfiltered: the estimate
    assert "more than 5" in client.get(LIST, {"active": "yes"}).content.decode()  # filtered: bounded
    assert "about" not in client.get(LIST, {"q": "s1@example.com"}).content.decode()


def test_only_indexed_columns_sort(support: User) -> None:
    SuppressionFactory.create()
    html = client_for(support).get(LIST).content.decode()
    assert html.count('class="sortable') == 1  # created_at only


def test_agents_view_but_cannot_add_change_or_delete(support: User) -> None:
    suppression = SuppressionFactory.create(note="Left by a lead")
    client = client_for(support)
    html = client.get(f"{LIST}{suppression.pk}/change/").content.decode()
    assert "Left by a lead" in html and 'name="note"' not in html  # shown, not editable
    assert client.get(ADD).status_code == 403
    assert client.get(f"{LIST}{suppression.pk}/delete/").status_code == 403
    assert client.get(f"{LIST}{suppression.pk}/lift/").status_code == 403


# --- manual suppression --------------------------------------------------------------------


def test_a_lead_suppresses_an_address_by_hand(lead: User, school_a: School) -> None:
    response = client_for(lead).post(
        ADD,
        {
            "email": " Spam.Trap@Example.COM ",
            "school": school_a.pk,
            "categories": "all",
            "reason": "manual",
            "note": "Known spam trap, reported by the school",
        },
    )
    assert response.status_code == 302
    (suppression,) = Suppression.objects.all()
    assert (suppression.email, suppression.school, suppression.reason, suppression.created_by) == (
        "spam.trap@example.com",
        school_a,
        "manual",
        lead,
    )
    assert suppression.note == "Known spam trap, reported by the school"
    assert list(AuditEvent.objects.values_list("action", "actor")) == [("suppression.created", lead.pk)]
    assert SuppressionChange.objects.get().change == "suppressed"


MANUAL_OK = {"email": "x@example.com", "school": "", "categories": "all", "reason": "manual", "note": "why"}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"email": ""}, "email", "This field is required."),
        ({"email": "not-an-address"}, "email", "Not a valid address"),
        ({"email": "a" * 400 + "@example.com"}, "email", "Ensure this value has at most 320 characters"),
        ({"email": "a" * 250 + "@example.com"}, "email", "too long"),
        ({"email": "x\x00y@example.com"}, "email", "Null characters are not allowed."),
        ({"note": ""}, "note", "This field is required."),
        ({"note": "   "}, "note", "This field is required."),
        ({"note": "n" * 2001}, "note", "at most 2000 characters"),
        ({"note": "bad\x00note"}, "note", "Null characters are not allowed."),
        ({"school": "999999"}, "school", "Select a valid choice."),
        ({"school": "abc"}, "school", "Select a valid choice."),
        ({"categories": "everything"}, "categories", "Select a valid choice."),
        ({"reason": "mailbox_not_found"}, "reason", "Select a valid choice."),
    ],
)
def test_manual_suppression_refuses_bad_input_beside_the_field(
    lead: User, changes: dict[str, str], field: str, message: str
) -> None:
    before = state()
    response = client_for(lead).post(ADD, {**MANUAL_OK, **changes})
    assert response.status_code == 200
    html = response.content.decode()
    assert message in errors_beside(html, field)
    assert state() == before


def test_an_agent_cannot_suppress_by_posting_either(support: User) -> None:
    before = state()
    assert client_for(support).post(ADD, MANUAL_OK).status_code == 403
    assert state() == before


# --- lift ----------------------------------------------------------------------------------


def lift_url(suppression: Suppression) -> str:
    return f"{LIST}{suppression.pk}/lift/"


def test_a_lead_lifts_with_a_note(lead: User) -> None:
    suppression = hard_bounce("dead@example.com")
    client = client_for(lead)
    html = client.get(lift_url(suppression)).content.decode()
    assert "550 5.1.1 user unknown" in html  # the cause beside the decision
    seen = suppression.updated_at.isoformat()
    response = client.post(lift_url(suppression), {"note": "The school confirmed a typo fix", "seen": seen})
    assert response.status_code == 302
    suppression.refresh_from_db()
    assert suppression.lifted_by == lead and suppression.lift_note == "The school confirmed a typo fix"
    assert AuditEvent.objects.filter(action="suppression.lifted", actor=lead).count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"note": ""}, "This field is required."),
        ({"note": " \n "}, "This field is required."),
        ({"note": "x" * 2001}, "at most 2000 characters"),
        ({"note": "a\x00b"}, "Null characters are not allowed."),
        ({"note": "ok", "seen": "yesterday"}, "tampered"),
    ],
)
def test_lifting_refuses_bad_input(lead: User, data: dict[str, str], message: str) -> None:
    suppression = hard_bounce("dead@example.com")
    before = state()
    response = client_for(lead).post(lift_url(suppression), data)
    assert response.status_code == 200 and message in response.content.decode()
    assert state() == before


def test_a_lift_decided_on_a_stale_page_is_refused(lead: User) -> None:
    suppression = hard_bounce("dead@example.com")
    seen = suppression.updated_at.isoformat()
    Suppression.objects.filter(pk=suppression.pk).update(updated_at=timezone.now() + timedelta(seconds=1))
    before = state()
    response = client_for(lead).post(lift_url(suppression), {"note": "ok", "seen": seen})
    assert "since you opened it" in response.content.decode()
    assert state() == before


def test_lifting_twice_or_a_missing_one(lead: User) -> None:
    suppression = hard_bounce("dead@example.com")
    client = client_for(lead)
    client.post(lift_url(suppression), {"note": "first"})
    before = state()
    response = client.post(lift_url(suppression), {"note": "second"})
    assert "already lifted" in response.content.decode()
    assert client.post(f"{LIST}999999/lift/", {"note": "x"}).status_code == 404
    assert state() == before


# --- export --------------------------------------------------------------------------------


def read_csv(response: Any) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_a_lead_exports_the_filtered_list_as_csv(lead: User, school_a: School) -> None:
    SuppressionFactory.create(email="a@example.com", note='=HYPERLINK("http://evil")')
    SuppressionFactory.create(email="b@example.com", school=school_a, reason="complaint")
    client = client_for(lead)
    response = client.get(EXPORT)
    assert response["Content-Type"].startswith("text/csv")
    rows = read_csv(response)
    assert [r["email"] for r in rows] and {r["email"] for r in rows} == {"a@example.com", "b@example.com"}
    assert {r["school"] for r in rows} == {"", "school-a"}
    assert next(r for r in rows if r["email"] == "a@example.com")["note"].startswith("'=")  # no formula
    assert [r["email"] for r in read_csv(client.get(EXPORT, {"school": "school-a"}))] == ["b@example.com"]
    assert AuditEvent.objects.filter(action="suppressions.exported", actor=lead).count() == 2


def test_export_of_selected_rows_through_the_action(lead: User) -> None:
    kept = SuppressionFactory.create(email="a@example.com")
    SuppressionFactory.create(email="b@example.com")
    response = client_for(lead).post(LIST, {"action": "export_selected", "_selected_action": [kept.pk]})
    assert [r["email"] for r in read_csv(response)] == ["a@example.com"]


def test_agents_cannot_export(support: User) -> None:
    assert client_for(support).get(EXPORT).status_code == 403
    assert AuditEvent.objects.count() == 0


# --- import --------------------------------------------------------------------------------


def upload(client: Client, content: bytes, note: str = "List from the old platform", name: str = "list.csv") -> Any:
    return client.post(IMPORT, {"file": SimpleUploadedFile(name, content, "text/csv"), "note": note})


GOOD_FILE = (
    b"email,school,categories,reason,note\n"
    b"New@Example.com,,all,manual,bounced on the old platform\n"
    b"complaint@example.com,school-a,bulk_and_automation,complaint,\n"
    b"already@example.com,,all,mailbox_not_found,\n"
)


def test_import_previews_then_applies_through_the_services(lead: User, school_a: School) -> None:
    hard_bounce("already@example.com")
    client = client_for(lead)
    before = state()
    response = upload(client, GOOD_FILE)
    html = response.content.decode()
    assert "suppress <strong>2</strong> new addresses" in html and "<strong>1</strong> are already suppressed" in html
    assert state() == before  # a preview writes nothing
    payload = response.context["apply_form"].initial["payload"]
    response = client.post(IMPORT, {"payload": payload, "note": "List from the old platform"})
    assert response.status_code == 302
    created = Suppression.objects.filter(created_via="import").order_by("email")
    assert [(s.email, s.school, s.reason) for s in created] == [
        ("complaint@example.com", school_a, "complaint"),
        ("new@example.com", None, "manual"),
    ]
    assert AuditEvent.objects.filter(action="suppressions.imported", actor=lead).count() == 1
    assert AuditEvent.objects.filter(action="suppression.created", actor=lead).count() == 2


def test_an_exported_file_imports_back_without_its_lifted_rows(lead: User) -> None:
    SuppressionFactory.create(email="active@example.com")
    lifted = SuppressionFactory.create(email="lifted@example.com")
    services.lift_suppression(suppression=lifted, actor=Actor.of(lead), note="ok")
    exported = b"".join(client_for(lead).get(EXPORT).streaming_content)  # type: ignore[attr-defined]
    preview = suppression_csv.parse_import(exported)
    assert [(r.email, r.outcome, r.error) for r in preview.rows if r.email == "active@example.com"] == [
        ("active@example.com", "unchanged", "")
    ]
    assert "lifted in the exported file" in next(r.error for r in preview.rows if r.email == "lifted@example.com")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The submitted file is empty."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "NUL bytes"),
        ("email\nżółw@example.com\n".encode("iso8859_2"), "not UTF-8 text"),
        (b"email\nfoo\x00@example.com\n", "NUL bytes"),
        (b"\n\n", "no header line"),
        (b"address,school\nx@example.com,\n", "no 'email' column"),
        (b"email\n", "a header but no rows"),
        (b"email\n" + b"a@example.com\n" * 1_001, "more than 1,000 rows"),
        (b"email,note\n" + b'x@example.com,"' + b"n" * 200_000 + b'"\n', "not valid CSV"),
        (b"email\n" + b"x" * (2 * 1024 * 1024 + 1), "larger than 2 MB"),
    ],
)
def test_import_refuses_a_bad_file_beside_the_field(lead: User, content: bytes, message: str) -> None:
    before = state()
    response = upload(client_for(lead), content)
    html = response.content.decode()
    assert response.status_code == 200
    assert message in errors_beside(html, "file")
    assert state() == before


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not-an-address,,all,manual", "invalid address"),
        ("x@example.com,school-b,all,manual", "no school with the slug 'school-b'"),
        ("x@example.com,../../etc,all,manual", "no school with the slug"),
        ("x@example.com,,forever,manual", "categories must be one of"),
        ("x@example.com,,all,because", "reason must be one of"),
    ],
)
def test_bad_rows_are_shown_and_skipped(lead: User, school_a: School, line: str, message: str) -> None:
    content = f"email,school,categories,reason\n{line}\nok@example.com,,all,manual\n".encode()
    response = upload(client_for(lead), content)
    preview = response.context["preview"]
    (bad,) = preview.invalid
    assert message in bad.error and bad.line == 2
    assert [r.email for r in preview.valid] == ["ok@example.com"]
    assert message.split("'")[0] in response.content.decode()


def test_duplicate_rows_in_one_file(lead: User) -> None:
    preview = suppression_csv.parse_import(b"email\na@example.com\nA@example.com \n")
    assert preview.rows[1].error == "same address and scope as line 2"


def test_import_needs_a_note(lead: User) -> None:
    before = state()
    response = upload(client_for(lead), GOOD_FILE, note=" ")
    assert "This field is required." in errors_beside(response.content.decode(), "note")
    assert state() == before


@pytest.mark.parametrize("payload", ["", "garbage", "eyJ4IjoxfQ:1t:abc"])
def test_a_tampered_apply_changes_nothing(lead: User, payload: str) -> None:
    before = state()
    response = client_for(lead).post(IMPORT, {"payload": payload, "note": "x"})
    assert response.status_code == 200 and "errornote" in response.content.decode()
    assert state() == before


def test_a_preview_signed_for_another_lead_does_not_apply(lead: User, school_a: School) -> None:
    other = User.objects.create_user("lead2", is_staff=True)
    other.groups.set(lead.groups.all())
    payload = upload(client_for(lead), GOOD_FILE).context["apply_form"].initial["payload"]
    before = state()
    response = client_for(other).post(IMPORT, {"payload": payload, "note": "x"})
    assert "tampered" in response.content.decode()
    assert state() == before


def test_agents_cannot_import(support: User) -> None:
    before = state()
    assert upload(client_for(support), GOOD_FILE).status_code == 403
    assert state() == before
