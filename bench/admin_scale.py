"""The support admin at scale: 1,000,000 suppressions and 3,000,000 bounce events in the migrated
schema (PostgreSQL only), then the server time of the admin pages agents use all day — the
suppression changelist, the bounce event changelist and the timeline of an address with 5,000
events — each beside the raw SQL of the rows it shows.

Pages are requested through Django's test client as a support agent (the whole server side:
middleware, session, permissions, queries, templates), with production settings. Data is made
with set-based SQL (`INSERT … SELECT generate_series`), secondary indexes dropped before the load
and rebuilt from their own definitions after it, foreign-key triggers off during the load (the
generated keys are valid by construction), then `VACUUM ANALYZE`.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench.common import Timing, measure, require_throwaway_postgresql

EVENTS = 3_000_000
SUPPRESSIONS = 1_000_000
SCHOOLS = 200
TIMELINE_EVERY = 600  # one event in 600 belongs to the timeline address: 5,000 events
TIMELINE_ADDRESS = "busy.timeline@bench.test"
SEARCHED_ADDRESS_KEY = 4242  # an address with a few events and a suppression
REPEAT = 7
AGENT = "bench-support"
SCHOOL_SLUG_PREFIX = "bench-admin-"
TIMES = "\N{MULTIPLICATION SIGN}"
SPAN_SECONDS = 2 * 365 * 24 * 3600  # events spread over two years, newest now

# What each type of event says, in the words receiving servers use (one row per reason).
EVENT_KINDS = [
    # (type, action, reason, smtp_code, status, diagnostic, weight)
    ("soft", "delayed", "mailbox_full", 452, "4.2.2", "452 4.2.2 The email account is over quota", 20),
    ("soft", "failed", "server_unavailable", 421, "4.4.2", "421 4.4.2 Connection timed out while talking to mx", 15),
    ("delivered", "delivered", "delivered", 250, "2.0.0", "250 2.0.0 OK queued as 4F2A1", 25),
    ("hard", "failed", "mailbox_not_found", 550, "5.1.1", "550-5.1.1 The email account does not exist", 15),
    ("hard", "failed", "rejected", 550, "5.7.1", "550 5.7.1 Message rejected due to local policy", 5),
    ("hard", "failed", "domain_not_found", 550, "5.1.2", "550 5.1.2 Host unknown: domain name not found", 3),
    ("soft", "failed", "spam_filtered", 550, "5.7.26", "550-5.7.26 Unauthenticated email: DMARC policy", 4),
    ("complaint", "failed", "complaint", None, "", "abuse report (ARF): the recipient marked the message as spam", 3),
    ("auto_reply", "failed", "auto_reply", None, "", "Out of office until Monday", 5),
    ("unknown", "failed", "unknown", None, "", "Undeliverable message", 5),
]  # fmt: skip
DOMAINS = (
    ["gmail.com"] * 6
    + ["wp.pl"] * 3
    + ["onet.pl", "o2.pl", "interia.pl", "outlook.com", "yahoo.com"]
    + [f"firma{n}.com.pl" for n in range(15)]
)
SOURCES = ["api:platform", "dsn", "webhook:amazon_ses", "webhook:postmark", "webhook:mailgun", "webhook:sendgrid"]
SUPPRESSION_REASONS = (
    ["mailbox_not_found"] * 6
    + ["domain_not_found", "sender_blocked", "rejected"]
    + [
        "soft_bounce_limit",
        "complaint",
        "manual",
    ]
)


def _weighted_kinds() -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for kind in EVENT_KINDS:
        rows.extend([kind[:6]] * kind[6])
    return rows


# Row i (1-based) of the event table. The address key k: every TIMELINE_EVERY-th row is the
# timeline address; the others spread over 1,500,000 addresses (two events each on average).
_EVENTS_SQL = """
INSERT INTO deliverability_bounceevent (
    email, domain, school_id, occurred_at, received_at, type, action, reason, sender_side, smtp_code, status,
    diagnostic, remote_mta, category, message_id, provider_message_id, message_key, source, source_event_id,
    raw, record_only
)
SELECT
    a.email,
    a.domain,
    CASE WHEN g.i %% 7 = 0 THEN NULL ELSE (%(schools)s::bigint[])[1 + g.i %% %(school_count)s] END,
    t.at,
    t.at,
    (%(types)s::text[])[kd.n],
    (%(actions)s::text[])[kd.n],
    (%(reasons)s::text[])[kd.n],
    (%(reasons)s::text[])[kd.n] = 'spam_filtered',
    (%(codes)s::int[])[kd.n],
    (%(statuses)s::text[])[kd.n],
    (%(diagnostics)s::text[])[kd.n] || ' (' || g.i || ')',
    'mx' || (g.i %% 5) || '.' || a.domain,
    'bulk',
    '<m' || g.i || '@platform.test>',
    '',
    '<m' || g.i || '@platform.test>',
    (%(sources)s::text[])[1 + g.i %% %(source_count)s],
    'bench-' || g.i,
    CASE WHEN g.i %% 10 = 0 THEN jsonb_build_object('n', g.i, 'provider', 'bench') END,
    false
FROM generate_series(1::bigint, %(rows)s::bigint) AS g(i)
CROSS JOIN LATERAL (SELECT 1 + (g.i * 40503) %% %(kind_count)s AS n) AS kd
CROSS JOIN LATERAL (
    SELECT now() - make_interval(secs => (%(rows)s - g.i)::double precision * %(spacing)s) AS at
) AS t
CROSS JOIN LATERAL (
    SELECT CASE WHEN g.i %% %(every)s = 0 THEN %(timeline)s
                ELSE 'user' || ((g.i * 2654435761) %% 1500000) || '@'
                     || (%(domains)s::text[])[1 + (g.i * 2654435761) %% 1500000 %% %(domain_count)s] END AS email
) AS e
CROSS JOIN LATERAL (SELECT e.email, split_part(e.email, '@', 2) AS domain) AS a
"""

# Row i of the suppression table, caused by event 3i (a hard bounce or not: the diagnostic is
# what the list shows). 70% platform-wide, 10% lifted.
_SUPPRESSIONS_SQL = """
INSERT INTO deliverability_suppression (
    email, school_id, categories, reason, cause_id, created_at, updated_at, lifted_at, created_via, note, lift_note
)
SELECT
    'user' || g.i || '@' || (%(domains)s::text[])[1 + g.i %% %(domain_count)s],
    CASE WHEN g.i %% 10 >= 7 THEN (%(schools)s::bigint[])[1 + g.i %% %(school_count)s] END,
    CASE WHEN r.reason IN ('complaint', 'soft_bounce_limit') THEN 'bulk_and_automation' ELSE 'all' END,
    r.reason,
    3 * g.i,
    t.at,
    t.at,
    CASE WHEN g.i %% 10 = 3 THEN t.at + interval '1 day' END,
    CASE WHEN r.reason = 'manual' THEN 'manual' ELSE 'policy' END,
    '',
    CASE WHEN g.i %% 10 = 3 THEN 'lifted after a reinstatement request' ELSE '' END
FROM generate_series(1::bigint, %(rows)s::bigint) AS g(i)
CROSS JOIN LATERAL (SELECT (%(reasons)s::text[])[1 + (g.i * 7919) %% %(reason_count)s] AS reason) AS r
CROSS JOIN LATERAL (
    SELECT now() - interval '2 days' - make_interval(secs => (%(rows)s - g.i)::double precision * %(spacing)s) AS at
) AS t
"""


@dataclass(frozen=True)
class PageResult:
    label: str
    url: str
    timing: Timing
    queries: int
    raw_label: str
    raw: Timing
    rows: int


def _cursor_execute(sql: str, params: Any = None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _secondary_indexes(table: str) -> list[tuple[str, str]]:
    """(name, definition) of every index of `table` but the primary key."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND i.indexname NOT IN ("
            "  SELECT conname FROM pg_constraint WHERE contype = 'p' AND conrelid = %s::regclass)",
            [table, table],
        )
        return [(str(name), str(definition)) for name, definition in cursor.fetchall()]


def _build_index(definition: str) -> None:
    """CREATE INDEX on this thread's own connection (builds of one table run side by side)."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '512MB'")
            cursor.execute(definition)
    finally:
        connection.close()


def _load(table: str, sql: str, params: dict[str, Any]) -> tuple[float, float]:
    """Insert with the table's secondary indexes dropped, then rebuild them two at a time from
    their own definitions; (insert seconds, index seconds)."""
    from django.db import transaction

    indexes = _secondary_indexes(table)
    for name, _definition in indexes:
        _cursor_execute(f'DROP INDEX "{name}"')
    started = time.perf_counter()
    with transaction.atomic():
        _cursor_execute("SET LOCAL session_replication_role = replica")  # no FK triggers: keys are valid
        _cursor_execute(sql, params)
    inserted = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(_build_index, [definition for _name, definition in indexes]))
    return inserted - started, time.perf_counter() - inserted


def build_dataset() -> dict[str, Any]:
    """Schools, a support agent, 3,000,000 events and 1,000,000 suppressions. Returns facts."""
    from django.contrib.auth.models import Group, User
    from django.db import connection

    from deliverability.models import School

    _cursor_execute(
        "TRUNCATE deliverability_suppressionchange, deliverability_suppression, deliverability_bounceevent, "
        "deliverability_auditevent, deliverability_reinstatementrequest, deliverability_incident, "
        "deliverability_contact RESTART IDENTITY CASCADE"
    )
    School.objects.filter(slug__startswith=SCHOOL_SLUG_PREFIX).delete()
    schools = School.objects.bulk_create(
        School(name=f"Bench school {n}", slug=f"{SCHOOL_SLUG_PREFIX}{n}") for n in range(SCHOOLS)
    )
    school_ids = [s.pk for s in schools]
    user, _ = User.objects.get_or_create(username=AGENT, defaults={"is_staff": True})
    user.groups.set([Group.objects.get(name="Support agents")])

    kinds = _weighted_kinds()
    facts: dict[str, Any] = {}
    facts["events_seconds"] = _load(
        "deliverability_bounceevent",
        _EVENTS_SQL,
        {
            "rows": EVENTS,
            "schools": school_ids,
            "school_count": SCHOOLS,
            "types": [k[0] for k in kinds],
            "actions": [k[1] for k in kinds],
            "reasons": [k[2] for k in kinds],
            "codes": [k[3] for k in kinds],
            "statuses": [k[4] for k in kinds],
            "diagnostics": [k[5] for k in kinds],
            "kind_count": len(kinds),
            "sources": SOURCES,
            "source_count": len(SOURCES),
            "domains": DOMAINS,
            "domain_count": len(DOMAINS),
            "spacing": SPAN_SECONDS / EVENTS,
            "every": TIMELINE_EVERY,
            "timeline": TIMELINE_ADDRESS,
        },
    )
    facts["suppressions_seconds"] = _load(
        "deliverability_suppression",
        _SUPPRESSIONS_SQL,
        {
            "rows": SUPPRESSIONS,
            "schools": school_ids,
            "school_count": SCHOOLS,
            "domains": DOMAINS,
            "domain_count": len(DOMAINS),
            "reasons": SUPPRESSION_REASONS,
            "reason_count": len(SUPPRESSION_REASONS),
            "spacing": SPAN_SECONDS / SUPPRESSIONS,
        },
    )
    started = time.perf_counter()
    connection.ensure_connection()
    old_autocommit = connection.get_autocommit()
    connection.set_autocommit(True)
    try:
        _cursor_execute("VACUUM ANALYZE deliverability_bounceevent")
        _cursor_execute("VACUUM ANALYZE deliverability_suppression")
    finally:
        connection.set_autocommit(old_autocommit)
    facts["vacuum_seconds"] = time.perf_counter() - started
    facts["timeline_events"] = EVENTS // TIMELINE_EVERY
    facts["schools"] = schools
    return facts


def _raw_timing(sql: str, params: list[Any]) -> tuple[Timing, int]:
    from django.db import connection

    found = [0]

    def work() -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            found[0] = len(cursor.fetchall())

    return measure(work, repeat=REPEAT), found[0]


def _page(client: Any, url: str) -> tuple[Timing, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def work() -> None:
        response = client.get(url, secure=True)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {response.status_code}")

    timing = measure(work, repeat=REPEAT)
    with CaptureQueriesContext(connection) as captured:
        work()
    return timing, len(captured.captured_queries)


SUPPRESSION_ROWS_SQL = """
SELECT s.*, sc.*, substr(be.diagnostic, 1, 160)
FROM deliverability_suppression s
LEFT JOIN deliverability_school sc ON sc.id = s.school_id
LEFT JOIN deliverability_bounceevent be ON be.id = s.cause_id
{where}
ORDER BY s.created_at DESC, s.id DESC LIMIT 100
"""
EVENT_ROWS_SQL = """
SELECT be.id, be.email, be.domain, be.school_id, be.occurred_at, be.type, be.action, be.reason, be.sender_side,
       be.smtp_code, be.status, be.source, substr(be.diagnostic, 1, 160), sc.*
FROM deliverability_bounceevent be
LEFT JOIN deliverability_school sc ON sc.id = be.school_id
{where}
ORDER BY be.occurred_at DESC, be.id DESC LIMIT 100
"""
TIMELINE_ROWS_SQL = """
SELECT * FROM deliverability_bounceevent WHERE email = %s ORDER BY occurred_at DESC, id DESC LIMIT 100 OFFSET %s
"""


def _pages(facts: dict[str, Any]) -> list[PageResult]:
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    client.force_login(User.objects.get(username=AGENT))
    school = facts["schools"][7].slug
    school_id = facts["schools"][7].pk
    searched = f"user{SEARCHED_ADDRESS_KEY}@{DOMAINS[SEARCHED_ADDRESS_KEY % len(DOMAINS)]}"
    last_page = -(-facts["timeline_events"] // 100)
    cases: list[tuple[str, str, str, str, list[Any]]] = [
        (
            "Suppressions, unfiltered (estimated count)",
            "/admin/deliverability/suppression/",
            "the 100 newest with school and cause",
            SUPPRESSION_ROWS_SQL.format(where=""),
            [],
        ),
        (
            "Suppressions, active + reason `mailbox_not_found`",
            "/admin/deliverability/suppression/?active=yes&reason__exact=mailbox_not_found",
            "the same rows filtered",
            SUPPRESSION_ROWS_SQL.format(where="WHERE s.lifted_at IS NULL AND s.reason = 'mailbox_not_found'"),
            [],
        ),
        (
            f"Suppressions of one school (`{school}`)",
            f"/admin/deliverability/suppression/?school={school}",
            "the school's 100 newest",
            SUPPRESSION_ROWS_SQL.format(where="WHERE s.school_id = %s"),
            [school_id],
        ),
        (
            "Suppressions, search by address",
            f"/admin/deliverability/suppression/?q={searched}",
            "the address's rows",
            SUPPRESSION_ROWS_SQL.format(where="WHERE s.email = %s"),
            [searched],
        ),
        (
            "Bounce events, unfiltered (estimated count)",
            "/admin/deliverability/bounceevent/",
            "the 100 newest with school",
            EVENT_ROWS_SQL.format(where=""),
            [],
        ),
        (
            "Bounce events, type hard + source webhook:postmark",
            "/admin/deliverability/bounceevent/?type__exact=hard&source=webhook:postmark",
            "the same rows filtered",
            EVENT_ROWS_SQL.format(where="WHERE be.type = 'hard' AND be.source = 'webhook:postmark'"),
            [],
        ),
        (
            "Bounce events, sender side only",
            "/admin/deliverability/bounceevent/?sender_side__exact=1",
            "the sender-side rows",
            EVENT_ROWS_SQL.format(where="WHERE be.sender_side"),
            [],
        ),
        (
            "Bounce events, search by address (5,000 events)",
            f"/admin/deliverability/bounceevent/?q={TIMELINE_ADDRESS}",
            "the address's 100 newest",
            EVENT_ROWS_SQL.format(where="WHERE be.email = %s"),
            [TIMELINE_ADDRESS],
        ),
        (
            "Timeline of an address with 5,000 events, first page",
            f"/admin/deliverability/bounceevent/address/?email={TIMELINE_ADDRESS}",
            "its 100 newest events",
            TIMELINE_ROWS_SQL,
            [TIMELINE_ADDRESS, 0],
        ),
        (
            f"Timeline of the same address, last page ({last_page})",
            f"/admin/deliverability/bounceevent/address/?email={TIMELINE_ADDRESS}&page={last_page}",
            "its 100 oldest events",
            TIMELINE_ROWS_SQL,
            [TIMELINE_ADDRESS, (last_page - 1) * 100],
        ),
        (
            "Sender-side failures report, last 7 days",
            "/admin/deliverability/bounceevent/sender-side/",
            "the sender-side rows of 7 days",
            "SELECT id, email, domain, remote_mta, status, substr(diagnostic, 1, 300), occurred_at "
            "FROM deliverability_bounceevent WHERE sender_side AND occurred_at >= now() - interval '7 days' "
            "ORDER BY occurred_at DESC, id DESC LIMIT 20001",
            [],
        ),
    ]
    results = []
    for label, url, raw_label, sql, params in cases:
        timing, queries = _page(client, url)
        raw, rows = _raw_timing(sql, params)
        results.append(PageResult(label, url, timing, queries, raw_label, raw, rows))
        print(f"bench: admin_scale: {label}: {timing.median_ms:,.0f} ms, {queries} queries", flush=True)
    return results


def _table_sizes() -> dict[str, str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) FROM pg_class "
            "WHERE relname IN ('deliverability_bounceevent', 'deliverability_suppression')"
        )
        return {str(name): str(size) for name, size in cursor.fetchall()}


def _markdown(facts: dict[str, Any], results: list[PageResult], sizes: dict[str, str]) -> str:
    ev, sup = facts["events_seconds"], facts["suppressions_seconds"]
    lines = [
        "## The support admin at scale",
        "",
        f"{EVENTS:,} bounce events ({sizes.get('deliverability_bounceevent', '?')} with indexes) and "
        f"{SUPPRESSIONS:,} suppressions ({sizes.get('deliverability_suppression', '?')}; 70% platform-wide, 10% "
        f"lifted, each with a cause) over {SCHOOLS} schools, loaded with set-based `INSERT … SELECT generate_series` "
        f"(events {ev[0]:.0f} s + {ev[1]:.0f} s to rebuild their indexes, suppressions {sup[0]:.0f} s + "
        f"{sup[1]:.0f} s; `VACUUM ANALYZE` {facts['vacuum_seconds']:.0f} s). One address has "
        f"{facts['timeline_events']:,} events.",
        "",
        "Server time of each page through Django's test client as a support agent with production settings "
        "(middleware, session, permissions, every query, the template), beside the raw SQL of the rows the page "
        f"shows, run alone. Median of {REPEAT} runs after a warm-up (p95 in brackets), in ms.",
        "",
        "| page | queries | server, ms | rows shown: raw SQL | raw, ms | page / raw |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for r in results:
        ratio = r.timing.median / r.raw.median if r.raw.median else float("inf")
        lines.append(
            f"| {r.label} | {r.queries} | {r.timing.median_ms:,.1f} ({r.timing.p95_ms:,.1f}) | {r.raw_label} "
            f"({r.rows} rows) | {r.raw.median_ms:,.2f} ({r.raw.p95_ms:,.2f}) | {ratio:,.0f}{TIMES} |"
        )
    lines += [
        "",
        "The page's own work beyond its rows: the bounded count (an estimate from `pg_class.reltuples` when the "
        "list is unfiltered, else `COUNT(*)` over at most 10,001 rows), session and permission look-ups, and "
        "rendering 100 rows with their links and badges. The query count of a page does not grow with the "
        "data: the same pages are pinned in `tests/test_admin_*.py` (1 row and many give the same count).",
    ]
    return "\n".join(lines)


def run() -> str:
    """Build the dataset, time the pages, clean up; the Markdown section for docs/benchmarks.md."""
    from django.test.utils import override_settings

    require_throwaway_postgresql()
    facts = build_dataset()
    sizes = _table_sizes()
    # The test client talks to "testserver"; production settings would refuse it or redirect
    # to HTTPS, and a manifest storage would need collectstatic.
    with override_settings(
        ALLOWED_HOSTS=["testserver"],
        SECURE_SSL_REDIRECT=False,
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        },
    ):
        results = _pages(facts)
    _cursor_execute(
        "TRUNCATE deliverability_suppressionchange, deliverability_suppression, deliverability_bounceevent "
        "RESTART IDENTITY CASCADE"
    )
    return _markdown(facts, results, sizes)
