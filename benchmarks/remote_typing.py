"""Typing latency through codehearth.remote against an OpenAI-compatible engine.

Replays N keystrokes over a Python file: each request's prefix is the ~1500 characters
before the cursor, the cursor moving one character per keystroke, 16 tokens, stop at
newline. Without --base-url it starts llama_cpp.server with SmolLM2 itself.

    python benchmarks/remote_typing.py                       # local llama_cpp.server
    python benchmarks/remote_typing.py --threads 2 --output results.json
    python benchmarks/remote_typing.py --base-url http://gpu-box:8080/v1 --model qwen-coder
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path

from codehearth.remote import OpenAICompatClient, RemoteConfig, RemoteGeneration

REPO = Path(__file__).resolve().parents[1]
# A stdlib module: long, real Python, and identical for everyone on the same Python version.
DEFAULT_SOURCE = Path(argparse.__file__)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="engine URL; default: start llama_cpp.server")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--keystrokes", type=int, default=30)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--prefix-chars", type=int, default=1500)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    # sliding: the window's start moves with the cursor (no prompt-cache reuse on the engine);
    # anchored: the start stays put and the prefix grows, as a line-anchored context would.
    parser.add_argument("--window", choices=["sliding", "anchored"], default="sliding")
    parser.add_argument("--threads", type=int, help="llama_cpp.server --n_threads")
    parser.add_argument("--output", type=Path, help="write the numbers as JSON here")
    return parser.parse_args(argv)


@contextlib.contextmanager
def engine(args: argparse.Namespace) -> Iterator[str]:
    if args.base_url:
        yield args.base_url
        return
    sys.path.insert(0, str(REPO))  # the server helper and model path live in tests/
    from tests.conftest import SMOLLM2
    from tests.remote_server import llama_cpp_server

    extra = ["--n_threads", str(args.threads)] if args.threads else []
    with llama_cpp_server(SMOLLM2, args.model, n_ctx=2048, extra=extra) as url:
        yield url


def replay(
    client: OpenAICompatClient, text: str, args: argparse.Namespace
) -> list[RemoteGeneration]:
    start = min(len(text) - args.keystrokes - 1, max(args.prefix_chars, len(text) // 3))
    runs = []
    for k in range(args.keystrokes + 1):  # the first request warms the engine and is dropped
        cursor = start + k
        begin = start if args.window == "anchored" else cursor
        prefix = text[max(0, begin - args.prefix_chars) : cursor]
        suffix = text[cursor : cursor + 400]
        runs.append(
            client.complete(
                prefix, suffix, max_tokens=args.max_tokens, temperature=0.0, top_p=1.0,
                stop=["\n"], cancelled=lambda: False,
            )
        )  # fmt: skip
    return runs[1:]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarise(runs: list[RemoteGeneration], info: dict) -> dict:
    total = [r.total_ms for r in runs]
    first = [r.first_token_ms for r in runs if r.first_token_ms is not None]
    return {
        **info,
        "requests": len(runs),
        "total_ms": {"p50": percentile(total, 0.5), "p95": percentile(total, 0.95),
                     "mean": statistics.fmean(total)},
        "first_token_ms": {"p50": percentile(first, 0.5), "p95": percentile(first, 0.95)}
        if first else None,
        "generated_tokens_mean": statistics.fmean(r.generated_tokens for r in runs),
        "finish_reasons": sorted({str(r.finish_reason) for r in runs}),
    }  # fmt: skip


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    text = args.source.read_text(encoding="utf-8")
    with engine(args) as url:
        config = RemoteConfig(base_url=url, model=args.model)
        with OpenAICompatClient(config) as client:
            info = client.probe()
            runs = replay(client, text, args)
    meta = {"server": info.server, "fim_route": info.fim_route, "model": args.model}
    meta["prefix_chars"] = args.prefix_chars
    result = summarise(runs, {**meta, "threads": args.threads, "window": args.window})
    print(json.dumps(result, indent=2))
    if args.output:
        args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
