"""Hostile LSP traffic against one real `codehearth serve` process (docs/reliability.md).

Hypothesis generates batches of messages up front (derandomized: the same traffic on every
run); one server process then gets every batch through the bare JSON-RPC client. A batch is
sent without waiting (notifications and requests interleaved), then all of its requests'
answers are awaited together.

Pass: the process never exits, every request id gets a response, the responses we can
predict are the right ones (a valid completion on a document whose text we know is a
result, a position out of range or an unopened document is InvalidParams, an unknown method
is MethodNotFound), no engine job fails, and afterwards a normal completion on a fresh
document returns a proper result.

The smaller tests at the end pin down, one by one, the failures the fuzz found.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .raw_client import RawLspClient

INIT = {"completion": {"maxTokensSingle": 2, "maxTokensMulti": 2, "temperature": 0}}
MIN_MESSAGES = 10_000
EXAMPLES = 170  # batches; ~65 messages each
BATCH_TIMEOUT = 60.0

INVALID_PARAMS = -32602
METHOD_NOT_FOUND = -32601
REQUEST_CANCELLED = -32800

INLINE = "textDocument/inlineCompletion"
LINE_BREAK = re.compile(r"\r\n|\r|\n")  # the server's (and LSP's) line breaks, no others
SLOTS = 12
LANGS = {
    "python": "py",
    "rust": "rs",
    "javascript": "js",
    "go": "go",
    "c": "c",
    "lua": "lua",
    "zzlang": "zz",  # no grammar
    "": "txt",  # no language at all
    "plaintext": "txt",
}
KNOWN_METHODS = [
    INLINE,
    "workspace/executeCommand",
    "textDocument/didOpen",
    "textDocument/didChange",
    "textDocument/didClose",
    "$/cancelRequest",
    "$/setTrace",
    "window/workDoneProgress/cancel",
    "workspace/didChangeWorkspaceFolders",
    "notebookDocument/didOpen",
    "initialized",
]
# Real LSP methods this server does not implement: requests get an error (InvalidParams
# when pygls checks their params first). Invented names must get MethodNotFound. The fuzz
# never sends initialize, shutdown or exit: they end or restart the session (test_lifecycle).
UNIMPLEMENTED_LSP = [
    "textDocument/hover",
    "textDocument/completion",
    "textDocument/definition",
    "textDocument/formatting",
    "workspace/symbol",
]
UNIMPLEMENTED = [*UNIMPLEMENTED_LSP, "codehearth/whatever", "$/unknownRequest"]


def uri_of(slot: int, lang: str) -> str:
    return f"file:///fuzz/doc{slot}.{LANGS[lang]}"


def utf16_len(text: str) -> int:
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def split_lines(text: str) -> list[str]:
    return LINE_BREAK.split(text)


# --- strategies -----------------------------------------------------------------------------

CODE_PIECES = [
    "def ", "return ", "class ", "fn ", "let ", "if ", "for ", "x", "y1", "_v", " = ", "(",
    ")", ":", "{", "}", ";", ",", ".", "    ", "\t", "#", "//", "'", '"', "0", "42", "é",
    "ß", "中", "😀", "🎉", "𝔘", "\u200b", "\x0c", "\u2028", "\x1c", "\\",
]  # fmt: skip
code_line = st.lists(st.sampled_from(CODE_PIECES), max_size=14).map("".join)
line_ending = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def code_text(draw) -> str:
    lines = draw(st.lists(st.tuples(code_line, line_ending), max_size=30))
    tail = draw(code_line)
    return "".join(a + b for a, b in lines) + tail


# Any code point: NULs, controls, lone surrogates (sent as JSON escapes), astral characters.
any_char = st.one_of(
    st.characters(exclude_categories=()),
    st.sampled_from(["\x00", "\ud83d", "\ude00", "\udfff", "\ud800", "\r", "\n", "😀"]),
)
blob_text = st.text(alphabet=any_char, max_size=300)
any_text = st.one_of(code_text(), blob_text)

big_int = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([-1, -(2**31), 2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**63, 10**30]),
)

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    big_int,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=any_char, max_size=20),
)
# Keys that LSP params use, so structuring gets further than the first field; "jsonrpc"
# too: a nested object that looks like a message is still just data.
json_key = st.one_of(
    st.sampled_from(
        ["textDocument", "uri", "position", "line", "character", "context", "triggerKind",
         "contentChanges", "range", "start", "end", "text", "version", "command",
         "arguments", "id", "method", "params", "languageId", "items", "jsonrpc"]
    ),
    st.text(max_size=8),
)  # fmt: skip
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(json_key, inner, max_size=4)
    ),
    max_leaves=12,
)


@dataclass(frozen=True)
class Act:
    """One generated action; the sender turns it into one or more wire messages."""

    kind: str
    slot: int = 0
    lang: str = "python"
    text: str = ""
    a: Any = None
    b: Any = None


# Completion requests: at a valid position of a known document (the text may have changed
# since, then anything but silence is fine), between the two UTF-16 units of an astral
# character, past the end of a line or the document, negative, huge, non-integers.
complete_act = st.builds(
    Act,
    st.sampled_from(["complete", "open_complete"]),  # open_complete: didOpen first
    st.integers(0, SLOTS - 1),
    st.sampled_from(list(LANGS)),
    any_text,
    a=st.sampled_from(
        ["valid", "valid", "valid", "split", "past_line", "past_doc", "negative", "huge", "raw"]
    ),
    b=st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), big_int, json_leaf),
)
acts = st.one_of(
    complete_act,
    # Open a document whose text the client then knows.
    st.builds(
        Act, st.just("open"), st.integers(0, SLOTS - 1), st.sampled_from(list(LANGS)), any_text
    ),
    complete_act,
    # Several changes in one didChange: overlapping, out of order, reversed, past the end,
    # negative, huge, full replacements in between.
    st.builds(
        Act,
        st.just("change"),
        st.integers(0, SLOTS - 1),
        a=st.lists(
            st.one_of(
                st.tuples(big_int, big_int, big_int, big_int, any_text),
                st.tuples(
                    st.integers(0, 40), st.integers(0, 80), st.integers(0, 40),
                    st.integers(0, 80), any_text,
                ),
                st.tuples(st.none(), st.none(), st.none(), st.none(), any_text),
            ),
            min_size=1,
            max_size=6,
        ),
    ),
    st.builds(Act, st.just("close"), st.integers(0, SLOTS - 1)),
    st.builds(Act, st.just("unopened"), text=st.text(max_size=30), b=st.tuples(big_int, big_int)),
    st.builds(
        Act,
        st.just("unknown"),
        text=st.one_of(
            st.sampled_from(UNIMPLEMENTED),
            st.text(min_size=1, max_size=30).map(lambda s: "fuzz/" + s),
            st.text(max_size=20).map(lambda s: "$/" + s),
        ),
        a=st.booleans(),  # request (True) or notification
        b=json_value,
    ),
    st.builds(
        Act, st.just("malformed"), text=st.sampled_from(KNOWN_METHODS), a=st.booleans(),
        b=json_value,
    ),
    st.builds(
        Act,
        st.just("invalid_utf8"),
        st.integers(0, SLOTS - 1),
        st.sampled_from(list(LANGS)),
        code_text(),
        a=st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"]),
        b=st.sampled_from(["open", "change"]),
    ),
    st.builds(Act, st.just("status"), b=st.lists(json_value, max_size=3)),
    # A request whose body is not valid UTF-8 (in a URI, in a command argument).
    st.builds(
        Act,
        st.just("invalid_utf8_request"),
        st.integers(0, SLOTS - 1),
        text=st.text(max_size=10),
        a=st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\x80\x80"]),
        b=st.sampled_from(["inline", "status"]),
    ),
    st.builds(Act, st.just("cancel"), a=st.one_of(st.just("previous"), json_value)),
    st.builds(
        Act,
        st.just("garbage"),
        a=st.sampled_from(
            ["array", "number", "string", "null", "nojsonrpc", "v1", "response", "error",
             "null_id", "float_id", "object_id", "empty"]
        ),
        text=st.text(alphabet=any_char, max_size=40),
    ),
)  # fmt: skip
batch = st.lists(acts, min_size=55, max_size=75)


def generate_batches() -> list[list[Act]]:
    batches: list[list[Act]] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(batch)
    def collect(acts: list[Act]) -> None:
        batches.append(acts)

    collect()
    return batches


# --- sending --------------------------------------------------------------------------------


@dataclass
class Pending:
    msg_id: int
    act: Act
    # "any", "error", "result", "result_or_cancelled", "invalid_params", "method_not_found"
    expect: str
    future: asyncio.Future
    params: Any = None


CLOSED = "closed"  # not open on the server (or never opened)
UNKNOWN = "unknown"  # open or not, text unknown: any answer will do


@dataclass(frozen=True)
class Known:
    text: str


@dataclass
class Fuzzer:
    """Sends acts and tracks, per URI, what the server must hold (when the client can tell)."""

    client: RawLspClient
    state: dict[str, Known | str] = field(default_factory=dict)
    langs: dict[int, str] = field(default_factory=dict)
    messages: int = 0
    next_id: int = 1_000_000
    counts: dict[str, int] = field(default_factory=dict)

    async def raw(self, payload: bytes) -> None:
        await self.client.send_bytes(b"Content-Length: %d\r\n\r\n" % len(payload) + payload)
        self.messages += 1

    async def notify(self, method: str, params: Any) -> None:
        await self.client.send({"jsonrpc": "2.0", "method": method, "params": params})
        self.messages += 1

    async def request(self, method: str, params: Any, act: Act | None, expect: str) -> Pending:
        self.next_id += 1
        msg_id = self.next_id
        future = asyncio.get_running_loop().create_future()
        self.client._waiters[msg_id] = future
        await self.client.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        self.messages += 1
        return Pending(msg_id, act or Act("direct"), expect, future, params)

    def uri(self, slot: int) -> str:
        return uri_of(slot, self.langs.get(slot, "python"))

    async def send(self, act: Act, sent: list[Pending]) -> None:
        self.counts[act.kind] = self.counts.get(act.kind, 0) + 1
        await getattr(self, f"_{act.kind}")(act, sent)

    async def _open(self, act: Act, sent: list[Pending]) -> None:
        self.langs[act.slot] = act.lang
        uri = self.uri(act.slot)
        doc = {"uri": uri, "languageId": act.lang, "version": 1, "text": act.text}
        await self.notify("textDocument/didOpen", {"textDocument": doc})
        self.state[uri] = Known(act.text)

    async def _open_complete(self, act: Act, sent: list[Pending]) -> None:
        await self._open(act, sent)
        await self._complete(act, sent)

    async def _complete(self, act: Act, sent: list[Pending]) -> None:
        uri = self.uri(act.slot)
        known = self.state.get(uri, CLOSED)
        i, j, big, leaf = act.b
        mode = act.a
        if mode in ("negative", "huge", "raw"):
            if mode == "negative":
                line, char = (-1 - i % 5, j % 3) if j % 2 else (j % 3, -1 - i % 5)
            elif mode == "huge":
                line, char = (big, big) if big >= 2**31 else (2**31 + i, 0)
            else:
                line, char = leaf, leaf
            expect = "any" if mode == "raw" else "invalid_params"
        elif not isinstance(known, Known):
            line, char = i % 50, j % 90
            expect = "invalid_params" if known == CLOSED else "any"
        else:
            line, char, expect = self._position(known.text, mode, i, j)
        sent.append(await self.request(INLINE, inline_params(uri, line, char), act, expect))

    @staticmethod
    def _position(text: str, mode: str, i: int, j: int) -> tuple[int, int, str]:
        lines = split_lines(text)
        line = i % len(lines)
        width = utf16_len(lines[line])
        if mode == "past_line":
            return line, width + 1 + j % 3, "invalid_params"
        if mode == "past_doc":
            return len(lines) + i % 3, 0, "invalid_params"
        if mode == "split":  # between the two UTF-16 units of an astral character
            astral = [
                (n, utf16_len(ln[:k]) + 1)
                for n, ln in enumerate(lines)
                for k, ch in enumerate(ln)
                if ord(ch) > 0xFFFF
            ]
            if astral:
                line, char = astral[i % len(astral)]
                return line, char, "result"
        return line, j % (width + 1), "result"

    async def _change(self, act: Act, sent: list[Pending]) -> None:
        uri = self.uri(act.slot)
        changes = []
        for sl, sc, el, ec, text in act.a:
            if sl is None:
                changes.append({"text": text})
            else:
                rng = {"start": {"line": sl, "character": sc}, "end": {"line": el, "character": ec}}
                changes.append({"range": rng, "text": text})
        params = {"textDocument": {"uri": uri, "version": 2}, "contentChanges": changes}
        await self.notify("textDocument/didChange", params)
        if isinstance(self.state.get(uri), Known):
            self.state[uri] = UNKNOWN  # still open; a bad range may stop the batch midway

    async def _close(self, act: Act, sent: list[Pending]) -> None:
        uri = self.uri(act.slot)
        await self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        self.state[uri] = CLOSED

    async def _unopened(self, act: Act, sent: list[Pending]) -> None:
        uri = "file:///never/opened/" + act.text
        line, char = act.b
        sent.append(
            await self.request(INLINE, inline_params(uri, line, char), act, "invalid_params")
        )

    async def _unknown(self, act: Act, sent: list[Pending]) -> None:
        if act.a:
            # Params of a real LSP method are checked first: InvalidParams is fine there.
            expect = "error" if act.text in UNIMPLEMENTED_LSP else "method_not_found"
            sent.append(await self.request(act.text, act.b, act, expect))
        else:
            await self.notify(act.text, act.b)

    async def _malformed(self, act: Act, sent: list[Pending]) -> None:
        # Random params name random URIs, never the fuzz documents': their state stands.
        if act.a and act.text not in ("$/cancelRequest", "initialized"):
            sent.append(await self.request(act.text, act.b, act, "any"))
        else:
            await self.notify(act.text, act.b)

    async def _invalid_utf8(self, act: Act, sent: list[Pending]) -> None:
        uri = uri_of(act.slot, act.lang).encode()
        escaped = json.dumps(act.text)[1:-1].encode()
        text = escaped[:20] + act.a + escaped[20:]
        if act.b == "open":
            head = b'{"textDocument": {"uri": "%s", "languageId": "%s", "version": 1, '
            params = head % (uri, act.lang.encode()) + b'"text": "%s"}}' % text
            method = b"textDocument/didOpen"
        else:
            params = b'{"textDocument": {"uri": "%s", "version": 3}, ' % uri
            params += b'"contentChanges": [{"text": "%s"}]}' % text
            method = b"textDocument/didChange"
        await self.raw(b'{"jsonrpc": "2.0", "method": "%s", "params": %s}' % (method, params))
        # Dropped as a whole, except that UTF-8-encoded surrogates (ED A0 80) decode.
        if act.b == "open" or isinstance(self.state.get(uri.decode()), Known):
            self.state[uri.decode()] = UNKNOWN

    async def _invalid_utf8_request(self, act: Act, sent: list[Pending]) -> None:
        self.next_id += 1
        msg_id = self.next_id
        junk = json.dumps(act.text)[1:-1].encode() + act.a
        if act.b == "inline":
            uri = self.uri(act.slot).encode() + junk
            params = (
                b'{"textDocument": {"uri": "%s"}, "position": {"line": 0, "character": 0},' % uri
            )
            params += b' "context": {"triggerKind": 2}}'
            method = INLINE.encode()
        else:
            params = b'{"command": "codehearth.status", "arguments": ["%s"]}' % junk
            method = b"workspace/executeCommand"
        body = b'{"jsonrpc": "2.0", "id": %d, "method": "%s", "params": %s}' % (
            msg_id,
            method,
            params,
        )
        future = asyncio.get_running_loop().create_future()
        self.client._waiters[msg_id] = future
        await self.raw(body)
        sent.append(Pending(msg_id, act, "any", future))

    async def _status(self, act: Act, sent: list[Pending]) -> None:
        params = {"command": "codehearth.status", "arguments": act.b}
        sent.append(await self.request("workspace/executeCommand", params, act, "result"))

    async def _cancel(self, act: Act, sent: list[Pending]) -> None:
        if act.a == "previous" and sent:
            target = sent[-1]
            if target.expect == "result":
                target.expect = "result_or_cancelled"
            await self.notify("$/cancelRequest", {"id": target.msg_id})
        else:
            await self.notify("$/cancelRequest", {"id": act.a})

    async def _garbage(self, act: Act, sent: list[Pending]) -> None:
        text = act.text
        bodies = {
            "array": [1, {"jsonrpc": "2.0", "method": "x"}],
            "number": 42,
            "string": text,
            "null": None,
            "nojsonrpc": {"method": INLINE, "id": "g", "params": {}},
            "v1": {"jsonrpc": "1.0", "method": "textDocument/didOpen", "params": {"t": text}},
            "response": {"jsonrpc": "2.0", "id": 987654321, "result": text},
            "error": {"jsonrpc": "2.0", "id": "nope", "error": {"code": 1, "message": text}},
            "null_id": {"jsonrpc": "2.0", "id": None, "method": INLINE, "params": {}},
            "float_id": {"jsonrpc": "2.0", "id": 1.5, "method": "foo", "params": {}},
            "object_id": {"jsonrpc": "2.0", "id": {"a": 1}, "method": "foo"},
            "empty": {},
        }
        await self.raw(json.dumps(bodies[act.a]).encode())


def inline_params(uri: str, line: Any, character: Any) -> dict[str, Any]:
    return {
        "textDocument": {"uri": uri},
        "position": {"line": line, "character": character},
        "context": {"triggerKind": 2},
    }


def problem(p: Pending, reply: dict[str, Any]) -> str | None:
    """Why a reply is not what the request should get, or None."""
    error = reply.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    if "result" not in reply and not isinstance(error, dict):
        return "neither result nor error"
    if p.expect == "invalid_params" and code != INVALID_PARAMS:
        return f"expected InvalidParams, got {reply}"
    if p.expect == "error" and code is None:
        return f"expected an error, got {reply}"
    if p.expect == "method_not_found" and code != METHOD_NOT_FOUND:
        return f"expected MethodNotFound, got {reply}"
    if p.expect == "result_or_cancelled" and code == REQUEST_CANCELLED:
        return None
    if p.expect in ("result", "result_or_cancelled"):
        if "result" not in reply:
            return f"expected a result, got {reply}"
        if p.act.kind in ("complete", "open_complete"):
            return _completion_problem(p.params["position"], reply["result"])
    return None


def _completion_problem(position: dict[str, Any], result: Any) -> str | None:
    if not isinstance(result, dict) or not isinstance(result.get("items"), list):
        return f"not an InlineCompletionList: {result!r}"
    for item in result["items"]:
        if not isinstance(item.get("insertText"), str) or not item["insertText"].strip():
            return f"bad item {item!r}"
        if item.get("range") != {"start": position, "end": position}:
            return f"item range {item.get('range')} is not the cursor {position}"
    return None


async def answers(pending: list[Pending], timeout: float) -> list[str]:
    """Await every reply of a batch; describe what is wrong (missing replies included)."""
    if not pending:
        return []
    done, _ = await asyncio.wait([p.future for p in pending], timeout=timeout)
    problems = []
    for p in pending:
        if p.future not in done:
            problems.append(f"no response to id {p.msg_id}: {p.act}")
        elif (why := problem(p, p.future.result())) is not None:
            problems.append(f"id {p.msg_id} {p.act}: {why}")
    return problems


async def wait_ready(fuzz: Fuzzer, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        params = {"command": "codehearth.status"}
        p = await fuzz.request("workspace/executeCommand", params, None, "result")
        status = (await asyncio.wait_for(p.future, 30))["result"]
        if status["state"] != "loading" or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.05)


def big_document() -> str:
    """~10 MB: code with CRLF and CR breaks, astral characters and a NUL now and then."""
    unit = (
        "def handler_{n}(event, ctx):\r\n"
        "    label = 'naïve 😀 {n}'\n"
        "    return {{'id': {n}, 'ok': True}}\r"
        "\n"
        "x_{n} = '\x00'  # 🎉\n"
    )
    parts, size, n = [], 0, 0
    while size < 10_000_000:
        chunk = unit.format(n=n)
        parts.append(chunk)
        size += len(chunk.encode())
        n += 1
    return "".join(parts)


async def huge_inputs(fuzz: Fuzzer) -> list[str]:
    """A 10 MB document, a 1 MB single line: open, complete, edit, complete again."""
    problems: list[str] = []
    big = big_document()
    lines = split_lines(big)
    uri = "file:///fuzz/big.py"
    await fuzz.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": big}},
    )
    middle = next(n for n in range(len(lines) // 2, len(lines)) if len(lines[n]) >= 4)
    sent = [
        await fuzz.request(INLINE, inline_params(uri, len(lines) - 1, 0), None, "result"),
        await fuzz.request(INLINE, inline_params(uri, middle, 4), None, "result"),
        await fuzz.request(INLINE, inline_params(uri, len(lines), 0), None, "invalid_params"),
    ]
    edit = {"start": {"line": 1000, "character": 3}, "end": {"line": 900, "character": 0}}
    await fuzz.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": uri, "version": 2},
            "contentChanges": [{"range": edit, "text": "    y = 1\n"}, {"text": big[:5_000_000]}],
        },
    )
    half = split_lines(big[:5_000_000])
    sent.append(await fuzz.request(INLINE, inline_params(uri, len(half) - 1, 0), None, "result"))
    one_line = "v = [" + "1, 'é😀', " * 100_000
    uri2 = "file:///fuzz/oneline.js"
    await fuzz.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri2, "languageId": "javascript", "version": 1, "text": one_line}},
    )
    end = utf16_len(one_line)
    sent.append(await fuzz.request(INLINE, inline_params(uri2, 0, end), None, "result"))
    sent.append(await fuzz.request(INLINE, inline_params(uri2, 0, end // 2 + 1), None, "result"))
    await fuzz.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    problems += await answers(sent, 180)
    return problems


# --- the test -------------------------------------------------------------------------------


async def test_fuzzed_traffic_never_kills_or_silences_the_server():
    batches = generate_batches()
    client = RawLspClient()
    await client.start(init_options=INIT)
    fuzz = Fuzzer(client)
    try:
        status = await wait_ready(fuzz)
        assert status["state"] == "ready", status
        problems = await huge_inputs(fuzz)
        assert not problems, problems
        problems = []
        for number, acts in enumerate(batches):
            sent: list[Pending] = []
            for act in acts:
                await fuzz.send(act, sent)
            problems += [f"batch {number}: {why}" for why in await answers(sent, BATCH_TIMEOUT)]
            # Wrong answers are collected; silence or a dead server ends the run.
            if client.proc.returncode is not None or any("no response" in p for p in problems):
                break
        assert client.proc.returncode is None and not problems, (
            f"exit code {client.proc.returncode}; {len(problems)} problems: {problems[:12]}\n"
            f"server stderr (end): {client.stderr.decode(errors='replace')[-3000:]}"
        )
        assert fuzz.messages >= MIN_MESSAGES, (fuzz.messages, fuzz.counts)

        # Still a working completion server afterwards.
        uri = "file:///fuzz/after.py"
        text = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return "
        await fuzz.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
        )
        final = await fuzz.request(INLINE, inline_params(uri, 5, 11), None, "result")
        assert not await answers([final], 60)
        reply = final.future.result()["result"]
        assert isinstance(reply["items"], list)
        status = await wait_ready(fuzz)
        assert status["state"] == "ready"
        assert status["counters"]["failed"] == 0, status["counters"]
        assert client.proc.returncode is None
        print(
            f"\nfuzz: {fuzz.messages} messages in {len(batches)} batches; acts {fuzz.counts}; "
            f"engine {status['counters']}"
        )
    finally:
        await client.stop()


# --- what the fuzz found, one case each ---------------------------------------------


async def _ready_client() -> tuple[RawLspClient, Fuzzer]:
    client = RawLspClient()
    await client.start(init_options=INIT)
    fuzz = Fuzzer(client)
    status = await wait_ready(fuzz)
    assert status["state"] == "ready", status
    return client, fuzz


async def test_completion_with_nothing_before_the_cursor_is_an_empty_list():
    """SmolLM2 has no FIM tokens and adds no BOS: an empty prefix made an empty prompt and
    llama.cpp's sampler failed (InternalError) - an editor's new empty file, for one."""
    client, fuzz = await _ready_client()
    try:
        for uri, text in [("file:///e/empty.py", ""), ("file:///e/start.py", "x = 1\n")]:
            doc = {"uri": uri, "languageId": "python", "version": 1, "text": text}
            await fuzz.notify("textDocument/didOpen", {"textDocument": doc})
            p = await fuzz.request(INLINE, inline_params(uri, 0, 0), None, "result")
            assert not await answers([p], 60)
        assert (await wait_ready(fuzz))["counters"]["failed"] == 0
    finally:
        await client.stop()


async def test_params_holding_a_jsonrpc_key_are_still_answered():
    """A command argument is user data; one that happens to carry a "jsonrpc" key was parsed
    as a message of its own and the whole request was dropped without a response."""
    client, fuzz = await _ready_client()
    try:
        nested = [
            {"jsonrpc": "2.0", "method": "x"},
            {"jsonrpc": "2.0", "id": 555, "method": INLINE, "params": {}},
        ]
        sent = []
        for argument in nested:
            params = {"command": "codehearth.status", "arguments": [argument]}
            sent.append(await fuzz.request("workspace/executeCommand", params, None, "result"))
        assert not await answers(sent, 15)
        assert 555 not in {n.get("id") for n in client.notifications}, "answered the nested id"
    finally:
        await client.stop()


async def test_requests_with_invalid_utf8_are_still_answered():
    """One invalid byte in a request body (a mangled URI) made the server drop the request:
    the editor waits forever for that id."""
    client, fuzz = await _ready_client()
    try:
        sent: list[Pending] = []
        for kind in ("inline", "status"):
            act = Act("invalid_utf8_request", a=b"\xff", b=kind)
            await fuzz._invalid_utf8_request(act, sent)
        assert not await answers(sent, 15)
        inline, status = (p.future.result() for p in sent)
        assert inline["error"]["code"] == INVALID_PARAMS  # that URI is not open
        assert status["result"]["state"] == "ready"
    finally:
        await client.stop()
