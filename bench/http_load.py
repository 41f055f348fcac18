"""What the HTTP benchmarks share (api_speed, load, restart): a gunicorn of our own on loopback,
started as `make serve` starts it, a small HTTP client, and a closed-loop load generator.

The load generator is plain Python (threads + http.client), so `make bench` needs nothing
else installed. gunicorn's sync workers close the connection after every response (they don't
do keep-alive), so every request opens a new loopback connection — as it would through nginx
to these workers. The client runs on the same machine as the server and takes some of its CPU:
figures are for the pair, on loopback, not for the server alone.
"""

from __future__ import annotations

import http.client
import itertools
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT

# tests/test_operations.py's PRODUCTION_ENV (the documented production environment), less its
# DATABASE_URL: the server uses the throwaway PostgreSQL of scripts/with-postgres.
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "bo.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://bo.example.com",
    "WEBHOOK_SECRET": "anymail:a-long-random-webhook-secret",
    "MAILGUN_WEBHOOK_SIGNING_KEY": "key-0123456789",
    "SECURE_HSTS_PRELOAD": "1",
    # docs/deploy.md's example environment keeps connections for a minute.
    "CONN_MAX_AGE": "60",
}
HOST = "bo.example.com"
# As nginx sends them (docs/deploy.md): the app sees an HTTPS request for its own host.
BASE_HEADERS = {"Host": HOST, "X-Forwarded-Proto": "https", "Accept": "application/json"}
# High enough that the benchmark measures the server, not the throttle.
NO_THROTTLE = "100000000/min"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prepare_like_make_serve() -> None:
    """What `make serve` does before gunicorn: migrate, createcachetable, collectstatic."""
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    call_command("createcachetable", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)


def issue_platform_key(name: str) -> str:
    from deliverability.api.services import issue_api_key

    return issue_api_key(name=f"{name} {secrets.token_hex(3)}", school=None, actor_label="bench").secret


# -- the server ------------------------------------------------------------------------------------------


class Gunicorn:
    """`gunicorn config.wsgi -c config/gunicorn.py` on a free loopback port, in its own process
    group, its output in a log file. Stopped (SIGTERM, then SIGKILL of its group after a grace
    period) by `stop()` or on leaving the `with` block."""

    def __init__(self, *, env: Mapping[str, str] | None = None) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            **PRODUCTION_ENV,
            "BIND": f"127.0.0.1:{self.port}",
            "API_THROTTLE_RATE": NO_THROTTLE,
            **(env or {}),
        }
        self.env.pop("DJANGO_SETTINGS_MODULE", None)  # config/wsgi.py sets it
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-gunicorn-"))
        # gunicorn 23+ opens a control socket under $XDG_RUNTIME_DIR (else ~/.gunicorn/, shared
        # by every gunicorn of the user): keep this one's in its own directory.
        self.env["XDG_RUNTIME_DIR"] = str(self.workdir)
        self.log_path = self.workdir / "gunicorn.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def workers(self) -> int:
        from config import gunicorn as config  # the same formula as the server's

        return int(self.env.get("WEB_CONCURRENCY") or config.workers)

    def start(self, *, ready_timeout: float = 90) -> Gunicorn:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "-c", "config/gunicorn.py"],
            cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            answer = call(self.port, "GET", "/healthz", timeout=2)
            if answer.status == 200:
                # Every worker imports Django lazily on its first request: warm them all up.
                for _ in range(self.workers * 4):
                    call(self.port, "GET", "/healthz", timeout=10)
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer /healthz within {ready_timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # its own group: only what we started
            process.wait(timeout=10)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def error_lines(self) -> list[str]:
        """The log's lines about errors: tracebacks, ERROR records, killed workers."""
        needles = ("Traceback", '"level": "ERROR"', "[ERROR]", "WORKER TIMEOUT", "[CRITICAL]")
        return [line for line in self.log_text().splitlines() if any(needle in line for needle in needles)]


# -- the client ------------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int  # 0: no HTTP answer (refused, reset, timed out); `error` says which
    body: bytes
    headers: dict[str, str]
    elapsed: float
    error: str = ""

    def json(self) -> Any:
        import json

        return json.loads(self.body)


def call(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    key: str | None = None,
    timeout: float = 120,
) -> Answer:
    """One request on a new connection, closed after the answer."""
    headers = dict(BASE_HEADERS)
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    if body is not None:
        headers["Content-Type"] = "application/json"
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return Answer(response.status, data, dict(response.getheaders()), time.perf_counter() - started)
    except (OSError, http.client.HTTPException) as error:
        return Answer(0, b"", {}, time.perf_counter() - started, f"{type(error).__name__}: {error}")
    finally:
        connection.close()


def send_and_hang_up(port: int, path: str, body: bytes, *, key: str) -> None:
    """A client timing out: send the whole request, then close the connection before reading
    the answer (the server still gets it all and handles it)."""
    headers = {**BASE_HEADERS, "Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, body=body, headers=headers)
    finally:
        connection.close()


# -- the load generator ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One request of a load run; `context` travels to `on_answer` (e.g. the events sent)."""

    kind: str
    method: str
    path: str
    body: bytes | None = None
    context: Any = None


@dataclass(frozen=True)
class Sample:
    kind: str
    started: float  # seconds since the start of the run
    elapsed: float
    status: int
    error: str = ""


@dataclass
class LoadResult:
    samples: list[Sample]
    wall: float  # from the start to the last answer
    clients: int
    duration: float
    origin: float = 0.0  # time.perf_counter() at the start: Sample.started is relative to it

    def kinds(self) -> list[str]:
        return sorted({sample.kind for sample in self.samples})

    def of(self, kind: str | None = None) -> list[Sample]:
        return [sample for sample in self.samples if kind is None or sample.kind == kind]

    def statuses(self, kind: str | None = None) -> Counter[int]:
        return Counter(sample.status for sample in self.of(kind))

    def server_errors(self) -> list[Sample]:
        """5xx answers, and requests that got no HTTP answer at all (status 0)."""
        return [sample for sample in self.samples if sample.status >= 500 or sample.status == 0]


def run_load(
    port: int,
    *,
    key: str,
    clients: int,
    duration: float,
    next_job: Callable[[random.Random, int], Job],
    on_answer: Callable[[Job, Answer], None] | None = None,
    timeout: float = 120,
    seed: int = 1,
) -> LoadResult:
    """`clients` threads, each sending one request after another (a closed loop: the next one
    leaves when the answer to the last has arrived) until `duration` seconds have passed;
    requests in flight then finish and are counted."""
    samples: list[Sample] = []
    lock = threading.Lock()
    start_line = threading.Barrier(clients + 1)
    origin = 0.0

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        own: list[Sample] = []
        start_line.wait()
        while (now := time.perf_counter()) - origin < duration:
            job = next_job(rng, index)
            answer = call(port, job.method, job.path, job.body, key=key, timeout=timeout)
            own.append(Sample(job.kind, now - origin, answer.elapsed, answer.status, answer.error))
            if on_answer is not None:
                on_answer(job, answer)
        with lock:
            samples.extend(own)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    origin = time.perf_counter()
    start_line.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - origin
    samples.sort(key=lambda sample: sample.started)
    return LoadResult(samples, wall, clients, duration, origin)


# -- numbers ---------------------------------------------------------------------------------------------


def percentile(values: Iterable[float], p: float) -> float:
    """The p-th percentile (0-100), nearest rank on the sorted values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def ms(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "—"
    return f"{seconds * 1000:,.1f}" if seconds < 0.1 else f"{seconds * 1000:,.0f}"


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def status_text(statuses: Counter[int]) -> str:
    if not statuses:
        return "—"
    return ", ".join(
        f"{'no answer' if status == 0 else status}: {count:,}" for status, count in sorted(statuses.items())
    )


def load_average() -> str:
    try:
        one, five, _ = os.getloadavg()
    except (AttributeError, OSError):
        return "unknown"
    return f"{one:.1f} (1 min), {five:.1f} (5 min)"


counter = itertools.count  # unique event ids across client threads: next() is atomic in CPython


# -- bounce events ---------------------------------------------------------------------------------------

# (share, kind, smtp_code, status, diagnostic): what a mailer reports. Every event has its own
# address, so the policy's outcome is one per event: a hard `mailbox_not_found` suppresses the
# address platform-wide for every category, a complaint without a school platform-wide for bulk
# and automation; a single soft bounce or a delivery suppresses nothing.
BOUNCE_MIX = (
    (50, "bounce", 550, "5.1.1", "550 5.1.1 <{email}>: Recipient address rejected: User unknown in local table"),
    (25, "bounce", 452, "4.2.2", "452 4.2.2 <{email}>: Mailbox full"),
    (15, "delivered", 250, "2.0.0", "250 2.0.0 OK"),
    (10, "complaint", None, "", ""),
)
# 20 addresses a domain, far below the incident guard's 50 distinct addresses an hour.
ADDRESSES_PER_DOMAIN = 20


def bounce_event(run: str, n: int, rng: random.Random) -> dict[str, Any]:
    """Event number `n` of a run: a unique event id and a unique address."""
    from datetime import UTC, datetime, timedelta

    _, kind, code, status, text = rng.choices(BOUNCE_MIX, weights=[mix[0] for mix in BOUNCE_MIX])[0]
    email = f"user{n}@d{n // ADDRESSES_PER_DOMAIN}.{run}.example"
    occurred = datetime.now(UTC) - timedelta(seconds=rng.randint(60, 86_400 * 3))
    event: dict[str, Any] = {
        "event_id": f"{run}-{n}", "email": email, "kind": kind,
        "occurred_at": occurred.isoformat().replace("+00:00", "Z"),
        "category": "bulk", "message_id": f"<{run}-{n}@mailer.example>",
    }  # fmt: skip
    if code is not None:
        event.update(smtp_code=code, status=status, diagnostic=text.format(email=email))
    return event


def bounce_batch_body(events: list[dict[str, Any]]) -> bytes:
    import json

    return json.dumps({"events": events}).encode()


class PromiseBroken(AssertionError):
    """A benchmark found the service breaking one of its promises (a 5xx, a lost or duplicated
    event, a suppression the policy doesn't imply)."""


@dataclass
class Verdict:
    stored: int  # events of the run in the database
    acknowledged: int  # events answered `created` or `duplicate`
    suppressions: int  # suppressions of the run's addresses
    changes: int  # change-log entries of the run's addresses
    unacknowledged_stored: int  # stored, but the client never got an answer for them
    problems: list[str]


def verify_bounces(run: str, acknowledged: Mapping[str, Mapping[str, Any]], *, source: str = "api:platform") -> Verdict:
    """Every acknowledged event of `run` stored exactly once; the suppressions of the run's
    addresses exactly those the policy implies for the stored events; each with its cause
    event and one `suppressed` change-log entry. `acknowledged` maps event id → its result in
    the answer. Returns the counts and the list of problems found (empty: all promises kept)."""
    from django.db import connection

    problems: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT source_event_id, email, count(*), min(id) FROM deliverability_bounceevent "
            "WHERE source = %s AND source_event_id LIKE %s GROUP BY 1, 2",
            [source, f"{run}-%"],
        )
        rows = cursor.fetchall()
        cursor.execute(
            "SELECT id, email, type, reason, action, sender_side, record_only, incident_id, school_id "
            "FROM deliverability_bounceevent WHERE source = %s AND source_event_id LIKE %s",
            [source, f"{run}-%"],
        )
        events = cursor.fetchall()
        cursor.execute(
            "SELECT s.id, s.email, s.school_id, s.categories, s.reason, s.lifted_at IS NULL, s.cause_id, "
            "(SELECT count(*) FROM deliverability_suppressionchange c WHERE c.suppression_id = s.id "
            " AND c.change = 'suppressed') "
            "FROM deliverability_suppression s WHERE s.email LIKE %s",
            [f"%.{run}.example"],
        )
        suppressions = cursor.fetchall()
        cursor.execute(
            "SELECT count(*) FROM deliverability_suppressionchange WHERE email LIKE %s", [f"%.{run}.example"]
        )
        changes = cursor.fetchone()[0]

    stored_ids = {event_id for event_id, _email, _count, _min in rows}
    duplicated = [(event_id, count) for event_id, _email, count, _min in rows if count > 1]
    if duplicated:
        problems.append(f"{len(duplicated)} events stored more than once, e.g. {duplicated[:5]}")
    per_id = Counter(event_id for event_id, _email, _count, _min in rows)
    twice = [event_id for event_id, count in per_id.items() if count > 1]
    if twice:
        problems.append(f"{len(twice)} event ids stored under several addresses, e.g. {twice[:5]}")
    acked = {event_id for event_id, result in acknowledged.items() if result.get("result") in {"created", "duplicate"}}
    lost = sorted(acked - stored_ids)
    if lost:
        problems.append(f"{len(lost)} acknowledged events are not in the database, e.g. {lost[:5]}")
    invalid = [event_id for event_id, result in acknowledged.items() if result.get("result") == "invalid"]
    if invalid:
        problems.append(
            f"{len(invalid)} events answered `invalid`, e.g. {invalid[:3]}: "
            f"{[acknowledged[i].get('errors') for i in invalid[:3]]}"
        )

    # What the policy implies for each stored event (each address has exactly one event).
    expected: dict[str, tuple[str, str, int]] = {}  # email → (categories, reason, cause id)
    for pk, email, type_, reason, action, sender_side, record_only, incident_id, school_id in events:
        if action != "failed" or sender_side or record_only or incident_id is not None or school_id is not None:
            continue
        if type_ == "hard" and reason in {"mailbox_not_found", "domain_not_found"}:
            expected[email] = ("all", reason, pk)
        elif type_ == "complaint":
            expected[email] = ("bulk_and_automation", "complaint", pk)
    actual: dict[str, tuple[str, str, int]] = {}
    event_ids = {row[0] for row in events}
    for _id, email, school_id, categories, reason, active, cause_id, suppressed_changes in suppressions:
        if cause_id is None or cause_id not in event_ids:
            problems.append(f"suppression of {email} has no cause event of this run (cause {cause_id})")
        if school_id is not None or not active:
            problems.append(f"suppression of {email}: school {school_id}, active {active}: not what the policy implies")
        if suppressed_changes != 1:
            problems.append(f"suppression of {email} has {suppressed_changes} `suppressed` change-log entries")
        if email in actual:
            problems.append(f"{email} has more than one suppression")
        actual[email] = (categories, reason, cause_id)
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    wrong = sorted(email for email in set(expected) & set(actual) if expected[email] != actual[email])
    if missing:
        problems.append(f"{len(missing)} addresses the policy suppresses have no suppression, e.g. {missing[:5]}")
    if extra:
        problems.append(f"{len(extra)} suppressions the policy doesn't imply, e.g. {extra[:5]}")
    if wrong:
        problems.append(
            f"{len(wrong)} suppressions differ from the policy, e.g. "
            f"{[(email, expected[email], actual[email]) for email in wrong[:3]]}"
        )
    # The answers said the same: an acknowledged hard mailbox_not_found says `suppressed`.
    unsaid = [
        event_id for event_id, result in acknowledged.items()
        if result.get("type") == "hard" and result.get("reason") == "mailbox_not_found" and not result.get("suppressed")
    ]  # fmt: skip
    if unsaid:
        problems.append(f"{len(unsaid)} answers for a hard mailbox_not_found say `suppressed: false`: {unsaid[:5]}")
    return Verdict(
        stored=sum(count for *_rest, count, _min in rows),
        acknowledged=len(acked),
        suppressions=len(suppressions),
        changes=int(changes),
        unacknowledged_stored=len(stored_ids - acked),
        problems=problems,
    )
