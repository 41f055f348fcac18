"""Score deliverability.dsn.parse_message on the Sisimai bounce corpus, and time it beside flufl.bounce.

Scoring follows ../shared/corpus/README.md: *recipient found* over the rows that name a recipient, *kind*
over all rows, *reason accepted* over kind=bounce rows whose accepted_reasons isn't ``*``, and the
precision and recall of "dead address" (type hard with reason mailbox_not_found or domain_not_found)
against address_dead (rows marked ``any`` aren't scored); per format and in total, plus the messages in
not_bounce/. Speed is messages per second on one core, from raw bytes, for parse_message and for
flufl.bounce's scan_message on the same messages.

    python bench/classify_corpus.py [--write docs/benchmarks-classification.md] [--details] [--no-speed]

The corpus is found at <repo>/../shared/corpus (env CORPUS_DIR overrides).
"""

from __future__ import annotations

import argparse
import csv
import email
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from deliverability.dsn import ParsedMessage, RecipientResult, parse_message  # noqa: E402

TARGETS = {"recipient": 0.97, "kind": 0.98, "reason": 0.92, "dead_precision": 0.97, "dead_recall": 0.97}
DEAD_REASONS = frozenset({"mailbox_not_found", "domain_not_found"})
# How a ParsedMessage kind reads in expected.tsv (a delivered DSN is "not_bounce" there).
KIND_IN_TSV = {
    "bounce": "bounce",
    "complaint": "complaint",
    "auto_reply": "auto_reply",
    "delivered": "not_bounce",
    "not_bounce": "not_bounce",
    "unparseable": "unparseable",
}


def corpus_dir() -> Path:
    """The shared corpus folder: $CORPUS_DIR, else <repo>/../shared/corpus."""
    override = os.environ.get("CORPUS_DIR")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "corpus"


def sisimai_dir(base: Path | None = None) -> Path:
    return (base or corpus_dir()) / "bounces-sisimai"


@dataclass(frozen=True)
class Row:
    file: str
    index: int
    format: str
    recipient: str
    kinds: frozenset[str]
    accepted_reasons: frozenset[str] | None  # None: any reason is accepted ("*")
    address_dead: bool | None  # None: not scored ("any")


@dataclass
class Tally:
    """Counts for one format (or the total)."""

    rows: int = 0
    recipient_rows: int = 0
    recipient_found: int = 0
    kind_ok: int = 0
    reason_rows: int = 0
    reason_ok: int = 0
    dead_tp: int = 0
    dead_fp: int = 0
    dead_fn: int = 0

    def add(self, other: Tally) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def recipient(self) -> float | None:
        return _ratio(self.recipient_found, self.recipient_rows)

    @property
    def kind(self) -> float | None:
        return _ratio(self.kind_ok, self.rows)

    @property
    def reason(self) -> float | None:
        return _ratio(self.reason_ok, self.reason_rows)

    @property
    def dead_precision(self) -> float | None:
        return _ratio(self.dead_tp, self.dead_tp + self.dead_fp)

    @property
    def dead_recall(self) -> float | None:
        return _ratio(self.dead_tp, self.dead_tp + self.dead_fn)


@dataclass
class Scores:
    by_format: dict[str, Tally] = field(default_factory=dict)
    total: Tally = field(default_factory=Tally)
    not_bounce_files: int = 0
    not_bounce_ok: int = 0
    files: int = 0
    failures: list[str] = field(default_factory=list)  # human-readable lines for --details

    def meets_targets(self) -> bool:
        return all((getattr(self.total, name) or 0.0) >= target for name, target in TARGETS.items())


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def load_rows(path: Path) -> list[Row]:
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle, delimiter="\t"):
            accepted = record["accepted_reasons"].strip()
            dead = record["address_dead"].strip().lower()
            rows.append(
                Row(
                    file=record["file"],
                    index=int(record["index"]),
                    format=record["format"],
                    recipient=record["recipient"].strip(),
                    kinds=frozenset(record["kind"].split("|")),
                    accepted_reasons=None if accepted == "*" else frozenset(accepted.split("|")),
                    address_dead=None if dead == "any" else dead == "true",
                )
            )
    return rows


def _match(row: Row, parsed: ParsedMessage) -> RecipientResult | None:
    """Our result for a row: by address when the row names one, else by position."""
    results = parsed.recipients
    if row.recipient:
        for result in results:
            if result.email and result.email.lower() == row.recipient.lower():
                return result
    if row.index - 1 < len(results):
        return results[row.index - 1]
    return results[0] if len(results) == 1 else None


def score(base: Path | None = None, *, parse: Callable[[bytes], ParsedMessage] = parse_message) -> Scores:
    folder = sisimai_dir(base)
    rows = load_rows(folder / "expected.tsv")
    scores = Scores()
    parsed_by_file: dict[str, ParsedMessage] = {}
    for row in rows:
        parsed = parsed_by_file.get(row.file)
        if parsed is None:
            parsed = parse((folder / "eml" / row.file).read_bytes())
            parsed_by_file[row.file] = parsed
        tally = scores.by_format.setdefault(row.format, Tally())
        _score_row(row, parsed, tally, scores.failures)
    scores.files = len(parsed_by_file)
    for tally in scores.by_format.values():
        scores.total.add(tally)
    for path in sorted((folder / "not_bounce").glob("*.eml")):
        parsed = parse(path.read_bytes())
        scores.not_bounce_files += 1
        if parsed.kind == "not_bounce":
            scores.not_bounce_ok += 1
        else:
            scores.failures.append(f"not_bounce/{path.name}: read as {parsed.kind} ({parsed.source})")
    return scores


def _score_row(row: Row, parsed: ParsedMessage, tally: Tally, failures: list[str]) -> None:
    tally.rows += 1
    found = _match(row, parsed)
    label = f"{row.file}#{row.index} [{row.format}]"
    emails = [r.email for r in parsed.recipients]
    if row.recipient:
        tally.recipient_rows += 1
        if any(e and e.lower() == row.recipient.lower() for e in emails):
            tally.recipient_found += 1
        else:
            failures.append(f"{label} recipient: expected {row.recipient}, got {emails} ({parsed.source})")
    our_kind = KIND_IN_TSV.get(str(parsed.kind), str(parsed.kind))
    if our_kind in row.kinds:
        tally.kind_ok += 1
    else:
        failures.append(f"{label} kind: expected {'|'.join(sorted(row.kinds))}, got {our_kind} ({parsed.source})")
    if row.kinds == frozenset({"bounce"}) and row.accepted_reasons is not None:
        tally.reason_rows += 1
        if found is not None and found.reason in row.accepted_reasons:
            tally.reason_ok += 1
        else:
            got = f"{found.type}/{found.reason} status={found.status} code={found.smtp_code}" if found else "none"
            diag = found.diagnostic[:160] if found else ""
            failures.append(f"{label} reason: expected {'|'.join(sorted(row.accepted_reasons))}, got {got} :: {diag}")
    if row.address_dead is not None:
        predicted = found is not None and found.type == "hard" and found.reason in DEAD_REASONS
        if predicted and row.address_dead:
            tally.dead_tp += 1
        elif predicted:
            tally.dead_fp += 1
            failures.append(f"{label} dead: false positive ({found.reason if found else ''})")
        elif row.address_dead:
            tally.dead_fn += 1
            failures.append(f"{label} dead: missed ({found.type + '/' + found.reason if found else 'no result'})")


# -- speed ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Speed:
    messages: int
    ours_per_second: float
    flufl_per_second: float | None


def _all_messages(base: Path | None = None) -> list[bytes]:
    folder = sisimai_dir(base)
    paths = sorted((folder / "eml").glob("*.eml")) + sorted((folder / "not_bounce").glob("*.eml"))
    return [path.read_bytes() for path in paths]


def _rate(messages: Sequence[bytes], work: Callable[[bytes], object], min_seconds: float) -> float:
    done = 0
    started = time.perf_counter()
    elapsed = 0.0
    while elapsed < min_seconds or done == 0:
        for raw in messages:
            work(raw)
        done += len(messages)
        elapsed = time.perf_counter() - started
    return done / elapsed


def _flufl_scan(raw: bytes) -> object:
    from flufl.bounce import scan_message

    try:
        return scan_message(email.message_from_bytes(raw))
    except Exception:  # flufl's detectors raise on some malformed samples; count the attempt anyway
        return None


def measure_speed(base: Path | None = None, *, min_seconds: float = 2.0) -> Speed:
    messages = _all_messages(base)
    ours = _rate(messages, parse_message, min_seconds)
    try:
        import flufl.bounce  # noqa: F401
    except ImportError:
        theirs = None
    else:
        theirs = _rate(messages, _flufl_scan, min_seconds)
    return Speed(messages=len(messages), ours_per_second=ours, flufl_per_second=theirs)


# -- report --------------------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _line(name: str, tally: Tally) -> str:
    return (
        f"| {name} | {tally.rows} | {_pct(tally.recipient)} ({tally.recipient_found}/{tally.recipient_rows}) "
        f"| {_pct(tally.kind)} | {_pct(tally.reason)} ({tally.reason_ok}/{tally.reason_rows}) "
        f"| {_pct(tally.dead_precision)} | {_pct(tally.dead_recall)} |"
    )


def render_markdown(scores: Scores, speed: Speed | None = None) -> str:
    total = scores.total
    lines = [
        "## Bounce parsing and classification (Sisimai corpus)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} cores, with `python bench/classify_corpus.py`: "
        f"{scores.files} messages, {total.rows} scored rows of `expected.tsv` "
        "(scoring as in the corpus README).",
        "",
        "| total | target |",
        "|---|---|",
    ]
    labels = {
        "recipient": "recipient found",
        "kind": "kind",
        "reason": "reason accepted",
        "dead_precision": "dead-address precision",
        "dead_recall": "dead-address recall",
    }
    lines[-2:] = ["| measure | result | target |", "|---|---|---|"]
    counts = {
        "recipient": f"{total.recipient_found}/{total.recipient_rows}",
        "kind": f"{total.kind_ok}/{total.rows}",
        "reason": f"{total.reason_ok}/{total.reason_rows}",
        "dead_precision": f"{total.dead_tp}/{total.dead_tp + total.dead_fp}",
        "dead_recall": f"{total.dead_tp}/{total.dead_tp + total.dead_fn}",
    }
    for name, target in TARGETS.items():
        value = getattr(total, name)
        mark = "ok" if value is not None and value >= target else "below"
        lines.append(f"| {labels[name]} | {_pct(value)} ({counts[name]}) | ≥ {100 * target:.0f}% ({mark}) |")
    lines.append(f"| not_bounce/ read as not_bounce | {scores.not_bounce_ok}/{scores.not_bounce_files} | all |")
    if speed is not None:
        lines += [
            "",
            f"Speed, one core, from raw bytes over the {speed.messages} corpus messages: "
            f"`parse_message` {speed.ours_per_second:,.0f} messages/s"
            + (
                f"; flufl.bounce `scan_message` (recipients only, no classification) "
                f"{speed.flufl_per_second:,.0f} messages/s."
                if speed.flufl_per_second is not None
                else "; flufl.bounce not installed."
            ),
        ]
    lines += [
        "",
        "| format | rows | recipient found | kind | reason accepted | dead precision | dead recall |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in sorted(scores.by_format):
        lines.append(_line(name, scores.by_format[name]))
    lines.append(_line("**total**", total))
    return "\n".join(lines) + "\n"


def report_markdown(base: Path | None = None, *, speed: bool = True) -> str:
    """Score the corpus (and time it) and return the Markdown table."""
    scores = score(base)
    return render_markdown(scores, measure_speed(base) if speed else None)


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", metavar="PATH", help="also write the Markdown table to PATH")
    parser.add_argument("--details", action="store_true", help="list every row that scored wrong")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed measurement")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(list(argv) if argv is not None else None)
    folder = sisimai_dir()
    if not (folder / "expected.tsv").is_file():
        print(f"corpus not found at {folder} (set CORPUS_DIR)", file=sys.stderr)
        return 2
    scores = score()
    markdown = render_markdown(scores, None if args.no_speed else measure_speed())
    print(markdown)
    if args.details:
        print("\n".join(scores.failures))
    if args.write:
        Path(args.write).write_text(markdown, encoding="utf-8")
    return 1 if args.check and not scores.meets_targets() else 0


if __name__ == "__main__":
    raise SystemExit(main())
