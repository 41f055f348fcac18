"""Sustained load (issue 10): gunicorn started as `make serve` starts it (migrate,
createcachetable, collectstatic, `config/gunicorn.py`, the production environment) on loopback,
32 concurrent clients for 60 s sending a mix of single checks, 1,000-address bulk checks and
bounce batches of 100 events (unique event ids). Then the proof that nothing was lost: every
acknowledged event stored exactly once, the suppressions exactly those the policy implies (in the
database and through the check API), and a batch retried after a client timeout stored once.

BENCH_LOAD_SECONDS shortens the run for a quick try (the documented run is 60 s).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from typing import Any
from urllib.parse import urlencode

from bench import http_load as h
from bench.common import require_throwaway_postgresql

CLIENTS = 32
DURATION = float(os.environ.get("BENCH_LOAD_SECONDS", "60"))
BULK_SIZE = 1_000
BOUNCE_BATCH = 100
# Share of the requests of each kind (each client draws the next one's kind at random).
MIX = {"single check": 85, "bulk check": 12, "bounce batch": 3}
RETRY_BATCH = 100


def _setup() -> tuple[list[str], dict[str, int]]:
    """The million suppressions of *Suppressions at scale*, and addresses to check (60% with an
    active suppression)."""
    from bench import suppression_scale as scale

    _reset()
    scale._truncate()
    _school_ids, seconds, _rebuilt = scale._load()
    counts = scale._counts()
    counts["seconds"] = round(seconds)
    return scale._sample_addresses(20_000, present_share=0.6), counts


def _reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE deliverability_suppressionchange, deliverability_auditevent, deliverability_suppression, "
            "deliverability_bounceevent, deliverability_incident RESTART IDENTITY CASCADE"
        )


class Mix:
    """The jobs of the load run, and what their answers acknowledged."""

    def __init__(self, addresses: list[str], run: str) -> None:
        self.run = run
        self.single_paths = [f"/api/v1/check/?{urlencode({'email': a, 'category': 'bulk'})}" for a in addresses]
        rng = random.Random(10)
        self.bulk_bodies = [
            json.dumps({"emails": rng.sample(addresses, BULK_SIZE), "category": "bulk"}).encode() for _ in range(20)
        ]
        self.numbers = h.counter()
        self.lock = threading.Lock()
        self.acknowledged: dict[str, dict[str, Any]] = {}
        self.sent_events = 0
        self.bad_answers: list[str] = []

    def next_job(self, rng: random.Random, index: int) -> h.Job:
        kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        if kind == "single check":
            return h.Job(kind, "GET", rng.choice(self.single_paths))
        if kind == "bulk check":
            return h.Job(kind, "POST", "/api/v1/check/", rng.choice(self.bulk_bodies))
        events = [h.bounce_event(self.run, next(self.numbers), rng) for _ in range(BOUNCE_BATCH)]
        with self.lock:
            self.sent_events += len(events)
        return h.Job(kind, "POST", "/api/v1/bounces/", h.bounce_batch_body(events), context=events)

    def on_answer(self, job: h.Job, answer: h.Answer) -> None:
        if answer.status != 200:
            return
        try:
            data = answer.json()
        except ValueError:
            with self.lock:
                self.bad_answers.append(f"{job.kind}: not JSON: {answer.body[:100]!r}")
            return
        if job.kind == "bounce batch":
            results = data.get("results", [])
            sent = [event["event_id"] for event in job.context]
            if [result.get("event_id") for result in results] != sent:
                with self.lock:
                    self.bad_answers.append(f"a bounce batch's results don't match its events: {results[:2]}")
            with self.lock:
                for result in results:
                    self.acknowledged[result["event_id"]] = result
        elif job.kind == "bulk check" and data.get("checked") != BULK_SIZE:
            with self.lock:
                self.bad_answers.append(f"a bulk check answered checked={data.get('checked')}")


def _check_through_api(port: int, key: str, run: str) -> tuple[int, int]:
    """Ask the check API about every address the run suppressed: all must be blocked."""
    from deliverability.models import Suppression

    emails = list(
        Suppression.objects.active().filter(email__endswith=f".{run}.example").values_list("email", flat=True)
    )
    blocked = 0
    for start in range(0, len(emails), 10_000):
        chunk = emails[start : start + 10_000]
        body = json.dumps({"emails": chunk, "category": "bulk"}).encode()
        answer = h.call(port, "POST", "/api/v1/check/", body, key=key)
        if answer.status != 200:
            raise h.PromiseBroken(f"the check after the load answered {answer.status}")
        blocked += len(answer.json()["blocked"])
    return len(emails), blocked


def _retry_after_timeout(port: int, key: str, run: str) -> dict[str, Any]:
    """Send a batch, hang up before the answer (a client timing out), resend at once (racing the
    first, which the server is still handling), then once more after both are done."""
    rng = random.Random(11)
    events = [h.bounce_event(run, n, rng) for n in range(RETRY_BATCH)]
    body = h.bounce_batch_body(events)
    h.send_and_hang_up(port, "/api/v1/bounces/", body, key=key)
    second = h.call(port, "POST", "/api/v1/bounces/", body, key=key)
    third = h.call(port, "POST", "/api/v1/bounces/", body, key=key)
    if second.status != 200 or third.status != 200:
        raise h.PromiseBroken(f"the retried batch answered {second.status}, then {third.status}")
    second_results = Counter(result["result"] for result in second.json()["results"])
    third_results = Counter(result["result"] for result in third.json()["results"])
    acknowledged = {result["event_id"]: result for result in third.json()["results"]}
    verdict = h.verify_bounces(run, acknowledged)
    problems = list(verdict.problems)
    if third_results != Counter({"duplicate": RETRY_BATCH}):
        problems.append(f"the third send answered {dict(third_results)}, not {RETRY_BATCH} duplicates")
    if verdict.stored != RETRY_BATCH:
        problems.append(f"{verdict.stored} events stored for a batch of {RETRY_BATCH}")
    return {"second": second_results, "third": third_results, "verdict": verdict, "problems": problems}


def run() -> str:
    require_throwaway_postgresql()
    began = time.perf_counter()
    stamp = int(time.time())
    run_id, retry_run = f"load{stamp}", f"retry{stamp}"
    try:
        addresses, counts = _setup()
        h.prepare_like_make_serve()
        key = h.issue_platform_key("bench load")
        mix = Mix(addresses, run_id)
        with h.Gunicorn() as server:
            result = h.run_load(
                server.port, key=key, clients=CLIENTS, duration=DURATION, next_job=mix.next_job,
                on_answer=mix.on_answer,
            )  # fmt: skip
            load_avg = h.load_average()
            verdict = h.verify_bounces(run_id, mix.acknowledged)
            expected_blocked, blocked = _check_through_api(server.port, key, run_id)
            retry = _retry_after_timeout(server.port, key, retry_run)
            errors = server.error_lines()
            workers = server.workers
    finally:
        _reset()

    problems = list(verdict.problems) + list(retry["problems"]) + mix.bad_answers
    if result.server_errors():
        problems.append(
            f"{len(result.server_errors())} requests answered 5xx or nothing: "
            f"{h.status_text(Counter(s.status for s in result.server_errors()))}; "
            f"first errors: {[s.error for s in result.server_errors()[:3]]}"
        )
    if blocked != expected_blocked:
        problems.append(f"the check API blocks {blocked} of the {expected_blocked} addresses the run suppressed")
    if mix.sent_events != verdict.acknowledged:
        problems.append(f"{mix.sent_events - verdict.acknowledged} events sent were never acknowledged")
    if errors:
        problems.append("the server logged errors: " + " | ".join(errors[:5]))
    report = _report(result, mix, verdict, retry, counts, workers, load_avg, expected_blocked, blocked,
                     time.perf_counter() - began)  # fmt: skip
    if problems:
        raise h.PromiseBroken("load: " + "\n".join(problems) + "\n\n" + report)
    return report


def _report(
    result: h.LoadResult, mix: Mix, verdict: h.Verdict, retry: dict[str, Any], counts: dict[str, int],
    workers: int, load_avg: str, expected_blocked: int, blocked: int, seconds: float,
) -> str:  # fmt: skip
    total = len(result.samples)
    non_2xx = Counter(s.status for s in result.samples if not 200 <= s.status < 300)
    lines = [
        "## Load: 32 clients for 60 s (issue 10)",
        "",
        f"gunicorn as `make serve` runs it (migrate, createcachetable, collectstatic, `config/gunicorn.py`: "
        f"{workers} sync workers, default timeout), the production environment (`DEBUG=0`, `CONN_MAX_AGE=60`), "
        f"throttling set out of reach, on loopback; {counts['total']:,} suppressions loaded set-based as in "
        f"*Suppressions at scale*. {CLIENTS} clients (Python threads, `bench/http_load.py`, on the same 2 cores), "
        f"each sending its next request when the last is answered, for {DURATION:.0f} s; each request's kind "
        f"drawn at random: "
        + ", ".join(f"{share}% {kind.replace('batch', 'batche')}s" for kind, share in MIX.items())
        + f" — single check `GET /api/v1/check/`, bulk check `POST /api/v1/check/` of {BULK_SIZE:,} addresses "
        f"(60% suppressed), bounce batch `POST /api/v1/bounces/` of {BOUNCE_BATCH} new events (unique event ids and "
        f"addresses: half hard `mailbox_not_found`, a quarter soft, deliveries, complaints). Load average at the "
        f"end of the run: {load_avg}. Module time {seconds:.0f} s.",
        "",
        f"**{total:,} requests in {result.wall:.1f} s: {total / result.wall:,.1f} requests/s; "
        f"non-2xx answers: {h.status_text(non_2xx) if non_2xx else 'none'}.**",
        "",
        "| kind | requests | requests/s | items/s | p50, ms | p99, ms | max, ms | answers |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for kind in MIX:
        samples = result.of(kind)
        elapsed = [s.elapsed for s in samples]
        items = {"single check": 1, "bulk check": BULK_SIZE, "bounce batch": BOUNCE_BATCH}[kind]
        ok = sum(1 for s in samples if s.status == 200)
        lines.append(
            f"| {kind} | {len(samples):,} | {len(samples) / result.wall:,.1f} | {ok * items / result.wall:,.0f} | "
            f"{h.ms(h.percentile(elapsed, 50))} | {h.ms(h.percentile(elapsed, 99))} | {h.ms(max(elapsed, default=0))} "
            f"| {h.status_text(result.statuses(kind))} |"
        )
    second, third = retry["second"], retry["third"]
    retry_verdict: h.Verdict = retry["verdict"]
    lines += [
        "",
        "Nothing lost (checked after the run, in the database):",
        "",
        f"- {mix.sent_events:,} bounce events sent, {verdict.acknowledged:,} acknowledged (`created` or `duplicate`); "
        f"{verdict.stored:,} stored — each acknowledged event exactly once (counted by (source, event id, address)), "
        f"none missing;",
        f"- {verdict.suppressions:,} suppressions of the run's addresses: exactly the addresses whose stored event "
        f"is a recipient-side hard `mailbox_not_found` (platform-wide, every category) or a complaint without a school "
        f"(platform-wide, bulk and automation), each with its cause event and one `suppressed` change-log entry "
        f"({verdict.changes:,} entries); no suppression without a cause event;",
        f"- the check API, asked about those {expected_blocked:,} addresses after the run, blocks {blocked:,};",
        f"- a batch of {RETRY_BATCH} events sent, the connection dropped before the answer (a client timeout), "
        f"resent at once (racing the first): the resend answered "
        + ", ".join(f"{n} {r}" for r, n in sorted(second.items()))
        + "; sent a third time: "
        + ", ".join(f"{n} {r}" for r, n in sorted(third.items()))
        + f"; stored: {retry_verdict.stored} events, each once, and {retry_verdict.suppressions} suppressions, "
        f"as the policy implies.",
        "",
        "How to read it: gunicorn's sync workers handle one request each, so with 32 clients and "
        f"{workers} workers most of a request's latency is its wait for a free worker; a bounce batch holds its "
        "worker for the whole batch (each event recorded in its own transaction), and while several are in "
        "flight the checks queue behind them.",
    ]
    return "\n".join(lines)
