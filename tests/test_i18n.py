"""English and Polish: the portal follows the browser's language or the switcher, e-mails go in
the requester's language, and locale/pl holds a complete, compiled translation of every portal,
login and e-mail string (checked in pure Python: no gettext tools needed to run the tests)."""

from __future__ import annotations

import ast
import gettext
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone, translation
from django.utils.translation.template import templatize

from deliverability import reinstatement as flow
from deliverability.models import School
from deliverability.services import record_bounce
from tests.conftest import client_for
from tests.factories import ContactFactory

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "locale" / "pl" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
# What locale/update.sh extracts: the portal, its pages and e-mails, and the texts they show.
SOURCES = [
    "deliverability/portal",
    "deliverability/explanations.py",
    "deliverability/reinstatement.py",
    "deliverability/models.py",
    "deliverability/taxonomy.py",
    "templates/portal",
    "templates/registration",
    "templates/emails",
]
REASON = "The client confirmed she cleared her mailbox yesterday."


@pytest.fixture(autouse=True)
def english_after_each_test() -> Iterator[None]:
    """LocaleMiddleware leaves the last request's language active in this thread: put English
    back, so later tests (and their service calls) don't run in Polish."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


# --- the catalogue -------------------------------------------------------------------------


@dataclass
class Entry:
    msgid: str = ""
    plural: str | None = None
    msgstr: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    context: str | None = None


def read_po(path: Path) -> list[Entry]:
    """The entries of a .po file (enough of the format for what makemessages writes)."""
    entries: list[Entry] = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        entry, target = Entry(), None
        values: dict[str, list[str]] = {}
        for line in block.splitlines():
            if line.startswith("#:"):
                entry.references += [ref.rsplit(":", 1)[0] for ref in line[2:].split()]
            elif line.startswith("#,"):
                entry.flags |= {flag.strip() for flag in line[2:].split(",")}
            elif line.startswith("#~"):
                target = None  # obsolete
            elif match := re.match(r"^(msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?) (\".*\")$", line):
                target = match.group(1)
                values[target] = [ast.literal_eval(match.group(2))]
            elif line.startswith('"') and target:
                values[target].append(ast.literal_eval(line))
        if "msgid" not in values:
            continue
        entry.msgid = "".join(values["msgid"])
        entry.context = "".join(values["msgctxt"]) if "msgctxt" in values else None
        entry.plural = "".join(values["msgid_plural"]) if "msgid_plural" in values else None
        entry.msgstr = ["".join(v) for k, v in sorted(values.items()) if k.startswith("msgstr")]
        entries.append(entry)
    return entries


@pytest.fixture(scope="module")
def catalogue() -> list[Entry]:
    return [entry for entry in read_po(PO) if entry.msgid]  # the header has an empty msgid


def test_every_entry_is_translated_and_none_is_fuzzy(catalogue: list[Entry]) -> None:
    assert len(catalogue) > 200
    untranslated = [e.msgid for e in catalogue if not all(e.msgstr) or not e.msgstr]
    fuzzy = [e.msgid for e in catalogue if "fuzzy" in e.flags]
    assert (untranslated, fuzzy) == ([], [])
    for entry in catalogue:
        if entry.plural is not None:
            assert len(entry.msgstr) == 4, entry.msgid  # Polish: one, few, many, other


def _sources() -> list[Path]:
    paths: list[Path] = []
    for source in SOURCES:
        path = ROOT / source
        paths += sorted(p for p in path.rglob("*") if p.suffix in (".py", ".html", ".txt")) if path.is_dir() else [path]
    return paths


_TEMPLATE_CALL = re.compile(r"\b(n?gettext)\((u'(?:[^'\\]|\\.)*')(?:, (u'(?:[^'\\]|\\.)*'))?")
_PY_FUNCTIONS = {"_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy", "pgettext", "pgettext_lazy"}


def marked_strings(path: Path) -> set[str]:
    """The strings a file marks for translation (what makemessages would extract)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        found = set()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in _PY_FUNCTIONS and node.args:
                argument = node.args[1 if getattr(node.func, "id", "").startswith("pgettext") else 0]
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    found.add(argument.value)
        return found
    return {ast.literal_eval(match.group(2)) for match in _TEMPLATE_CALL.finditer(templatize(text, origin=str(path)))}


def test_every_portal_login_and_e_mail_string_is_in_the_catalogue(catalogue: list[Entry]) -> None:
    known = {e.msgid for e in catalogue}
    missing = {str(path.relative_to(ROOT)): sorted(marked_strings(path) - known) for path in _sources()}
    assert {path: strings for path, strings in missing.items() if strings} == {}
    # ...and the extraction script scans the same files.
    script = (ROOT / "locale" / "update.sh").read_text()
    assert all(f"  {source}\n" in script for source in SOURCES)


def test_the_portal_and_e_mail_entries_come_from_the_portal_sources(catalogue: list[Entry]) -> None:
    """Every entry's references are files the catalogue is for (no stray strings)."""
    for entry in catalogue:
        assert entry.references and all(ref.startswith(tuple(SOURCES)) for ref in entry.references), entry.msgid


def test_placeholders_and_markup_survive_translation(catalogue: list[Entry]) -> None:
    placeholder = re.compile(r"%\(\w+\)[sd]|<[^>]+>")
    for entry in catalogue:
        wanted = sorted(set(placeholder.findall(entry.msgid)))
        for translated in entry.msgstr:
            assert sorted(set(placeholder.findall(translated))) == wanted, entry.msgid


def test_the_compiled_catalogue_matches_the_po(catalogue: list[Entry]) -> None:
    """The committed .mo is what msgfmt makes of the .po (re-run locale/update.sh if not)."""
    with MO.open("rb") as handle:
        compiled: dict[Any, str] = gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
    expected: dict[Any, str] = {}
    for entry in catalogue:
        key = entry.msgid if entry.context is None else f"{entry.context}\x04{entry.msgid}"
        if entry.plural is None:
            expected[key] = entry.msgstr[0]
        else:
            expected.update({(key, n): text for n, text in enumerate(entry.msgstr)})
    compiled = {k: v for k, v in compiled.items() if k != ""}  # the header
    assert compiled == expected


# --- the portal in Polish ------------------------------------------------------------------


@pytest.fixture
def blocked_anna(school_a: School) -> None:
    ContactFactory(school=school_a, email="anna@example.org")
    record_bounce(
        email="anna@example.org",
        source="api:platform",
        source_event_id="e1",
        occurred_at=timezone.now() - timedelta(days=1),
        event_type="hard",
        reason="mailbox_not_found",
        sender_side=False,
        diagnostic="550 5.1.1 <anna@example.org>: user unknown",
    )


@pytest.mark.django_db
def test_the_browsers_language_picks_polish(owner_a: User, blocked_anna: None) -> None:
    client = client_for(owner_a)
    html = client.get("/portal/schools/school-a/blocked/", HTTP_ACCEPT_LANGUAGE="pl,en;q=0.5").content.decode()
    assert '<html lang="pl">' in html
    assert "Zablokowane adresy" in html and "Poproś o wznowienie wysyłki" in html
    assert "Adres nie istnieje albo jego konto zostało wyłączone." in html  # explanations.py
    assert "Sprawdź z odbiorcą, czy w adresie nie ma literówki." in html  # advice.py
    assert "Skrzynka nie istnieje" in html and "Wszystkie wiadomości" in html  # choice labels
    english = client.get("/portal/schools/school-a/blocked/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Blocked addresses" in english and "Zablokowane" not in english


@pytest.mark.django_db
def test_the_switcher_keeps_the_chosen_language(owner_a: User, blocked_anna: None) -> None:
    client = client_for(owner_a)
    html = client.get("/portal/schools/school-a/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'action="/i18n/setlang/"' in html and '<option value="pl">Polski</option>' in html
    response = client.post("/i18n/setlang/", {"language": "pl", "next": "/portal/schools/school-a/"})
    assert (response.status_code, response["Location"]) == (302, "/portal/schools/school-a/")
    html = client.get("/portal/schools/school-a/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Pulpit" in html and "Zablokowane adresy" in html and '<option value="pl" selected>' in html


@pytest.mark.django_db
def test_login_form_errors_and_the_request_form_in_polish(owner_a: User, blocked_anna: None) -> None:
    html = (
        Client()
        .post("/accounts/login/", {"username": "owner-a", "password": "wrong"}, HTTP_ACCEPT_LANGUAGE="pl")
        .content.decode()
    )
    assert "Zaloguj się" in html and "Nie pamiętasz hasła?" in html
    assert "Wprowadź poprawne wartości pól" in html  # Django's own Polish catalogue
    client = client_for(owner_a)
    contact = owner_a.memberships.get().school.contacts.get()
    url = f"/portal/schools/school-a/contacts/{contact.pk}/request/"
    html = client.post(
        url, {"what_changed": "other", "reason": "za krótko"}, HTTP_ACCEPT_LANGUAGE="pl"
    ).content.decode()
    assert "Opisz, co się zmieniło, w co najmniej 20 znakach." in html
    assert "Co sprawdzi wsparcie" in html and "Odbiorca opróżnił skrzynkę" in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "subject", "phrase"),
    [
        ("pl", "Wznawiamy wysyłkę na anna@example.org", "Zatwierdzono: znów wysyłamy na ten adres."),
        ("en", "Sending to anna@example.org resumes", "Approved: we send to this address again."),
    ],
)
def test_the_decision_e_mail_goes_in_the_requesters_language(
    owner_a: User,
    school_a: School,
    blocked_anna: None,
    support: User,
    language: str,
    subject: str,
    phrase: str,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    owner_a.email = "owner@school-a.example"
    owner_a.save(update_fields=["email"])
    client_for(owner_a).post(
        f"/portal/schools/school-a/contacts/{school_a.contacts.get().pk}/request/",
        {"what_changed": "mailbox_cleared", "reason": REASON},
        HTTP_ACCEPT_LANGUAGE=language,
    )
    request = school_a.reinstatement_requests.get()
    assert request.language == language
    with django_capture_on_commit_callbacks(execute=True):
        flow.approve_reinstatement_request(request=request, acting_user=support, note="Sprawdzone.")
    (mail,) = mailoutbox
    assert mail.subject == subject and phrase in mail.body and "Sprawdzone." in mail.body
    html, _mimetype = mail.alternatives[0]
    assert phrase in html and f'<html lang="{language}">' in html


@pytest.mark.django_db
def test_a_rejection_e_mail_in_polish(
    owner_a: User,
    school_a: School,
    blocked_anna: None,
    support: User,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    owner_a.email = "owner@school-a.example"
    owner_a.save(update_fields=["email"])
    request = flow.submit_reinstatement_request(
        school=school_a,
        email="anna@example.org",
        what_changed="other",
        reason=REASON,
        requested_by=owner_a,
        language="pl",
    )
    with django_capture_on_commit_callbacks(execute=True):
        flow.reject_reinstatement_request(request=request, acting_user=support, note="Nadal wraca.")
    (mail,) = mailoutbox
    assert mail.subject == "Prośba dotycząca anna@example.org nie została zatwierdzona"
    assert "Nie zatwierdzono: adres pozostaje zablokowany." in mail.body and "Notatka od wsparcia:" in mail.body


@pytest.mark.django_db
def test_the_password_reset_e_mail_in_polish(owner_a: User, mailoutbox: list[Any]) -> None:
    owner_a.email = "owner@school-a.example"
    owner_a.save(update_fields=["email"])
    Client().post("/accounts/password_reset/", {"email": "owner@school-a.example"}, HTTP_ACCEPT_LANGUAGE="pl")
    (mail,) = mailoutbox
    assert mail.subject == "Zresetuj hasło do portalu szkoły"
    assert "Dzień dobry, owner-a," in mail.body and "Ustaw nowe hasło" in mail.alternatives[0][0]
