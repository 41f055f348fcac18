"""Shared reads for the admin (and the portal): one address's timeline and summary, the current
status of a page of contacts, the sender-side failures report, incident samples.

Every function here costs a fixed number of queries, whatever the number of rows behind it:
the timeline pages through a UNION of per-table index scans and fetches only the page's rows.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, Max, Min, Q
from django.db.models.functions import Substr
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from deliverability.erasure import erased_token
from deliverability.explanations import TYPE_ICONS, event_explanation, source_label, suppression_explanation
from deliverability.models import (
    AuditEvent,
    BounceEvent,
    Contact,
    Incident,
    ReinstatementRequest,
    RequestOutcome,
    RequestStatus,
    School,
    Suppression,
)
from deliverability.taxonomy import Action, BlockedCategories, Category, EventType, Reason

TIMELINE_PAGE_SIZE = 100
# Audit actions the timeline already shows from their own rows (with who and why): suppressions
# created and lifted, requests filed and decided (`deliverability.reinstatement`'s actions).
_AUDIT_SHOWN_ELSEWHERE = (
    "suppression.created",
    "suppression.lifted",
    "request.submitted",
    "request.approved",
    "request.rejected",
)
_RAW_DISPLAY_LIMIT = 50_000  # characters of pretty-printed payload shown on the page


# --- the timeline --------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineItem:
    """One line of the timeline. `kind` says which table it comes from and what happened
    (event, suppressed, widened, lifted, request, decision, incident, incident_decision,
    audit); `style` picks its colour and icon; `obj` is the row."""

    kind: str
    at: datetime
    obj: Any
    style: str
    title: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def icon(self) -> str:
        return TYPE_ICONS.get(self.style, "•")


@dataclass(frozen=True)
class TimelineDay:
    day: date
    items: list[TimelineItem]


@dataclass(frozen=True)
class TimelinePage:
    items: list[TimelineItem]
    number: int
    page_size: int
    total: int
    counts: dict[str, int]

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def days(self) -> list[TimelineDay]:
        """The items grouped by local calendar day, newest first (the items' own order)."""
        days: list[TimelineDay] = []
        for item in self.items:
            day = timezone.localtime(item.at).date()
            if not days or days[-1].day != day:
                days.append(TimelineDay(day=day, items=[]))
            days[-1].items.append(item)
        return days


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _branches(keys: Sequence[str]) -> list[tuple[str, str, str, str, list[Any]]]:
    """The timeline's sources: (kind, table, time column, WHERE clause, params) for one
    address (and its erased token). Each is served by an (email, time) index."""
    be, sup = BounceEvent._meta.db_table, Suppression._meta.db_table
    req, inc, aud = ReinstatementRequest._meta.db_table, Incident._meta.db_table, AuditEvent._meta.db_table
    marks = ", ".join(["%s"] * len(keys))
    email_in = f"{_q('email')} IN ({marks})"
    incident_id = _q("incident_id")
    held = f"{_q('id')} IN (SELECT {incident_id} FROM {_q(be)} WHERE {email_in} AND {incident_id} IS NOT NULL)"  # noqa: S608
    not_shown = ", ".join(["%s"] * len(_AUDIT_SHOWN_ELSEWHERE))
    return [
        ("event", be, "occurred_at", email_in, [*keys]),
        ("suppressed", sup, "created_at", email_in, [*keys]),
        ("lifted", sup, "lifted_at", f"{email_in} AND {_q('lifted_at')} IS NOT NULL", [*keys]),
        ("request", req, "created_at", email_in, [*keys]),
        ("decision", req, "decided_at", f"{email_in} AND {_q('decided_at')} IS NOT NULL", [*keys]),
        ("incident", inc, "opened_at", held, [*keys]),
        ("incident_decision", inc, "decided_at", f"{held} AND {_q('decided_at')} IS NOT NULL", [*keys]),
        (
            "audit",
            aud,
            "at",
            f"{email_in} AND {_q('action')} NOT IN ({not_shown})",
            [*keys, *_AUDIT_SHOWN_ELSEWHERE],
        ),
    ]


def timeline_keys(email: str) -> list[str]:
    """The values the address's rows carry: the address, and its token once erased."""
    return [email, erased_token(email)]


def _timeline_counts(keys: Sequence[str]) -> dict[str, int]:
    """Rows per kind for the address: one query of index-only counts."""
    parts, params = [], []
    for kind, table, _time, where, where_params in _branches(keys):
        parts.append(f"(SELECT COUNT(*) FROM {_q(table)} WHERE {where}) AS {_q(kind)}")  # noqa: S608 - identifiers
        params.extend(where_params)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        row = cursor.fetchone()
    return {branch[0]: int(value) for branch, value in zip(_branches(keys), row, strict=True)}


def _timeline_page_keys(keys: Sequence[str], *, offset: int, limit: int) -> list[tuple[str, int]]:
    """(kind, id) of the page's items, newest first: a UNION ALL of per-source index scans,
    each cut to offset + limit rows before the merge."""
    parts, params = [], []
    for kind, table, time, where, where_params in _branches(keys):
        parts.append(
            # `kind` is one of the constants above, never input: safe to inline.
            f"SELECT * FROM (SELECT '{kind}' AS kind, {_q('id')} AS id, {_q(time)} AS at FROM {_q(table)} "  # noqa: S608
            f"WHERE {where} ORDER BY {_q(time)} DESC, {_q('id')} DESC LIMIT %s) AS {_q('b_' + kind)}"
        )
        params.extend([*where_params, offset + limit])
    sql = " UNION ALL ".join(parts) + " ORDER BY at DESC, kind, id DESC LIMIT %s OFFSET %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit, offset])
        return [(str(kind), int(pk)) for kind, pk, _at in cursor.fetchall()]


def address_suppressions(email: str) -> list[Suppression]:
    """Every suppression of the address, active and lifted, newest first, with what the
    timeline and the summary read of them (one query)."""
    return list(
        Suppression.objects.filter(email=email)
        .select_related("school", "created_by", "lifted_by", "cause", "lifted_by_request")
        .defer("cause__raw")
        .order_by("-created_at", "-id")
    )


def address_timeline(
    email: str, *, page: int = 1, page_size: int = TIMELINE_PAGE_SIZE, suppressions: list[Suppression] | None = None
) -> TimelinePage:
    """One page of everything that happened to `email` (normalized), newest first.

    A fixed number of queries whatever the history's size: the counts, the page's keys, and
    one fetch per kind present on the page. Pass `suppressions` (from `address_suppressions`)
    when the caller already has them.
    """
    keys = timeline_keys(email)
    counts = _timeline_counts(keys)
    total = sum(counts.values())
    num_pages = max(1, -(-total // page_size))
    page = min(max(1, page), num_pages)
    offset = (page - 1) * page_size
    page_keys = _timeline_page_keys(keys, offset=offset, limit=page_size) if total else []

    wanted: dict[str, list[int]] = defaultdict(list)
    for kind, pk in page_keys:
        wanted[kind].append(pk)

    events: dict[int, BounceEvent] = {}
    if wanted["event"]:
        events = BounceEvent.objects.select_related("school", "incident").in_bulk(wanted["event"])
    if suppressions is None and (wanted["suppressed"] or wanted["lifted"]):
        suppressions = address_suppressions(email)
    by_suppression = {s.pk: s for s in suppressions or []}
    requests: dict[int, ReinstatementRequest] = {}
    if wanted["request"] or wanted["decision"]:
        requests = ReinstatementRequest.objects.select_related("school", "requested_by", "decided_by").in_bulk(
            wanted["request"] + wanted["decision"]
        )
    incidents: dict[int, Incident] = {}
    if wanted["incident"] or wanted["incident_decision"]:
        incidents = Incident.objects.select_related("decided_by").in_bulk(
            wanted["incident"] + wanted["incident_decision"]
        )
    audits: dict[int, AuditEvent] = {}
    if wanted["audit"]:
        audits = AuditEvent.objects.select_related("actor", "school").in_bulk(wanted["audit"])

    items: list[TimelineItem] = []
    for kind, pk in page_keys:
        item: TimelineItem | None = None
        if kind == "event" and pk in events:
            item = _event_item(events[pk])
        elif kind in ("suppressed", "lifted") and pk in by_suppression:
            item = _suppression_item(kind, by_suppression[pk])
        elif kind in ("request", "decision") and pk in requests:
            item = _request_item(kind, requests[pk])
        elif kind in ("incident", "incident_decision") and pk in incidents:
            item = _incident_item(kind, incidents[pk])
        elif kind == "audit" and pk in audits:
            item = _audit_item(audits[pk])
        if item is not None:  # a row deleted between the two queries is skipped
            items.append(item)
    return TimelinePage(items=items, number=page, page_size=page_size, total=total, counts=counts)


def pretty_raw(raw: Any) -> str:
    if raw in (None, "", {}, []):
        return ""
    text = json.dumps(raw, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    if len(text) > _RAW_DISPLAY_LIMIT:
        return text[:_RAW_DISPLAY_LIMIT] + "\n… (" + str(_("cut for display")) + ")"
    return text


def _event_item(event: BounceEvent) -> TimelineItem:
    style = "delayed" if event.action == Action.DELAYED else event.type
    reason_label = Reason(event.reason).label if event.reason in Reason.values else event.reason
    type_label = EventType(event.type).label if event.type in EventType.values else event.type
    title = f"{type_label}: {reason_label}"
    if event.action == Action.DELAYED:
        title = f"{type_label} ({Action(event.action).label}): {reason_label}"
    return TimelineItem(
        kind="event",
        at=event.occurred_at,
        obj=event,
        style=style,
        title=title,
        details={
            "explanation": event_explanation(event.reason, sender_side=event.sender_side),
            "source": source_label(event.source),
            "raw": pretty_raw(event.raw),
        },
    )


def _categories_label(categories: str) -> str:
    return str(BlockedCategories(categories).label) if categories in BlockedCategories.values else categories


def _suppression_item(kind: str, suppression: Suppression) -> TimelineItem:
    if kind == "suppressed":
        who = suppression.created_via  # "policy", "import", ...
        if suppression.created_by is not None:
            who = f"{suppression.created_by.get_username()} ({suppression.created_via})"
        return TimelineItem(
            kind=kind,
            at=suppression.created_at,
            obj=suppression,
            style="suppressed",
            title=str(_("Suppressed ({scope})")).format(scope=suppression.scope_label),
            details={
                "who": who,
                "why": suppression.note,
                "categories": _categories_label(suppression.categories),
                "explanation": suppression_explanation(suppression.reason),
            },
        )
    assert suppression.lifted_at is not None
    who = suppression.lifted_by.get_username() if suppression.lifted_by else str(_("reinstatement request"))
    return TimelineItem(
        kind=kind,
        at=suppression.lifted_at,
        obj=suppression,
        style="lifted",
        title=str(_("Suppression lifted ({scope})")).format(scope=suppression.scope_label),
        details={"who": who, "why": suppression.lift_note, "request": suppression.lifted_by_request},
    )


def _request_item(kind: str, request: ReinstatementRequest) -> TimelineItem:
    if kind == "request":
        return TimelineItem(
            kind=kind,
            at=request.created_at,
            obj=request,
            style="request",
            title=str(_("Reinstatement requested by {school}")).format(school=request.school),
            details={"who": request.requested_by.get_username(), "why": request.reason},
        )
    assert request.decided_at is not None
    return TimelineItem(
        kind=kind,
        at=request.decided_at,
        obj=request,
        style="decision",
        title=str(_("Reinstatement request {status}")).format(status=request.get_status_display().lower()),
        details={
            "who": request.decided_by.get_username() if request.decided_by else "",
            "why": request.decision_note,
            "outcome": request.get_outcome_display() if request.outcome else "",
        },
    )


def _incident_item(kind: str, incident: Incident) -> TimelineItem:
    if kind == "incident":
        title = str(_("Incident opened: {reason} at {domain}")).format(
            reason=Reason(incident.reason).label, domain=incident.domain
        )
        return TimelineItem(kind=kind, at=incident.opened_at, obj=incident, style="incident", title=title)
    assert incident.decided_at is not None
    return TimelineItem(
        kind=kind,
        at=incident.decided_at,
        obj=incident,
        style="incident",
        title=str(_("Incident {status}")).format(status=incident.get_status_display().lower()),
        details={
            "who": incident.decided_by.get_username() if incident.decided_by else "",
            "why": incident.decision_note,
        },
    )


def _audit_item(audit: AuditEvent) -> TimelineItem:
    style = "widened" if audit.action == "suppression.widened" else "audit"
    return TimelineItem(
        kind="audit",
        at=audit.at,
        obj=audit,
        style=style,
        title=audit.action,
        details={
            "who": audit.actor.get_username() if audit.actor else audit.actor_label,
            "why": audit.note,
            "before": json.dumps(audit.before, ensure_ascii=False, sort_keys=True) if audit.before else "",
            "after": json.dumps(audit.after, ensure_ascii=False, sort_keys=True) if audit.after else "",
        },
    )


# --- the summary strip ---------------------------------------------------------------------


@dataclass(frozen=True)
class ScopeStatus:
    """Whether each message category may be sent to the address in one scope, and which
    active suppression blocks it."""

    label: str
    school: School | None
    blocked_by: dict[str, Suppression | None]

    @property
    def cells(self) -> list[tuple[str, Suppression | None]]:
        return [(str(Category(c).label), self.blocked_by[c]) for c in Category.values]


@dataclass(frozen=True)
class ReasonCounts:
    reason: str
    label: str
    last_7: int
    last_30: int
    last_90: int


@dataclass(frozen=True)
class AddressSummary:
    email: str
    scopes: list[ScopeStatus]
    reason_counts: list[ReasonCounts]
    first_bounce: datetime | None
    last_bounce: datetime | None
    contacts: list[Contact]
    probation: list[ReinstatementRequest]
    active_suppressions: list[Suppression]
    suppression_count: int


def _blocker(suppressions: Iterable[Suppression], category: str) -> Suppression | None:
    for suppression in suppressions:  # platform-wide first: it is the one the API names
        if suppression.blocks(category):
            return suppression
    return None


def address_summary(email: str, *, suppressions: list[Suppression] | None = None) -> AddressSummary:
    """The strip on top of the timeline: the status per scope and category, counts per reason
    over 7/30/90 days, the first and last bounce, the schools that have the address as a
    contact, and any probation. Four queries (five without `suppressions`)."""
    if suppressions is None:
        suppressions = address_suppressions(email)
    active = [s for s in suppressions if s.is_active]
    platform = [s for s in active if s.school_id is None]
    contacts = list(Contact.objects.filter(email=email).select_related("school").order_by("school__name"))

    schools: dict[int, School] = {c.school_id: c.school for c in contacts}
    for suppression in active:
        if suppression.school is not None:
            schools.setdefault(suppression.school.pk, suppression.school)
    scopes = [ScopeStatus(str(_("Whole platform")), None, {c: _blocker(platform, c) for c in Category.values})]
    for school in sorted(schools.values(), key=lambda s: s.name):
        own = [s for s in active if s.school_id == school.pk]
        scopes.append(ScopeStatus(school.name, school, {c: _blocker(platform + own, c) for c in Category.values}))

    now = timezone.now()
    since = {days: now - timedelta(days=days) for days in (7, 30, 90)}
    rows = (
        BounceEvent.objects.filter(email=email, occurred_at__gte=since[90])
        .values("reason")
        .annotate(
            d7=Count("id", filter=Q(occurred_at__gte=since[7])),
            d30=Count("id", filter=Q(occurred_at__gte=since[30])),
            d90=Count("id"),
        )
        .order_by("-d90", "reason")
    )
    reason_counts = [
        ReasonCounts(
            reason=row["reason"],
            label=str(Reason(row["reason"]).label) if row["reason"] in Reason.values else row["reason"],
            last_7=row["d7"],
            last_30=row["d30"],
            last_90=row["d90"],
        )
        for row in rows
    ]
    span = BounceEvent.objects.filter(email=email, type__in=[EventType.HARD, EventType.SOFT]).aggregate(
        first=Min("occurred_at"), last=Max("occurred_at")
    )
    probation = list(
        ReinstatementRequest.objects.filter(
            email=email,
            status=RequestStatus.APPROVED,
            outcome=RequestOutcome.PROBATION,
            probation_ends_at__gte=now,
        ).select_related("school")
    )
    return AddressSummary(
        email=email,
        scopes=scopes,
        reason_counts=reason_counts,
        first_bounce=span["first"],
        last_bounce=span["last"],
        contacts=contacts,
        probation=probation,
        active_suppressions=active,
        suppression_count=len(suppressions),
    )


# --- the status of a page of contacts ------------------------------------------------------


@dataclass(frozen=True)
class ContactStatus:
    """What mail a contact's school may send it now."""

    code: str  # "sendable", "system_only" or "blocked"
    label: str
    suppression: Suppression | None

    @property
    def scope(self) -> str:
        return "" if self.suppression is None else self.suppression.scope


SENDABLE = ContactStatus("sendable", str(_("Sendable")), None)


def contact_statuses(contacts: Sequence[Contact]) -> dict[int, ContactStatus]:
    """For each contact, the strongest active suppression that applies to its school (the
    platform-wide one first when both block as much). One query for the whole list."""
    if not contacts:
        return {}
    emails = {c.email for c in contacts}
    school_ids = {c.school_id for c in contacts}
    rows = (
        Suppression.objects.active()
        .filter(email__in=emails)
        .filter(Q(school__isnull=True) | Q(school_id__in=school_ids))
    )
    by_key: dict[tuple[str, int | None], Suppression] = {(s.email, s.school_id): s for s in rows}
    statuses: dict[int, ContactStatus] = {}
    for contact in contacts:
        candidates = [
            s for s in (by_key.get((contact.email, None)), by_key.get((contact.email, contact.school_id))) if s
        ]
        if not candidates:
            statuses[contact.pk] = SENDABLE
            continue
        full = [s for s in candidates if s.categories == BlockedCategories.ALL]
        chosen = (full or candidates)[0]
        if full:
            statuses[contact.pk] = ContactStatus("blocked", str(_("Blocked: all mail")), chosen)
        else:
            statuses[contact.pk] = ContactStatus("system_only", str(_("System messages only")), chosen)
    return statuses


# --- sender-side failures ------------------------------------------------------------------

# Receiving providers, recognised first by the host that answered (custom domains hosted at a
# big provider show its MX), then by the recipient's domain. Suffix match on dot boundaries.
PROVIDER_BY_MTA_SUFFIX: dict[str, str] = {
    "google.com": "Google",  # gmail-smtp-in.l.google.com, aspmx.l.google.com (Workspace)
    "googlemail.com": "Google",
    "protection.outlook.com": "Microsoft",  # Microsoft 365 tenants
    "outlook.com": "Microsoft",  # consumer Outlook / Hotmail MX
    "hotmail.com": "Microsoft",
    "yahoodns.net": "Yahoo",  # mta*.am0.yahoodns.net serves Yahoo and AOL
    "icloud.com": "Apple",
    "wp.pl": "WP / o2",  # mx.wp.pl also serves o2.pl
    "o2.pl": "WP / o2",
    "onet.pl": "Onet",
    "interia.pl": "Interia",
    "mail.ru": "Mail.ru",
    "yandex.net": "Yandex",
    "gmx.net": "GMX / WEB.DE",
    "web.de": "GMX / WEB.DE",
    "zoho.com": "Zoho",
    "protonmail.ch": "Proton",
}
PROVIDER_BY_DOMAIN: dict[str, str] = {
    "gmail.com": "Google",
    "googlemail.com": "Google",
    "outlook.com": "Microsoft",
    "hotmail.com": "Microsoft",
    "live.com": "Microsoft",
    "msn.com": "Microsoft",
    "yahoo.com": "Yahoo",
    "aol.com": "Yahoo",
    "icloud.com": "Apple",
    "me.com": "Apple",
    "mac.com": "Apple",
    "wp.pl": "WP / o2",
    "o2.pl": "WP / o2",
    "onet.pl": "Onet",
    "op.pl": "Onet",
    "vp.pl": "Onet",
    "interia.pl": "Interia",
    "interia.eu": "Interia",
    "poczta.fm": "Interia",
    "mail.ru": "Mail.ru",
    "yandex.ru": "Yandex",
    "gmx.com": "GMX / WEB.DE",
    "gmx.de": "GMX / WEB.DE",
    "gmx.net": "GMX / WEB.DE",
    "web.de": "GMX / WEB.DE",
    "proton.me": "Proton",
    "protonmail.com": "Proton",
}

# What kind of sender-side problem a failure is, tried in order; the enhanced status first,
# then the provider's wording (the classification tables marked these rows sender_side).
SENDER_PROBLEMS: list[tuple[str, re.Pattern[str] | None, re.Pattern[str]]] = [
    (
        "authentication",
        # RFC 7372 x.7.20-x.7.27 (DKIM, SPF, DMARC, reverse DNS); Microsoft 5.7.515
        re.compile(r"^[45]\.7\.(2[0-7]|515)$"),
        re.compile(r"\bspf\b|\bdkim\b|\bdmarc\b|authenticat|ptr record|reverse dns|\brdns\b", re.IGNORECASE),
    ),
    (
        "blocklist",
        # Spamhaus, Barracuda, Microsoft S3150 and the like name the list or the reputation
        None,
        re.compile(
            r"block ?list|black ?list|spamhaus|barracuda|spamcop|\brbl\b|dnsbl|blocked using|listed|reputation"
            r"|unusual rate|\bs3150\b",
            re.IGNORECASE,
        ),
    ),
    (
        "content",
        # 5.7.1 content refusals: spam-like content, a URL, a virus, an attachment
        None,
        re.compile(r"content|spam|unsolicited|virus|malware|infected|\burl\b|link|phish|attachment", re.IGNORECASE),
    ),
]
SENDER_PROBLEM_LABELS = {
    "authentication": _("Authentication (SPF, DKIM, DMARC, reverse DNS)"),
    "blocklist": _("Blocklist or reputation"),
    "content": _("Content"),
    "other": _("Other sender-side (envelope, rate, protocol)"),
}
SENDER_SIDE_ROWS_LIMIT = 20_000  # the report reads at most this many recent rows


def receiving_provider(domain: str, remote_mta: str) -> str:
    host = remote_mta.strip().lower().rstrip(".")
    host = host.split()[0] if host else ""
    for suffix, name in PROVIDER_BY_MTA_SUFFIX.items():
        if host == suffix or host.endswith("." + suffix):
            return name
    return PROVIDER_BY_DOMAIN.get(domain.lower(), domain or str(_("(unknown domain)")))


def sender_problem(status: str, diagnostic: str) -> str:
    for code, status_pattern, text_pattern in SENDER_PROBLEMS:
        if (status_pattern is not None and status_pattern.match(status or "")) or text_pattern.search(diagnostic):
            return code
    return "other"


@dataclass
class SenderSideGroup:
    provider: str
    problem: str
    count: int = 0
    addresses: set[str] = field(default_factory=set)
    last_at: datetime | None = None
    sample: str = ""
    sample_event_id: int | None = None
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def problem_label(self) -> str:
        return str(SENDER_PROBLEM_LABELS[self.problem])

    @property
    def distinct_addresses(self) -> int:
        return len(self.addresses)


@dataclass(frozen=True)
class SenderSideReport:
    since: datetime
    groups: list[SenderSideGroup]
    truncated: bool


def sender_side_failures(*, days: int = 7, now: datetime | None = None) -> SenderSideReport:
    """Sender-side failures (our authentication, reputation, content) of the last `days`,
    grouped by receiving provider and kind of problem, biggest first. One query, served by
    the time index; diagnostics are read cut to 300 characters."""
    since = (now or timezone.now()) - timedelta(days=days)
    query = (
        BounceEvent.objects.filter(sender_side=True, occurred_at__gte=since)
        .order_by("-occurred_at", "-id")
        .annotate(diagnostic_head=Substr("diagnostic", 1, 300))
        .values_list("id", "email", "domain", "remote_mta", "status", "diagnostic_head", "occurred_at")[
            : SENDER_SIDE_ROWS_LIMIT + 1
        ]
    )
    rows = list(query)
    truncated = len(rows) > SENDER_SIDE_ROWS_LIMIT
    groups: dict[tuple[str, str], SenderSideGroup] = {}
    for pk, email, domain, remote_mta, status, diagnostic, occurred_at in rows[:SENDER_SIDE_ROWS_LIMIT]:
        provider = receiving_provider(domain, remote_mta)
        problem = sender_problem(status, diagnostic or "")
        group = groups.setdefault((provider, problem), SenderSideGroup(provider=provider, problem=problem))
        group.count += 1
        if email:
            group.addresses.add(email)
        if status:
            group.statuses[status] = group.statuses.get(status, 0) + 1
        if group.last_at is None:  # rows come newest first
            group.last_at, group.sample, group.sample_event_id = occurred_at, diagnostic or "", pk
    ordered = sorted(groups.values(), key=lambda g: (-g.count, g.provider, g.problem))
    return SenderSideReport(since=since, groups=ordered, truncated=truncated)


# --- incidents -----------------------------------------------------------------------------


def incident_samples(incident: Incident, *, limit: int = 10) -> list[BounceEvent]:
    """The most recent held events of an incident, for their diagnostics (one query)."""
    return list(
        incident.held_events.order_by("-occurred_at", "-id").only(
            "id", "email", "occurred_at", "diagnostic", "remote_mta", "status", "smtp_code", "source", "incident_id"
        )[:limit]
    )
