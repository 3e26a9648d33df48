"""Two editors typing at once on one shared engine, with and without a chat streaming.

The `codehearth bench` typing replay (server/codehearth/bench: a completion after every
keystroke, waiting for each answer) in four set-ups, one after the other in each repeat:

* one editor, in-process (`codehearth bench --clients 1`): the baseline;
* two editors, each its own in-process server and model (`--clients 2`);
* two editors on one shared engine (`--clients 2 --shared`): their completions decode
  side by side in one llama.cpp context (engine/parallel.py);
* the same, with a third editor streaming a long chat reply the whole time (a third
  sequence; a new reply starts when one ends): the chat's characters and stream chunks
  per second are reported.

Every keystroke asks the model (the suggestion cache and the other ways of answering
without it are off). Each of the shared engine's sequences has the `--context` window a
private server has (the engine holds `--parallel` of them), so the prompts are the same
size. Ratios of p50 and p95 against the one-editor
baseline are taken within each repeat; median and spread over the repeats.

    python benchmarks/parallel_typing.py --repeats 3 [--keystrokes 120] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))

from lsprotocol import types  # noqa: E402

from codehearth.bench.common import BEFORE, fixed_init, resolve_files  # noqa: E402
from codehearth.bench.replay import replay_server  # noqa: E402
from codehearth.bench_client import BenchClient  # noqa: E402

FILES = ["textwrap.py", "json/decoder.py"]
STORY = (
    "Write a very long, detailed story about a team of programmers building a compiler. "
    "Use many chapters and describe every design decision."
)


def every_keystroke(args: argparse.Namespace) -> dict[str, Any]:
    """The replay's fixed one-line settings, every keystroke a model call (no suggestion
    cache, no reuse of the generation in flight, no speculation, no gating, no time
    budget): what is measured is the engine, not what answers without it."""
    init = fixed_init(args)
    init["completion"].update(BEFORE)
    return init


def bench_args(args: argparse.Namespace, clients: int, shared: bool) -> argparse.Namespace:
    return argparse.Namespace(
        clients=clients, shared=shared, manifest=None, model=None, context=args.context,
        n_threads=args.threads, start_line=args.start_line, keystrokes=args.keystrokes,
        max_tokens=16, lines_before=128, lines_after=32,
    )  # fmt: skip


class Chatter:
    """A third editor on the shared engine, streaming chat replies back to back."""

    def __init__(self) -> None:
        self.client = BenchClient()
        self.chunks = 0
        self.chars = 0
        self.replies = 0
        self._stop = asyncio.Event()

        @self.client.client.feature("codehearth/stream")
        def _stream(params: Any) -> None:
            delta = getattr(params, "delta", "") or ""
            if delta:
                self.chunks += 1
                self.chars += len(delta)

    async def run(self, args: argparse.Namespace) -> None:
        await self.client.start(args, {"completion": {"temperature": 0.0}}, ["--shared"])
        while not self._stop.is_set():
            self.replies += 1
            argument = {
                "session": f"story-{self.replies}",
                "message": STORY,
                "streamId": f"story-{self.replies}",
                "sampling": {"maxTokens": 400, "temperature": 0.7},
            }
            params = types.ExecuteCommandParams(command="codehearth.chat", arguments=[argument])
            with contextlib.suppress(Exception):
                await self.client.client.workspace_execute_command_async(params)

    async def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.stop(), 60)


async def typing_with_chat(args: argparse.Namespace, files: list[Path]) -> tuple[Any, dict]:
    chatter = Chatter()
    chatting = asyncio.ensure_future(chatter.run(bench_args(args, 1, True)))
    while chatter.chunks == 0 and not chatting.done():
        await asyncio.sleep(0.1)
    started = time.perf_counter()
    chunks_before, chars_before = chatter.chunks, chatter.chars
    typing = bench_args(args, 2, True)
    report = await replay_server(typing, files, every_keystroke(typing))
    elapsed = time.perf_counter() - started
    chat = {
        "chunks_per_s": round((chatter.chunks - chunks_before) / elapsed, 1),
        "chars_per_s": round((chatter.chars - chars_before) / elapsed, 1),
        "replies": chatter.replies,
    }
    await chatter.stop()
    chatting.cancel()
    return report, chat


def run_config(name: str, args: argparse.Namespace, files: list[Path]) -> dict[str, Any]:
    """One set-up, in a private runtime dir (its own shared engine, stopped after)."""
    with tempfile.TemporaryDirectory(prefix="codehearth-typing-") as run_dir:
        os.environ["CODEHEARTH_RUNTIME_DIR"] = run_dir
        try:
            if name == "two_shared_chat":
                report, chat = asyncio.run(typing_with_chat(args, files))
            else:
                clients, shared = {"one": (1, False), "two_private": (2, False),
                                   "two_shared": (2, True)}[name]  # fmt: skip
                typing = bench_args(args, clients, shared)
                report = asyncio.run(replay_server(typing, files, every_keystroke(typing)))
                chat = None
        finally:
            _stop_engine(Path(run_dir))
    row = {"p50_ms": report.p50_ms, "p95_ms": report.p95_ms, "keystrokes": report.keystrokes}
    if chat is not None:
        row["chat"] = chat
    return row


def _stop_engine(run_dir: Path) -> None:
    lock = run_dir / "engine.lock"
    pid = lock.read_text().strip() if lock.exists() else ""
    if pid.isdigit():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGTERM)


CONFIGS = ("one", "two_private", "two_shared", "two_shared_chat")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keystrokes", type=int, default=120, help="characters per file")
    parser.add_argument("--start-line", type=int, default=180)
    parser.add_argument("--context", type=int, default=4096, help="cells an editor gets")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--configs", nargs="*", default=list(CONFIGS))
    parser.add_argument("--json")
    args = parser.parse_args()
    files = resolve_files(FILES)
    runs: list[dict[str, Any]] = []
    for n in range(args.repeats):
        run = {name: run_config(name, args, files) for name in args.configs}
        base = run.get("one")
        if base:
            for row in run.values():
                row["p50_ratio"] = round(row["p50_ms"] / base["p50_ms"], 3)
                row["p95_ratio"] = round(row["p95_ms"] / base["p95_ms"], 3)
        print(f"run {n + 1}: {json.dumps(run)}", flush=True)
        runs.append(run)
    summary = {}
    for name in args.configs:
        rows = [r[name] for r in runs]
        summary[name] = {
            key: {"median": statistics.median(v), "spread": round(max(v) - min(v), 3)}
            for key in ("p50_ms", "p95_ms", "p50_ratio", "p95_ratio")
            if (v := [row[key] for row in rows if key in row])
        }
        chats = [row["chat"]["chars_per_s"] for row in rows if "chat" in row]
        if chats:
            summary[name]["chat_chars_per_s"] = {"median": statistics.median(chats)}
            chunks = [row["chat"]["chunks_per_s"] for row in rows]
            summary[name]["chat_chunks_per_s"] = {"median": statistics.median(chunks)}
    result = {"load_average": os.getloadavg(), "cpus": os.cpu_count(), "runs": runs,
              "summary": summary}  # fmt: skip
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
