"""What every benchmark shares: Django set-up, the throwaway database, timing, machine facts and
the rewriting of its own section of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = "docs/benchmarks.md"


class BenchmarkRefused(RuntimeError):
    """This benchmark can't run here (wrong database, missing data); the message says why."""


def setup_django() -> None:
    """Configure Django for a script; DATABASE_URL comes from the environment (scripts/with-postgres)."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Production settings: with DEBUG on, Django would also log every query with its parameters
    # inlined (for 10,000 addresses, a 300 kB string per query) and time that too.
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
    # The report is the output; libraries' INFO lines (flufl.bounce logs every detector it runs) are noise.
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def require_throwaway_postgresql() -> None:
    """Refuse SQLite (benchmarks are PostgreSQL-only), and any server that scripts/with-postgres
    didn't start: benchmarks load and truncate tables."""
    from django.db import connection

    if connection.vendor != "postgresql":
        raise BenchmarkRefused(
            f"benchmarks are PostgreSQL-only, and DATABASE_URL points at {connection.vendor}: "
            "run `make bench` (or `scripts/with-postgres .venv/bin/python -m bench`), which starts a throwaway "
            "PostgreSQL."
        )
    if not os.environ.get("PG_TEST_DATADIR"):
        raise BenchmarkRefused(
            "benchmarks load and truncate tables, so they run only on the throwaway PostgreSQL of "
            "scripts/with-postgres (PG_TEST_DATADIR is not set): run `make bench`."
        )


def prepare_database() -> None:
    """Create the schema (every migration) and the cache table in the throwaway database."""
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    call_command("createcachetable", verbosity=0)


# -- timing ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of `runs` calls of one piece of work."""

    samples: tuple[float, ...]

    @property
    def runs(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        if len(self.samples) < 2:
            return self.samples[0]
        return statistics.quantiles(self.samples, n=20, method="inclusive")[18]

    @property
    def median_ms(self) -> float:
        return self.median * 1000

    @property
    def p95_ms(self) -> float:
        return self.p95 * 1000

    def per_second(self, items: int = 1) -> float:
        """Throughput at the median: `items` handled per call."""
        return items / self.median


def measure(
    work: Callable[[], object],
    *,
    repeat: int,
    warmup: int = 1,
    before: Callable[[], object] | None = None,
    after: Callable[[], object] | None = None,
) -> Timing:
    """Time `work` `repeat` times with time.perf_counter, after `warmup` untimed calls.

    `before` and `after` run around every call (warm-up included) and are not timed: resetting
    state, opening and rolling back a transaction.
    """
    samples: list[float] = []
    for index in range(warmup + repeat):
        if before is not None:
            before()
        started = time.perf_counter()
        work()
        elapsed = time.perf_counter() - started
        if after is not None:
            after()
        if index >= warmup:
            samples.append(elapsed)
    return Timing(tuple(samples))


# -- machine ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Machine:
    cores: int
    memory_gib: float | None
    cpu: str
    postgresql: str
    python: str


def _meminfo_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1024 * 1024)  # kB
    except OSError:
        pass
    return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _postgresql_version() -> str:
    from django.db import connection

    if connection.vendor != "postgresql":
        return "— (not connected)"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return str(cursor.fetchone()[0]).split()[0]


@cache
def machine() -> Machine:
    return Machine(
        cores=os.cpu_count() or 1,
        memory_gib=_meminfo_gib(),
        cpu=_cpu_model(),
        postgresql=_postgresql_version(),
        python=platform.python_version(),
    )


# -- docs/benchmarks.md ----------------------------------------------------------------------------------


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"


def section_header(name: str) -> str:
    facts = machine()
    memory = f"{facts.memory_gib:.0f} GiB memory" if facts.memory_gib is not None else "memory unknown"
    # Other work on the machine slows every figure (ratios less so): say how busy it was.
    load = f", 1-minute load average {os.getloadavg()[0]:.1f} at the end" if hasattr(os, "getloadavg") else ""
    return (
        f"_Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {facts.cores} cores ({facts.cpu}), {memory}, "
        f"PostgreSQL {facts.postgresql}, Python {facts.python}{load}; command: `make bench` "
        f"(this section alone: `scripts/with-postgres .venv/bin/python -m bench {name}`)._"
    )


def write_section(name: str, markdown: str, path: str | Path = BENCHMARKS_MD) -> Path:
    """Rewrite only the part of `path` between the `bench:NAME` markers (appending it when absent),
    under a header line with the date, the machine, the PostgreSQL version and the command."""
    target = Path(path)
    if not target.is_absolute():
        target = REPO_ROOT / target
    start, end = _markers(name)
    body = markdown.strip()
    # The header line goes under the section's own heading, when it starts with one.
    heading, _, rest = body.partition("\n") if body.startswith("#") else ("", "", body)
    block = "\n\n".join(part for part in (heading, section_header(name), rest.strip()) if part)
    block = f"{start}\n{block}\n{end}"
    text = target.read_text(encoding="utf-8") if target.exists() else "# Benchmarks\n"
    begin_at = text.find(start)
    if begin_at == -1:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    else:
        end_at = text.find(end, begin_at)
        if end_at == -1:
            raise ValueError(f"{target}: {start} has no matching {end}; fix the file by hand")
        text = text[:begin_at] + block + text[end_at + len(end) :]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target
