"""`codehearth complete`: one suggestion at a file position, without an editor."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from .context.documents import PositionError
from .lsp.options import ServeOptions
from .runtime import Runtime


def _language_id(path: Path) -> str:
    from .context.languages import language_for

    spec = language_for("", path.resolve().as_uri())
    return spec.name if spec else "plaintext"


def complete_file(options: ServeOptions, file: str, line: int, col: int, as_json: bool) -> int:
    path = Path(file)
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        print(f"codehearth: cannot read {file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    runtime = Runtime(options)
    load_started = time.perf_counter()
    runtime.start()
    if runtime.error() or runtime.engine is None or runtime.completion is None:
        print(f"codehearth: {runtime.error()}", file=sys.stderr)
        return 1
    try:
        runtime.engine.wait_loaded()
        load_ms = (time.perf_counter() - load_started) * 1000
        doc = runtime.store.open(path.resolve().as_uri(), _language_id(path), 0, text)
        try:
            doc.offset_at(line - 1, col - 1)
        except PositionError as exc:
            print(f"codehearth: {file}:{line}:{col} is outside the file ({exc})", file=sys.stderr)
            return 2
        result = asyncio.run(runtime.completion.complete(doc.snapshot(), line - 1, col - 1))
    except Exception as exc:
        print(f"codehearth: {exc}", file=sys.stderr)
        return 1
    finally:
        runtime.stop()
    stats = result.stats
    if as_json:
        payload = result.model_dump()
        payload["load_ms"] = round(load_ms, 1)
        print(json.dumps(payload, indent=2))
        return 0
    print(result.items[0] if result.items else "(no suggestion)")
    if stats is not None:
        print(
            f"-- model {runtime.entry.name if runtime.entry else '?'} ({result.mode} mode), "
            f"load {load_ms:.0f} ms, completion {result.latency_ms:.0f} ms: "
            f"prompt {stats.prompt_tokens} tokens in {stats.prompt_ms:.0f} ms, "
            f"{stats.generated_tokens} generated in {stats.generate_ms:.0f} ms "
            f"({stats.tokens_per_second:.0f} tok/s)",
            file=sys.stderr,
        )
    return 0
