"""Memory of N editors: one shared engine against N in-process servers (N = 1, 2, 4).

Each editor is a real `codehearth serve` over stdio that opens a file and gets one
completion, so its model is loaded and its KV cache used. In-process, every server holds
its own model and cache; shared, every editor's process is a small relay and one engine
holds the model once, with a KV window for each of its `--parallel` sequences. Reported: the
resident memory (VmRSS) of every process involved, summed, with the default settings,
and the window a completion gets in each (n_ctx per sequence). Repeats: median, spread.

    python benchmarks/shared_memory.py [--editors 1 2 4] [--repeats 3] [--json out.json]
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))

from lsprotocol import types  # noqa: E402

from codehearth.bench_client import BenchClient  # noqa: E402

FILE = ROOT / "tests" / "data" / "inventory.py"


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        line = next(x for x in f if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


async def status(client: BenchClient) -> dict[str, Any]:
    params = types.ExecuteCommandParams(command="codehearth.status", arguments=[])
    result = await client.client.workspace_execute_command_async(params)
    return json.loads(json.dumps(result, default=lambda o: getattr(o, "_asdict", vars)(o)))


async def editors(n: int, shared: bool) -> dict[str, Any]:
    args = argparse.Namespace(manifest=None, model=None, context=None, n_threads=None)
    clients = [BenchClient() for _ in range(n)]
    init = {"completion": {"temperature": 0.0, "maxTokensSingle": 8}}
    extra = ["--shared"] if shared else ["--in-process"]
    try:
        for client in clients:
            await client.start(args, init, extra)
        text = FILE.read_text(encoding="utf-8")
        for i, client in enumerate(clients):
            uri = f"file:///bench/editor{i}.py"
            client.open(uri, text, "python")
            params = types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=39, character=15),
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Invoked
                ),
            )
            await client.client.text_document_inline_completion_async(params)
        first = await status(clients[0])
        pids = {c.client._server.pid for c in clients}
        engine_pid = first["engine"]["pid"]
        pids.add(engine_pid)
        per_process = {pid: round(rss_mib(pid), 1) for pid in pids}
        return {
            "total_mib": round(sum(per_process.values()), 1),
            "engine_mib": per_process[engine_pid] if shared else None,
            "editor_process_mib": round(rss_mib(clients[0].client._server.pid), 1),
            "n_ctx_per_sequence": first.get("n_ctx"),
            "engine_pid": engine_pid,
        }
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.stop(), 30)


def measure(n: int, shared: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="codehearth-memory-") as run_dir:
        os.environ["CODEHEARTH_RUNTIME_DIR"] = run_dir
        row = asyncio.run(editors(n, shared))
        if shared:
            with contextlib.suppress(ProcessLookupError):
                os.kill(row["engine_pid"], signal.SIGTERM)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--editors", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()
    runs = []
    for r in range(args.repeats):
        run = {
            str(n): {"in_process": measure(n, False), "shared": measure(n, True)}
            for n in args.editors
        }
        print(f"run {r + 1}: {json.dumps(run)}", flush=True)
        runs.append(run)
    summary = {}
    for n in args.editors:
        row: dict[str, Any] = {}
        for mode in ("in_process", "shared"):
            totals = [run[str(n)][mode]["total_mib"] for run in runs]
            row[f"{mode}_total_mib"] = {
                "median": statistics.median(totals),
                "spread": round(max(totals) - min(totals), 1),
            }
            row[f"{mode}_n_ctx"] = runs[0][str(n)][mode]["n_ctx_per_sequence"]
        row["shared_editor_process_mib"] = runs[0][str(n)]["shared"]["editor_process_mib"]
        shared = row["shared_total_mib"]["median"]
        row["ratio"] = round(shared / row["in_process_total_mib"]["median"], 3)
        summary[str(n)] = row
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
