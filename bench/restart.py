"""PostgreSQL restarted in the middle of a load run (issue 10).

gunicorn as `make serve` runs it, 16 clients sending single checks, 1,000-address bulk checks and
bounce batches of 20 events; after BEFORE seconds the throwaway PostgreSQL of scripts/with-postgres
is stopped (`pg_ctl -m fast stop`: open connections are cut), kept down OUTAGE seconds, and started
again with its own options. Promised: while the database is down every request fails fast with
503, a JSON error and `Retry-After` (no 500, no hang); the service comes back by itself; every
event the server acknowledged is stored, once. A client whose bounce batch was refused sends the
same batch again (0.25 s after a refusal rather than the advised Retry-After, to sample the outage
densely) until it is acknowledged.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench import http_load as h
from bench.common import require_throwaway_postgresql

CLIENTS = 16
BEFORE = 8.0
OUTAGE = 5.0
AFTER = 12.0
BULK_SIZE = 1_000
BOUNCE_BATCH = 20
MIX = {"single check": 60, "bulk check": 20, "bounce batch": 20}
PAUSE_AFTER_REFUSAL = 0.25
# A request sent while the database is down must be answered within this (the connect
# timeout of DATABASE_URL is 5 s, and a refused connection fails at once).
HANG_LIMIT = 6.0
FINAL_RETRY_SECONDS = 90


# -- PostgreSQL ------------------------------------------------------------------------------------------


def _pg_ctl(*args: str) -> None:
    command = [str(Path(os.environ["PG_TEST_BIN"]) / "pg_ctl"), "-D", os.environ["PG_TEST_DATADIR"], *args]
    if os.geteuid() == 0:  # the cluster belongs to `postgres` (scripts/with-postgres)
        command = ["runuser", "-u", "postgres", "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stdout}{done.stderr}")


def _server_options() -> str:
    """The options scripts/with-postgres started the server with, from its postmaster.opts
    (less the binary and -D, which pg_ctl gives)."""
    words = shlex.split(Path(os.environ["PG_TEST_DATADIR"], "postmaster.opts").read_text())[1:]
    options, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word == "-D":
            skip = True
        else:
            options.append(word)
    return shlex.join(options)


class Restart:
    """Stops PostgreSQL after `before` seconds, starts it again `outage` seconds later; the
    perf_counter times of each step. Always starts it again, whatever happens."""

    def __init__(self, before: float, outage: float) -> None:
        self.before, self.outage = before, outage
        self.options = _server_options()
        self.log = str(Path(os.environ["PG_TEST_DATADIR"]).parent / "server.log")
        self.times: dict[str, float] = {}
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            time.sleep(self.before)
            self.times["stop_begin"] = time.perf_counter()
            _pg_ctl("-m", "fast", "-w", "-t", "60", "stop")
            self.times["stop_end"] = time.perf_counter()
            time.sleep(self.outage)
        except BaseException as error:
            self.error = error
        finally:
            try:
                self.times["start_begin"] = time.perf_counter()
                _pg_ctl("-w", "-t", "60", "-l", self.log, "-o", self.options, "start")
                self.times["start_end"] = time.perf_counter()
            except BaseException as error:
                self.error = self.error or error

    def join(self) -> dict[str, float]:
        self.thread.join()
        if self.error is not None:
            raise RuntimeError(f"restarting PostgreSQL failed: {self.error}") from self.error
        return self.times


# -- the clients -----------------------------------------------------------------------------------------


class Clients:
    def __init__(self, run: str) -> None:
        self.run = run
        rng = random.Random(12)
        addresses = [f"user{n}@d{n // h.ADDRESSES_PER_DOMAIN}.{run}.example" for n in range(20_000)]
        self.single_paths = [f"/api/v1/check/?{urlencode({'email': a, 'category': 'bulk'})}" for a in addresses]
        self.bulk_bodies = [
            json.dumps({"emails": rng.sample(addresses, BULK_SIZE), "category": "bulk"}).encode() for _ in range(10)
        ]
        self.numbers = h.counter()
        self.lock = threading.Lock()
        self.pending: dict[int, h.Job] = {}  # a client's refused batch, sent again until acknowledged
        self.acknowledged: dict[str, dict[str, Any]] = {}
        self.sent_events: set[str] = set()
        self.refusals: list[tuple[float, h.Answer]] = []  # (perf_counter at the answer, the answer)
        self.bad_refusals: list[str] = []

    def next_job(self, rng: random.Random, index: int) -> h.Job:
        if index in self.pending:
            return self.pending[index]
        kind = rng.choices(list(MIX), weights=list(MIX.values()))[0]
        if kind == "single check":
            return h.Job(kind, "GET", rng.choice(self.single_paths), context=index)
        if kind == "bulk check":
            return h.Job(kind, "POST", "/api/v1/check/", rng.choice(self.bulk_bodies), context=index)
        events = [h.bounce_event(self.run, next(self.numbers), rng) for _ in range(BOUNCE_BATCH)]
        with self.lock:
            self.sent_events.update(event["event_id"] for event in events)
        return h.Job(kind, "POST", "/api/v1/bounces/", h.bounce_batch_body(events), context=(index, events))

    def on_answer(self, job: h.Job, answer: h.Answer) -> None:
        if answer.status == 200:
            if job.kind == "bounce batch":
                index, _events = job.context
                with self.lock:
                    for result in answer.json()["results"]:
                        self.acknowledged[result["event_id"]] = result
                    self.pending.pop(index, None)
            return
        if answer.status == 503:
            self._check_refusal(answer)
        if job.kind == "bounce batch":
            self.pending[job.context[0]] = job
        time.sleep(PAUSE_AFTER_REFUSAL)

    def _check_refusal(self, answer: h.Answer) -> None:
        """A 503 must be the API's JSON error with a Retry-After."""
        problem = ""
        try:
            code = answer.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            problem = f"a 503 without the JSON error: {answer.body[:120]!r}"
        else:
            if code != "service_unavailable":
                problem = f"a 503 with code {code!r}"
        if not problem and not answer.headers.get("Retry-After"):
            problem = "a 503 without Retry-After"
        with self.lock:
            self.refusals.append((time.perf_counter(), answer))
            if problem:
                self.bad_refusals.append(problem)

    def finish(self, port: int, key: str) -> int:
        """Send the batches still refused at the end of the run until they are acknowledged.
        Returns how many were left."""
        left = list(self.pending.values())
        deadline = time.monotonic() + FINAL_RETRY_SECONDS
        for job in left:
            while True:
                answer = h.call(port, job.method, job.path, job.body, key=key)
                self.on_answer(job, answer)
                if answer.status == 200 or time.monotonic() > deadline:
                    break
        return len(left)


# -- the run ---------------------------------------------------------------------------------------------


def _phase(sample: h.Sample, origin: float, times: dict[str, float]) -> str:
    start = origin + sample.started
    end = start + sample.elapsed
    if start >= times["start_end"]:
        return "after"
    if start >= times["start_begin"]:
        return "starting"
    if start >= times["stop_begin"]:
        return "down"
    if end > times["stop_begin"]:
        return "cut"
    return "before"


PHASES = {
    "before": "answered before the stop",
    "cut": "in flight when the stop began",
    "down": "sent while the database was stopping or down",
    "starting": "sent while it was starting",
    "after": "sent once it accepted connections again",
}


def run() -> str:
    require_throwaway_postgresql()
    from django.db import connection

    began = time.perf_counter()
    run_id = f"restart{int(time.time())}"
    h.prepare_like_make_serve()
    key = h.issue_platform_key("bench restart")
    clients = Clients(run_id)
    with h.Gunicorn() as server:
        restart = Restart(BEFORE, OUTAGE)
        connection.close()  # this process's own connection won't survive the restart
        restart.start()
        result = h.run_load(
            server.port, key=key, clients=CLIENTS, duration=BEFORE + OUTAGE + AFTER + 3,
            next_job=clients.next_job, on_answer=clients.on_answer,
        )  # fmt: skip
        times = restart.join()
        left = clients.finish(server.port, key)
        load_avg = h.load_average()
        errors = server.error_lines()
        workers = server.workers
    connection.close()
    verdict = h.verify_bounces(run_id, clients.acknowledged)

    phases: dict[str, list[h.Sample]] = {name: [] for name in PHASES}
    for sample in result.samples:
        phases[_phase(sample, result.origin, times)].append(sample)
    # When the service was back: the first 200 answers to requests sent after the stop, from
    # the moment PostgreSQL accepted connections again.
    first_ok: dict[str, float] = {}
    for sample in result.samples:
        start = result.origin + sample.started
        if sample.status == 200 and start >= times["stop_begin"]:
            done = start + sample.elapsed - times["start_end"]
            first_ok[sample.kind] = min(first_ok.get(sample.kind, done), done)
    refused_after_start = [at - times["start_end"] for at, _answer in clients.refusals if at > times["start_end"]]
    refused_after_start += [
        result.origin + s.started + s.elapsed - times["start_end"] for s in result.samples
        if s.status != 200 and result.origin + s.started >= times["start_end"]
    ]  # fmt: skip

    problems: list[str] = list(verdict.problems) + clients.bad_refusals[:5]
    server_errors = [s for s in result.samples if (s.status >= 500 and s.status != 503) or s.status == 0]
    if server_errors:
        problems.append(
            f"{len(server_errors)} answers other than 503 among the failures: "
            f"{h.status_text(Counter(s.status for s in server_errors))} "
            f"(by phase: {dict(Counter(_phase(s, result.origin, times) for s in server_errors))})"
        )
    slowest = max((s.elapsed for s in phases["down"]), default=0.0)
    if slowest > HANG_LIMIT:
        problems.append(f"a request sent while the database was down took {slowest:.1f} s (limit {HANG_LIMIT:.0f} s)")
    if not phases["down"]:
        problems.append("no request was sent while the database was down: the run measured nothing")
    if not first_ok:
        problems.append("no request succeeded after PostgreSQL came back")
    unacknowledged = clients.sent_events - set(clients.acknowledged)
    if unacknowledged:
        problems.append(f"{len(unacknowledged)} events were never acknowledged, even after retries")

    report = _report(
        result=result, times=times, phases=phases, first_ok=first_ok, refused_after=refused_after_start,
        clients=clients, verdict=verdict, left=left, workers=workers, load_avg=load_avg,
        seconds=time.perf_counter() - began, errors=errors,
    )  # fmt: skip
    if problems:
        raise h.PromiseBroken("restart: " + "\n".join(problems) + "\n\n" + report)
    return report


def _report(
    *, result: h.LoadResult, times: dict[str, float], phases: dict[str, list[h.Sample]], first_ok: dict[str, float],
    refused_after: list[float], clients: Clients, verdict: h.Verdict, left: int, workers: int, load_avg: str,
    seconds: float, errors: list[str],
) -> str:  # fmt: skip
    duplicates = sum(1 for r in clients.acknowledged.values() if r.get("result") == "duplicate")
    stop = times["stop_end"] - times["stop_begin"]
    down_for = times["start_begin"] - times["stop_end"]
    start = times["start_end"] - times["start_begin"]
    lines = [
        "## PostgreSQL restarted under load (issue 10)",
        "",
        f"gunicorn as `make serve` runs it ({workers} sync workers, `CONN_MAX_AGE=60` with health checks, the "
        f"production environment) on loopback; {CLIENTS} clients (`bench/http_load.py`) sending "
        + ", ".join(f"{share}% {kind.replace('batch', 'batche')}s" for kind, share in MIX.items())
        + f" (single `GET /api/v1/check/`, `POST /api/v1/check/` of {BULK_SIZE:,} addresses, `POST /api/v1/bounces/` "
        f"of {BOUNCE_BATCH} new events). After {BEFORE:.0f} s, `pg_ctl -m fast stop` (open connections cut; "
        f"took {stop:.1f} s), {down_for:.1f} s down, then `pg_ctl start` with the cluster's own options (took "
        f"{start:.1f} s to accept connections); {AFTER:.0f} s more of load. A refused bounce batch is sent again "
        f"{PAUSE_AFTER_REFUSAL} s later, until acknowledged. Load average at the end: {load_avg}. "
        f"Module time {seconds:.0f} s.",
        "",
        "| requests | count | answers | p50, ms | max, ms |",
        "|---|---:|---|---:|---:|",
    ]
    for name, label in PHASES.items():
        samples = phases[name]
        elapsed = [s.elapsed for s in samples]
        lines.append(
            f"| {label} | {len(samples):,} | {h.status_text(Counter(s.status for s in samples))} | "
            f"{h.ms(h.percentile(elapsed, 50))} | {h.ms(max(elapsed, default=float('nan')))} |"
        )
    down = phases["down"]
    refusals = [s for s in down if s.status == 503]
    cut = phases["cut"]
    cut_hang = max((result.origin + s.started + s.elapsed - times["stop_begin"] for s in cut), default=float("nan"))
    lines += [
        "",
        f"- Fail fast: {len(refusals):,} of the {len(down):,} requests sent while the database was stopping or down "
        f"were refused with 503 (the JSON error `service_unavailable` and `Retry-After`; "
        f"{len(clients.bad_refusals)} 503s without that shape); the slowest answered in "
        f"{h.ms(max((s.elapsed for s in down), default=float('nan')))} ms, its p50 "
        f"{h.ms(h.percentile([s.elapsed for s in down], 50))} ms. The {len(cut)} requests in flight at the stop "
        f"were all answered within {h.ms(cut_hang)} ms of it.",
        "- Back by itself: after PostgreSQL accepted connections again, the first 200 came "
        + ", ".join(
            f"{h.ms(max(at, 0.0))} ms later for a {kind}" for kind, at in sorted(first_ok.items(), key=lambda x: x[1])
        )
        + (
            f"; {len(refused_after)} requests were refused after that moment (the last "
            f"{h.ms(max(refused_after))} ms after it)"
            if refused_after
            else "; no request was refused after that moment"
        )
        + ".",
        f"- Nothing lost: {len(clients.sent_events):,} bounce events sent, {verdict.acknowledged:,} acknowledged "
        f"({left} batches still refused when the load ended, sent again until acknowledged); {verdict.stored:,} "
        f"stored, each exactly once; {duplicates} of them had been stored by a request whose answer was lost to the "
        f"outage, and their resend answered `duplicate`. {verdict.suppressions:,} "
        f"suppressions, exactly those the policy implies.",
    ]
    lines += [
        "",
        "The checks come back after the bounce batches because every client whose batch was refused sends it "
        "again first: the workers take those batches as soon as the database is back, and the checks queue "
        "behind them.",
    ]
    if errors:
        lines += ["", f"The server logged {len(errors)} error lines (the database outage), e.g.: `{errors[0][:200]}`"]
    return "\n".join(lines)
