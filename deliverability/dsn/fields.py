"""The "field: value" blocks of RFC 3464 delivery reports and RFC 5965 feedback reports.

They are parsed from text rather than trusted to the MIME parser: the same blocks turn up in a
message/delivery-status part, in a text/plain part of a bounce with broken MIME boundaries, or quoted in a
forwarded bounce.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from deliverability.dsn.mime import ADDRESS_RE

_FIELD_RE = re.compile(r"^[ \t]*([A-Za-z][A-Za-z0-9\-]{1,40})[ \t]*:[ \t]*(.*)$")

# RFC 3464 section 2.2 per-message fields (and the X- ones common MTAs add): they describe the report,
# not one recipient, so they never start or belong to a recipient block.
_PER_MESSAGE_FIELDS = frozenset(
    {
        "reporting-mta",
        "dsn-gateway",
        "received-from-mta",
        "arrival-date",
        "original-envelope-id",
        "x-postfix-queue-id",
        "x-postfix-sender",
        "x-original-message-id",
        "x-powermta-virtualmta",
    }
)
# Fields that can only belong to one recipient of a DSN (RFC 3464 section 2.3).
_RECIPIENT_FIELDS = frozenset(
    {
        "original-recipient",
        "final-recipient",
        "x-actual-recipient",
        "action",
        "status",
        "remote-mta",
        "diagnostic-code",
        "last-attempt-date",
        "final-log-id",
        "will-retry-until",
        "x-supplementary-info",
        "x-display-name",
        "x-powermta-bouncecategory",  # PowerMTA's verdict on this recipient (bad-mailbox, quota-issues, ...)
    }
)
_FREE_TEXT_FIELDS = frozenset({"diagnostic-code", "x-supplementary-info"})
_ADDRESS_FIELDS = ("final-recipient", "original-recipient", "x-actual-recipient")


@dataclass
class FieldBlock:
    """One recipient's fields (first value of each, lower-case names)."""

    fields: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.fields.get(name, "")

    @property
    def has_address_field(self) -> bool:
        return any(name in self.fields for name in _ADDRESS_FIELDS)


@dataclass
class DeliveryReport:
    per_message: dict[str, str]
    recipients: list[FieldBlock]


def iter_fields(text: str) -> list[tuple[str, str] | None]:
    """Field lines of ``text`` as (lower-case name, value), unfolded; None marks a block break."""
    out: list[tuple[str, str] | None] = []
    pending: list[str] | None = None  # [name, value] of the field being unfolded
    for line in text.split("\n"):
        if not line.strip():
            if pending is not None:
                out.append((pending[0], pending[1]))
                pending = None
            out.append(None)
            continue
        # a folded line continues the field, unless it is itself an (indented) field after a short one
        if line[0] in " \t" and pending is not None and (pending[0] in _FREE_TEXT_FIELDS or not _FIELD_RE.match(line)):
            pending[1] = f"{pending[1]} {line.strip()}".strip()
            continue
        if pending is not None:
            out.append((pending[0], pending[1]))
            pending = None
        match = _FIELD_RE.match(line)
        if match:
            pending = [match.group(1).lower(), match.group(2).strip()]
        else:
            out.append(None)
    if pending is not None:
        out.append((pending[0], pending[1]))
    return out


def parse_delivery_report(text: str) -> DeliveryReport:
    """Group the fields of a delivery report into per-message fields and recipient blocks."""
    per_message: dict[str, str] = {}
    recipients: list[FieldBlock] = []
    current: FieldBlock | None = None
    for item in iter_fields(text):
        if item is None:
            current = None
            continue
        name, value = item
        if name in _PER_MESSAGE_FIELDS:
            per_message.setdefault(name, value)
            continue
        if name not in _RECIPIENT_FIELDS:
            continue
        if current is None or name in current.fields:
            current = FieldBlock()
            recipients.append(current)
        current.fields[name] = value
    useful = [b for b in recipients if b.has_address_field or ("action" in b.fields and "status" in b.fields)]
    return DeliveryReport(per_message=per_message, recipients=useful)


def feedback_fields(text: str) -> dict[str, list[str]]:
    """All fields of an ARF feedback-report part; repeated fields (Original-Rcpt-To) keep every value."""
    found: dict[str, list[str]] = {}
    for item in iter_fields(text):
        if item is not None:
            found.setdefault(item[0], []).append(item[1])
    return found


def address_of(value: str) -> str | None:
    """The address of "rfc822; <user@example.com>" (the address-type prefix is optional)."""
    if not value:
        return None
    candidate = value.split(";", 1)[1] if ";" in value else value
    candidate = candidate.replace('"', "").strip().strip("<>'")
    if candidate.startswith("@") and ":" in candidate:
        return None  # a source route ("@relay:user@host") names a hop, not the mailbox we sent to
    match = ADDRESS_RE.search(candidate)
    return match.group(0) if match else None


def strip_type(value: str) -> str:
    """The text of "smtp; 550 5.1.1 ..." (Diagnostic-Code) or "dns; mx.example.com" (Remote-MTA)."""
    if ";" in value:
        head, rest = value.split(";", 1)
        if re.fullmatch(r"\s*[A-Za-z][A-Za-z0-9\-]{0,20}\s*", head):
            return rest.strip()
    return value.strip()
