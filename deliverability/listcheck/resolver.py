"""Does a domain accept mail? The `Resolver` interface the list check asks, its DNS
implementation (dnspython: MX, then A/AAAA, null MX per RFC 7505) and a fixed-answer one for
tests and benchmarks.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Mapping
from typing import Protocol

import dns.exception
import dns.name
import dns.resolver


class DomainStatus(enum.StrEnum):
    ACCEPTS_MAIL = "accepts_mail"
    NO_DOMAIN = "no_domain"  # NXDOMAIN: the domain does not exist
    NO_MAIL_RECORDS = "no_mail_records"  # it exists, with no MX and no A/AAAA record
    NULL_MX = "null_mx"  # RFC 7505: the domain says it accepts no mail
    UNVERIFIED = "unverified"  # timeout, SERVFAIL, no nameservers: we don't know

    @property
    def found(self) -> bool:
        """False only when DNS says the domain takes no mail; an unverified domain counts as found."""
        return self not in _NOT_FOUND


_NOT_FOUND = frozenset({DomainStatus.NO_DOMAIN, DomainStatus.NO_MAIL_RECORDS, DomainStatus.NULL_MX})


class Resolver(Protocol):
    """Answers whether a domain accepts mail. Called from several threads at once."""

    def lookup(self, domain: str) -> DomainStatus: ...


class DnsResolver:
    """The real resolver: MX first; without MX records, an A or AAAA record (the implicit MX of
    RFC 5321); a single MX of preference 0 pointing at "." is a null MX (RFC 7505).

    NXDOMAIN, or NOERROR with no MX, A or AAAA: the domain takes no mail. A timeout, SERVFAIL
    (`NoNameservers`), a missing resolver configuration or any other DNS error: unverified,
    never "not found". Each thread gets its own dnspython resolver.
    """

    def __init__(
        self,
        *,
        timeout: float = 2.0,
        lifetime: float = 4.0,
        factory: Callable[[], dns.resolver.Resolver] | None = None,
    ) -> None:
        self.timeout = timeout  # per nameserver try
        self.lifetime = lifetime  # per query, all tries
        self._factory = factory or (lambda: dns.resolver.Resolver(configure=True))
        self._local = threading.local()

    def _resolver(self) -> dns.resolver.Resolver | None:
        if not hasattr(self._local, "resolver"):
            resolver: dns.resolver.Resolver | None
            try:
                resolver = self._factory()
            except dns.exception.DNSException:  # NoResolverConfiguration: no /etc/resolv.conf
                resolver = None
            if resolver is not None:
                resolver.timeout = self.timeout
                resolver.lifetime = self.lifetime
                resolver.cache = None  # the list check keeps its own per-run cache
            self._local.resolver = resolver
        resolver_or_none: dns.resolver.Resolver | None = self._local.resolver
        return resolver_or_none

    def lookup(self, domain: str) -> DomainStatus:
        resolver = self._resolver()
        if resolver is None:
            return DomainStatus.UNVERIFIED
        try:
            name = dns.name.from_text(domain)  # absolute: no search-list suffixes
            try:
                answer = resolver.resolve(name, "MX")
            except dns.resolver.NoAnswer:
                pass
            else:
                records = list(answer)
                if len(records) == 1 and records[0].preference == 0 and records[0].exchange == dns.name.root:
                    return DomainStatus.NULL_MX
                return DomainStatus.ACCEPTS_MAIL if records else DomainStatus.NO_MAIL_RECORDS
            for rdtype in ("A", "AAAA"):
                try:
                    if list(resolver.resolve(name, rdtype)):
                        return DomainStatus.ACCEPTS_MAIL
                except dns.resolver.NoAnswer:
                    continue
            return DomainStatus.NO_MAIL_RECORDS
        except dns.resolver.NXDOMAIN:
            return DomainStatus.NO_DOMAIN
        except dns.exception.DNSException:  # Timeout, NoNameservers (SERVFAIL), YXDOMAIN, ...
            return DomainStatus.UNVERIFIED


class StaticResolver:
    """Fixed answers, with an optional latency per lookup: for tests and benchmarks, never the
    network. `lookups` counts the calls per domain (thread-safe)."""

    def __init__(
        self,
        answers: Mapping[str, DomainStatus] | None = None,
        *,
        default: DomainStatus = DomainStatus.ACCEPTS_MAIL,
        latency: float = 0.0,
    ) -> None:
        self.answers = dict(answers or {})
        self.default = default
        self.latency = latency
        self.lookups: dict[str, int] = {}
        self._lock = threading.Lock()

    def lookup(self, domain: str) -> DomainStatus:
        with self._lock:
            self.lookups[domain] = self.lookups.get(domain, 0) + 1
        if self.latency:
            time.sleep(self.latency)
        return self.answers.get(domain, self.default)
