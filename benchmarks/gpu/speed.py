"""GPU against CPU in one run: the typing replay and raw tokens/s, for the same model.

The replay is `codehearth bench`'s (a real server over stdio, one keystroke at a time,
an inline completion after each); GPU and CPU runs alternate, `repeats` times each, and
are compared as medians with their spread. Tokens/s come from probe.py's `speed` child:
a fixed prompt, a fixed number of generated tokens whatever the model emits.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from .probe import SpeedResult
from .vram import run_child


class Spread(BaseModel):
    median: float
    low: float
    high: float
    runs: list[float]


class ReplaySide(BaseModel):
    model: str
    keystrokes: int
    p50_ms: Spread
    p95_ms: Spread
    prompt_reuse: Spread | None
    non_empty: int


class ReplayResult(BaseModel):
    gpu: ReplaySide
    cpu: ReplaySide
    cpu_over_gpu_p50: float
    cpu_over_gpu_p95: float


class TokensResult(BaseModel):
    gpu: SpeedResult
    cpu: SpeedResult
    prompt_gpu_over_cpu: float
    generate_gpu_over_cpu: float


def spread(values: list[float]) -> Spread:
    return Spread(
        median=round(statistics.median(values), 1),
        low=round(min(values), 1),
        high=round(max(values), 1),
        runs=[round(v, 1) for v in values],
    )


class Typing(BaseModel):
    """What the replay and the status check type: a file, from a line, about N characters."""

    file: Path
    start_line: int
    keystrokes: int


def bench_args(manifest: Path, model: str, ctx: int, typing: Typing) -> argparse.Namespace:
    """`codehearth bench`'s own arguments, parsed by its own parser: whatever the replay
    code reads is there, under the name it reads it by."""
    from codehearth.cli import build_parser

    argv = ["bench", "--manifest", str(manifest), "--model", model, "--context", str(ctx)]
    argv += ["--files", str(typing.file), "--keystrokes", str(typing.keystrokes)]
    argv += ["--start-line", str(typing.start_line), "--lines-before", "48"]
    argv += ["--lines-after", "16", "--max-tokens", "16"]
    return build_parser().parse_args(argv)


def _side(model: str, reports: list) -> ReplaySide:
    reuse = [r.prompt_reuse * 100 for r in reports if r.prompt_reuse is not None]
    return ReplaySide(
        model=model,
        keystrokes=reports[0].keystrokes,
        p50_ms=spread([r.p50_ms for r in reports]),
        p95_ms=spread([r.p95_ms for r in reports]),
        prompt_reuse=spread(reuse) if reuse else None,
        non_empty=sum(r.non_empty for r in reports),
    )


def replay(
    manifest: Path, gpu_model: str, cpu_model: str, ctx: int, typing: Typing, repeats: int,
    late: Callable[[], bool] = lambda: False,
) -> ReplayResult:  # fmt: skip
    """`repeats` GPU+CPU pairs, fewer (at least one) once `late()` says time is up."""
    from codehearth.bench import replay_server

    runs: dict[str, list] = {gpu_model: [], cpu_model: []}
    for _ in range(repeats):
        for model in (gpu_model, cpu_model):
            args = bench_args(manifest, model, ctx, typing)
            runs[model].append(asyncio.run(replay_server(args, [typing.file])))
        if late():
            break
    gpu, cpu = _side(gpu_model, runs[gpu_model]), _side(cpu_model, runs[cpu_model])
    return ReplayResult(
        gpu=gpu,
        cpu=cpu,
        cpu_over_gpu_p50=round(cpu.p50_ms.median / max(gpu.p50_ms.median, 0.1), 2),
        cpu_over_gpu_p95=round(cpu.p95_ms.median / max(gpu.p95_ms.median, 0.1), 2),
    )


def tokens_per_second(
    model: Path, ctx: int, prompt: int, gen_gpu: int, gen_cpu: int, repeats: int
) -> TokensResult:
    def child(layers: str, gen: int) -> SpeedResult:
        args = ["benchmarks.gpu.probe", "speed", "--model", str(model), "--ctx", str(ctx)]
        args += ["--layers", layers, "--prompt", str(prompt), "--gen", str(gen)]
        args += ["--repeats", str(repeats)]
        return SpeedResult.model_validate_json(run_child(args))

    gpu, cpu = child("-1", gen_gpu), child("0", gen_cpu)
    return TokensResult(
        gpu=gpu,
        cpu=cpu,
        prompt_gpu_over_cpu=round(gpu.prompt_tok_s_median / max(cpu.prompt_tok_s_median, 0.1), 1),
        generate_gpu_over_cpu=round(
            gpu.generate_tok_s_median / max(cpu.generate_tok_s_median, 0.1), 1
        ),
    )
