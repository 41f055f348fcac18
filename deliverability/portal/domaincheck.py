"""A fresh DNS check of a domain for the support agent deciding a `domain_not_found` request
(DESIGN.md, workflow step 4): MX first, then A/AAAA (the implicit MX of RFC 5321), a null MX
(RFC 7505) recognised, within a fixed time budget.

The resolver is injectable (`resolver_factory`): tests pass a fake, never the network.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import dns.exception
import dns.name
import dns.resolver
from django.utils.translation import gettext_lazy as _

TIMEOUT_SECONDS = 2.0  # per query
BUDGET_SECONDS = 4.0  # the whole check (MX, A, AAAA): the agent's page waits for it


class DnsAnswerer(Protocol):
    """What the check needs of a dnspython `Resolver`."""

    timeout: float
    lifetime: float

    def resolve(self, qname: Any, rdtype: Any) -> Any: ...


class Verdict(enum.StrEnum):
    ACCEPTS_MAIL = "accepts_mail"  # MX records, or an A/AAAA record
    NO_DOMAIN = "no_domain"  # NXDOMAIN
    NO_MAIL_RECORDS = "no_mail_records"  # the domain exists, with no MX, A or AAAA
    NULL_MX = "null_mx"  # "MX 0 ." - the domain says it takes no mail
    UNVERIFIED = "unverified"  # timeout, SERVFAIL, no resolver: we don't know


VERDICT_LABELS = {
    Verdict.ACCEPTS_MAIL: _("The domain accepts mail now."),
    Verdict.NO_DOMAIN: _("The domain does not exist (NXDOMAIN)."),
    Verdict.NO_MAIL_RECORDS: _("The domain exists but has no MX, A or AAAA record: it takes no mail."),
    Verdict.NULL_MX: _("The domain publishes a null MX (RFC 7505): it says it accepts no mail."),
    Verdict.UNVERIFIED: _("DNS did not answer in time or failed; the domain could not be verified."),
}


@dataclass(frozen=True)
class DomainCheck:
    domain: str
    verdict: Verdict
    mx: list[str] = field(default_factory=list)  # "10 mx1.example.com", by preference
    addresses: list[str] = field(default_factory=list)  # A/AAAA, when there is no MX
    detail: str = ""  # the DNS error, for an unverified domain
    seconds: float = 0.0

    @property
    def label(self) -> str:
        return str(VERDICT_LABELS[self.verdict])

    @property
    def accepts_mail(self) -> bool:
        return self.verdict == Verdict.ACCEPTS_MAIL


def default_resolver() -> DnsAnswerer:
    resolver: DnsAnswerer = dns.resolver.Resolver(configure=True)
    return resolver


def check_domain(
    domain: str,
    *,
    resolver_factory: Callable[[], DnsAnswerer] | None = None,
    timeout: float = TIMEOUT_SECONDS,
    budget: float = BUDGET_SECONDS,
) -> DomainCheck:
    """Ask DNS now whether `domain` (IDNA-encoded, as stored) accepts mail: each query within
    `timeout` seconds, all of them within `budget`."""
    started = time.monotonic()
    deadline = started + budget

    def done(verdict: Verdict, **kwargs: Any) -> DomainCheck:
        return DomainCheck(domain=domain, verdict=verdict, seconds=round(time.monotonic() - started, 3), **kwargs)

    try:
        resolver = (resolver_factory or default_resolver)()
        name = dns.name.from_text(domain)  # absolute: no search-list suffixes
    except (dns.exception.DNSException, ValueError) as error:  # no resolv.conf, a bad name
        return done(Verdict.UNVERIFIED, detail=type(error).__name__)
    resolver.timeout = timeout

    def ask(rdtype: str) -> Any:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise dns.exception.Timeout
        resolver.lifetime = min(timeout, remaining)
        return resolver.resolve(name, rdtype)

    try:
        try:
            answer = ask("MX")
        except dns.resolver.NoAnswer:
            pass
        else:
            records = sorted(answer, key=lambda r: (r.preference, str(r.exchange)))
            if len(records) == 1 and records[0].preference == 0 and records[0].exchange == dns.name.root:
                return done(Verdict.NULL_MX, mx=["0 ."])
            mx = [f"{r.preference} {str(r.exchange).rstrip('.')}" for r in records]
            return done(Verdict.ACCEPTS_MAIL if mx else Verdict.NO_MAIL_RECORDS, mx=mx)
        addresses: list[str] = []
        for rdtype in ("A", "AAAA"):
            try:
                addresses += [r.to_text() for r in ask(rdtype)]
            except dns.resolver.NoAnswer:
                continue
        return done(Verdict.ACCEPTS_MAIL if addresses else Verdict.NO_MAIL_RECORDS, addresses=addresses)
    except dns.resolver.NXDOMAIN:
        return done(Verdict.NO_DOMAIN)
    except dns.exception.DNSException as error:  # Timeout, NoNameservers (SERVFAIL), ...
        return done(Verdict.UNVERIFIED, detail=type(error).__name__)
