"""What parse_message returns: one ParsedMessage per raw message, one RecipientResult per recipient."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class MessageKind(StrEnum):
    """What a message is, as a whole (a StrEnum: it compares equal to its string value)."""

    BOUNCE = "bounce"  # a delivery failure or delay report (RFC 3464 or an MTA's own text)
    COMPLAINT = "complaint"  # an ARF feedback report (RFC 5965) or a provider's complaint
    AUTO_REPLY = "auto_reply"  # an out-of-office or other RFC 3834 auto-reply
    DELIVERED = "delivered"  # a DSN whose recipients all have Action: delivered
    NOT_BOUNCE = "not_bounce"  # an ordinary message; never counts against an address
    UNPARSEABLE = "unparseable"  # the structure can't be read at all (see ParsedMessage.error)


@dataclass(frozen=True)
class RecipientResult:
    """One recipient of a report: what happened to it and how the product classifies that.

    ``email`` is the address as found (not normalized), None when the report hides it. ``occurred_at``
    comes from the report (Last-Attempt-Date, Arrival-Date, else the report's Date), never from the time
    of parsing; None when the message carries no readable date. ``action`` is the DSN's (failed, delayed,
    delivered); complaints and auto-replies say ``delivered``: the message reached the mailbox.
    """

    email: str | None
    action: str  # taxonomy.Action: failed | delayed | delivered
    type: str  # taxonomy.EventType
    reason: str  # taxonomy.Reason
    sender_side: bool
    occurred_at: datetime | None = None
    status: str | None = None  # enhanced status code, x.y.z
    smtp_code: int | None = None
    diagnostic: str = ""
    remote_mta: str | None = None
    feedback_type: str | None = None  # ARF Feedback-Type (abuse, fraud, auth-failure, ...)


@dataclass(frozen=True)
class ParsedMessage:
    """The result of parsing one raw message.

    ``message_id`` is the report's own Message-ID, ``original_message_id`` the Message-ID of the returned
    original (for counting a failure once per sent message); both without angle brackets. ``school_slug``
    comes from the original's X-School header or a VERP address ``bounces+<slug>@...``. ``source`` names
    the branch that read the message, for diagnostics and the benchmark: rfc3464 (a delivery-status
    part), rfc3464-text (the same fields in text), *-nested (a forwarded report), arf, arf-auth-failure,
    jmrp, ses-notification, unsubscribe-request, text (an MTA's own wording), text-weak, auto-reply,
    not-bounce, none. ``error`` says why a message is unparseable.

    An ARF ``auth-failure`` report (a DMARC failure report about our own mail) is kind ``not_bounce``
    but still lists its recipients, as sender-side records of type ``unknown`` (they suppress nothing).
    """

    kind: MessageKind
    recipients: list[RecipientResult] = field(default_factory=list)
    message_id: str | None = None
    original_message_id: str | None = None
    school_slug: str | None = None
    error: str | None = None
    source: str = ""
