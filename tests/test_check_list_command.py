"""`manage.py check_list FILE [--school SLUG] [--out REPORT.csv] [--offline]`: an owner's messy
export end to end, the summary and the report, hostile files, and the exit status (non-zero only
when the run itself fails). DNS answers come from a stand-in for dnspython: no network."""

from __future__ import annotations

import codecs
import csv
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import pytest
from django.core.management import CommandError, call_command

from deliverability.models import School
from deliverability.taxonomy import SuppressionReason
from tests.factories import SuppressionFactory

pytestmark = pytest.mark.django_db

# Domains the stand-in DNS knows: a real mail server for each, except these.
DNS_FAILURES: dict[str, type[Exception]] = {
    "nie-ma-takiej-domeny.pl": dns.resolver.NXDOMAIN,
    "wolny-serwer.pl": dns.exception.Timeout,
}
NULL_MX_DOMAINS = {"nullmx.example"}


class FakeDnsResolver:
    """Replaces dns.resolver.Resolver for the tests: answers at once, never the network."""

    def __init__(self, configure: bool = True) -> None:
        self.timeout = self.lifetime = 0.0
        self.cache: Any = None

    def resolve(self, qname: dns.name.Name, rdtype: str = "A", **kwargs: Any) -> list[Any]:
        domain = qname.to_text(omit_final_dot=True)
        if domain in DNS_FAILURES:
            raise DNS_FAILURES[domain]()
        if rdtype != "MX":
            raise dns.resolver.NoAnswer()
        exchange = "." if domain in NULL_MX_DOMAINS else f"mx.{domain}."
        return [dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.MX, f"{0 if exchange == '.' else 10} {exchange}")]


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dns.resolver, "Resolver", FakeDnsResolver)


def run(*args: str, stderr: io.StringIO | None = None) -> str:
    out = io.StringIO()
    call_command("check_list", *args, stdout=out, stderr=stderr or io.StringIO())
    return out.getvalue()


def counts(summary: str) -> dict[str, int]:
    """The verdict table of the summary."""
    table = {}
    for line in summary.splitlines():
        parts = line.split()
        if len(parts) == 2 and line.startswith("  ") and parts[1].replace(",", "").isdigit():
            table[parts[0]] = int(parts[1].replace(",", ""))
    return table


def read_report(path: Path, delimiter: str = ";") -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as report:
        return list(csv.DictReader(report, delimiter=delimiter))


# --- an owner's list, end to end ---------------------------------------------------------------

MESSY_EXPORT = (
    "Imię i nazwisko;Adres e-mail;Klasa;Uwagi\r\n"
    "Jan Kowalski; Jan.Kowalski@WP.PL ;1a;\r\n"
    'Łucja Wiśniewska;lucja.wisniewska@o2.pl;1a;"alergia; orzechy"\r\n'
    "Zofia Nowak;ZOFIA.NOWAK@GMAIL.COM;1b;\r\n"
    "Krzysztof Wójcik;k.wojcik@onet.pl;2a;\r\n"
    "Anna Kamińska;anna.kaminska@interia.pl ;2a;\r\n"
    "Piotr Lewandowski;piotr_lewandowski@op.pl;2b;\r\n"
    "Maria Zielińska;maria.z@vp.pl;2b;\r\n"
    "Tomasz Szymański;tomek.szymanski@poczta.onet.pl;3a;\r\n"
    "Ewa Woźniak;ewa.wozniak@gazeta.pl;3a;\r\n"
    "Paweł Dąbrowski;pawel.dabrowski@tlen.pl;3b;\r\n"
    "Magdalena Kozłowska;magda.k@outlook.com;3b;\r\n"
    "Adam Jankowski;adam.jankowski@yahoo.com;;\r\n"
    "Karolina Mazur;karolina.mazur@icloud.com;;\r\n"
    "Michał Kwiatkowski;michal.k@go2.pl;;\r\n"
    "Natalia Krawczyk;natalia+szkola@gmail.com;;\r\n"
    "Szkoła Podstawowa nr 1;dyrektor.sp1@edu.krakow.pl;;\r\n"
    "\r\n"
    "Barbara Piotrowska;barbara.piotrowska@gmial.com;1a;\r\n"
    "Grzegorz Grabowski;g.grabowski@wp.pll;1a;\r\n"
    "Joanna Pawlak;joanna.pawlak@hotmial.com;1b;\r\n"
    "Rafał Michalski;rafal.michalski@gmail.con;1b;\r\n"
    "Agnieszka Król;agnieszka.krol@outlok.com;2a;\r\n"
    "Marcin Wieczorek;marcin.w@intera.pl;2a;\r\n"
    "Dorota Jabłońska;dorota.j@yaho.com;2b;\r\n"
    "Kamil Nowakowski;kamil.nowakowski@onet.pll;2b;\r\n"
    "Jan Kowalski (tata);jan.kowalski@wp.pl;1a;duplikat\r\n"
    "Sekretariat;sekretariat@sp1.edu.pl;;\r\n"
    "Beata Majewska;beata.majewska@mailinator.com;;\r\n"
    "Robert Olszewski;robert.olszewski@nie-ma-takiej-domeny.pl;;\r\n"
    "Irena Stępień;irena.stepien@wolny-serwer.pl;;\r\n"
    "Henryk Malinowski;henryk malinowski@wp.pl;;\r\n"
    "Danuta Jaworska;danuta.jaworska.wp.pl;;\r\n"
    "Leszek Adamczyk;leszek.adamczyk@wp.pl;;zablokowany\r\n"
)
VALID = {
    "Jan.Kowalski@WP.PL", "lucja.wisniewska@o2.pl", "ZOFIA.NOWAK@GMAIL.COM", "k.wojcik@onet.pl",
    "anna.kaminska@interia.pl", "piotr_lewandowski@op.pl", "maria.z@vp.pl", "tomek.szymanski@poczta.onet.pl",
    "ewa.wozniak@gazeta.pl", "pawel.dabrowski@tlen.pl", "magda.k@outlook.com", "adam.jankowski@yahoo.com",
    "karolina.mazur@icloud.com", "michal.k@go2.pl", "natalia+szkola@gmail.com", "dyrektor.sp1@edu.krakow.pl",
    "irena.stepien@wolny-serwer.pl",
}  # fmt: skip
TYPOS = {
    "barbara.piotrowska@gmial.com": "barbara.piotrowska@gmail.com",
    "g.grabowski@wp.pll": "g.grabowski@wp.pl",
    "joanna.pawlak@hotmial.com": "joanna.pawlak@hotmail.com",
    "rafal.michalski@gmail.con": "rafal.michalski@gmail.com",
    "agnieszka.krol@outlok.com": "agnieszka.krol@outlook.com",
    "marcin.w@intera.pl": "marcin.w@interia.pl",
    "dorota.j@yaho.com": "dorota.j@yahoo.com",
    "kamil.nowakowski@onet.pll": "kamil.nowakowski@onet.pl",
}


def test_an_owners_messy_export_gets_a_report_a_person_would_trust(tmp_path: Path) -> None:
    school = School.objects.create(name="SP 1", slug="sp1")
    SuppressionFactory(email="leszek.adamczyk@wp.pl", school=school, reason=SuppressionReason.COMPLAINT)
    source = tmp_path / "uczniowie.csv"
    source.write_bytes(codecs.BOM_UTF8 + MESSY_EXPORT.encode())
    report = tmp_path / "raport.csv"

    summary = run(str(source), "--school", "sp1", "--out", str(report))

    rows = read_report(report)
    by_address = {row["Adres e-mail"].strip(): row for row in rows}
    assert {a for a, row in by_address.items() if row["verdict"] == "ok"} == VALID  # no valid address flagged
    assert by_address["irena.stepien@wolny-serwer.pl"]["detail"] == "domain not verified"
    assert {a: row["suggestion"] for a, row in by_address.items() if row["verdict"] == "typo"} == TYPOS
    others = {(row["Adres e-mail"], row["verdict"], row["row"]) for row in rows} - {
        (a, v, r) for a, v, r in ((row["Adres e-mail"], row["verdict"], row["row"]) for row in rows)
        if v in ("ok", "typo")
    }  # fmt: skip
    assert others == {
        ("jan.kowalski@wp.pl", "duplicate", "27"),
        ("sekretariat@sp1.edu.pl", "role", "28"),
        ("beata.majewska@mailinator.com", "disposable", "29"),
        ("robert.olszewski@nie-ma-takiej-domeny.pl", "domain_not_found", "30"),
        ("henryk malinowski@wp.pl", "invalid", "32"),
        ("danuta.jaworska.wp.pl", "invalid", "33"),
        ("leszek.adamczyk@wp.pl", "suppressed", "34"),
    }
    assert by_address["jan.kowalski@wp.pl"]["detail"] == "same address as row 2"
    assert by_address["danuta.jaworska.wp.pl"]["detail"] == "missing @"
    assert rows[1]["Uwagi"] == "alergia; orzechy" and rows[1]["Imię i nazwisko"] == "Łucja Wiśniewska"
    assert list(rows[0]) == [
        "Imię i nazwisko",
        "Adres e-mail",
        "Klasa",
        "Uwagi",
        "verdict",
        "detail",
        "suggestion",
        "row",
    ]

    assert counts(summary) == {
        "invalid": 2, "duplicate": 1, "suppressed": 1, "typo": 8, "domain_not_found": 1, "disposable": 1,
        "role": 1, "ok": 17, "total": 32,
    }  # fmt: skip
    assert 'UTF-8 with BOM, semicolon, with a header, e-mail in "Adres e-mail" (column 2)' in summary
    assert "Blank rows skipped: 1." in summary
    assert "Suppressions checked: platform-wide and the school 'sp1'." in summary
    assert "DNS: 19 domains looked up, 1 not verified" in summary
    assert f"Report: {report}" in summary


def test_without_out_only_the_summary_is_printed(tmp_path: Path) -> None:
    source = tmp_path / "list.txt"
    source.write_text("jan@wp.pl\nola@gmial.com\n")
    summary = run(str(source), "--offline")
    assert counts(summary) == {
        "invalid": 0, "duplicate": 0, "suppressed": 0, "typo": 1, "domain_not_found": 0, "disposable": 0,
        "role": 0, "ok": 1, "total": 2,
    }  # fmt: skip
    assert "DNS: not checked (--offline)." in summary
    assert "Add --out REPORT.csv for the verdict of every row." in summary
    assert os.listdir(tmp_path) == ["list.txt"]


def test_the_report_of_a_plain_list_is_a_comma_separated_csv(tmp_path: Path) -> None:
    source = tmp_path / "list.txt"
    source.write_text("jan@wp.pl\n")
    report = tmp_path / "report.csv"
    run(str(source), "--offline", "--out", str(report))
    assert report.read_bytes() == codecs.BOM_UTF8 + b"email,verdict,detail,suggestion,row\r\njan@wp.pl,ok,,,1\r\n"
    umask = os.umask(0)
    os.umask(umask)
    assert report.stat().st_mode & 0o777 == 0o666 & ~umask  # as any file the user makes, not private


def test_the_column_can_be_chosen(tmp_path: Path) -> None:
    source = tmp_path / "list.csv"
    source.write_text("email,backup email\njan@wp.pl,jan@gmial.com\n")
    assert counts(run(str(source), "--offline", "--column", "2"))["typo"] == 1
    assert counts(run(str(source), "--offline", "--column", "Backup Email"))["typo"] == 1
    with pytest.raises(CommandError, match='has no column named "phone"'):
        run(str(source), "--offline", "--column", "phone")


# --- hostile input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected", "note"),
    [
        (b"", {"total": 0}, "No addresses found: the file is empty."),
        (b"email;name\r\n", {"total": 0}, "No addresses found: the file has only a header."),
        (b"email\njan@wp.pl\n\xff\xfe\xb3ucja@wp.pl\nola@o2.pl\n", {"ok": 3, "total": 3}, "Windows-1250"),
        (b"email\njan@wp.pl\nola\x00@o2.pl\n\x00\n", {"ok": 1, "invalid": 2, "total": 3}, "UTF-8"),
        (b"x" * 10_000_000, {"invalid": 1, "total": 1}, ""),
        (b"email\n" + b"a" * 300 + b"@wp.pl\n" + b"b" * 65 + b"@wp.pl\n", {"invalid": 2, "total": 2}, ""),
    ],
    ids=["empty", "only-header", "invalid-utf8", "nul-bytes", "10mb-line", "300-char-addresses"],
)
def test_hostile_but_readable_files_complete_with_a_summary(
    tmp_path: Path, content: bytes, expected: dict[str, int], note: str
) -> None:
    source = tmp_path / "list.csv"
    source.write_bytes(content)
    report = tmp_path / "report.csv"
    summary = run(str(source), "--offline", "--out", str(report))
    assert {k: v for k, v in counts(summary).items() if v} == {k: v for k, v in expected.items() if v}
    assert note in summary
    assert report.exists()


def test_invalid_rows_say_why(tmp_path: Path) -> None:
    source = tmp_path / "list.csv"
    source.write_bytes(b"email\n" + b"a" * 300 + b"@wp.pl\n" + b"ola\x00@o2.pl\n" + b"y" * 10_000_000 + b"\n")
    report = tmp_path / "report.csv"
    run(str(source), "--offline", "--out", str(report))
    rows = read_report(report, delimiter=",")
    assert [(row["row"], row["detail"]) for row in rows] == [
        ("2", "too long (more than 254 characters)"),
        ("3", "contains control characters"),
        ("4", "line too long (more than 1,000,000 characters)"),
    ]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing.csv", "no such file"),
        (lambda tmp: tmp, "is a directory, not a file"),
        (lambda tmp: _write(tmp / "list.xlsx", b"PK\x03\x04" + bytes(100)), "is a ZIP archive"),
        (lambda tmp: _write(tmp / "photo.csv", b"\x89PNG\r\n\x1a\n" + bytes(100)), "is a PNG image"),
        (lambda tmp: _write(tmp / "random.bin", bytes(range(256)) * 100), "is not a text file"),
        (lambda tmp: _write(tmp / "table.csv", b"name;phone\nJan;600100200\n"), "No column of"),
    ],
    ids=["missing", "directory", "xlsx", "png", "binary", "no-email-column"],
)
def test_unreadable_files_fail_with_a_clear_message_and_no_report(tmp_path: Path, make: Any, message: str) -> None:
    source = make(tmp_path)
    report = tmp_path / "report.csv"
    report.write_text("the previous report\n")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(CommandError, match=message):
        run(str(source), "--offline", "--out", str(report))
    assert report.read_text() == "the previous report\n"
    assert sorted(os.listdir(tmp_path)) == before  # no temporary file left behind


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_an_unknown_school_fails_before_anything_is_read(tmp_path: Path) -> None:
    source = _write(tmp_path / "list.csv", b"jan@wp.pl\n")
    with pytest.raises(CommandError, match=r"No school has the slug 'nope'\."):
        run(str(source), "--school", "nope", "--out", str(tmp_path / "report.csv"))
    assert os.listdir(tmp_path) == ["list.csv"]


def test_out_must_be_a_new_file_in_an_existing_directory(tmp_path: Path) -> None:
    source = _write(tmp_path / "list.csv", b"jan@wp.pl\n")
    with pytest.raises(CommandError, match="does not exist"):
        run(str(source), "--out", str(tmp_path / "missing" / "report.csv"))
    with pytest.raises(CommandError, match="would overwrite the list itself"):
        run(str(source), "--out", str(source))
    with pytest.raises(CommandError, match="is a directory"):
        run(str(source), "--out", str(tmp_path))
    assert source.read_bytes() == b"jan@wp.pl\n"


def test_the_exit_status_is_non_zero_only_when_the_run_fails(tmp_path: Path) -> None:
    command = [sys.executable, "manage.py", "check_list", str(tmp_path / "missing.csv"), "--offline"]
    finished = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).parents[1], check=False)
    assert finished.returncode == 1
    assert f"{tmp_path / 'missing.csv'}: no such file." in finished.stderr


# --- DNS and progress --------------------------------------------------------------------------


def test_dns_verdicts_through_the_command(tmp_path: Path) -> None:
    source = _write(
        tmp_path / "list.txt",
        b"jan@wp.pl\nola@nie-ma-takiej-domeny.pl\nada@nullmx.example\nela@wolny-serwer.pl\n",
    )
    report = tmp_path / "report.csv"
    summary = run(str(source), "--out", str(report))
    assert [(row["verdict"], row["detail"]) for row in read_report(report, delimiter=",")] == [
        ("ok", ""),
        ("domain_not_found", "the domain nie-ma-takiej-domeny.pl does not exist"),
        ("domain_not_found", "the domain nullmx.example accepts no mail (null MX, RFC 7505)"),
        ("ok", "domain not verified"),
    ]
    assert "DNS: 4 domains looked up, 1 not verified" in summary


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    source = _write(tmp_path / "list.txt", "".join(f"user{i}@wp.pl\n" for i in range(3_000)).encode())
    piped = io.StringIO()
    run(str(source), "--offline", stderr=piped)
    assert piped.getvalue() == ""
    terminal = Terminal()
    run(str(source), "--offline", stderr=terminal)
    assert "100%  3,000 rows" in terminal.getvalue()
    assert terminal.getvalue().endswith("\n")
