"""Inline completion latency with and without a chat reply streaming at the same time.

Starts a real `codehearth serve` over stdio, opens a file and asks for inline completions
at ~100 positions one after the other: first alone, then while a long chat reply streams
(a new chat starts whenever the previous one ends). Completions have priority over chat:
each one pre-empts the reply, which then continues. Prints p50/p95 for both runs.

    python benchmarks/typing_with_chat.py --requests 100 [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from lsprotocol import types

from codehearth.bench_client import BenchClient

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "tests" / "data" / "inventory.py"
STORY = (
    "Write a very long, detailed story about a team of programmers building a compiler. "
    "Use many chapters and describe every design decision."
)


def positions(text: str, count: int) -> list[tuple[int, int]]:
    """Distinct cursor positions: line ends and line middles of non-blank lines."""
    spots: list[tuple[int, int]] = []
    for i, line in enumerate(text.splitlines()):
        if line.strip():
            spots.append((i, len(line)))
            spots.append((i, len(line) // 2))
    if not spots:
        raise SystemExit("the file has no non-blank lines")
    return [spots[(k * 7) % len(spots)] for k in range(count)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(latencies: list[float]) -> dict[str, float]:
    return {
        "n": len(latencies),
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "mean_ms": round(statistics.fmean(latencies), 1),
        "max_ms": round(max(latencies), 1),
    }


async def complete_all(
    bench: BenchClient, uri: str, spots: list[tuple[int, int]], gap_s: float = 0.0
) -> list[float]:
    latencies = []
    for line, character in spots:
        if gap_s:
            await asyncio.sleep(gap_s)
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Automatic
            ),
        )
        started = time.perf_counter()
        await bench.client.text_document_inline_completion_async(params)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def execute(bench: BenchClient, command: str, argument: dict[str, Any]) -> Any:
    params = types.ExecuteCommandParams(command=command, arguments=[argument])
    return await bench.client.workspace_execute_command_async(params)


async def keep_chatting(
    bench: BenchClient, max_tokens: int, stop: asyncio.Event, current: dict[str, str]
) -> int:
    """Chat replies back to back until stop is set; returns how many were started."""
    started = 0
    while not stop.is_set():
        started += 1
        current["session"] = f"bench-{started}"
        argument = {
            "session": current["session"],
            "message": STORY,
            "sampling": {"max_tokens": max_tokens, "temperature": 0.7},
        }
        await execute(bench, "codehearth.chat", argument)
    return started


def plain(obj: Any) -> Any:
    """pygls returns JSON objects of unknown shape as named tuples."""
    if hasattr(obj, "_asdict"):
        return {k: plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    return obj


async def counters(bench: BenchClient) -> dict[str, Any]:
    status = plain(await execute(bench, "codehearth.status", {}))
    return status.get("counters") or {}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    path = Path(args.file)
    text = path.read_text(encoding="utf-8")
    spots = positions(text, args.requests)
    bench = BenchClient()
    streamed = [0]

    @bench.client.feature("codehearth/stream")
    def _count(params: Any) -> None:
        streamed[0] += len(getattr(params, "delta", "") or "")

    await bench.start(args, {"completion": {"temperature": 0.0}})
    try:
        uri = path.resolve().as_uri()
        bench.open(uri, text, "python")
        await complete_all(bench, uri, spots[:3])  # warm up: model loaded, caches primed
        alone = await complete_all(bench, uri, spots, args.gap_ms / 1000)
        before = await counters(bench)
        stop = asyncio.Event()
        current: dict[str, str] = {}
        chat = asyncio.create_task(keep_chatting(bench, args.chat_tokens, stop, current))
        await asyncio.sleep(args.chat_head_start)  # the reply is streaming before we type
        streamed_before = streamed[0]
        typing_started = time.perf_counter()
        with_chat = await complete_all(bench, uri, spots, args.gap_ms / 1000)
        typing_s = time.perf_counter() - typing_started
        chat_chars = streamed[0] - streamed_before
        stop.set()
        await execute(bench, "codehearth.cancel", {"session": current["session"]})
        chats = await asyncio.wait_for(chat, 120)
        after = await counters(bench)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(bench.client.shutdown_async(None), 10)
            bench.client.exit(None)
        await bench.client.stop()
    return {
        "file": str(path),
        "requests": len(spots),
        "alone": summary(alone),
        "with_chat": summary(with_chat),
        "chat_replies": chats,
        "chat_chars_streamed_while_typing": chat_chars,
        "typing_seconds": round(typing_s, 1),
        "chat_preemptions": after.get("preempted", 0) - before.get("preempted", 0),
        "chat_and_completion_tokens_generated": after.get("generated_tokens", 0)
        - before.get("generated_tokens", 0),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--file", default=str(DEFAULT_FILE))
    p.add_argument("--requests", type=int, default=100)
    p.add_argument("--chat-tokens", type=int, default=2000, help="max_tokens of each reply")
    p.add_argument("--chat-head-start", type=float, default=1.0, help="seconds")
    p.add_argument("--gap-ms", type=float, default=0.0, help="pause between completions")
    p.add_argument("--manifest")
    p.add_argument("--model")
    p.add_argument("--context", type=int)
    p.add_argument("--threads", type=int)
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args(argv)
    result = asyncio.run(run(args))
    for name in ("alone", "with_chat"):
        s = result[name]
        print(
            f"{name:>10}: p50 {s['p50_ms']:7.1f} ms   p95 {s['p95_ms']:7.1f} ms   "
            f"mean {s['mean_ms']:7.1f} ms   max {s['max_ms']:7.1f} ms   (n={s['n']})"
        )
    print(
        f"chat replies: {result['chat_replies']}, pre-emptions: {result['chat_preemptions']}, "
        f"chat text streamed while typing: {result['chat_chars_streamed_while_typing']} chars "
        f"in {result['typing_seconds']} s"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
