"""Chat history: trimming to the window, sessions, and the prompt a turn sends."""

from __future__ import annotations

from pathlib import Path

import pytest

from codehearth.assist.chat import (
    MAX_TURNS,
    ChatSession,
    ChatStore,
    Turn,
    chat_prepare,
    fit_history,
)
from codehearth.assist.payloads import PromptRecord
from codehearth.context.documents import DocumentStore
from codehearth.context.selection import gather_context
from codehearth.engine.session import ModelSession
from codehearth.engine.types import EngineConfig, GenerationParams

from .fixtures.tiny_gguf import write_tiny_gguf


@pytest.mark.parametrize(
    ("fixed", "turns", "budget", "start"),
    [
        (10, [5, 5, 5], 100, 0),  # everything fits
        (10, [5, 5, 5], 19, 2),  # the two oldest go
        (10, [5, 5, 5], 20, 1),
        (10, [5, 5, 5], 25, 0),
        (10, [5, 5, 5], 9, 3),  # not even the fixed part fits: no history
        (10, [], 5, 0),
        (10, [50, 1, 1], 12, 1),  # a big old turn goes first, small recent ones stay
    ],
)
def test_fit_history_drops_oldest_first(fixed, turns, budget, start) -> None:
    assert fit_history(fixed, turns, budget) == start


def test_store_evicts_least_recently_used_and_resets() -> None:
    store = ChatStore(max_sessions=2)
    a = store.get_or_create("a")
    store.get_or_create("b")
    store.get("a")  # a is now the most recent
    store.get_or_create("c")
    assert store.get("b") is None and store.get("a") is a and len(store) == 2
    assert store.reset("a") is a and store.get("a") is None
    assert store.reset("a") is None


def test_session_history_is_bounded() -> None:
    chat = ChatSession("s")
    for i in range(MAX_TURNS + 5):
        chat.add_turn(f"q{i}", f"a{i}")
    assert len(chat.turns) == MAX_TURNS and chat.turns[0].user == "q5"


CODE = "import os\n\n\ndef helper(x):\n    return x * 2\n\n\ndef main():\n    return helper(3)\n"


@pytest.fixture
def small_session(tmp_path: Path):
    path = write_tiny_gguf(tmp_path / "t.gguf", None)
    session = ModelSession(
        EngineConfig(model_name="t", model_path=str(path), n_ctx=1024, n_threads=1)
    )
    yield session
    session.close()


def test_prompt_keeps_system_attachment_and_message_and_drops_old_turns(small_session) -> None:
    snap = DocumentStore().open("file:///w/app.py", "python", 1, CODE).snapshot()
    start = snap.offset_at(8, 0)
    attachment = gather_context(snap, start, start + len("    return helper(3)"))
    turns = [
        Turn(f"old question {i} " + "word " * 30, f"old answer {i} " + "word " * 30)
        for i in range(6)
    ]
    records: list[PromptRecord] = []
    prepare = chat_prepare("s1", turns, "What does main return?", attachment, records.append)
    params = GenerationParams(max_tokens=64)
    prompt = prepare(small_session, params)
    (record,) = records
    assert len(prompt.tokens) <= small_session.n_ctx - params.max_tokens
    assert 0 < record.dropped_turns < len(turns)
    contents = [m.content for m in record.messages]
    assert "def helper(x):" in contents[0]  # the attached code, and the function it uses
    assert contents[-1] == "What does main return?"
    kept = turns[record.dropped_turns :]
    assert contents[1:-1] == [t for turn in kept for t in (turn.user, turn.assistant)]
    assert record.prompt_tokens == len(prompt.tokens)


def test_overlong_message_is_cut_to_fit(small_session) -> None:
    records: list[PromptRecord] = []
    message = "line of text\n" * 400
    prompt = chat_prepare("s2", [], message, None, records.append)(
        small_session, GenerationParams(max_tokens=64)
    )
    assert len(prompt.tokens) <= small_session.n_ctx - 64
    assert records[0].messages[-1].content.startswith("line of text\n")


def test_attachment_shrinks_before_it_overflows(small_session) -> None:
    code = "\n".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(200))
    snap = DocumentStore().open("file:///w/big.py", "python", 1, code).snapshot()
    attachment = gather_context(snap, 0, len(code))  # the whole file, far over the window
    records: list[PromptRecord] = []
    prompt = chat_prepare("s3", [], "Summarise.", attachment, records.append)(
        small_session, GenerationParams(max_tokens=64)
    )
    assert len(prompt.tokens) <= small_session.n_ctx - 64
    system = records[0].messages[0].content
    assert "def f0(x):" in system and "cut to fit" in system
