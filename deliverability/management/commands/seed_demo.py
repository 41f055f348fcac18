"""Demo data for `make run`: schools, contacts, three months of bounces recorded through the
real policy, suppressions of every reason and scope, pending requests, and the demo users.

Idempotent (fixed random seed, fixed event ids: a second run records nothing new) and refused
with DEBUG off, so it can never touch a production database.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from deliverability import services
from deliverability.models import Contact, Membership, ReinstatementRequest, School, Suppression
from deliverability.services import Actor

DEMO_PASSWORD = "demo"  # noqa: S105 - demo users only, refused with DEBUG off
SCHOOLS = [
    ("akademia-jezykowa", "Akademia Językowa Lingua"),
    ("code-school", "Code School Online"),
    ("szkola-muzyczna", "Szkoła Muzyczna Forte"),
]
CONTACTS_PER_SCHOOL = 120

FIRST = [
    "anna",
    "piotr",
    "kasia",
    "marek",
    "ola",
    "tomasz",
    "ewa",
    "jan",
    "zofia",
    "adam",
    "maria",
    "pawel",
    "julia",
    "michal",
    "natalia",
    "john",
    "emma",
    "lucas",
    "mia",
    "noah",
]
LAST = [
    "nowak",
    "kowalski",
    "wisniewska",
    "wojcik",
    "kaminska",
    "lewandowski",
    "zielinska",
    "szymanski",
    "smith",
    "brown",
    "jones",
    "taylor",
]
DOMAINS = [
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "outlook.com",
    "hotmail.com",
    "yahoo.com",
    "wp.pl",
    "wp.pl",
    "onet.pl",
    "interia.pl",
    "o2.pl",
]
SOURCES = ["api:platform", "dsn", "webhook:amazon_ses", "webhook:postmark", "webhook:mailgun", "webhook:sendgrid"]
PROVIDER_OF = {
    "gmail.com": "gmail",
    "outlook.com": "outlook",
    "hotmail.com": "outlook",
    "yahoo.com": "yahoo",
    "wp.pl": "wp",
    "onet.pl": "onet",
    "interia.pl": "interia",
    "o2.pl": "o2",
}


@dataclass(frozen=True)
class Reply:
    """One receiving server's answer, as it reaches us (code, enhanced status, text)."""

    smtp_code: int | None
    status: str
    text: str
    mta: str


# Realistic answers per provider and situation: what each one really writes.
REPLIES: dict[str, dict[str, Reply]] = {
    "mailbox_not_found": {
        "gmail": Reply(
            550,
            "5.1.1",
            "550-5.1.1 The email account that you tried to reach does not exist. Please try "
            "double-checking the recipient's email address for typos or unnecessary spaces. "
            "https://support.google.com/mail/?p=NoSuchUser",
            "gmail-smtp-in.l.google.com",
        ),
        "outlook": Reply(
            550,
            "5.5.0",
            "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302) "
            "[AM0PR01MB1234.eurprd01.prod.exchangelabs.com]",
            "outlook-com.olc.protection.outlook.com",
        ),
        "yahoo": Reply(
            554,
            "5.0.0",
            "554 delivery error: dd This user doesn't have a yahoo.com account "
            "({email}) [0] - mta1234.mail.ir2.yahoo.com",
            "mta7.am0.yahoodns.net",
        ),
        "wp": Reply(
            550,
            "5.1.1",
            "550 5.1.1 <{email}>: Recipient address rejected: User unknown in virtual mailbox table",
            "mx.wp.pl",
        ),
        "onet": Reply(
            550,
            "5.1.1",
            "550 5.1.1 <{email}>: Recipient address rejected: użytkownik nie istnieje",
            "mx.poczta.onet.pl",
        ),
        "interia": Reply(550, "5.1.1", "550 5.1.1 <{email}>: Mailbox not found", "mx.poczta.interia.pl"),
        "o2": Reply(550, "5.1.1", "550 5.1.1 <{email}>: konto nie istnieje (no such user)", "mx.o2.pl"),
    },
    "domain_not_found": {
        "any": Reply(
            None,
            "5.1.2",
            "DNS Error: DNS type 'mx' lookup of {domain} responded with code NXDOMAIN. Domain name not found: {domain}",
            "",
        ),
    },
    "sender_blocked": {
        "outlook": Reply(
            550, "5.7.507", "550 5.7.507 Access denied, rejected by recipient", "outlook-com.olc.protection.outlook.com"
        ),
        "any": Reply(
            550, "5.7.1", "550 5.7.1 <{email}>: The recipient has blocked messages from this sender", "mx.{domain}"
        ),
    },
    "rejected": {
        "any": Reply(554, "5.7.1", "554 5.7.1 <{email}>: Relay access denied by recipient's policy", "mx.{domain}"),
        "wp": Reply(
            550, "5.7.1", "550 5.7.1 Message rejected: recipient policy does not allow this message", "mx.wp.pl"
        ),
    },
    "mailbox_full": {
        "gmail": Reply(
            452,
            "4.2.2",
            "452-4.2.2 The email account that you tried to reach is over quota. Please "
            "direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp",
            "gmail-smtp-in.l.google.com",
        ),
        "wp": Reply(552, "5.2.2", "552 5.2.2 <{email}>: skrzynka odbiorcy jest pełna (mailbox full)", "mx.wp.pl"),
        "any": Reply(452, "4.2.2", "452 4.2.2 <{email}>: Mailbox full", "mx.{domain}"),
    },
    "server_unavailable": {
        "gmail": Reply(
            450,
            "4.2.1",
            "450-4.2.1 The user you are trying to contact is receiving mail too quickly. "
            "Please resend your message at a later date.",
            "gmail-smtp-in.l.google.com",
        ),
        "any": Reply(451, "4.3.0", "451 4.3.0 Temporary server error. Please try again later", "mx.{domain}"),
    },
    "message_too_large": {
        "gmail": Reply(
            552, "5.2.3", "552-5.2.3 Your message exceeded Google's message size limits.", "gmail-smtp-in.l.google.com"
        ),
        "any": Reply(552, "5.3.4", "552 5.3.4 Message size exceeds fixed limit", "mx.{domain}"),
    },
    "spam_filtered": {
        "outlook": Reply(
            550,
            "5.7.1",
            "550 5.7.1 Service unavailable, Client host [203.0.113.25] blocked using "
            "Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/",
            "outlook-com.olc.protection.outlook.com",
        ),
        "yahoo": Reply(
            421,
            "4.7.0",
            "421 4.7.0 [TSS04] Messages from 203.0.113.25 temporarily deferred due to "
            "unexpected volume or user complaints",
            "mta5.am0.yahoodns.net",
        ),
        "gmail": Reply(
            550,
            "5.7.1",
            "550-5.7.1 Our system has detected an unusual rate of unsolicited mail originating from your IP address.",
            "gmail-smtp-in.l.google.com",
        ),
    },
    "dns_problem": {
        "outlook": Reply(450, "4.4.312", "450 4.4.312 DNS query failed", "outlook-com.olc.protection.outlook.com"),
        "any": Reply(451, "4.4.3", "451 4.4.3 Temporary DNS failure (SERVFAIL) for {domain}, try again", ""),
    },
    "sender_side_auth": {
        "gmail": Reply(
            550,
            "5.7.26",
            "550-5.7.26 Unauthenticated email from platform.example is not accepted due to domain's DMARC policy.",
            "gmail-smtp-in.l.google.com",
        ),
        "outlook": Reply(
            550,
            "5.7.515",
            "550 5.7.515 Access denied, sending domain platform.example doesn't meet the required authentication level",
            "outlook-com.olc.protection.outlook.com",
        ),
    },
    "greylisted": {
        "any": Reply(
            451,
            "4.7.1",
            "451 4.7.1 <{email}>: Recipient address rejected: Greylisted, please try again later",
            "mx.{domain}",
        ),
    },
}


def _reply(situation: str, domain: str) -> Reply:
    table = REPLIES[situation]
    return table.get(PROVIDER_OF.get(domain, ""), table.get("any") or next(iter(table.values())))


class Seeder:
    def __init__(self, now: datetime) -> None:
        self.rng = random.Random(20261127)
        self.now = now.replace(minute=0, second=0, microsecond=0)
        self.recorded = 0

    def at(self, days_ago: float) -> datetime:
        return self.now - timedelta(days=days_ago, minutes=self.rng.randint(0, 600))

    def record(
        self,
        school: School | None,
        email: str,
        event_id: str,
        occurred_at: datetime,
        situation: str | None,
        **fields: Any,
    ) -> None:
        domain = email.rpartition("@")[2]
        if situation is not None:
            reply = _reply(situation, domain)
            fields.update(
                smtp_code=reply.smtp_code,
                status=reply.status,
                diagnostic=reply.text.format(email=email, domain=domain),
                remote_mta=reply.mta.format(domain=domain),
            )
        source = fields.pop("source", None) or self.rng.choice(SOURCES)
        services.record_bounce(
            email=email,
            school=school,
            source=source,
            source_event_id=f"demo-{event_id}",
            occurred_at=occurred_at,
            category=fields.pop("category", self.rng.choice(["bulk", "automation", "system"])),
            message_id=fields.pop("message_id", f"<demo-{event_id}@platform.example>"),
            raw={"demo": True, "event": event_id},
            **fields,
        )
        self.recorded += 1

    def delivered(self, school: School, email: str, event_id: str, days_ago: float) -> None:
        self.record(
            school,
            email,
            event_id,
            self.at(days_ago),
            None,
            action="delivered",
            event_type="delivered",
            reason="delivered",
        )

    def story(self, school: School, contact: Contact, n: int) -> None:
        """A plausible history for one contact; every reason of the taxonomy appears."""
        email, key = contact.email, f"{school.slug}-{n}"
        for i in range(self.rng.randint(3, 6)):
            self.delivered(school, email, f"{key}-ok{i}", self.rng.uniform(20, 90))
        kind = self.rng.choices(
            [
                "healthy",
                "dead",
                "dead_domain",
                "blocked",
                "rejected",
                "soft_limit",
                "soft_once",
                "too_large",
                "spam",
                "dns",
                "complaint",
                "sender_side",
                "auto_reply",
                "delayed",
                "unknown",
            ],
            weights=[30, 10, 3, 3, 4, 4, 6, 3, 4, 3, 4, 4, 4, 4, 3],
        )[0]
        if kind == "dead":
            self.record(school, email, f"{key}-dead", self.at(self.rng.uniform(1, 19)), "mailbox_not_found")
        elif kind == "dead_domain":
            self.record(
                school, email, f"{key}-nxdomain", self.at(self.rng.uniform(1, 19)), "domain_not_found", action="failed"
            )
        elif kind == "blocked":
            self.record(school, email, f"{key}-blocked", self.at(self.rng.uniform(1, 19)), "sender_blocked")
        elif kind == "rejected":
            for i in range(2):
                self.record(school, email, f"{key}-rej{i}", self.at(10 - 5 * i), "rejected")
        elif kind == "soft_limit":
            for i, day in enumerate([12, 11, 9, 8, 6, 5]):
                self.record(school, email, f"{key}-full{i}", self.at(day), "mailbox_full")
        elif kind == "soft_once":
            situation = self.rng.choice(["mailbox_full", "server_unavailable"])
            self.record(school, email, f"{key}-soft", self.at(self.rng.uniform(1, 19)), situation)
        elif kind == "too_large":
            self.record(school, email, f"{key}-big", self.at(self.rng.uniform(1, 19)), "message_too_large")
        elif kind == "spam":
            self.record(school, email, f"{key}-spam", self.at(self.rng.uniform(1, 19)), "spam_filtered")
        elif kind == "dns":
            self.record(school, email, f"{key}-dns", self.at(self.rng.uniform(1, 19)), "dns_problem")
        elif kind == "complaint":
            self.record(
                school,
                email,
                f"{key}-abuse",
                self.at(self.rng.uniform(1, 19)),
                None,
                event_type="complaint",
                reason="complaint",
                action="failed",
                category="bulk",
            )
        elif kind == "sender_side":
            self.record(school, email, f"{key}-dmarc", self.at(self.rng.uniform(1, 19)), "sender_side_auth")
        elif kind == "auto_reply":
            self.record(
                school,
                email,
                f"{key}-ooo",
                self.at(self.rng.uniform(1, 19)),
                None,
                event_type="auto_reply",
                reason="auto_reply",
                action="failed",
                diagnostic="Automatic reply: Out of office until Monday",
            )
        elif kind == "delayed":
            self.record(school, email, f"{key}-grey", self.at(self.rng.uniform(1, 19)), "greylisted", action="delayed")
        elif kind == "unknown":
            self.record(
                school,
                email,
                f"{key}-unk",
                self.at(self.rng.uniform(1, 19)),
                None,
                diagnostic="Message could not be delivered",
            )

    def incident_burst(self) -> None:
        """A provider outage: 55 real mailboxes at one domain answer "user unknown" within
        the hour; the incident guard holds the tail for a lead to decide."""
        start = self.now - timedelta(days=2)
        for i in range(55):
            email = f"student{i:02d}@o2.pl"
            self.record(
                None,
                email,
                f"burst-{i}",
                start + timedelta(minutes=i),
                "mailbox_not_found",
                source="webhook:amazon_ses",
            )


class Command(BaseCommand):
    help = "Load demo data (idempotent; refused with DEBUG off)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo refuses to run with DEBUG off: it creates users with known passwords.")
        seeder = Seeder(timezone.now())
        with transaction.atomic():
            users = self.users()
            schools = [School.objects.get_or_create(slug=slug, defaults={"name": name})[0] for slug, name in SCHOOLS]
            Membership.objects.get_or_create(user=users["owner"], school=schools[0])
            contacts = self.contacts(seeder, schools)
        for school in schools:
            for n, contact in enumerate(contacts[school.pk]):
                seeder.story(school, contact, n)
        seeder.incident_burst()
        self.manual_and_lifted(users["lead"])
        self.requests(users["owner"], schools[0])
        self.stdout.write(
            f"Demo data: {len(schools)} schools, {Contact.objects.count()} contacts, "
            f"{services.BounceEvent.objects.count()} events, "
            f"{Suppression.objects.active().count()} active suppressions. "
            f"Users support, lead, owner (password {DEMO_PASSWORD!r})."
        )

    def users(self) -> dict[str, User]:
        users = {}
        for username, group, staff in [
            ("support", "Support agents", True),
            ("lead", "Deliverability leads", True),
            ("owner", None, False),
        ]:
            user, created = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@platform.example", "is_staff": staff}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            if group:
                user.groups.add(Group.objects.get(name=group))
            users[username] = user
        return users

    def contacts(self, seeder: Seeder, schools: list[School]) -> dict[int, list[Contact]]:
        result: dict[int, list[Contact]] = {}
        for s, school in enumerate(schools):
            rows = []
            for n in range(CONTACTS_PER_SCHOOL):
                first, last = seeder.rng.choice(FIRST), seeder.rng.choice(LAST)
                domain = seeder.rng.choice(DOMAINS)
                # A few addresses are contacts of two schools (the timeline shows both).
                number = n if n % 15 else n + 1000 * ((s + 1) % len(schools))
                rows.append(
                    Contact(
                        school=school, email=f"{first}.{last}{number}@{domain}", name=f"{first.title()} {last.title()}"
                    )
                )
            Contact.objects.bulk_create(rows, ignore_conflicts=True)
            result[school.pk] = list(Contact.objects.filter(school=school).order_by("id"))
        return result

    def manual_and_lifted(self, lead: User) -> None:
        actor = Actor.of(lead)
        for email, note in [
            ("spamtrap@wp.pl", "Known spam trap reported by WP postmaster"),
            ("abuse-desk@interia.pl", "Asked by phone never to be mailed again"),
        ]:
            services.suppress(
                email=email, school=None, categories="all", reason="manual", actor=actor, note=note, via="manual"
            )
        # A few lifted ones, so history (not just state) shows in the admin.
        already = Suppression.objects.filter(lifted_at__isnull=False, lift_note__startswith="Demo:").exists()
        if already:
            return
        for suppression in Suppression.objects.active().filter(reason="soft_bounce_limit").order_by("id")[:3]:
            services.lift_suppression(
                suppression=suppression,
                actor=actor,
                note="Demo: the recipient's provider confirmed the mailbox was fixed",
            )

    def requests(self, owner: User, school: School) -> None:
        """Pending reinstatement requests on the first school's blocked contacts."""
        blocked = (
            Suppression.objects.active()
            .for_school(school)
            .filter(email__in=Contact.objects.filter(school=school).values("email"))
            .order_by("id")
        )
        texts = {
            "mailbox_full": ("mailbox_cleared", "The student called us: she cleared her mailbox last week."),
            "soft_bounce_limit": ("mailbox_cleared", "The student confirmed the mailbox is working again now."),
            "complaint": ("wants_mail", "He clicked spam by mistake and wrote to us asking for the course mails."),
            "sender_blocked": ("sender_unblocked", "The client removed our address from her blocked senders list."),
        }
        for suppression in blocked[:8]:
            what, reason = texts.get(
                suppression.reason,
                ("address_confirmed", "The client confirmed by phone that this address works and is read daily."),
            )
            ReinstatementRequest.objects.get_or_create(
                school=school,
                email=suppression.email,
                status="pending",
                defaults={"requested_by": owner, "what_changed": what, "reason": reason, "language": "pl"},
            )
