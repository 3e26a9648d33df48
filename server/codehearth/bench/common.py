"""What every typing benchmark shares: the keystrokes, the report and its percentiles."""

from __future__ import annotations

import argparse
import statistics
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

DEFAULT_FILES = ("textwrap.py", "shlex.py", "json/encoder.py")
# The counters of codehearth.status a benchmark reports (differences over its run).
COMPLETION_COUNTERS = (
    "model_calls", "served_from_cache", "reused_in_flight", "early_answers", "speculative_hits",
    "speculations",
    "gated", "superseded", "background_dropped",
)  # fmt: skip


class ReplayReport(BaseModel):
    name: str
    keystrokes: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    prompt_reuse: float | None  # None: a remote engine keeps its cache to itself
    non_empty: int
    # Differences of the server's counters over the run (empty for other engines).
    counters: dict[str, int] = {}


@dataclass
class Keystroke:
    uri: str
    line: int
    character: int  # UTF-16 column of the inserted char; the cursor ends after it
    char: str
    # What the real file has from the cursor (after this keystroke) to the end of its line.
    rest_of_line: str = ""


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[idx]


def make_report(
    name: str,
    latencies: list[float],
    reuse: float | None,
    non_empty: int,
    counters: dict[str, int] | None = None,
) -> ReplayReport:
    return ReplayReport(
        name=name,
        keystrokes=len(latencies),
        p50_ms=round(percentile(latencies, 0.50), 1),
        p95_ms=round(percentile(latencies, 0.95), 1),
        p99_ms=round(percentile(latencies, 0.99), 1),
        mean_ms=round(statistics.fmean(latencies), 1) if latencies else 0.0,
        prompt_reuse=round(reuse, 4) if reuse is not None else None,
        non_empty=non_empty,
        counters=counters or {},
    )


def plan_typing(path: Path, start_line: int, count: int) -> tuple[str, str, list[Keystroke]]:
    """The document to open (the file minus the typed text) and the keystrokes that type it.

    About `count` characters from `start_line` on, up to the end of the last line begun, so
    the text after the cursor is never the tail of a half-removed line (which would read as
    code after the cursor, and gate every automatic request).
    """
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    start_line = min(start_line, max(0, len(lines) - 1))
    start = sum(len(ln) for ln in lines[:start_line])
    stop = start + count
    line_end = text.find("\n", stop - 1) if count else stop
    stop = len(text) if line_end == -1 else max(stop, line_end)
    typed = text[start:stop]
    opened = text[:start] + text[stop:]
    uri = path.resolve().as_uri()
    strokes: list[Keystroke] = []
    line, col = start_line, 0
    for i, char in enumerate(typed):
        after = start + i + 1
        eol = text.find("\n", after)
        rest = text[after : eol if eol != -1 else len(text)]
        strokes.append(Keystroke(uri, line, col, char, rest))
        if char == "\n":
            line, col = line + 1, 0
        else:
            col += 2 if ord(char) > 0xFFFF else 1
    return uri, opened, strokes


def resolve_files(names: list[str]) -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    paths = []
    for name in names:
        path = Path(name)
        paths.append(path if path.is_file() else stdlib / name)
    return paths


def fixed_init(args: argparse.Namespace) -> dict:
    """The replay's own settings: one line, a fixed token count (comparable to the floor)."""
    return {
        "completion": {
            "multiline": "never",
            "maxTokensSingle": args.max_tokens,
            "maxLinesBefore": args.lines_before,
            "maxLinesAfter": args.lines_after,
            "temperature": 0.0,
        },
    }


def user_init(**completion) -> dict:
    """What a user gets (defaults), deterministic; `completion` overrides some settings."""
    return {"completion": {"temperature": 0.0, **completion}}


# The server as it was before typing along (issue 14): every keystroke asks the model,
# no gating, no time budget.
BEFORE = {
    "cacheSize": 0, "reuseInFlight": False, "speculate": False, "maxLineSuffix": 1_000_000,
    "timeBudgetMs": 0, "firstTimeBudgetMs": 0, "earlyAnswerMs": 0,
}  # fmt: skip


def counter_deltas(before: dict, after: dict) -> dict[str, int]:
    return {
        name: int(after.get(name, 0) - before.get(name, 0))
        for name in ("requests", "prompt_tokens", "reused_tokens", *COMPLETION_COUNTERS)
    }


def format_counters(counters: dict[str, int], keystrokes: int) -> str:
    if not counters:
        return ""
    per_100 = 100 * counters.get("model_calls", 0) / max(1, keystrokes)
    shown = ", ".join(f"{k} {counters.get(k, 0)}" for k in COMPLETION_COUNTERS)
    return f"model calls / 100 keys {per_100:5.1f}  ({shown})"


@dataclass
class Spread:
    """Median and range of a number over repeated runs."""

    values: list[float]

    def __str__(self) -> str:
        if not self.values:
            return "n/a"
        med = statistics.median(self.values)
        if len(self.values) == 1:
            return f"{med:.2f}"
        return f"{med:.2f} [{min(self.values):.2f}–{max(self.values):.2f}]"
