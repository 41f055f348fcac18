"""The API's speed (issue 6) on one million suppressions, through a real gunicorn on loopback,
each figure beside the bare database doing the same work in the same run:

1. a bulk check of 10,000 addresses, end to end (HTTP → gunicorn → Django → PostgreSQL and
   back), beside the selector's own SQL sent through psycopg directly; then one profiled
   in-process run that says where the difference goes (JSON parse, envelope validation,
   normalization, query, serialization, the rest of the request cycle);
2. single checks (`GET /api/v1/check/`): requests per second beside `/healthz` (a trivial Django
   view), with the same client and concurrency;
3. bounce reporting: batches of 1,000 events through `POST /api/v1/bounces/`, events per second
   beside a raw bulk INSERT of the same rows.

BENCH_SINGLE_SECONDS (default 8) shortens the single-check rounds, BENCH_BOUNCE_BATCHES
(default 2) the bounce batches, for a quick try.
"""

from __future__ import annotations

import contextlib
import cProfile
import json
import os
import pstats
import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench import http_load as h
from bench.common import Timing, require_throwaway_postgresql

ADDRESSES = 10_000
PRESENT_SHARE = 0.6
REPEAT = 7
SINGLE_CLIENTS = 8
SINGLE_SECONDS = float(os.environ.get("BENCH_SINGLE_SECONDS", "8"))
SINGLE_ROUNDS = 2
BOUNCE_BATCH = 1_000
BOUNCE_BATCHES = int(os.environ.get("BENCH_BOUNCE_BATCHES", "2"))
# A batch of 1,000 events may take longer than the default worker timeout (30 s) on a small
# machine: this server gets more, and the section says how long a batch took.
GUNICORN_TIMEOUT = 300
DEFAULT_GUNICORN_TIMEOUT = 30
TIMES = "\N{MULTIPLICATION SIGN}"


def _timing(samples: list[float]) -> Timing:
    return Timing(tuple(samples))


# -- 1. bulk check ---------------------------------------------------------------------------------------


def _selector_sql(addresses: list[str]) -> tuple[str, Any]:
    """The SQL and parameters the check's selector sends for these addresses (captured, not
    copied, so that the raw side runs exactly what the API runs)."""
    from django.db import connection

    from deliverability.addresses import normalize_email_fast
    from deliverability.api.selectors import blocking_suppressions

    captured: list[tuple[str, Any]] = []

    def capture(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if "deliverability_suppression" in sql:
            captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        blocking_suppressions({normalize_email_fast(a) for a in addresses}, category="bulk", school_id=None)
    if len(captured) != 1:
        raise AssertionError(f"the check's selector sent {len(captured)} queries for one list, not 1")
    return captured[0]


# The two ways of matching a column against one array parameter; the benchmark runs the one the
# selector doesn't, for comparison.
_ANY = "= ANY(%s::text[])"
_SEMI_JOIN = "IN (SELECT unnest(%s::text[]))"


def _other_form(sql: str) -> tuple[str, str, str]:
    """(the selector's form, the other form, the selector's SQL written with the other form)."""
    for mine, other in ((_SEMI_JOIN, _ANY), (_ANY, _SEMI_JOIN)):
        if mine in sql:
            return mine, other, sql.replace(mine, other)
    raise AssertionError(f"the selector's SQL uses neither `{_ANY}` nor `{_SEMI_JOIN}`: {sql}")


def _plan(sql: str, params: Any) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    steps: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        name = node["Node Type"] + (f" on {node['Index Name']}" if "Index Name" in node else "")
        if "Relation Name" in node and "Index Name" not in node:
            name += f" on {node['Relation Name']}"
        steps.append(name)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return " → ".join(f"`{step}`" for step in steps)


def _bulk_check(port: int, key: str, addresses: list[str]) -> dict[str, Any]:
    """REPEAT rounds after one untimed round; each round sends the same list (1) through
    gunicorn, (2) as the selector's bare SQL through psycopg, (3) as the same SQL with the other
    array form, (4) through Django's test client in this process, and (5) step by step through
    the view's parts — so that every figure meets the same machine load."""
    import psycopg

    body = json.dumps({"emails": addresses, "category": "bulk"}).encode()
    sql, params = _selector_sql(addresses)
    form, other_form, other_sql = _other_form(sql)
    inside = _InProcess(key, body)
    api: list[float] = []
    raw: list[float] = []
    other: list[float] = []
    blocked: set[int] = set()
    rows_found: set[int] = set()
    other_found: set[int] = set()

    def bare(cursor: Any, query: str, found: set[int]) -> float:
        started = time.perf_counter()
        cursor.execute(query, params)
        found.add(len(cursor.fetchall()))
        return time.perf_counter() - started

    # Client-side binding, as Django's PostgreSQL backend sends it (the array inlined in the SQL).
    with (
        psycopg.connect(os.environ["DATABASE_URL"], autocommit=True, cursor_factory=psycopg.ClientCursor) as direct,
        direct.cursor() as cursor,
    ):
        for run in range(REPEAT + 1):
            answer = h.call(port, "POST", "/api/v1/check/", body, key=key)
            if answer.status != 200:
                raise h.PromiseBroken(f"bulk check answered {answer.status}: {answer.body[:300]!r}")
            blocked.add(len(answer.json()["blocked"]))
            raw_seconds = bare(cursor, sql, rows_found)
            other_seconds = bare(cursor, other_sql, other_found)
            inside.one_round(record=run > 0)
            if run:
                api.append(answer.elapsed)
                raw.append(raw_seconds)
                other.append(other_seconds)
    if len(blocked) != 1 or len(rows_found) != 1 or other_found != rows_found:
        raise AssertionError(f"runs disagree: blocked {blocked}, rows {rows_found}, other form {other_found}")
    return {
        "api": _timing(api), "raw": _timing(raw), "other": _timing(other), "blocked": blocked.pop(),
        "rows": rows_found.pop(), "body_bytes": len(body), "answer_bytes": len(answer.body),
        "plan": _plan(sql, params), "other_plan": _plan(other_sql, params), "form": form, "other_form": other_form,
        "sections": inside.summary(),
    }  # fmt: skip


QUERY_STEP = "the query (execute and fetch through Django's cursor)"


class _InProcess:
    """Where a bulk check's time goes, in this process: each step of the view timed on its own,
    the whole request through Django's test client (middleware, authentication, throttling
    included), and a cProfile of one request."""

    def __init__(self, key: str, body: bytes) -> None:
        from django.test import Client

        self.body = body
        self.data = json.loads(body)
        self.client = Client(headers={"Authorization": f"Bearer {key}"})
        self.steps: dict[str, list[float]] = {}
        self.whole: list[float] = []

    def _request(self) -> Any:
        from django.test import override_settings

        with override_settings(ALLOWED_HOSTS=["testserver"]):
            response = self.client.post("/api/v1/check/", self.body, content_type="application/json", secure=True)
        if response.status_code != 200:
            raise AssertionError(f"in-process check answered {response.status_code}")
        return response

    def one_round(self, *, record: bool) -> None:
        from django.db import connection
        from rest_framework.renderers import JSONRenderer

        from deliverability.addresses import InvalidEmail, normalize_email_fast
        from deliverability.api.selectors import blocking_suppressions
        from deliverability.api.serializers import CheckInputSerializer

        steps: dict[str, float] = {}

        def timed(name: str, work: Callable[[], Any]) -> Any:
            started = time.perf_counter()
            value = work()
            steps[name] = time.perf_counter() - started
            return value

        sql_seconds: list[float] = []

        def time_sql(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                sql_seconds.append(time.perf_counter() - started)

        timed("JSON parse of the body (`json.loads`)", lambda: json.loads(self.body.decode("utf-8")))
        serializer = CheckInputSerializer(data=self.data)
        timed("envelope validation (`CheckInputSerializer`)", lambda: serializer.is_valid(raise_exception=True))
        emails = serializer.validated_data["emails"]

        def normalize() -> list[tuple[str, str]]:
            valid = []
            for sent in emails:
                with contextlib.suppress(InvalidEmail):
                    valid.append((sent, normalize_email_fast(sent)))
            return valid

        valid = timed(f"normalization (`normalize_email_fast`, {len(emails):,} calls)", normalize)
        normalized = {n for _, n in valid}
        with connection.execute_wrapper(time_sql):
            found = timed("selector", lambda: blocking_suppressions(normalized, category="bulk", school_id=None))
        steps[QUERY_STEP] = sum(sql_seconds)
        steps["rows → dicts in the selector"] = max(0.0, steps.pop("selector") - steps[QUERY_STEP])
        result = timed(
            "building the answer's lists",
            lambda: {
                "checked": len(emails),
                "blocked": [{"email": s, "normalized": n, **found[n]} for s, n in valid if n in found],
                "invalid": [],
            },
        )
        timed("serialization (DRF `JSONRenderer`)", lambda: JSONRenderer().render(result))
        started = time.perf_counter()
        self._request()
        whole = time.perf_counter() - started
        if record:
            for name, seconds in steps.items():
                self.steps.setdefault(name, []).append(seconds)
            self.whole.append(whole)

    def summary(self) -> dict[str, Any]:
        profile = cProfile.Profile()
        profile.enable()
        self._request()
        profile.disable()
        stats: Any = pstats.Stats(profile)
        top = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:8]
        hot = []
        for (filename, line, function), (_cc, calls, tottime, _cumtime, _callers) in top:
            short = re.sub(r".*/(site-packages|lib/python3\.\d+|work/main)/", "", filename)
            hot.append((f"{short}:{line}({function})", calls, tottime))
        return {
            "steps": {name: statistics.median(values) for name, values in self.steps.items()},
            "in_process": statistics.median(self.whole),
            "hot": hot,
            "profile_total": sum(item[1][2] for item in stats.stats.items()),
        }


# -- 2. single checks ------------------------------------------------------------------------------------


def _queries_of_one_check(key: str, email: str) -> Counter[str]:
    """The queries one single check sends, by table (in-process, through the test client)."""
    from django.db import connection
    from django.test import Client, override_settings

    tables: Counter[str] = Counter()

    def count(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        match = re.search(r'(?:FROM|UPDATE|INTO)\s+"?(\w+)"?', sql)
        tables[(sql.split()[0].upper() + " " + (match[1] if match else "?"))] += 1
        return execute(sql, params, many, context)

    with override_settings(ALLOWED_HOSTS=["testserver"]):
        client = Client(headers={"Authorization": f"Bearer {key}"})
        client.get("/api/v1/check/", {"email": email, "category": "bulk"}, secure=True)  # warm
        with connection.execute_wrapper(count):
            response = client.get("/api/v1/check/", {"email": email, "category": "bulk"}, secure=True)
    if response.status_code != 200:
        raise AssertionError(f"in-process single check answered {response.status_code}")
    return tables


def _single_checks(port: int, key: str, addresses: list[str]) -> list[tuple[str, h.LoadResult]]:
    from urllib.parse import urlencode

    paths = [f"/api/v1/check/?{urlencode({'email': a, 'category': 'bulk'})}" for a in addresses[:2000]]
    rounds = []
    for _ in range(SINGLE_ROUNDS):
        for kind in ("healthz", "check"):

            def job(rng: random.Random, index: int, kind: str = kind) -> h.Job:
                return h.Job(kind, "GET", "/healthz" if kind == "healthz" else rng.choice(paths))

            rounds.append(
                (kind, h.run_load(port, key=key, clients=SINGLE_CLIENTS, duration=SINGLE_SECONDS, next_job=job))
            )
    for kind, result in rounds:
        if set(result.statuses()) != {200}:
            raise h.PromiseBroken(f"{kind}: answers other than 200: {h.status_text(result.statuses())}")
    return rounds


# -- 3. bounce reporting ---------------------------------------------------------------------------------


_RAW_INSERT = (
    "INSERT INTO deliverability_bounceevent (email, domain, occurred_at, received_at, type, action, reason, "
    "sender_side, smtp_code, status, diagnostic, remote_mta, category, message_id, provider_message_id, "
    "message_key, source, source_event_id, raw, record_only) "
    "VALUES (%s, %s, %s, now(), %s, %s, %s, false, %s, %s, %s, '', %s, %s, '', %s, 'bench:raw', %s, %s, false)"
)


def _raw_rows(events: list[dict[str, Any]], answers: dict[str, dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The same events as rows, classified as the API classified them (its answer)."""
    from django.utils.dateparse import parse_datetime

    rows = []
    for event in events:
        answer = answers[event["event_id"]]
        action = {"delivered": "delivered"}.get(event["kind"], "failed")
        rows.append((
            event["email"], event["email"].rpartition("@")[2], parse_datetime(event["occurred_at"]), answer["type"],
            action, answer["reason"], event.get("smtp_code"), event.get("status", ""), event.get("diagnostic", ""),
            event["category"], event["message_id"], event["message_id"], event["event_id"], json.dumps(event),
        ))  # fmt: skip
    return rows


def _bounces(port: int, key: str) -> dict[str, Any]:
    from django.db import connection, transaction

    rng = random.Random(6)
    run = f"speed{int(time.time())}"
    batches = [
        [h.bounce_event(run, n, rng) for n in range(start, start + BOUNCE_BATCH)]
        for start in range(0, BOUNCE_BATCH * BOUNCE_BATCHES, BOUNCE_BATCH)
    ]
    api: list[float] = []
    answers: dict[str, dict[str, Any]] = {}
    for events in batches:
        answer = h.call(
            port, "POST", "/api/v1/bounces/", h.bounce_batch_body(events), key=key, timeout=GUNICORN_TIMEOUT
        )
        if answer.status == 404:
            raise AssertionError("POST /api/v1/bounces/ answers 404: is it mounted in deliverability/api/urls.py?")
        if answer.status != 200:
            raise h.PromiseBroken(f"a batch of {len(events)} bounces answered {answer.status}: {answer.body[:300]!r}")
        api.append(answer.elapsed)
        for result in answer.json()["results"]:
            answers[result["event_id"]] = result
    verdict = h.verify_bounces(run, answers)
    if verdict.problems:
        raise h.PromiseBroken("bounce batches: " + "; ".join(verdict.problems))
    created = Counter(result["result"] for result in answers.values())

    raw: list[float] = []
    for events in batches:
        rows = _raw_rows(events, answers)
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(_RAW_INSERT, rows)
        raw.append(time.perf_counter() - started)
    return {"api": api, "raw": raw, "created": created, "verdict": verdict}


# -- the report ------------------------------------------------------------------------------------------


def _reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE deliverability_suppressionchange, deliverability_auditevent, deliverability_suppression, "
            "deliverability_bounceevent, deliverability_incident RESTART IDENTITY CASCADE"
        )


def run() -> str:
    require_throwaway_postgresql()
    from bench import suppression_scale as scale

    began = time.perf_counter()
    _reset()
    scale._truncate()
    try:
        _school_ids, load_seconds, _rebuilt = scale._load()
        counts = scale._counts()
        addresses = scale._sample_addresses(ADDRESSES, present_share=PRESENT_SHARE)
        h.prepare_like_make_serve()
        key = h.issue_platform_key("bench api_speed")
        with h.Gunicorn(env={"GUNICORN_TIMEOUT": str(GUNICORN_TIMEOUT)}) as server:
            bulk = _bulk_check(server.port, key, addresses)
            single = _single_checks(server.port, key, addresses)
            bounces = _bounces(server.port, key) if BOUNCE_BATCHES else None
            errors = server.error_lines()
            workers = server.workers
        check_queries = _queries_of_one_check(key, addresses[0])
    finally:
        _reset()
    if errors:
        raise h.PromiseBroken("the server logged errors:\n" + "\n".join(errors[:20]))
    return _report(
        counts=counts, load_seconds=load_seconds, bulk=bulk, single=single,
        check_queries=check_queries, bounces=bounces, workers=workers, seconds=time.perf_counter() - began,
    )  # fmt: skip


def _report(
    *, counts: dict[str, int], load_seconds: float, bulk: dict[str, Any],
    single: list[tuple[str, h.LoadResult]], check_queries: Counter[str], bounces: dict[str, Any] | None, workers: int,
    seconds: float,
) -> str:  # fmt: skip
    api, raw, other = bulk["api"], bulk["raw"], bulk["other"]
    sections = bulk["sections"]
    end_to_end = api.median
    lines = [
        "## API speed (issue 6)",
        "",
        f"Dataset: {counts['total']:,} suppressions ({counts['platform']:,} platform-wide, {counts['school']:,} "
        f"school-scoped, {counts['lifted']:,} lifted; {counts['addresses']:,} distinct addresses), built set-based "
        f"as in *Suppressions at scale* in {load_seconds:.0f} s. Server: gunicorn with `config/gunicorn.py` "
        f"({workers} sync workers) on loopback, the production environment (`DEBUG=0`, `CONN_MAX_AGE=60`), "
        f"throttling set out of reach; the client is Python (`bench/http_load.py`, a new connection per request, "
        f"as gunicorn's sync workers close it) on the same machine. Load average while measuring: "
        f"{h.load_average()} — other work shared the 2 cores, so absolute figures are pessimistic; the ratios "
        f"come from the same run. Module time {seconds:.0f} s.",
        "",
        f"### Bulk check of {ADDRESSES:,} addresses ({PRESENT_SHARE:.0%} suppressed), end to end",
        "",
        f"{REPEAT} rounds after one untimed round; each round sends the list through gunicorn, then the "
        f"selector's SQL (captured from it) through psycopg, the same with the other array form, and then "
        f"measures the view's steps in-process (below), so that every figure meets the same machine load. "
        f"Request body "
        f"{bulk['body_bytes'] / 1e6:.2f} MB, answer {bulk['answer_bytes'] / 1e6:.2f} MB, "
        f"{bulk['blocked']:,} addresses blocked ({bulk['rows']:,} rows from the query).",
        "",
        f"| path | median, ms | p95, ms | addresses/s | {TIMES} SQL |",
        "|---|---:|---:|---:|---:|",
        f"| `POST /api/v1/check/` through gunicorn (HTTP, Django, DRF, the query, JSON both ways) "
        f"| {h.ms(api.median)} | {h.ms(api.p95)} | {ADDRESSES / api.median:,.0f} "
        f"| {api.median / raw.median:.1f}{TIMES} |",
        f"| the selector's SQL, captured from it and sent through psycopg directly (execute + fetchall, "
        f"client-side binding as Django's backend does) "
        f"| {h.ms(raw.median)} | {h.ms(raw.p95)} | {ADDRESSES / raw.median:,.0f} | 1.0{TIMES} |",
        f"| *for comparison:* the same SQL with `{bulk['other_form']}` in place of the selector's "
        f"`{bulk['form']}`, through psycopg | {h.ms(other.median)} | {h.ms(other.p95)} | "
        f"{ADDRESSES / other.median:,.0f} | {other.median / raw.median:.2f}{TIMES} |",
        "",
        f"Plans (`EXPLAIN`): the selector's (`{bulk['form']}`) {bulk['plan']}; with `{bulk['other_form']}` "
        f"{bulk['other_plan']}.",
        "",
        f"Where the time goes: each step of the view run on its own in the benchmark's process, then the whole "
        f"request in-process through Django's test client (middleware, authentication, throttling included), "
        f"medians of the same {REPEAT} rounds; the end-to-end median minus the in-process one is HTTP on "
        f"loopback, gunicorn, and the client building the body and reading the answer. The query's time varies "
        f"by tens of ms from run to run on this busy machine: small differences are noise.",
        "",
        "| step | ms | share of the in-process request |",
        "|---|---:|---:|",
    ]
    steps = sections["steps"]
    whole = sections["in_process"]
    for name, value in steps.items():
        lines.append(f"| {name} | {h.ms(value)} | {value / whole:.0%} |")
    inside = sum(steps.values())
    rest = end_to_end - whole
    lines += [
        f"| *sum of the steps* | {h.ms(inside)} | {inside / whole:.0%} |",
        f"| the whole request in-process (Django test client) | {h.ms(whole)} | 100% |",
        f"| end to end through gunicorn (the median above) | {h.ms(end_to_end)} | {end_to_end / whole:.0%} |",
        "",
        f"So HTTP, gunicorn and the client add {h.ms(rest)} ms"
        + (" (negative: below the noise of the query)" if rest < 0 else "")
        + f"; the bare SQL is {raw.median / end_to_end:.0%} of the end-to-end median.",
        "",
        f"cProfile of one in-process request (its own time per function, profiling overhead included; "
        f"{h.ms(sections['profile_total'])} ms in all):",
        "",
        "| function | calls | own time, ms |",
        "|---|---:|---:|",
    ]
    lines += [f"| `{name}` | {calls:,} | {h.ms(tottime)} |" for name, calls, tottime in sections["hot"]]

    lines += [
        "",
        "### Single check, requests per second",
        "",
        f"`GET /api/v1/check/?email=…&category=bulk` (2,000 addresses in turn, {PRESENT_SHARE:.0%} suppressed) "
        f"beside `GET /healthz` (a trivial Django view: the floor of the stack), {SINGLE_CLIENTS} concurrent "
        f"clients for {SINGLE_SECONDS:.0f} s each, alternating, {SINGLE_ROUNDS} rounds.",
        "",
        f"| round | endpoint | requests | requests/s | p50, ms | p99, ms | {TIMES} healthz |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    floor: dict[int, float] = {}
    for index, (kind, result) in enumerate(single):
        rate = len(result.samples) / result.wall
        round_number = index // 2 + 1
        if kind == "healthz":
            floor[round_number] = rate
        elapsed = [s.elapsed for s in result.samples]
        lines.append(
            f"| {round_number} | {'`/healthz`' if kind == 'healthz' else '`GET /api/v1/check/`'} | "
            f"{len(result.samples):,} | {rate:,.0f} | {h.ms(h.percentile(elapsed, 50))} | "
            f"{h.ms(h.percentile(elapsed, 99))} | {rate / floor[round_number]:.2f} |"
        )
    total_queries = sum(check_queries.values())
    lines += [
        "",
        f"One single check sends {total_queries} queries: "
        + ", ".join(f"`{name}` {count}{TIMES}" for name, count in check_queries.most_common())
        + " (API key, the throttle's counter in the database cache, the check itself).",
    ]

    if bounces is None:
        return "\n".join([*lines, "", "Bounce reporting: skipped (BENCH_BOUNCE_BATCHES=0)."])
    api_b, raw_b = bounces["api"], bounces["raw"]
    events = BOUNCE_BATCH * len(api_b)
    api_rate, raw_rate = events / sum(api_b), events / sum(raw_b)
    created = bounces["created"]
    verdict: h.Verdict = bounces["verdict"]
    slowest = max(api_b)
    lines += [
        "",
        f"### Bounce reporting, batches of {BOUNCE_BATCH:,}",
        "",
        f"{len(api_b)} batches of {BOUNCE_BATCH:,} new events (half hard `mailbox_not_found`, a quarter soft, "
        f"deliveries, complaints; every event its own address) through `POST /api/v1/bounces/`, one at a time; "
        f"then the same rows, classified as the API answered, by a raw `executemany` INSERT in one transaction "
        f"per batch.",
        "",
        f"| path | seconds per batch (each) | events/s | {TIMES} raw |",
        "|---|---|---:|---:|",
        f"| `POST /api/v1/bounces/` through gunicorn (validation, `record_bounce` per event, the answer) | "
        f"{', '.join(f'{s:.1f}' for s in api_b)} | {api_rate:,.0f} | {raw_rate / api_rate:.0f}{TIMES} |",
        f"| raw bulk INSERT of the same rows | {', '.join(f'{s:.2f}' for s in raw_b)} | {raw_rate:,.0f} | 1{TIMES} |",
        "",
        f"Answers: {', '.join(f'{n:,} {r}' for r, n in created.most_common())}; in the database "
        f"{verdict.stored:,} events (each once), {verdict.suppressions:,} suppressions and {verdict.changes:,} "
        f"change-log entries, exactly those the policy implies.",
    ]
    if slowest > DEFAULT_GUNICORN_TIMEOUT:
        lines += [
            "",
            f"**Warning:** the slowest batch took {slowest:.0f} s, over gunicorn's default worker timeout "
            f"(`GUNICORN_TIMEOUT={DEFAULT_GUNICORN_TIMEOUT}`): with the default configuration its worker would be "
            f"killed mid-batch and the client would get no answer (this run's server had {GUNICORN_TIMEOUT} s). "
            f"On this machine a mailer should send smaller batches, or the timeout be raised.",
        ]
    return "\n".join(lines)
