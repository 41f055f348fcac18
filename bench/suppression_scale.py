"""Suppressions at scale: one million rows in the real schema, then bulk inserts and lookups
through the ORM beside the same work in raw SQL (PostgreSQL only).

Measured: (a) a raw bulk INSERT of 10,000 rows, (b) `bulk_create` of the same rows, (c) the
lookup of one address's active suppressions, ORM and raw, (d) one set-based query for 10,000
addresses, raw (`email = ANY(%s)`, and `JOIN unnest(%s)` beside it) and ORM (`email__in`).
EXPLAIN says which index each lookup uses; the one-address lookup is expected to use the partial
index `suppression_one_active_per_scope`, and a warning is printed when it doesn't.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import Timing, measure, require_throwaway_postgresql

ROWS = 1_000_000
SCHOOLS = 200
BATCH = 10_000
LOOKUPS = 2_000
REPEAT = 7
EXPECTED_INDEX = "suppression_one_active_per_scope"
SCHOOL_SLUG_PREFIX = "bench-scale-"
TIMES = "\N{MULTIPLICATION SIGN}"

# Names and domains for addresses that look like a Polish e-learning platform's contacts.
FIRST_NAMES = [
    "anna", "maria", "katarzyna", "malgorzata", "agnieszka", "barbara", "ewa", "krystyna", "magdalena",
    "joanna", "aleksandra", "zofia", "monika", "julia", "natalia", "piotr", "krzysztof", "andrzej", "tomasz",
    "pawel", "jan", "michal", "marcin", "jakub", "adam", "lukasz", "mateusz", "kamil", "john", "emma",
]  # fmt: skip
LAST_NAMES = [
    "nowak", "kowalska", "wisniewska", "wojcik", "kowalczyk", "kaminska", "lewandowski", "zielinski",
    "szymanski", "wozniak", "dabrowski", "kozlowska", "jankowski", "mazur", "kwiatkowski", "krawczyk",
    "piotrowski", "grabowska", "nowakowski", "pawlowski", "michalski", "smith", "jones", "muller",
]  # fmt: skip
# Repeated to weigh them: the big free providers dominate, then Polish portals, then the long tail.
DOMAINS = (
    ["gmail.com"] * 8
    + ["wp.pl"] * 4
    + ["onet.pl", "o2.pl", "interia.pl"] * 3
    + ["outlook.com", "hotmail.com", "yahoo.com", "icloud.com"] * 2
    + ["op.pl", "gazeta.pl", "tlen.pl", "gmx.de", "web.de", "proton.me", "xn--bcher-kva.de"]
    + [f"firma{n}.com.pl" for n in range(12)]
    + [f"szkola{n}.edu.pl" for n in range(12)]
)

# One row per generate_series value i. Key k is the address: rows with i % 10 = 3 are lifted and
# share the address of row i - 1 (an active platform row: history), rows with i % 20 = 19 share
# the address of row i - 1 in another school. 70% platform-wide, 30% school-scoped.
_LOAD_SQL = """
INSERT INTO deliverability_suppression (
    email, school_id, categories, reason, created_at, updated_at, lifted_at, created_via, note, lift_note{extra_columns}
)
SELECT
    a.email,
    CASE WHEN g.i %% 10 >= 7 THEN (%(schools)s::bigint[])[1 + g.i %% %(school_count)s] END,
    CASE WHEN r.reason IN ('complaint', 'soft_bounce_limit') THEN 'bulk_and_automation' ELSE 'all' END,
    r.reason,
    t.created_at,
    t.created_at,
    CASE WHEN g.i %% 10 = 3 THEN t.created_at + (now() - t.created_at) / 2 END,
    CASE WHEN g.i %% 50 = 0 THEN 'import' ELSE 'policy' END,
    '',
    ''{extra_values}
FROM generate_series(1, %(rows)s) AS g(i)
CROSS JOIN LATERAL (
    SELECT CASE WHEN g.i %% 10 = 3 OR g.i %% 20 = 19 THEN g.i - 1 ELSE g.i END AS k
) AS key
CROSS JOIN LATERAL (SELECT (key.k * 2654435761) %% 4294967296 AS h) AS hash
CROSS JOIN LATERAL (
    SELECT
        (%(first)s::text[])[1 + hash.h %% %(first_count)s] AS first,
        (%(last)s::text[])[1 + (hash.h / %(first_count)s) %% %(last_count)s] AS last,
        (%(domains)s::text[])[1 + (hash.h / 7) %% %(domain_count)s] AS domain
) AS n
CROSS JOIN LATERAL (
    SELECT CASE key.k %% 4
        WHEN 0 THEN n.first || '.' || n.last || key.k
        WHEN 1 THEN left(n.first, 1) || n.last || key.k
        WHEN 2 THEN n.first || '_' || n.last || key.k
        ELSE n.first || '.' || n.last || '+news' || key.k
    END || '@' || n.domain AS email
) AS a
CROSS JOIN LATERAL (
    SELECT CASE
        WHEN g.i %% 10 >= 7 THEN CASE WHEN hash.h %% 3 = 0 THEN 'sender_blocked' ELSE 'complaint' END
        WHEN hash.h %% 100 < 70 THEN 'mailbox_not_found'
        WHEN hash.h %% 100 < 85 THEN 'soft_bounce_limit'
        WHEN hash.h %% 100 < 93 THEN 'domain_not_found'
        WHEN hash.h %% 100 < 98 THEN 'rejected'
        ELSE 'manual'
    END AS reason
) AS r
CROSS JOIN LATERAL (
    SELECT now() - make_interval(secs => (hash.h %% (3 * 365 * 86400))::double precision) AS created_at
) AS t
"""

_ONE_SQL = (
    "SELECT * FROM deliverability_suppression WHERE email = %s AND lifted_at IS NULL ORDER BY created_at DESC, id DESC"
)
_MANY_SQL = "SELECT * FROM deliverability_suppression WHERE email = ANY(%s) AND lifted_at IS NULL"
_MANY_JOIN_SQL = (
    "SELECT s.* FROM unnest(%s::text[]) AS q(email) "
    "JOIN deliverability_suppression AS s ON s.email = q.email AND s.lifted_at IS NULL"
)
# The indexes of the table that back no constraint: dropped for the load and rebuilt from their own
# definitions after it (building an index once is much faster than a million random inserts into it).
_SECONDARY_INDEXES_SQL = """
SELECT index.relname, pg_get_indexdef(index.oid)
FROM pg_index AS x JOIN pg_class AS index ON index.oid = x.indexrelid
WHERE x.indrelid = 'deliverability_suppression'::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = x.indexrelid)
ORDER BY index.relname
"""
_INSERT_SQL = (
    "INSERT INTO deliverability_suppression "
    "(email, school_id, categories, reason, created_at, updated_at, created_via, note, lift_note{extra_columns}) "
    "SELECT u.email, u.school_id, u.categories, u.reason, u.created_at, u.created_at, u.created_via, '', ''"
    "{extra_values} "
    "FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::text[]) "
    "AS u(email, school_id, categories, reason, created_at, created_via)"
)
# The columns the loaders fill; any other NOT NULL column gets its model default.
_FILLED = {
    "id", "email", "school", "categories", "reason", "created_at", "updated_at", "lifted_at",
    "created_via", "note", "lift_note",
}  # fmt: skip


def _extra_columns() -> tuple[str, str, list[Any]]:
    """Columns added to Suppression after this benchmark was written: NOT NULL ones get their
    default, so the loaders keep working; a NOT NULL column without a default stops them."""
    from django.db import connection

    from deliverability.models import Suppression

    names, placeholders, values = [], [], []
    for field in Suppression._meta.concrete_fields:
        if field.name in _FILLED or field.null:
            continue
        if not field.has_default():
            raise RuntimeError(f"Suppression.{field.name} is NOT NULL without a default: teach {__name__} to fill it")
        names.append(connection.ops.quote_name(str(field.column)))
        placeholders.append("%s")
        values.append(field.get_db_prep_save(field.get_default(), connection))
    if not names:
        return "", "", []
    return ", " + ", ".join(names), ", " + ", ".join(placeholders), values


def _truncate() -> None:
    from django.db import connection

    from deliverability.models import School

    with connection.cursor() as cursor:
        # CASCADE: the change log references suppressions; this database is thrown away anyway.
        cursor.execute("TRUNCATE deliverability_suppression RESTART IDENTITY CASCADE")
    School.objects.filter(slug__startswith=SCHOOL_SLUG_PREFIX).delete()


def _load() -> tuple[list[int], float, int]:
    """Create the schools and the million suppressions. Returns the school ids, the seconds taken
    and the number of indexes rebuilt."""
    from django.db import connection, transaction

    from deliverability.models import School

    started = time.perf_counter()
    schools = School.objects.bulk_create(
        School(name=f"Bench school {n}", slug=f"{SCHOOL_SLUG_PREFIX}{n}") for n in range(SCHOOLS)
    )
    school_ids = [school.pk for school in schools]
    extra_columns, _, extra_values = _extra_columns()
    extra_params = {f"extra_{n}": value for n, value in enumerate(extra_values)}
    extra_placeholders = "".join(f", %(extra_{n})s" for n in range(len(extra_values)))
    sql = _LOAD_SQL.format(extra_columns=extra_columns, extra_values=extra_placeholders)
    params = {
        "rows": ROWS,
        "schools": school_ids,
        "school_count": len(school_ids),
        "first": FIRST_NAMES,
        "first_count": len(FIRST_NAMES),
        "last": LAST_NAMES,
        "last_count": len(LAST_NAMES),
        "domains": DOMAINS,
        "domain_count": len(DOMAINS),
        **extra_params,
    }
    # One transaction: should anything fail, the indexes come back with the rollback.
    with transaction.atomic(), connection.cursor() as cursor:
        # Foreign keys are not checked row by row during the load (as pg_restore --disable-triggers
        # does): the only one set, school_id, comes from the schools just created.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cursor.execute(_SECONDARY_INDEXES_SQL)
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
        cursor.execute(sql, params)
        for _name, definition in indexes:
            cursor.execute(definition)
    with connection.cursor() as cursor:
        # Fresh statistics and visibility map, as autovacuum would give a table this size.
        cursor.execute("VACUUM ANALYZE deliverability_suppression")
    return school_ids, time.perf_counter() - started, len(indexes)


def _new_rows(school_ids: list[int]) -> list[dict[str, Any]]:
    """BATCH suppressions of addresses not in the table yet, mixed like the loaded ones."""
    rng = random.Random(10_000)
    now = datetime.now(UTC)
    rows = []
    for n in range(BATCH):
        scoped = n % 10 >= 7
        reason = (
            rng.choice(["complaint", "sender_blocked"])
            if scoped
            else rng.choice(["mailbox_not_found"] * 7 + ["soft_bounce_limit", "domain_not_found", "rejected"])
        )
        rows.append(
            {
                "email": f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}.new{n}@{rng.choice(DOMAINS)}",
                "school_id": rng.choice(school_ids) if scoped else None,
                "categories": "bulk_and_automation" if reason in {"complaint", "soft_bounce_limit"} else "all",
                "reason": reason,
                "created_at": now - timedelta(seconds=rng.randrange(86_400)),
                "created_via": "policy",
            }
        )
    return rows


def _measure_inserts(rows: list[dict[str, Any]]) -> tuple[Timing, Timing]:
    """Each run in its own transaction, rolled back after the clock stops, so that every run
    meets the same million rows."""
    from django.db import connection

    from deliverability.models import Suppression

    extra_columns, extra_placeholders, extra_values = _extra_columns()
    sql = _INSERT_SQL.format(extra_columns=extra_columns, extra_values=extra_placeholders)
    names = ("email", "school_id", "categories", "reason", "created_at", "created_via")

    def raw() -> None:
        columns = [[row[name] for row in rows] for name in names]
        with connection.cursor() as cursor:
            cursor.execute(sql, [*extra_values, *columns])

    def orm() -> None:
        Suppression.objects.bulk_create(Suppression(updated_at=row["created_at"], **row) for row in rows)

    def begin() -> None:
        connection.set_autocommit(False)
        with connection.cursor() as cursor:
            # Django's foreign keys are deferred to COMMIT, which never comes here: check them
            # in the INSERT itself so that their cost is part of the measure.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    def roll_back() -> None:
        connection.rollback()
        connection.set_autocommit(True)

    return (
        measure(raw, repeat=REPEAT, before=begin, after=roll_back),
        measure(orm, repeat=REPEAT, before=begin, after=roll_back),
    )


def _sample_addresses(count: int, present_share: float) -> list[str]:
    """`count` distinct addresses: a share with an active suppression, the rest never suppressed."""
    from django.db import connection

    present = int(count * present_share)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT email FROM deliverability_suppression TABLESAMPLE SYSTEM (5) REPEATABLE (42) "
            "WHERE lifted_at IS NULL LIMIT %s",
            [present],
        )
        found = [row[0] for row in cursor.fetchall()]
    absent = [f"never.bounced{n}@{DOMAINS[n % len(DOMAINS)]}" for n in range(count - len(found))]
    addresses = found + absent
    random.Random(7).shuffle(addresses)
    return addresses


def _measure_lookups(addresses: list[str]) -> tuple[Timing, Timing]:
    """Each address looked up both ways, in alternating order, so that neither way always meets
    the pages the other just read; the first 100 addresses warm up."""
    from django.db import connection

    from deliverability.models import Suppression

    def orm(email: str) -> None:
        list(Suppression.objects.active().filter(email=email))

    def raw(email: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(_ONE_SQL, [email])
            cursor.fetchall()

    samples: dict[Callable[[str], None], list[float]] = {raw: [], orm: []}
    for index, email in enumerate(addresses):
        for work in (raw, orm) if index % 2 else (orm, raw):
            started = time.perf_counter()
            work(email)
            elapsed = time.perf_counter() - started
            if index >= 100:
                samples[work].append(elapsed)
    return Timing(tuple(samples[raw])), Timing(tuple(samples[orm]))


def _measure_set_lookups(addresses: list[str]) -> tuple[Timing, Timing, Timing, int]:
    """`= ANY(%s)` raw, `email__in` through the ORM (its default ordering cleared, as the raw
    query has none), and `JOIN unnest(%s)` raw."""
    from django.db import connection

    from deliverability.models import Suppression

    found: set[int] = set()

    def raw(sql: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, [addresses])
            found.add(len(cursor.fetchall()))

    def orm() -> None:
        found.add(len(Suppression.objects.active().filter(email__in=addresses).order_by()))

    timings = (
        measure(lambda: raw(_MANY_SQL), repeat=REPEAT),
        measure(orm, repeat=REPEAT),
        measure(lambda: raw(_MANY_JOIN_SQL), repeat=REPEAT),
    )
    if len(found) != 1:
        raise AssertionError(f"the three set-based lookups disagree on the rows found: {sorted(found)}")
    return *timings, found.pop()


def _plan_indexes(sql: str, params: Any) -> list[str]:
    """The indexes a query's plan scans, from EXPLAIN (FORMAT JSON)."""
    import json

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    names: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if "Index Name" in node:
            names.append(f"{node['Node Type']} on {node['Index Name']}")
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return names


def _sizes() -> dict[str, str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 'table, with its indexes', pg_size_pretty(pg_total_relation_size('deliverability_suppression')) "
            "UNION ALL SELECT %s, pg_size_pretty(pg_relation_size(%s))",
            [EXPECTED_INDEX, EXPECTED_INDEX],
        )
        return dict(cursor.fetchall())


def _counts() -> dict[str, int]:
    from django.db.models import Count, Q

    from deliverability.models import Suppression

    return Suppression.objects.aggregate(
        total=Count("id"),
        platform=Count("id", filter=Q(school__isnull=True)),
        school=Count("id", filter=Q(school__isnull=False)),
        lifted=Count("id", filter=Q(lifted_at__isnull=False)),
        addresses=Count("email", distinct=True),
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.2f}" if seconds < 0.1 else f"{seconds * 1000:,.0f}"


def _row(label: str, raw: Timing, orm: Timing, items: int, unit: str) -> str:
    return (
        f"| {label} | {_ms(raw.median)} ({_ms(raw.p95)}) | {raw.per_second(items):,.0f} {unit} "
        f"| {_ms(orm.median)} ({_ms(orm.p95)}) | {orm.per_second(items):,.0f} {unit} "
        f"| {orm.median / raw.median:.1f}{TIMES} |"
    )


def _plan_text(steps: list[str]) -> str:
    return ", ".join(f"`{step}`" for step in steps) if steps else "a sequential scan"


def run() -> str:
    """Load, measure, clean up; return the Markdown section."""
    require_throwaway_postgresql()
    from deliverability.models import Suppression

    _truncate()
    try:
        school_ids, load_seconds, rebuilt = _load()
        counts = _counts()
        sizes = _sizes()
        insert_raw, insert_orm = _measure_inserts(_new_rows(school_ids))
        one_addresses = _sample_addresses(LOOKUPS, present_share=0.75)
        one_raw, one_orm = _measure_lookups(one_addresses)
        many_addresses = _sample_addresses(BATCH, present_share=0.6)
        many_raw, many_orm, many_join, many_found = _measure_set_lookups(many_addresses)

        probe = one_addresses[0]
        lookup = Suppression.objects.active().filter(email=probe)
        one_plan = _plan_indexes(*lookup.query.sql_with_params())
        unordered_plan = _plan_indexes(*lookup.order_by().query.sql_with_params())
        many_plan = _plan_indexes(_MANY_SQL, [many_addresses])
        join_plan = _plan_indexes(_MANY_JOIN_SQL, [many_addresses])
    finally:
        _truncate()

    uses_index = any(step.endswith(f" on {EXPECTED_INDEX}") for step in one_plan)
    if not uses_index:
        print(f"WARNING: the one-address lookup does not use {EXPECTED_INDEX}: {_plan_text(one_plan)}")
    verdict = (
        f"uses `{EXPECTED_INDEX}` as expected"
        if uses_index
        else f"**WARNING: does not use `{EXPECTED_INDEX}`**, as this benchmark expects"
    )

    return "\n".join(
        [
            "## Suppressions at scale",
            "",
            f"{counts['total']:,} suppressions ({counts['platform']:,} platform-wide, {counts['school']:,} "
            f"school-scoped over {SCHOOLS} schools, {counts['lifted']:,} lifted; {counts['addresses']:,} distinct "
            f"addresses) in the migrated schema, loaded in {load_seconds:.0f} s: one set-based "
            f"`INSERT … SELECT generate_series`, its {rebuilt} secondary indexes rebuilt from their own "
            f"definitions after it, then `VACUUM ANALYZE`. Table with indexes: {sizes['table, with its indexes']}; "
            f"`{EXPECTED_INDEX}`: {sizes[EXPECTED_INDEX]}.",
            "",
            "Times in ms, median (p95 in brackets); rates at the median; ORM / raw compares the medians of "
            "the same run.",
            "",
            "| operation | raw SQL, ms | raw rate | ORM, ms | ORM rate | ORM / raw |",
            "|---|---:|---:|---:|---:|---:|",
            _row(
                f"(a, b) insert {BATCH:,} new suppressions: `INSERT … SELECT unnest(…)` vs `bulk_create` "
                f"({REPEAT} runs, foreign keys checked, rolled back)",
                insert_raw,
                insert_orm,
                BATCH,
                "rows/s",
            ),
            _row(
                f"(c) active suppressions of one address: the ORM's SQL by hand vs "
                f"`Suppression.objects.active().filter(email=…)` ({one_raw.runs:,} addresses, 75% suppressed)",
                one_raw,
                one_orm,
                1,
                "lookups/s",
            ),
            _row(
                f"(d) {BATCH:,} addresses in one query: `email = ANY(%s) AND lifted_at IS NULL` vs "
                f"`.active().filter(email__in=…).order_by()` ({REPEAT} runs, {many_found:,} active "
                "suppressions found)",
                many_raw,
                many_orm,
                BATCH,
                "addresses/s",
            ),
            "",
            f"The same {BATCH:,} addresses as `unnest(%s::text[]) JOIN deliverability_suppression … AND lifted_at "
            f"IS NULL`: {_ms(many_join.median)} ms ({_ms(many_join.p95)}), {many_join.per_second(BATCH):,.0f} "
            f"addresses/s — {many_raw.median / many_join.median:.1f}{TIMES} the speed of `= ANY(%s)`.",
            "",
            "Plans (`EXPLAIN`):",
            "",
            f"- one address, `Suppression.objects.active().filter(email=…)` (with the model's default ordering): "
            f"{_plan_text(one_plan)} — {verdict};",
            f"- the same without ordering (`.order_by()`): {_plan_text(unordered_plan)};",
            f"- {BATCH:,} addresses, `email = ANY(%s)`: {_plan_text(many_plan)};",
            f"- {BATCH:,} addresses, `JOIN unnest(%s)`: {_plan_text(join_plan)}.",
            "",
            "Both sides return whole rows (the ORM builds model instances); `bulk_create` also reads back "
            "the new ids. Each insert run is rolled back after the clock stops, so every run meets the same "
            "million rows.",
        ]
    )
