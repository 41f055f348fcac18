"""parse_message: one raw message in, a ParsedMessage (a result per recipient) out, never an exception.

Order of evidence: an RFC 5965 feedback report, an RFC 3464 delivery report (also one nested in a forwarded
message or written out as text), a provider notification (Amazon SES via SNS), a provider complaint
(Microsoft JMRP), then the free-text bounces MTAs write, then RFC 3834 auto-replies; anything else is
not a bounce. Real DSNs also carry Auto-Submitted, so auto-reply headers are looked at only after the
report structures.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.message import Message
from functools import cached_property
from typing import Any

from deliverability import classification
from deliverability.dsn import patterns
from deliverability.dsn.fields import (
    DeliveryReport,
    FieldBlock,
    address_of,
    feedback_fields,
    parse_delivery_report,
    strip_type,
)
from deliverability.dsn.mime import (
    addresses_in_header,
    attached_message,
    content_param,
    content_type,
    first_address,
    header_text,
    header_values,
    is_multipart_with_parts,
    iter_parts,
    load_message,
    parse_date,
    parse_header_block,
    part_text,
    strip_mime_scaffolding,
)
from deliverability.dsn.model import MessageKind, ParsedMessage, RecipientResult
from deliverability.dsn.textbounce import (
    generic_unknown_user,
    line_reply_code,
    mentioned_recipients,
    original_headers_text,
    other_addresses,
    recipient_diagnostics,
    smtp_phase,
    split_original,
    squeeze,
)
from deliverability.taxonomy import Action, Classification, EventType, Reason

_STATUS_PARTS = ("message/delivery-status", "message/global-delivery-status")
_ORIGINAL_PARTS = (
    "message/rfc822",
    "message/global",
    "text/rfc822-headers",
    "message/rfc822-headers",
    "message/global-headers",
    "message/partial",
)
_VERP_RE = re.compile(r"\bbounces\+([A-Za-z0-9][A-Za-z0-9_\-]*)[^@\s]*@", re.IGNORECASE)
_SLUG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
_MAX_NESTING = 3
_REPORT_KINDS = (MessageKind.BOUNCE, MessageKind.COMPLAINT, MessageKind.DELIVERED)
_SES_SENDER_RE = re.compile(r"@sns\.amazonaws\.com|amazonses", re.IGNORECASE)


@dataclass
class _Structure:
    """The parts of a message that matter, found without entering attached messages."""

    report_parts: list[Message] = field(default_factory=list)  # human-readable text/* parts
    status_parts: list[Message] = field(default_factory=list)  # message/delivery-status
    feedback_parts: list[Message] = field(default_factory=list)  # message/feedback-report
    original_parts: list[Message] = field(default_factory=list)  # message/rfc822, text/rfc822-headers, ...
    text_attachments: list[Message] = field(default_factory=list)  # text/* parts sent as attachments


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse one raw message (RFC 5322 bytes, any line ends) into a result per recipient.

    Never raises: a message whose structure can't be read at all comes back as kind ``unparseable``
    with ``error`` saying why.
    """
    if not isinstance(raw, bytes | bytearray):
        return _unparseable("input is not bytes")
    if not bytes(raw).strip():
        return _unparseable("empty message")
    msg = load_message(bytes(raw))
    if msg is None:
        return _unparseable("the MIME parser could not read the message")
    try:
        keys = msg.keys()
    except Exception:
        keys = []
    if not keys:
        return _unparseable("no header fields: this is not an e-mail message")
    try:
        return _parse(msg)
    except RecursionError:
        return _unparseable("the message nests too deeply to be read")
    except Exception as exc:  # the contract is "never raises": one bad message must not stop an ingest run
        return _unparseable(f"the message could not be read ({type(exc).__name__})")


def _unparseable(error: str) -> ParsedMessage:
    return ParsedMessage(kind=MessageKind.UNPARSEABLE, error=error, source="none")


def _parse(msg: Message, depth: int = 0) -> ParsedMessage:
    structure = _scan(msg)
    context = _Context.of(msg, structure)

    if structure.feedback_parts or _report_type(msg) == "feedback-report":
        return _parse_feedback(msg, structure, context)

    if structure.status_parts:
        result = _parse_delivery_status(structure.status_parts, context, source="rfc3464")
        if result is not None:
            return result

    # a report forwarded, or re-wrapped by a gateway, as an attached or inline message
    if depth < _MAX_NESTING:
        for inner in _embedded_reports(structure, context):
            result = _parse(inner, depth + 1)
            if result.kind in _REPORT_KINDS and result.recipients:
                return replace(result, message_id=context.message_id, source=f"{result.source}-nested")

    ses = _parse_ses_notification(context)
    if ses is not None:
        return ses

    jmrp = _parse_microsoft_complaint(context)
    if jmrp is not None:
        return jmrp

    # a delivery report written out as text (broken MIME boundaries, quoted or gateway-rewritten DSNs)
    if context.report_text and _looks_like_report_sender(context):
        report = parse_delivery_report(context.report_text)
        if any(block.has_address_field for block in report.recipients):
            result = _results_from_report(report, context, source="rfc3464-text")
            if result is not None:
                return result

    if _is_text_bounce(context):
        return _parse_text_bounce(context)

    if _is_unsubscribe_request(msg):
        return _unsubscribe_request(msg, context)

    if _is_auto_reply(msg, context):
        return _auto_reply(msg, context)

    if _is_weak_text_bounce(context):
        return _parse_text_bounce(context, source="text-weak")

    return ParsedMessage(
        kind=MessageKind.NOT_BOUNCE,
        message_id=context.message_id,
        original_message_id=None,
        school_slug=None,
        source="not-bounce",
    )


# -- structure -----------------------------------------------------------------------------------------


def _scan(msg: Message) -> _Structure:
    structure = _Structure()
    for part, _depth in iter_parts(msg):
        ctype = content_type(part)
        if ctype in _STATUS_PARTS:
            structure.status_parts.append(part)
        elif ctype == "message/feedback-report":
            structure.feedback_parts.append(part)
        elif ctype in _ORIGINAL_PARTS:
            structure.original_parts.append(part)
        elif ctype.startswith("multipart/") and not is_multipart_with_parts(part):
            # a multipart whose boundary is missing or wrong: its body is all the text there is
            structure.report_parts.append(part)
        elif ctype.startswith(("multipart/", "message/")):
            continue
        elif ctype in ("text/plain", "text/html", "text/enriched") or ctype.startswith("text/"):
            if _is_attachment(part) and part is not msg:
                structure.text_attachments.append(part)
            else:
                structure.report_parts.append(part)
    return structure


def _is_attachment(part: Message) -> bool:
    try:
        disposition = (part.get("Content-Disposition") or "").lower()
    except Exception:
        return False
    return disposition.startswith("attachment")


def _embedded_reports(structure: _Structure, context: _Context) -> Iterable[Message]:
    """Attached or inline messages that are themselves delivery or feedback reports."""
    for part in structure.original_parts:
        if content_type(part) in ("message/rfc822", "message/global"):
            inner = attached_message(part)
            if inner is not None and _is_report_message(inner):
                yield inner
    if context.rest_text:
        head = parse_header_block(original_headers_text(context.rest_text))
        if head is not None and _is_report_message(head):
            start = context.rest_text.find(original_headers_text(context.rest_text).split("\n", 1)[0])
            inner = load_message(context.rest_text[max(start, 0) :].encode("utf-8", errors="surrogateescape"))
            if inner is not None:
                yield inner


def _is_report_message(msg: Message) -> bool:
    return bool(
        _report_type(msg) in ("delivery-status", "feedback-report")
        or msg.get("X-Failed-Recipients")
        or patterns.BOUNCE_SENDER_RE.search(header_text(msg, "From"))
    )


def _report_type(msg: Message) -> str:
    return content_param(msg, "report-type") if content_type(msg) == "multipart/report" else ""


@dataclass
class _Context:
    """What every branch needs: the report's own headers, its text, and the returned original."""

    msg: Message
    message_id: str | None
    date: datetime | None
    subject: str
    from_header: str
    report_text: str  # human-readable text of the report, up to where the returned original starts
    rest_text: str | None  # the text from there on (an inline returned original), if any
    original: Message | None

    @cached_property
    def excluded(self) -> set[str]:
        """Our own addresses (the sender, the report's recipient): never a failed recipient."""
        found = {
            a.lower()
            for name in ("From", "To", "Cc", "Reply-To", "Sender", "Return-Path", "Delivered-To")
            for a in addresses_in_header(self.msg, name)
        }
        if self.original is not None:
            found |= {
                a.lower()
                for name in ("From", "Sender", "Return-Path", "Reply-To", "X-Sender", "Errors-To")
                for a in addresses_in_header(self.original, name)
            }
        return found

    @cached_property
    def report_squeezed(self) -> str:
        return squeeze(self.report_text)

    @cached_property
    def filter_gateway(self) -> bool:
        """Whether a content-filtering gateway wrote this report (patterns.FILTER_GATEWAY_HEADERS)."""
        return any(
            pattern.search(value)
            for name, pattern in patterns.FILTER_GATEWAY_HEADERS
            for value in header_values(self.msg, name)
        )

    @classmethod
    def of(cls, msg: Message, structure: _Structure) -> _Context:
        texts = []
        plain = [p for p in structure.report_parts if content_type(p) != "text/html"]
        for part in plain or structure.report_parts:
            texts.append(part_text(part))
        report_text, rest = split_original("\n".join(texts))
        if any(content_type(p).startswith("multipart/") for p in structure.report_parts):
            report_text = strip_mime_scaffolding(report_text)
        original = _original_message(structure, rest)
        return cls(
            msg=msg,
            message_id=_message_id(header_text(msg, "Message-ID")),
            date=parse_date(header_text(msg, "Date")),
            subject=header_text(msg, "Subject"),
            from_header=header_text(msg, "From"),
            report_text=report_text,
            rest_text=rest,
            original=original,
        )

    def finish(
        self,
        kind: MessageKind,
        recipients: list[RecipientResult],
        *,
        source: str,
        original: Message | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> ParsedMessage:
        orig = original if original is not None else self.original
        original_id = _message_id(header_text(orig, "Message-ID")) if orig is not None else None
        if extra_headers and not original_id:
            original_id = _message_id(extra_headers.get("message-id", ""))
        return ParsedMessage(
            kind=kind,
            recipients=recipients,
            message_id=self.message_id,
            original_message_id=original_id,
            school_slug=_school_slug(self.msg, orig, extra_headers),
            source=source,
        )


def _original_message(structure: _Structure, rest: str | None) -> Message | None:
    for part in structure.original_parts:
        original = attached_message(part)
        if original is not None and len(original.keys()) > 0:
            return original
    if rest:
        original = parse_header_block(original_headers_text(rest))
        if original is not None and len(original.keys()) > 0:
            return original
    for part in structure.text_attachments:
        original = parse_header_block(part_text(part))
        if original is not None and any(original.get(h) for h in ("Message-ID", "From", "To")):
            return original
    return None


def _message_id(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    match = re.search(r"<([^<>\s]+)>", value)
    found = match.group(1) if match else value.split()[0].strip("<>")
    return found[:998] or None


def _school_slug(msg: Message, original: Message | None, extra: dict[str, str] | None) -> str | None:
    candidates: list[str] = []
    if original is not None:
        candidates.extend(header_values(original, "X-School"))
    if extra and extra.get("x-school"):
        candidates.append(extra["x-school"])
    for value in candidates:
        slug = value.strip()
        if _SLUG_RE.match(slug):
            return slug
    verp_sources: list[str] = []
    if original is not None:
        verp_sources.extend(header_values(original, "Return-Path"))
    for name in ("To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To"):
        verp_sources.extend(header_values(msg, name))
    if extra and extra.get("return-path"):
        verp_sources.append(extra["return-path"])
    for value in verp_sources:
        match = _VERP_RE.search(value)
        if match:
            return match.group(1)
    return None


# -- classification ---------------------------------------------------------------------------------------


def _codes(text: str) -> tuple[str | None, int | None]:
    """The enhanced status and reply code in a diagnostic (classification's reading of free text)."""
    reply = classification.parse_reply(text)
    return reply.status, reply.smtp_code


def _recipient(
    *,
    email: str | None,
    action: str,
    status: str | None,
    smtp_code: int | None,
    diagnostic: str,
    occurred_at: datetime | None,
    remote_mta: str | None = None,
    provider: str | None = None,
    provider_verdict: dict[str, str] | None = None,
    transcript: str = "",
    evidence: _Corroboration | None = None,
) -> RecipientResult:
    verdict = classification.classify(
        smtp_code=smtp_code,
        status=status,
        diagnostic=diagnostic,
        action=action,
        provider=provider,
        provider_verdict=provider_verdict,
    )
    if verdict.reason == Reason.MAILBOX_NOT_FOUND.value and _mailbox_may_exist(
        status, diagnostic, transcript, evidence or _Corroboration()
    ):
        verdict = Classification(EventType.HARD.value, Reason.REJECTED.value, False)
    return RecipientResult(
        email=email,
        action=action,
        type=str(verdict.type),
        reason=str(verdict.reason),
        sender_side=bool(verdict.sender_side),
        occurred_at=occurred_at,
        status=status,
        smtp_code=smtp_code,
        diagnostic=diagnostic,
        remote_mta=remote_mta or None,
    )


@dataclass(frozen=True)
class _Corroboration:
    """What the report says, besides the diagnostic, about who refused and why."""

    report: _Context | None = None  # the report (its writer is looked at only when needed)
    diagnostic_type: str = ""  # the Diagnostic-Code's type ("smtp", "x-unix", "x-postfix"), lower-case
    writer_category: str = ""  # the writer's own per-recipient verdict (X-PowerMTA-BounceCategory)

    @property
    def filter_gateway(self) -> bool:
        """Whether a content-filtering gateway wrote the report."""
        return self.report is not None and self.report.filter_gateway


# Diagnostic-Code type "X-Unix" (RFC 3464 section 2.3.6 leaves the type open; Sendmail and Postfix write
# X-Unix for a local delivery program): the exit status and output of procmail, maildrop or a pipe, not a
# mail server's verdict on the address (Postfix turns exit code 67 into 5.1.1); Sisimai: mailererror.
_PROGRAM_DIAGNOSTIC_TYPES = frozenset({"x-unix"})
# PowerMTA's X-PowerMTA-BounceCategory values that name the address itself (PowerMTA user's guide,
# "bounce categories"; Sisimai Lhost::PowerMTA: bad-mailbox → userunknown, inactive-mailbox → suspend,
# bad-domain → hostunknown).
_DEAD_WRITER_CATEGORIES = frozenset({"bad-mailbox", "inactive-mailbox", "bad-domain"})
# Enhanced statuses whose subject contradicts "no such user" (RFC 3463): x.2.0 "the mailbox exists, but
# something about it caused this report", x.2.1 "the mailbox exists, but is not accepting messages" (in
# Sisimai both read as "filtered" beside a user-unknown text), x.3.x "something having to do with the
# destination system" (not the address).
_MAILBOX_EXISTS_STATUS = re.compile(r"[45]\.(?:2\.[01]|3\.\d{1,3})")
# x.1.x addressing statuses about the destination address (RFC 3463; not x.1.7/x.1.8, our sender): they
# confirm a user-unknown text (Microsoft's 5.1.351 "Remote server returned unknown recipient" among them).
_ADDRESS_STATUS = re.compile(r"[45]\.1\.(?![78]$)\d{1,3}")


def _mailbox_may_exist(status: str | None, diagnostic: str, transcript: str, evidence: _Corroboration) -> bool:
    """A "no such user" verdict that other evidence contradicts: read it as rejected (two strikes).

    - The Diagnostic-Code is a local program's output (type X-Unix): the delivery program failed.
    - For the generic wording filters use too ("user unknown", "unknown user", "no such user", "unknown
      recipient"), unless an x.1.x addressing status, a refusal of RCPT TO, or the writer's own
      "bad mailbox" verdict confirms it:
      - the server refused after DATA: it had accepted the recipient at RCPT TO, so what refused the
        message was a filter (Japanese carriers answer their users' domain filters this way);
      - the status says the mailbox exists (x.2.0, x.2.1) or that the mail system failed (x.3.x);
      - a content-filtering gateway wrote the report (patterns.FILTER_GATEWAY_HEADERS).

    An explicit account state ("disabled", "inactive", "doesn't have an account") is not generic and stays.
    """
    if evidence.diagnostic_type in _PROGRAM_DIAGNOSTIC_TYPES:
        return True
    if not generic_unknown_user(diagnostic):
        return False
    if status and _ADDRESS_STATUS.fullmatch(status):
        return False
    if evidence.writer_category in _DEAD_WRITER_CATEGORIES:
        return False
    phase = smtp_phase(diagnostic) or smtp_phase(transcript)
    if phase == "rcpt":
        return False
    if phase == "data":
        return True
    if status and _MAILBOX_EXISTS_STATUS.fullmatch(status):
        return True
    return evidence.filter_gateway


def _diagnostic_type(value: str) -> str:
    """The type of a Diagnostic-Code ("smtp" of "smtp; 550 ..."), lower-case; "" when it has none."""
    head, sep, _rest = value.partition(";")
    head = head.strip().lower()
    return head if sep and re.fullmatch(r"[a-z][a-z0-9\-]{0,20}", head) else ""


def _action_of(value: str, status: str | None) -> str:
    action = value.strip().lower()
    if action.startswith("fail"):
        return Action.FAILED.value
    if action.startswith("delay"):
        return Action.DELAYED.value
    if action.startswith(("deliver", "relay", "expand")):
        return Action.DELIVERED.value
    if status and status.startswith("4"):
        return Action.DELAYED.value
    if status and status.startswith("2"):
        return Action.DELIVERED.value
    return Action.FAILED.value


# -- RFC 3464 delivery reports -------------------------------------------------------------------------------


def _parse_delivery_status(parts: list[Message], context: _Context, *, source: str) -> ParsedMessage | None:
    text = "\n\n".join(part_text(part) for part in parts)
    report = parse_delivery_report(text)
    if not report.recipients:
        return None
    return _results_from_report(report, context, source=source)


def _results_from_report(report: DeliveryReport, context: _Context, *, source: str) -> ParsedMessage | None:
    arrival = parse_date(report.per_message.get("arrival-date"))
    blocks = report.recipients
    addresses = [_block_address(block) for block in blocks]
    text_diagnostics: dict[str, str] = {}
    if context.report_text:
        known = [a for a in addresses if a]
        for item in recipient_diagnostics(context.report_text, known):
            text_diagnostics[item.email.lower()] = item.diagnostic
    results: list[RecipientResult] = []
    for block, email in zip(blocks, addresses, strict=True):
        if email is None:
            email = _fallback_recipient(context, single_only=True)
        diagnostic = squeeze(strip_type(block.get("diagnostic-code")))
        text_part = text_diagnostics.get(email.lower(), "") if email else ""
        status = classification.parse_status(block.get("status"))
        if not diagnostic:
            diagnostic = text_part
        elif _says_more(text_part, context) and not classification.names_a_state(diagnostic, status=status):
            # The Diagnostic-Code is a bare code or says nothing a text rule reads ("550 #5.1.0 Address
            # rejected."), while the report's own words about this recipient do (Gmail's "Address not found
            # ... because the address couldn't be found"): provider texts beat the code (classification.md
            # step 2), so they are read too.
            diagnostic = squeeze(f"{diagnostic} {text_part}")
        detailed, smtp_code = _codes(diagnostic)
        if status is None or (status[1:] in (".0.0", ".4.7") and detailed and detailed[0] == status[0]):
            # "Status: 5.0.0" beside "Diagnostic-Code: 550 5.1.1 ...": the specific one speaks; and
            # "4.4.7" (gave up retrying) beside the remote's "450 4.7.1 ..." says why it gave up
            status = detailed or status
        action = _action_of(block.get("action"), status)
        occurred = parse_date(block.get("last-attempt-date")) or arrival or context.date
        evidence = _Corroboration(
            report=context,
            diagnostic_type=_diagnostic_type(block.get("diagnostic-code")),
            writer_category=block.get("x-powermta-bouncecategory").strip().lower(),
        )
        results.append(
            _recipient(
                email=email,
                action=action,
                status=status,
                smtp_code=smtp_code,
                diagnostic=diagnostic,
                occurred_at=occurred,
                remote_mta=strip_type(block.get("remote-mta")),
                transcript=text_part if smtp_phase(text_part) else context.report_text,
                evidence=evidence,
            )
        )
    if not results:
        return None
    kind = MessageKind.DELIVERED if all(r.action == Action.DELIVERED.value for r in results) else MessageKind.BOUNCE
    return context.finish(kind, results, source=source)


def _says_more(text_part: str, context: _Context) -> bool:
    """Whether the report's own text about one recipient names a state a text rule reads (and is about that
    recipient, not the whole report that recipient_diagnostics falls back to)."""
    if not text_part or text_part == context.report_squeezed:
        return False
    return classification.names_a_state(text_part)


def _block_address(block: FieldBlock) -> str | None:
    """Final-Recipient, unless it names no real mailbox (a source route, a host without a domain)."""
    fallback = None
    for name in ("final-recipient", "original-recipient", "x-actual-recipient"):
        address = address_of(block.get(name))
        if address is None:
            continue
        if "." in address.rsplit("@", 1)[-1]:
            return address
        fallback = fallback or address
    return fallback


def _fallback_recipient(context: _Context, *, single_only: bool) -> str | None:
    """The To of the returned original, when it names exactly one address."""
    if context.original is None:
        return None
    addresses = addresses_in_header(context.original, "To") + addresses_in_header(context.original, "Cc")
    unique = list(dict.fromkeys(a.lower() for a in addresses))
    if len(unique) == 1 or (unique and not single_only):
        return addresses[0]
    return None


# -- RFC 5965 feedback reports (complaints) ---------------------------------------------------------------


def _parse_feedback(msg: Message, structure: _Structure, context: _Context) -> ParsedMessage:
    text = "\n\n".join(part_text(part) for part in structure.feedback_parts)
    if not structure.feedback_parts:
        # report-type=feedback-report without a proper part: look for the fields in the text
        text = context.report_text
    found = feedback_fields(text)
    feedback_type = (found.get("feedback-type") or ["abuse"])[0].strip().lower() or "abuse"
    occurred = parse_date((found.get("arrival-date") or found.get("received-date") or [""])[0]) or context.date
    addresses: list[str] = []
    for name in ("original-rcpt-to", "removal-recipient"):
        for value in found.get(name, []):
            address = first_address(value)
            if address and address.lower() not in {a.lower() for a in addresses}:
                addresses.append(address)
    if not addresses and context.original is not None:
        for name in ("To", "X-HmXmrOriginalRecipient", "X-Original-To", "Delivered-To"):
            addresses = addresses_in_header(context.original, name)[:1]
            if addresses:
                break
    emails: list[str | None] = list(addresses) or [None]
    diagnostic = squeeze(" ".join(f"{k}: {v[0]}" for k, v in found.items() if k != "authentication-results"))
    if feedback_type == "auth-failure":
        # A DMARC failure report about our own mail: never a complaint. The message is not a bounce; its
        # recipients come back as sender-side records of unknown type, which record and suppress nothing.
        records = [
            RecipientResult(
                email=email,
                action=Action.FAILED.value,
                type=EventType.UNKNOWN.value,
                reason=Reason.UNKNOWN.value,
                sender_side=True,
                occurred_at=occurred,
                feedback_type=feedback_type,
                diagnostic=diagnostic,
            )
            for email in emails
        ]
        return context.finish(MessageKind.NOT_BOUNCE, records, source="arf-auth-failure")
    results = [
        RecipientResult(
            email=email,
            action=Action.DELIVERED.value,
            type=EventType.COMPLAINT.value,
            reason=Reason.COMPLAINT.value,
            sender_side=False,
            occurred_at=occurred,
            feedback_type=feedback_type,
            diagnostic=diagnostic,
        )
        for email in emails
    ]
    return context.finish(MessageKind.COMPLAINT, results, source="arf")


def _parse_microsoft_complaint(context: _Context) -> ParsedMessage | None:
    """Microsoft's JMRP complaint: the reported message attached, its recipient in X-HmXmrOriginalRecipient."""
    original = context.original
    if original is None:
        return None
    recipients = addresses_in_header(original, "X-HmXmrOriginalRecipient")
    if not recipients:
        return None
    result = RecipientResult(
        email=recipients[0],
        action=Action.DELIVERED.value,
        type=EventType.COMPLAINT.value,
        reason=Reason.COMPLAINT.value,
        sender_side=False,
        occurred_at=context.date,
        feedback_type="abuse",
        diagnostic=squeeze(context.subject),
    )
    return context.finish(MessageKind.COMPLAINT, [result], source="jmrp")


def _is_unsubscribe_request(msg: Message) -> bool:
    return header_text(msg, "X-Apple-Unsubscribe").strip().lower() == "true"


def _unsubscribe_request(msg: Message, context: _Context) -> ParsedMessage:
    """A mail client's one-click unsubscribe (RFC 2369 mailto:): the recipient doesn't want our mail."""
    senders = addresses_in_header(msg, "From")
    result = RecipientResult(
        email=senders[0] if senders else None,
        action=Action.DELIVERED.value,
        type=EventType.COMPLAINT.value,
        reason=Reason.COMPLAINT.value,
        sender_side=False,
        occurred_at=context.date,
        feedback_type="unsubscribe",
        diagnostic=squeeze(context.report_text)[:300],
    )
    return context.finish(MessageKind.COMPLAINT, [result], source="unsubscribe-request")


# -- Amazon SES notifications delivered by e-mail (SNS) ------------------------------------------------------


def _parse_ses_notification(context: _Context) -> ParsedMessage | None:
    text = context.report_text.strip() if context.report_text else ""
    if "notificationType" not in text and "eventType" not in text:
        return None
    if not (_SES_SENDER_RE.search(context.from_header) or text.startswith("{")):
        return None
    data = _json_object(text)
    if data is None:
        return None
    if isinstance(data.get("Message"), str):  # the SNS envelope around SES's own JSON
        data = _json_object(data["Message"]) or data
    kind_name = str(data.get("notificationType") or data.get("eventType") or "").lower()
    mail = _obj(data.get("mail"))
    headers: dict[str, str] = {}
    for item in _list(mail.get("headers")):
        header = _obj(item)
        if isinstance(header.get("name"), str):
            headers.setdefault(header["name"].lower(), str(header.get("value", "")))
    common = _obj(mail.get("commonHeaders"))
    if "message-id" not in headers and isinstance(common.get("messageId"), str):
        headers["message-id"] = common["messageId"]
    if "return-path" not in headers and isinstance(mail.get("source"), str):
        headers["return-path"] = mail["source"]

    if kind_name == "bounce":
        kind, results = MessageKind.BOUNCE, _ses_bounces(_obj(data.get("bounce")), context)
    elif kind_name == "complaint":
        kind, results = MessageKind.COMPLAINT, _ses_complaints(_obj(data.get("complaint")), context)
    elif kind_name == "delivery":
        kind, results = MessageKind.DELIVERED, _ses_deliveries(_obj(data.get("delivery")), context)
    else:
        return None
    return context.finish(kind, results, source="ses-notification", original=None, extra_headers=headers)


def _ses_bounces(bounce: dict[str, Any], context: _Context) -> list[RecipientResult]:
    verdict = {"bounceType": str(bounce.get("bounceType", "")), "bounceSubType": str(bounce.get("bounceSubType", ""))}
    occurred = parse_date(_iso_to_rfc(bounce.get("timestamp"))) or context.date
    results = []
    for item in map(_obj, _list(bounce.get("bouncedRecipients"))):
        diagnostic = squeeze(strip_type(str(item.get("diagnosticCode") or "")))
        detailed, smtp_code = _codes(diagnostic)
        status = classification.parse_status(item.get("status")) or detailed
        action = _action_of(str(item.get("action") or ""), status)
        if verdict["bounceType"].lower() == "transient" and status and status[0] == "4":
            action = Action.DELAYED.value
        results.append(
            _recipient(
                email=str(item.get("emailAddress") or "") or None,
                action=action,
                status=status,
                smtp_code=smtp_code,
                diagnostic=diagnostic,
                occurred_at=occurred,
                remote_mta=str(bounce.get("remoteMtaIp") or "") or None,
                provider="ses",
                provider_verdict=verdict,
            )
        )
    return results


def _ses_complaints(complaint: dict[str, Any], context: _Context) -> list[RecipientResult]:
    feedback_type = str(complaint.get("complaintFeedbackType") or "abuse").lower()
    occurred = parse_date(_iso_to_rfc(complaint.get("timestamp"))) or context.date
    return [
        RecipientResult(
            email=str(_obj(item).get("emailAddress") or "") or None,
            action=Action.DELIVERED.value,
            type=EventType.COMPLAINT.value,
            reason=Reason.COMPLAINT.value,
            sender_side=False,
            occurred_at=occurred,
            feedback_type=feedback_type,
        )
        for item in _list(complaint.get("complainedRecipients")) or [{}]
    ]


def _ses_deliveries(delivery: dict[str, Any], context: _Context) -> list[RecipientResult]:
    occurred = parse_date(_iso_to_rfc(delivery.get("timestamp"))) or context.date
    response = squeeze(str(delivery.get("smtpResponse") or ""))
    status, smtp_code = _codes(response)
    return [
        _recipient(
            email=str(email) if email else None,
            action=Action.DELIVERED.value,
            status=status,
            smtp_code=smtp_code,
            diagnostic=response,
            occurred_at=occurred,
            remote_mta=str(delivery.get("reportingMTA") or "") or None,
        )
        for email in _list(delivery.get("recipients")) or [None]
    ]


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _json_object(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    end = text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        # strict=False: SNS e-mails wrap long lines, leaving raw newlines inside JSON strings
        data = json.loads(text[start : end + 1], strict=False)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _iso_to_rfc(value: object) -> str | None:
    """SES timestamps are ISO 8601; turn them into something parse_date reads."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.strftime("%a, %d %b %Y %H:%M:%S %z") if parsed.tzinfo else None


# -- free-text bounces ---------------------------------------------------------------------------------------


def _looks_like_report_sender(context: _Context) -> bool:
    return bool(
        patterns.BOUNCE_SENDER_RE.search(context.from_header)
        or patterns.BOUNCE_SUBJECT_RE.search(context.subject)
        or context.msg.get("X-Failed-Recipients")
        or _report_type(context.msg) == "delivery-status"
        or (
            header_text(context.msg, "Return-Path").strip() in ("<>", "")
            and patterns.FAILURE_TEXT_RE.search(context.report_text)
        )
    )


def _is_text_bounce(context: _Context) -> bool:
    if context.msg.get("X-Failed-Recipients"):
        return True
    if not _looks_like_report_sender(context):
        return False
    if _report_type(context.msg) == "delivery-status" or patterns.FAILURE_TEXT_RE.search(context.report_text):
        return True
    return bool(mentioned_recipients(context.report_text, context.excluded))


def _is_weak_text_bounce(context: _Context) -> bool:
    """No bounce sender or subject, but the text reads like one and names a recipient and an SMTP error."""
    text = context.report_text
    return bool(
        patterns.FAILURE_TEXT_RE.search(text) and _codes(text)[1] and mentioned_recipients(text, context.excluded)
    )


def _parse_text_bounce(context: _Context, *, source: str = "text") -> ParsedMessage:
    report = context.report_text
    failed_header = [a for a in addresses_in_header(context.msg, "X-Failed-Recipients")]
    recipients = list(dict.fromkeys(failed_header)) or mentioned_recipients(report, context.excluded)
    if not recipients:
        others = other_addresses(report, context.excluded)
        if len(others) == 1:
            recipients = others
    if not recipients:
        fallback = _fallback_recipient(context, single_only=True)
        if fallback:
            recipients = [fallback]
    delayed = bool(
        patterns.DELAYED_SUBJECT_RE.search(context.subject) or patterns.DELAYED_TEXT_RE.search(report[:6000])
    )
    action = Action.DELAYED.value if delayed else Action.FAILED.value
    items: list[tuple[str | None, str, int | None]]
    if recipients:
        items = [(i.email, i.diagnostic, i.smtp_code) for i in recipient_diagnostics(report, recipients)]
    else:
        items = [(None, squeeze(report), line_reply_code(report))]
    results: list[RecipientResult] = []
    for email, diagnostic, line_code in items:
        status, smtp_code = _codes(diagnostic)
        smtp_code = smtp_code or line_code
        results.append(
            _recipient(
                email=email,
                action=action,
                status=status,
                smtp_code=smtp_code,
                diagnostic=diagnostic,
                occurred_at=context.date,
                transcript=report if len(items) == 1 else "",
                evidence=_Corroboration(report=context),
            )
        )
    return context.finish(MessageKind.BOUNCE, results, source=source)


# -- auto-replies (RFC 3834) ---------------------------------------------------------------------------------


def _is_auto_reply(msg: Message, context: _Context) -> bool:
    auto_submitted = header_text(msg, "Auto-Submitted").lower()
    if auto_submitted.startswith("auto-replied"):
        return True
    if any(msg.get(name) for name in patterns.AUTO_REPLY_HEADERS):
        return True
    if patterns.AUTO_REPLY_PRECEDENCE_RE.search(header_text(msg, "Precedence")):
        return True
    return bool(patterns.AUTO_REPLY_SUBJECT_RE.search(context.subject))


def _auto_reply(msg: Message, context: _Context) -> ParsedMessage:
    senders = addresses_in_header(msg, "From")
    result = RecipientResult(
        email=senders[0] if senders else None,
        action=Action.DELIVERED.value,
        type=EventType.AUTO_REPLY.value,
        reason=Reason.AUTO_REPLY.value,
        sender_side=False,
        occurred_at=context.date,
        diagnostic=squeeze(context.subject),
    )
    return context.finish(MessageKind.AUTO_REPLY, [result], source="auto-reply")
