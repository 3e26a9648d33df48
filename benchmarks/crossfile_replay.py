"""Typing replay with other files open: does the cross-file block keep the KV cache?

The keystroke replay of `codehearth bench` (its functions: plan_typing, replay_records,
counter_deltas, make_report), run twice per repetition against real `codehearth serve`
processes:

* single file: no workspace folder, nothing else open (the block is empty);
* with files: the standard library announced as the workspace folder, five other
  modules opened first (their chunks fill the ring) and the typed modules' own imports
  resolved into it (`import re` brings re's definitions the code calls).

Before each file is typed the replay pauses (`--pause-ms`, longer than the idle time of
the pre-warmer) as a user does after opening a file; in that pause the server pre-warms
the block. Reported per run: p50/p95 latency, prompt reuse (completions only), and the
pre-warms the server logged (count, tokens, milliseconds). The p50 ratio is taken within
one repetition; over `--repeat` repetitions: median [min-max].

    python benchmarks/crossfile_replay.py --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import sysconfig
from pathlib import Path

from lsprotocol import types

from codehearth.bench.common import BEFORE, Spread, counter_deltas, make_report, resolve_files
from codehearth.bench.replay import replay_records
from codehearth.bench_client import BenchClient

TYPED = ("textwrap.py", "shlex.py", "json/encoder.py")
OTHERS = ("string.py", "functools.py", "tokenize.py", "fnmatch.py", "copy.py")
PREWARM = re.compile(r"pre-warmed the cross-file block: (\d+) tokens in (\d+) ms")


class WorkspaceClient(BenchClient):
    """BenchClient that announces workspace folders and keeps the pre-warm log lines."""

    def __init__(self, folders: list[Path], pause_s: float) -> None:
        super().__init__()
        self.folders = folders
        self.pause_s = pause_s
        self.prewarms: list[tuple[int, int]] = []
        self._pause_due = False

    def open(self, uri: str, text: str, language_id: str) -> None:
        super().open(uri, text, language_id)
        self._pause_due = True  # a user reads a file they just opened before typing

    async def type_and_complete(self, ks) -> list:
        if self._pause_due:
            self._pause_due = False
            await asyncio.sleep(self.pause_s)
        return await super().type_and_complete(ks)

    async def start(self, args, init_options, extra=()) -> None:
        cmd = [sys.executable, "-m", "codehearth.cli", "serve", "--in-process"]
        cmd += ["--log-level", "info"]
        if args.model:
            cmd += ["--model", args.model]
        await self.client.start_io(*cmd, env=dict(os.environ))
        self._drain = asyncio.create_task(self._drain_stderr())
        folders = [types.WorkspaceFolder(uri=f.as_uri(), name=f.name) for f in self.folders]
        await self.client.initialize_async(
            types.InitializeParams(
                process_id=os.getpid(),
                capabilities=types.ClientCapabilities(),
                initialization_options=init_options,
                workspace_folders=folders or None,
            )
        )
        self.client.initialized(types.InitializedParams())

    async def _drain_stderr(self) -> None:
        buffer = b""
        while chunk := await self.client._server.stderr.read(65536):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                found = PREWARM.search(line.decode("utf-8", "replace"))
                if found:
                    self.prewarms.append((int(found.group(1)), int(found.group(2))))


def _init(args: argparse.Namespace, with_files: bool) -> dict:
    # --every-key: no suggestion cache, no reuse of the generation in flight, no
    # speculation: each keystroke is a model call, so p50 is what a call costs with the
    # block (with the cache on, p50 mixes answers from the cache, whose share depends on
    # what the model said, with model calls).
    every_key = BEFORE if args.every_key else {}
    return {
        "completion": {
            **every_key,
            "multiline": "never",
            "maxTokensSingle": args.max_tokens,
            "maxPromptTokens": args.prompt_tokens,
            "temperature": 0.0,
        },
        "project": {
            "enabled": with_files,
            "prewarmIdleMs": args.idle_ms,
            "maxTokens": args.block_tokens,
        },
    }


async def run_once(args: argparse.Namespace, with_files: bool) -> dict:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    client = WorkspaceClient([stdlib] if with_files else [], args.pause_ms / 1000)
    await client.start(args, _init(args, with_files))
    try:
        await client.counters()  # the model is loaded once this answers
        before = await client.counters()
        if with_files:
            for name in OTHERS:
                path = stdlib / name
                client.open(path.resolve().as_uri(), path.read_text(encoding="utf-8"), "python")
        records = await replay_records(args, resolve_files(list(TYPED[: args.files])), client)
        await asyncio.sleep(args.pause_ms / 1000)  # an idle pause after the last key too
        after = await client.counters()
    finally:
        await client.stop()
    for record in records:
        if record.index == 0:  # the first key of a file waited for the pause too
            record.latency_ms = max(0.0, record.latency_ms - args.pause_ms)
    counters = counter_deltas(before, after)
    reuse = counters["reused_tokens"] / max(1, counters["prompt_tokens"])
    name = "with 5 other files open" if with_files else "single file"
    latencies = [r.latency_ms for r in records]
    report = make_report(name, latencies, reuse, sum(bool(r.answer) for r in records), counters)
    return {
        "report": report.model_dump(),
        "prewarms": len(client.prewarms),
        "prewarm_tokens": sum(t for t, _ in client.prewarms),
        "prewarm_ms": sum(ms for _, ms in client.prewarms),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keystrokes", type=int, default=120)
    parser.add_argument("--start-line", type=int, default=180)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--pause-ms", type=int, default=2500)
    parser.add_argument("--idle-ms", type=int, default=1000)
    parser.add_argument("--prompt-tokens", type=int, default=1536, help="maxPromptTokens")
    parser.add_argument("--block-tokens", type=int, default=1024, help="project.maxTokens")
    parser.add_argument("--files", type=int, default=len(TYPED), help="how many to type")
    parser.add_argument("--every-key", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--model")
    parser.add_argument("--json")
    args = parser.parse_args()
    runs = []
    for n in range(args.repeat):
        single = asyncio.run(run_once(args, False))
        multi = asyncio.run(run_once(args, True))
        ratio = multi["report"]["p50_ms"] / max(0.1, single["report"]["p50_ms"])
        runs.append({"single": single, "with_files": multi, "p50_ratio": round(ratio, 3)})
        for label, run in (("single file", single), ("with 5 files", multi)):
            r = run["report"]
            print(f"run {n + 1} {label:<13} p50 {r['p50_ms']:7.1f} ms  p95 {r['p95_ms']:7.1f} ms"
                  f"  reuse {r['prompt_reuse']:6.1%}  pre-warms {run['prewarms']}"
                  f" ({run['prewarm_tokens']} tokens, {run['prewarm_ms']} ms)")  # fmt: skip
        print(f"run {n + 1} p50 ratio {ratio:.2f}x")
    ratios = Spread([r["p50_ratio"] for r in runs])
    reuse = Spread([100 * r["with_files"]["report"]["prompt_reuse"] for r in runs])
    prewarm = Spread([float(r["with_files"]["prewarm_ms"]) for r in runs])
    print(f"p50 with files / single file: {ratios}x; reuse with files: {reuse} %; "
          f"pre-warming: {prewarm} ms per run")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
