"""The cross-file block: the ring, a block that stays put while typing and changes when
its sources do, its place in real prompts, and idle pre-warming into the KV cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from codehearth.config import CompletionSettings, ProjectSettings
from codehearth.context.documents import DocumentStore
from codehearth.context.project import ProjectContext
from codehearth.context.ring import ChunkRing, chunk_of, dice, words
from codehearth.engine.api import ContextFile, InfillRequest
from codehearth.engine.infill import build_prompt
from codehearth.engine.session import ModelSession
from codehearth.engine.types import EngineConfig

from .conftest import SMOLLM2
from .fixtures.tiny_gguf import write_tiny_gguf

COUNT = lambda text: len(text) // 3 + 1  # noqa: E731
MESSAGING = '''"""Messages."""


def send_message(channel: str, payload: dict) -> bool:
    """Send `payload` on `channel`; True once delivered."""
    return bool(channel)
'''
APP = "from .messaging import send_message\n\n\ndef notify(user):\n    return "


def _chunk(uri: str, text: str):
    return chunk_of(uri, uri, text, 0, 10, 32)


def test_ring_evicts_similar_and_oldest_and_skips_the_cursor():
    ring = ChunkRing(capacity=3, chunk_lines=32)
    body = "".join(f"alpha_{i} = compute(beta_{i})\n" for i in range(10))
    assert ring.add(_chunk("file:///a.py", body))
    assert ring.add(_chunk("file:///b.py", body + "gamma = 1\n"))  # > 0.9 similar: evicts a
    assert [c.uri for c in ring.chunks()] == ["file:///b.py"]
    for name in ("c", "d", "e"):
        other = "".join(f"{name}_{i} = other_{name}({i})\n" for i in range(10))
        ring.add(_chunk(f"file:///{name}.py", other))
    assert [c.uri for c in ring.chunks()] == ["file:///c.py", "file:///d.py", "file:///e.py"]
    cursor_text = "".join(f"d_{i} = other_d({i})\n" for i in range(10))
    assert [c.uri for c in ring.pick("file:///e.py", cursor_text)] == ["file:///c.py"]
    assert dice(words("a b c"), words("a b c")) == 1.0


def test_edits_commit_a_chunk_when_editing_moves_away():
    ring = ChunkRing()
    assert ring.note_edit("file:///a.py", 10) is None
    assert ring.note_edit("file:///a.py", 30) is None  # near: the same region
    pending = ring.note_edit("file:///a.py", 200)
    assert pending is not None and (pending.first, pending.last) == (10, 30)
    assert ring.note_edit("file:///b.py", 0).uri == "file:///a.py"


@pytest.fixture
def project(tmp_path: Path):
    pkg = tmp_path / "ws" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "messaging.py").write_text(MESSAGING)
    (pkg / "app.py").write_text(APP)
    project = ProjectContext(ProjectSettings())
    project.set_folders([(tmp_path / "ws").as_uri()])
    return project, DocumentStore(), pkg


def test_the_block_stays_the_same_object_while_typing(project):
    ctx, store, pkg = project
    doc = store.open((pkg / "app.py").as_uri(), "python", 1, APP)
    ctx.opened(doc)
    line = APP.count("\n")
    first = ctx.block_for(doc.snapshot(), line, COUNT, 1024)
    assert [f.path for f in first.files] == ["pkg/messaging.py"]
    assert "def send_message(channel: str, payload: dict) -> bool:" in first.files[0].text
    column = len(APP.rsplit("\n", 1)[1])
    for i, char in enumerate("send_"):
        store.change(doc.uri, 2 + i, [(_range(line, column + i), char)])
        assert ctx.block_for(doc.snapshot(), line, COUNT, 1024) is first
    built = ctx.stats.blocks_built
    other = store.open((pkg / "other.py").as_uri(), "python", 1, "".join(
        f"def helper_{i}(x):\n    return x * {i}\n" for i in range(8)))  # fmt: skip
    (pkg / "other.py").write_text(other.text)
    ctx.opened(other)  # a new chunk in the ring: a new block, once
    second = ctx.block_for(doc.snapshot(), line, COUNT, 1024)
    assert second is not first and second.files[0].path == "pkg/other.py"
    assert ctx.block_for(doc.snapshot(), line, COUNT, 1024) is second
    assert ctx.stats.blocks_built == built + 1


def test_an_edited_import_or_sibling_changes_the_block(project):
    ctx, store, pkg = project
    doc = store.open((pkg / "app.py").as_uri(), "python", 1, APP)
    first = ctx.block_for(doc.snapshot(), 4, COUNT, 1024)
    sibling = store.open((pkg / "messaging.py").as_uri(), "python", 1, MESSAGING)
    ctx.opened(sibling)
    store.change(sibling.uri, 2, [(_range(5, 11), "    # now open\n")])
    ctx.changed(sibling, 5, 0)
    second = ctx.block_for(doc.snapshot(), 4, COUNT, 1024)
    assert "# now open" in second.files[-1].text, "an open document's text wins over disk"
    assert second is not first


def test_settings_turn_sources_off(project):
    ctx, store, pkg = project
    doc = store.open((pkg / "app.py").as_uri(), "python", 1, APP)
    ctx.configure(ProjectSettings(imports=False))
    assert ctx.block_for(doc.snapshot(), 4, COUNT, 1024).empty
    ctx.configure(ProjectSettings(enabled=False))
    assert ctx.block_for(doc.snapshot(), 4, COUNT, 1024).empty
    ctx.configure(ProjectSettings())
    assert not ctx.block_for(doc.snapshot(), 4, COUNT, 1024).empty
    assert ctx.block_for(doc.snapshot(), 4, COUNT, 0).empty


def _range(line: int, character: int):
    class P:
        def __init__(self, line, character):
            self.line, self.character = line, character

    class R:
        start = end = P(line, character)

    return R()


FILES = (ContextFile(path="pkg/messaging.py", text=MESSAGING),)


def _request(prefix: str, text: str = MESSAGING) -> InfillRequest:
    files = (ContextFile(path="pkg/messaging.py", text=text),)
    return InfillRequest(prefix=prefix, suffix="\n", files=files, path="pkg/app.py", repo="ws")


@pytest.mark.parametrize("family", ["qwen2.5-coder", "starcoder", "codellama"])
def test_the_block_comes_first_and_keeps_its_tokens(tmp_path, family):
    path = write_tiny_gguf(tmp_path / "m.gguf", family)
    session = ModelSession(EngineConfig(model_name="tiny", model_path=str(path), n_ctx=2048))
    one, _ = build_prompt(session, _request(APP))
    two, _ = build_prompt(session, _request(APP + "send_message(user"))
    text = session.llm.detokenize(one).decode("utf-8", "replace")
    assert text.index("def send_message") < text.index("def notify")
    markers = {
        "qwen2.5-coder": ("<|repo_name|>", "<|file_sep|>"),
        "starcoder": ("<file_sep>",),
        "codellama": ("▁<PRE>",),
    }[family]
    for marker in markers:
        token = session.tokenize(marker, special=True)
        assert len(token) == 1 and token[0] in one
    if family == "codellama":
        assert "# pkg/messaging.py" in text and "# pkg/app.py" in text
    shared = next(i for i, (a, b) in enumerate(zip(one, two, strict=False)) if a != b)
    block_end = len(build_prompt(session, _request(""))[0]) - 3
    assert shared >= block_end, "typing changes nothing before the current file's text"
    injected, _ = build_prompt(session, _request(APP, MESSAGING + "".join(markers)))
    sep = session.tokenize(markers[-1], special=True)
    assert injected.count(sep[0]) == one.count(sep[0]), "file text cannot add markers"
    session.close()


def test_prefix_only_models_get_path_comments():
    session = ModelSession(EngineConfig(model_name="s", model_path=str(SMOLLM2), n_ctx=2048))
    tokens, mode = build_prompt(session, _request(APP))
    text = session.llm.detokenize(tokens).decode()
    assert mode == "prefix"
    assert text.index("# pkg/messaging.py\n") < text.index("# pkg/app.py\n") < text.index("from")
    session.close()


def test_prewarm_evaluates_the_block_and_the_next_completion_reuses_it(engine, project):
    from codehearth.completion.service import CompletionService
    from codehearth.models.manifest import Sampling

    ctx, store, pkg = project
    ctx.configure(ProjectSettings(prewarm_idle_ms=0))
    service = CompletionService(
        engine=engine, sampling=Sampling(temperature=0.0),
        settings=CompletionSettings(temperature=0.0, max_tokens_single=2), project=ctx,
    )  # fmt: skip
    assert service.prewarmer is not None
    doc = store.open((pkg / "app.py").as_uri(), "python", 1, APP)
    ctx.opened(doc)
    line, column = APP.count("\n"), len(APP.rsplit("\n", 1)[1])

    async def scenario():
        ctx.changed(doc, line, column)  # the user is here, then idle: the timer fires
        for _ in range(400):
            await asyncio.sleep(0.025)
            if ctx.stats.prewarms and not engine.busy:
                break
        return await service.complete(doc.snapshot(), line, column)

    result = asyncio.run(scenario())
    assert ctx.stats.prewarms == 1 and ctx.stats.prewarm_tokens > 50
    assert result.stats is not None
    assert result.stats.reused_tokens >= ctx.stats.prewarm_tokens - 2
