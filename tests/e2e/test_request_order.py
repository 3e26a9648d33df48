"""A request is answered against the document as it was when the editor asked, even
when the next edits arrive in the same read (a burst the shared engine's socket hands
over at once, where stdin comes line by line)."""

from __future__ import annotations

import asyncio

import pytest

from .harness import SERVE_MODES as MODES
from .raw_client import RawLspClient, frame

INIT = {"completion": {"temperature": 0.0, "maxTokensSingle": 4}}


@pytest.mark.parametrize("mode", MODES)
async def test_a_request_sees_the_document_it_was_asked_about(mode):
    client = RawLspClient()
    await client.start(*MODES[mode], init_options=INIT)
    try:
        await client.wait_loaded()
        uri = "file:///order/burst.py"
        text = "def total(values):\n    return sum(values)\n\nresult = "
        waiter = asyncio.get_running_loop().create_future()
        client._waiters[9001] = waiter
        burst = [
            {"method": "textDocument/didOpen", "params": {"textDocument": {
                "uri": uri, "languageId": "python", "version": 1, "text": text}}},
            {"id": 9001, "method": "textDocument/inlineCompletion", "params": {
                "textDocument": {"uri": uri}, "position": {"line": 3, "character": 9},
                "context": {"triggerKind": 1}}},
            # The user then deleted everything: line 3 no longer exists.
            {"method": "textDocument/didChange", "params": {
                "textDocument": {"uri": uri, "version": 2},
                "contentChanges": [{"text": ""}]}},
        ]  # fmt: skip
        await client.send_bytes(b"".join(frame({"jsonrpc": "2.0", **m}) for m in burst))
        reply = await asyncio.wait_for(waiter, 60)
        assert "result" in reply, reply  # not "position out of range" for the newer text
        for item in reply["result"]["items"]:
            assert item["range"]["start"] == {"line": 3, "character": 9}
    finally:
        await client.stop()
