"""`codehearth complete`: one suggestion at a file position, without an editor."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from ..config import ServeOptions
from ..context.documents import PositionError
from .startup import StartupFailed, fail, language_id, start_runtime


def complete_file(options: ServeOptions, file: str, line: int, col: int, as_json: bool) -> int:
    path = Path(file)
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        return fail(f"cannot read {file}: {exc.strerror or exc}", 2)
    load_started = time.perf_counter()
    try:
        runtime = start_runtime(options)
    except StartupFailed as exc:
        return fail(str(exc))
    load_ms = (time.perf_counter() - load_started) * 1000
    try:
        doc = runtime.store.open(path.resolve().as_uri(), language_id(path), 0, text)
        try:
            doc.offset_at(line - 1, col - 1)
        except PositionError as exc:
            return fail(f"{file}:{line}:{col} is outside the file ({exc})", 2)
        assert runtime.completion is not None
        result = asyncio.run(runtime.completion.complete(doc.snapshot(), line - 1, col - 1))
    except Exception as exc:
        return fail(str(exc))
    finally:
        runtime.stop()
    if as_json:
        payload = result.model_dump()
        payload["load_ms"] = round(load_ms, 1)
        print(json.dumps(payload, indent=2))
        return 0
    print(result.items[0] if result.items else "(no suggestion)")
    stats = result.stats
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
