"""Explain, chat and review end to end: real server process, real LSP client, real SmolLM2."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from .harness import (
    apply_text_edits,
    cancel_request,
    execute,
    send_execute,
    wait_for,
    watch_assist,
)

DATA = Path(__file__).parent.parent / "data"
INIT = {"completion": {"temperature": 0.0}, "logContent": True}
QUICK = {"max_tokens": 24, "temperature": 0.0}
# Each test runs once per recorded editor capability set (capabilities/).
pytestmark = pytest.mark.editors()

BUGGY = """def average(values):
    total = 0
    for v in values:
        total += v
    return total / len(values) + 1


def find(items, key):
    for i in range(len(items) + 1):
        if items[i] == key:
            return i
    return -1
"""


def _range(start_line: int, end_line: int) -> dict:
    return {
        "start": {"line": start_line, "character": 0},
        "end": {"line": end_line, "character": 0},
    }


async def _start(server_factory, *args: str, init=INIT):
    session = await server_factory(*args, init_options=init)
    commands = session.init_result.capabilities.execute_command_provider.commands
    assert "codehearth.explain" in commands, "lsp/assist.py is not registered in lsp/app.py"
    return session, watch_assist(session)


async def test_explain_streams_progress_then_returns_markdown(server_factory):
    session, events = await _start(server_factory)
    uri = session.open_file(DATA / "inventory.py")
    lines = (DATA / "inventory.py").read_text().splitlines()
    first = lines.index("    def save(self, path: Path) -> None:")
    arg = {"uri": uri, "range": _range(first, first + 3), "sampling": QUICK}

    result = await execute(session, "codehearth.explain", arg, work_done_token="explain-1")
    assert result["markdown"].strip()
    progress = [p for p in events.of("progress") if p["token"] == "explain-1"]
    kinds = [p["value"]["kind"] for p in progress]
    assert kinds[0] == "begin" and kinds[-1] == "end"
    assert "report" in kinds[1:-1], "partial text must stream before the end"
    reports = [p["value"] for p in progress if p["value"]["kind"] == "report"]
    streamed = "".join(value.get("message") or "" for value in reports)
    assert streamed.strip() == result["markdown"]

    # Without a workDoneToken the text streams as codehearth/stream notifications.
    arg["streamId"] = "explain-2"
    result = await execute(session, "codehearth.explain", arg)
    notes = [n for n in events.of("stream") if n["id"] == "explain-2"]
    assert len(notes) >= 2 and notes[-1]["done"] is True
    assert not any(n["done"] for n in notes[:-1])
    assert "".join(n.get("delta", "") for n in notes).strip() == result["markdown"]


async def test_chat_keeps_history_across_turns(server_factory):
    session, _ = await _start(server_factory)
    uri = session.open_file(DATA / "inventory.py")
    first = await execute(
        session,
        "codehearth.chat",
        {
            "message": "My favourite fruit is mango. Say hello.",
            "sampling": QUICK,
            "uri": uri,
            "range": _range(7, 12),
        },
    )
    sid = first["session"]
    assert sid and first["reply"]
    second = await execute(
        session,
        "codehearth.chat",
        {"session": sid, "message": "Which fruit do I like?", "sampling": QUICK},
    )
    assert second["session"] == sid
    record = await execute(session, "codehearth.chat.debugPrompt", {"session": sid})
    contents = [m["content"] for m in record["messages"]]
    assert "My favourite fruit is mango. Say hello." in contents
    assert first["reply"] in contents
    assert contents[-1] == "Which fruit do I like?"
    assert "class Item" in record["messages"][0]["content"], "attached code stays in the prompt"
    assert record["droppedTurns"] == 0

    reset = await execute(session, "codehearth.chat.reset", {"session": sid})
    assert reset["reset"] is True
    assert await execute(session, "codehearth.chat.debugPrompt", {"session": sid}) is None


LONG = {"max_tokens": 400, "temperature": 0.8}
STORY = "Write a very long story about a dragon who learns to program. Use many chapters."


async def test_cancel_stops_generation(server_factory):
    session, events = await _start(server_factory)

    # codehearth.cancel: the request returns what was generated so far.
    task = asyncio.ensure_future(
        execute(
            session,
            "codehearth.chat",
            {"session": "c1", "message": STORY, "sampling": LONG, "streamId": "c1"},
        )
    )
    await wait_for(lambda: any(n["id"] == "c1" for n in events.of("stream")))
    assert (await execute(session, "codehearth.cancel", {"session": "c1"}))["cancelled"]
    result = await task
    assert result["cancelled"] is True
    last = (await session.status())["counters"]["last"]
    assert last["stop_reason"] == "cancelled"
    assert last["generated_tokens"] < LONG["max_tokens"]

    # $/cancelRequest: pygls answers RequestCancelled and the job stops too.
    cancelled_before = (await session.status())["counters"]["cancelled"]
    pending = send_execute(
        session,
        "codehearth.chat",
        {"session": "c2", "message": STORY, "sampling": LONG, "streamId": "c2"},
        "req-c2",
    )
    await wait_for(lambda: any(n["id"] == "c2" for n in events.of("stream")))
    cancel_request(session, "req-c2")
    with pytest.raises(JsonRpcException):
        await asyncio.wait_for(pending, 30)

    async def stopped() -> dict:
        status = await session.status()
        return status["counters"]

    for _ in range(100):
        counters = await stopped()
        if counters["cancelled"] > cancelled_before:
            break
        await asyncio.sleep(0.05)
    assert counters["cancelled"] > cancelled_before
    assert counters["last"]["stop_reason"] == "cancelled"
    assert counters["last"]["generated_tokens"] < LONG["max_tokens"]
    # Still serving.
    again = await execute(session, "codehearth.chat", {"message": "Hi", "sampling": QUICK})
    assert again["session"]


def _check_in_range(diagnostics: list[types.Diagnostic], text: str) -> None:
    lines = text.split("\n")
    for d in diagnostics:
        assert d.source == "codehearth"
        assert 0 <= d.range.start.line <= d.range.end.line < len(lines)
        assert d.range.start.character == 0
        assert d.range.end.character == len(lines[d.range.end.line])


async def test_review_publishes_diagnostics_and_quick_fixes_apply(server_factory, tmp_path):
    session, events = await _start(server_factory)
    path = tmp_path / "buggy.py"
    path.write_text(BUGGY)
    uri = session.open_file(path)
    # Greedy, then sampled: published findings are grounded (assist/grounding.py), and the
    # embedded model rarely suggests a grounded fix.
    fixable = None
    for temperature in (0.0, 0.5):
        sampling = {"temperature": temperature, "repeat_penalty": 1.2}
        result = await execute(session, "codehearth.review", {"uri": uri, "sampling": sampling})
        await wait_for(lambda: uri in events.diagnostics)
        published = events.diagnostics[uri]
        assert len(published) == len(result["findings"])
        _check_in_range(published, BUGGY)
        for finding in result["findings"]:
            assert finding["severity"] in {"error", "warning", "info", "hint"}
            assert finding["range"]["start"]["line"] == finding["line"] - 1
        fixable = [d for d in published if d.data and d.data.get("replacement") is not None]
        if fixable:
            break
        events.diagnostics.pop(uri)
    if not fixable:
        # The quick fix needs no server state: a client sends the diagnostic back, data
        # included. So one in the shape the server publishes (lsp/diagnostics.py) tests
        # the same code action path when the model suggested no fix.
        line = BUGGY.split("\n")[4]
        published = [
            types.Diagnostic(
                range=types.Range(
                    start=types.Position(line=4, character=0),
                    end=types.Position(line=4, character=len(line)),
                ),
                message="`+ 1` makes the average one too big",
                source="codehearth",
                code="review",
                data={"version": 1, "replacement": line.replace(" + 1", ""), "original": line},
            )
        ]
        fixable = published

    target = fixable[0]
    actions = await session.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=target.range,
            context=types.CodeActionContext(diagnostics=published),
        )
    )
    assert actions, "a finding with a replacement offers a quick fix"
    refactors = await session.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=target.range,
            context=types.CodeActionContext(
                diagnostics=published, only=[types.CodeActionKind.Refactor]
            ),
        )
    )
    assert not refactors
    action = actions[0]
    assert action.kind == types.CodeActionKind.QuickFix
    edits = action.edit.changes[uri]
    fixed = apply_text_edits(BUGGY, edits)
    original_lines = BUGGY.split("\n")
    first, last = target.range.start.line, target.range.end.line
    expected = "\n".join(
        [*original_lines[:first], target.data["replacement"], *original_lines[last + 1 :]]
    )
    assert fixed == expected

    # After the text changed there, the old diagnostic's fix is no longer offered.
    end_char = len(original_lines[last])
    session.change(uri, first, 0, "# edited\n", end=(last, end_char))
    stale = await session.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=target.range,
            context=types.CodeActionContext(diagnostics=[target]),
        )
    )
    assert not stale


async def test_review_without_findings_clears_diagnostics(server_factory, tmp_path):
    session, events = await _start(server_factory)
    path = tmp_path / "shrinking.py"
    path.write_text(BUGGY)
    uri = session.open_file(path)
    quick = {"temperature": 0.0, "repeat_penalty": 1.2, "max_tokens": 96}
    await execute(session, "codehearth.review", {"uri": uri, "sampling": quick})
    await wait_for(lambda: uri in events.diagnostics)
    # The file loses its code: a new review finds nothing and clears what was there.
    last = BUGGY.count("\n")
    session.change(uri, 0, 0, "\n\n", end=(last, 0))
    events.diagnostics.pop(uri)
    result = await execute(session, "codehearth.review", {"uri": uri})
    assert result["findings"] == []
    await wait_for(lambda: uri in events.diagnostics)
    assert events.diagnostics[uri] == []

    # A diff review publishes for the open files it touches, with lines of the new file.
    changed = tmp_path / "changed.py"
    changed.write_text("import os\nx = 1 / 0\nprint(x)\n")
    changed_uri = session.open_file(changed)
    diff = f"--- a/{changed}\n+++ b/{changed}\n@@ -1,2 +1,3 @@\n import os\n+x = 1 / 0\n print(x)\n"
    result = await execute(session, "codehearth.review", {"diff": diff, "sampling": quick})
    await wait_for(lambda: changed_uri in events.diagnostics)
    _check_in_range(events.diagnostics[changed_uri], changed.read_text())
    located = [f for f in result["findings"] if f.get("uri") is not None]
    assert len(located) == len(events.diagnostics[changed_uri])
    for finding in located:
        assert finding["uri"] == changed_uri and finding["path"] == str(changed)
        assert 0 <= finding["range"]["start"]["line"] <= 2


MALFORMED = [
    ("codehearth.explain", None, "expected exactly one argument"),
    ("codehearth.explain", {"uri": 5}, "uri"),
    ("codehearth.explain", {"uri": "file:///nowhere.py", "range": _range(0, 1)}, "not open"),
    ("codehearth.explain", {"uri": "OPEN", "range": _range(900, 901)}, "outside"),
    ("codehearth.explain", {"uri": "OPEN", "range": _range(3, 1)}, "before its start"),
    ("codehearth.chat", {"session": "x"}, "message"),
    ("codehearth.chat", {"message": "hi", "sampling": {"temperature": -1}}, "temperature"),
    ("codehearth.chat", {"message": "hi", "range": _range(0, 1)}, "uri"),
    ("codehearth.chat", "just a string", "must be an object"),
    ("codehearth.review", {"uri": "OPEN", "diff": "x"}, "exactly one"),
    ("codehearth.review", {"uri": "OPEN", "bogus": 1}, "bogus"),
    ("codehearth.cancel", {}, "session"),
    ("codehearth.chat.reset", {"session": "bad id with spaces"}, "session"),
    ("codehearth.chat.debugPrompt", {"session": "x"}, "disabled"),
]


async def test_malformed_arguments_get_errors_and_server_keeps_serving(server_factory):
    session, _ = await _start(
        server_factory, "--log-level", "debug", init={"completion": {"temperature": 0.0}}
    )
    uri = session.open_file(DATA / "inventory.py")
    for command, argument, expected in MALFORMED:
        if isinstance(argument, dict):
            argument = {k: (uri if v == "OPEN" else v) for k, v in argument.items()}
        arguments = [] if argument is None else [argument]
        with pytest.raises(JsonRpcException) as info:
            await execute(session, command, *arguments)
        assert expected in info.value.message, (command, info.value.message)

    # Still serving; and what users send never reaches the logs.
    secret = "zebra_secret_identifier_4711"
    session.open("file:///tmp/secret.py", f"def {secret}():\n    return 1\n")
    arg = {"uri": "file:///tmp/secret.py", "range": _range(0, 1), "sampling": QUICK}
    assert (await execute(session, "codehearth.explain", arg))["markdown"] is not None
    reply = await execute(
        session, "codehearth.chat", {"message": f"What is {secret}?", "sampling": QUICK}
    )
    assert reply["session"]
    review = {"uri": "file:///tmp/secret.py", "sampling": {"max_tokens": 64}}
    await execute(session, "codehearth.review", review)
    assert (await session.status())["state"] == "ready"
    await session.stop()
    assert secret not in session.stderr.decode(errors="replace")
    assert all(secret not in m.message for m in session.log_messages)
