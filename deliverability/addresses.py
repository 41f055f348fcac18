"""Address normalization, the one function every edge calls (DESIGN.md, "Rules").

Normalized form: trimmed, local part lower-cased, domain lower-cased and IDNA-encoded.
Two modes: `normalize_email` validates fully (email-validator, no DNS) for forms and imports;
`normalize_email_fast` is a precompiled syntax check for the API's hot path.
"""

from __future__ import annotations

import re
import unicodedata

import email_validator
import idna

MAX_LENGTH = 254  # RFC 5321 path limit less the angle brackets
MAX_LOCAL_LENGTH = 64


class InvalidEmail(ValueError):
    """The address can't be used; `str(error)` is a short message for people and API clients."""


# RFC 5322 dot-atom: atext characters separated by single dots.
_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]"
_LOCAL_DOT_ATOM = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
# A quoted local part: printable ASCII with \" and \\ escapes.
_LOCAL_QUOTED = re.compile(r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"')
# An LDH domain of at least two labels (IDNA already applied). No label starts or ends with a
# hyphen; the TLD has two or more characters and ends with a letter, as every TLD of the root
# zone does (email-validator's rule too, so both modes agree: `b.c1`, `b.co-` are refused).
_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_TLD = r"(?!-)[a-z0-9-]{1,62}[a-z]"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+{_TLD}")
_HOT = re.compile(rf"(?:{_ATEXT}+(?:\.{_ATEXT}+)*)@(?:{_LABEL}\.)+{_TLD}")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _split(value: object) -> tuple[str, str]:
    if not isinstance(value, str):
        raise InvalidEmail("not a string")
    address = value.strip()
    if not address:
        raise InvalidEmail("empty address")
    if len(address) > MAX_LENGTH:
        raise InvalidEmail(f"too long (more than {MAX_LENGTH} characters)")
    if _UNSAFE.search(address):
        raise InvalidEmail("contains control characters")
    if "@" not in address:
        raise InvalidEmail("missing @")
    local, _, domain = address.rpartition("@")
    if not local:
        raise InvalidEmail("empty local part")
    if not domain:
        raise InvalidEmail("empty domain")
    return local, domain


def _ascii_domain(domain: str) -> str:
    domain = domain.lower()
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        raise InvalidEmail("invalid domain") from None


def _check_unicode_local(local: str) -> None:
    """Refuse what email-validator calls unsafe: controls, format characters (zero-width,
    bidi overrides), surrogates (not encodable: the database would refuse them), private-use
    and unassigned code points, non-ASCII spaces and separators, a leading combining mark."""
    for position, char in enumerate(local):
        category = unicodedata.category(char)
        if category[0] in "CZ" or (category[0] == "M" and position == 0):
            raise InvalidEmail("unsafe characters in local part")


def normalize_email_fast(value: object) -> str:
    """Normalize with a syntax check only (microseconds): for the API's hot path.

    Raises InvalidEmail with a short message.
    """
    if isinstance(value, str):
        candidate = value.strip().lower()
        # The common case: plain ASCII, valid dot-atom, no IDNA work.
        if len(candidate) <= MAX_LENGTH and _HOT.fullmatch(candidate):
            local = candidate.rpartition("@")[0]
            if len(local) <= MAX_LOCAL_LENGTH:
                return candidate
    local, domain = _split(value)
    local = local.lower()
    if not local.isascii():
        # One stored form per address: NFC, as email-validator (the full mode) returns it.
        local = unicodedata.normalize("NFC", local)
    if len(local) > MAX_LOCAL_LENGTH:
        raise InvalidEmail(f"local part too long (more than {MAX_LOCAL_LENGTH} characters)")
    if not (_LOCAL_DOT_ATOM.fullmatch(local) or _LOCAL_QUOTED.fullmatch(local)):
        if not local.isascii() and _LOCAL_DOT_ATOM.fullmatch(_NON_ASCII.sub("a", local)):
            _check_unicode_local(local)  # an internationalized (SMTPUTF8) local part
        else:
            raise InvalidEmail("invalid characters in local part")
    ascii_domain = _ascii_domain(domain)
    if not _DOMAIN.fullmatch(ascii_domain):
        raise InvalidEmail("invalid domain")
    normalized = f"{local}@{ascii_domain}"
    if len(normalized) > MAX_LENGTH:
        raise InvalidEmail(f"too long (more than {MAX_LENGTH} characters)")
    return normalized


def normalize_email(value: object) -> str:
    """Normalize with full validation (email-validator, no DNS): for forms and imports.

    Raises InvalidEmail with the validator's message.
    """
    local, domain = _split(value)
    if local.startswith('"'):
        # email-validator rejects quoted local parts that need quoting; the fast check
        # decides those, and both modes agree on everything else.
        return normalize_email_fast(value)
    ascii_domain = _ascii_domain(domain)
    try:
        info = email_validator.validate_email(
            f"{local}@{ascii_domain}",
            check_deliverability=False,
            allow_smtputf8=True,
            test_environment=True,  # permit reserved test domains (example.com, .test)
        )
    except email_validator.EmailNotValidError as error:
        raise InvalidEmail(str(error)) from None
    normalized = f"{info.local_part.lower()}@{ascii_domain}"
    # Cross-check with the fast rules, internationalized addresses too, so both modes agree
    # on what is valid and on the normalized form.
    return normalize_email_fast(normalized)


def domain_of(email: str) -> str:
    return email.rpartition("@")[2]
