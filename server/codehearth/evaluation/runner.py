"""Complete every hole with one model, through the path an editor's request takes.

Each model is started the way `codehearth complete` starts it (cli.startup.start_runtime:
manifest, file, engine), at temperature 0; each hole is opened as a document in the
runtime's store and completed by its CompletionService (context building, prompt,
generation, post-processing), one after the other. A model that cannot be started is a
failed row, not a crash.

The completion settings are the user's, except EVAL_SETTINGS (below), which make the
answer the model's own and the same on every run.

Latency is what a keystroke costs: each hole is first asked for one character earlier
(as if the user had just typed that character, untimed), so the prompt of the timed
request finds its prefix in the KV cache as it would in an editor. The first request's
time, with the whole prompt to evaluate, is kept as `cold_ms`.

Memory is the process's peak resident set while the model was loaded and serving (the
peak is reset before each model where Linux allows it), plus the VRAM the process holds
when layers are on a GPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from ..config import CompletionSettings, ServeOptions
from ..runtime import Runtime
from .holes import Hole, HoleKind
from .scoring import HoleScore, score_hole

# Several holes in a row failing means the engine is gone: the model's run ends there.
MAX_FAILURES_IN_A_ROW = 3


class HoleResult(BaseModel):
    index: int
    kind: HoleKind
    file: str
    line: int
    suggestion: str
    score: HoleScore
    latency_ms: float
    cold_ms: float | None = None
    generated_tokens: int = 0
    generate_ms: float = 0.0
    mode: str = "prefix"
    error: str | None = None


class ModelRun(BaseModel):
    """One model's run: its hole results, or why it could not run."""

    model: str
    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
    load_ms: float | None = None
    device: str | None = None
    peak_rss_bytes: int | None = None
    peak_vram_bytes: int | None = None
    results: list[HoleResult] = Field(default_factory=list)

    @property
    def tokens_per_second(self) -> float | None:
        tokens = sum(r.generated_tokens for r in self.results)
        seconds = sum(r.generate_ms for r in self.results) / 1000
        return round(tokens / seconds, 1) if seconds > 0 else None


OnHole = Callable[[HoleResult], None]


# What the model itself answers, the same on every run and machine: greedy decoding; no
# time budget (it would cut suggestions by the machine's speed and load); no suggestion
# cache, reuse of the generation in flight or speculation (they answer from an earlier
# request, the same whichever model runs, and speculation would compete for the CPU).
EVAL_SETTINGS = {
    "temperature": 0.0,
    "time_budget_ms": 0,
    "first_time_budget_ms": 0,
    "cache_size": 0,
    "reuse_in_flight": False,
    "speculate": False,
}


def eval_options(base: ServeOptions, model: str) -> ServeOptions:
    """The options of one model's run: EVAL_SETTINGS, everything else as given."""
    completion = CompletionSettings.model_validate(
        {**base.completion.model_dump(), **EVAL_SETTINGS}
    )
    return base.model_copy(update={"model": model, "completion": completion})


def run_model(
    model: str, holes: list[Hole], base: ServeOptions, on_hole: OnHole | None = None
) -> ModelRun:
    from ..cli.startup import StartupFailed, start_runtime

    run = ModelRun(model=model)
    _reset_peak_rss()
    started = time.perf_counter()
    try:
        runtime = start_runtime(eval_options(base, model))
    except StartupFailed as exc:
        run.status, run.error = "failed", str(exc)
        return run
    run.load_ms = round((time.perf_counter() - started) * 1000, 1)
    try:
        run.device = _device(runtime)
        asyncio.run(_complete_all(runtime, holes, run, on_hole))
        run.peak_rss_bytes = _peak_rss()
        run.peak_vram_bytes = _vram(runtime)
    finally:
        runtime.stop()
    return run


async def _complete_all(
    runtime: Runtime, holes: list[Hole], run: ModelRun, on_hole: OnHole | None
) -> None:
    failures = 0
    for index, hole in enumerate(holes):
        result = await _complete_one(runtime, index, hole)
        run.results.append(result)
        if on_hole is not None:
            on_hole(result)
        failures = failures + 1 if result.error else 0
        if failures >= MAX_FAILURES_IN_A_ROW:
            run.status, run.error = "failed", f"stopped after {failures} failures: {result.error}"
            return


def _position(text: str, line: int, column: int) -> int:
    """The UTF-16 character of a str column (what LSP positions count)."""
    return len(text.split("\n")[line][:column].encode("utf-16-le")) // 2


def _one_keystroke_earlier(hole: Hole) -> tuple[str, int]:
    lines = hole.text.split("\n")
    column = max(0, hole.column - 1)
    lines[hole.line] = lines[hole.line][:column]
    return "\n".join(lines), column


async def _complete_one(runtime: Runtime, index: int, hole: Hole) -> HoleResult:
    from ..cli.startup import language_id

    path = Path(hole.path)
    uri, language = path.as_uri(), language_id(path)
    base = {"index": index, "kind": hole.kind, "file": hole.file, "line": hole.line}
    service = runtime.completion
    started = time.perf_counter()
    try:
        assert service is not None, "the model has no engine"
        earlier, column = _one_keystroke_earlier(hole)
        doc = runtime.store.open(uri, language, 2 * index, earlier)
        position = _position(earlier, hole.line, column)
        warm = await service.complete(doc.snapshot(), hole.line, position)
        doc = runtime.store.open(uri, language, 2 * index + 1, hole.text)
        character = _position(hole.text, hole.line, hole.column)
        result = await service.complete(doc.snapshot(), hole.line, character)
    except Exception as exc:  # the row says what went wrong; the run goes on
        elapsed = (time.perf_counter() - started) * 1000
        return HoleResult(
            **base, suggestion="", score=score_hole("", hole.expected),
            latency_ms=round(elapsed, 1), error=f"{type(exc).__name__}: {exc}",
        )  # fmt: skip
    suggestion = result.items[0] if result.items else ""
    stats = result.stats
    return HoleResult(
        **base,
        suggestion=suggestion,
        score=score_hole(suggestion, hole.expected),
        latency_ms=round(result.latency_ms, 1),
        cold_ms=round(warm.latency_ms, 1),
        generated_tokens=stats.generated_tokens if stats else 0,
        generate_ms=stats.generate_ms if stats else 0.0,
        mode=result.mode,
    )


def _device(runtime: Runtime) -> str:
    engine = runtime.engine
    if runtime.entry is not None and runtime.entry.backend == "openai":
        return "remote"
    layers = engine.loaded_gpu_layers if engine is not None else None
    return f"GPU ({layers} layers)" if layers else "CPU"


def _reset_peak_rss() -> None:
    """Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss() -> int | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return _rusage_peak()
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return _rusage_peak()


def _rusage_peak() -> int | None:
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if os.uname().sysname == "Darwin" else peak * 1024


def _vram(runtime: Runtime) -> int | None:
    engine = runtime.engine
    if engine is None or not engine.loaded_gpu_layers:
        return None
    from ..gpu.nvml import process_usage

    usage = process_usage(os.getpid())
    return usage.total_bytes if usage is not None else None
