"""The suggestion cache, typing along, the menu check, gating and the budget's cut: pure
logic, no model (the e2e tests in tests/e2e/test_typing_along.py drive them for real)."""

from __future__ import annotations

import pytest

from codehearth.completion.cache import CHECK_BEFORE, KEY_BEFORE, CursorState, SuggestionCache
from codehearth.completion.generate import StopRule
from codehearth.completion.menu import MenuSelection, menu_target
from codehearth.completion.service import _gated
from codehearth.completion.target import Target
from codehearth.context.builder import build_context
from codehearth.context.documents import DocumentStore

ABOVE = "import os\n\n\ndef main():\n    path = os.path."
BELOW = "\n    return path\n"


def state(before: str, after: str = BELOW) -> CursorState:
    return CursorState(before + after, len(before))


def test_same_spot_and_typing_along_answer_the_rest():
    cache = SuggestionCache()
    cache.put(state(ABOVE), "join(root, name)")
    assert cache.lookup(state(ABOVE)).text == "join(root, name)"
    hit = cache.lookup(state(ABOVE + "joi"))
    assert (hit.text, hit.typed) == ("n(root, name)", 3)
    # Typed text that leaves the suggestion: no answer.
    assert cache.lookup(state(ABOVE + "jox")) is None
    # The whole suggestion typed: nothing left to show.
    assert cache.lookup(state(ABOVE + "join(root, name)")) is None
    # Something else after the cursor: another state.
    assert cache.lookup(state(ABOVE, after="\n    return None\n")) is None


def test_look_back_is_bounded():
    cache = SuggestionCache(look_back=4)
    cache.put(state(ABOVE), "abcdefgh")
    assert cache.lookup(state(ABOVE + "abcd")).text == "efgh"
    assert cache.lookup(state(ABOVE + "abcde")) is None


def test_a_distant_edit_invalidates_an_entry_whose_short_key_still_matches():
    far = "x = 1\n" + "#" * KEY_BEFORE + ABOVE
    cache = SuggestionCache()
    cache.put(state(far), "join(a, b)")
    # The edit lies beyond the key's window but within the checked window...
    assert cache.lookup(state("x = 2\n" + "#" * KEY_BEFORE + ABOVE)) is None
    assert cache.lookup(state(far)).text == "join(a, b)"
    # ... and beyond the checked window it is not looked at.
    beyond = "#" * CHECK_BEFORE + ABOVE
    assert cache.lookup(state("x = 2\n" + beyond)) is None
    cache.put(state("x = 1\n" + beyond), "join(c)")
    assert cache.lookup(state("x = 2\n" + beyond)).text == "join(c)"


def test_lru_evicts_the_least_recently_used():
    cache = SuggestionCache(size=2)
    cache.put(state("a = "), "1")
    cache.put(state("b = "), "2")
    assert cache.lookup(state("a = ")) is not None  # a is now the most recent
    cache.put(state("c = "), "3")
    assert cache.lookup(state("b = ")) is None
    assert cache.lookup(state("a = ")) is not None and len(cache) == 2


def test_disabled_cache_and_blank_suggestions_store_nothing():
    off = SuggestionCache(size=0)
    off.put(state(ABOVE), "join()")
    assert off.lookup(state(ABOVE)) is None
    cache = SuggestionCache()
    cache.put(state(ABOVE), "   ")
    assert len(cache) == 0
    cache.put(state(ABOVE), "ab   ")
    assert cache.lookup(state(ABOVE + "ab")) is None  # only blanks would be left


def test_no_suggestion_is_remembered_for_automatic_requests_at_the_spot():
    cache = SuggestionCache()
    cache.put(state(ABOVE), "")
    assert cache.lookup(state(ABOVE)) is None  # an explicit request asks again
    assert cache.lookup(state(ABOVE), empty=True).text == ""
    assert cache.lookup(state(ABOVE + "x"), empty=True) is None  # nothing to type along


@pytest.mark.parametrize(
    ("line", "gated"),
    [("x = foo(", False), ("x = foo(|)", False), ("x = |foo(bar, baz)", True),
     ("x = |a b c d e f g h", False), ("x = |a b c d e f g h i", True), ("|", False)],
)  # fmt: skip
def test_gating_counts_non_blank_characters_after_the_cursor(line, gated):
    before, _, after = line.partition("|")
    text = f"def f():\n{before}{after}\nnext_line_is_not_counted_at_all()\n"
    offset = len("def f():\n") + len(before)
    assert _gated(CursorState(text, offset), 8) is gated


def _snapshot(text: str, language: str = "python"):
    store = DocumentStore()
    return store.open("file:///t.py", language, 1, text).snapshot()


def test_menu_item_is_taken_as_typed():
    snap = _snapshot("import os\nos.pa\n")
    target = menu_target(snap, 1, 5, MenuSelection(1, 3, 1, 5, "path"))
    assert target is not None
    assert target.text == "import os\nos.path\n" and target.cursor == len("import os\nos.path")
    # The edited tree matches the edited text: a fresh parse gives the same tree.
    edited = target.snapshot()
    fresh = _snapshot(target.text)
    assert str(edited.tree.root_node) == str(fresh.tree.root_node)
    assert list(edited.line_starts) == list(fresh.line_starts)


@pytest.mark.parametrize(
    "selection",
    [
        MenuSelection(0, 0, 0, 2, "import"),  # another line
        MenuSelection(1, 3, 1, 40, "path"),  # past the end of the line
        MenuSelection(1, 0, 1, 2, "os"),  # does not reach the cursor
        MenuSelection(1, 3, 1, 5, "getcwd"),  # "pa" does not filter to it
        MenuSelection(1, 3, 1, 5, "pa\nth"),  # multi-line
        MenuSelection(1, 3, 1, 5, ""),
    ],
)
def test_bad_menu_selections_are_ignored(selection, caplog):
    snap = _snapshot("import os\nos.pa\n")
    with caplog.at_level("DEBUG", logger="codehearth.completion.menu"):
        assert menu_target(snap, 1, 5, selection) is None
    assert "selectedCompletionInfo ignored" in caplog.text
    assert "getcwd" not in caplog.text  # what the editor sent is not logged


def test_speculation_target_parses_like_the_accepted_document():
    snap = _snapshot("def f(items):\n    total = \n    return total\n")
    target = Target.at(snap, 1, len("    total = ")).then_typing("sum(items)")
    assert target.text == "def f(items):\n    total = sum(items)\n    return total\n"
    assert str(target.snapshot().tree.root_node) == str(_snapshot(target.text).tree.root_node)


def _rule(text: str, cursor: str, budget_ms: int) -> StopRule:
    snap = _snapshot(text)
    offset = text.index(cursor) + len(cursor)
    line, character = snap.position_at(offset)
    ctx = build_context(snap, line, character, len, _budget())
    return StopRule(ctx, budget_ms)


def _budget():
    from codehearth.context.builder import ContextBudget

    return ContextBudget()


def test_budget_keeps_the_complete_lines_of_a_block():
    rule = _rule("def f(x):\n    \n", "def f(x):\n    ", budget_ms=0)
    assert rule.ctx.multiline
    rule.budget_ms = 1
    rule.deadline = 0.0  # long past
    assert rule("y = x + 1") is False  # no whole line yet: a block goes on
    assert rule("y = x + 1\n    return y") is True and rule.budget_hit
    assert rule.trim("y = x + 1\n    return y") == "y = x + 1"
    assert rule.trim("y = x + 1\n    return y\n") == "y = x + 1\n    return y\n"


def test_budget_returns_a_single_line_as_far_as_it_got():
    rule = _rule("x = compute(\n", "x = ", budget_ms=1)
    assert not rule.ctx.multiline
    assert rule("comp") is False  # the first text starts the clock
    rule.deadline = 0.0
    assert rule("compute") is True and rule.trim("compute") == "compute"
