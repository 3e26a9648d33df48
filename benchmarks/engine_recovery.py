"""Recovery: from SIGKILL of the shared engine to the next answered completion.

One editor (`codehearth serve --shared`, a private runtime dir, so a private engine) opens
a document and types into it; then, per repeat, the engine process is killed with SIGKILL
and the editor asks for a completion every 100 ms (each one fails with RequestFailed while
the engine is down) until one is answered. Reported per repeat: the time to that answer,
the time until the status said `ready` again, and whether the answer is the one given
before the crash (greedy: the same text must give the same suggestion, so the typed text
survived the crash). Median and spread over the repeats.

    python benchmarks/engine_recovery.py --repeats 3 [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "server"))

from codehearth.bench_client import BenchClient  # noqa: E402

INIT = {
    "completion": {
        "temperature": 0.0,
        "maxTokensSingle": 8,
        "timeBudgetMs": 0,
        "firstTimeBudgetMs": 0,
    }
}
URI = "file:///bench/recovery.py"
TEXT = "".join(f"def handler_{n}(x):\n    return x + {n}\n\n" for n in range(40))
TYPED = "def handler_total(x):\n    return "


async def status(client: BenchClient) -> dict[str, Any]:
    params = types.ExecuteCommandParams(command="codehearth.status", arguments=[])
    result = await client.client.workspace_execute_command_async(params)
    return result if isinstance(result, dict) else json.loads(json.dumps(result, default=vars))


async def complete(client: BenchClient) -> list[str]:
    line = TEXT.count("\n") + 1
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=URI),
        position=types.Position(line=line, character=len("    return ")),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Invoked
        ),
    )
    result = await client.client.text_document_inline_completion_async(params)
    items = result.items if isinstance(result, types.InlineCompletionList) else (result or [])
    return [i.insert_text if isinstance(i.insert_text, str) else i.insert_text.value for i in items]


async def wait_ready(client: BenchClient, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            current = await status(client)
        except JsonRpcException:
            current = {"state": "restarting"}
        if current["state"] == "ready":
            return current
        await asyncio.sleep(0.05)
    raise TimeoutError("the engine did not become ready")


async def watch_phases(client: BenchClient, old_pid: int, killed: float, seen: dict) -> None:
    """When a new engine first answered the status, and when it said ready."""
    while "ready_s" not in seen:
        try:
            current = await status(client)
        except JsonRpcException:
            current = {"state": "restarting", "engine": {"pid": old_pid}}
        if current["engine"]["pid"] not in (old_pid, 0) and current["state"] != "restarting":
            seen.setdefault("attached_s", round(time.monotonic() - killed, 3))
            seen["new_pid"] = current["engine"]["pid"]
            if current["state"] in ("ready", "busy"):
                seen["ready_s"] = round(time.monotonic() - killed, 3)
        await asyncio.sleep(0.05)


async def one_recovery(client: BenchClient, pid: int, expected: list[str]) -> dict[str, Any]:
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    phases: dict[str, Any] = {}
    watcher = asyncio.ensure_future(watch_phases(client, pid, killed, phases))
    failures = 0
    while True:
        try:
            answer = await complete(client)
            break
        except JsonRpcException:
            failures += 1
            await asyncio.sleep(0.1)
    answered = time.monotonic() - killed
    await asyncio.wait_for(watcher, 120)
    return {
        "answered_s": round(answered, 3),
        **phases,
        "failed_requests": failures,
        "same_answer": answer == expected,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["CODEHEARTH_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="codehearth-recovery-")
    client = BenchClient()
    extra = ["--shared", "--idle-timeout", "30"]
    started = time.monotonic()
    await client.start(args, INIT, extra=extra)
    runs: list[dict[str, Any]] = []
    try:
        pid = (await wait_ready(client))["engine"]["pid"]
        cold_ready = time.monotonic() - started
        client.open(URI, TEXT, "python")
        end = types.Position(line=TEXT.count("\n"), character=0)
        client.versions[URI] += 1
        client.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=end, end=end), text=TYPED
                    )
                ],
            )
        )
        expected = await complete(client)
        # The floor recovery cannot beat: a first start, engine and model, to its first answer.
        cold_answer = time.monotonic() - started
        for _ in range(args.repeats):
            result = await one_recovery(client, pid, expected)
            runs.append(result)
            pid = result["new_pid"]
            # Three deaths within a minute are a crash loop by design: space the repeats.
            await asyncio.sleep(args.gap)
    finally:
        await client.stop()
        os.kill(pid, signal.SIGKILL)
    answered = [r["answered_s"] for r in runs]
    return {
        "cold_start_ready_s": round(cold_ready, 3),
        "cold_start_answered_s": round(cold_answer, 3),
        "runs": runs,
        "answered_median_s": statistics.median(answered),
        "answered_spread_s": round(max(answered) - min(answered), 3),
        "all_same_answer": all(r["same_answer"] for r in runs),
        "load_average": os.getloadavg(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gap", type=float, default=25.0, help="seconds between kills")
    parser.add_argument("--manifest")
    parser.add_argument("--model")
    parser.add_argument("--context", type=int)
    parser.add_argument("--threads", dest="n_threads", type=int)
    parser.add_argument("--json", help="write the result here too")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
