"""Completion, chat, explain and review at once, from two documents, on one model.

Deadlock shows as a timeout; a touch of the llama.cpp context from any thread but its
worker raises WrongThread inside the server (ModelSession.llm asserts the owner on
every access), which would fail a job: so every request must be answered, no job may
fail, and the server log must be clean.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from .harness import execute, items_of, wait_for, watch_assist

DATA = Path(__file__).parent.parent / "data"
INIT = {"completion": {"temperature": 0.0, "maxTokensSingle": 8, "maxTokensMulti": 16}}
SHORT = {"max_tokens": 48, "temperature": 0.0}

SECOND = """def average(values):
    total = 0
    for v in values:
        total += v
    return total / len(values)


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle]
"""


def _range(start: int, end: int) -> dict:
    return {"start": {"line": start, "character": 0}, "end": {"line": end, "character": 0}}


async def _type(session, uri: str, line: int, start_col: int, text: str) -> list[list[str]]:
    """Type `text` a character at a time, asking for a completion after each keystroke."""
    answers = []
    for offset, char in enumerate(text):
        col = start_col + offset
        session.change(uri, line, col, char)
        answers.append(items_of(await session.complete(uri, line, col + 1, timeout=90)))
        await asyncio.sleep(0.03)
    return answers


async def test_completion_chat_explain_review_at_once(server_factory, tmp_path):
    session = await server_factory(init_options=INIT)
    events = watch_assist(session)
    await session.wait_state("ready")
    first = session.open_file(DATA / "inventory.py")
    lines = (DATA / "inventory.py").read_text().splitlines()
    typing_line = lines.index("    def count(self) -> int:") + 1
    path = tmp_path / "stats.py"
    path.write_text(SECOND)
    second = session.open_file(path)

    work = asyncio.gather(
        _type(session, first, typing_line, len("        return "), "len(self.items)"),
        execute(session, "codehearth.chat", {
            "session": "c1", "message": "What does median return?",
            "uri": second, "range": _range(7, 11), "sampling": SHORT,
        }, timeout=240),
        execute(session, "codehearth.explain", {
            "uri": first, "range": _range(0, 8), "sampling": SHORT,
        }, timeout=240),
        execute(session, "codehearth.review", {
            "uri": second, "sampling": {**SHORT, "max_tokens": 96},
        }, timeout=240),
        _type(session, second, 4, len("    return total / len(values)"), " if values else 0"),
    )  # fmt: skip
    typed_first, chat, explain, review, typed_second = await asyncio.wait_for(work, 300)

    assert len(typed_first) == len("len(self.items)")
    assert len(typed_second) == len(" if values else 0")
    assert chat["reply"].strip() and chat["session"] == "c1"
    assert explain["markdown"].strip()
    assert isinstance(review["findings"], list)
    await wait_for(lambda: second in events.diagnostics, timeout=30)

    status = await session.status()
    counters = status["counters"]
    assert counters["failed"] == 0, counters
    assert counters["completed"] >= 3
    assert status["state"] in ("ready", "busy")
    log = session.stderr.decode(errors="replace")
    assert "WrongThread" not in log and "Traceback" not in log, log[-2000:]
    # Still serving normally afterwards.
    assert isinstance(items_of(await session.complete(first, typing_line, 10)), list)
