"""The fresh DNS check beside a `domain_not_found` request: MX, then A/AAAA, null MX, and every
DNS failure as "unverified"; a fake resolver, never the network."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name
import dns.resolver
import pytest

from deliverability.portal import domaincheck
from deliverability.portal.domaincheck import Verdict, check_domain


@dataclass
class MX:
    preference: int
    exchange: dns.name.Name


@dataclass
class Address:
    text: str

    def to_text(self) -> str:
        return self.text


class FakeResolver:
    """Answers per record type: a list of records, or an exception class to raise."""

    def __init__(self, answers: dict[str, Any], *, clock: Callable[[float], None] | None = None) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str, float]] = []
        self.timeout = 0.0
        self.lifetime = 0.0
        self.clock = clock

    def resolve(self, qname: Any, rdtype: Any) -> Any:
        self.asked.append((str(qname), rdtype, self.lifetime))
        if self.clock is not None:
            self.clock(1.5)
        answer = self.answers.get(rdtype, dns.resolver.NoAnswer)
        if isinstance(answer, type) and issubclass(answer, Exception):
            raise answer
        return answer


def check(answers: dict[str, Any], domain: str = "example.org") -> tuple[domaincheck.DomainCheck, FakeResolver]:
    resolver = FakeResolver(answers)
    return check_domain(domain, resolver_factory=lambda: resolver), resolver


def test_mx_records_by_preference() -> None:
    result, resolver = check(
        {"MX": [MX(20, dns.name.from_text("mx2.example.org.")), MX(10, dns.name.from_text("mx1.example.org."))]}
    )
    assert (result.verdict, result.mx, result.accepts_mail) == (
        Verdict.ACCEPTS_MAIL,
        ["10 mx1.example.org", "20 mx2.example.org"],
        True,
    )
    assert [(name, rdtype) for name, rdtype, _lifetime in resolver.asked] == [("example.org.", "MX")]
    assert resolver.timeout == 2.0


def test_a_null_mx() -> None:
    result, _ = check({"MX": [MX(0, dns.name.root)]})
    assert (result.verdict, result.accepts_mail) == (Verdict.NULL_MX, False)
    assert "null MX" in result.label


def test_no_mx_then_a_then_aaaa() -> None:
    result, resolver = check({"A": [Address("192.0.2.10")], "AAAA": [Address("2001:db8::1")]})
    assert (result.verdict, result.addresses) == (Verdict.ACCEPTS_MAIL, ["192.0.2.10", "2001:db8::1"])
    assert [rdtype for _name, rdtype, _lifetime in resolver.asked] == ["MX", "A", "AAAA"]
    result, _ = check({"AAAA": [Address("2001:db8::1")]})
    assert (result.verdict, result.addresses) == (Verdict.ACCEPTS_MAIL, ["2001:db8::1"])


def test_a_domain_with_no_mail_records() -> None:
    result, _ = check({})
    assert (result.verdict, result.accepts_mail) == (Verdict.NO_MAIL_RECORDS, False)


def test_a_domain_that_does_not_exist() -> None:
    result, _ = check({"MX": dns.resolver.NXDOMAIN})
    assert (result.verdict, result.label) == (Verdict.NO_DOMAIN, "The domain does not exist (NXDOMAIN).")


@pytest.mark.parametrize("error", [dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.YXDOMAIN])
def test_dns_failures_are_unverified_never_not_found(error: type[Exception]) -> None:
    result, _ = check({"MX": error})
    assert (result.verdict, result.detail) == (Verdict.UNVERIFIED, error.__name__)
    result, _ = check({"A": error})
    assert result.verdict == Verdict.UNVERIFIED


def test_no_resolver_configuration_and_bad_names() -> None:
    def broken() -> Any:
        raise dns.resolver.NoResolverConfiguration

    assert check_domain("example.org", resolver_factory=broken).verdict == Verdict.UNVERIFIED
    assert check({}, domain="a" * 64 + ".example")[0].verdict == Verdict.UNVERIFIED  # label too long


def test_the_whole_check_keeps_within_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(domaincheck.time, "monotonic", lambda: now[0])

    def advance(seconds: float) -> None:
        now[0] += seconds

    resolver = FakeResolver({}, clock=advance)  # each query takes 1.5 s, none answers
    result = check_domain("slow.example", resolver_factory=lambda: resolver, timeout=2.0, budget=4.0)
    # MX gets 2 s, A 2 s, AAAA only the 1 s left; then the budget is spent.
    assert [lifetime for _name, _rdtype, lifetime in resolver.asked] == [2.0, 2.0, 1.0]
    assert result.verdict == Verdict.NO_MAIL_RECORDS and result.seconds == 4.5
    resolver = FakeResolver({}, clock=lambda s: advance(3.0))
    result = check_domain("slower.example", resolver_factory=lambda: resolver, timeout=2.0, budget=4.0)
    assert result.verdict == Verdict.UNVERIFIED and len(resolver.asked) == 2
