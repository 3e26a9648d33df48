"""Never asking the model twice, end to end: a real server, the real LSP client, SmolLM2.

Typing along a shown suggestion and deleting back into it are answered from the cache
(the counters say no generation ran); a keystroke that continues the generation in
flight waits for it; someone typing fast gets the words generated so far early;
speculation computes "the suggestion accepted" while idle and gives way to a real
request; automatic requests with code after the cursor are gated; the completion menu's
selected item is extended; a time budget cuts a long generation.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types

from .harness import ServerSession, items_of, wait_for

DATA = Path(__file__).parent.parent / "data"
AUTOMATIC = types.InlineCompletionTriggerKind.Automatic
# In the for loop of Inventory.load: an empty line where the model has something to say.
LOOP_BODY = (37, 12)


def _init(**completion) -> dict:
    return {"completion": {"temperature": 0.0, **completion}}


async def counters(session: ServerSession) -> dict:
    return (await session.status())["counters"]


def generations(c: dict) -> int:
    """Generations a keystroke asked for (speculative ones run on their own)."""
    return c["model_calls"] - c["speculations"]


async def type_char(session: ServerSession, uri: str, line: int, col: int, char: str) -> list:
    session.change(uri, line, col, char)
    return items_of(await session.complete(uri, line, col + 1, trigger=AUTOMATIC))


async def ended(session: ServerSession, jobs: int) -> None:
    """Wait until `jobs` engine jobs have completed (a speculation nobody waits for)."""
    for _ in range(300):
        if (await counters(session))["completed"] >= jobs:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the speculation did not end")


async def test_typing_along_a_suggestion_asks_the_model_nothing(server_factory):
    session = await server_factory(init_options=_init())
    uri = session.open_file(DATA / "inventory.py")
    line, col = LOOP_BODY
    [shown] = items_of(await session.complete(uri, line, col))
    assert len(shown) >= 4, shown
    # The speculation for "accepted" starts shortly after the answer (80 ms when idle,
    # later on a loaded machine): let it start before counting.
    for _ in range(100):
        if (await counters(session))["speculations"] >= 1:
            break
        await asyncio.sleep(0.05)
    before = await counters(session)
    # Three keys that type the beginning of the suggestion: its rest, at once.
    for i in range(3):
        assert await type_char(session, uri, line, col + i, shown[i]) == [shown[i + 1 :]]
    # A deletion back into a state a suggestion was shown at.
    session.change(uri, line, col + 2, "", end=(line, col + 3))
    assert items_of(await session.complete(uri, line, col + 2, trigger=AUTOMATIC)) == [shown[2:]]
    after = await counters(session)
    assert after["served_from_cache"] - before["served_from_cache"] == 4
    assert generations(after) == generations(before), "typing along ran the model"

    # Accepting the rest: "this suggestion accepted" was speculated while we typed.
    assert after["speculations"] == before["speculations"] >= 1
    await ended(session, before["completed"] + 1)
    session.change(uri, line, col + 2, shown[2:])
    accepted = await session.complete(uri, line, col + len(shown), trigger=AUTOMATIC)
    final = await counters(session)
    assert final["speculations"] >= 1
    assert final["speculative_hits"] == before["speculative_hits"] + 1
    assert generations(final) == generations(before)
    assert isinstance(items_of(accepted), list)


async def test_speculation_gives_way_and_gating_spares_the_model(server_factory):
    # Blocks everywhere: the speculation after a line runs long enough to be caught.
    session = await server_factory(init_options=_init(multiline="always"))
    uri = session.open_file(DATA / "inventory.py")
    other = "file:///tmp/typing-along/other.py"
    session.open(other, "def half(x):\n    return x / \n")
    line, col = LOOP_BODY
    before = await counters(session)
    assert items_of(await session.complete(uri, line, col))
    # Shortly after that answer a speculation starts; a real request elsewhere drops it.
    for _ in range(250):
        if (await counters(session))["speculations"] > before["speculations"]:
            break
        await asyncio.sleep(0.02)
    await session.complete(other, 1, len("    return x / "))
    after = await counters(session)
    assert after["speculations"] > before["speculations"]
    assert after["background_dropped"] > before["background_dropped"]

    # `return ` with code after it: no automatic suggestion, no model call.
    code_line = 39
    position = (code_line, len("        return "))
    before = await counters(session)
    gated = await session.complete(uri, *position, trigger=AUTOMATIC)
    after = await counters(session)
    assert items_of(gated) == [] and after["gated"] == before["gated"] + 1
    assert generations(after) == generations(before)
    # Asked for explicitly, the same spot goes to the model.
    await session.complete(uri, *position)
    assert generations(await counters(session)) == generations(after) + 1


async def test_menu_item_is_extended_and_bad_selections_are_ignored(server_factory):
    session = await server_factory("--log-level", "debug", init_options=_init())
    uri = "file:///tmp/typing-along/menu.py"
    session.open(uri, "import os\n\n\ndef data_file(name):\n    return os.pa\n")
    line, col = 4, len("    return os.pa")
    word = types.Range(
        start=types.Position(line=line, character=len("    return os.")),
        end=types.Position(line=line, character=col),
    )
    selected = types.SelectedCompletionInfo(range=word, text="path")
    result = await session.complete(uri, line, col, trigger=AUTOMATIC, selected=selected)
    [item] = result.items
    assert item.range == word
    assert item.insert_text.startswith("path") and len(item.insert_text) > len("path")
    # The menu item accepted, the ghost text goes on from the cache.
    before = await counters(session)
    session.change(uri, line, len("    return os."), "path", end=(line, col))
    after_accept = items_of(
        await session.complete(uri, line, len("    return os.path"), trigger=AUTOMATIC)
    )
    assert after_accept == [item.insert_text[len("path") :]]
    assert (await counters(session))["served_from_cache"] == before["served_from_cache"] + 1

    # Selections that do not fit the document: answered as if the menu were closed.
    here = types.Position(line=line, character=len("    return os.path"))
    bad = [
        types.SelectedCompletionInfo(
            range=types.Range(start=types.Position(line=0, character=0), end=here), text="path"
        ),
        types.SelectedCompletionInfo(
            range=types.Range(start=types.Position(line=line, character=14), end=here),
            text="zzzz",
        ),
        types.SelectedCompletionInfo(
            range=types.Range(start=types.Position(line=line, character=14), end=types.Position(
                line=line, character=400)),
            text="path",
        ),
    ]  # fmt: skip
    for selection in bad:
        result = await session.complete(uri, line, here.character, selected=selection)
        for item in result.items:
            assert item.range == types.Range(start=here, end=here)
    await wait_for(lambda: session.stderr.count(b"selectedCompletionInfo ignored") >= 3)


async def test_a_keystroke_that_continues_the_generation_in_flight_waits_for_it(
    server_factory,
):
    # No cache: only the generation in flight can answer; a long one to ride on.
    init = _init(
        cacheSize=0, speculate=False, multiline="always", maxTokensMulti=160,
        timeBudgetMs=0, firstTimeBudgetMs=0,
    )  # fmt: skip
    session = await server_factory(init_options=init)
    uri = "file:///tmp/typing-along/flight.py"
    session.open(uri, "def describe(items):\n    text = 'items: ' + \n")
    line, col = 1, len("    text = 'items: ' + ")
    # Asked twice: a generation after a cold prompt can differ (in floating point, so
    # greedily) from one after a cached prompt; the later ones are all like the second.
    await session.complete(uri, line, col)
    [full] = items_of(await session.complete(uri, line, col))
    assert len(full) > 8, full
    # The same spot asked twice at once: one generation answers both (the request that
    # came second, from someone typing faster than the model, with the text so far).
    before = await counters(session)
    answers = await asyncio.gather(*(session.complete(uri, line, col) for _ in range(2)))
    so_far, whole = sorted((text for answer in answers for text in items_of(answer)), key=len)
    assert whole.startswith(so_far)
    after = await counters(session)
    assert after["reused_in_flight"] == before["reused_in_flight"] + 1
    assert generations(after) == generations(before) + 1

    # A typed character that continues the text generated so far: the rest of it.
    for wait_s in (0.4, 0.8, 0.2, 1.5):
        before = await counters(session)
        running = asyncio.ensure_future(session.complete(uri, line, col))
        await asyncio.sleep(wait_s)
        answer = await type_char(session, uri, line, col, full[0])
        after = await counters(session)
        [generated] = items_of(await running) or [""]
        session.change(uri, line, col, "", end=(line, col + 1))
        if after["reused_in_flight"] > before["reused_in_flight"]:
            assert generated[0] == full[0] and len(answer) == 1 and answer[0].strip()
            assert generated[1:].startswith(answer[0])
            assert generations(after) == generations(before) + 1
            return
    raise AssertionError("no keystroke rode on the generation in flight")


async def test_time_budget_cuts_a_long_generation(server_factory):
    # 400 tokens take over 2.5 s at SmolLM2's best speed on 2 cores (157 tokens/s).
    init = _init(multiline="always", maxTokensMulti=400, speculate=False)
    session = await server_factory(init_options={**init, "completion": {
        **init["completion"], "timeBudgetMs": 60, "firstTimeBudgetMs": 60}})  # fmt: skip
    uri = "file:///tmp/typing-along/budget.py"
    session.open(uri, "def describe(items):\n    text = 'items: ' + \n")
    await session.complete(uri, 1, len("    text = 'items: ' + "))
    last = (await counters(session))["last"]
    assert last["stop_reason"] == "stop", last
    assert last["generated_tokens"] < 400 and last["generate_ms"] < 2000, last


async def test_typing_fast_gets_the_words_generated_so_far_early(server_factory):
    # No cache: a keystroke that does not continue the suggestion starts a generation; a
    # long one, so that it is still running when the early answer is due.
    init = _init(
        cacheSize=0, speculate=False, multiline="always", maxTokensMulti=160,
        timeBudgetMs=0, firstTimeBudgetMs=0, earlyAnswerMs=250,
    )  # fmt: skip
    session = await server_factory(init_options=init)
    uri = "file:///tmp/typing-along/early.py"
    session.open(uri, "def describe(items):\n    text = 'items: ' + \n")
    line, col = 1, len("    text = 'items: ' + ")
    await session.complete(uri, line, col)  # the prompt evaluated once (cold)
    # What the model says after "+" (the space deleted): asked explicitly, so in whole.
    session.change(uri, line, col - 1, "", end=(line, col))
    [whole] = items_of(await session.complete(uri, line, col - 1))
    assert len(whole) > 8, whole
    session.change(uri, line, col - 1, " ")
    for _ in range(3):
        # Typing fast: a key, and 100 ms later a backspace (a generation for the first
        # key is running; the backspace does not continue it, so a new one starts).
        before = await counters(session)
        first = asyncio.ensure_future(session.complete(uri, line, col, trigger=AUTOMATIC))
        await asyncio.sleep(0.1)
        session.change(uri, line, col - 1, "", end=(line, col))
        early = items_of(await session.complete(uri, line, col - 1, trigger=AUTOMATIC))
        await first
        after = await counters(session)
        session.change(uri, line, col - 1, " ")
        if after["early_answers"] > before["early_answers"]:
            [words] = early
            assert words.strip() and whole.startswith(words), (words, whole)
            assert len(words) < len(whole)
            assert not (words[-1:].isalnum() and whole[len(words) : len(words) + 1].isalnum())
            return
        await asyncio.sleep(1.0)  # the last generation ends before the next try
    raise AssertionError("no early answer while typing fast")
