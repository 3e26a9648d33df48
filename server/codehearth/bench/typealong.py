"""`codehearth bench --mode type-along`: how often the model is not asked at all.

The keystroke replay (replay.py) with the settings a user gets, twice over the same
keystrokes: as the server is ("after") and with the cache, reuse in flight and
speculation off ("before": every keystroke asks the model). Reported:

* keystrokes whose typed character continued the suggestion shown before it, and the
  share of those answered with the rest of that suggestion (typing along), and their
  latency through the real LSP client;
* model calls per 100 keystrokes, before and after;
* the quality guard: at keystrokes answered from an earlier suggestion, the rest-of-line
  exact match against the real file of that reused answer and of the fresh generation
  "before" made at the same keystroke.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import BaseModel

from .common import BEFORE, ReplayReport, percentile, user_init
from .replay import Record, replay_server


class TypeAlongReport(BaseModel):
    keystrokes: int
    continued: int  # typed character = next character of the shown suggestion
    answered_from_shown: int
    continued_p50_ms: float
    continued_p95_ms: float
    model_calls_per_100_before: float
    model_calls_per_100_after: float
    after: ReplayReport
    before: ReplayReport
    # Quality guard over the keystrokes answered from the shown suggestion.
    guard_sample: int
    guard_exact_reused: float
    guard_exact_fresh: float
    guard_prefix_reused: float
    guard_prefix_fresh: float
    guard_identical: float

    @property
    def share_answered(self) -> float:
        return self.answered_from_shown / max(1, self.continued)


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0].rstrip()


def exact(answer: str, rest: str) -> bool:
    """The answer's first line is exactly what the real file has on the rest of the line."""
    return bool(answer) and _first_line(answer) == rest.rstrip()


def prefix(answer: str, rest: str) -> bool:
    """The answer's first line is a beginning of the real rest of the line (an exact
    match included)."""
    line = _first_line(answer)
    return exact(answer, rest) or (bool(line) and rest.startswith(line))


def _calls_per_100(report: ReplayReport) -> float:
    return round(100 * report.counters.get("model_calls", 0) / max(1, report.keystrokes), 1)


async def type_along(args: argparse.Namespace, files: list[Path], order: int = 0):
    """One measurement: after and before (their order alternates with `order`)."""
    after_records: list[Record] = []
    before_records: list[Record] = []
    runs = [
        ("after", user_init(), after_records),
        ("before", user_init(**BEFORE), before_records),
    ]
    if order % 2:
        runs.reverse()
    reports: dict[str, ReplayReport] = {}
    for label, init, out in runs:
        name = f"codehearth serve, user defaults ({label})"
        reports[label] = await replay_server(args, files, init, name, out)
    return summarize(after_records, before_records, reports["after"], reports["before"])


def summarize(
    after: list[Record], before: list[Record], after_report: ReplayReport,
    before_report: ReplayReport,
) -> TypeAlongReport:  # fmt: skip
    continued = [r for r in after if r.continued]
    answered = [r for r in continued if r.answered_from_shown]
    fresh = {(r.file, r.index): r for r in before}
    pairs = [(r, fresh[(r.file, r.index)]) for r in answered if (r.file, r.index) in fresh]
    n = max(1, len(pairs))
    latencies = [r.latency_ms for r in continued]
    return TypeAlongReport(
        keystrokes=len(after),
        continued=len(continued),
        answered_from_shown=len(answered),
        continued_p50_ms=round(percentile(latencies, 0.5), 1),
        continued_p95_ms=round(percentile(latencies, 0.95), 1),
        model_calls_per_100_before=_calls_per_100(before_report),
        model_calls_per_100_after=_calls_per_100(after_report),
        after=after_report,
        before=before_report,
        guard_sample=len(pairs),
        guard_exact_reused=round(sum(exact(a.answer, a.rest_of_line) for a, _ in pairs) / n, 3),
        guard_exact_fresh=round(sum(exact(b.answer, b.rest_of_line) for _, b in pairs) / n, 3),
        guard_prefix_reused=round(sum(prefix(a.answer, a.rest_of_line) for a, _ in pairs) / n, 3),
        guard_prefix_fresh=round(sum(prefix(b.answer, b.rest_of_line) for _, b in pairs) / n, 3),
        guard_identical=round(sum(a.answer == b.answer for a, b in pairs) / n, 3),
    )


def print_type_along(r: TypeAlongReport) -> None:
    print(
        f"  keystrokes {r.keystrokes}, continued the shown suggestion {r.continued}, "
        f"answered with its rest {r.answered_from_shown} ({r.share_answered:.1%})"
    )
    print(
        f"  those answers: p50 {r.continued_p50_ms:.1f} ms  p95 {r.continued_p95_ms:.1f} ms"
        f"  (all keys after: p50 {r.after.p50_ms:.1f} / p95 {r.after.p95_ms:.1f} ms; "
        f"before: p50 {r.before.p50_ms:.1f} / p95 {r.before.p95_ms:.1f} ms)"
    )
    print(
        f"  model calls per 100 keystrokes: before {r.model_calls_per_100_before:.1f}, "
        f"after {r.model_calls_per_100_after:.1f}; prompt reuse before "
        f"{r.before.prompt_reuse or 0:.1%}, after {r.after.prompt_reuse or 0:.1%}"
    )
    print(
        f"  quality guard on {r.guard_sample} reused answers: rest-of-line exact match "
        f"reused {r.guard_exact_reused:.1%} vs fresh {r.guard_exact_fresh:.1%}; "
        f"a beginning of it {r.guard_prefix_reused:.1%} vs {r.guard_prefix_fresh:.1%}; "
        f"identical {r.guard_identical:.1%}"
    )
