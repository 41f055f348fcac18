"""`ingest_bounces`: files, folders, Maildirs and mboxes in; one event per recipient recorded
through `record_bounce`, idempotently; `--json` lines, the summary and the exit codes of
DESIGN.md ("Interfaces that others rely on")."""

from __future__ import annotations

import io
import json
import mailbox
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from deliverability import ingest
from deliverability.ingest import JSON_KEYS
from deliverability.models import AuditEvent, BounceEvent, School, Suppression, SuppressionChange
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[1]
SENT_AT = datetime(2025, 11, 20, 10, 0, tzinfo=UTC)
UNKNOWN_USER = "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table"


def dsn(
    *recipients: tuple[str, str, str],
    message_id: str | None = "<bounce-1@mx.example.net>",
    original_id: str = "<orig-1@platform.test>",
    x_school: str | None = None,
    return_path: str | None = None,
    date: str | None = "Thu, 20 Nov 2025 10:00:00 +0000",
    note: str = "Delivery to the following recipients failed.",
) -> bytes:
    """An RFC 3464 report as Postfix writes it: (recipient, status, diagnostic) per recipient."""
    if not recipients:
        recipients = (("anna@example.com", "5.1.1", UNKNOWN_USER.format(rcpt="anna@example.com")),)
    head = [
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>",
        "To: bounces@platform.test",
        "Subject: Undelivered Mail Returned to Sender",
        *([f"Date: {date}"] if date else []),
        *([f"Message-ID: {message_id}"] if message_id else []),
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"',
    ]
    body = ["--B", "Content-Type: text/plain", "", note, "", "--B", "Content-Type: message/delivery-status", ""]
    body += ["Reporting-MTA: dns; mx.example.net", ""]
    for rcpt, status, diagnostic in recipients:
        body += [
            f"Final-Recipient: rfc822; {rcpt}",
            "Action: failed",
            f"Status: {status}",
            "Remote-MTA: dns; mx.example.com",
            f"Diagnostic-Code: smtp; {diagnostic}",
            "",
        ]
    body += ["--B", "Content-Type: text/rfc822-headers", "", "From: news@platform.test", f"Message-ID: {original_id}"]
    body += [f"X-School: {x_school}"] if x_school else []
    body += [f"Return-Path: <{return_path}>"] if return_path else []
    body += ["Subject: Our November newsletter", "", "--B--", ""]
    return "\r\n".join([*head, "", *body]).encode()


def hard(rcpt: str) -> tuple[str, str, str]:
    return rcpt, "5.1.1", UNKNOWN_USER.format(rcpt=rcpt)


def full(rcpt: str) -> tuple[str, str, str]:
    return rcpt, "4.2.2", f"452 4.2.2 <{rcpt}>: Mailbox full"


NOT_A_BOUNCE = (
    b"From: Anna <anna@example.com>\r\nTo: school@platform.test\r\nSubject: Question about the course\r\n"
    b"Date: Thu, 20 Nov 2025 10:00:00 +0000\r\nMessage-ID: <q-1@example.com>\r\n\r\nWhen does it start?\r\n"
)


@dataclass
class Run:
    lines: list[dict[str, Any]]
    stdout: str
    stderr: str


def ingest_bounces(*args: str | Path, tty: bool = False) -> Run:
    stdout, stderr = io.StringIO(), (_TtyIO() if tty else io.StringIO())
    call_command("ingest_bounces", *map(str, args), stdout=stdout, stderr=stderr)
    out = stdout.getvalue()
    lines = [json.loads(line) for line in out.splitlines()] if "--json" in args else []
    return Run(lines=lines, stdout=out, stderr=stderr.getvalue())


class _TtyIO(io.StringIO):
    def isatty(self) -> bool:
        return True


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def mbox_of(path: Path, *messages: bytes) -> Path:
    box = mailbox.mbox(path)
    for message in messages:
        box.add(message)
    box.close()
    return path


def raw(event: BounceEvent) -> dict[str, Any]:
    assert isinstance(event.raw, dict)
    return event.raw


def emails() -> list[str | None]:
    return sorted(BounceEvent.objects.values_list("email", flat=True), key=lambda email: email or "")


def db_state() -> tuple[int, int, int, int]:
    return (
        BounceEvent.objects.count(),
        Suppression.objects.count(),
        SuppressionChange.objects.count(),
        AuditEvent.objects.count(),
    )


# --- one message, the --json line, the recorded event -------------------------------------------


def test_a_bounce_message_records_one_event_per_recipient_and_prints_its_json_line(tmp_path: Path) -> None:
    eml = write(tmp_path / "b.eml", dsn(hard("Anna@Example.com"), full("piotr@example.com")))

    run = ingest_bounces(eml, "--json")

    assert [tuple(line) for line in run.lines] == [JSON_KEYS, JSON_KEYS]
    assert run.lines[0] == {
        "file": str(eml),
        "email": "anna@example.com",
        "type": "hard",
        "action": "failed",
        "reason": "mailbox_not_found",
        "sender_side": False,
        "status": "5.1.1",
        "smtp_code": 550,
        "diagnostic": UNKNOWN_USER.format(rcpt="Anna@Example.com"),
        "occurred_at": "2025-11-20T10:00:00+00:00",
    }
    assert (run.lines[1]["email"], run.lines[1]["type"], run.lines[1]["reason"]) == (
        "piotr@example.com",
        "soft",
        "mailbox_full",
    )
    anna = BounceEvent.objects.get(email="anna@example.com")
    assert (anna.source, anna.type, anna.reason, anna.action, anna.occurred_at) == (
        "dsn",
        "hard",
        "mailbox_not_found",
        "failed",
        SENT_AT,
    )
    assert (anna.message_id, anna.remote_mta, anna.smtp_code, anna.status) == (
        "orig-1@platform.test",
        "mx.example.com",
        550,
        "5.1.1",
    )
    assert anna.school is None
    assert raw(anna)["parser"] == "rfc3464" and raw(anna)["file"] == str(eml)
    assert raw(anna)["recipient"]["address"] == "Anna@Example.com"
    assert raw(anna)["message_head"].startswith("From: Mail Delivery System")
    # the policy ran: a dead address is suppressed on the whole platform
    assert Suppression.objects.active().filter(email="anna@example.com", school=None).exists()
    assert "recipients: 2 (recorded 2, duplicates (already recorded) 0; without an address 0)" in run.stderr
    assert "hard       mailbox_not_found        1" in run.stderr
    assert "soft       mailbox_full             1" in run.stderr
    assert "unparseable: 0" in run.stderr


def test_without_json_stdout_stays_empty_and_the_summary_goes_to_stderr(tmp_path: Path) -> None:
    run = ingest_bounces(write(tmp_path / "b.eml", dsn()))
    assert run.stdout == ""
    assert run.stderr.startswith("ingest_bounces: 1 messages from 1 files in ")
    assert BounceEvent.objects.count() == 1


def test_a_message_without_recipients_gives_one_not_bounce_line_and_records_nothing(tmp_path: Path) -> None:
    eml = write(tmp_path / "question.eml", NOT_A_BOUNCE)
    run = ingest_bounces(eml, "--json")
    assert run.lines == [
        {
            "file": str(eml),
            "email": None,
            "type": "not_bounce",
            "action": None,
            "reason": None,
            "sender_side": None,
            "status": None,
            "smtp_code": None,
            "diagnostic": None,
            "occurred_at": None,
        }
    ]
    assert BounceEvent.objects.count() == 0
    assert "messages by kind: not_bounce 1" in run.stderr


def test_a_hidden_or_invalid_address_is_recorded_without_an_email(tmp_path: Path) -> None:
    eml = write(tmp_path / "b.eml", dsn(hard("root@localhost")))
    run = ingest_bounces(eml, "--json")
    assert [(line["email"], line["reason"]) for line in run.lines] == [(None, "mailbox_not_found")]
    (event,) = BounceEvent.objects.all()
    assert event.email is None and raw(event)["recipient"]["address"] == "root@localhost"
    assert Suppression.objects.count() == 0  # an event without an address suppresses nothing
    assert "without an address 1" in run.stderr


def test_a_message_without_a_date_is_stored_at_ingestion_time_and_says_so(tmp_path: Path) -> None:
    eml = write(tmp_path / "b.eml", dsn(date=None))
    before = timezone.now()
    run = ingest_bounces(eml, "--json")
    assert run.lines[0]["occurred_at"] is None
    (event,) = BounceEvent.objects.all()
    assert before <= event.occurred_at <= timezone.now()
    assert raw(event)["occurred_at_from"] == "ingestion time"


def test_the_same_address_twice_in_one_message_records_both_results(tmp_path: Path) -> None:
    eml = write(tmp_path / "b.eml", dsn(full("anna@example.com"), hard("ANNA@example.com")))
    ingest_bounces(eml)
    assert sorted(BounceEvent.objects.values_list("email", "reason")) == [
        ("anna@example.com", "mailbox_full"),
        ("anna@example.com", "mailbox_not_found"),
    ]
    ingest_bounces(eml)
    assert BounceEvent.objects.count() == 2


def test_the_raw_payload_keeps_the_head_of_a_large_message_only(tmp_path: Path) -> None:
    eml = write(tmp_path / "b.eml", dsn(note="x" * 2_000_000))
    ingest_bounces(eml)
    (event,) = BounceEvent.objects.all()
    assert len(raw(event)["message_head"]) == ingest.RAW_HEAD_BYTES
    assert raw(event)["message_size"] == len(eml.read_bytes())


# --- files, folders, Maildirs, mboxes ---------------------------------------------------------


def test_a_folder_is_walked_in_name_order_recursively_skipping_hidden_entries(tmp_path: Path) -> None:
    folder = tmp_path / "bounces"
    write(folder / "b.eml", dsn(hard("b@example.com"), message_id="<b@mx>"))
    write(folder / "a.eml", dsn(hard("a@example.com"), message_id="<a@mx>"))
    write(folder / "2025" / "11" / "c.msg", dsn(hard("c@example.com"), message_id="<c@mx>"))
    write(folder / ".hidden.eml", dsn(hard("hidden@example.com"), message_id="<h@mx>"))
    write(folder / ".trash" / "d.eml", dsn(hard("trash@example.com"), message_id="<d@mx>"))

    run = ingest_bounces(folder, "--json")

    assert [(line["file"], line["email"]) for line in run.lines] == [
        (str(folder / "2025" / "11" / "c.msg"), "c@example.com"),
        (str(folder / "a.eml"), "a@example.com"),
        (str(folder / "b.eml"), "b@example.com"),
    ]
    assert emails() == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
    ]
    assert "3 messages from 3 files" in run.stderr


def test_a_maildir_reads_new_and_cur_but_not_tmp(tmp_path: Path) -> None:
    maildir = tmp_path / "Maildir"
    write(maildir / "new" / "1700000001.M1P1.host", dsn(hard("new@example.com"), message_id="<n@mx>"))
    write(maildir / "cur" / "1700000000.M1P1.host:2,S", dsn(hard("cur@example.com"), message_id="<c@mx>"))
    write(maildir / "tmp" / "1700000002.M1P1.host", dsn(hard("tmp@example.com"), message_id="<t@mx>"))
    write(maildir / ".Archive" / "cur" / "1.host:2,S", dsn(hard("archive@example.com"), message_id="<a@mx>"))

    run = ingest_bounces(maildir, "--json")

    assert [line["email"] for line in run.lines] == ["new@example.com", "cur@example.com"]
    assert emails() == ["cur@example.com", "new@example.com"]


def test_an_mbox_is_split_and_each_message_is_labelled_with_its_number(tmp_path: Path) -> None:
    box = mbox_of(
        tmp_path / "bounces.mbox",
        dsn(hard("one@example.com"), message_id="<1@mx>"),
        NOT_A_BOUNCE,
        dsn(hard("three@example.com"), full("four@example.com"), message_id="<3@mx>"),
    )

    run = ingest_bounces(box, "--json")

    assert [(line["file"], line["email"], line["type"]) for line in run.lines] == [
        (f"{box}:1", "one@example.com", "hard"),
        (f"{box}:2", None, "not_bounce"),
        (f"{box}:3", "three@example.com", "hard"),
        (f"{box}:3", "four@example.com", "soft"),
    ]
    assert BounceEvent.objects.count() == 3
    assert "3 messages from 1 files" in run.stderr
    assert raw(BounceEvent.objects.get(email="four@example.com"))["file"] == f"{box}:3"


def test_an_mbox_without_an_mbox_name_is_recognised_by_its_leading_from_line(tmp_path: Path) -> None:
    box = mbox_of(tmp_path / "inbox", dsn(hard("one@example.com"), message_id="<1@mx>"), NOT_A_BOUNCE)
    run = ingest_bounces(box, "--json")
    assert [line["file"] for line in run.lines] == [f"{box}:1", f"{box}:2"]


# --- idempotency -------------------------------------------------------------------------------


def test_a_second_run_records_nothing_and_counts_duplicates(tmp_path: Path) -> None:
    folder = tmp_path / "bounces"
    write(folder / "a.eml", dsn(hard("a@example.com"), full("b@example.com"), message_id="<a@mx>"))
    write(folder / "b.eml", dsn(hard("root@localhost"), message_id=None))  # address-less, no Message-ID
    ingest_bounces(folder)
    state = db_state()

    run = ingest_bounces(folder)

    assert db_state() == state
    assert "recipients: 3 (recorded 0, duplicates (already recorded) 3; without an address 1)" in run.stderr
    assert "suppressions created or widened: 0" in run.stderr


def test_the_same_message_as_a_file_and_inside_an_mbox_records_once(tmp_path: Path) -> None:
    message = dsn(hard("anna@example.com"))
    ingest_bounces(write(tmp_path / "a.eml", message))
    copy_with_transport_headers = b"Delivered-To: bounces@platform.test\r\nReceived: from mx\r\n" + message
    run = ingest_bounces(mbox_of(tmp_path / "all.mbox", copy_with_transport_headers))
    assert BounceEvent.objects.count() == 1
    assert "duplicates (already recorded) 1" in run.stderr


def test_messages_without_a_message_id_are_told_apart_by_their_content(tmp_path: Path) -> None:
    # Same parse (recipient, classification, date), different messages: both are recorded.
    write(tmp_path / "1.eml", dsn(message_id=None, note="First attempt."))
    write(tmp_path / "2.eml", dsn(message_id=None, note="Second attempt."))
    ingest_bounces(tmp_path)
    assert BounceEvent.objects.count() == 2
    assert all(key.startswith("sha256:") for key in BounceEvent.objects.values_list("source_event_id", flat=True))


def test_two_different_messages_sharing_a_message_id_are_both_recorded(tmp_path: Path) -> None:
    write(tmp_path / "1.eml", dsn(note="Your message could not be delivered."))
    write(tmp_path / "2.eml", dsn(full("anna@example.com"), note="Mailbox over quota."))
    ingest_bounces(tmp_path)
    assert sorted(BounceEvent.objects.values_list("reason", flat=True)) == ["mailbox_full", "mailbox_not_found"]


# --- --dry-run -----------------------------------------------------------------------------------


def test_dry_run_prints_the_lines_and_changes_nothing(tmp_path: Path) -> None:
    eml = write(tmp_path / "a.eml", dsn(hard("a@example.com"), full("b@example.com")))
    state = db_state()

    run = ingest_bounces(eml, "--dry-run", "--json")

    assert db_state() == state == (0, 0, 0, 0)
    assert [line["email"] for line in run.lines] == ["a@example.com", "b@example.com"]
    assert "(dry run: nothing recorded)" in run.stderr
    assert "would record 2, already recorded 0" in run.stderr


def test_dry_run_after_a_real_run_reports_what_is_already_recorded(tmp_path: Path) -> None:
    recorded = write(tmp_path / "a.eml", dsn(hard("a@example.com"), message_id="<a@mx>"))
    ingest_bounces(recorded)
    write(tmp_path / "b.eml", dsn(hard("b@example.com"), message_id="<b@mx>"))
    state = db_state()
    run = ingest_bounces(tmp_path, "--dry-run")
    assert db_state() == state
    assert "would record 1, already recorded 1" in run.stderr


# --- which school -------------------------------------------------------------------------------


def test_the_school_comes_from_the_originals_x_school_header(tmp_path: Path, school_a: School) -> None:
    ingest_bounces(write(tmp_path / "a.eml", dsn(x_school="school-a")))
    assert BounceEvent.objects.get().school == school_a


def test_the_school_comes_from_a_verp_return_path(tmp_path: Path, school_b: School) -> None:
    ingest_bounces(write(tmp_path / "a.eml", dsn(return_path="bounces+school-b@platform.test")))
    assert BounceEvent.objects.get().school == school_b


def test_an_unknown_school_slug_records_the_event_without_a_school(tmp_path: Path, school_a: School) -> None:
    ingest_bounces(write(tmp_path / "a.eml", dsn(x_school="no-such-school")))
    event = BounceEvent.objects.get()
    assert event.school is None and raw(event)["school_slug"] == "no-such-school"


def test_school_option_forces_the_school(tmp_path: Path, school_a: School, school_b: School) -> None:
    ingest_bounces(write(tmp_path / "a.eml", dsn(x_school="school-a")), "--school", "school-b")
    assert BounceEvent.objects.get().school == school_b


def test_an_unknown_school_option_is_refused_before_anything_is_read(tmp_path: Path, school_a: School) -> None:
    eml = write(tmp_path / "a.eml", dsn())
    with pytest.raises(CommandError, match="No school has the slug 'nope'") as refused:
        ingest_bounces(eml, "--school", "nope")
    assert refused.value.returncode == 2
    assert db_state() == (0, 0, 0, 0)


# --- hostile input and bad paths -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected_type"),
    [
        (b"", "unparseable"),
        (b"   \r\n\r\n", "unparseable"),
        (bytes(range(256)) * 64, "unparseable"),
        (b"\x00" * 4096, "unparseable"),
        (b"Subject: \xff\xfe bad \xc3\x28\r\nFrom: \x00\x00@\xff\r\n\r\n\xff\xfe\xfd body \x00\r\n", "not_bounce"),
        (dsn(hard("anna@example.com")).replace(b"Delivery", b"\xff\x00Deli\xc3\x28very"), "hard"),
    ],
    ids=["empty", "blank", "binary", "nul-bytes", "invalid-utf8-headers", "nul-and-invalid-utf8-in-a-dsn"],
)
def test_hostile_input_is_reported_never_a_crash(tmp_path: Path, content: bytes, expected_type: str) -> None:
    eml = write(tmp_path / "x.eml", content)
    run = ingest_bounces(eml, "--json")
    (line,) = run.lines
    assert line["file"] == str(eml) and line["type"] == expected_type
    if expected_type == "unparseable":
        assert line["email"] is None and line["diagnostic"]
        assert f"unparseable: 1\n    {eml}: " in run.stderr
        assert BounceEvent.objects.count() == 0


def test_a_file_name_that_is_not_utf8_is_ingested(tmp_path: Path) -> None:
    eml = write(Path(os.fsdecode(os.fsencode(tmp_path) + b"/bounce-\xff.eml")), dsn())
    run = ingest_bounces(eml, "--json")
    assert run.lines[0]["file"] == str(eml) and run.lines[0]["email"] == "anna@example.com"
    assert raw(BounceEvent.objects.get())["file"].endswith("bounce-\\udcff.eml")


def test_one_failing_message_is_rolled_back_reported_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ingest.record_bounce

    def fails_for_b(**kwargs: Any) -> Any:
        if kwargs["email"] == "b@example.com":
            raise RuntimeError("disk on fire")
        return real(**kwargs)

    monkeypatch.setattr(ingest, "record_bounce", fails_for_b)
    write(tmp_path / "1.eml", dsn(hard("a@example.com"), hard("b@example.com"), message_id="<1@mx>"))
    write(tmp_path / "2.eml", dsn(hard("c@example.com"), message_id="<2@mx>"))

    run = ingest_bounces(tmp_path, "--json")

    assert [(line["email"], line["type"]) for line in run.lines] == [(None, "unparseable"), ("c@example.com", "hard")]
    assert run.lines[0]["diagnostic"] == "could not be ingested (RuntimeError: disk on fire)"
    assert "messages by kind: unparseable 1, bounce 1" in run.stderr
    # the whole first message was rolled back, a@ included
    assert list(BounceEvent.objects.values_list("email", flat=True)) == ["c@example.com"]
    assert list(Suppression.objects.values_list("email", flat=True)) == ["c@example.com"]


def test_a_missing_path_is_refused_before_anything_is_recorded(tmp_path: Path) -> None:
    good = write(tmp_path / "a.eml", dsn())
    with pytest.raises(CommandError, match=r"no-such\.eml: no such file or folder") as refused:
        ingest_bounces(good, tmp_path / "no-such.eml")
    assert refused.value.returncode == 2
    assert db_state() == (0, 0, 0, 0)


def test_a_path_that_is_neither_file_nor_folder_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(CommandError, match="not a regular file or folder") as refused:
        ingest_bounces(fifo)
    assert refused.value.returncode == 2


def test_an_unreadable_entry_in_a_folder_is_reported_after_the_rest_is_ingested(tmp_path: Path) -> None:
    write(tmp_path / "a.eml", dsn(hard("a@example.com")))
    (tmp_path / "b.eml").symlink_to(tmp_path / "gone.eml")  # dangling: unreadable for root too
    os.mkfifo(tmp_path / "c.fifo")  # not a message: skipped, never read (it would block)
    stderr = io.StringIO()

    with pytest.raises(CommandError, match="1 path") as refused:
        call_command("ingest_bounces", str(tmp_path), stdout=io.StringIO(), stderr=stderr)

    assert refused.value.returncode == 2
    assert list(BounceEvent.objects.values_list("email", flat=True)) == ["a@example.com"]
    assert f"unreadable: 1\n    {tmp_path / 'b.eml'}: dangling symbolic link" in stderr.getvalue()


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_file_without_read_permission_is_reported_as_unreadable(tmp_path: Path) -> None:
    write(tmp_path / "a.eml", dsn(hard("a@example.com")))
    locked = write(tmp_path / "b.eml", dsn(hard("b@example.com"), message_id="<b@mx>"))
    locked.chmod(0)
    stderr = io.StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("ingest_bounces", str(tmp_path), stdout=io.StringIO(), stderr=stderr)
    assert refused.value.returncode == 2
    assert list(BounceEvent.objects.values_list("email", flat=True)) == ["a@example.com"]
    assert f"{locked}: Permission denied" in stderr.getvalue()


def test_the_exit_status_from_the_shell(tmp_path: Path) -> None:
    """Through manage.py: a message on stderr and exit status 2 for a missing path (no database
    is touched before the paths are checked)."""
    missing = tmp_path / "missing.mbox"
    done = subprocess.run(
        [sys.executable, "manage.py", "ingest_bounces", str(missing)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert f"CommandError: {missing}: no such file or folder" in done.stderr
    assert done.stdout == ""


# --- progress -------------------------------------------------------------------------------------


def test_a_progress_line_is_drawn_only_on_a_terminal(tmp_path: Path) -> None:
    eml = write(tmp_path / "a.eml", dsn())
    assert "\r" not in ingest_bounces(eml).stderr
    BounceEvent.objects.all().delete()
    tty = ingest_bounces(eml, tty=True).stderr
    assert "\r[##############################] 1/1 files, 1 messages, 1 recipients" in tty
    assert tty.index("\r\033[K") < tty.index("ingest_bounces: 1 messages")


# --- the admin shows what was ingested --------------------------------------------------------------


def test_an_ingested_event_shows_on_the_address_timeline_with_its_source(tmp_path: Path, support: User) -> None:
    ingest_bounces(write(tmp_path / "a.eml", dsn(hard("anna@example.com"))))
    response = client_for(support).get("/admin/deliverability/bounceevent/address/", {"email": "anna@example.com"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Bounce message" in html and "rfc3464" in html


# --- the shared corpus --------------------------------------------------------------------------------


def _body(raw: bytes) -> bytes:
    """What stays the same in every copy of a message: the part after the header block."""
    return raw.replace(b"\r\n", b"\n").partition(b"\n\n")[2].rstrip(b"\n")


def _message_bytes(label: str) -> bytes:
    path, _sep, number = label.rpartition(":")
    if number.isdigit() and Path(path).is_file():
        box = mailbox.mbox(path, create=False)
        try:
            return box.get_bytes(list(box.iterkeys())[int(number) - 1])
        finally:
            box.close()
    return Path(label).read_bytes()


def test_the_whole_corpus_is_ingested_without_a_crash_and_a_second_run_records_nothing(corpus_dir: Path) -> None:
    folders = [corpus_dir / "bounces-sisimai" / "eml", corpus_dir / "bounces-sisimai" / "not_bounce"]
    files = sorted(path for folder in folders for path in folder.iterdir())

    first = ingest_bounces(*folders, "--json")

    assert all(tuple(line) == JSON_KEYS for line in first.lines)
    assert {line["file"].rpartition(".eml")[0] + ".eml" for line in first.lines} == {str(f) for f in files}
    assert [line for line in first.lines if line["type"] == "unparseable"] == []
    assert {line["type"] for line in first.lines if "/is-not-bounce-" in line["file"]} == {"not_bounce"}
    # Every recipient of every report is recorded, unless an earlier message of the run is the
    # same message (an identical body: the corpus holds copies filed under two names).
    recorded = set(BounceEvent.objects.values_list("raw__file", "email"))
    seen_bodies: set[bytes] = set()
    for line in first.lines:
        body = _body(_message_bytes(line["file"]))
        if line["type"] != "not_bounce" and (line["file"], line["email"]) not in recorded:
            assert body in seen_bodies, f"{line['file']} ({line['email']}) was not recorded"
        seen_bodies.add(body)
    assert BounceEvent.objects.filter(source="dsn").count() == len(recorded) > 400
    state = db_state()

    second = ingest_bounces(*folders)

    assert db_state() == state
    assert "recorded 0," in second.stderr and "unparseable: 0" in second.stderr
