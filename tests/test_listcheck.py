"""The list check engine (issue 9): the verdicts and their precedence, typo suggestions and the
real domains they must leave alone, reading messy files, suppressions in one query per chunk,
DNS through a stub (never the network), the report, progress, bounded memory."""

from __future__ import annotations

import codecs
import csv
import io
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import pytest

from deliverability.listcheck import (
    REPORT_COLUMNS,
    DnsResolver,
    DomainStatus,
    ListFileError,
    Progress,
    RowResult,
    SeenAddresses,
    StaticResolver,
    Verdict,
    check_list,
    open_list,
    repaired_address,
    suggest_domain,
)
from deliverability.listcheck import reader as reader_module
from deliverability.listcheck.engine import ListChecker
from deliverability.listcheck.rules import (
    KNOWN_MAIL_DOMAINS,
    disposable_domain,
    header_score,
    role_of,
    typo_distance,
)
from deliverability.models import School
from deliverability.taxonomy import BlockedCategories, SuppressionReason
from tests.factories import SuppressionFactory

pytestmark = pytest.mark.django_db


def check(content: str | bytes, **kwargs: Any) -> list[RowResult]:
    """Every row's result for a file with `content` (str is written as UTF-8)."""
    data = content.encode() if isinstance(content, str) else content
    with open_list(io.BytesIO(data), column=kwargs.pop("column", None)) as list_file:
        return list(ListChecker(**kwargs).check(list_file.rows()))


def verdicts(content: str | bytes, **kwargs: Any) -> list[tuple[str, str, str]]:
    return [(r.email.strip(), r.verdict.value, r.suggestion or r.detail) for r in check(content, **kwargs)]


def report_of(content: str | bytes, **kwargs: Any) -> tuple[Any, list[list[str]]]:
    data = content.encode() if isinstance(content, str) else content
    out = io.StringIO(newline="")
    result = check_list(io.BytesIO(data), report=out, **kwargs)
    delimiter = result.layout.delimiter or ","
    return result, list(csv.reader(io.StringIO(out.getvalue(), newline=""), delimiter=delimiter))


# --- typos -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("gmial.com", "gmail.com"),
        ("gmail.con", "gmail.com"),
        ("hotmial.com", "hotmail.com"),
        ("outlok.com", "outlook.com"),
        ("intera.pl", "interia.pl"),
        ("yaho.com", "yahoo.com"),
        ("gmai.com", "gmail.com"),
        ("gmaill.com", "gmail.com"),
        ("gnail.com", "gmail.com"),
        ("gamil.com", "gmail.com"),
        ("gmail.co", "gmail.com"),
        ("gmail.cm", "gmail.com"),
        ("gmail.pl", "gmail.com"),
        ("gmail.com.pl", "gmail.com"),
        ("googlemial.com", "googlemail.com"),
        ("hotmail.cmo", "hotmail.com"),
        ("hotmaill.co", "hotmail.com"),
        ("outlook.comm", "outlook.com"),
        ("outllok.com", "outlook.com"),
        ("iclod.com", "icloud.com"),
        ("icloud.con", "icloud.com"),
        ("protonmial.com", "protonmail.com"),
        ("interia.pk", "interia.pl"),
        ("intreia.pl", "interia.pl"),
        ("onet.pll", "onet.pl"),
        ("poczta.onet.pll", "poczta.onet.pl"),
        ("wp.pll", "wp.pl"),
        ("o2.lp", "o2.pl"),
        ("firma.con", "firma.com"),  # .con is no TLD: whatever the name, .com was meant
    ],
)
def test_likely_misspellings_get_the_domain_that_was_meant(typed: str, meant: str) -> None:
    assert suggest_domain(typed) == meant


@pytest.mark.parametrize(
    "domain",
    [
        # real domains one slip from a popular one
        "wp.pl", "op.pl", "o2.pl", "vp.pl", "onet.pl", "onet.eu", "poczta.onet.pl", "interia.pl", "interia.eu",
        "gmx.com", "gmx.de", "mail.com", "email.com", "ymail.com", "cloud.com", "live.com", "hotmail.de",
        "outlook.cz", "yahoo.co.uk",
        # short names and dictionary words are never "corrected"
        "xp.pl", "net.pl", "love.com", "gazetka.pl", "wp.pk", "o2.pk", "wahoo.com",
        # schools and companies
        "uw.edu.pl", "szkola.edu.pl", "student.uw.edu.pl", "sp1.krakow.pl", "example.com",
    ],
)  # fmt: skip
def test_real_domains_are_never_corrected(domain: str) -> None:
    assert suggest_domain(domain) is None


def test_no_known_mail_domain_is_corrected_or_listed_as_disposable() -> None:
    assert [d for d in KNOWN_MAIL_DOMAINS if suggest_domain(d) is not None] == []
    assert [d for d in KNOWN_MAIL_DOMAINS if disposable_domain(d) is not None] == []


def test_typo_distance_counts_swaps_and_neighbouring_keys_as_one_slip() -> None:
    assert typo_distance("gmial", "gmail", 2) == 1  # swap
    assert typo_distance("gnail", "gmail", 2) == 1  # n is beside m
    assert typo_distance("gmai", "gmail", 2) == 1  # a letter dropped
    assert typo_distance("wahoo", "yahoo", 2) == 2  # w is nowhere near y: no slip of the finger
    assert typo_distance("abcdefgh", "gmail", 2) == 3  # stops early past the limit


# --- roles, disposable domains, headers ------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "role"),
    [("info", "info"), ("biuro", "biuro"), ("sekretariat", "sekretariat"), ("noreply", "noreply"),
     ("no-reply", "no-reply"), ("kontakt+szkola", "kontakt"), ("jan.kowalski", None), ("informatyk", None)],
)  # fmt: skip
def test_role_local_parts(local: str, role: str | None) -> None:
    assert role_of(local) == role


def test_disposable_domains_and_their_subdomains() -> None:
    assert disposable_domain("mailinator.com") == "mailinator.com"
    assert disposable_domain("x.mailinator.com") == "mailinator.com"
    assert disposable_domain("gmail.com") is None


@pytest.mark.parametrize(
    ("cell", "score"),
    [("E-mail", 2), ("email", 2), ("Adres e-mail:", 2), ("ADRES", 2), ("E-mail rodzica", 1), ("Imię", 0)],
)
def test_header_names_of_the_email_column(cell: str, score: int) -> None:
    assert header_score(cell) == score


# --- verdicts and their precedence ------------------------------------------------------------


def test_one_verdict_per_row_with_its_detail() -> None:
    school = School.objects.create(name="A", slug="a")
    SuppressionFactory(email="dead@wp.pl", reason=SuppressionReason.MAILBOX_NOT_FOUND)
    resolver = StaticResolver(
        {"nxdomain.pl": DomainStatus.NO_DOMAIN, "slow.pl": DomainStatus.UNVERIFIED, "nullmx.pl": DomainStatus.NULL_MX}
    )
    rows = verdicts(
        "email\n"
        "Jan.Kowalski@WP.pl \n"
        "jan@@wp.pl\n"
        " jan.kowalski@wp.pl\n"
        "dead@wp.pl\n"
        "anna@gmial.com\n"
        "ola@nxdomain.pl\n"
        "ola@nullmx.pl\n"
        "piotr@mailinator.com\n"
        "biuro@szkola.edu.pl\n"
        "ewa@slow.pl\n",
        school=school,
        resolver=resolver,
    )
    assert rows == [
        ("Jan.Kowalski@WP.pl", "ok", ""),
        ("jan@@wp.pl", "invalid", "jan@wp.pl"),
        ("jan.kowalski@wp.pl", "duplicate", "same address as row 2"),
        ("dead@wp.pl", "suppressed", "Mailbox not found (mailbox_not_found), platform-wide, since "
         f"{datetime.now(UTC):%Y-%m-%d}"),
        ("anna@gmial.com", "typo", "anna@gmail.com"),
        ("ola@nxdomain.pl", "domain_not_found", "the domain nxdomain.pl does not exist"),
        ("ola@nullmx.pl", "domain_not_found", "the domain nullmx.pl accepts no mail (null MX, RFC 7505)"),
        ("piotr@mailinator.com", "disposable", "mailinator.com is a disposable (throwaway) mail service"),
        ("biuro@szkola.edu.pl", "role", "a role address (biuro@), read by several people or nobody"),
        ("ewa@slow.pl", "ok", "domain not verified"),
    ]  # fmt: skip


def test_the_first_verdict_that_applies_wins() -> None:
    SuppressionFactory(email="info@gmial.com")
    resolver = StaticResolver({"mailinator.com": DomainStatus.NO_DOMAIN})
    rows = verdicts(
        "info@gmial.com\n"  # suppressed, a typo and a role address: suppressed
        "info@gmial.com\n"  # and a duplicate of it: duplicate
        "info@mailinator.com\n"  # a dead domain beats disposable and role
        "admin@yopmail.com\n",  # disposable beats role
        resolver=resolver,
    )
    assert [v for _email, v, _detail in rows] == ["suppressed", "duplicate", "domain_not_found", "disposable"]


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("jan.kowalski", "missing @"),
        ("@wp.pl", "empty local part"),
        ("jan kowalski@wp.pl", "The email address contains invalid characters before the @-sign: SPACE."),
        ("jan..k@wp.pl", "An email address cannot have two periods in a row."),
        ("x" * 300 + "@wp.pl", "too long (more than 254 characters)"),
        ("", "empty address"),
    ],
)
def test_invalid_addresses_carry_the_validators_message_and_their_row(address: str, message: str) -> None:
    (row,) = check(f"name;email\nJan;{address}\n")
    assert (row.row, row.verdict, row.detail, row.normalized) == (2, Verdict.INVALID, message, "")


@pytest.mark.parametrize(
    ("raw", "repaired"),
    [
        ("Jan Kowalski <jan@wp.pl>", "jan@wp.pl"),
        ("mailto:Jan@WP.pl", "jan@wp.pl"),
        ("jan@wp,pl", "jan@wp.pl"),
        ("jan @ wp.pl", "jan@wp.pl"),
        ("jan@gmail..com", "jan@gmail.com"),
        ("<jan@gmial.com>", "jan@gmail.com"),  # repaired, then the typo too
        ("jan@wp.pl;", "jan@wp.pl"),
        ("jan.kowalski", ""),
        ("jan@", ""),
    ],
)
def test_small_repairs_of_invalid_addresses_are_suggested(raw: str, repaired: str) -> None:
    assert repaired_address(raw) == repaired


def test_suppressions_of_the_school_apply_only_with_the_school() -> None:
    school_a = School.objects.create(name="A", slug="a")
    school_b = School.objects.create(name="B", slug="b")
    SuppressionFactory(email="ours@wp.pl", school=school_a, reason=SuppressionReason.COMPLAINT,
                       categories=BlockedCategories.BULK_AND_AUTOMATION)  # fmt: skip
    SuppressionFactory(email="theirs@wp.pl", school=school_b, reason=SuppressionReason.COMPLAINT)
    SuppressionFactory(
        email="lifted@wp.pl", created_at=datetime.now(UTC) - timedelta(days=1), lifted_at=datetime.now(UTC)
    )
    SuppressionFactory(email="both@wp.pl", school=school_a, reason=SuppressionReason.SENDER_BLOCKED)
    SuppressionFactory(email="both@wp.pl", reason=SuppressionReason.DOMAIN_NOT_FOUND)
    content = "ours@wp.pl\ntheirs@wp.pl\nlifted@wp.pl\nboth@wp.pl\n"
    today = f"{datetime.now(UTC):%Y-%m-%d}"

    assert [(v, d) for _e, v, d in verdicts(content, school=school_a)] == [
        ("suppressed", f"Spam complaint (complaint), for this school, bulk and automation only, since {today}"),
        ("ok", ""),
        ("ok", ""),
        ("suppressed", f"Domain not found (domain_not_found), platform-wide, since {today}"),
    ]
    assert [v for _e, v, _d in verdicts(content)] == ["ok", "ok", "ok", "suppressed"]


def test_suppressions_are_read_with_one_query_per_chunk(django_assert_num_queries: Any) -> None:
    SuppressionFactory(email="user7@wp.pl")
    content = "".join(f"user{i}@wp.pl\n" for i in range(250))
    with open_list(io.BytesIO(content.encode())) as list_file:
        checker = ListChecker(chunk_size=100)
        with django_assert_num_queries(3):
            results = list(checker.check(list_file.rows()))
    assert [r.row for r in results if r.verdict == Verdict.SUPPRESSED] == [8]


# --- DNS -------------------------------------------------------------------------------------


def test_each_domain_is_resolved_once_and_only_when_needed() -> None:
    SuppressionFactory(email="dead@skipped-suppressed.pl")
    resolver = StaticResolver()
    content = "".join(f"user{i}@d{i % 7}.pl\n" for i in range(100)) + (
        "anna@gmial.com\nbroken@@skipped-invalid.pl\ndead@skipped-suppressed.pl\n"
    )
    results = check(content, resolver=resolver, chunk_size=10)
    assert sorted(resolver.lookups.items()) == [(f"d{i}.pl", 1) for i in range(7)]
    assert {r.verdict for r in results} == {Verdict.OK, Verdict.TYPO, Verdict.INVALID, Verdict.SUPPRESSED}


def test_offline_looks_nothing_up() -> None:
    result, _rows = report_of("ola@nxdomain.pl\n")
    assert (result.dns_checked, result.domains_looked_up, result.counts["ok"]) == (False, 0, 1)


def test_lookups_run_concurrently() -> None:
    resolver = StaticResolver(latency=0.05)
    content = "".join(f"user@domain{i}.pl\n" for i in range(100))
    started = time.monotonic()
    results = check(content, resolver=resolver, dns_workers=50)
    elapsed = time.monotonic() - started
    assert len(results) == 100 and len(resolver.lookups) == 100
    assert elapsed < 2.5  # one after another: 5 s


def test_a_failing_resolver_leaves_the_domain_unverified() -> None:
    class Broken:
        def lookup(self, domain: str) -> DomainStatus:
            raise RuntimeError("resolver bug")

    (row,) = check("jan@wp.pl\n", resolver=Broken())
    assert (row.verdict, row.detail) == (Verdict.OK, "domain not verified")


def _mx(text: str) -> Any:
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.MX, text)


def _a(text: str) -> Any:
    return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.A, text)


class FakeDns:
    """Stands in for dnspython's Resolver: answers from `zone`, never the network. A zone
    entry is a list of records or an exception to raise; a missing one is NoAnswer."""

    def __init__(self, zone: dict[tuple[str, str], Any]) -> None:
        self.zone = zone
        self.timeout = self.lifetime = 0.0
        self.cache: Any = None
        self.queries: list[tuple[str, str]] = []

    def resolve(self, qname: dns.name.Name, rdtype: str = "A", **kwargs: Any) -> list[Any]:
        assert qname.is_absolute()
        name = qname.to_text(omit_final_dot=True)
        self.queries.append((name, rdtype))
        answer = self.zone.get((name, rdtype), dns.resolver.NoAnswer)
        if isinstance(answer, type) and issubclass(answer, Exception):
            raise answer()
        return list(answer)


@pytest.mark.parametrize(
    ("zone", "status"),
    [
        ({("x.pl", "MX"): [_mx("10 mx.x.pl.")]}, DomainStatus.ACCEPTS_MAIL),
        ({("x.pl", "MX"): [_mx("0 .")]}, DomainStatus.NULL_MX),
        ({("x.pl", "MX"): [_mx("0 ."), _mx("10 mx.x.pl.")]}, DomainStatus.ACCEPTS_MAIL),
        ({("x.pl", "A"): [_a("192.0.2.1")]}, DomainStatus.ACCEPTS_MAIL),  # implicit MX
        ({}, DomainStatus.NO_MAIL_RECORDS),
        ({("x.pl", "MX"): dns.resolver.NXDOMAIN}, DomainStatus.NO_DOMAIN),
        ({("x.pl", "MX"): dns.exception.Timeout}, DomainStatus.UNVERIFIED),
        ({("x.pl", "MX"): dns.resolver.LifetimeTimeout}, DomainStatus.UNVERIFIED),
        ({("x.pl", "MX"): dns.resolver.NoNameservers}, DomainStatus.UNVERIFIED),  # SERVFAIL
        ({("x.pl", "AAAA"): dns.exception.Timeout}, DomainStatus.UNVERIFIED),
    ],
)
def test_dns_resolver_reads_mx_then_a_and_aaaa(zone: dict[tuple[str, str], Any], status: DomainStatus) -> None:
    fake = FakeDns(zone)
    resolver = DnsResolver(timeout=1.5, lifetime=3.0, factory=lambda: fake)  # type: ignore[arg-type,return-value]
    assert resolver.lookup("x.pl") == status
    assert (fake.timeout, fake.lifetime) == (1.5, 3.0)


def test_a_name_dns_refuses_is_unverified_not_an_error() -> None:
    resolver = DnsResolver(factory=lambda: FakeDns({}))  # type: ignore[arg-type,return-value]
    assert resolver.lookup("a" * 64 + ".pl") == DomainStatus.UNVERIFIED  # a label over 63 characters


def test_dns_resolver_without_configuration_leaves_domains_unverified() -> None:
    def unconfigured() -> dns.resolver.Resolver:
        raise dns.resolver.NoResolverConfiguration("no nameservers")

    assert DnsResolver(factory=unconfigured).lookup("wp.pl") == DomainStatus.UNVERIFIED


# --- reading messy files ---------------------------------------------------------------------


def emails_of(data: bytes, **kwargs: Any) -> list[tuple[int, str]]:
    with open_list(io.BytesIO(data), **kwargs) as list_file:
        return [(row.row, row.email) for row in list_file.rows()]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_any_delimiter(delimiter: str) -> None:
    data = delimiter.join(["Imię", "Nazwisko", "Email"]) + "\n" + delimiter.join(["Jan", "Kowalski", "jan@wp.pl"])
    with open_list(io.BytesIO(data.encode())) as list_file:
        assert (list_file.layout.delimiter, list_file.layout.email_column) == (delimiter, 2)
        assert [r.email for r in list_file.rows()] == ["jan@wp.pl"]


def test_one_address_per_line_without_header() -> None:
    with open_list(io.BytesIO(b"jan@wp.pl\r\nola@o2.pl\r\n\r\nnot an address\r\n")) as list_file:
        assert (list_file.layout.delimiter, list_file.layout.header) == (None, None)
        assert [(r.row, r.email) for r in list_file.rows()] == [
            (1, "jan@wp.pl"),
            (2, "ola@o2.pl"),
            (4, "not an address"),
        ]
        assert list_file.blank_rows == 1


def test_lines_of_a_plain_list_are_taken_as_they_stand() -> None:
    data = b'"jan@wp.pl"\n"Piotr" <piotr@onet.pl>\n"ola@o2.pl\n'
    assert emails_of(data) == [(1, "jan@wp.pl"), (2, '"Piotr" <piotr@onet.pl>'), (3, '"ola@o2.pl')]


def test_the_email_column_is_found_by_content_when_the_header_says_nothing() -> None:
    data = "Uczeń;Kontakt;Klasa\nJan;jan@wp.pl;1a\nOla;ola@o2.pl;2b\n"
    with open_list(io.BytesIO(data.encode())) as list_file:
        assert (list_file.layout.header, list_file.layout.email_column) == (("Uczeń", "Kontakt", "Klasa"), 1)


def test_a_file_without_header_keeps_its_first_row() -> None:
    data = b"Jan,jan@wp.pl\nOla,ola@o2.pl\n"
    with open_list(io.BytesIO(data)) as list_file:
        assert list_file.layout.header is None
    assert emails_of(data) == [(1, "jan@wp.pl"), (2, "ola@o2.pl")]


def test_a_broken_first_address_is_not_taken_for_a_header() -> None:
    assert emails_of(b"Jan;jan.wp.pl\nOla;ola@o2.pl\n") == [(1, "jan.wp.pl"), (2, "ola@o2.pl")]


def test_of_two_mail_columns_the_one_with_addresses_wins() -> None:
    data = "Adres;E-mail rodzica;Uwagi\nul. Polna 1;rodzic@wp.pl;\nul. Leśna 2;mama@o2.pl;\n"
    with open_list(io.BytesIO(data.encode())) as list_file:
        assert list_file.layout.email_column == 1


def test_the_email_column_can_be_named_or_numbered() -> None:
    data = b"Email;Email zapasowy\na@wp.pl;b@wp.pl\n"
    assert emails_of(data, column="email zapasowy") == [(2, "b@wp.pl")]
    assert emails_of(data, column=1) == [(2, "a@wp.pl")]
    with pytest.raises(ListFileError, match='no column named "telefon"'):
        emails_of(data, column="telefon")
    with pytest.raises(ListFileError, match="there is no column 5"):
        emails_of(data, column=5)


def test_a_table_without_any_address_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ListFileError, match="No column of the file holds e-mail addresses"):
        emails_of(b"Name;Phone\nJan;600100200\n")


def test_quoted_fields_may_hold_delimiters_and_line_breaks() -> None:
    data = b'name,email,note\n"Kowalski, Jan",jan@wp.pl,"two\nlines"\nOla,ola@o2.pl,\n'
    assert emails_of(data) == [(2, "jan@wp.pl"), (4, "ola@o2.pl")]


def test_a_stray_quote_does_not_swallow_the_rows_after_it() -> None:
    rows = ['"Kowalski;jan@wp.pl'] + [f"Name{i};user{i}@wp.pl" for i in range(60)]
    data = ("name;email\n" + "\n".join(rows) + "\n").encode()
    emails = emails_of(data)
    assert emails[0] == (2, "jan@wp.pl")
    assert emails[1:] == [(3 + i, f"user{i}@wp.pl") for i in range(60)]


def test_rows_with_the_wrong_number_of_columns_are_still_checked() -> None:
    data = b"name;email;phone\nJan;jan@wp.pl\nOla;ola@o2.pl;600;extra;cells\nolek@onet.pl\nPiotr\n"
    results = check(data)
    assert [(r.row, r.email, r.verdict.value) for r in results] == [
        (2, "jan@wp.pl", "ok"),
        (3, "ola@o2.pl", "ok"),
        (4, "olek@onet.pl", "ok"),
        (5, "", "invalid"),
    ]
    assert results[3].detail == "no e-mail in this row (1 of 3 columns)"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("email;imię\nłucja@wp.pl;Łucja\n".encode(), "utf-8"),
        (codecs.BOM_UTF8 + "email;imię\nłucja@wp.pl;Łucja\n".encode(), "utf-8-sig"),
        ("email;imię\nłucja@wp.pl;Łucja\n".encode("cp1250"), "cp1250"),
        ("email\timię\r\nłucja@wp.pl\tŁucja\r\n".encode("utf-16"), "utf-16"),  # Excel's "Unicode text"
    ],
)
def test_encodings(data: bytes, encoding: str) -> None:
    with open_list(io.BytesIO(data)) as list_file:
        assert list_file.layout.encoding == encoding
        (row,) = list_file.rows()
    assert row.cells == ["łucja@wp.pl", "Łucja"]


def test_stray_windows_1250_bytes_in_a_utf8_file_are_read_as_such() -> None:
    data = "email;imię\nżaneta@wp.pl;Żaneta\n".encode() + "ola@o2.pl;Ola Wiśniewska\n".encode("cp1250")
    with open_list(io.BytesIO(data)) as list_file:
        assert list_file.layout.encoding == "utf-8"
        assert [row.cells[1] for row in list_file.rows()] == ["Żaneta", "Ola Wiśniewska"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00" + bytes(200), "is a ZIP archive (an .xlsx or .ods spreadsheet?)"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(200), "an .xls spreadsheet"),
        (b"%PDF-1.7\n" + bytes(range(256)) * 4, "is a PDF document"),
        (bytes(range(256)) * 40, "is not a text file"),
        (bytes(4096), "is not a text file"),
    ],
)
def test_binary_files_are_refused_with_a_clear_message(data: bytes, message: str) -> None:
    with pytest.raises(ListFileError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        open_list(io.BytesIO(data))


def test_a_line_too_long_is_reported_without_being_read_into_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader_module, "MAX_LINE_CHARS", 1_000)
    data = b"email\njan@wp.pl\n" + b"x" * 5_000 + b"@wp.pl\nola@o2.pl\n"
    results = check(data)
    assert [(r.row, r.verdict.value, r.detail) for r in results] == [
        (2, "ok", ""),
        (3, "invalid", "line too long (more than 1,000 characters)"),
        (4, "ok", ""),
    ]


def test_reading_streams_in_bounded_memory() -> None:
    rows = 50_000
    data = b"name;email;note\n" + b"".join(b"Name %d;user%d@d%d.pl;some note\n" % (i, i, i % 500) for i in range(rows))
    tracemalloc.start()
    try:
        with open_list(io.BytesIO(data)) as list_file:
            count = sum(1 for _row in list_file.rows())
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == rows
    assert peak < 500_000  # the file is 1.7 MB; the peak doesn't grow with it


# --- duplicates --------------------------------------------------------------------------------


def test_seen_addresses_remember_first_rows_across_merges() -> None:
    seen = SeenAddresses(recent_limit=8)
    assert [seen.first_row(f"user{i}@wp.pl", i + 1) for i in range(100)] == [None] * 100
    assert [seen.first_row(f"user{i}@wp.pl", 1_000 + i) for i in range(0, 100, 9)] == list(range(1, 101, 9))
    assert len(seen) == 100


# --- the report and progress -------------------------------------------------------------------


def test_the_report_keeps_the_original_columns_and_adds_the_verdict() -> None:
    data = "Imię;E-mail;Telefon\nJan;jan@gmial.com;+48 600 100 200\nOla;=HYPERLINK(1)@x;\nPiotr;p@wp.pl;1;extra\nEwa\n"
    result, rows = report_of(data)
    assert result.layout.delimiter == ";"
    assert rows == [
        ["Imię", "E-mail", "Telefon", *REPORT_COLUMNS],
        ["Jan", "jan@gmial.com", "+48 600 100 200", "typo", "gmial.com looks like a misspelling of gmail.com",
         "jan@gmail.com", "2"],
        ["Ola", "'=HYPERLINK(1)@x", "", "invalid",
         "The email address contains invalid characters before the @-sign: '(', ')'.", "", "3"],
        ["Piotr", "p@wp.pl", "1;extra", "ok", "", "", "4"],
        ["Ewa", "", "", "invalid", "no e-mail in this row (1 of 3 columns)", "", "5"],
    ]  # fmt: skip


def test_a_report_of_a_plain_list_gets_a_header() -> None:
    _result, rows = report_of("jan@wp.pl\n")
    assert rows == [["email", *REPORT_COLUMNS], ["jan@wp.pl", "ok", "", "", "1"]]


def test_progress_is_reported_per_chunk_and_at_the_end() -> None:
    seen: list[Progress] = []
    data = "".join(f"user{i}@wp.pl\n" for i in range(250)).encode()
    check_list(io.BytesIO(data), progress=seen.append, chunk_size=100)
    assert [(p.rows, p.done) for p in seen] == [(100, False), (200, False), (250, True)]
    assert seen[-1].fraction == 1.0 and seen[-1].counts["ok"] == 250
    assert all(p.total_bytes == len(data) for p in seen)


def test_raising_in_the_progress_callback_stops_the_run() -> None:
    class Cancelled(Exception):
        pass

    def cancel(progress: Progress) -> None:
        raise Cancelled

    data = "".join(f"user{i}@wp.pl\n" for i in range(250)).encode()
    with pytest.raises(Cancelled):
        check_list(io.BytesIO(data), progress=cancel, chunk_size=100)


def test_check_list_reads_paths_and_reports_a_summary(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(b"email\njan@wp.pl\njan@wp.pl\n\nola@gmial.com\n")
    result = check_list(path, resolver=StaticResolver())
    assert (result.rows, result.blank_rows, result.domains_looked_up) == (3, 1, 1)
    assert result.counts == {
        "invalid": 0, "duplicate": 1, "suppressed": 0, "typo": 1, "domain_not_found": 0, "disposable": 0,
        "role": 0, "ok": 1,
    }  # fmt: skip
    assert result.as_dict()["layout"] == {
        "encoding": "utf-8",
        "delimiter": None,
        "header": ["email"],
        "email_column": 0,
    }
