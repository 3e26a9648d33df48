"""Inline completion end to end: real server process, real LSP client, real SmolLM2 model."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from .harness import items_of
from .raw_client import RawLspClient

DATA = Path(__file__).parent.parent / "data"
DETERMINISTIC = {"completion": {"temperature": 0.0}}
# Each test runs once per recorded editor capability set (capabilities/).
pytestmark = pytest.mark.editors()


async def test_initialize_advertises_inline_completion(server_factory):
    session = await server_factory(init_options=DETERMINISTIC)
    caps = session.init_result.capabilities
    assert caps.inline_completion_provider is not None
    assert caps.position_encoding == types.PositionEncodingKind.Utf16
    assert "codehearth.status" in caps.execute_command_provider.commands


async def test_completions_at_several_positions(server_factory):
    session = await server_factory(init_options=DETERMINISTIC)
    uri = session.open_file(DATA / "inventory.py")
    lines = (DATA / "inventory.py").read_text().splitlines()
    loop = "for name, quantity in data.items():"
    body_line = next(i for i, ln in enumerate(lines) if ln.strip() == loop) + 1
    positions = [
        (body_line, 12, True),  # empty line inside a for loop: multi-line allowed
        (lines.index("    def count(self) -> int:") + 1, len("        return "), False),
        (lines.index('    inventory.add(Item("apple", 3))'), len("    inventory."), False),
    ]
    non_empty = 0
    for line, col, multiline in positions:
        texts = items_of(await session.complete(uri, line, col))
        for text in texts:
            assert text.strip(), "whitespace-only items must be dropped"
            if not multiline:
                assert "\n" not in text, "mid-line suggestions are single-line"
        non_empty += bool(texts)
    assert non_empty >= 2
    status = await session.status()
    assert status["state"] == "ready"
    assert status["fim"] is None  # SmolLM2 has no FIM tokens: prefix-only mode
    assert status["counters"]["generated_tokens"] > 0


async def test_second_keystroke_reuses_prompt(server_factory):
    session = await server_factory(init_options=DETERMINISTIC)
    uri = session.open_file(DATA / "inventory.py")
    lines = (DATA / "inventory.py").read_text().splitlines()
    line = lines.index("    def count(self) -> int:") + 1
    await session.complete(uri, line, 15)
    session.change(uri, line, 15, "s")
    await session.complete(uri, line, 16)
    last = (await session.status())["counters"]["last"]
    assert last["reused_tokens"] >= 0.9 * last["prompt_tokens"]


@pytest.mark.parametrize(
    ("uri_kind", "line", "col"),
    [("open", 10_000, 0), ("open", 3, 500), ("unopened", 0, 0)],
)
async def test_bad_positions_get_a_clear_error(server_factory, uri_kind, line, col):
    session = await server_factory(init_options=DETERMINISTIC)
    uri = session.open_file(DATA / "inventory.py")
    target = uri if uri_kind == "open" else "file:///nowhere/missing.py"
    with pytest.raises(JsonRpcException) as info:
        await session.complete(target, line, col)
    assert "position" in info.value.message or "not open" in info.value.message
    # Still serving.
    assert isinstance(items_of(await session.complete(uri, 1, 0)), list)


async def test_malformed_params_get_an_error():
    client = RawLspClient()
    await client.start(init_options=DETERMINISTIC)
    try:
        uri = "file:///tmp/malformed.py"
        doc = {"uri": uri, "languageId": "python", "version": 1, "text": "x = 1\n"}
        await client.notify("textDocument/didOpen", {"textDocument": doc})
        bad_params = [
            {"textDocument": {"uri": uri}, "position": {"line": -1, "character": 0}},
            {"textDocument": {"uri": uri}, "position": {"line": "x", "character": 0}},
            {"textDocument": {"uri": uri}},
            {"position": {"line": 0, "character": 0}},
            None,
            [1, 2, 3],
        ]
        for params in bad_params:
            reply = await client.request("textDocument/inlineCompletion", params)
            assert "error" in reply, params
            assert reply["error"]["message"]
        good = {
            "textDocument": {"uri": uri},
            "position": {"line": 1, "character": 0},
            "context": {"triggerKind": 2},
        }
        reply = await client.request("textDocument/inlineCompletion", good, timeout=60)
        assert "items" in reply["result"]
    finally:
        await client.stop()


async def test_huge_file_and_unknown_language_still_answer(server_factory):
    session = await server_factory(init_options=DETERMINISTIC)
    big = "def f(x):\n    return x + 1\n" * 200_000  # ~5 MB
    session.open("file:///tmp/big.py", big)
    result = await session.complete("file:///tmp/big.py", 400_000, 0, timeout=120)
    assert isinstance(items_of(result), list)
    session.open("file:///tmp/notes.zz", "alpha beta gamma\ndelta ", language_id="zzlang")
    assert isinstance(items_of(await session.complete("file:///tmp/notes.zz", 1, 6)), list)
    status = await session.status()
    assert status["state"] == "ready"


async def test_missing_model_is_reported_and_server_keeps_serving(server_factory, tmp_path):
    manifest = tmp_path / "models.toml"
    manifest.write_text('[models.ghost]\npath = "does-not-exist.gguf"\n')
    session = await server_factory(init_options={"manifest": str(manifest), "model": "ghost"})
    uri = session.open_file(DATA / "inventory.py")
    with pytest.raises(JsonRpcException) as info:
        await session.complete(uri, 1, 0)
    assert "does-not-exist.gguf" in info.value.message
    assert any("does-not-exist.gguf" in m.message for m in session.messages)
    assert (await session.status())["state"] == "error"


async def test_user_code_not_in_logs_by_default(server_factory):
    session = await server_factory("--log-level", "debug", init_options=DETERMINISTIC)
    secret = "zebra_secret_identifier_4711"
    session.open("file:///tmp/secret.py", f"def {secret}():\n    return 1\n\n")
    await session.complete("file:///tmp/secret.py", 2, 0)
    await session.stop()
    assert secret not in session.stderr.decode(errors="replace")
    assert all(secret not in m.message for m in session.log_messages)
