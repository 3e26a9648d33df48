"""`codehearth bench`: keystroke-by-keystroke typing replay.

Types real source files (by default some of Python's own standard library) one
character at a time into a real `codehearth serve` process over stdio, asking
for an inline completion after every keystroke and waiting for the answer. The
same keystrokes are then replayed against llama-cpp-python called directly with
a plain "N lines before the cursor" prompt: the engine floor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

DEFAULT_FILES = ("textwrap.py", "shlex.py", "json/encoder.py")


class ReplayReport(BaseModel):
    name: str
    keystrokes: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    prompt_reuse: float | None  # None: a remote engine keeps its cache to itself
    non_empty: int


@dataclass
class Keystroke:
    uri: str
    line: int
    character: int  # UTF-16 column of the inserted char; the cursor ends after it
    char: str


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[idx]


def _report(name: str, latencies: list[float], reuse: float | None, non_empty: int) -> ReplayReport:
    return ReplayReport(
        name=name,
        keystrokes=len(latencies),
        p50_ms=round(_percentile(latencies, 0.50), 1),
        p95_ms=round(_percentile(latencies, 0.95), 1),
        p99_ms=round(_percentile(latencies, 0.99), 1),
        mean_ms=round(statistics.fmean(latencies), 1),
        prompt_reuse=round(reuse, 4) if reuse is not None else None,
        non_empty=non_empty,
    )


def plan_typing(path: Path, start_line: int, count: int) -> tuple[str, str, list[Keystroke]]:
    """The document to open (the file minus `count` chars) and the keystrokes that type them."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    start_line = min(start_line, max(0, len(lines) - 1))
    start = sum(len(ln) for ln in lines[:start_line])
    typed = text[start : start + count]
    opened = text[:start] + text[start + len(typed) :]
    uri = path.resolve().as_uri()
    strokes: list[Keystroke] = []
    line, col = start_line, 0
    for char in typed:
        strokes.append(Keystroke(uri, line, col, char))
        if char == "\n":
            line, col = line + 1, 0
        else:
            col += 2 if ord(char) > 0xFFFF else 1
    return uri, opened, strokes


def resolve_files(names: list[str]) -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    paths = []
    for name in names:
        path = Path(name)
        paths.append(path if path.is_file() else stdlib / name)
    return paths


def _client_init(args: argparse.Namespace) -> dict:
    return {
        "completion": {
            "multiline": "never",
            "maxTokensSingle": args.max_tokens,
            "maxLinesBefore": args.lines_before,
            "maxLinesAfter": args.lines_after,
            "temperature": 0.0,
        },
    }


async def _replay_one(args: argparse.Namespace, files: list[Path], client) -> tuple[list, int]:
    latencies: list[float] = []
    non_empty = 0
    for path in files:
        uri, opened, strokes = plan_typing(path, args.start_line, args.keystrokes)
        client.open(uri, opened, "python" if path.suffix == ".py" else "plaintext")
        for ks in strokes:
            started = time.perf_counter()
            items = await client.type_and_complete(ks)
            latencies.append((time.perf_counter() - started) * 1000)
            non_empty += bool(items)
    return latencies, non_empty


async def replay_server(args: argparse.Namespace, files: list[Path]) -> ReplayReport:
    """`--clients N` editors type at once, each its own files; with `--shared` they all
    use one shared engine (a private one for the run), otherwise each its own server."""
    from .bench_client import BenchClient

    n = max(1, args.clients)
    extra = ["--shared"] if args.shared else []
    clients = [BenchClient() for _ in range(n)]
    for client in clients:
        await client.start(args, _client_init(args), extra)
    try:
        before = [await c.counters() for c in clients]
        groups = [files[i::n] or files for i in range(n)]
        runs = await asyncio.gather(
            *(_replay_one(args, g, c) for g, c in zip(groups, clients, strict=False))
        )
        after = [await c.counters() for c in clients]
    finally:
        for client in clients:
            await client.stop()
    # A shared engine's counters are the engine's: count them once.
    pairs = (
        list(zip(before, after, strict=False))[:1]
        if args.shared
        else list(zip(before, after, strict=False))
    )
    prompt = sum(a["prompt_tokens"] - b["prompt_tokens"] for b, a in pairs)
    reused = sum(a["reused_tokens"] - b["reused_tokens"] for b, a in pairs)
    latencies = [ms for run, _ in runs for ms in run]
    where = "shared engine" if args.shared else getattr(args, "where", "LSP, stdio")
    name = f"codehearth serve ({where})" + (f" x{n} typing at once" if n > 1 else "")
    reuse = None if getattr(args, "where", "").startswith("remote") else reused / max(1, prompt)
    return _report(name, latencies, reuse, sum(ne for _, ne in runs))


def replay_floor(args: argparse.Namespace, files: list[Path], model_path: str) -> ReplayReport:
    """llama-cpp-python called directly: the cost of the model alone."""
    from .engine.floor import run_floor

    def prompts():
        for path in files:
            _, opened, strokes = plan_typing(path, args.start_line, args.keystrokes)
            lines = opened.splitlines(keepends=True)
            for ks in strokes:
                yield _floor_prompt(lines, ks, args.lines_before)

    samples = run_floor(
        model_path,
        prompts(),
        n_ctx=args.context,
        n_threads=args.n_threads,
        max_tokens=args.max_tokens,
    )
    latencies = [s.latency_ms for s in samples]
    reuse = sum(s.reused_tokens for s in samples) / max(1, sum(s.prompt_tokens for s in samples))
    non_empty = sum(s.non_empty for s in samples)
    return _report("llama-cpp-python direct (floor)", latencies, reuse, non_empty)


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


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--files",
        nargs="*",
        default=list(DEFAULT_FILES),
        help="files to type (paths, or names inside the Python stdlib)",
    )
    p.add_argument("--keystrokes", type=int, default=200, help="characters typed per file")
    p.add_argument("--start-line", type=int, default=180, help="line where typing starts")
    p.add_argument("--lines-before", type=int, default=128)
    p.add_argument("--lines-after", type=int, default=32)
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--which", choices=["both", "server", "floor"], default="both")
    p.add_argument("--output", help="write the reports as JSON here")
    p.add_argument("--clients", type=int, default=1, help="editors typing at the same time")
    p.add_argument(
        "--shared", action="store_true", help="editors use a (private, temporary) shared engine"
    )


def run_bench(args: argparse.Namespace) -> int:
    from .models.manifest import load_manifest
    from .models.resolve import resolve_model_path

    files = resolve_files(args.files)
    entry = load_manifest(args.manifest).model_for("completion", args.model)
    if entry.source_kind == "remote" and args.which != "server":
        print("codehearth bench: a remote model has no local floor; use --which server")
        return 2
    model_path = str(resolve_model_path(entry)) if args.which != "server" else ""
    if entry.source_kind == "remote":
        args.where = f"remote engine, {entry.base_url}"
    args.context = args.context or 4096
    reports: list[ReplayReport] = []
    if args.which in ("both", "server"):
        if args.shared:
            # A private engine for the run: never the user's own, and it ends with the run.
            import tempfile

            with tempfile.TemporaryDirectory(prefix="codehearth-bench-") as run_dir:
                os.environ["CODEHEARTH_RUNTIME_DIR"] = run_dir
                reports.append(asyncio.run(replay_server(args, files)))
                _stop_engine(Path(run_dir))
        else:
            reports.append(asyncio.run(replay_server(args, files)))
    if args.which in ("both", "floor"):
        reports.append(replay_floor(args, files, model_path))
    print(
        f"model {entry.name}, {len(files)} files x {args.keystrokes} keystrokes, "
        f"{args.lines_before} lines before / {args.lines_after} after, "
        f"{args.max_tokens} new tokens, stop at newline, {os.cpu_count()} CPUs"
    )
    for r in reports:
        print(
            f"  {r.name:<34} p50 {r.p50_ms:7.1f} ms  p95 {r.p95_ms:7.1f} ms  "
            f"p99 {r.p99_ms:7.1f} ms  reuse "
            f"{'n/a' if r.prompt_reuse is None else format(r.prompt_reuse, '6.1%')}  "
            f"non-empty {r.non_empty}/{r.keystrokes}"
        )
    if len(reports) == 2:
        print(f"  server p50 / floor p50 = {reports[0].p50_ms / max(0.1, reports[1].p50_ms):.2f}x")
    if args.output:
        Path(args.output).write_text(json.dumps([r.model_dump() for r in reports], indent=2))
    return 0


def _stop_engine(run_dir: Path) -> None:
    import signal

    lock = run_dir / "engine.lock"
    pid = lock.read_text().strip() if lock.exists() else ""
    if pid.isdigit():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGTERM)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    sys.exit(run_bench(parser.parse_args()))
