"""Run the benchmarks and rewrite their sections of docs/benchmarks.md.

    scripts/with-postgres .venv/bin/python -m bench                      # all of them (make bench)
    scripts/with-postgres .venv/bin/python -m bench suppression_scale    # only the ones named

Each entry of BENCHMARKS is "module" (whose run() returns Markdown) or "module:function". A module
that doesn't exist yet is reported and skipped; one that fails is reported, the others still run,
and the exit status is 1. The whole run is meant to stay within BUDGET_SECONDS on a 2-core machine.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from collections.abc import Callable, Sequence

from bench.common import BenchmarkRefused, prepare_database, require_throwaway_postgresql, setup_django, write_section

BENCHMARKS = [
    "bench.suppression_scale",
    "bench.record_bounce",
    # Needs ../shared/corpus (CORPUS_DIR overrides); it exposes report_markdown(), not run().
    "bench.classify_corpus:report_markdown",
    # Through a real gunicorn on loopback (bench/http_load.py); about 3, 2.5 and 1 minutes here.
    "bench.api_speed",
    "bench.load",
    "bench.restart",
    "bench.admin_scale",
    "bench.listcheck",
]
BUDGET_SECONDS = 600


def section_name(entry: str) -> str:
    """`bench.suppression_scale:run` → `suppression_scale`: the name on the command line and in the markers."""
    return entry.partition(":")[0].rpartition(".")[2]


def select(names: Sequence[str]) -> list[str]:
    if not names:
        return list(BENCHMARKS)
    known = {section_name(entry): entry for entry in BENCHMARKS}
    unknown = [name for name in names if section_name(name) not in known]
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[section_name(name)] for name in names]


def load(entry: str) -> Callable[[], str] | None:
    """The benchmark's function, or None when its module isn't written yet."""
    module_name, _, function_name = entry.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            return None
        raise  # the module exists but something it imports doesn't: a failure, not a skip
    function = getattr(module, function_name or "run", None)
    if not callable(function):
        raise AttributeError(f"{module_name} has no function {function_name or 'run'}() returning Markdown")
    return function


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all): " + ", ".join(
        section_name(entry) for entry in BENCHMARKS
    ))  # fmt: skip
    entries = select(parser.parse_args(argv).names)

    setup_django()
    try:
        require_throwaway_postgresql()
    except BenchmarkRefused as refusal:
        print(f"bench: {refusal}", file=sys.stderr)
        return 2
    prepare_database()

    started = time.perf_counter()
    failed, skipped = [], []
    for entry in entries:
        name = section_name(entry)
        print(f"bench: {name} …", flush=True)
        began = time.perf_counter()
        try:
            function = load(entry)
            if function is None:
                print(f"bench: {name}: module not written yet, skipped")
                skipped.append(name)
                continue
            markdown = function()
        except BenchmarkRefused as refusal:
            print(f"bench: {name}: refused: {refusal}")
            failed.append(name)
            continue
        except Exception:
            print(f"bench: {name}: FAILED\n{traceback.format_exc()}")
            failed.append(name)
            continue
        path = write_section(name, markdown)
        print(f"bench: {name}: {time.perf_counter() - began:.0f} s, written to {path}")

    total = time.perf_counter() - started
    print(
        f"bench: {len(entries) - len(failed) - len(skipped)} done, {len(skipped)} skipped, {len(failed)} failed "
        f"in {total:.0f} s" + (f" (failed: {', '.join(failed)})" if failed else "")
    )
    if total > BUDGET_SECONDS:
        print(f"bench: WARNING: the run took {total:.0f} s, over the {BUDGET_SECONDS} s budget of `make bench`")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
