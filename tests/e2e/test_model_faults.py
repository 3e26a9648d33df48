"""Broken model files and odd contexts, as the editor meets them.

Each broken file must produce one clear window/showMessage naming the problem, a status
in state "error" with the same reason, and a server that keeps answering: documents,
status, completion and assist requests get proper LSP errors, and it shuts down cleanly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from ..conftest import SMOLLM2
from .harness import execute, items_of, wait_for

DATA = Path(__file__).parent.parent / "data"


def _truncated(path: Path) -> None:
    path.write_bytes(SMOLLM2.read_bytes()[: 3 * 2**20])


def _wrong_magic(path: Path) -> None:
    path.write_bytes(b"GGML" + SMOLLM2.read_bytes()[4 : 2**20])


def _not_a_model(path: Path) -> None:
    path.write_text("<html><body>404 Not Found</body></html>\n")


def _empty(path: Path) -> None:
    path.write_bytes(b"")


FAULTS: list[tuple[str, Callable[[Path], None], str]] = [
    ("truncated", _truncated, "truncated"),
    ("wrong-magic", _wrong_magic, "not a GGUF file"),
    ("not-a-model", _not_a_model, "not a GGUF file"),
    ("empty", _empty, "file is empty"),
]


def _manifest(tmp_path: Path, model_file: Path, extra: str = "") -> Path:
    manifest = tmp_path / "models.toml"
    manifest.write_text(f'[models.broken]\npath = "{model_file}"\n{extra}')
    return manifest


@pytest.mark.parametrize(("name", "make", "reason"), FAULTS, ids=[f[0] for f in FAULTS])
async def test_broken_model_file_is_reported_and_server_keeps_serving(
    server_factory, tmp_path: Path, name: str, make, reason: str
):
    model = tmp_path / f"{name}.gguf"
    make(model)
    manifest = _manifest(tmp_path, model)
    session = await server_factory(init_options={"manifest": str(manifest), "model": "broken"})
    status = await session.wait_state("ready", timeout=60)
    assert status["state"] == "error", status
    assert reason in status["error"] and model.name in status["error"], status["error"]
    # The status push and the message are sent from different threads: either may come first.
    await wait_for(lambda: any(m.type == types.MessageType.Error for m in session.messages))
    errors = [m for m in session.messages if m.type == types.MessageType.Error]
    assert len(errors) == 1 and reason in errors[0].message, session.messages

    uri = session.open_file(DATA / "inventory.py")
    with pytest.raises(JsonRpcException) as info:
        await session.complete(uri, 1, 0)
    assert reason in info.value.message
    with pytest.raises(JsonRpcException):
        await execute(session, "codehearth.explain", {"uri": uri, "range": _lines(0, 3)})
    # Still the same error, still serving, still one message (not one per request).
    assert (await session.status())["state"] == "error"
    assert len([m for m in session.messages if m.type == types.MessageType.Error]) == 1
    assert session.process.returncode is None


async def test_context_beyond_training_is_capped_with_a_warning(server_factory, tmp_path):
    manifest = _manifest(tmp_path, SMOLLM2, "context = 16384\n")
    init = {"manifest": str(manifest), "model": "broken", "completion": {"temperature": 0}}
    session = await server_factory(init_options=init)
    status = await session.wait_state("ready", timeout=60)
    assert status["state"] == "ready", status
    assert status["n_ctx"] == 8192  # SmolLM2 was trained on 8k
    warnings = [m.message for m in session.messages if m.type == types.MessageType.Warning]
    assert any("trained with a 8192-token context" in w for w in warnings), session.messages
    uri = session.open_file(DATA / "inventory.py")
    assert isinstance(items_of(await session.complete(uri, 39, 15)), list)


async def test_tiny_context_still_completes_and_explain_fits(server_factory, tmp_path):
    manifest = _manifest(tmp_path, SMOLLM2, "context = 256\n")
    init = {"manifest": str(manifest), "model": "broken", "completion": {"temperature": 0}}
    session = await server_factory(init_options=init)
    status = await session.wait_state("ready", timeout=60)
    assert status["state"] == "ready" and status["n_ctx"] == 256, status
    uri = session.open_file(DATA / "inventory.py")
    lines = (DATA / "inventory.py").read_text().splitlines()
    line = lines.index("    def count(self) -> int:") + 1
    assert isinstance(items_of(await session.complete(uri, line, len("        return "))), list)
    last = (await session.status())["counters"]["last"]
    assert last["prompt_tokens"] + last["generated_tokens"] <= 256
    # The whole file does not fit in 256 tokens: explain trims the code to the window.
    arg = {"uri": uri, "range": _lines(0, len(lines)), "sampling": {"max_tokens": 16}}
    result = await execute(session, "codehearth.explain", arg)
    assert result["markdown"].strip()
    last = (await session.status())["counters"]["last"]
    assert last["prompt_tokens"] + last["generated_tokens"] <= 256
    assert (await session.status())["state"] == "ready"


def _lines(start: int, end: int) -> dict:
    return {"start": {"line": start, "character": 0}, "end": {"line": end, "character": 0}}
