"""What a school owner can do about each suppression reason, beside what it means
(`deliverability.explanations.SUPPRESSION_EXPLANATIONS`). Keys are SuppressionReason values; a
reason missing here gets the general advice, so a new reason never breaks the portal."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from deliverability.taxonomy import SuppressionReason

OWNER_ADVICE: dict[str, Promise] = {
    SuppressionReason.MAILBOX_NOT_FOUND: _(
        "Check the address for typos with the recipient. If they confirm it works again (for example "
        "their account was re-enabled), you can ask us to resume sending."
    ),
    SuppressionReason.DOMAIN_NOT_FOUND: _(
        "Check the part after @ for typos. If the recipient confirms their domain receives e-mail again, "
        "you can ask us to resume sending; support checks the domain's DNS before deciding."
    ),
    SuppressionReason.SENDER_BLOCKED: _(
        "Ask the recipient to unblock our sender or add it to their safe senders, then ask us to resume sending."
    ),
    SuppressionReason.REJECTED: _(
        "Ask the recipient whether their server or IT department refuses our mail. Once they confirm it "
        "accepts it again, you can ask us to resume sending."
    ),
    SuppressionReason.SOFT_BOUNCE_LIMIT: _(
        "The mailbox was probably full or the server unavailable. If the recipient has cleared their "
        "mailbox or the problem is fixed, you can ask us to resume sending."
    ),
    SuppressionReason.COMPLAINT: _(
        "We can only resume when the recipient has confirmed to you that they want our mail. If they have, "
        "you can ask us to resume sending."
    ),
    SuppressionReason.MANUAL: _("Contact support if you think this address should receive mail again."),
}

GENERAL_ADVICE = _("If the cause is fixed, you can ask us to resume sending.")


def owner_advice(reason: str) -> str:
    return str(OWNER_ADVICE.get(reason, GENERAL_ADVICE))
