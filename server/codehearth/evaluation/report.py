"""What `codehearth eval` tells: the table, the recommendation, the JSON document.

Output files are written whole or not at all (a temporary file in the same folder, then
a rename), so an interrupted run never leaves a half-written JSON or PNG behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field

from .holes import KINDS, Hole
from .runner import ModelRun
from .scoring import Summary, summarise
from .testbed import TestbedScore

MIB = 1024 * 1024


class ModelReport(BaseModel):
    model: str
    status: str
    error: str | None = None
    device: str | None = None
    load_ms: float | None = None
    tokens_per_second: float | None = None
    peak_rss_bytes: int | None = None
    peak_vram_bytes: int | None = None
    overall: Summary | None = None
    by_kind: dict[str, Summary] = Field(default_factory=dict)
    tests: TestbedScore | None = None


class HoleInfo(BaseModel):
    kind: str
    project: str
    file: str
    line: int
    column: int
    expected: str
    name: str | None = None
    defined_in: str | None = None


class EvalReport(BaseModel):
    """The JSON document of --json: settings, per-model scores, and every hole's answer."""

    seed: str
    target_ms: float
    files: int
    holes: list[HoleInfo]
    models: list[ModelReport]
    recommendation: str
    # model -> the suggestion for each hole, in the order of `holes`
    suggestions: dict[str, list[str]] = Field(default_factory=dict)


def model_report(run: ModelRun, tests: TestbedScore | None = None) -> ModelReport:
    report = ModelReport(
        model=run.model, status=run.status, error=run.error, device=run.device,
        load_ms=run.load_ms, tokens_per_second=run.tokens_per_second,
        peak_rss_bytes=run.peak_rss_bytes, peak_vram_bytes=run.peak_vram_bytes, tests=tests,
    )  # fmt: skip
    if not run.results:
        return report
    report.overall = summarise([r.score for r in run.results], [r.latency_ms for r in run.results])
    for kind in KINDS:
        rows = [r for r in run.results if r.kind == kind]
        if rows:
            report.by_kind[kind] = summarise([r.score for r in rows], [r.latency_ms for r in rows])
    return report


def _scored(models: list[ModelReport]) -> list[tuple[ModelReport, Summary]]:
    return [(m, m.overall) for m in models if m.status == "ok" and m.overall and m.overall.holes]


def recommend(models: list[ModelReport], target_ms: float) -> str:
    """The best model (edit similarity, then exact match) whose p50 meets the target."""
    scored = _scored(models)
    if not scored:
        return "No model could be evaluated; see the errors above."
    fast = [(m, s) for m, s in scored if (s.latency_p50_ms or 0.0) <= target_ms]
    if not fast:
        quickest, s = min(scored, key=lambda pair: pair[1].latency_p50_ms or 0.0)
        return (
            f"No model meets the {target_ms:.0f} ms target on this machine; the fastest is "
            f"{quickest.model} (p50 {_ms(s.latency_p50_ms)} ms)."
        )
    best, s = max(fast, key=lambda pair: (pair[1].edit_similarity, pair[1].exact_match))
    return (
        f"Recommended: {best.model} (edit similarity {s.edit_similarity:.2f}, exact "
        f"{s.exact_match:.2f}, p50 {_ms(s.latency_p50_ms)} ms within the {target_ms:.0f} ms "
        "target)."
    )


def build_report(
    holes: list[Hole], runs: list[ModelRun], tests: dict[str, TestbedScore],
    seed: str, target_ms: float, files: int,
) -> EvalReport:  # fmt: skip
    models = [model_report(run, tests.get(run.model)) for run in runs]
    return EvalReport(
        seed=seed,
        target_ms=target_ms,
        files=files,
        holes=[HoleInfo(**h.model_dump(include=set(HoleInfo.model_fields))) for h in holes],
        models=models,
        recommendation=recommend(models, target_ms),
        suggestions={run.model: [r.suggestion for r in run.results] for run in runs},
    )


_HEADER = ("model", "holes", "exact", "edit sim", "first id", "non-empty",
           "p50 ms", "p95 ms", "tok/s", "peak RSS")  # fmt: skip


def _cells(label: str, s: Summary, model: ModelReport | None) -> list[str]:
    first = f"{s.first_identifier:.2f}" if s.first_identifier is not None else "-"
    cells = [label, str(s.holes), f"{s.exact_match:.2f}", f"{s.edit_similarity:.2f}", first,
             f"{s.non_empty:.2f}", _ms(s.latency_p50_ms), _ms(s.latency_p95_ms)]  # fmt: skip
    if model is None:
        return [*cells, "", ""]
    rate = f"{model.tokens_per_second:.0f}" if model.tokens_per_second else "-"
    memory = f"{model.peak_rss_bytes / MIB:.0f} MiB" if model.peak_rss_bytes else "-"
    if model.peak_vram_bytes:
        memory += f" + {model.peak_vram_bytes / MIB:.0f} MiB VRAM"
    return [*cells, rate, memory]


def _ms(value: float | None) -> str:
    return f"{value:.0f}" if value is not None else "-"


def format_table(report: EvalReport) -> str:
    rows: list[list[str]] = [list(_HEADER)]
    notes: list[str] = []
    for model in report.models:
        if model.overall is None:
            rows.append([model.model, "failed", *[""] * (len(_HEADER) - 2)])
            notes.append(f"{model.model}: failed: {model.error}")
            continue
        label = model.model if model.status == "ok" else f"{model.model} (failed)"
        rows.append(_cells(label, model.overall, model))
        rows += [_cells(f"  {kind}", s, None) for kind, s in model.by_kind.items()]
        if model.error:
            notes.append(f"{model.model}: {model.error}")
        if model.tests is not None:
            notes.append(f"{model.model}: tests: {model.tests.describe()}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER))]
    lines = [_row(row, widths) for row in rows]
    kinds = {h.kind for h in report.holes}
    lines.append(f"{len(report.holes)} holes ({', '.join(sorted(kinds))}) in {report.files} "
                 f"files, seed {report.seed!r}, temperature 0.")  # fmt: skip
    return "\n".join([*lines, *notes, report.recommendation])


def _row(cells: list[str], widths: list[int]) -> str:
    pairs = enumerate(zip(cells, widths, strict=True))
    padded = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs]
    return "  ".join(padded).rstrip()


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` whole or not at all."""
    target = Path(path)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
