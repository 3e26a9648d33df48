"""The keystroke replay: type, ask, wait for the answer, next key.

Types real source files one character at a time into a real `codehearth serve` process
over stdio, asking for an inline completion after every keystroke and waiting for the
answer. Every keystroke is recorded (what was shown before it, the answer, its latency),
which is what the type-along report reads. The same keystrokes can be replayed against
llama-cpp-python called directly (the engine floor, engine/floor.py) and against
llama.cpp's own llama-server (llama_server.py).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from .common import (
    Keystroke,
    ReplayReport,
    counter_deltas,
    fixed_init,
    make_report,
    plan_typing,
)


@dataclass
class Record:
    """One keystroke of a replay, as the editor saw it."""

    file: int
    index: int
    char: str
    shown_before: str  # the suggestion visible before the key ("" if none)
    answer: str  # the first item of the answer ("" if none)
    latency_ms: float
    rest_of_line: str

    @property
    def continued(self) -> bool:
        """The typed character was the next one of the shown suggestion."""
        return bool(self.shown_before) and self.shown_before[0] == self.char

    @property
    def answered_from_shown(self) -> bool:
        """The answer is the shown suggestion less the typed character, or begins with it
        (the generation that showed the words it had so far has more now)."""
        rest = self.shown_before[1:]
        return self.continued and bool(self.answer) and self.answer.startswith(rest)


def _first_text(items: list) -> str:
    if not items:
        return ""
    text = items[0].insert_text
    return text if isinstance(text, str) else text.value


async def replay_records(
    args: argparse.Namespace, files: list[Path], client, file_offset: int = 0
) -> list[Record]:
    records: list[Record] = []
    for n, path in enumerate(files):
        uri, opened, strokes = plan_typing(path, args.start_line, args.keystrokes)
        client.open(uri, opened, "python" if path.suffix == ".py" else "plaintext")
        shown = ""
        for i, ks in enumerate(strokes):
            started = time.perf_counter()
            items = await client.type_and_complete(ks)
            latency = (time.perf_counter() - started) * 1000
            answer = _first_text(items)
            records.append(
                Record(file_offset + n, i, ks.char, shown, answer, latency, ks.rest_of_line)
            )
            shown = answer
    return records


async def replay_server(
    args: argparse.Namespace,
    files: list[Path],
    init: dict | None = None,
    name: str | None = None,
    records_out: list[Record] | None = None,
) -> ReplayReport:
    """`--clients N` editors type at once, each its own files; with `--shared` they all
    use one shared engine (a private one for the run), otherwise each its own server.
    `init`: initializationOptions (default: the replay's fixed one-line settings)."""
    from ..bench_client import BenchClient

    n = max(1, args.clients)
    extra = ["--shared"] if args.shared else []
    clients = [BenchClient() for _ in range(n)]
    for client in clients:
        await client.start(args, init or fixed_init(args), extra)
    try:
        before = [await c.counters() for c in clients]
        groups = [files[i::n] or files for i in range(n)]
        jobs = [
            replay_records(args, g, c, i * 1000)
            for i, (g, c) in enumerate(zip(groups, clients, strict=True))
        ]
        runs = await asyncio.gather(*jobs)
        after = [await c.counters() for c in clients]
    finally:
        for client in clients:
            await client.stop()
    # A shared engine's counters are the engine's: count them once.
    pairs = list(zip(before, after, strict=False))
    if args.shared:
        pairs = pairs[:1]
    counters: dict[str, int] = {}
    for b, a in pairs:
        for key, value in counter_deltas(b, a).items():
            counters[key] = counters.get(key, 0) + value
    records = [r for run in runs for r in run]
    if records_out is not None:
        records_out.extend(records)
    where = "shared engine" if args.shared else getattr(args, "where", "LSP, stdio")
    name = name or f"codehearth serve ({where})" + (f" x{n} typing at once" if n > 1 else "")
    remote = getattr(args, "where", "").startswith("remote")
    reuse = None if remote else counters["reused_tokens"] / max(1, counters["prompt_tokens"])
    latencies = [r.latency_ms for r in records]
    non_empty = sum(bool(r.answer) for r in records)
    return make_report(name, latencies, reuse, non_empty, counters)


def replay_floor(args: argparse.Namespace, files: list[Path], model_path: str) -> ReplayReport:
    """llama-cpp-python called directly: the cost of the model alone."""
    from ..engine.floor import run_floor

    samples = run_floor(
        model_path,
        floor_prompts(args, files),
        n_ctx=args.context,
        n_threads=args.n_threads,
        max_tokens=args.max_tokens,
    )
    latencies = [s.latency_ms for s in samples]
    reuse = sum(s.reused_tokens for s in samples) / max(1, sum(s.prompt_tokens for s in samples))
    non_empty = sum(s.non_empty for s in samples)
    return make_report("llama-cpp-python direct (floor)", latencies, reuse, non_empty)


def floor_prompts(args: argparse.Namespace, files: list[Path]):
    """The plain "N lines before the cursor" prompt after each keystroke."""
    for path in files:
        _, opened, strokes = plan_typing(path, args.start_line, args.keystrokes)
        lines = opened.splitlines(keepends=True)
        for ks in strokes:
            yield _floor_prompt(lines, ks, args.lines_before)


def _floor_prompt(lines: list[str], ks: Keystroke, lines_before: int) -> str:
    """Apply one keystroke to `lines` and return the plain N-lines-before prompt."""
    current = lines[ks.line] if ks.line < len(lines) else ""
    if ks.char == "\n":
        lines[ks.line : ks.line + 1] = [current[: ks.character] + "\n", current[ks.character :]]
        cur_line, cur_col = ks.line + 1, 0
    else:
        lines[ks.line] = current[: ks.character] + ks.char + current[ks.character :]
        cur_line, cur_col = ks.line, ks.character + 1
    before = "".join(lines[max(0, cur_line - lines_before) : cur_line])
    return before + lines[cur_line][:cur_col] if cur_line < len(lines) else before
