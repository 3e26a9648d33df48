"""`codehearth explain`, `codehearth chat` and `codehearth review`: the assist commands in a
terminal, with the same runtime (manifest, resident model, engine) the server uses."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from ..assist.payloads import ChatArgs, ExplainArgs, RangeArg, ReviewArgs, SamplingOverride
from ..assist.service import (
    AssistInputError,
    AssistService,
    ReviewOutcome,
    document_review_target,
    resolve_range,
)
from ..config import add_model_flags, options_from_args
from ..context.selection import CodeContext, gather_context
from ..runtime import Runtime
from .logs import setup_logging
from .startup import StartupFailed, fail, open_file, start_runtime


def _line_span(text: str) -> tuple[int, int]:
    """ "A-B" or "A" (1-based, inclusive)."""
    first, _, last = text.partition("-")
    try:
        a, b = int(first), int(last or first)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LINE or FIRST-LAST, got {text!r}") from None
    if a < 1 or b < a:
        raise argparse.ArgumentTypeError(f"bad line range {text!r}: lines count from 1")
    return a, b


def _add_sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-tokens", type=int, help="most tokens to generate")
    p.add_argument("--temperature", type=float, help="sampling temperature")


def add_subcommands(
    sub: argparse._SubParsersAction,
    common_parent: argparse.ArgumentParser,
) -> None:
    explain = sub.add_parser("explain", parents=[common_parent], help="explain lines of a file")
    explain.add_argument("file")
    explain.add_argument("--lines", type=_line_span, required=True, help="A-B (1-based)")
    _add_sampling_args(explain)
    add_model_flags(explain)
    explain.set_defaults(func=cmd_explain)

    chat = sub.add_parser(
        "chat", parents=[common_parent], help="chat with the model (stdin lines; /reset, /quit)"
    )
    chat.add_argument("--file", help="attach this file (or --lines of it) to the conversation")
    chat.add_argument("--lines", type=_line_span, help="A-B of --file")
    _add_sampling_args(chat)
    add_model_flags(chat)
    chat.set_defaults(func=cmd_chat)

    review = sub.add_parser("review", parents=[common_parent], help="review a file offline")
    review.add_argument("file")
    review.add_argument("--lines", type=_line_span, help="A-B (1-based); default: whole file")
    review.add_argument("--json", action="store_true", help="print the findings as JSON")
    _add_sampling_args(review)
    add_model_flags(review)
    review.set_defaults(func=cmd_review)


def _sampling(args: argparse.Namespace) -> SamplingOverride | None:
    values = {"max_tokens": args.max_tokens, "temperature": args.temperature}
    given = {k: v for k, v in values.items() if v is not None}
    return SamplingOverride(**given) if given else None


def _range(runtime: Runtime, uri: str, span: tuple[int, int]) -> RangeArg:
    doc = runtime.store.get(uri)
    assert doc is not None
    first, last = span
    if first > doc.line_count:
        raise AssistInputError(f"line {first} is past the end ({doc.line_count} lines)")
    if last < doc.line_count:
        end = {"line": last, "character": 0}
    else:  # through the end of the last line
        snap = doc.snapshot()
        last_text = snap.line_text(snap.line_count - 1)
        end = {"line": snap.line_count - 1, "character": len(last_text.encode("utf-16-le")) // 2}
    return RangeArg.model_validate({"start": {"line": first - 1, "character": 0}, "end": end})


def _write(delta: str) -> None:
    sys.stdout.write(delta)
    sys.stdout.flush()


def _run(args: argparse.Namespace, body: Callable[[Runtime, AssistService], int]) -> int:
    setup_logging(args.log_level)
    try:
        runtime = start_runtime(options_from_args(args))
    except StartupFailed as exc:
        return fail(str(exc))
    service = AssistService.for_runtime(runtime)
    try:
        return body(runtime, service)
    except OSError as exc:
        return fail(f"cannot read {exc.filename}: {exc.strerror}", 2)
    except AssistInputError as exc:
        return fail(str(exc), 2)
    except Exception as exc:
        return fail(str(exc))
    finally:
        runtime.stop()


def cmd_explain(args: argparse.Namespace) -> int:
    def body(runtime: Runtime, service: AssistService) -> int:
        uri = open_file(runtime, Path(args.file))
        a = ExplainArgs(uri=uri, range=_range(runtime, uri, args.lines), sampling=_sampling(args))
        snap, start, end = resolve_range(runtime.store, uri, a.range)
        ctx = gather_context(snap, start, end)
        asyncio.run(service.explain(a, ctx, service.begin(None), _write))
        _write("\n")
        return 0

    return _run(args, body)


def cmd_review(args: argparse.Namespace) -> int:
    def body(runtime: Runtime, service: AssistService) -> int:
        uri = open_file(runtime, Path(args.file))
        rng = _range(runtime, uri, args.lines) if args.lines else None
        a = ReviewArgs(uri=uri, range=rng, sampling=_sampling(args))
        snap, start, end = resolve_range(runtime.store, uri, rng)
        target = document_review_target(snap, start, end, whole=rng is None)
        outcome = asyncio.run(service.review(a, target, f"review:{uri}", service.begin(None)))
        if args.json:
            found = [
                {**p.finding.model_dump(exclude_none=True), "file_line": p.first + 1}
                for p in outcome.placed
            ]
            report = {"findings": found, "dropped": outcome.dropped}
            report["dropped_reasons"] = outcome.dropped_reasons
            if outcome.notice:
                report["notice"] = outcome.notice
            print(json.dumps(report, indent=2))
            return 0
        _print_review(args.file, outcome)
        return 0

    return _run(args, body)


def _print_review(file: str, outcome: ReviewOutcome) -> None:
    """Findings on stdout (FILE:LINE: severity: message); the notice, the dropped count
    and "no findings" on stderr, so stdout stays one finding a line."""
    if outcome.notice:
        print(f"{file}: note: {outcome.notice}", file=sys.stderr)
    for placed in outcome.placed:
        f = placed.finding
        print(f"{file}:{placed.first + 1}: {f.severity}: {f.message}")
    if outcome.dropped:
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(outcome.dropped_reasons.items()))
        print(f"{file}: dropped {outcome.dropped} ungrounded or invalid ({why})", file=sys.stderr)
    if not outcome.placed:
        print(f"{file}: no findings", file=sys.stderr)


def cmd_chat(args: argparse.Namespace) -> int:
    def body(runtime: Runtime, service: AssistService) -> int:
        attachment = None
        if args.file:
            uri = open_file(runtime, Path(args.file))
            rng = _range(runtime, uri, args.lines) if args.lines else None
            snap, start, end = resolve_range(runtime.store, uri, rng)
            attachment = gather_context(snap, start, end)
        asyncio.run(_repl(service, attachment, _sampling(args)))
        return 0

    return _run(args, body)


async def _repl(
    service: AssistService, attachment: CodeContext | None, sampling: SamplingOverride | None
) -> None:
    session = uuid.uuid4().hex
    attached = attachment
    interactive = sys.stdin.isatty()
    if interactive:
        print("codehearth chat: /reset clears the conversation, /quit exits", file=sys.stderr)
    loop = asyncio.get_running_loop()
    while True:
        if interactive:
            print("> ", end="", file=sys.stderr, flush=True)
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        text = line.strip()
        if not text:
            continue
        if text in ("/quit", "/exit"):
            break
        if text == "/reset":
            service.reset(session)
            attachment = attached  # the files from the command line stay attached
            print("(conversation cleared)", file=sys.stderr)
            continue
        a = ChatArgs(session=session, message=text, sampling=sampling)
        active = service.begin(None, session)
        try:
            await service.chat(a, attachment, active, _write)
        finally:
            service.finish(active)
        attachment = None  # attached once; the session keeps it
        _write("\n")
