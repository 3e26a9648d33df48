"""The relay's memory of its editor (shared/replay.py) and its framing (shared/wire.py)."""

from __future__ import annotations

import io
import json

from codehearth.shared.replay import EditorState
from codehearth.shared.wire import FrameReader, encode


def _request(id_, method, params):
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": params}


def _notify(method, params):
    return {"jsonrpc": "2.0", "method": method, "params": params}


def _change(uri, version, start, end, text):
    span = {"start": dict(zip(("line", "character"), start, strict=True)),
            "end": dict(zip(("line", "character"), end, strict=True))}  # fmt: skip
    return _notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": version},
         "contentChanges": [{"range": span, "text": text}]},
    )  # fmt: skip


def test_replay_brings_a_new_engine_to_the_documents_as_typed():
    state = EditorState()
    state.from_editor(_request(1, "initialize", {"initializationOptions": {"x": 1}}), True)
    state.from_engine({"jsonrpc": "2.0", "id": 1, "result": {}})
    state.from_editor(_notify("initialized", {}), True)
    item = {"uri": "file:///a.py", "languageId": "python", "version": 1, "text": "a = 1\n😀 = 2\n"}
    state.from_editor(_notify("textDocument/didOpen", {"textDocument": item}), True)
    # UTF-16 columns: the emoji is two code units.
    state.from_editor(_change("file:///a.py", 2, (1, 2), (1, 2), "x"), True)
    state.from_editor(_change("file:///a.py", 3, (0, 4), (0, 5), "42"), True)
    closed = {"uri": "file:///b.py", "languageId": "python", "version": 1, "text": "b"}
    state.from_editor(_notify("textDocument/didOpen", {"textDocument": closed}), True)
    gone = {"textDocument": {"uri": "file:///b.py"}}
    state.from_editor(_notify("textDocument/didClose", gone), True)

    replay = state.replay()
    assert [m["method"] for m in replay] == ["initialize", "initialized", "textDocument/didOpen"]
    assert replay[0]["params"] == {"initializationOptions": {"x": 1}}
    assert replay[0]["id"] == state.replay_id != 1
    typed = {**item, "version": 3, "text": "a = 42\n😀x = 2\n"}
    assert replay[2]["params"]["textDocument"] == typed
    # The answer to the replayed initialize is the relay's, not the editor's.
    assert state.from_engine({"jsonrpc": "2.0", "id": state.replay_id, "result": {}}) is False


def test_what_the_dead_engine_held_is_failed_and_its_requests_forgotten():
    state = EditorState()
    assert state.from_editor(_request(7, "textDocument/inlineCompletion", {}), True) == "forward"
    assert state.from_editor(_request(8, "workspace/executeCommand", {}), True) == "forward"
    state.from_engine({"jsonrpc": "2.0", "id": 8, "result": None})
    state.from_engine(_request("srv-1", "window/workDoneProgress/create", {}))
    assert state.engine_lost() == [7]
    # The editor's late answer to the dead engine's request must not reach the next one.
    assert state.from_editor({"jsonrpc": "2.0", "id": "srv-1", "result": None}, True) == "drop"
    # While no engine runs, requests are answered by the relay; notifications only recorded.
    assert state.from_editor(_request(9, "shutdown", None), False) == "local"
    assert state.from_editor(_notify("exit", None), False) == "drop"
    assert state.shutdown and state.exited


def test_frames_come_out_whole_with_their_exact_bytes():
    first = encode({"jsonrpc": "2.0", "method": "a", "params": {"s": "\u00e9"}})
    # A lone surrogate escape is passed on as sent (the engine's JSON is lenient about it).
    odd = b'{"jsonrpc":"2.0","method":"b","params":{"s":"\\ud800"}}'
    second = b"Content-Length: %d\r\n\r\n" % len(odd) + odd
    garbage = b"Not-A-Header: 1\r\n\r\n"
    stream = io.BytesIO(first + second + garbage)
    reader = FrameReader(lambda n: stream.read(min(n, 7)))  # tiny reads: split anywhere
    frames = [reader.next(), reader.next(), reader.next()]
    assert reader.next() is None and reader.eof
    assert [f.raw for f in frames] == [first, second, garbage]
    assert frames[0].message == json.loads(first.split(b"\r\n\r\n", 1)[1])
    assert frames[1].message is not None and frames[1].message["method"] == "b"
    assert frames[2].message is None


def test_malformed_ids_and_methods_are_passed_on_untracked():
    # A fuzzer's request id that is a dict once stopped the relay's editor reader.
    state = EditorState()
    assert state.from_editor(_request({"x": 1}, "codehearth/x", {}), connected=True) == "forward"
    assert state.from_editor(_request([1], "shutdown", None), connected=True) == "forward"
    assert state.from_editor({"jsonrpc": "2.0", "id": 3, "method": 5}, connected=True) == "forward"
    assert state.from_editor({"jsonrpc": "2.0", "id": {"a": 1}}, connected=True) == "drop"
    assert state.from_editor(_request(True, "x/y", {}), connected=True) == "forward"
    assert state.pending == {}
    # Well-formed requests are still tracked.
    assert state.from_editor(_request(7, "textDocument/hover", {}), connected=True) == "forward"
    assert state.pending == {7: "textDocument/hover"}
