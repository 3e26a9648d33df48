"""One model load (or one speed run) in a fresh process, measured, printed as one JSON line.

A fresh process per measurement because the CUDA context, cuBLAS handles and ggml's pool
stay with a process once created: only a new process shows what a user's server pays.
`load` plans the offload as the server does (planner + NVML), loads through the real
engine (with its out-of-memory fallbacks) and reads NVML before, after loading and after
one generation. `speed` times prompt evaluation and a fixed number of generated tokens
(end-of-generation ignored) with llama-cpp-python directly.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from codehearth.gpu.nvml import probe_gpus, process_vram_bytes
from codehearth.gpu.planner import OffloadPlan, fallback_layers, plan_offload
from codehearth.models.gguf_info import GgufInfo

# What the generation after loading types: real code, so the prompt tokenises as code does.
SAMPLE_TEXT = Path(textwrap.__file__).read_text(encoding="utf-8")


class VramReading(BaseModel):
    """NVML at one moment: the device's used bytes and what it attributes to this process."""

    device_used_bytes: int | None
    process_bytes: int | None


class LoadResult(BaseModel):
    plan: OffloadPlan
    loaded_gpu_layers: int | None = None
    load_notes: list[str] = []
    load_s: float | None = None
    before: VramReading
    after_load: VramReading | None = None
    after_generate: VramReading | None = None
    error: str | None = None


class SpeedResult(BaseModel):
    n_gpu_layers: int
    prompt_tokens: int
    generated_tokens: int
    prompt_tok_s: list[float]
    generate_tok_s: list[float]
    prompt_tok_s_median: float
    generate_tok_s_median: float
    load_s: float


def read_vram(gpu_index: int = 0) -> VramReading:
    status = probe_gpus()
    gpu = next((g for g in status.gpus if g.index == gpu_index), None)
    process = process_vram_bytes(os.getpid())
    return VramReading(
        device_used_bytes=gpu.used_bytes if gpu else None,
        process_bytes=process.get(gpu_index) if process else None,
    )


def _requested(layers: str) -> int | str:
    return "auto" if layers == "auto" else int(layers)


def _plan(args: argparse.Namespace, info: GgufInfo) -> OffloadPlan:
    import llama_cpp

    return plan_offload(
        Path(args.model).stem,
        info,
        args.ctx,
        probe_gpus(),
        requested=_requested(args.layers),
        gpu_supported=bool(llama_cpp.llama_supports_gpu_offload()),
    )


def _generate_once(engine: Any, max_tokens: int) -> None:
    """One prompt and `max_tokens` tokens on the engine's thread, through llama.cpp itself
    (what the allocator does on first use is the point, not the completion pipeline)."""
    from codehearth.engine.jobs import Job

    def run(session: Any, job: Job) -> None:
        llm = session.llm
        tokens = llm.tokenize(SAMPLE_TEXT[:2000].encode(), add_bos=False)
        tokens = tokens[: llm.n_ctx() // 2]
        for n, _ in enumerate(llm.generate(tokens, temp=0.0), start=1):
            if n >= max_tokens:
                break

    engine.submit(Job(run=run)).result(timeout=600)


def load(args: argparse.Namespace) -> LoadResult:
    from codehearth.engine.jobs import EngineUnavailable
    from codehearth.engine.types import EngineConfig
    from codehearth.engine.worker import Engine

    info = GgufInfo.model_validate_json(Path(args.info).read_text())
    # Before anything loads llama.cpp: the reading that owes nothing to this process.
    before = read_vram()
    plan = _plan(args, info)
    result = LoadResult(plan=plan, before=before)
    layers = plan.n_gpu_layers
    config = EngineConfig(
        model_name=plan.model,
        model_path=args.model,
        n_ctx=args.ctx,
        n_gpu_layers=layers,
        fallback_layers=fallback_layers(layers, info.n_layers) if layers else [],
    )
    engine = Engine(config)
    started = time.monotonic()
    engine.start()
    try:
        engine.wait_loaded(timeout=600)
    except EngineUnavailable as exc:
        result.error = f"load failed: {exc}"
        return result
    result.load_s = round(time.monotonic() - started, 2)
    result.loaded_gpu_layers = engine.loaded_gpu_layers
    result.load_notes = list(engine.load_notes)
    result.after_load = read_vram(plan.gpu_index or 0)
    try:
        _generate_once(engine, args.gen)
        result.after_generate = read_vram(plan.gpu_index or 0)
    except Exception as exc:  # a failed generation is a finding, not the end of the run
        result.error = f"generation failed: {type(exc).__name__}: {exc}"
    finally:
        engine.shutdown()
    return result


def _prompt_tokens(llm: Any, n: int) -> list[int]:
    tokens = llm.tokenize(SAMPLE_TEXT.encode(), add_bos=False)
    while len(tokens) < n:
        tokens += tokens
    return tokens[:n]


def _one_speed_run(llm: Any, tokens: list[int], n_gen: int) -> tuple[float, float]:
    llm.reset()
    started = time.perf_counter()
    llm.eval(tokens)
    prompt_s = time.perf_counter() - started
    started = time.perf_counter()
    # Generate exactly n_gen tokens: end-of-generation is not a reason to stop here.
    stream = llm.generate(tokens, top_k=40, top_p=0.95, temp=0.2, repeat_penalty=1.0)
    for generated, _ in enumerate(stream, start=1):
        if generated >= n_gen:
            break
    generate_s = time.perf_counter() - started
    return len(tokens) / prompt_s, n_gen / generate_s


def speed(args: argparse.Namespace) -> SpeedResult:
    import llama_cpp

    threads = os.cpu_count() or 1
    started = time.monotonic()
    llm = llama_cpp.Llama(
        model_path=args.model, n_ctx=args.ctx, n_gpu_layers=int(args.layers),
        n_threads=threads, n_threads_batch=threads, n_batch=512, verbose=False,
    )  # fmt: skip
    load_s = time.monotonic() - started
    tokens = _prompt_tokens(llm, args.prompt)
    _one_speed_run(llm, tokens[:64], 4)  # warm-up: first-use kernels and allocations
    runs = [_one_speed_run(llm, tokens, args.gen) for _ in range(args.repeats)]
    llm.close()
    prompt, generate = [round(p, 1) for p, _ in runs], [round(g, 1) for _, g in runs]
    return SpeedResult(
        n_gpu_layers=int(args.layers),
        prompt_tokens=len(tokens),
        generated_tokens=args.gen,
        prompt_tok_s=prompt,
        generate_tok_s=generate,
        prompt_tok_s_median=statistics.median(prompt),
        generate_tok_s_median=statistics.median(generate),
        load_s=round(load_s, 2),
    )


class Facts(BaseModel):
    llama_cpp_python: str
    gpu_offload: bool
    system_info: str


def facts() -> Facts:
    """What the installed llama.cpp is, asked in a child so the kit's own process never
    creates a CUDA context."""
    import llama_cpp

    return Facts(
        llama_cpp_python=llama_cpp.__version__,
        gpu_offload=bool(llama_cpp.llama_supports_gpu_offload()),
        system_info=llama_cpp.llama_print_system_info().decode(errors="replace").strip(),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("facts")
    for name in ("load", "speed"):
        p = sub.add_parser(name)
        p.add_argument("--model", required=True)
        p.add_argument("--ctx", type=int, required=True)
        p.add_argument("--layers", required=True, help='"auto", a count, or -1 for all')
        p.add_argument("--gen", type=int, default=32, help="tokens generated")
    sub.choices["load"].add_argument("--info", required=True, help="GgufInfo as JSON")
    sub.choices["speed"].add_argument("--prompt", type=int, default=512)
    sub.choices["speed"].add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    runs = {"facts": lambda: facts(), "load": lambda: load(args), "speed": lambda: speed(args)}
    result = runs[args.what]()
    print(result.model_dump_json(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
