"""The provider's diagnostic as a school owner may read it (DESIGN.md, workflow step 1): every
address other than the contact's own, every VERP / BATV / SRS token and every message or queue
id is masked, so a platform-wide suppression caused by another school's message never tells
which school, message or sender it was.

Over-masking is the safe side: a token that merely looks like an id is hidden too.
"""

from __future__ import annotations

import re

from deliverability.addresses import InvalidEmail, normalize_email

HIDDEN_ADDRESS = "[hidden address]"
HIDDEN = "[hidden]"

# An address in any of the forms diagnostics carry it: bare, in <>, with a quoted local part,
# and with the @ encoded (=40 in quoted-printable, %40 in URLs). VERP (bounces+slug-1@...),
# BATV (prvs=...=user@...) and SRS (SRS0=...@...) return paths are addresses too.
# The local part leaves out the legal but rare "/", "?" and "&", so that an address in a URL's
# query ("?to=anna%40example.com&...") is cut at the parameter, not at the scheme.
_LOCAL = r"(?:\"[^\"\r\n]{1,64}\"|[A-Za-z0-9!#$%*+=^_`{|}~-][A-Za-z0-9!#$%'*+=^_`{|}~.-]*)"
_AT = r"(?:@|=40|%40)"
_DOMAIN = r"(?:[\w-]+\.)+[\w-]+"

_PATTERNS = [
    ("address", rf"{_LOCAL}{_AT}{_DOMAIN}"),
    # BATV and SRS tags without their address (RFC draft-levine-batv, the SRS spec).
    ("tag", r"\b(?:prvs|msprvs\d*|btv1|batv|srs[01])=[^\s<>()\[\]\"',;]+"),
    # The value after a Message-ID / queue id label: "Message-ID: <...>", "queued as 4F2A1B",
    # "id=...". (Message ids in <> with an @ are caught as addresses above.)
    (
        "labelled_id",
        r"(?P<label>\b(?:message|msg|queue|envelope|transaction)[- _]?id\b\s*[:=]?\s*|\bqueued as\s+|\bid[:=]\s*)"
        r"<?[^\s<>;,]+>?",
    ),
    # A VERP or plus-tagged local part without its domain: bounces+school-b-123.
    ("plus_tag", r"(?<![\w.+-])[A-Za-z0-9._-]+\+[A-Za-z0-9._=%-]+"),
    # Opaque ids: provider message ids (SES 0100018f...-000000), UUIDs, Gmail's trailer ids.
    ("opaque", r"(?<![\w.@+-])(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{20,}(?![\w-])"),
]
_MASK = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _PATTERNS), re.IGNORECASE)
_ENCODED_AT = re.compile(r"=40|%40", re.IGNORECASE)


def _is_address_of(candidate: str, own: str) -> bool:
    if not own:
        return False
    plain = candidate if "@" in candidate else _ENCODED_AT.sub("@", candidate, count=1)
    if plain.lower() == own.lower():
        return True
    try:
        return normalize_email(plain) == own
    except InvalidEmail:
        return False


def mask_diagnostic(text: str | None, *, own_email: str) -> str:
    """`text` with everything that could point at another school or message hidden; the
    contact's own address (`own_email`, normalized) stays readable in any spelling."""
    if not text:
        return ""

    def replace(match: re.Match[str]) -> str:
        if match.lastgroup == "address":
            value = match.group()
            return value if _is_address_of(value, own_email) else HIDDEN_ADDRESS
        if match.lastgroup == "labelled_id":
            return match.group("label") + HIDDEN  # keep "Message-ID: ", "queued as "
        return HIDDEN

    return _MASK.sub(replace, text)
