"""Explain, chat and review commands, review diagnostics and their quick fixes.

The protocol is described in docs/protocol.md. Everything model-related runs in
assist/service.py as engine jobs; this module validates arguments, streams, publishes.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types
from pydantic import BaseModel, ValidationError
from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import to_fs_path

from ..assist.payloads import (
    CancelArgs,
    ChatArgs,
    ExplainArgs,
    ExplainResult,
    LocatedFinding,
    ReviewArgs,
    ReviewResult,
    SessionArgs,
    describe_validation_error,
)
from ..assist.review import diff_target
from ..assist.service import (
    ActiveRequest,
    AssistService,
    ReviewOutcome,
    document_review_target,
    resolve_range,
)
from ..context.selection import gather_context
from .diagnostics import SOURCE, quick_fix, ranges_overlap, to_diagnostic
from .errors import RequestFailed, lsp_errors, require_model
from .server import CodehearthServer
from .stream import (
    Stream,
    cancel_task_on_request_cancel,
    capture_work_done_tokens,
    current_request_id,
    current_work_done_token,
)

log = logging.getLogger(__name__)

EXPLAIN = "codehearth.explain"
CHAT = "codehearth.chat"
CHAT_RESET = "codehearth.chat.reset"
CHAT_DEBUG_PROMPT = "codehearth.chat.debugPrompt"
CANCEL = "codehearth.cancel"
REVIEW = "codehearth.review"

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        return {k: _plain(v) for k, v in vars(obj).items() if not k.startswith("_")}
    return obj


def parse_argument(model: type[M], command: str, args: tuple[Any, ...]) -> M:
    """The command's single argument object, validated; InvalidParams says what is wrong."""
    if len(args) != 1:
        raise JsonRpcInvalidParams(
            f"{command}: expected exactly one argument (an object), got {len(args)}"
        )
    raw = _plain(args[0])
    if not isinstance(raw, dict):
        raise JsonRpcInvalidParams(f"{command}: the argument must be an object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise JsonRpcInvalidParams(describe_validation_error(command, exc)) from exc


def _service(ls: CodehearthServer) -> AssistService:
    return AssistService.for_runtime(require_model(ls))


def _stream(ls: CodehearthServer, command: str, stream_id: str | None, session=None) -> Stream:
    sid = stream_id if stream_id is not None else current_request_id(ls)
    sid = sid if sid is not None else uuid.uuid4().hex
    return Stream(ls, command, sid, current_work_done_token(), session)


async def _streamed(
    ls: CodehearthServer,
    service: AssistService,
    stream: Stream,
    active: ActiveRequest,
    call: Callable[[], Awaitable[T]],
) -> T:
    """Run a request with its progress/stream open; a failure ends the stream as failed.
    The caller ends it on success, with the result's stop reason."""
    cancel_task_on_request_cancel(ls)
    title = f"codehearth: {stream.command.removeprefix('codehearth.')}"
    stream.begin(title, lambda: service.cancel(stream_id=active.stream_id))
    try:
        with lsp_errors(ls):
            return await call()
    except BaseException:
        stream.end(None, failed=True)
        raise
    finally:
        service.finish(active)


async def _explain(ls: CodehearthServer, args: tuple[Any, ...]) -> dict[str, Any]:
    a = parse_argument(ExplainArgs, EXPLAIN, args)
    service = _service(ls)
    with lsp_errors(ls):
        snap, start, end = resolve_range(ls.runtime.store, a.uri, a.range)
    ctx = gather_context(snap, start, end)
    stream = _stream(ls, EXPLAIN, a.stream_id)
    active = service.begin(str(stream.id))
    out, cancelled = await _streamed(
        ls, service, stream, active, lambda: service.explain(a, ctx, active, stream.push)
    )
    stream.end(out.stop_reason, cancelled=cancelled)
    result = ExplainResult(
        markdown=out.text.strip(), stop_reason=out.stop_reason, cancelled=cancelled
    )
    return result.dump()


async def _chat(ls: CodehearthServer, args: tuple[Any, ...]) -> dict[str, Any]:
    a = parse_argument(ChatArgs, CHAT, args)
    service = _service(ls)
    attachment = None
    if a.uri is not None:
        with lsp_errors(ls):
            snap, start, end = resolve_range(ls.runtime.store, a.uri, a.range)
        attachment = gather_context(snap, start, end)
    session = a.session or uuid.uuid4().hex
    stream = _stream(ls, CHAT, a.stream_id, session)
    active = service.begin(str(stream.id), session)
    result = await _streamed(
        ls, service, stream, active, lambda: service.chat(a, attachment, active, stream.push)
    )
    stream.end(result.stop_reason, cancelled=result.cancelled)
    return result.dump()


def _open_uri_for(ls: CodehearthServer, path: str) -> str | None:
    """The open document a diff's file path names (absolute, or under a workspace root)."""
    store = ls.runtime.store
    candidates = [Path(path)] if Path(path).is_absolute() else []
    with contextlib.suppress(RuntimeError):  # no workspace before initialize
        workspace = ls.workspace
        roots = [workspace.root_path, *(to_fs_path(f.uri) for f in workspace.folders.values())]
        candidates += [Path(root) / path for root in roots if root]
    for candidate in candidates:
        uri = candidate.resolve().as_uri()
        if uri in store:
            return uri
    return None


def _range_dict(rng: types.Range) -> dict[str, dict[str, int]]:
    return {
        "start": {"line": rng.start.line, "character": rng.start.character},
        "end": {"line": rng.end.line, "character": rng.end.character},
    }


def _publish(
    ls: CodehearthServer,
    service: AssistService,
    outcome: ReviewOutcome,
    uris: dict[str, str],
    lines: tuple[int, int] | None,
) -> ReviewResult:
    """Publish diagnostics for every open document the review covered (empty lists too,
    so stale findings clear) and build the command's result."""
    by_uri: dict[str, list[types.Diagnostic]] = {uri: [] for uri in set(uris.values())}
    snaps = {}
    for uri in by_uri:
        doc = ls.runtime.store.get(uri)
        if doc is not None:
            snaps[uri] = doc.snapshot()
    findings: list[LocatedFinding] = []
    reasons = dict(outcome.dropped_reasons)
    for placed in outcome.placed:
        uri = uris.get(placed.key)
        snap = snaps.get(uri) if uri is not None else None
        diagnostic = to_diagnostic(placed, snap) if snap is not None else None
        if uri is not None and diagnostic is None:
            reasons["stale"] = reasons.get("stale", 0) + 1  # closed, or edited since
            continue
        if uri is not None and diagnostic is not None:
            by_uri[uri].append(diagnostic)
        rng = _range_dict(diagnostic.range) if diagnostic is not None else None
        path = placed.key if outcome.target.kind == "diff" else None
        located = LocatedFinding(**placed.finding.model_dump(), uri=uri, path=path, range=rng)
        findings.append(located)
    for uri, diagnostics in by_uri.items():
        snap = snaps.get(uri)
        if snap is None:
            continue
        merged = service.merge_diagnostics(uri, snap.version, diagnostics, lines)
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=merged, version=snap.version)
        )
    return ReviewResult(
        findings=findings,
        dropped=sum(reasons.values()),
        dropped_reasons=reasons,
        truncated=outcome.truncated,
        stop_reason=outcome.stop_reason,
        cancelled=outcome.cancelled,
        notice=outcome.notice,
    )


async def _review(ls: CodehearthServer, args: tuple[Any, ...]) -> dict[str, Any]:
    a = parse_argument(ReviewArgs, REVIEW, args)
    service = _service(ls)
    lines: tuple[int, int] | None = None
    if a.uri is not None:
        with lsp_errors(ls):
            snap, start, end = resolve_range(ls.runtime.store, a.uri, a.range)
        target = document_review_target(snap, start, end, whole=a.range is None)
        uris = {a.uri: a.uri}
        if a.range is not None and target.where:
            lines = (target.where[0][1], target.where[-1][1])  # type: ignore[index]
        key = f"review:{a.uri}"
    else:
        target = diff_target(a.diff or "")
        paths = {w[0] for w in target.where if w is not None}
        uris = {p: u for p in paths if (u := _open_uri_for(ls, p)) is not None}
        key = "review:diff"
    stream = _stream(ls, REVIEW, a.stream_id)
    active = service.begin(str(stream.id))
    outcome = await _streamed(
        ls, service, stream, active, lambda: service.review(a, target, key, active)
    )
    result = _publish(ls, service, outcome, uris, lines)
    stream.end(outcome.stop_reason, cancelled=outcome.cancelled)
    return result.dump()


def _code_actions(ls: CodehearthServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    only = params.context.only
    quickfix = types.CodeActionKind.QuickFix.value
    if only and not any(quickfix.startswith(str(getattr(kind, "value", kind))) for kind in only):
        return []  # the client asked for kinds (refactor, source...) we do not offer
    ours = [
        d
        for d in params.context.diagnostics
        if d.source == SOURCE and d.data is not None and ranges_overlap(d.range, params.range)
    ]
    uri = params.text_document.uri
    doc = ls.runtime.store.get(uri)
    if not ours or doc is None:
        return []
    snap = doc.snapshot()
    return [a for d in ours if (a := quick_fix(uri, snap, d)) is not None]


def register(server: CodehearthServer) -> None:
    capture_work_done_tokens(server)

    @server.command(EXPLAIN)
    async def explain(ls: CodehearthServer, *args: Any) -> dict[str, Any]:
        return await _explain(ls, args)

    @server.command(CHAT)
    async def chat(ls: CodehearthServer, *args: Any) -> dict[str, Any]:
        return await _chat(ls, args)

    @server.command(CHAT_RESET)
    def chat_reset(ls: CodehearthServer, *args: Any) -> dict[str, Any]:
        a = parse_argument(SessionArgs, CHAT_RESET, args)
        existed = AssistService.for_runtime(ls.runtime).reset(a.session)
        return {"session": a.session, "reset": existed}

    @server.command(CHAT_DEBUG_PROMPT)
    def chat_debug_prompt(ls: CodehearthServer, *args: Any) -> dict[str, Any] | None:
        a = parse_argument(SessionArgs, CHAT_DEBUG_PROMPT, args)
        service = AssistService.for_runtime(ls.runtime)
        if not service.debug_prompts:
            raise RequestFailed(
                f"{CHAT_DEBUG_PROMPT} is disabled: it returns user code. Enable it with "
                "initializationOptions.logContent = true or CODEHEARTH_DEBUG_PROMPTS=1"
            )
        record = service.prompt_record(a.session)
        return record.dump() if record is not None else None

    @server.command(CANCEL)
    def cancel(ls: CodehearthServer, *args: Any) -> dict[str, Any]:
        a = parse_argument(CancelArgs, CANCEL, args)
        hit = AssistService.for_runtime(ls.runtime).cancel(session=a.session, stream_id=a.stream_id)
        return {"cancelled": hit}

    @server.command(REVIEW)
    async def review(ls: CodehearthServer, *args: Any) -> dict[str, Any]:
        return await _review(ls, args)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    def code_action(ls: CodehearthServer, params: types.CodeActionParams):
        return _code_actions(ls, params)
