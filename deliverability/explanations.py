"""Plain words for the stable codes: what a reason, a source or a provider means to a person
(support agents in the admin, school owners in the portal).

Texts are English, marked for translation (Polish comes with the locale files). A code missing
here falls back to the label of its TextChoices, so a new code never breaks a page.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from deliverability.taxonomy import EventType, Reason, SuppressionReason

# Why an address is suppressed, as the school owner reads it (DESIGN.md: "each with an
# owner-facing explanation in English and Polish"). Keys are SuppressionReason values.
SUPPRESSION_EXPLANATIONS: dict[str, Promise] = {
    SuppressionReason.MAILBOX_NOT_FOUND: _(
        "The address does not exist, or its account has been disabled. Mail to it cannot be delivered."
    ),
    SuppressionReason.DOMAIN_NOT_FOUND: _(
        "The domain of the address (the part after @) does not exist or does not accept e-mail."
    ),
    SuppressionReason.SENDER_BLOCKED: _(
        "The recipient, or their mail server on their behalf, blocked mail from us for your school."
    ),
    SuppressionReason.REJECTED: _(
        "The receiving server refused our messages for good more than once, for a reason it did not make clear."
    ),
    SuppressionReason.SOFT_BOUNCE_LIMIT: _(
        "Messages kept failing for days (mailbox full, server unavailable or DNS problems), so bulk and "
        "automated mail is paused. System messages still go."
    ),
    SuppressionReason.COMPLAINT: _(
        "The recipient reported one of our messages as spam, so bulk and automated mail from your school "
        "stops. System messages (activation, payments) still go."
    ),
    SuppressionReason.MANUAL: _("A deliverability lead suppressed this address by hand; the note says why."),
}

# What one recorded event means, as a support agent reads it on the timeline. Keys are Reason values.
EVENT_EXPLANATIONS: dict[str, Promise] = {
    Reason.MAILBOX_NOT_FOUND: _("The address does not exist, or its account is disabled."),
    Reason.DOMAIN_NOT_FOUND: _("The domain does not exist or accepts no mail."),
    Reason.SENDER_BLOCKED: _("The recipient (or their server on their behalf) blocked our sender."),
    Reason.REJECTED: _("The receiving server refused the message for good, for another reason."),
    Reason.MAILBOX_FULL: _("The recipient's mailbox is over quota."),
    Reason.SERVER_UNAVAILABLE: _("The receiving server was down, overloaded, rate-limiting or timed out."),
    Reason.MESSAGE_TOO_LARGE: _("The message was too big for the receiving server."),
    Reason.SPAM_FILTERED: _("A spam filter or blocklist stopped the message."),
    Reason.DNS_PROBLEM: _("A temporary DNS failure on the recipient's domain."),
    Reason.COMPLAINT: _("The recipient reported a message as spam."),
    Reason.AUTO_REPLY: _("An out-of-office or vacation reply; never counts against the address."),
    Reason.DELIVERED: _("Delivery was confirmed; this resets the count of soft bounces."),
    Reason.UNKNOWN: _("Not enough evidence to tell; recorded only."),
}

# Sender-side failures are the platform's own problem, whatever the reason code says.
SENDER_SIDE_EXPLANATION = _(
    "Our own sending setup was refused (authentication, reputation, blocklist or content): "
    "the platform's problem, not the recipient's. Recorded only."
)

# Icons per timeline kind: plain Unicode, no font or network needed. Colours are in admin.css.
TYPE_ICONS: dict[str, str] = {
    EventType.HARD: "✖",
    EventType.SOFT: "◐",
    EventType.COMPLAINT: "⚑",
    EventType.AUTO_REPLY: "↩",
    EventType.DELIVERED: "✔",
    EventType.UNKNOWN: "?",
    "delayed": "◷",
    "suppressed": "⊘",
    "widened": "↔",
    "lifted": "↑",
    "request": "✉",
    "decision": "☑",
    "incident": "⚡",
    "audit": "✎",
}

# Providers as their webhooks name them (anymail's ESP names) → how people call them.
PROVIDER_NAMES: dict[str, str] = {
    "amazon_ses": "Amazon SES",
    "postmark": "Postmark",
    "mailgun": "Mailgun",
    "sendgrid": "SendGrid",
    "sparkpost": "SparkPost",
    "mailjet": "Mailjet",
    "mandrill": "Mandrill",
    "brevo": "Brevo",
    "sendinblue": "Brevo",
    "resend": "Resend",
    "postal": "Postal",
    "mailersend": "MailerSend",
    "unisender_go": "Unisender Go",
}

# Where events come from: the `source` prefix → a label with the rest of the source filled in.
SOURCE_PREFIXES: dict[str, Promise] = {
    "api": _("API"),
    "dsn": _("Bounce message"),
    "webhook": _("Webhook"),
    "manual": _("Entered by hand"),
}


def suppression_explanation(reason: str) -> str:
    """The owner-facing sentence for a suppression reason."""
    text = SUPPRESSION_EXPLANATIONS.get(reason)
    return (
        str(text)
        if text is not None
        else str(SuppressionReason(reason).label if reason in SuppressionReason.values else reason)
    )


def event_explanation(reason: str, *, sender_side: bool = False) -> str:
    """The agent-facing sentence for an event's reason (sender-side failures say so)."""
    if sender_side:
        return str(SENDER_SIDE_EXPLANATION)
    text = EVENT_EXPLANATIONS.get(reason)
    return str(text) if text is not None else reason


def source_label(source: str) -> str:
    """'webhook:amazon_ses' → 'Webhook: Amazon SES', 'dsn' → 'Bounce message', 'api:platform' → 'API (platform)'."""
    prefix, _sep, rest = source.partition(":")
    label = SOURCE_PREFIXES.get(prefix)
    if label is None:
        return source
    if prefix == "webhook" and rest:
        return f"{label}: {PROVIDER_NAMES.get(rest, rest)}"
    if rest:
        return f"{label} ({rest})"
    return str(label)
