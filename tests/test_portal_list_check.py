"""The portal's "Check a list before import": upload, the background task (immediate backend,
and once the real database backend with its db_worker), progress, summary, report download,
upload limits and bad files, tenant isolation (another school's check is a 404 on every URL),
anonymous users and CSRF. DNS is a StaticResolver: never the network."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asgiref.local import Local
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.tasks import task_backends
from django.test import Client
from django.urls import URLPattern, reverse
from django.utils import timezone

from deliverability.listcheck import tasks
from deliverability.listcheck.engine import REPORT_ENCODING
from deliverability.listcheck.resolver import DomainStatus, Resolver, StaticResolver
from deliverability.models import ListCheck, ListCheckStatus, School
from deliverability.portal import urls as portal_urls
from deliverability.services import record_bounce
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

IMMEDIATE = "django.tasks.backends.immediate.ImmediateBackend"
DATABASE = "django_tasks_db.DatabaseBackend"

LIST = (
    "email,name\n"
    "anna@example.org,Anna\n"
    "not-an-address,Bob\n"
    "jan@gmial.com,Jan\n"
    "anna@example.org,Anna again\n"
    "x@nosuch.example,X\n"
    "info@example.org,Office\n"
    "blocked@example.org,Blocked\n"
    "ewa@example.org,Ewa\n"
)


def use_task_backend(settings: Any, backend: str) -> None:
    """TASKS is read once into django.tasks.task_backends; Django's test signals don't reset it."""
    settings.TASKS = {"default": {"BACKEND": backend}}
    _forget_task_backends()


def _forget_task_backends() -> None:
    task_backends._settings = None  # type: ignore[attr-defined]
    task_backends.__dict__.pop("settings", None)
    task_backends._connections = Local(False)  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def list_check_setup(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Files under a temporary LIST_CHECK_DIR, tasks run at once, DNS answers from a table."""
    settings.LIST_CHECK_DIR = tmp_path / "listchecks"
    use_task_backend(settings, IMMEDIATE)
    resolver = StaticResolver({"nosuch.example": DomainStatus.NO_DOMAIN})
    monkeypatch.setattr(tasks, "make_resolver", lambda: resolver)
    yield settings.LIST_CHECK_DIR
    _forget_task_backends()  # lazily re-read once the settings fixture restores TASKS


def upload(name: str = "contacts.csv", content: str | bytes = LIST) -> SimpleUploadedFile:
    data = content.encode() if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, content_type="text/csv")


def page_url(school: School) -> str:
    return reverse("portal:list_check", args=[school.slug])


def post_list(client: Client, school: School, file: SimpleUploadedFile | None = None) -> Any:
    return client.post(page_url(school), {"file": file or upload()})


@pytest.fixture
def blocked_address(school_a: School) -> None:
    record_bounce(
        email="blocked@example.org",
        source="api:platform",
        source_event_id="b1",
        occurred_at=timezone.now() - timedelta(days=1),
        event_type="hard",
        reason="mailbox_not_found",
        sender_side=False,
        school=school_a,
        smtp_code=550,
        status="5.1.1",
        diagnostic="550 5.1.1 user unknown",
    )


# --- upload → task → summary -------------------------------------------------------------------


def test_an_upload_is_checked_and_summarised(owner_a: User, school_a: School, blocked_address: None) -> None:
    client = client_for(owner_a)
    response = post_list(client, school_a)
    check = ListCheck.objects.get()
    detail = reverse("portal:list_check_detail", args=[school_a.slug, check.pk])
    assert (response.status_code, response["Location"]) == (302, detail)
    assert (check.school, check.uploaded_by, check.original_name, check.status) == (
        school_a,
        owner_a,
        "contacts.csv",
        ListCheckStatus.DONE,
    )
    assert (check.progress, check.rows_done, check.error) == (1.0, 8, "")
    assert check.result is not None
    assert check.result["counts"] == {
        "invalid": 1,
        "duplicate": 1,
        "suppressed": 1,
        "typo": 1,
        "domain_not_found": 1,
        "disposable": 0,
        "role": 1,
        "ok": 2,
    }
    assert [(r["row"], r["email"], r["verdict"]) for r in check.worst_rows] == [
        (3, "not-an-address", "invalid"),
        (4, "jan@gmial.com", "typo"),
        (6, "x@nosuch.example", "domain_not_found"),
        (8, "blocked@example.org", "suppressed"),
    ]
    assert check.worst_rows[1]["suggestion"] == "jan@gmail.com"
    # The upload is stored under a fresh directory, never under the name the browser sent.
    assert (tasks.list_check_path(check.upload_path)).read_text() == LIST
    assert "contacts" not in check.upload_path

    html = client.get(detail).content.decode()
    assert "Rows by verdict" in html and "Download the full report (CSV)" in html
    assert 'data-verdict="ok">2 (25.0%)' in html and 'data-verdict="invalid">1 (12.5%)' in html
    assert "width: 25.0%" in html and "Likely typo" in html and "<code>jan@gmail.com</code>" in html
    assert html.count('class="worst-row') == 4
    assert "list-check-progress" not in html  # no polling once done

    report = client.get(reverse("portal:list_check_report", args=[school_a.slug, check.pk]))
    assert report.status_code == 200
    assert report["Content-Type"] == "text/csv; charset=utf-8"
    assert report["Content-Disposition"] == 'attachment; filename="contacts-report.csv"'
    text = b"".join(report.streaming_content).decode(REPORT_ENCODING)  # type: ignore[attr-defined]
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["email", "name", "verdict", "detail", "suggestion", "row"]
    assert len(rows) == 9 and rows[2][:3] == ["not-an-address", "Bob", "invalid"]

    listing = client.get(page_url(school_a)).content.decode()
    assert "contacts.csv" in listing and detail in listing and "Done" in listing


def test_the_dashboard_links_to_the_page(owner_a: User, school_a: School) -> None:
    html = client_for(owner_a).get(reverse("portal:dashboard", args=[school_a.slug])).content.decode()
    assert f'href="{page_url(school_a)}"' in html


def test_progress_while_the_check_runs(owner_a: User, school_a: School) -> None:
    check = ListCheck.objects.create(
        school=school_a, original_name="big.csv", upload_path="x/upload", status="running", progress=0.4, rows_done=2000
    )
    client = client_for(owner_a)
    html = client.get(reverse("portal:list_check_detail", args=[school_a.slug, check.pk])).content.decode()
    assert 'value="40"' in html and '<span id="list-check-rows">2000</span> rows checked' in html
    assert "Checking the list…" in html and "Download the full report" not in html
    status = client.get(reverse("portal:list_check_status", args=[school_a.slug, check.pk])).json()
    assert status == {"status": "running", "progress": 0.4, "rows_done": 2000, "finished": False}
    # No report yet: nothing to download.
    assert client.get(reverse("portal:list_check_report", args=[school_a.slug, check.pk])).status_code == 404


def test_a_queued_check_says_it_waits(owner_a: User, school_a: School) -> None:
    check = ListCheck.objects.create(school=school_a, original_name="big.csv", upload_path="x/upload")
    html = client_for(owner_a).get(reverse("portal:list_check_detail", args=[school_a.slug, check.pk])).content
    assert "Waiting for a free worker…" in html.decode()


# --- refused uploads ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "message"),
    [
        (upload("big.csv", "a@example.org\n" * 25), "The file is 350\xa0bytes; the limit is 300\xa0bytes."),
        (upload("empty.csv", b""), "The file is empty."),
        (upload("contacts.xlsx", "a@example.org\n"), "Upload a CSV or text file (.csv, .txt or .tsv)."),
        (upload("photo.csv", bytes(range(32)) * 8), "binary"),
    ],
    ids=["too-big", "empty", "wrong-type", "binary"],
)
def test_a_refused_upload_says_why_beside_the_field_and_changes_nothing(
    owner_a: User, school_a: School, settings: Any, list_check_setup: Path, file: Any, message: str
) -> None:
    settings.LIST_CHECK_MAX_UPLOAD_BYTES = 300
    response = post_list(client_for(owner_a), school_a, file)
    html = response.content.decode()
    assert response.status_code == 200
    errors = html.split('id="id_file_errors"', 1)[1].split("</ul>", 1)[0]
    assert message in errors.replace("&#x27;", "'")
    assert "up to 300\xa0bytes" in html
    assert not ListCheck.objects.exists() and not list_check_setup.exists()


def test_the_upload_form_needs_the_csrf_token(owner_a: User, school_a: School) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner_a)
    assert post_list(client, school_a).status_code == 403
    assert not ListCheck.objects.exists()


# --- failures never leave a check running -------------------------------------------------------


def test_an_unexpected_error_fails_the_check(owner_a: User, school_a: School, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> Resolver:
        raise RuntimeError("resolver exploded")

    monkeypatch.setattr(tasks, "make_resolver", broken)
    client = client_for(owner_a)
    post_list(client, school_a)
    check = ListCheck.objects.get()
    assert (check.status, check.error, check.finished_at is not None) == (ListCheckStatus.FAILED, "", True)
    html = client.get(reverse("portal:list_check_detail", args=[school_a.slug, check.pk])).content.decode()
    assert "The check stopped on an unexpected error." in html and "exploded" not in html


def test_an_unreadable_file_fails_with_the_readers_message(owner_a: User, school_a: School) -> None:
    # A file that passed the form's look at its start, then can't be read (changed on disk here).
    client = client_for(owner_a)
    check = ListCheck.objects.create(school=school_a, original_name="l.csv", upload_path="f/upload")
    tasks.list_check_path("f").mkdir(parents=True)
    tasks.list_check_path("f/upload").write_bytes(bytes(range(256)) * 8)
    tasks.run_list_check.enqueue(check.pk)
    check.refresh_from_db()
    assert check.status == ListCheckStatus.FAILED and "binary" in check.error
    html = client.get(reverse("portal:list_check_detail", args=[school_a.slug, check.pk])).content.decode()
    assert "The check did not finish" in html and "binary" in html


def test_a_check_runs_once(school_a: School) -> None:
    check = ListCheck.objects.create(school=school_a, original_name="l.csv", upload_path="f/upload", status="done")
    tasks.run_list_check.call(check.pk)  # delivered again: no file needed, nothing changes
    check.refresh_from_db()
    assert (check.status, check.started_at) == (ListCheckStatus.DONE, None)


# --- the real backend: queued in the database, run by db_worker --------------------------------


def test_the_database_backend_and_its_worker_run_the_check(
    owner_a: User, school_a: School, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django_tasks_db.management.commands import db_worker
    from django_tasks_db.models import DBTaskResult

    # The worker drops connections that are not in autocommit mode; the test's transaction is
    # one (PostgreSQL would lose it), so the worker keeps its connection here.
    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)

    use_task_backend(settings, DATABASE)
    client = client_for(owner_a)
    post_list(client, school_a)
    check = ListCheck.objects.get()
    assert check.status == ListCheckStatus.QUEUED
    html = client.get(reverse("portal:list_check_detail", args=[school_a.slug, check.pk])).content.decode()
    assert "Waiting for a free worker…" in html
    (queued,) = DBTaskResult.objects.all()
    assert (queued.task_path, queued.args_kwargs) == (
        "deliverability.listcheck.tasks.run_list_check",
        {"args": [check.pk], "kwargs": {}},
    )

    call_command("db_worker", "--batch", "--no-reload", "--no-startup-delay", verbosity=0)

    check.refresh_from_db()
    queued.refresh_from_db()
    assert (check.status, check.rows_done, queued.status) == (ListCheckStatus.DONE, 8, "SUCCESSFUL")


# --- tenant isolation and login ----------------------------------------------------------------


@pytest.fixture
def foreign_check(school_b: School, owner_b: User) -> ListCheck:
    post_list(client_for(owner_b), school_b, upload("b-secret.csv", "b-secret@example.org\n"))
    return ListCheck.objects.get(school=school_b)


# (URL name, how to build a URL owner A must not reach)
ISOLATION = [
    ("list_check", lambda a, b: reverse("portal:list_check", args=[b.school.slug])),
    ("list_check_detail", lambda a, b: reverse("portal:list_check_detail", args=[b.school.slug, b.pk])),
    ("list_check_status", lambda a, b: reverse("portal:list_check_status", args=[b.school.slug, b.pk])),
    ("list_check_report", lambda a, b: reverse("portal:list_check_report", args=[b.school.slug, b.pk])),
    # Owner A's own school with B's check id.
    ("list_check_detail", lambda a, b: reverse("portal:list_check_detail", args=[a.slug, b.pk])),
    ("list_check_status", lambda a, b: reverse("portal:list_check_status", args=[a.slug, b.pk])),
    ("list_check_report", lambda a, b: reverse("portal:list_check_report", args=[a.slug, b.pk])),
]


@pytest.mark.parametrize(("name", "url"), ISOLATION)
def test_another_schools_check_is_404(
    owner_a: User, school_a: School, foreign_check: ListCheck, name: str, url: Any
) -> None:
    client = client_for(owner_a)
    assert foreign_check.status == ListCheckStatus.DONE
    response = client.get(url(school_a, foreign_check))
    assert response.status_code == 404
    assert b"b-secret" not in response.content


def test_posting_to_another_schools_page_is_404_and_changes_nothing(
    owner_a: User, school_a: School, foreign_check: ListCheck
) -> None:
    response = post_list(client_for(owner_a), foreign_check.school)
    assert response.status_code == 404
    assert list(ListCheck.objects.all()) == [foreign_check]


def test_the_isolation_matrix_covers_every_list_check_url() -> None:
    names = {p.name for p in portal_urls.urlpatterns if isinstance(p, URLPattern) and "list_check" in str(p.name)}
    assert names == {name for name, _url in ISOLATION}


@pytest.mark.parametrize(("name", "url"), ISOLATION[:4])
def test_anonymous_users_are_sent_to_the_login(
    anonymous: Client, foreign_check: ListCheck, name: str, url: Any
) -> None:
    target = url(foreign_check.school, foreign_check)
    response = anonymous.get(target)
    assert (response.status_code, response["Location"]) == (302, f"/accounts/login/?next={target}")


def test_the_summary_in_polish(owner_a: User, school_a: School) -> None:
    client = client_for(owner_a)
    post_list(client, school_a)
    check = ListCheck.objects.get()
    url = reverse("portal:list_check_detail", args=[school_a.slug, check.pk])
    html = client.get(url, HTTP_ACCEPT_LANGUAGE="pl").content.decode()
    assert "Sprawdź listę przed importem" in html and "Wiersze według wyniku" in html
    assert "Prawdopodobna literówka" in html and "Nieprawidłowy adres" in html and "Gotowe" in html
