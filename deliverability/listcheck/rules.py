"""The list check's rules as data: known mail domains, likely misspellings of them, disposable
domains, role addresses, and the names an e-mail column goes by.

Everything here is a pure function of an address or a domain (no I/O), so the engine can cache
it per domain and the tests can pin it row by row.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import disposable_email_domains

# --- typos ---------------------------------------------------------------------------------

# Where a suggestion may point: the mail domains most addresses in a Polish school's list use,
# most common first (the first one wins a tie).
SUGGESTION_TARGETS: tuple[str, ...] = (
    "gmail.com",
    "wp.pl",
    "o2.pl",
    "onet.pl",
    "interia.pl",
    "op.pl",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "icloud.com",
    "poczta.onet.pl",
    "vp.pl",
    "tlen.pl",
    "gazeta.pl",
    "live.com",
    "googlemail.com",
    "protonmail.com",
    "gmx.com",
    "gmx.de",
    "aol.com",
    "me.com",
    "msn.com",
    "interia.eu",
    "onet.eu",
    "poczta.fm",
    "go2.pl",
)

# Names (the domain less its last label) far enough from every other real domain that one
# slip of the finger can be corrected: five characters or more, and not a dictionary word.
# Short names (wp, o2, op, vp, onet, tlen, live, gmx, aol) sit one edit away from thousands of
# real domains (xp.pl, net.pl, love.com), so only their TLD is ever corrected; gazeta is a
# common Polish word (gazetka.pl, gazety.pl are real).
EDIT_DISTANCE_NAMES: frozenset[str] = frozenset(
    {"gmail", "googlemail", "yahoo", "hotmail", "outlook", "icloud", "protonmail", "interia", "poczta.onet"}
)

# Providers with one mail domain only: the same name under any other TLD is a slip
# (gmail.pl, gmail.de, icloud.pl are not Google's or Apple's mail).
SINGLE_DOMAIN_PROVIDERS: dict[str, str] = {
    "gmail": "gmail.com",
    "googlemail": "googlemail.com",
    "icloud": "icloud.com",
}

# Real mail domains that must never be "corrected" into another: the targets above, their
# country variants, and real domains one or two edits from a target (mail.com and email.com
# from gmail.com, cloud.com from icloud.com, ymail.com, the o2/op/wp/vp family). Sources: the
# providers' own sign-up pages and the Polish portals' mail services.
KNOWN_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        *SUGGESTION_TARGETS,
        # Google, Yahoo, Microsoft, Apple, AOL country and legacy domains
        "ymail.com", "rocketmail.com", "yahoo.co.uk", "yahoo.de", "yahoo.fr", "yahoo.it", "yahoo.es",
        "yahoo.ca", "yahoo.com.au", "yahoo.com.br", "yahoo.co.jp", "yahoo.co.in", "yahoo.ie", "yahoo.se",
        "yahoo.dk", "yahoo.no", "yahoo.gr", "yahoo.com.ar", "yahoo.com.mx", "yahoo.pl",
        "hotmail.co.uk", "hotmail.de", "hotmail.fr", "hotmail.it", "hotmail.es", "hotmail.nl", "hotmail.be",
        "hotmail.se", "hotmail.ca", "hotmail.com.br", "hotmail.com.ar", "hotmail.cz", "hotmail.sk",
        "outlook.de", "outlook.fr", "outlook.it", "outlook.es", "outlook.pt", "outlook.cz", "outlook.sk",
        "outlook.at", "outlook.be", "outlook.dk", "outlook.ie", "outlook.jp", "outlook.kr", "outlook.cl",
        "outlook.com.br", "outlook.com.ar", "outlook.com.au", "outlook.com.gr", "outlook.com.tr",
        "outlook.com.vn", "outlook.co.nz", "outlook.co.il", "outlook.co.id", "outlook.co.th", "outlook.hu",
        "outlook.lv", "outlook.my", "outlook.ph", "outlook.sa", "outlook.sg", "outlook.pl",
        "live.co.uk", "live.de", "live.fr", "live.it", "live.nl", "live.be", "live.ca", "live.com.au",
        "live.dk", "live.se", "live.no", "live.ie", "live.at", "live.jp", "live.pl", "passport.com",
        "mac.com", "aim.com", "aol.co.uk", "aol.de", "aol.fr",
        # other international providers
        "protonmail.ch", "proton.me", "pm.me", "tutanota.com", "tutanota.de", "tutamail.com", "tuta.io",
        "tuta.com", "gmx.net", "gmx.at", "gmx.ch", "gmx.fr", "gmx.co.uk", "gmx.us", "mail.com", "email.com",
        "web.de", "t-online.de", "freenet.de", "posteo.de", "mailbox.org", "zoho.com", "zohomail.com",
        "yandex.ru", "yandex.com", "ya.ru", "mail.ru", "bk.ru", "inbox.ru", "list.ru", "rambler.ru",
        "ukr.net", "seznam.cz", "centrum.cz", "email.cz", "atlas.cz", "post.cz", "azet.sk", "centrum.sk",
        "orange.fr", "wanadoo.fr", "free.fr", "laposte.net", "sfr.fr", "libero.it", "virgilio.it",
        "alice.it", "tiscali.it", "btinternet.com", "sky.com", "virginmedia.com", "comcast.net",
        "verizon.net", "att.net", "sbcglobal.net", "cox.net", "charter.net", "earthlink.net",
        "bellsouth.net", "fastmail.com", "fastmail.fm", "hey.com",
        # real domains one edit from a target
        "cloud.com",
        # Polish portals and ISPs
        "poczta.onet.eu", "onet.com.pl", "vip.onet.pl", "spoko.pl", "buziaczek.pl", "autograf.pl",
        "amorki.pl", "interia.com", "int.pl", "pino.pl", "os.pl", "adres.pl", "neostrada.pl", "tpnet.pl",
        "poczta.pl", "konto.pl", "orange.pl", "plusnet.pl", "vectranet.pl", "upcpoczta.pl",
    }
)  # fmt: skip

# TLDs that are not in the root zone, each with what the writer meant; any domain under one is
# a slip (firma.con → firma.com). Checked against the IANA root zone: none of these is a TLD.
IMPOSSIBLE_TLDS: dict[str, str] = {
    **dict.fromkeys(
        ["con", "cmo", "comm", "cpm", "xom", "vom", "ocm", "coom", "comn", "cim", "clm", "conm", "copm", "cok", "c0m"],
        "com",
    ),
    **dict.fromkeys(["pll", "ppl", "lp", "ol", "plp"], "pl"),
    **dict.fromkeys(["ner", "nte", "nett", "nrt"], "net"),
    **dict.fromkeys(["ogr", "rog", "orgg", "prg"], "org"),
    "ue": "eu",
}

# Real TLDs one slip from a target's TLD (.co Colombia, .cm Cameroon, .om Oman, .pk Pakistan):
# corrected only for distinctive names (four characters or more: gmail.co, onet.pk), never for
# short ones (wp.pk may well exist).
NEAR_TLDS: dict[str, frozenset[str]] = {
    "com": frozenset({"co", "cm", "om"}),
    "pl": frozenset({"pk"}),
}
_NEAR_TLD_MIN_NAME = 4

# Substitutions a typist makes: neighbouring keys on a QWERTY (Polish programmer's) keyboard,
# y/z for QWERTZ, and look-alikes. Any other substitution counts as two edits.
_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_LOOK_ALIKES = (("0", "o"), ("1", "l"), ("1", "i"), ("l", "i"), ("y", "z"))


def _near_keys() -> frozenset[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set(_LOOK_ALIKES)
    for r, row in enumerate(_KEYBOARD_ROWS):
        for i, key in enumerate(row):
            if i + 1 < len(row):
                pairs.add((key, row[i + 1]))
            if r + 1 < len(_KEYBOARD_ROWS):
                below = _KEYBOARD_ROWS[r + 1]
                # Each row sits half a key to the right of the one above it.
                pairs.update((key, below[j]) for j in (i - 1, i) if 0 <= j < len(below))
    return frozenset(pairs | {(b, a) for a, b in pairs})


_NEAR_KEYS = _near_keys()


def typo_distance(typed: str, meant: str, limit: int) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance where an insertion, a deletion
    and a swap of neighbours cost 1, a substitution costs 1 between neighbouring keys or
    look-alikes and 2 otherwise. Returns `limit + 1` as soon as the distance must exceed it."""
    if abs(len(typed) - len(meant)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(meant) + 1))
    for i, a in enumerate(typed, start=1):
        current = [i]
        for j, b in enumerate(meant, start=1):
            substitution = 0 if a == b else 1 if (a, b) in _NEAR_KEYS else 2
            cost = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + substitution)
            if i > 1 and j > 1 and a == meant[j - 2] and typed[i - 2] == b:
                cost = min(cost, previous2[j - 2] + 1)
            current.append(cost)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def _split_tld(domain: str) -> tuple[str, str]:
    name, _, tld = domain.rpartition(".")
    return name, tld


_TARGETS = tuple((target, *_split_tld(target)) for target in SUGGESTION_TARGETS)


@lru_cache(maxsize=65_536)
def suggest_domain(domain: str) -> str | None:
    """The domain the writer most likely meant, or None when `domain` is not a likely
    misspelling of a common mail domain. `domain` is normalized (lower case, IDNA).

    Never suggests for a known real mail domain; suggests by a known impossible TLD
    (gmail.con, onet.pll, firma.con), a near-miss TLD of a distinctive name (gmail.co), the
    name of a single-domain provider under another TLD (gmail.pl), and one slip in a
    distinctive name (gmial.com, intera.pl; two slips for names of seven letters or more).
    """
    if domain in KNOWN_MAIL_DOMAINS:
        return None
    name, tld = _split_tld(domain)
    if not name:
        return None
    fixed_tld = IMPOSSIBLE_TLDS.get(tld)
    best: tuple[int, int, str] | None = None
    for order, (target, target_name, target_tld) in enumerate(_TARGETS):
        tld_fits = (
            tld == target_tld
            or fixed_tld == target_tld
            or (tld in NEAR_TLDS.get(target_tld, ()) and len(target_name) >= _NEAR_TLD_MIN_NAME)
        )
        if not tld_fits:
            continue
        if name == target_name:
            distance = 0
        elif target_name in EDIT_DISTANCE_NAMES:
            limit = 2 if len(target_name) >= 7 else 1
            distance = typo_distance(name, target_name, limit)
            if distance > limit:
                continue
        else:
            continue
        if best is None or (distance, order) < best[:2]:
            best = (distance, order, target)
    if best is not None:
        return best[2]
    single = SINGLE_DOMAIN_PROVIDERS.get(name) or SINGLE_DOMAIN_PROVIDERS.get(name.partition(".")[0])
    if single is not None and domain.partition(".")[0] == single.partition(".")[0]:
        return single  # gmail.pl, gmail.de, gmail.com.pl
    if fixed_tld is not None:
        return f"{name}.{fixed_tld}"
    return None


# --- disposable and role addresses -----------------------------------------------------------


@lru_cache(maxsize=65_536)
def disposable_domain(domain: str) -> str | None:
    """The entry of the disposable-email-domains list that `domain` falls under (itself or a
    parent: a.b.mailinator.com), or None."""
    labels = domain.split(".")
    for start in range(len(labels) - 1):
        candidate = ".".join(labels[start:])
        if candidate in disposable_email_domains.blocklist:
            return candidate
    return None


# Local parts that name a function, not a person: mail to them is read by several people or
# nobody, and draws complaints. English ones from RFC 2142 and common practice, Polish ones
# from school and company websites (biuro = office, sekretariat = school office, kadry = HR,
# rekrutacja = admissions, ksiegowosc = accounting, zamowienia = orders, pomoc = help).
ROLE_LOCAL_PARTS: frozenset[str] = frozenset(
    {
        "abuse", "admin", "administrator", "billing", "careers", "contact", "do-not-reply", "donotreply",
        "enquiries", "feedback", "hello", "help", "helpdesk", "hostmaster", "hr", "info", "inquiries",
        "jobs", "mailer-daemon", "marketing", "media", "news", "newsletter", "no-reply", "no_reply",
        "noreply", "office", "orders", "postmaster", "press", "privacy", "root", "sales", "security",
        "support", "team", "webmaster", "www",
        "administracja", "biuro", "dyrekcja", "dyrektor", "faktury", "kadry", "kariera", "kontakt",
        "ksiegowosc", "obsluga", "pomoc", "praca", "prasa", "recepcja", "rekrutacja",
        "sekretariat", "sklep", "sprzedaz", "zamowienia",
    }
)  # fmt: skip


def role_of(local_part: str) -> str | None:
    """The role `local_part` names (info, biuro, noreply, ...), ignoring a +tag, or None."""
    base = local_part.partition("+")[0]
    return base if base in ROLE_LOCAL_PARTS else None


# --- the e-mail column -------------------------------------------------------------------------

# Header names of an e-mail column (compared without case, accents, spaces and punctuation):
# English, Polish (adres e-mail, adres mailowy, poczta) and a few neighbours'.
EMAIL_HEADER_NAMES: frozenset[str] = frozenset(
    {
        "email", "emails", "mail", "emailaddress", "mailaddress", "emailadres", "emailadresse", "address",
        "adres", "adresemail", "adresmail", "adresmailowy", "adrespoczty", "adrespocztyelektronicznej",
        "poczta", "pocztaemail", "pocztaelektroniczna", "courriel", "correo", "correoelectronico", "epost",
    }
)  # fmt: skip


def header_key(cell: str) -> str:
    """`cell` lower-cased, without accents, spaces and punctuation: 'Adres e-mail:' → 'adresemail'."""
    decomposed = unicodedata.normalize("NFKD", cell.strip().lower()).replace("ł", "l")
    return "".join(char for char in decomposed if char.isalnum() and char.isascii())


def header_score(cell: str) -> int:
    """2 for an e-mail column's name, 1 for a name that mentions mail ('E-mail rodzica'), else 0."""
    key = header_key(cell)
    if key in EMAIL_HEADER_NAMES:
        return 2
    return 1 if "mail" in key else 0
