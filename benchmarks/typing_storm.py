"""Typing storm: keystrokes as fast as a client can send them, through the real server.

Every keystroke is a didChange (one character) and an inlineCompletion, sent without waiting
for anything; every Nth completion is cancelled right away with $/cancelRequest. The server
must keep its queue short (a newer request for a document supersedes the older one), keep
its memory flat, and answer a normal request afterwards as fast as before.

    python benchmarks/typing_storm.py                   # 10,000 keystrokes into one file
    python benchmarks/typing_storm.py --docs 4 --json storm.json

Reported: time to send the storm and to get every answer, how the answers split (a
suggestion, an empty list, cancelled, other errors), the engine's max queue depth and
counters (codehearth.status), the server's RSS (VmRSS; VmHWM is the peak) before and after,
and the latency of a normal request (type a character in another document, await the
suggestion) before and after: the first one (its prompt is not in the KV cache) and the
median of the next ones.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "tests" / "data" / "inventory.py"
INLINE = "textDocument/inlineCompletion"
TEMPLATE = (
    "def handler_{n}(request, store):\n"
    "    item = store.get(request.key)\n"
    "    if item is None:\n"
    "        return None\n"
    "    return item.value + {n}\n\n"
)


class Client:
    """Bare JSON-RPC over the server's stdio: requests return futures, nothing waits."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self._waiters: dict[int, asyncio.Future] = {}
        self._tasks: list[asyncio.Task] = []

    async def start(self, serve_args: list[str]) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "codehearth.cli",
            "serve",
            *serve_args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=dict(os.environ),
        )
        self._tasks.append(asyncio.create_task(self._read()))

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        reader = self.proc.stdout
        while True:
            length = 0
            while True:
                line = await reader.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            message = json.loads(await reader.readexactly(length))
            if "id" in message and ("result" in message or "error" in message):
                waiter = self._waiters.pop(message["id"], None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(message)

    async def _send(self, message: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        body = json.dumps(message).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await self.proc.stdin.drain()

    async def request(self, method: str, params: Any) -> tuple[int, asyncio.Future]:
        msg_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._waiters[msg_id] = future
        await self._send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return msg_id, future

    async def call(self, method: str, params: Any, timeout: float = 120) -> dict[str, Any]:
        _, future = await self.request(method, params)
        return await asyncio.wait_for(future, timeout)

    async def notify(self, method: str, params: Any) -> None:
        await self._send({"jsonrpc": "2.0", "method": method, "params": params})

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        try:
            await self.call("shutdown", None, timeout=30)
            await self.notify("exit", None)
            await asyncio.wait_for(self.proc.wait(), 30)
        except (TimeoutError, ConnectionError):
            self.proc.kill()
            await self.proc.wait()
        for task in self._tasks:
            task.cancel()


class Doc:
    """A document being typed into at its end; the client's copy of the cursor."""

    def __init__(self, uri: str, text: str) -> None:
        self.uri = uri
        self.version = 1
        lines = text.split("\n")
        self.line, self.character = len(lines) - 1, len(lines[-1])

    def keystroke(self, char: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """didChange params for typing `char`, and the inlineCompletion params after it."""
        self.version += 1
        at = {"line": self.line, "character": self.character}
        change = {
            "textDocument": {"uri": self.uri, "version": self.version},
            "contentChanges": [{"range": {"start": at, "end": at}, "text": char}],
        }
        if char == "\n":
            self.line, self.character = self.line + 1, 0
        else:
            self.character += 1
        inline = {
            "textDocument": {"uri": self.uri},
            "position": {"line": self.line, "character": self.character},
            "context": {"triggerKind": 2},
        }
        return change, inline


def rss_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


async def status(client: Client) -> dict[str, Any]:
    reply = await client.call(
        "workspace/executeCommand", {"command": "codehearth.status", "arguments": []}
    )
    return reply["result"]


async def normal_request_ms(client: Client, doc: Doc) -> float:
    """Type "x", await the suggestion (timed), delete the "x" again: the document and so
    the prompt are the same for every sample, before and after the storm."""
    change, inline = doc.keystroke("x")
    await client.notify("textDocument/didChange", change)
    started = time.perf_counter()
    reply = await client.call(INLINE, inline)
    elapsed = (time.perf_counter() - started) * 1000
    if "error" in reply:
        raise RuntimeError(f"normal request failed: {reply['error']}")
    doc.version += 1
    doc.character -= 1
    at = {"line": doc.line, "character": doc.character}
    end = {"line": doc.line, "character": doc.character + 1}
    await client.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": doc.uri, "version": doc.version},
            "contentChanges": [{"range": {"start": at, "end": end}, "text": ""}],
        },
    )
    return elapsed


async def latencies(client: Client, control: Doc, samples: int) -> tuple[float, list[float]]:
    """The first request on the control document (its prompt is not in the KV cache: the
    model last worked on another document) and `samples` more (warm)."""
    cold = await normal_request_ms(client, control)
    return cold, [await normal_request_ms(client, control) for _ in range(samples)]


def storm_text(n: int) -> str:
    text = ""
    for k in itertools.count():
        if len(text) >= n:
            return text[:n]
        text += TEMPLATE.format(n=k)
    raise AssertionError


async def run(args: argparse.Namespace) -> dict[str, Any]:
    init = json.loads(args.init)
    client = Client()
    # The model in the measured process unless the run asks for the shared engine.
    chosen = {"--shared", "--in-process"} & set(args.serve_args)
    await client.start(args.serve_args if chosen else ["--in-process", *args.serve_args])
    assert client.proc is not None
    pid = client.proc.pid
    try:
        await client.call(
            "initialize",
            {"processId": os.getpid(), "rootUri": None, "capabilities": {},
             "initializationOptions": init},
        )  # fmt: skip
        await client.notify("initialized", {})
        deadline = time.monotonic() + 120
        while (state := await status(client))["state"] == "loading":
            if time.monotonic() > deadline:
                raise RuntimeError("the model did not load in 120 s")
            await asyncio.sleep(0.05)
        if state["state"] != "ready":
            raise RuntimeError(f"server not ready: {state}")

        base = Path(args.file).read_text(encoding="utf-8") + "\n\n"
        docs = []
        for name in ["control", *(f"storm_{d}" for d in range(args.docs))]:
            uri = Path(args.file).resolve().with_name(f"{name}.py").as_uri()
            text = f"# {name}\n{base}"  # prompts differ from the first token on
            params = {"uri": uri, "languageId": "python", "version": 1, "text": text}
            await client.notify("textDocument/didOpen", {"textDocument": params})
            docs.append(Doc(uri, text))
        control, docs = docs[0], docs[1:]
        await latencies(client, control, 2)  # warm up: first prompt, tokenizer memo
        await normal_request_ms(client, docs[0])  # the KV cache now holds another prompt
        cold_before, before_ms = await latencies(client, control, args.samples)
        rss_before = rss_kib(pid)
        counters_before = (await status(client))["counters"]

        # The storm, `rounds` times in a row (more rounds: does memory keep growing?).
        text = storm_text(args.keystrokes * args.rounds)
        replies: list[dict[str, Any]] = []
        cancelled = 0
        rss_rounds = []
        started = time.perf_counter()
        sent_s = 0.0
        half = args.cancel_every // 2
        for r in range(args.rounds):
            futures = []
            for k in range(r * args.keystrokes, (r + 1) * args.keystrokes):
                doc = docs[k % len(docs)]
                change, inline = doc.keystroke(text[k])
                await client.notify("textDocument/didChange", change)
                msg_id, future = await client.request(INLINE, inline)
                futures.append(future)
                if args.cancel_every and k % args.cancel_every == half:
                    await client.notify("$/cancelRequest", {"id": msg_id})
                    cancelled += 1
            sent_s = sent_s or time.perf_counter() - started  # the first round's
            replies += await asyncio.wait_for(asyncio.gather(*futures), args.timeout)
            rss_rounds.append(round(rss_kib(pid)["VmRSS"] / 1024, 1))
        answered_s = time.perf_counter() - started
        rss_after = rss_kib(pid)
        after = await status(client)

        outcome = {"suggestion": 0, "empty": 0, "cancelled": 0, "error": 0}
        for reply in replies:
            if "error" in reply:
                key = "cancelled" if reply["error"].get("code") == -32800 else "error"
            else:
                key = "suggestion" if reply["result"]["items"] else "empty"
            outcome[key] += 1

        cold_after, after_ms = await latencies(client, control, args.samples)
        counters = after["counters"]
        delta = {
            k: counters[k] - counters_before[k]
            for k in ("requests", "completed", "cancelled", "superseded", "failed")
        }
        return {
            "keystrokes": len(text),
            "rounds": args.rounds,
            "docs": args.docs,
            "cancel_requests": cancelled,
            "send_s": round(sent_s, 2),
            "keystrokes_per_s": round(args.keystrokes / sent_s),
            "all_answered_s": round(answered_s, 2),
            "answers": outcome,
            "engine": delta,
            "max_queue_depth": counters["max_queue_depth"],
            "queue_depth_after": after["queue_depth"],
            "rss_mib": {
                "before": round(rss_before["VmRSS"] / 1024, 1),
                "after_each_round": rss_rounds,
                "after": round(rss_after["VmRSS"] / 1024, 1),
                "peak": round(rss_after["VmHWM"] / 1024, 1),
            },
            "latency_ms": {
                "before_cold": round(cold_before, 1),
                "before_median": round(statistics.median(before_ms), 1),
                "before_all": [round(x, 1) for x in before_ms],
                "after_cold": round(cold_after, 1),
                "after_median": round(statistics.median(after_ms), 1),
                "after_all": [round(x, 1) for x in after_ms],
            },
            "init": init,
        }
    finally:
        await client.stop()


def report(result: dict[str, Any]) -> str:
    a, e, r, lat = result["answers"], result["engine"], result["rss_mib"], result["latency_ms"]
    return "\n".join(
        [
            f"keystrokes              {result['keystrokes']} into {result['docs']} document(s) "
            f"in {result['rounds']} round(s), {result['cancel_requests']} cancelled with "
            "$/cancelRequest",
            f"first round sent in     {result['send_s']} s ({result['keystrokes_per_s']} "
            "keystrokes/s, didChange + inlineCompletion each)",
            f"all answered after      {result['all_answered_s']} s",
            f"answers                 {a['suggestion']} suggestions, {a['empty']} empty, "
            f"{a['cancelled']} cancelled, {a['error']} other errors",
            f"engine                  {e['requests']} jobs: {e['completed']} completed, "
            f"{e['superseded']} superseded in queue, {e['cancelled']} stopped while running, "
            f"{e['failed']} failed",
            f"max queue depth         {result['max_queue_depth']} (after: "
            f"{result['queue_depth_after']})",
            f"server RSS (MiB)        before {r['before']}, after each round "
            f"{r['after_each_round']}, after {r['after']}, peak {r['peak']}",
            f"normal request (ms)     before: first {lat['before_cold']}, then median "
            f"{lat['before_median']} {lat['before_all']}",
            f"                        after:  first {lat['after_cold']}, then median "
            f"{lat['after_median']} {lat['after_all']}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keystrokes", type=int, default=10_000, help="per round")
    parser.add_argument("--rounds", type=int, default=1, help="storms in a row, same server")
    parser.add_argument("--docs", type=int, default=1, help="documents typed in, round robin")
    parser.add_argument(
        "--cancel-every", type=int, default=10, help="cancel every Nth completion (0: none)"
    )
    parser.add_argument("--samples", type=int, default=5, help="normal requests before/after")
    parser.add_argument("--file", default=str(DEFAULT_FILE), help="the text typed after")
    parser.add_argument(
        "--init",
        default=json.dumps({"completion": {"temperature": 0.0}}),
        help="initializationOptions as JSON",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds for all answers")
    parser.add_argument("--json", help="also write the numbers to this file")
    parser.add_argument(
        "serve_args", nargs="*", help="passed to `codehearth serve` (after --)", default=[]
    )
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
