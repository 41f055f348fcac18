"""The stable codes of DESIGN.md ("Taxonomy"): used in the database, the API and the UI.

Renaming a value here breaks stored rows, API clients and reports: add, never rename.
"""

from __future__ import annotations

from typing import NamedTuple

from django.db import models
from django.utils.translation import gettext_lazy as _


class EventType(models.TextChoices):
    HARD = "hard", _("Hard bounce")
    SOFT = "soft", _("Soft bounce")
    COMPLAINT = "complaint", _("Complaint")
    AUTO_REPLY = "auto_reply", _("Auto-reply")
    DELIVERED = "delivered", _("Delivered")
    UNKNOWN = "unknown", _("Unknown")


class Action(models.TextChoices):
    FAILED = "failed", _("Failed")
    DELAYED = "delayed", _("Delayed")
    DELIVERED = "delivered", _("Delivered")


class Reason(models.TextChoices):
    # hard
    MAILBOX_NOT_FOUND = "mailbox_not_found", _("Mailbox not found")
    DOMAIN_NOT_FOUND = "domain_not_found", _("Domain not found")
    SENDER_BLOCKED = "sender_blocked", _("Sender blocked by recipient")
    REJECTED = "rejected", _("Rejected")
    # soft
    MAILBOX_FULL = "mailbox_full", _("Mailbox full")
    SERVER_UNAVAILABLE = "server_unavailable", _("Server unavailable")
    MESSAGE_TOO_LARGE = "message_too_large", _("Message too large")
    SPAM_FILTERED = "spam_filtered", _("Spam filtered")
    DNS_PROBLEM = "dns_problem", _("Temporary DNS problem")
    # the rest
    COMPLAINT = "complaint", _("Spam complaint")
    AUTO_REPLY = "auto_reply", _("Auto-reply")
    DELIVERED = "delivered", _("Delivered")
    UNKNOWN = "unknown", _("Unknown")


# Which event type each reason belongs to (DESIGN.md's table); classify() never returns
# a pair outside it.
REASON_TYPE: dict[str, str] = {
    Reason.MAILBOX_NOT_FOUND: EventType.HARD,
    Reason.DOMAIN_NOT_FOUND: EventType.HARD,
    Reason.SENDER_BLOCKED: EventType.HARD,
    Reason.REJECTED: EventType.HARD,
    Reason.MAILBOX_FULL: EventType.SOFT,
    Reason.SERVER_UNAVAILABLE: EventType.SOFT,
    Reason.MESSAGE_TOO_LARGE: EventType.SOFT,
    Reason.SPAM_FILTERED: EventType.SOFT,
    Reason.DNS_PROBLEM: EventType.SOFT,
    Reason.COMPLAINT: EventType.COMPLAINT,
    Reason.AUTO_REPLY: EventType.AUTO_REPLY,
    Reason.DELIVERED: EventType.DELIVERED,
    Reason.UNKNOWN: EventType.UNKNOWN,
}


class SuppressionReason(models.TextChoices):
    MAILBOX_NOT_FOUND = "mailbox_not_found", _("Mailbox not found")
    DOMAIN_NOT_FOUND = "domain_not_found", _("Domain not found")
    SENDER_BLOCKED = "sender_blocked", _("Sender blocked by recipient")
    REJECTED = "rejected", _("Rejected repeatedly")
    SOFT_BOUNCE_LIMIT = "soft_bounce_limit", _("Repeated soft bounces")
    COMPLAINT = "complaint", _("Spam complaint")
    MANUAL = "manual", _("Manual suppression")


class Category(models.TextChoices):
    """The category of one message."""

    BULK = "bulk", _("Bulk mailing")
    AUTOMATION = "automation", _("Automation sequence")
    SYSTEM = "system", _("System message")


class BlockedCategories(models.TextChoices):
    """Which message categories a suppression blocks."""

    ALL = "all", _("All messages")
    BULK_AND_AUTOMATION = "bulk_and_automation", _("Bulk and automation only")


class Classification(NamedTuple):
    type: str
    reason: str
    sender_side: bool
