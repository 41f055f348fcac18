"""Bounce messages from files, folders, Maildirs and mboxes, recorded through `record_bounce`
(the logic of the `ingest_bounces` command; DESIGN.md, "Interfaces that others rely on").

What is read:

- a file given by name is always read: as an mbox when its first line starts with ``From ``
  (the stdlib `mailbox` module splits it; each message is labelled ``path:N``, N from 1),
  else as one message;
- a folder is walked recursively, in name order: every regular file whose name does not start
  with a dot is read as above; a folder holding ``cur/`` and ``new/`` is a Maildir, whose
  messages are the files of ``new/`` and ``cur/`` (``tmp/`` holds deliveries in progress);
  hidden entries (``.Sent`` folders of Maildir++, ``.DS_Store``) and symlinked folders are
  not entered; a dangling symlink or a file that can't be opened is reported as unreadable.

Idempotency: every recipient is recorded with source ``dsn`` and a key of its message (see
`message_key`), so reading the same message twice — again, from another folder, or once as a
file and once inside an mbox — records it once.
"""

from __future__ import annotations

import hashlib
import mailbox
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from deliverability.addresses import InvalidEmail, normalize_email_fast
from deliverability.dsn import MessageKind, ParsedMessage, RecipientResult, parse_message
from deliverability.models import BounceEvent, School
from deliverability.services import record_bounce

SOURCE = "dsn"
# The head of the message kept in each event's raw payload, for the timeline: enough for the
# headers and the human-readable part of a report, never the whole (possibly 20 MB) message.
RAW_HEAD_BYTES = 4096
# Message-IDs longer than this (or not plain ASCII) are hashed in the key: the stored key is
# at most 255 characters and a cut key could make two messages collide.
_MAX_READABLE_ID = 160
_READABLE_ID_RE = re.compile(r"^[\x21-\x7e]+$")
# mboxo quoting (">From " in a body line) differs between an mbox copy and the .eml file.
_MBOX_QUOTED_FROM_RE = re.compile(rb"(?m)^>+(?=From )")
_MBOX_MAGIC = b"From "

# The keys of an `ingest_bounces --json` line, in order (DESIGN.md: exactly these).
JSON_KEYS = (
    "file",
    "email",
    "type",
    "action",
    "reason",
    "sender_side",
    "status",
    "smtp_code",
    "diagnostic",
    "occurred_at",
)

# What became of one line.
RECORDED = "recorded"  # a new event was stored
DUPLICATE = "duplicate"  # the same message was recorded before; nothing changed
WOULD_RECORD = "would_record"  # --dry-run: new, not stored
NOT_RECORDED = "not_recorded"  # a message without recipients: not_bounce or unparseable


class IngestPathError(Exception):
    """A path given on the command line that can't be read as messages (missing, or neither a
    file nor a folder); `str(error)` says which and why."""


@dataclass(frozen=True)
class IngestLine:
    """One recipient of one message, or the one line of a message without recipients.

    The first ten fields are the `--json` line (JSON_KEYS). ``email`` is the normalized address
    that was recorded, None when the report hid it or it is not a valid address (the address as
    found is kept in the event's raw payload). ``occurred_at`` is the report's own time, None when
    the message carries no readable date (the event is then stored with the time of ingestion).
    For an unparseable message ``diagnostic`` says why.
    """

    file: str
    email: str | None
    type: str
    action: str | None = None
    reason: str | None = None
    sender_side: bool | None = None
    status: str | None = None
    smtp_code: int | None = None
    diagnostic: str | None = None
    occurred_at: datetime | None = None
    kind: str = ""  # the message's kind (MessageKind)
    outcome: str = NOT_RECORDED
    suppressed: bool = False  # the event created or widened a suppression
    held: bool = False  # the incident guard held the event

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "email": self.email,
            "type": self.type,
            "action": self.action,
            "reason": self.reason,
            "sender_side": self.sender_side,
            "status": self.status,
            "smtp_code": self.smtp_code,
            "diagnostic": self.diagnostic,
            "occurred_at": self.occurred_at.isoformat() if self.occurred_at is not None else None,
        }


@dataclass
class FoundFiles:
    """The files to read, in order, and the paths met while walking that can't be read."""

    files: list[Path] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, why)


@dataclass
class IngestSummary:
    """Counts over a run, fed one message at a time (`add`)."""

    files: int = 0
    messages: int = 0
    recipients: int = 0
    recorded: int = 0
    duplicates: int = 0
    would_record: int = 0
    without_address: int = 0
    suppressed: int = 0
    held: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    by_type_reason: Counter[tuple[str, str]] = field(default_factory=Counter)
    unparseable: list[tuple[str, str]] = field(default_factory=list)  # (file, error)
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, why)

    def add(self, lines: list[IngestLine]) -> None:
        """Count one message: the lines `ingest_message` returned for it."""
        self.messages += 1
        self.kinds[lines[0].kind] += 1
        for line in lines:
            if line.outcome == NOT_RECORDED:
                if line.type == MessageKind.UNPARSEABLE:
                    self.unparseable.append((line.file, line.diagnostic or ""))
                continue
            self.recipients += 1
            self.by_type_reason[(line.type, line.reason or "")] += 1
            self.without_address += line.email is None
            self.recorded += line.outcome == RECORDED
            self.duplicates += line.outcome == DUPLICATE
            self.would_record += line.outcome == WOULD_RECORD
            self.suppressed += line.suppressed
            self.held += line.held


# --- finding and reading files ---------------------------------------------------------------


def find_message_files(paths: Iterable[str | os.PathLike[str]]) -> FoundFiles:
    """Every file to read under `paths`, in a stable order (see the module docstring).

    Raises IngestPathError, before anything is read, when a given path does not exist or is
    neither a regular file nor a folder. Paths met while walking that can't be read are listed
    in `unreadable`, and the walk goes on.
    """
    given = [Path(p) for p in paths]
    for path in given:
        if not path.exists():
            raise IngestPathError(f"{path}: no such file or folder")
        if not (path.is_file() or path.is_dir()):
            raise IngestPathError(f"{path}: not a regular file or folder")
    found = FoundFiles()
    for path in given:
        if path.is_dir():
            _walk(path, found)
        else:
            found.files.append(path)
    return found


def _is_maildir(folder: Path) -> bool:
    return (folder / "cur").is_dir() and (folder / "new").is_dir()


def _walk(folder: Path, found: FoundFiles) -> None:
    if _is_maildir(folder):
        for sub in ("new", "cur"):
            _walk_entries(folder / sub, found, descend=False)
    else:
        _walk_entries(folder, found, descend=True)


def _walk_entries(folder: Path, found: FoundFiles, *, descend: bool) -> None:
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError as error:
        found.unreadable.append((str(folder), error.strerror or type(error).__name__))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = folder / entry.name
        try:
            if entry.is_dir(follow_symlinks=False):
                if descend:
                    _walk(path, found)
            elif entry.is_file():
                found.files.append(path)
            elif entry.is_symlink():
                found.unreadable.append((str(path), "dangling symbolic link"))
            # sockets, FIFOs and devices are not messages: reading a FIFO would block the run
        except OSError as error:
            found.unreadable.append((str(path), error.strerror or type(error).__name__))


def read_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """The messages of one file as (label, raw bytes): one for a message file, one per message
    labelled ``path:N`` (from 1) for an mbox. Raises OSError when the file can't be read."""
    with path.open("rb") as handle:
        start = handle.read(len(_MBOX_MAGIC))
        if start != _MBOX_MAGIC:
            yield str(path), start + handle.read()
            return
    box = mailbox.mbox(path, create=False)
    try:
        for number, key in enumerate(box.iterkeys(), start=1):
            yield f"{path}:{number}", box.get_bytes(key)
    finally:
        box.close()


# --- one message -------------------------------------------------------------------------------


def _canonical(data: bytes) -> bytes:
    """The bytes of a message as every storage of it agrees on them: LF line ends, mboxo
    ">From " quoting undone, no trailing blank lines."""
    data = data.replace(b"\r\n", b"\n")
    return _MBOX_QUOTED_FROM_RE.sub(b"", data).rstrip(b"\r\n")


def message_key(raw: bytes, message_id: str | None) -> str:
    """The idempotency key of one bounce message (`source_event_id` of its events).

    With a Message-ID: the Message-ID and a hash of the body, so a copy of the message that
    picked up other transport headers (Received, Delivered-To) is the same message, while two
    different messages that happen to share a Message-ID (broken generators; test fixtures) are
    both recorded. Without one: a hash of the whole message. Either way reading the same
    message twice yields the same key, and keys never depend on how the parser reads it (a
    better parser does not re-record old messages).
    """
    canonical = _canonical(raw)
    if not message_id:
        return "sha256:" + hashlib.sha256(canonical).hexdigest()
    _head, _sep, body = canonical.partition(b"\n\n")
    body_digest = hashlib.sha256(body).hexdigest()[:16]
    ident = message_id
    if len(ident) > _MAX_READABLE_ID or not _READABLE_ID_RE.match(ident):
        ident = "sha256:" + hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()
    return f"mid:{ident}/{body_digest}"


def school_for_slug(slug: str | None) -> School | None:
    """The school a message names (X-School, VERP), None when it names none or an unknown one."""
    if not slug:
        return None
    return School.objects.filter(slug__iexact=slug).order_by("pk").first()


def ingest_message(
    raw: bytes,
    *,
    file: str,
    school: School | None = None,
    dry_run: bool = False,
) -> list[IngestLine]:
    """Parse one raw message and record each of its recipients, all in one transaction.

    `school` forces the school of every event; when None, the school the message names is used
    (an unknown slug records the events without a school). With `dry_run` nothing is written;
    each line says whether it would be recorded or is already there.

    Returns one line per recipient, or a single ``not_bounce`` / ``unparseable`` line for a
    message without recipients. Never raises because of the message: anything unexpected rolls
    the message back and comes back as an ``unparseable`` line whose diagnostic names the error.
    Only a database that can't be used (OperationalError, InterfaceError) stops the run.
    """
    try:
        parsed = parse_message(raw)
        kind = parsed.kind.value
        if parsed.kind == MessageKind.UNPARSEABLE:
            return [_message_line(file, kind, MessageKind.UNPARSEABLE, parsed.error or "unreadable message")]
        if not parsed.recipients:
            if parsed.kind == MessageKind.NOT_BOUNCE:
                return [_message_line(file, kind, MessageKind.NOT_BOUNCE, None)]
            # the parser promises a recipient (email None when hidden) for every report
            return [_message_line(file, kind, MessageKind.UNPARSEABLE, f"a {kind} report without recipients")]
        target = school if school is not None else school_for_slug(parsed.school_slug)
        key = message_key(raw, parsed.message_id)
        head = raw[:RAW_HEAD_BYTES].decode("utf-8", "replace")
        with transaction.atomic():
            return _ingest_recipients(
                parsed, raw_size=len(raw), head=head, key=key, file=file, school=target, dry_run=dry_run
            )
    except (OperationalError, InterfaceError):
        raise
    except Exception as error:  # one bad message must never stop a run (the contract)
        return [
            _message_line(
                file,
                MessageKind.UNPARSEABLE,
                MessageKind.UNPARSEABLE,
                f"could not be ingested ({type(error).__name__}: {error})",
            )
        ]


def _message_line(file: str, kind: str, line_type: str, diagnostic: str | None) -> IngestLine:
    return IngestLine(file=file, email=None, type=str(line_type), diagnostic=diagnostic, kind=str(kind))


def _ingest_recipients(
    parsed: ParsedMessage,
    *,
    raw_size: int,
    head: str,
    key: str,
    file: str,
    school: School | None,
    dry_run: bool,
) -> list[IngestLine]:
    lines = []
    seen: Counter[str | None] = Counter()
    for recipient in parsed.recipients:
        email = _usable_address(recipient.email)
        seen[email] += 1
        # Idempotency is per (source, key, email): a second result for the same address (or a
        # second hidden one) in one message gets its own key, the same on every run.
        recipient_key = key if seen[email] == 1 else f"{key}#{seen[email]}"
        lines.append(
            _ingest_recipient(
                parsed,
                recipient,
                email=email,
                key=recipient_key,
                raw_size=raw_size,
                head=head,
                file=file,
                school=school,
                dry_run=dry_run,
            )
        )
    return lines


def _usable_address(address: str | None) -> str | None:
    if address is None:
        return None
    try:
        return normalize_email_fast(address)
    except InvalidEmail:
        return None


def _ingest_recipient(
    parsed: ParsedMessage,
    recipient: RecipientResult,
    *,
    email: str | None,
    key: str,
    raw_size: int,
    head: str,
    file: str,
    school: School | None,
    dry_run: bool,
) -> IngestLine:
    smtp_code = recipient.smtp_code
    if smtp_code is not None and not 200 <= smtp_code <= 599:
        smtp_code = None  # not a reply code; the raw payload keeps what the parser read
    line = IngestLine(
        file=file,
        email=email,
        type=recipient.type,
        action=recipient.action,
        reason=recipient.reason,
        sender_side=recipient.sender_side,
        status=recipient.status,
        smtp_code=smtp_code,
        diagnostic=recipient.diagnostic,
        occurred_at=recipient.occurred_at,
        kind=parsed.kind.value,
    )
    if dry_run:
        return _replace_outcome(line, DUPLICATE if _already_recorded(key, email) else WOULD_RECORD)
    result = record_bounce(
        email=email,
        source=SOURCE,
        source_event_id=key,
        # A message without a readable date is stored at the time of ingestion (the --json line
        # keeps occurred_at null, and the raw payload says so).
        occurred_at=recipient.occurred_at or timezone.now(),
        action=recipient.action,
        event_type=recipient.type,
        reason=recipient.reason,
        sender_side=recipient.sender_side,
        smtp_code=smtp_code,
        status=recipient.status or "",
        diagnostic=recipient.diagnostic,
        remote_mta=recipient.remote_mta or "",
        school=school,
        message_id=parsed.original_message_id or "",
        raw=_raw_payload(parsed, recipient, file=file, raw_size=raw_size, head=head),
    )
    return _replace_outcome(
        line, RECORDED if result.created else DUPLICATE, suppressed=result.suppression is not None, held=result.held
    )


def _replace_outcome(line: IngestLine, outcome: str, *, suppressed: bool = False, held: bool = False) -> IngestLine:
    return replace(line, outcome=outcome, suppressed=suppressed, held=held)


def _already_recorded(key: str, email: str | None) -> bool:
    """What record_bounce would find for (source, key, email) — for --dry-run."""
    events = BounceEvent.objects.filter(source=SOURCE, source_event_id=key)
    events = events.filter(email=email) if email is not None else events.filter(email__isnull=True)
    return events.exists()


def _raw_payload(
    parsed: ParsedMessage, recipient: RecipientResult, *, file: str, raw_size: int, head: str
) -> dict[str, Any]:
    """The event's raw payload: what the parser read and the head of the message, for the
    timeline. The diagnostic is not repeated (the event stores it)."""
    return {
        # a file name that is not UTF-8 comes with surrogate escapes, which no database stores
        "file": file.encode("utf-8", "backslashreplace").decode("utf-8"),
        "parser": parsed.source,
        "kind": parsed.kind.value,
        "message_id": parsed.message_id,
        "original_message_id": parsed.original_message_id,
        "school_slug": parsed.school_slug,
        "recipient": {
            "address": recipient.email,
            "action": recipient.action,
            "type": recipient.type,
            "reason": recipient.reason,
            "sender_side": recipient.sender_side,
            "status": recipient.status,
            "smtp_code": recipient.smtp_code,
            "remote_mta": recipient.remote_mta,
            "feedback_type": recipient.feedback_type,
        },
        "occurred_at_from": "message" if recipient.occurred_at is not None else "ingestion time",
        "message_size": raw_size,
        "message_head": head,
    }
