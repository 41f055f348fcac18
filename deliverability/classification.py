"""Classify one delivery failure (provider verdict, diagnostic text, status codes) as type, reason, sender_side.

The rules are those of ``classification.md`` (shared with the product design); they live here as
module-level tables, one comment per row saying where the row comes from. The decision order:

1. ``Action: delivered`` or a 2.x.x status → delivered.
2. Provider text patterns (Gmail, Microsoft, Yahoo/AOL, Mail.ru, Polish providers, generic wording
   that names the recipient's state or our own setup) — they beat the code.
3. Strong generic phrases ("user unknown", "mailbox full", ...) — they beat an ambiguous code.
4. The enhanced status code (RFC 3463); 5.x.x final, 4.x.x temporary.
5. The bare SMTP reply code.
6. Weak phrases ("spam", "blocked", "policy", "rejected"), only between reasons the code allows.
7. Nothing fits → ``unknown``.

A failure is *temporary* when its status is 4.x.x, its reply code 4xx, or its action ``delayed``:
then every rule gives its soft variant, so a temporary failure is never ``hard``. When in doubt the
tables prefer ``rejected`` (two strikes) or ``spam_filtered`` (never suppresses) over
``mailbox_not_found``: ambiguous evidence must not suppress a good address.

A provider's structured verdict (webhooks) ranks above all of this: see :func:`classify_verdict`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Final, NamedTuple

from deliverability.taxonomy import Action, Classification, EventType, Reason

__all__ = [
    "MAX_DIAGNOSTIC_CHARS",
    "SmtpReply",
    "Verdict",
    "classify",
    "classify_verdict",
    "clean_diagnostic",
    "names_a_state",
    "parse_action",
    "parse_reply",
    "parse_smtp_code",
    "parse_status",
]

# Only the head of a diagnostic is scanned: the words that matter come first, and a 1 MB
# diagnostic (a pasted message body) must cost no more than a normal one.
MAX_DIAGNOSTIC_CHARS: Final = 10_000

_HARD: Final = EventType.HARD.value
_SOFT: Final = EventType.SOFT.value

_MAILBOX_NOT_FOUND: Final = Reason.MAILBOX_NOT_FOUND.value
_DOMAIN_NOT_FOUND: Final = Reason.DOMAIN_NOT_FOUND.value
_SENDER_BLOCKED: Final = Reason.SENDER_BLOCKED.value
_REJECTED: Final = Reason.REJECTED.value
_MAILBOX_FULL: Final = Reason.MAILBOX_FULL.value
_SERVER_UNAVAILABLE: Final = Reason.SERVER_UNAVAILABLE.value
_MESSAGE_TOO_LARGE: Final = Reason.MESSAGE_TOO_LARGE.value
_SPAM_FILTERED: Final = Reason.SPAM_FILTERED.value
_DNS_PROBLEM: Final = Reason.DNS_PROBLEM.value

_DELIVERED: Final = Classification(EventType.DELIVERED.value, Reason.DELIVERED.value, False)
_COMPLAINT: Final = Classification(EventType.COMPLAINT.value, Reason.COMPLAINT.value, False)
_AUTO_REPLY: Final = Classification(EventType.AUTO_REPLY.value, Reason.AUTO_REPLY.value, False)
_UNKNOWN: Final = Classification(EventType.UNKNOWN.value, Reason.UNKNOWN.value, False)
_TRANSIENT: Final = Classification(_SOFT, _SERVER_UNAVAILABLE, False)
_STILL_RETRYING: Final = _TRANSIENT


# --------------------------------------------------------------------------------------------
# Outcomes: what one piece of evidence means in a final and in a temporary failure.
# --------------------------------------------------------------------------------------------


class _Outcome(NamedTuple):
    final: Classification
    # The same evidence in a temporary failure (4.x.x, 4xx, delayed, a soft verdict); None when
    # the evidence says nothing then (a weak "rejected" on a 4xx reply).
    temporary: Classification | None

    def pick(self, temporary: bool) -> Classification | None:
        return self.temporary if temporary else self.final


# The 4.x.x column of classification.md's status table, for evidence that is hard when final.
_TEMPORARY_REASON: Final[Mapping[str, str]] = {
    _MAILBOX_NOT_FOUND: _SERVER_UNAVAILABLE,  # 4.1.1: e.g. Postfix "unverified recipient"
    _DOMAIN_NOT_FOUND: _DNS_PROBLEM,  # 4.1.2, 4.4.4
    _SENDER_BLOCKED: _SPAM_FILTERED,  # 4.7.1
    _REJECTED: _SERVER_UNAVAILABLE,  # 4.0.0
}
# A temporary refusal of *our* setup (auth, reverse DNS, reputation, 4.7.20-4.7.27 "soft, sender
# side") is a filter's hold, not the recipient's server being down: it must never count.
_TEMPORARY_SENDER_SIDE_REJECTION: Final = Classification(_SOFT, _SPAM_FILTERED, True)


def _soften(classification: Classification) -> Classification:
    """The soft counterpart of a hard classification (anything else unchanged)."""
    if classification.type != _HARD:
        return classification
    if classification.reason == _REJECTED and classification.sender_side:
        return _TEMPORARY_SENDER_SIDE_REJECTION
    return Classification(_SOFT, _TEMPORARY_REASON[classification.reason], classification.sender_side)


def _hard(reason: str, *, sender_side: bool = False, temporary: Classification | bool | None = True) -> _Outcome:
    # `sender_blocked` is the recipient refusing us: by definition never sender side.
    final = Classification(_HARD, reason, sender_side and reason != _SENDER_BLOCKED)
    if temporary is True:
        return _Outcome(final, _soften(final))
    if temporary is False:
        return _Outcome(final, None)
    return _Outcome(final, temporary)


def _soft(reason: str, *, sender_side: bool = False) -> _Outcome:
    soft = Classification(_SOFT, reason, sender_side)
    return _Outcome(soft, soft)


# --------------------------------------------------------------------------------------------
# Text rules
# --------------------------------------------------------------------------------------------


class _TextRule(NamedTuple):
    pattern: re.Pattern[str]
    outcome: _Outcome
    # Only when the enhanced status also matches (e.g. Microsoft's "access denied" on 5.4.1).
    status: re.Pattern[str] | None = None
    # Only when the basic reply code is one of these (e.g. RFC 7504's 521 beside x.3.2 wording).
    codes: frozenset[int] | None = None


def _rule(
    pattern: str, outcome: _Outcome, *, status: str | None = None, codes: tuple[int, ...] | None = None
) -> _TextRule:
    return _TextRule(
        re.compile(pattern, re.IGNORECASE),
        outcome,
        re.compile(status) if status is not None else None,
        frozenset(codes) if codes is not None else None,
    )


# Step 2: provider texts that beat the code (classification.md, "Provider texts that beat the
# code"), then generic wording about our own setup or the recipient's state. Matched in order
# against the lower-cased, whitespace-normalized diagnostic; the first row that matches wins.
_PROVIDER_TEXT: Final[tuple[_TextRule, ...]] = (
    # Gmail: 550-5.1.1 "The email account that you tried to reach does not exist."
    _rule(r"the email account that you tried to reach does not exist", _hard(_MAILBOX_NOT_FOUND)),
    # Gmail (rendered DSN): "Address not found ... because the address couldn't be found"
    _rule(r"because the address couldn'?t be found", _hard(_MAILBOX_NOT_FOUND)),
    # Gmail (rendered DSN): "Domain not found ... because the domain x couldn't be found"
    _rule(r"because the domain \S+ couldn'?t be found", _hard(_DOMAIN_NOT_FOUND)),
    # Gmail: 550-5.2.1 "The email account that you tried to reach is disabled." / "... is inactive"
    _rule(r"(?:account|address|user) that you tried to reach is (?:disabled|inactive)", _hard(_MAILBOX_NOT_FOUND)),
    # Gmail: 4.2.1/5.2.1 rate limits: "is receiving mail too quickly" / "receiving mail at a rate"
    _rule(r"receiving mail too quickly|receiving mail at a rate", _soft(_SERVER_UNAVAILABLE)),
    # Gmail: 452-4.2.2 / 552-5.2.2 "The email account that you tried to reach is over quota"
    _rule(r"\bis over quota|out of storage space", _soft(_MAILBOX_FULL)),
    # Gmail: 552-5.3.4 "Your message exceeded Google's message size limits."
    _rule(r"exceeded google'?s message size limits?", _soft(_MESSAGE_TOO_LARGE)),
    # Gmail: 5.7.26 "Unauthenticated email from x is not accepted due to domain's DMARC policy"
    _rule(r"unauthenticated email.{0,200}?dmarc policy", _hard(_REJECTED, sender_side=True)),
    # Gmail: 5.7.26/5.7.27 "authenticate with either SPF or DKIM", "fails to pass authentication checks"
    _rule(
        r"authenticate with (?:either )?spf or dkim|fails to pass authentication checks",
        _hard(_REJECTED, sender_side=True),
    ),
    # Gmail: 5.7.25 "The IP address sending this message does not have a PTR record setup"
    _rule(r"does not have a ptr record", _hard(_REJECTED, sender_side=True)),
    # Gmail: 5.7.1 "Messages missing a valid address in From: header ... not RFC 5322 compliant"
    _rule(r"not rfc ?5322 compliant", _hard(_REJECTED, sender_side=True)),
    # Gmail: 4.7.0/5.7.1 "unusual rate of unsolicited mail", "likely unsolicited mail", "low reputation"
    _rule(
        r"unusual rate of unsolicited mail|likely unsolicited|low reputation", _soft(_SPAM_FILTERED, sender_side=True)
    ),
    # Google as sender (final DSN): "DNS type 'mx' lookup of x responded with code NXDOMAIN"
    _rule(r"dns type '?mx'? lookup.{0,300}?responded with code nxdomain", _hard(_DOMAIN_NOT_FOUND)),
    # Microsoft: "550 5.4.1 Recipient address rejected: Access denied" (directory-based edge
    # blocking: the mailbox does not exist). Only on 5.4.1: Postfix uses the same words (on
    # 5.7.1) for a local policy, which must not suppress.
    _rule(r"recipient address rejected: access denied", _hard(_MAILBOX_NOT_FOUND), status=r"[45]\.4\.1"),
    # Microsoft: 5.1.1/5.1.10 "RESOLVER.ADR.RecipientNotFound", "RESOLVER.ADR.RecipNotFound"
    _rule(r"recipientnotfound|recipnotfound", _hard(_MAILBOX_NOT_FOUND)),
    # au (KDDI): "550 : User unknown" — a reply that names no address is au's answer after DATA for a
    # recipient whose own filter refused our sender; its unknown users get "550 <address>: User unknown" at
    # RCPT TO (Sisimai Rhost::KDDI: filtered vs userunknown). Before the Microsoft row: Office 365 relays it
    # as "5.1.351 Remote server returned unknown recipient or mailbox unavailable -> 550 : User unknown".
    _rule(r"(?:^|(?<![\w.])[45]\d\d ?-?) ?: ?user unknown", _hard(_REJECTED)),
    # Microsoft: "unknown recipient or mailbox unavailable", 5.5.0 "Requested action not taken: mailbox unavailable"
    _rule(
        r"unknown recipient or mailbox unavailable|requested action not taken: mailbox unavailable",
        _hard(_MAILBOX_NOT_FOUND),
    ),
    # Microsoft: "blocked using Spamhaus", "part of their network is on our block list (S3150)",
    # 5.7.606-649 "Access denied, banned sending IP", "rate limited due to IP reputation"
    _rule(
        r"blocked using spamhaus|on our block ?list|\bs3150\b|banned sending ip|rate limited due to ip reputation",
        _soft(_SPAM_FILTERED, sender_side=True),
    ),
    # Microsoft: 5.7.509 "does not pass DMARC verification", "must pass either SPF or DKIM"
    _rule(r"does not pass dmarc|must pass either spf or dkim", _hard(_REJECTED, sender_side=True)),
    # Microsoft: 5.7.507 "Access denied, rejected by recipient", 5.7.505 "Access denied, banned recipient"
    _rule(r"access denied, rejected by recipient|banned recipient", _hard(_SENDER_BLOCKED)),
    # Microsoft: 4.4.312 "DNS query failed"
    _rule(r"dns query failed", _soft(_DNS_PROBLEM)),
    # Microsoft: 4.4.7/5.4.7 "QUEUE.Expired; message expired"
    _rule(r"message expired", _soft(_SERVER_UNAVAILABLE)),
    # Microsoft: 5.4.310 "DNS domain x does not exist", "the domain is not reachable"
    _rule(r"dns domain .{0,260}?does not exist|the domain is not reachable", _hard(_DOMAIN_NOT_FOUND)),
    # Yahoo/AOL: 554 "delivery error: dd This user doesn't have a yahoo.com account"
    _rule(r"this user (?:doesn'?t|does not) have an? .{0,80}?account", _hard(_MAILBOX_NOT_FOUND)),
    # Yahoo/AOL: 554 "delivery error: dd Requested mail box not found", "This mailbox is disabled (554.30)"
    _rule(r"mail ?box not found|this mailbox is disabled", _hard(_MAILBOX_NOT_FOUND)),
    # Yahoo/AOL: 421 4.7.0 "[TSS04] Messages from x temporarily deferred", 553 "[BL21] ... the ip
    # is in Spamhaus's list"
    _rule(
        r"\[tss?\d\d\].{0,200}?temporarily deferred|ip is in spamhaus'?s? list",
        _soft(_SPAM_FILTERED, sender_side=True),
    ),
    # Yahoo/AOL: 554 5.7.9 "Message not accepted for policy reasons" (reputation or content)
    _rule(r"message not accepted for policy reasons", _soft(_SPAM_FILTERED, sender_side=True)),
    # Mail.ru: "550 Message was not accepted -- invalid mailbox. ... user not found",
    # "account is disabled"
    _rule(r"user not found|account is disabled", _hard(_MAILBOX_NOT_FOUND)),
    # Mail.ru: "550 spam message rejected", "we do not accept mail from dynamic IPs"
    _rule(
        r"spam message rejected|we do not accept mail from dynamic ips?",
        _soft(_SPAM_FILTERED, sender_side=True),
    ),
    # Polish providers (WP, Onet, Interia, o2): "skrzynka odbiorcy jest pełna" (recipient's
    # mailbox is full), "skrzynka przepełniona", "brak miejsca w skrzynce" (no room in the mailbox)
    _rule(
        r"skrzynka (?:odbiorcy )?(?:jest )?(?:pe[łl]na|przepe[łl]niona)|brak miejsca w skrzynce",
        _soft(_MAILBOX_FULL),
    ),
    # Polish providers: "użytkownik nie istnieje", "konto nie istnieje", "adres nie istnieje"
    # (no such user / account / address), "nie ma takiego użytkownika", "nieznany użytkownik"
    _rule(
        r"(?:u[żz]ytkownik|konto|adres|skrzynka)\w* (?:\S+ )?nie istnieje"
        r"|nie ma takiego (?:u[żz]ytkownika|konta|adresu)|nieznany u[żz]ytkownik",
        _hard(_MAILBOX_NOT_FOUND),
    ),
    # Polish providers: "konto zablokowane" (the recipient's account is blocked), "konto
    # nieaktywne" (inactive) — but not "konto nadawcy zablokowane" (the sender's account)
    _rule(
        r"(?<!nadawcy )konto (?:jest |zosta[łl]o )?(?:zablokowane|nieaktywne)",
        _hard(_MAILBOX_NOT_FOUND),
    ),
    # Google Groups: "the group you tried to contact may not exist, or you may not have permission to
    # post messages to the group" (every translation links the Groups help centre): refused, two strikes
    _rule(r"groups\.google\.com/support|(?:do not|don'?t|may not) have permission to post", _hard(_REJECTED)),
    # any: RFC 3463 x.1.7/x.1.8 wording about *our* envelope sender, and Microsoft 5.1.0 SPF
    # "not allowed to send from". Before the recipient rows: Postfix writes "Sender address
    # rejected: Domain not found", which is about our domain, not the recipient's.
    _rule(
        r"sender address rejected|domain of sender address|(?:sender|mail ?from)(?: address| domain| e-?mail)?"
        r" (?:verif\w* failed|does not exist|doesn'?t exist|not found|unknown|must (?:exist|resolve)|denied"
        r"|rejected|refused)|not allowed to send from",
        _hard(_REJECTED, sender_side=True),
    ),
    # any: refused at the MAIL FROM stage (Exim "SMTP error ... after MAIL FROM:<x>", Postfix "(in
    # reply to MAIL FROM command)"): before any recipient was named, so it is about us
    _rule(r"after mail from|in reply to mail from command", _hard(_REJECTED, sender_side=True)),
    # any: our HELO name or client IP (reverse DNS) refused: Postfix "Helo command rejected: Host
    # not found", "Client host rejected: cannot find your hostname" (x.7.25 wording)
    _rule(
        r"helo command rejected|client host rejected|cannot find your (?:hostname|reverse)"
        r"|reverse (?:dns|hostname|lookup)|\brdns\b|\bptr\b|ip name lookup failed",
        _hard(_REJECTED, sender_side=True),
    ),
    # any: classification.md "user unknown", "unknown user", "no such user", "no mailbox here",
    # "invalid recipient", Postfix "Recipient address rejected: User unknown in local recipient table"
    _rule(
        r"user unknown|unknown user|no such user|no mailbox here|invalid recipient"
        r"|recipient address rejected: user unknown",
        _hard(_MAILBOX_NOT_FOUND),
    ),
    # any: a DNS answer that may change: Postfix "Host not found, try again", SERVFAIL, resolver
    # time-outs (the 4.4.3 kind) → a temporary DNS problem even on a final DSN
    _rule(
        r"not found, try again|name service error.{0,300}?try again|servfail"
        r"|temporary failure in name resolution|unexpected name server reply"
        r"|(?:dns|name server|nameserver) (?:lookup |query )?(?:timed? ?out|timeout)",
        _soft(_DNS_PROBLEM),
    ),
    # any: classification.md "host or domain name not found", "name service error ... host not
    # found", "no mx record", "domain does not exist" (an NXDOMAIN answer: final when the status is)
    _rule(
        r"host or domain name not found|name service error.{0,300}?host not found|no (?:valid )?mx\b"
        r"|domain (?:name )?does not exist|nxdomain",
        _hard(_DOMAIN_NOT_FOUND),
    ),
    # any: RFC 7505 null MX / RFC 7504 "does not accept mail" (Gmail: "The domain x doesn't receive
    # email according to the administrator: returned Null MX")
    _rule(
        r"null mx|does(?: not|n'?t) (?:receive|accept) (?:e-?)?mail|accepts no (?:e-?)?mail",
        _hard(_DOMAIN_NOT_FOUND),
    ),
    # Exim: "Unrouteable address" (the default cannot_route_message: no router could route the address, i.e.
    # its domain has no MX or A record) and cPanel's cannot_route_message "The account or domain may not
    # exist, they may be blacklisted, or missing the proper dns entries" (Sisimai HostUnknown). Before the
    # block-list row: cPanel's sentence names a blacklist only as a guess. Final only (4.x.x: dns_problem).
    _rule(r"unrouteable address|the account or domain may not exist", _hard(_DOMAIN_NOT_FOUND)),
    # Verizon Wireless MMS gateway: "Error: No valid recipients for this MM" (MM: a multimedia message; the
    # number has no Verizon account; Sisimai Lhost::Verizon: userunknown)
    _rule(r"no valid recipients for this mm\b", _hard(_MAILBOX_NOT_FOUND)),
    # any: DNS block lists (the x.7.1 row's "blocklists → soft spam_filtered, sender side")
    _rule(
        r"blocked using|black ?list|block ?list|\bdnsbl\b|\brbl\b|spamhaus|spamcop|barracuda|\bsorbs\b"
        r"|listed (?:at|in|on|by) .{0,60}?\b(?:bl|dnsbl|rbl|list)\b",
        _soft(_SPAM_FILTERED, sender_side=True),
    ),
    # any: an explicit spam verdict on our message (the x.7.1 row's "spam → soft spam_filtered,
    # sender side"; stronger than the weak word "spam" alone)
    _rule(
        r"(?:detected|identified|classified|marked|rejected|considered|flagged|recogni[sz]ed|scored) as"
        r" (?:\w+ )?(?:spam|junk|bulk mail)|spam (?:detected|content|score|classification)|looks like spam"
        r"|(?:due to|because of) (?:\w+ )?spam|content (?:was )?rejected",
        _soft(_SPAM_FILTERED, sender_side=True),
    ),
    # any: a virus or malware verdict on our message (x.6.x/x.7.1 content: sender side)
    _rule(r"\bvirus\b|malware|\binfected\b", _hard(_REJECTED, sender_side=True)),
    # any: relay denied (the x.7.1 row: "relay denied → rejected, sender side")
    _rule(
        r"relay access denied|relaying denied|relay not permitted|unable to relay"
        r"|relaying (?:is )?not (?:allowed|permitted)|we do not relay|not permitted to relay",
        _hard(_REJECTED, sender_side=True),
    ),
    # any: SPF/DKIM/DMARC failures (the x.7.1 row's DMARC, and x.7.20-x.7.27 wording). The word
    # alone is not enough: a pasted header ("DKIM-Signature:") or advice ("set up SPF records") is no failure.
    _rule(
        r"\b(?:spf|dkim|dmarc)\b[^.;]{0,40}?\b(?:fail\w*|softfail|hardfail|not pass|reject\w*|policy|alignment"
        r"|check|verification|validation|permerror|temperror)|(?:fail\w*|not pass|unable to verify)[^.;]{0,40}?"
        r"\b(?:spf|dkim|dmarc)\b|sender policy framework",
        _hard(_REJECTED, sender_side=True),
    ),
)

# Step 3: strong generic phrases that name the recipient's state (classification.md step 3, with
# the common variants of each); they beat an ambiguous code. The domain phrases come first so
# that "domain ... does not exist" is not read as a missing mailbox.
_STRONG_PHRASES: Final[tuple[_TextRule, ...]] = (
    # "host not found", "domain not found", "no such domain"
    _rule(
        r"host (?:[\w.-]+ )?not found|host unknown|unknown host|domain (?:name )?not found|no such domain",
        _hard(_DOMAIN_NOT_FOUND),
    ),
    # RFC 7505 in Exim's words: "an MX or SRV record indicated no SMTP service"
    _rule(r"indicated no smtp service", _hard(_DOMAIN_NOT_FOUND)),
    # "<host name> does not exist" (a dotted name, not an address: "553 mx.example.com does not exist")
    _rule(r"(?<![@\w.-])(?:[a-z0-9-]+\.)+[a-z]{2,}\.? does(?: not|n'?t) exist", _hard(_DOMAIN_NOT_FOUND)),
    # "over quota", "mailbox full" (and "mailbox is full", "quota exceeded", "exceeded storage allocation")
    _rule(
        r"over ?quota|quota exceeded|exceeded (?:the |their |his |her )?(?:storage|quota)"
        r"|mail ?(?:box|folder) (?:is )?full|mail ?box (?:has )?exceed"
        r"|insufficient (?:disk )?space in (?:the )?mailbox",
        _soft(_MAILBOX_FULL),
    ),
    # "message too large" (and "mail size limit exceeded", "message size exceeds ...": the x.2.3/x.3.4 wording)
    _rule(
        r"(?:message|mail) (?:size )?(?:limit )?(?:is )?too (?:large|big)|(?:message|mail) size (?:limit )?exceed"
        r"|size limit exceeded|exceeds? (?:the )?(?:maximum |max )?(?:allowed )?message size",
        _soft(_MESSAGE_TOO_LARGE),
    ),
    # "no such user", "unknown recipient" (and "no such recipient", "recipient not found",
    # "recipient unknown", "unknown mailbox", "no such mailbox", "invalid mailbox")
    _rule(
        r"no such (?:user|recipient|mail ?box|address|account)|unknown (?:recipient|mail ?box)|address not found"
        r"|recipient (?:not found|unknown|does not exist)|invalid mail ?box"
        r"|not listed in (?:the )?(?:domino directory|public name & address book)",
        _hard(_MAILBOX_NOT_FOUND),
    ),
    # "mailbox unavailable" (RFC 5321's own text for 550; x.5.x "unless the text names the recipient")
    _rule(r"mail ?box (?:is )?unavailable", _hard(_MAILBOX_NOT_FOUND)),
    # "account disabled" (and suspended, deactivated, closed, inactive, locked, frozen; "mailbox
    # disabled"; "recipient account is blocked")
    _rule(
        r"(?:account|mail ?box|user|address)(?: has been| is| was)? (?:disabled|suspended|deactivated|closed"
        r"|inactive|locked|frozen)|recipient account is blocked",
        _hard(_MAILBOX_NOT_FOUND),
    ),
    # x.1.6 wording: "user has moved", "mailbox has moved", "is no longer ... here"
    _rule(
        r"(?:user|mail ?box|address|recipient) has moved|(?:user|mail ?box|address|recipient|account)"
        r" (?:is )?no longer (?:exists?|active|valid|available|in use|here)",
        _hard(_MAILBOX_NOT_FOUND),
    ),
    # "does not exist" (a mailbox, user or address; the domain rows above took the domain case)
    _rule(r"does(?: not|n'?t) exist", _hard(_MAILBOX_NOT_FOUND)),
    # RFC 7504: a 521 (host) or 556 (domain) reply "does not accept mail"; the IANA registry pairs 521 with
    # x.3.2 "System not accepting network messages", so that wording beside 521/556 is the RFC 7504 refusal
    # (domain_not_found, as the bare code), not a busy server (the next row)
    _rule(r"not accepting (?:any )?(?:network )?(?:messages|mail)", _hard(_DOMAIN_NOT_FOUND), codes=(521, 556)),
    # x.5.3 wording: "too many recipients" (our envelope)
    _rule(r"too many recipients", _soft(_SERVER_UNAVAILABLE, sender_side=True)),
    # the receiving server's own state: "service unavailable", "try again later", "too many
    # connections", time-outs, "temporarily rejected" (soft whatever the code: a server that says
    # it is busy has said nothing about the address)
    _rule(
        r"service (?:is )?(?:currently |temporarily )?(?:unavailable|not available)|try (?:again )?later"
        r"|too many (?:connections|concurrent|sessions)|connection (?:timed out|refused|reset)|timed out"
        r"|temporar(?:il)?y (?:unavailable|deferred|rejected|blocked|locked|suspended|disabled|not available)"
        r"|not accepting (?:connections|network messages)|retry time(?:out)? (?:exceeded|expired)",
        _soft(_SERVER_UNAVAILABLE),
    ),
)

_TEXT_RULES: Final[tuple[_TextRule, ...]] = _PROVIDER_TEXT + _STRONG_PHRASES

# Step 6 (and the x.7.1 row): phrases that only choose between the reasons a code allows.
_REFINING_PHRASES: Final[tuple[_TextRule, ...]] = (
    # x.7.1: "sender_blocked only when the text says the recipient blocked or refused our sender"
    _rule(
        r"blocked by (?:the )?(?:recipient|user|addressee|mailbox owner)|(?:recipient|user|addressee) (?:has )?"
        r"(?:blocked|blacklisted|refused) (?:you|your|the sender|this sender|mail from)|(?:rejected|refused) by"
        r" (?:the )?recipient(?! (?:domain|server|mail ?server|system|host))|recipient'?s? (?:blocked|block) senders"
        r"|blocked senders? list",
        _hard(_SENDER_BLOCKED),
    ),
    # weak "spam" (and junk, blacklist words): soft spam_filtered, sender side (the x.7.1 row)
    _rule(r"spam|\bjunk\b|unsolicited|reputation", _soft(_SPAM_FILTERED, sender_side=True)),
    # weak "blocked": a filter stopped it; whose fault is not said
    _rule(r"\bblock(?:ed|ing)?\b", _soft(_SPAM_FILTERED)),
    # weak "policy": refused for good (two strikes) / a temporary policy hold is a filter (4.7.1)
    _rule(r"\bpolic(?:y|ies)\b", _hard(_REJECTED, temporary=Classification(_SOFT, _SPAM_FILTERED, False))),
    # weak "rejected" (and refused, denied, not accepted): refused for good; says nothing when temporary
    _rule(r"reject|refused|denied|not accepted|not allowed", _hard(_REJECTED, temporary=False)),
)

# A report with no code at all that says only that the sender's MTA gave up retrying: the server was
# unreachable or kept deferring (soft server_unavailable; with a code, the code decides instead).
_GAVE_UP: Final[tuple[_TextRule, ...]] = (
    # DragonFly "Could not deliver for the last 432000 seconds. Giving up.", Yahoo "after multiple
    # retries, giving up", Exim "all hosts have been failing for a long time", IMail "Delivery failed
    # 20 attempts", OpenSMTPD "Envelope expired", qmail "in the queue too long", au "not delivered
    # within 0 days", "Remote host is not responding", Gmail "did not accept our requests to connect"
    _rule(
        r"could not deliver for the last|(?:giving|gave) up|all hosts have been failing|failed \d+ attempts"
        r"|after (?:multiple|\d+) (?:retries|attempts)|envelope expired|queue too long|not delivered within"
        r"|aborted after|did not accept our requests? to connect|(?:host|server) (?:is )?not responding"
        r"|could not find a gateway",
        _soft(_SERVER_UNAVAILABLE),
    ),
)

# 552: "mailbox_full or message_too_large by text" (classification.md step 5).
_SIZE_OR_QUOTA: Final[tuple[_TextRule, ...]] = (
    # message size wording: "message too large", "exceeds size limit", "message size exceeds"
    _rule(
        r"too (?:large|big)|size (?:limit|exceed)|exceeds? (?:the )?(?:maximum |max )?(?:message |allowed )?size"
        r"|message (?:size|length)",
        _soft(_MESSAGE_TOO_LARGE),
    ),
    # quota wording: "exceeded storage allocation", "quota", "mailbox"
    _rule(r"quota|storage|mail ?box", _soft(_MAILBOX_FULL)),
)

# 452: "insufficient system storage": mailbox_full only when the text says quota or mailbox.
_QUOTA_ONLY: Final[tuple[_TextRule, ...]] = (
    # quota wording
    _rule(r"quota|mail ?box", _soft(_MAILBOX_FULL)),
    # a spam hold on a temporary reply
    _rule(r"spam|unsolicited|reputation", _soft(_SPAM_FILTERED, sender_side=True)),
)


# --------------------------------------------------------------------------------------------
# Codes: enhanced status (step 4) and bare reply code (step 5)
# --------------------------------------------------------------------------------------------


class _CodeRule(NamedTuple):
    outcome: _Outcome
    # Text rules that may choose another reason the code allows (empty: the code decides alone).
    refine: tuple[_TextRule, ...] = ()


def _status_range(subject: int, details: range, rule: _CodeRule) -> dict[str, _CodeRule]:
    return {f"{subject}.{detail}": rule for detail in details}


# RFC 3463 enhanced status codes, keyed "subject.detail" (then "subject" for the rest of a
# subject); `final` is the 5.x.x column of classification.md, `temporary` the 4.x.x column.
_STATUS_RULES: Final[Mapping[str, _CodeRule]] = {
    # x.0.0 undefined: hard rejected (text decides) / soft server_unavailable. With a reply code
    # beside it, the reply code decides instead (see _code_rule_for).
    "0.0": _CodeRule(_hard(_REJECTED), _REFINING_PHRASES),
    "0": _CodeRule(_hard(_REJECTED), _REFINING_PHRASES),
    # x.1.0 other address status: rejected unless the text names the recipient (steps 2-3 catch
    # that, and Microsoft's SPF "not allowed to send from")
    "1.0": _CodeRule(_hard(_REJECTED), _REFINING_PHRASES),
    # x.1.1 bad destination mailbox / 4.1.1 soft server_unavailable (Postfix "unverified recipient")
    "1.1": _CodeRule(_hard(_MAILBOX_NOT_FOUND)),
    # x.1.2 bad destination system / 4.1.2 soft dns_problem
    "1.2": _CodeRule(_hard(_DOMAIN_NOT_FOUND)),
    # x.1.3 bad destination mailbox syntax (no 4.x.x meaning: server_unavailable)
    "1.3": _CodeRule(_hard(_MAILBOX_NOT_FOUND)),
    # x.1.6 destination mailbox has moved / soft
    "1.6": _CodeRule(_hard(_MAILBOX_NOT_FOUND)),
    # x.1.7, x.1.8 bad *sender* address: rejected, sender side / soft
    "1.7": _CodeRule(_hard(_REJECTED, sender_side=True)),
    "1.8": _CodeRule(_hard(_REJECTED, sender_side=True)),
    # x.1.10 recipient domain has a null MX (RFC 7505) (no 4.x.x meaning: server_unavailable)
    "1.10": _CodeRule(_hard(_DOMAIN_NOT_FOUND, temporary=Classification(_SOFT, _SERVER_UNAVAILABLE, False))),
    # x.1.x other address statuses: not in the table → rejected, text decides
    "1": _CodeRule(_hard(_REJECTED), _REFINING_PHRASES),
    # x.2.1 mailbox disabled / soft server_unavailable (Gmail's rate limit wording: step 2)
    "2.1": _CodeRule(_hard(_MAILBOX_NOT_FOUND)),
    # x.2.2 mailbox full: soft mailbox_full, even as 5.2.2
    "2.2": _CodeRule(_soft(_MAILBOX_FULL)),
    # x.2.3 message length exceeds administrative limit
    "2.3": _CodeRule(_soft(_MESSAGE_TOO_LARGE)),
    # x.2.x other mailbox statuses: not in the table → rejected, text decides
    "2": _CodeRule(_hard(_REJECTED), _REFINING_PHRASES),
    # x.3.4 message too big for system
    "3.4": _CodeRule(_soft(_MESSAGE_TOO_LARGE)),
    # x.3.0: "5.3.0 is often a spam filter: text"
    "3.0": _CodeRule(_soft(_SERVER_UNAVAILABLE), _REFINING_PHRASES),
    # x.3.x mail system status: soft server_unavailable
    "3": _CodeRule(_soft(_SERVER_UNAVAILABLE)),
    # x.4.1 no answer from host (Microsoft's 5.4.1 "access denied": step 2)
    "4.1": _CodeRule(_soft(_SERVER_UNAVAILABLE)),
    # x.4.3 directory/routing server failure
    "4.3": _CodeRule(_soft(_DNS_PROBLEM)),
    # x.4.4 unable to route / 4.4.4 soft dns_problem
    "4.4": _CodeRule(_hard(_DOMAIN_NOT_FOUND)),
    # x.4.7 delivery time expired
    "4.7": _CodeRule(_soft(_SERVER_UNAVAILABLE)),
    # Microsoft 5.4.310 "DNS domain does not exist"
    "4.310": _CodeRule(_hard(_DOMAIN_NOT_FOUND)),
    # Microsoft 4.4.312 / 5.4.312 "DNS query failed"
    "4.312": _CodeRule(_soft(_DNS_PROBLEM)),
    # x.4.x other network/routing statuses (bad connection, congestion, loop): soft
    "4": _CodeRule(_soft(_SERVER_UNAVAILABLE)),
    # x.5.3 too many recipients: soft (our envelope: sender side)
    "5.3": _CodeRule(_soft(_SERVER_UNAVAILABLE, sender_side=True)),
    # x.5.x protocol errors: rejected, sender side / soft (a text naming the recipient won at step 3);
    # Sendmail reports 4.5.0 for any transient trouble ("Deferred: Connection refused")
    "5": _CodeRule(_hard(_REJECTED, sender_side=True, temporary=_TRANSIENT)),
    # x.6.x content/media errors: rejected, sender side / soft
    "6": _CodeRule(_hard(_REJECTED, sender_side=True, temporary=_TRANSIENT)),
    # x.7.1 delivery not authorized: rejected (two strikes); the text may say sender_blocked,
    # blocklist/spam (spam_filtered); 4.7.1 soft spam_filtered
    "7.1": _CodeRule(_hard(_REJECTED, temporary=Classification(_SOFT, _SPAM_FILTERED, False)), _REFINING_PHRASES),
    # x.7.13 user account disabled, x.7.17 mailbox owner changed, x.7.18 domain owner changed
    "7.13": _CodeRule(_hard(_MAILBOX_NOT_FOUND)),
    "7.17": _CodeRule(_hard(_MAILBOX_NOT_FOUND)),
    "7.18": _CodeRule(_hard(_MAILBOX_NOT_FOUND)),
    # x.7.20-x.7.27 DKIM / SPF / reverse DNS / authentication failed: rejected, sender side / soft
    **_status_range(7, range(20, 28), _CodeRule(_hard(_REJECTED, sender_side=True))),
    # x.7.28 mail flood
    "7.28": _CodeRule(_soft(_SPAM_FILTERED)),
    # Microsoft 5.7.505 "Access denied, banned recipient", 5.7.507 "Access denied, rejected by recipient"
    "7.505": _CodeRule(_hard(_SENDER_BLOCKED)),
    "7.507": _CodeRule(_hard(_SENDER_BLOCKED)),
    # Microsoft 5.7.515 "sending domain does not meet the required authentication level"
    "7.515": _CodeRule(_hard(_REJECTED, sender_side=True)),
    # Microsoft 5.7.606-5.7.649 "Access denied, banned sending IP"
    **_status_range(7, range(606, 650), _CodeRule(_soft(_SPAM_FILTERED, sender_side=True))),
    # x.7.x other security/policy statuses: rejected, text decides / a temporary hold is a filter
    "7": _CodeRule(_hard(_REJECTED, temporary=Classification(_SOFT, _SPAM_FILTERED, False)), _REFINING_PHRASES),
}

# A subject RFC 3463 does not define: the class alone speaks.
_UNKNOWN_STATUS: Final = _CodeRule(_hard(_REJECTED), _REFINING_PHRASES)

# RFC 5321 reply codes (classification.md step 5), when no enhanced status decides.
_REPLY_CODE_RULES: Final[Mapping[int, _CodeRule]] = {
    # 550/551/553/554: hard, the text decides which, else rejected
    550: _CodeRule(_hard(_REJECTED), _REFINING_PHRASES),
    551: _CodeRule(_hard(_REJECTED), _REFINING_PHRASES),
    553: _CodeRule(_hard(_REJECTED), _REFINING_PHRASES),
    554: _CodeRule(_hard(_REJECTED), _REFINING_PHRASES),
    # RFC 7504: 521 host / 556 domain does not accept mail
    521: _CodeRule(_hard(_DOMAIN_NOT_FOUND)),
    556: _CodeRule(_hard(_DOMAIN_NOT_FOUND)),
    # 552 exceeded storage allocation: mailbox_full or message_too_large by text
    552: _CodeRule(_soft(_MAILBOX_FULL), _SIZE_OR_QUOTA),
    # 421 service not available, 450 mailbox unavailable, 451 local error: soft server_unavailable
    421: _CodeRule(_soft(_SERVER_UNAVAILABLE), _REFINING_PHRASES),
    450: _CodeRule(_soft(_SERVER_UNAVAILABLE), _REFINING_PHRASES),
    451: _CodeRule(_soft(_SERVER_UNAVAILABLE), _REFINING_PHRASES),
    # 452 insufficient system storage: mailbox_full only when the text says quota or mailbox
    452: _CodeRule(_soft(_SERVER_UNAVAILABLE), _QUOTA_ONLY),
    # 500-504 syntax errors, 530/535 authentication required/failed: our client's doing
    500: _CodeRule(_hard(_REJECTED, sender_side=True)),
    501: _CodeRule(_hard(_REJECTED, sender_side=True)),
    502: _CodeRule(_hard(_REJECTED, sender_side=True)),
    503: _CodeRule(_hard(_REJECTED, sender_side=True)),
    504: _CodeRule(_hard(_REJECTED, sender_side=True)),
    530: _CodeRule(_hard(_REJECTED, sender_side=True)),
    535: _CodeRule(_hard(_REJECTED, sender_side=True)),
}

# Any other 5xx / 4xx reply: the class alone speaks, the text decides the reason.
_OTHER_PERMANENT_REPLY: Final = _CodeRule(_hard(_REJECTED), _REFINING_PHRASES)
_OTHER_TRANSIENT_REPLY: Final = _CodeRule(_soft(_SERVER_UNAVAILABLE), _REFINING_PHRASES)


# --------------------------------------------------------------------------------------------
# Parsing helpers (tolerant: garbage in → None / "", never an exception)
# --------------------------------------------------------------------------------------------


class SmtpReply(NamedTuple):
    """A reply code and enhanced status found in free text; either may be None."""

    smtp_code: int | None
    status: str | None


# An enhanced status "class.subject.detail" that is not part of an IP address or version number.
_STATUS_RE: Final = re.compile(r"(?<![\w.])#?([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
# A reply code followed by its enhanced status: "550 5.1.1", "550-5.1.1", "550 #5.1.1".
_PAIR_RE: Final = re.compile(r"(?<![\w.])([245]\d\d)[\s-]+#?([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
# A reply code opening the text, after an optional "smtp;" / "X-Postfix;" type prefix.
_LEADING_CODE_RE: Final = re.compile(r"\s*(?:[\w.-]+;\s*)?([245]\d\d)(?![\w.])")
# A reply code quoted after "said:", "error ... :": Postfix "host x said: 550 ...", Exim
# "SMTP error from remote mail server after RCPT TO:<x>: 550 ...".
_QUOTED_CODE_RE: Final = re.compile(
    r"\b(?:said|error|reply|response|replied|answered|returned)\b.{0,160}?[:;]\s*([245]\d\d)(?![\w.])",
    re.IGNORECASE,
)
# Reply-code prefixes of a wrapped multi-line reply ("550-5.1.1 ", and "550 5.1.1 " opening a
# line), also when the lines were already joined: they split the phrases, and the codes are read
# from the raw text anyway.
_CONTINUATION_RE: Final = re.compile(
    r"(?<!\S)[245]\d\d-(?:[245]\.\d{1,3}\.\d{1,3}(?!\S))?|^[ \t]*[245]\d\d[ -](?:#?[245]\.\d{1,3}\.\d{1,3}(?!\S))?",
    re.MULTILINE,
)
_QUOTES: Final = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\x00": " "})


def _as_text(value: object, limit: int = MAX_DIAGNOSTIC_CHARS) -> str:
    """`value` as a str of at most `limit` characters, without NUL bytes; "" for None/garbage."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        text = bytes(value[: limit * 4]).decode("utf-8", "replace")
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = str(value)
        except Exception:  # an int past Python's str-conversion limit, a broken __str__
            return ""
    return text[:limit].replace("\x00", " ")


def clean_diagnostic(value: object, *, limit: int = MAX_DIAGNOSTIC_CHARS) -> str:
    """A diagnostic fit to store and show: at most `limit` characters, no NUL bytes, and
    whitespace (real diagnostics wrap lines) collapsed to single spaces. Never raises."""
    return " ".join(_as_text(value, limit).split())


def _status_string(match: re.Match[str], first_group: int = 1) -> str:
    return ".".join(str(int(match.group(first_group + i))) for i in range(3))


def parse_status(value: object) -> str | None:
    """The first enhanced status code (RFC 3463, "5.1.1") in `value`, normalized ("5.01.001" →
    "5.1.1"); None when there is none. Tolerates any input."""
    match = _STATUS_RE.search(_as_text(value))
    return _status_string(match) if match else None


def parse_smtp_code(value: object) -> int | None:
    """A basic SMTP reply code (200-599) from an int, a numeric string, or a reply's text
    ("550 5.1.1 user unknown" → 550); None for anything else (huge numbers, garbage)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 200 <= value <= 599 else None
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() and 200 <= value <= 599 else None
    text = _as_text(value).strip()
    if text.isascii() and text.isdigit():
        return int(text) if len(text) == 3 and 200 <= int(text) <= 599 else None
    return parse_reply(text).smtp_code


def parse_reply(text: object) -> SmtpReply:
    """The reply code and enhanced status in a free-text diagnostic.

    "550 5.1.1 <x@y>: user unknown" → SmtpReply(550, "5.1.1"); "smtp; 550-5.1.1 ..." and
    "host x said: 550 5.1.1 ..." alike. A lone 2.x.x status counts only beside a 2xx reply code
    (a version number such as "Postfix 2.5.1" must not read as "delivered"). Never raises.
    """
    raw = _as_text(text)
    pair = _PAIR_RE.search(raw)
    if pair:
        return SmtpReply(int(pair.group(1)), _status_string(pair, 2))
    code_match = _LEADING_CODE_RE.match(raw) or _QUOTED_CODE_RE.search(raw)
    code = int(code_match.group(1)) if code_match else None
    status = None
    for match in _STATUS_RE.finditer(raw):
        if match.group(1) != "2" or (code is not None and 200 <= code < 300):
            status = _status_string(match)
            break
    return SmtpReply(code, status)


def parse_action(value: object) -> str | None:
    """A DSN ``Action`` (or the API's kind) as one of ``failed``, ``delayed``, ``delivered``;
    None when absent or something else (``relayed``, ``expanded``, garbage)."""
    text = _as_text(value, 100).strip().lower()
    if text.startswith(("fail", "bounce")):
        return Action.FAILED.value
    if text.startswith(("delay", "defer")):
        return Action.DELAYED.value
    if text.startswith("deliver"):
        return Action.DELIVERED.value
    return None


# --------------------------------------------------------------------------------------------
# The decision
# --------------------------------------------------------------------------------------------


class _Evidence(NamedTuple):
    code: int | None
    status: str | None  # "5.1.1"
    text: str  # lower-cased, whitespace-normalized diagnostic
    action: str | None

    @property
    def status_class(self) -> int | None:
        return int(self.status[0]) if self.status else None


def _gather(*, smtp_code: object, status: object, diagnostic: object, action: object) -> _Evidence:
    raw = _as_text(diagnostic)
    reply = parse_reply(raw)
    code = parse_smtp_code(smtp_code)
    if code is None:
        code = reply.smtp_code
    given = parse_status(status)
    if given is None:
        given = reply.status
    elif given.endswith(".0.0") and reply.status and reply.status[0] == given[0] and not reply.status.endswith(".0.0"):
        # A DSN's "Status: 5.0.0" beside "Diagnostic-Code: 550 5.1.1 ...": the specific one speaks.
        given = reply.status
    text = " ".join(_CONTINUATION_RE.sub(" ", raw).translate(_QUOTES).split()).lower()
    return _Evidence(code, given, text, parse_action(action))


def _is_delivered(ev: _Evidence) -> bool:
    if ev.action == Action.DELIVERED.value:
        return True
    if ev.status_class is not None:
        return ev.status_class == 2
    return ev.code is not None and 200 <= ev.code < 300


def _is_temporary(ev: _Evidence) -> bool:
    return ev.action == Action.DELAYED.value or ev.status_class == 4 or (ev.code is not None and 400 <= ev.code < 500)


def _matches(rule: _TextRule, ev: _Evidence) -> bool:
    if rule.status is not None and (ev.status is None or not rule.status.fullmatch(ev.status)):
        return False
    if rule.codes is not None and ev.code not in rule.codes:
        return False
    return rule.pattern.search(ev.text) is not None


def _code_rule_for(ev: _Evidence) -> _CodeRule | None:
    if ev.status is not None and ev.status_class in (4, 5):
        subject, detail = ev.status.split(".")[1:]
        # RFC 7504 pairs 521/556 ("does not accept mail") with x.3.2 ("system not accepting network
        # messages"): the reply code is the more specific of the two.
        code_decides = (subject == "0" and detail == "0") or (subject == "3" and ev.code in (521, 556))
        if not (code_decides and ev.code is not None and ev.code >= 400):
            found = _STATUS_RULES.get(f"{subject}.{detail}") or _STATUS_RULES.get(subject)
            return found or _UNKNOWN_STATUS
    if ev.code is not None and ev.code >= 400:
        if ev.code in _REPLY_CODE_RULES:
            return _REPLY_CODE_RULES[ev.code]
        return _OTHER_PERMANENT_REPLY if ev.code >= 500 else _OTHER_TRANSIENT_REPLY
    return None


def _allowed(default: Classification | None, candidate: Classification) -> bool:
    # Weak phrases choose between the reasons the code allows: the code's own type, or the
    # step down to spam_filtered, which never suppresses.
    return default is None or candidate.type == default.type or candidate.reason == _SPAM_FILTERED


# x.1.7 / x.1.8 name our envelope sender: a "no such domain" or "user unknown" beside them is
# about our own address, so the rows about the recipient's state do not apply.
_SENDER_STATUS: Final = re.compile(r"[45]\.1\.[78]")
_RECIPIENT_STATE: Final = frozenset({_MAILBOX_NOT_FOUND, _DOMAIN_NOT_FOUND})


def _candidates(ev: _Evidence, *, temporary: bool) -> Iterator[Classification]:
    """Every classification the evidence supports, in decision order (steps 2-6)."""
    if ev.text:
        about_sender = ev.status is not None and _SENDER_STATUS.fullmatch(ev.status) is not None
        for rule in _TEXT_RULES:
            if about_sender and rule.outcome.final.reason in _RECIPIENT_STATE:
                continue
            if _matches(rule, ev) and (found := rule.outcome.pick(temporary)) is not None:
                yield found
    code_rule = _code_rule_for(ev)
    if code_rule is not None:
        default = code_rule.outcome.pick(temporary)
        if ev.text:
            for rule in code_rule.refine:
                found = rule.outcome.pick(temporary)
                if found is not None and _allowed(default, found) and _matches(rule, ev):
                    yield found
        if default is not None:
            yield default
    elif ev.text:
        for rule in _GAVE_UP + _REFINING_PHRASES:
            if _matches(rule, ev) and (found := rule.outcome.pick(temporary)) is not None:
                yield found


def _classify_evidence(ev: _Evidence) -> Classification:
    if _is_delivered(ev):
        return _DELIVERED
    temporary = _is_temporary(ev)
    found = next(_candidates(ev, temporary=temporary), None)
    if found is None:
        # A delayed DSN that says nothing more is still a soft failure the sender retries.
        return _STILL_RETRYING if ev.action == Action.DELAYED.value else _UNKNOWN
    return _soften(found) if temporary else found


def names_a_state(diagnostic: object, *, status: object = None) -> bool:
    """Whether the words of `diagnostic` decide the reason on their own: a provider text or a strong phrase
    (steps 2-3) matches, so the codes beside it only pick the hard or soft variant. False for a bare code or
    a text that only a code's weak phrases read ("550 5.1.0 Address rejected."). Never raises."""
    ev = _gather(smtp_code=None, status=status, diagnostic=diagnostic, action=None)
    if not ev.text:
        return False
    about_sender = ev.status is not None and _SENDER_STATUS.fullmatch(ev.status) is not None
    return any(
        _matches(rule, ev) and not (about_sender and rule.outcome.final.reason in _RECIPIENT_STATE)
        for rule in _TEXT_RULES
    )


def classify(
    *,
    smtp_code: int | str | None,
    status: str | None,
    diagnostic: str | None,
    action: str | None,
    provider: str | None = None,
    provider_verdict: Mapping[str, str] | None = None,
) -> Classification:
    """Classify one failure report as (type, reason, sender_side).

    `smtp_code` is the basic reply code (int or text), `status` the enhanced status ("5.1.1"),
    `diagnostic` the server's text, `action` the DSN action (``failed``/``delayed``/``delivered``);
    any of them may be None or garbage: a missing code or status is read from the diagnostic,
    and nothing here raises. With `provider_verdict` the provider's own verdict ranks first
    (see :func:`classify_verdict`).

    Guarantees: the pair (type, reason) is one of taxonomy.REASON_TYPE; ``delayed`` never gives
    ``hard``, and neither does 4.x.x/4xx evidence unless a provider verdict says hard (the verdict
    decides the type); ``sender_blocked`` is never sender side.

    This returns the bare classification. A webhook's verdict may also mean "record only" (a
    drop by the provider's own suppression list) or "not a bounce at all" (an unsubscribe):
    callers handling provider events must use :func:`classify_verdict` to learn that; for those
    this function returns the classification to record, or ``unknown`` for ignored events.
    """
    if provider_verdict:
        return classify_verdict(
            provider_verdict=provider_verdict,
            provider=provider,
            smtp_code=smtp_code,
            status=status,
            diagnostic=diagnostic,
            action=action,
        ).classification
    return _classify_evidence(_gather(smtp_code=smtp_code, status=status, diagnostic=diagnostic, action=action))


# --------------------------------------------------------------------------------------------
# Provider verdicts (classification.md, "Provider verdicts (webhooks)")
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of a provider event.

    - `classification`: what to record (type, reason, sender_side).
    - `record_only`: a drop by the provider's own suppression list, repeating an earlier bounce
      (SES OnAccountSuppressionList, Mailgun suppress-*/rejected, SendGrid dropped, Postmark
      SubscriptionChange after a HardBounce) or a complaint marked not-spam: record it, never
      count it, never suppress because of it.
    - `ignore`: not a delivery event at all (Postmark ManuallyDeactivated/Unsubscribe/Subscribe,
      anymail unsubscribed/subscribed, opens and clicks): acknowledge it, record nothing;
      `classification` is then ``unknown``.
    - `action`: the action to record: ``delayed`` for deferral events, ``delivered`` for
      deliveries, else the caller's action (normalized) or None.
    - `source`: which table decided ("ses", "postmark", "mailgun", "sendgrid", "anymail"), or
      "text" when the verdict was absent or not recognized and the text alone decided.
    """

    classification: Classification
    record_only: bool = False
    ignore: bool = False
    action: str | None = None
    source: str = "text"


@dataclass(frozen=True, slots=True)
class _VerdictRule:
    # The type the verdict decides; None: the text decides (among hard and soft).
    type: str | None
    # The reason, when the verdict names it; None: from the text, restricted to `type`.
    reason: str | None = None
    # The reason when the text says nothing that fits.
    default: str = Reason.UNKNOWN.value
    sender_side: bool = False
    record_only: bool = False
    ignore: bool = False
    action: str | None = None


def _fixed(classification: Classification, *, record_only: bool = False, action: str | None = None) -> _VerdictRule:
    return _VerdictRule(
        classification.type,
        classification.reason,
        classification.reason,
        classification.sender_side,
        record_only=record_only,
        action=action,
    )


def _typed(type_: str, default: str, *, record_only: bool = False, action: str | None = None) -> _VerdictRule:
    return _VerdictRule(type_, None, default, record_only=record_only, action=action)


def _from_text(*, record_only: bool = False) -> _VerdictRule:
    return _VerdictRule(None, record_only=record_only)


_IGNORE: Final = _VerdictRule(None, ignore=True)
_DELAYED: Final = Action.DELAYED.value
_DELIVERED_ACTION: Final = Action.DELIVERED.value

# SES bounce notifications: (bounceType, bounceSubType), case-insensitive; "*" = any subtype.
_SES_BOUNCES: Final[Mapping[tuple[str, str], _VerdictRule]] = {
    # Permanent/General: hard; reason from the diagnostic (rejected when it says nothing)
    ("permanent", "general"): _typed(_HARD, _REJECTED),
    # Permanent/NoEmail: the address does not exist
    ("permanent", "noemail"): _fixed(Classification(_HARD, _MAILBOX_NOT_FOUND, False)),
    # Permanent/Suppressed: SES's global list (the address bounced recently elsewhere)
    ("permanent", "suppressed"): _fixed(Classification(_HARD, _MAILBOX_NOT_FOUND, False)),
    # Permanent/OnAccountSuppressionList: a drop by our own provider list → recorded only
    ("permanent", "onaccountsuppressionlist"): _typed(_HARD, _REJECTED, record_only=True),
    # Permanent/anything newer: as General
    ("permanent", "*"): _typed(_HARD, _REJECTED),
    # Transient/General: soft; reason from the diagnostic (server_unavailable by default)
    ("transient", "general"): _typed(_SOFT, _SERVER_UNAVAILABLE),
    # Transient/MailboxFull, Transient/MessageTooLarge
    ("transient", "mailboxfull"): _fixed(Classification(_SOFT, _MAILBOX_FULL, False)),
    ("transient", "messagetoolarge"): _fixed(Classification(_SOFT, _MESSAGE_TOO_LARGE, False)),
    # Transient/ContentRejected, Transient/AttachmentRejected: our content → spam_filtered, sender side
    ("transient", "contentrejected"): _fixed(Classification(_SOFT, _SPAM_FILTERED, True)),
    ("transient", "attachmentrejected"): _fixed(Classification(_SOFT, _SPAM_FILTERED, True)),
    # Transient/anything newer: as General
    ("transient", "*"): _typed(_SOFT, _SERVER_UNAVAILABLE),
    # Undetermined: from the diagnostic, else unknown
    ("undetermined", "*"): _from_text(),
}

# SES complaint notifications: complaintFeedbackType (often absent: then a plain complaint).
_SES_COMPLAINTS: Final[Mapping[str, _VerdictRule]] = {
    # abuse, fraud, virus, other (and auth-failure, an ARF type SES passes through): complaint
    "abuse": _fixed(_COMPLAINT),
    "fraud": _fixed(_COMPLAINT),
    "virus": _fixed(_COMPLAINT),
    "other": _fixed(_COMPLAINT),
    # not-spam: the recipient says it is *not* spam → recorded only
    "not-spam": _fixed(_COMPLAINT, record_only=True),
}

# SES notificationType (SNS notifications) / eventType (event publishing), for the rest.
_SES_EVENTS: Final[Mapping[str, _VerdictRule]] = {
    # Delivery: delivered
    "delivery": _fixed(_DELIVERED, action=_DELIVERED_ACTION),
    # DeliveryDelay (event publishing): soft, still retrying
    "deliverydelay": _typed(_SOFT, _SERVER_UNAVAILABLE, action=_DELAYED),
    # Reject: SES found a virus in our message and did not send it → our content, recorded only
    "reject": _fixed(Classification(_SOFT, _SPAM_FILTERED, True)),
    # Send, Open, Click, Rendering Failure, Subscription: not delivery outcomes
    "send": _IGNORE,
    "open": _IGNORE,
    "click": _IGNORE,
    "rendering failure": _IGNORE,
    "subscription": _IGNORE,
}

# Postmark bounce webhooks: the bounce `Type` (case-insensitive).
_POSTMARK_TYPES: Final[Mapping[str, _VerdictRule]] = {
    # HardBounce: hard; reason from Details (mailbox_not_found by default: Postmark's type 1 is
    # "unknown user, mailbox not found")
    "hardbounce": _typed(_HARD, _MAILBOX_NOT_FOUND),
    # SoftBounce / Transient: soft; reason from Details
    "softbounce": _typed(_SOFT, _SERVER_UNAVAILABLE),
    "transient": _typed(_SOFT, _SERVER_UNAVAILABLE),
    # DnsError: soft dns_problem
    "dnserror": _fixed(Classification(_SOFT, _DNS_PROBLEM, False)),
    # BadEmailAddress: hard mailbox_not_found
    "bademailaddress": _fixed(Classification(_HARD, _MAILBOX_NOT_FOUND, False)),
    # AutoResponder: auto_reply
    "autoresponder": _fixed(_AUTO_REPLY),
    # SpamNotification / SpamComplaint: complaint
    "spamnotification": _fixed(_COMPLAINT),
    "spamcomplaint": _fixed(_COMPLAINT),
    # Blocked: soft spam_filtered, sender side
    "blocked": _fixed(Classification(_SOFT, _SPAM_FILTERED, True)),
    # DMARCPolicy: hard rejected, sender side
    "dmarcpolicy": _fixed(Classification(_HARD, _REJECTED, True)),
    # ManuallyDeactivated, Unsubscribe, Subscribe, SubscriptionChange: not bounces
    "manuallydeactivated": _IGNORE,
    "unsubscribe": _IGNORE,
    "subscribe": _IGNORE,
    "subscriptionchange": _IGNORE,
}

# Postmark RecordType, for records without a bounce Type.
_POSTMARK_RECORDS: Final[Mapping[str, _VerdictRule]] = {
    # Delivery webhook
    "delivery": _fixed(_DELIVERED, action=_DELIVERED_ACTION),
    # SpamComplaint webhook
    "spamcomplaint": _fixed(_COMPLAINT),
    # Open, Click: not delivery outcomes
    "open": _IGNORE,
    "click": _IGNORE,
}

# Postmark SubscriptionChange with SuppressionReason HardBounce: repeats a bounce → recorded only.
_POSTMARK_SUPPRESSED_AFTER_HARD_BOUNCE: Final = _typed(_HARD, _MAILBOX_NOT_FOUND, record_only=True)

# Mailgun `reason` values that decide on their own (case-insensitive).
_MAILGUN_REASONS: Final[Mapping[str, _VerdictRule]] = {
    # suppress-bounce / suppress-complaint / suppress-unsubscribe: Mailgun's own lists → recorded only
    "suppress-bounce": _typed(_HARD, _REJECTED, record_only=True),
    "suppress-complaint": _fixed(_COMPLAINT, record_only=True),
    "suppress-unsubscribe": _fixed(_UNKNOWN, record_only=True),
    # rejected: recorded only
    "rejected": _from_text(record_only=True),
    # old: Mailgun gave up retrying (delivery time expired, like x.4.7) → soft, never hard
    "old": _typed(_SOFT, _SERVER_UNAVAILABLE),
}

# Mailgun `failed` events: `severity`.
_MAILGUN_SEVERITIES: Final[Mapping[str, _VerdictRule]] = {
    # permanent: hard, reason from delivery-status
    "permanent": _typed(_HARD, _REJECTED),
    # temporary: soft, reason from delivery-status
    "temporary": _typed(_SOFT, _SERVER_UNAVAILABLE),
}

# Mailgun `event` values other than `failed`.
_MAILGUN_EVENTS: Final[Mapping[str, _VerdictRule]] = {
    # rejected: Mailgun refused to send → recorded only
    "rejected": _from_text(record_only=True),
    # complained: complaint
    "complained": _fixed(_COMPLAINT),
    # delivered
    "delivered": _fixed(_DELIVERED, action=_DELIVERED_ACTION),
    # failed without a severity: the text decides
    "failed": _from_text(),
    # unsubscribed, accepted, opened, clicked, stored: not delivery outcomes
    "unsubscribed": _IGNORE,
    "accepted": _IGNORE,
    "opened": _IGNORE,
    "clicked": _IGNORE,
    "stored": _IGNORE,
}

# SendGrid `bounce` events: `type`.
_SENDGRID_BOUNCE_TYPES: Final[Mapping[str, _VerdictRule]] = {
    # type bounce: hard (reason from status/reason)
    "bounce": _typed(_HARD, _REJECTED),
    # type blocked: soft (reason from status/reason; a block is a filter by default)
    "blocked": _typed(_SOFT, _SPAM_FILTERED),
}

# SendGrid `event` values.
_SENDGRID_EVENTS: Final[Mapping[str, _VerdictRule]] = {
    # bounce without a type (older payloads): hard
    "bounce": _typed(_HARD, _REJECTED),
    # dropped: SendGrid's own list → recorded only
    "dropped": _from_text(record_only=True),
    # deferred: soft with action delayed (never counted)
    "deferred": _typed(_SOFT, _SERVER_UNAVAILABLE, action=_DELAYED),
    # spamreport: complaint
    "spamreport": _fixed(_COMPLAINT),
    # delivered
    "delivered": _fixed(_DELIVERED, action=_DELIVERED_ACTION),
    # processed, open, click, unsubscribe, group_unsubscribe, group_resubscribe: not delivery outcomes
    "processed": _IGNORE,
    "open": _IGNORE,
    "click": _IGNORE,
    "unsubscribe": _IGNORE,
    "group_unsubscribe": _IGNORE,
    "group_resubscribe": _IGNORE,
}

# django-anymail's normalized `event_type` (no hard/soft distinction: the text decides that).
_ANYMAIL_EVENTS: Final[Mapping[str, _VerdictRule]] = {
    # bounced: a bounce; hard or soft by the text
    "bounced": _from_text(),
    # deferred: soft with action delayed (never counted)
    "deferred": _typed(_SOFT, _SERVER_UNAVAILABLE, action=_DELAYED),
    # rejected: the ESP refused to send (its own list, an invalid address) → recorded only
    "rejected": _from_text(record_only=True),
    # failed: the ESP could not send (template error, ...) → recorded only
    "failed": _from_text(record_only=True),
    # complained: complaint
    "complained": _fixed(_COMPLAINT),
    # delivered
    "delivered": _fixed(_DELIVERED, action=_DELIVERED_ACTION),
    # autoresponded: auto_reply
    "autoresponded": _fixed(_AUTO_REPLY),
    # unsubscribed / subscribed: not bounces
    "unsubscribed": _IGNORE,
    "subscribed": _IGNORE,
    # queued, sent, opened, clicked, inbound, inbound_failed: not delivery outcomes
    "queued": _IGNORE,
    "sent": _IGNORE,
    "opened": _IGNORE,
    "clicked": _IGNORE,
    "inbound": _IGNORE,
    "inbound_failed": _IGNORE,
}

# Provider names as anymail spells them (and common spellings), → our table names.
_PROVIDERS: Final[Mapping[str, str]] = {
    "amazonses": "ses",
    "ses": "ses",
    "amazon": "ses",
    "aws": "ses",
    "postmark": "postmark",
    "mailgun": "mailgun",
    "sendgrid": "sendgrid",
}

# Where each provider's payload keeps its text, status and reply code (used when the caller gave none).
_TEXT_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "ses": ("diagnosticCode",),
    "postmark": ("Details",),
    "mailgun": ("description", "message"),
    "sendgrid": ("reason", "response"),
    "anymail": ("mta_response",),
}
_STATUS_KEY: Final = "status"
_CODE_KEY: Final = "code"

_SES_KEYS: Final = frozenset({"bounceType", "bounceSubType", "complaintFeedbackType", "complaintSubType"})
# Mailgun event names SendGrid does not use (SendGrid says "unsubscribe", "open", "click").
_MAILGUN_ONLY_EVENTS: Final = frozenset(
    {"failed", "rejected", "complained", "accepted", "opened", "clicked", "stored", "unsubscribed"}
)
_NOT_A_LETTER: Final = re.compile(r"[^a-z]")


def _norm(value: object) -> str:
    return _as_text(value, 200).strip().casefold()


def _ses_rule(verdict: Mapping[str, object], named: bool) -> _VerdictRule | None:
    kind = _norm(verdict.get("notificationType") or verdict.get("eventType"))
    if not (named or _SES_KEYS & verdict.keys() or kind in {"bounce", "complaint", *_SES_EVENTS}):
        return None
    if "bounceType" in verdict or kind == "bounce":
        bounce_type = _norm(verdict.get("bounceType")) or "undetermined"
        subtype = _norm(verdict.get("bounceSubType"))
        found = _SES_BOUNCES.get((bounce_type, subtype)) or _SES_BOUNCES.get((bounce_type, "*"))
        return found or _SES_BOUNCES[("undetermined", "*")]
    if "complaintFeedbackType" in verdict or "complaintSubType" in verdict or kind == "complaint":
        if _norm(verdict.get("complaintSubType")) == "onaccountsuppressionlist":
            # SES did not send: the address is on our account's list for an earlier complaint.
            return _fixed(_COMPLAINT, record_only=True)
        return _SES_COMPLAINTS.get(_norm(verdict.get("complaintFeedbackType")), _fixed(_COMPLAINT))
    return _SES_EVENTS.get(kind)


def _postmark_rule(verdict: Mapping[str, object], named: bool) -> _VerdictRule | None:
    record = _norm(verdict.get("RecordType"))
    if not (named or "Type" in verdict or "RecordType" in verdict):
        return None
    if record == "subscriptionchange":
        suppressing = _norm(verdict.get("SuppressSending")) not in {"false", "0"}
        if _norm(verdict.get("SuppressionReason")) == "hardbounce" and suppressing:
            return _POSTMARK_SUPPRESSED_AFTER_HARD_BOUNCE
        return _IGNORE
    if "Type" in verdict and record in {"", "bounce"}:
        return _POSTMARK_TYPES.get(_norm(verdict.get("Type")), _from_text())
    return _POSTMARK_RECORDS.get(record)


def _mailgun_rule(verdict: Mapping[str, object], named: bool) -> _VerdictRule | None:
    event = _norm(verdict.get("event"))
    if not (named or "severity" in verdict or event in _MAILGUN_ONLY_EVENTS):
        return None
    reason = _norm(verdict.get("reason"))
    if reason.startswith("suppress-"):
        return _MAILGUN_REASONS.get(reason, _from_text(record_only=True))
    if event in {"", "failed"} and (reason in _MAILGUN_REASONS or "severity" in verdict):
        return _MAILGUN_REASONS.get(reason) or _MAILGUN_SEVERITIES.get(_norm(verdict.get("severity")), _from_text())
    return _MAILGUN_EVENTS.get(event)


def _sendgrid_rule(verdict: Mapping[str, object], named: bool) -> _VerdictRule | None:
    event = _norm(verdict.get("event"))
    if not (named or event in _SENDGRID_EVENTS):
        return None
    if event == "bounce":
        return _SENDGRID_BOUNCE_TYPES.get(_norm(verdict.get("type")), _SENDGRID_EVENTS["bounce"])
    return _SENDGRID_EVENTS.get(event)


_PROVIDER_RULES: Final = (
    ("ses", _ses_rule),
    ("postmark", _postmark_rule),
    ("mailgun", _mailgun_rule),
    ("sendgrid", _sendgrid_rule),
)


def _resolve(verdict: Mapping[str, object], provider: str | None) -> tuple[_VerdictRule | None, str]:
    named = _PROVIDERS.get(_NOT_A_LETTER.sub("", _norm(provider)))
    for name, resolve in _PROVIDER_RULES:
        if named is not None and name != named:
            continue
        rule = resolve(verdict, named == name)
        if rule is not None:
            return rule, name
    anymail = _ANYMAIL_EVENTS.get(_norm(verdict.get("event_type")))
    if anymail is not None:
        return anymail, "anymail"
    return None, "text"


def _from_verdict(rule: _VerdictRule, ev: _Evidence) -> Classification:
    if rule.type is not None and rule.reason is not None:
        return Classification(rule.type, rule.reason, rule.sender_side)
    if rule.type in {_HARD, _SOFT}:
        # The verdict decides the type; the text (read as final for hard, temporary for soft)
        # the reason.
        for found in _candidates(ev, temporary=rule.type == _SOFT):
            if found.type == rule.type:
                return found
        return Classification(rule.type, rule.default, rule.sender_side)
    # The verdict says "a bounce" (or less): the text decides, among bounces only (the
    # candidates are all hard or soft; a "250 OK" in a bounce's text is not a delivery).
    first = next(_candidates(ev, temporary=_is_temporary(ev)), None)
    return first or Classification(rule.type or EventType.UNKNOWN.value, rule.default, rule.sender_side)


def classify_verdict(
    *,
    provider_verdict: Mapping[str, str] | None,
    provider: str | None = None,
    smtp_code: int | str | None = None,
    status: str | None = None,
    diagnostic: str | None = None,
    action: str | None = None,
) -> Verdict:
    """Classify a provider event: its own structured verdict first, then the text.

    `provider_verdict` holds the provider's verdict fields as the provider names them: SES
    ``bounceType``/``bounceSubType``, ``complaintFeedbackType`` (or ``notificationType``/
    ``eventType``); Postmark ``Type``/``RecordType`` (``SuppressionReason`` for a
    SubscriptionChange); Mailgun ``event``/``severity``/``reason``; SendGrid ``event``/``type``;
    anymail's normalized ``event_type``. `provider` (anymail's ESP name, e.g. "amazon_ses") picks
    the table; without it the keys do. Provider-specific fields win over ``event_type``.

    The verdict decides the type; the reason comes from the verdict where it is specific, else
    from the text rules restricted to that type, else the table's default. When the caller
    gives no diagnostic, status or code, they are read from the verdict's own fields (SES
    ``diagnosticCode``, Postmark ``Details``, Mailgun ``description``/``code``, SendGrid
    ``reason``/``response``/``status``, anymail ``mta_response``).

    A deferral (or the caller's ``delayed``) is soft, never hard. An absent or unrecognized
    verdict leaves the text alone to decide (``source == "text"``). Never raises.
    """
    verdict: Mapping[str, object] = provider_verdict if isinstance(provider_verdict, Mapping) else {}
    rule, source = _resolve(verdict, provider)
    if source != "text":
        keys = _TEXT_KEYS.get(source, ())
        if diagnostic is None or not _as_text(diagnostic).strip():
            diagnostic = next((_as_text(verdict[key]) for key in keys if verdict.get(key)), diagnostic)
        if status is None:
            status = _as_text(verdict.get(_STATUS_KEY)) or None
        if smtp_code is None and source == "mailgun":
            smtp_code = _as_text(verdict.get(_CODE_KEY)) or None
    ev = _gather(smtp_code=smtp_code, status=status, diagnostic=diagnostic, action=action)
    if rule is None:
        return Verdict(_classify_evidence(ev), action=ev.action, source=source)
    if rule.ignore:
        return Verdict(_UNKNOWN, ignore=True, action=ev.action, source=source)
    act = rule.action or ev.action
    classification = _from_verdict(rule, ev)
    if act == _DELAYED:
        # Still retrying: whatever the verdict or code says, this is not (yet) a hard bounce.
        classification = _soften(classification)
    return Verdict(classification, record_only=rule.record_only, action=act, source=source)
