"""Address normalization (deliverability/addresses.py): the full mode of forms and imports, the
fast mode of the API's hot path, and the promise that both agree on what is valid."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deliverability.addresses import InvalidEmail, normalize_email, normalize_email_fast

Normalizer = Callable[[object], str]
MODES = [pytest.param(normalize_email, id="full"), pytest.param(normalize_email_fast, id="fast")]

# (input, normalized form) — the same in both modes.
VALID = [
    # IDNA: unicode domains are encoded, punycode passes through, UTS-46 maps what it can.
    ("user@bücher.de", "user@xn--bcher-kva.de"),
    ("user@BÜCHER.DE", "user@xn--bcher-kva.de"),
    ("user@xn--bcher-kva.de", "user@xn--bcher-kva.de"),
    ("user@XN--BCHER-KVA.DE", "user@xn--bcher-kva.de"),
    ("jan@пример.рф", "jan@xn--e1afmkfd.xn--p1ai"),
    ("jan@faß.de", "jan@xn--fa-hia.de"),  # IDNA 2008: ß is kept, not mapped to "ss"
    ("jan@example\u3002com", "jan@example.com"),  # ideographic full stop is a dot
    ("jan@\uff45xample.com", "jan@example.com"),  # full-width letters map to ASCII
    # Plus signs and other atext characters are kept as sent.
    ("Anna+Newsletter@Example.COM", "anna+newsletter@example.com"),
    ("a+b+c@gmail.com", "a+b+c@gmail.com"),
    ("o'brien@example.ie", "o'brien@example.ie"),
    ("{a}/b=c?d@example.com", "{a}/b=c?d@example.com"),
    # Quoted local parts: kept quoted, lower-cased.
    ('"John Doe"@Example.com', '"john doe"@example.com'),
    ('"john.doe"@example.com', '"john.doe"@example.com'),
    ('"a@b"@example.com', '"a@b"@example.com'),
    ('"a\\"b"@example.com', '"a\\"b"@example.com'),
    # Whitespace around the address is trimmed.
    ("  anna@example.com \n", "anna@example.com"),
    ("\tanna@example.com\r\n", "anna@example.com"),
    # Upper case.
    ("ANNA.KOWALSKA@WP.PL", "anna.kowalska@wp.pl"),
    ("A@B.CO", "a@b.co"),
    # Lengths at the limits.
    ("a" * 64 + "@example.com", "a" * 64 + "@example.com"),
    ("a@" + "b" * 63 + ".com", "a@" + "b" * 63 + ".com"),
    # Digits and double hyphens inside labels are fine; only the TLD must end with a letter.
    ("a@123.com", "a@123.com"),
    ("a@a--b.com", "a@a--b.com"),
    ("a@b.1c", "a@b.1c"),
    # Internationalized local parts: NFC (one stored form per address), lower-cased.
    ("Zoë@example.com", "zoë@example.com"),
    ("zoe\u0308@example.com", "zo\u00eb@example.com"),  # decomposed ë becomes the composed one
    ("\u212a@example.com", "k@example.com"),  # KELVIN SIGN is canonically K
    ("STRAẞE@example.de", "straße@example.de"),
]

# (input, message of the fast mode, message of the full mode)
INVALID = [
    # Not a string at all.
    (None, "not a string", "not a string"),
    (123, "not a string", "not a string"),
    (b"anna@example.com", "not a string", "not a string"),
    (["anna@example.com"], "not a string", "not a string"),
    # Missing pieces.
    ("", "empty address", "empty address"),
    ("   \n", "empty address", "empty address"),
    ("example.com", "missing @", "missing @"),
    ("@example.com", "empty local part", "empty local part"),
    ("anna@", "empty domain", "empty domain"),
    # NUL bytes and control characters, anywhere.
    ("an\x00na@example.com", "contains control characters", "contains control characters"),
    ("anna@exa\x01mple.com", "contains control characters", "contains control characters"),
    ("anna\x7f@example.com", "contains control characters", "contains control characters"),
    ('"a\\\x1b"@example.com', "contains control characters", "contains control characters"),
    # Lengths.
    ("a" * 300, "too long (more than 254 characters)", "too long (more than 254 characters)"),
    ("a" * 288 + "@example.com", "too long (more than 254 characters)", "too long (more than 254 characters)"),
    (
        "a" * 65 + "@example.com",
        "local part too long (more than 64 characters)",
        "local part too long (more than 64 characters)",
    ),
    (
        "a@" + "b" * 64 + ".com",
        "invalid domain",
        "After the @-sign, periods cannot be separated by so many characters (1 character too many).",
    ),
    # Dots.
    ("anna..k@example.com", "invalid characters in local part", "An email address cannot have two periods in a row."),
    ("anna@example..com", "invalid domain", "An email address cannot have two periods in a row."),
    (".anna@example.com", "invalid characters in local part", "An email address cannot start with a period."),
    (
        "anna.@example.com",
        "invalid characters in local part",
        "An email address cannot have a period immediately before the @-sign.",
    ),
    ("anna@example.com.", "invalid domain", "An email address cannot end with a period."),
    # Hyphens at the start or end of a label, the TLD included.
    ("anna@-example.com", "invalid domain", "An email address cannot have a hyphen immediately after the @-sign."),
    ("anna@example-.com", "invalid domain", "An email address cannot have a period and a hyphen next to each other."),
    (
        "anna@mail.-example.com",
        "invalid domain",
        "An email address cannot have a period and a hyphen next to each other.",
    ),
    ("anna@example.-com", "invalid domain", "An email address cannot have a period and a hyphen next to each other."),
    ("anna@example.com-", "invalid domain", "An email address cannot end with a hyphen."),
    # Numeric or one-letter TLDs, no TLD, literals.
    (
        "anna@example.123",
        "invalid domain",
        "The part after the @-sign is not valid. It is not within a valid top-level domain.",
    ),
    (
        "anna@example.c1",
        "invalid domain",
        "The part after the @-sign is not valid. It is not within a valid top-level domain.",
    ),
    (
        "anna@1.2.3.4",
        "invalid domain",
        "The part after the @-sign is not valid. It is not within a valid top-level domain.",
    ),
    ("a@b.c", "invalid domain", "invalid domain"),
    ("zoë@b.c", "invalid domain", "invalid domain"),
    ("anna@localhost", "invalid domain", "The part after the @-sign is not valid. It should have a period."),
    ("anna@[192.0.2.1]", "invalid domain", "A bracketed IP address after the @-sign is not allowed here."),
    # Characters that don't belong.
    (
        "an na@example.com",
        "invalid characters in local part",
        "The email address contains invalid characters before the @-sign: SPACE.",
    ),
    ("anna@exa mple.com", "invalid domain", "The part after the @-sign contains invalid characters: SPACE."),
    ("anna@exa_mple.com", "invalid domain", "The part after the @-sign contains invalid characters: '_'."),
    (
        "anna@b@example.com",
        "invalid characters in local part",
        "The part after the @-sign contains invalid characters: '@'.",
    ),
    (
        "anna,k@example.com",
        "invalid characters in local part",
        "The email address contains invalid characters before the @-sign: ','.",
    ),
    ('"zoë"@example.com', "invalid characters in local part", "invalid characters in local part"),
    # Unicode that hides, reorders or can't be stored.
    (
        "anna\u200b@example.com",
        "unsafe characters in local part",
        "The email address contains unsafe characters: ZERO WIDTH SPACE.",
    ),
    (
        "an\u202ena@example.com",
        "unsafe characters in local part",
        "The email address contains unsafe characters: RIGHT-TO-LEFT OVERRIDE.",
    ),
    (
        "an\u00a0na@example.com",
        "unsafe characters in local part",
        "The email address contains unsafe characters: NO-BREAK SPACE.",
    ),
    (
        "an\x85na@example.com",
        "unsafe characters in local part",
        "The email address contains unsafe characters: U+0085.",
    ),
    (
        "anna\ud800@example.com",
        "unsafe characters in local part",
        "The email address contains unsafe characters: U+D800.",
    ),
    (
        "anna\ue000@example.com",
        "unsafe characters in local part",
        "The email address contains unsafe characters: U+E000.",
    ),
    (
        "\u0301anna@example.com",
        "unsafe characters in local part",
        "The email address contains unsafe characters: COMBINING ACUTE ACCENT.",
    ),
]


@pytest.mark.parametrize("normalize", MODES)
@pytest.mark.parametrize(("value", "expected"), VALID)
def test_valid_addresses_are_normalized(normalize: Normalizer, value: str, expected: str) -> None:
    assert normalize(value) == expected


@pytest.mark.parametrize(("value", "fast_error", "full_error"), INVALID)
def test_invalid_addresses_are_refused_with_a_clear_message(value: object, fast_error: str, full_error: str) -> None:
    with pytest.raises(InvalidEmail) as fast:
        normalize_email_fast(value)
    assert str(fast.value) == fast_error
    with pytest.raises(InvalidEmail) as full:
        normalize_email(value)
    assert str(full.value) == full_error


@pytest.mark.parametrize(
    ("value", "full_error"),
    [
        (
            "anna@example.invalid",
            "The part after the @-sign is a special-use or reserved name that cannot be used with email.",
        ),
        ("anna@xn--zz.com", "The part after the @-sign is not valid IDNA (Invalid A-label)."),
    ],
)
def test_only_full_validation_knows_reserved_names_and_bad_punycode(value: str, full_error: str) -> None:
    # The hot path checks syntax only; it may let through what full validation refuses (such an
    # address can't have been imported, so it is never found suppressed), never the reverse.
    assert normalize_email_fast(value) == value
    with pytest.raises(InvalidEmail) as full:
        normalize_email(value)
    assert str(full.value) == full_error


# Realistic and hostile addresses: both modes accept the same ones, with the same result.
AGREEMENT = [
    "jan.kowalski@gmail.com",
    "Jan.Kowalski@GMAIL.com",
    "anna.nowak+szkola@wp.pl",
    "biuro@szkola-jezykowa.edu.pl",
    "kontakt@akademia.com.pl",
    "ola_123@o2.pl",
    "first.last@sub.domain.example.co.uk",
    "x@example.museum",
    "user%remote@example.org",
    "a-b-c@a-b-c.de",
    "12345@123.example",
    "łukasz@example.pl",
    "Łukasz@Example.PL",
    "müller@müller.de",
    "用户@例子.广告",
    "почта@пример.рф",
    "δοκιμή@παράδειγμα.δοκιμή",
    "user@xn--mller-kva.de",
    '"much.more unusual"@example.com',
    '"very.(),:;<>[]\\".VERY.\\"very@\\\\ \\"very\\".unusual"@strange.example.com',
    " padded@example.com ",
    "\ttabbed@example.com\n",
    "",
    " ",
    "plainaddress",
    "@no-local-part.com",
    "no-domain@",
    "two@@example.com",
    "a@b@c.example.com",
    "Abc.example.com",
    'just"not"right@example.com',
    'this is"not\\allowed@example.com',
    'this\\ still\\"not\\\\allowed@example.com',
    "double..dot@example.com",
    ".leading@example.com",
    "trailing.@example.com",
    "user@.example.com",
    "user@example..com",
    "user@example.com.",
    "user@-example.com",
    "user@example-.com",
    "user@exa_mple.com",
    "user@example.c",
    "user@example.1",
    "user@example.c0",
    "user@192.168.0.1",
    "user@[192.168.0.1]",
    "user@[IPv6:2001:db8::1]",
    "user@localhost",
    "a" * 64 + "@example.com",
    "a" * 65 + "@example.com",
    "a@" + ".".join(["b" * 63] * 3) + ".com",
    "a@" + ".".join(["b" * 63] * 4) + ".com",
    "nul\x00@example.com",
    "bell\x07@example.com",
    "tab\tinside@example.com",
    "zero\u200bwidth@example.com",
    "rtl\u202eoverride@example.com",
    "nbsp\u00a0@example.com",
    "line\u2028sep@example.com",
    "lone\udc80surrogate@example.com",
    "private\ue123@example.com",
    "e\u0301@example.com",
    "\u0301leading-mark@example.com",
    "user@bücher.de",
    "user@BÜCHER.de",
    "user@ex\u00adample.com",
    "user@example\u3002com",
    "<user@example.com>",
    "User <user@example.com>",
    "user@example.com, other@example.com",
    "mailto:user@example.com",
]


@pytest.mark.parametrize("value", AGREEMENT)
def test_both_modes_agree(value: str) -> None:
    def outcome(normalize: Normalizer) -> str:
        try:
            return normalize(value)
        except InvalidEmail:
            return "<invalid>"

    assert outcome(normalize_email_fast) == outcome(normalize_email)


# Arbitrary text, and text shaped like an address out of characters that have broken parsers.
_TRICKY = 'aZ09.-_+@"\\ \t\n\x00\x85äÜßİ\u212a\u0301\u200b\u202e\u3002\ud800\ue000'
_ADDRESSISH = st.builds(
    "{}@{}".format,
    st.text(st.sampled_from(_TRICKY), max_size=12),
    st.one_of(
        st.sampled_from(["example.com", "Bücher.DE", "xn--bcher-kva.de", "b.c", "b.c1", "b.co-", "пример.рф"]),
        st.builds(
            "{}{}".format,
            st.text(st.sampled_from(_TRICKY + "ü."), max_size=16),
            st.sampled_from(["", ".com", ".pl", ".xn--p1ai", ".", ".c1"]),
        ),
    ),
)
_ANYTHING = st.one_of(st.text(), _ADDRESSISH, st.emails(), st.binary(), st.integers(), st.none())


@settings(max_examples=1000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ANYTHING)
def test_fast_mode_raises_only_invalid_email_and_is_idempotent(value: object) -> None:
    try:
        normalized = normalize_email_fast(value)
    except InvalidEmail as error:
        assert str(error)
        return
    assert normalize_email_fast(normalized) == normalized
    normalized.encode("utf-8")  # the database can store it


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_ADDRESSISH, st.emails()))
def test_what_full_validation_accepts_the_fast_mode_accepts_identically(value: str) -> None:
    try:
        normalized = normalize_email(value)
    except InvalidEmail:
        return
    assert normalize_email_fast(value) == normalized
    assert normalize_email(normalized) == normalized
