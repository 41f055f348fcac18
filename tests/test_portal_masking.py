"""Diagnostic masking (DESIGN.md, workflow step 1): an owner reads the provider's text with every
address but the contact's own, every VERP / BATV / SRS token and every message id hidden."""

from __future__ import annotations

import re

import pytest

from deliverability.management.commands.seed_demo import REPLIES
from deliverability.portal.masking import HIDDEN, HIDDEN_ADDRESS, mask_diagnostic

OWN = "anna.nowak@example.org"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The contact's own address stays, in any spelling.
        ("550 5.1.1 <anna.nowak@example.org>: Recipient address rejected", None),
        ("550 5.1.1 <Anna.Nowak@EXAMPLE.org>: user unknown", None),
        ("550 anna.nowak@example.org... User unknown", None),
        ("RCPT TO:<anna.nowak=40example.org> failed", None),
        # Other addresses: in <>, bare, quoted, encoded.
        ("550 5.1.1 <piotr@other.example>: no such user", f"550 5.1.1 <{HIDDEN_ADDRESS}>: no such user"),
        ("delivery to piotr@other.example failed", f"delivery to {HIDDEN_ADDRESS} failed"),
        ('to "Piotr Kowalski"@other.example failed', f"to {HIDDEN_ADDRESS} failed"),
        ("'piotr@other.example' unknown", f"'{HIDDEN_ADDRESS}' unknown"),
        ("original rcpt piotr=40other.example", f"original rcpt {HIDDEN_ADDRESS}"),
        ("see https://x.test/?to=piotr%40other.example&x=1", f"see https://x.test/?{HIDDEN_ADDRESS}&x=1"),
        ("mailto:piotr@other.example", f"mailto:{HIDDEN_ADDRESS}"),
        ("user@bücher.example rejected", f"{HIDDEN_ADDRESS} rejected"),
        # VERP return paths, with the school's slug and the message number.
        ("MAIL FROM:<bounces+school-b-4711@mail.platform.test>", f"MAIL FROM:<{HIDDEN_ADDRESS}>"),
        ("bounces+anna.nowak=example.org@mail.platform.test", HIDDEN_ADDRESS),
        ("return path bounces+school-b-4711 refused", f"return path {HIDDEN} refused"),
        # BATV and SRS.
        ("from prvs=1234abcd5=owner@school-b.test", f"from {HIDDEN_ADDRESS}"),
        ("tag prvs=1234abcd5 invalid", f"tag {HIDDEN} invalid"),
        ("via SRS0=HHH=TT=school-b.test=joe@forwarder.example", f"via {HIDDEN_ADDRESS}"),
        ("SRS1=abc=fwd.example==HHH=TT=school-b.test=joe seen", f"{HIDDEN} seen"),
        # Message ids and queue ids.
        ("Message-ID: <4711.school-b@platform.test>", f"Message-ID: {HIDDEN}"),
        ("In-Reply-To <20260101.abc123@mail.school-b.test>", f"In-Reply-To <{HIDDEN_ADDRESS}>"),
        ("250 2.0.0 Ok: queued as 4F2A1B3C4D", f"250 2.0.0 Ok: {'queued as '}{HIDDEN}"),
        ("msgid=abc.def-123 dropped", f"msgid={HIDDEN} dropped"),
        ("Queue-ID: 4F2A1 deferred", f"Queue-ID: {HIDDEN} deferred"),
        ("provider id=0100018f3c2a7d4e dropped", f"provider id={HIDDEN} dropped"),
        ("SES 0100018f3c2a7d4e-5b6c7d8e-aaaa-bbbb-cccc-1234567890ab-000000 bounced", f"SES {HIDDEN} bounced"),
        (
            "550-5.1.1 https://support.google.com/mail/?p=NoSuchUser d9443c01a7336-1f6a5dc2a41si1234567b3.512 - gsmtp",
            f"550-5.1.1 https://support.google.com/mail/?p=NoSuchUser {HIDDEN}.512 - gsmtp",
        ),
        # What must stay readable: codes, hosts, the provider's words.
        (
            "452 4.2.2 mx1.example.com: Mailbox full (S2017062302)",
            None,
        ),
        ("554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", None),
    ],
)
def test_masking(text: str, expected: str | None) -> None:
    assert mask_diagnostic(text, own_email=OWN) == (text if expected is None else expected)


def test_empty_and_missing_text() -> None:
    assert mask_diagnostic("", own_email=OWN) == ""
    assert mask_diagnostic(None, own_email=OWN) == ""


def test_the_own_address_with_a_plus_tag_and_an_idn_domain_stays() -> None:
    assert (
        mask_diagnostic("<anna+news@gmail.com> full", own_email="anna+news@gmail.com") == "<anna+news@gmail.com> full"
    )
    text = "550 anna@bücher.example unknown, also ola@bücher.example"
    assert mask_diagnostic(text, own_email="anna@xn--bcher-kva.example") == (
        f"550 anna@bücher.example unknown, also {HIDDEN_ADDRESS}"
    )


def test_an_own_address_inside_a_verp_token_is_still_masked() -> None:
    # The token says which school's message it was: the whole return path goes.
    text = "returned to bounces+school-b-12+anna.nowak=example.org@mail.platform.test"
    assert "school-b" not in mask_diagnostic(text, own_email=OWN)


ADDRESS_LIKE = re.compile(r"[^\s<>\"'(),;:\[\]]+(?:@|=40|%40)[^\s<>\"'(),;:\[\]]+", re.IGNORECASE)


@pytest.mark.parametrize(
    "reply", [reply for replies in REPLIES.values() for reply in replies.values()], ids=lambda r: r.text[:40]
)
def test_no_other_address_survives_in_realistic_replies(reply: object) -> None:
    """Every provider answer of the demo data, with another school's VERP and message id added."""
    text = (
        f"{reply.text} <{OWN}> Return-Path: <bounces+school-b-99@mail.platform.test> "  # type: ignore[attr-defined]
        "X-Original-To: other.person@example.com Message-ID: <99.school-b@platform.test>"
    )
    masked = mask_diagnostic(text, own_email=OWN)
    assert [m for m in ADDRESS_LIKE.findall(masked) if m.lower() != OWN] == []
    assert "school-b" not in masked and OWN in masked
