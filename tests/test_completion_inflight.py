"""A generation in flight: the part of its text an editor may be shown before it ends."""

from __future__ import annotations

from codehearth.completion.inflight import Flight
from codehearth.completion.target import Target
from codehearth.context.builder import ContextBudget, build_context
from codehearth.engine.jobs import Job

from .test_completion_cache import _snapshot


def _flight(text: str, cursor: str, partial: str) -> Flight:
    snap = _snapshot(text)
    line, character = snap.position_at(text.index(cursor) + len(cursor))
    flight = Flight(Target.at(snap, line, character), Job(run=lambda s, j: None, key="k"))
    flight.set_context(build_context(snap, line, character, len, ContextBudget()))
    flight.add_text(partial)
    return flight


def test_a_line_so_far_is_cut_to_whole_words():
    flight = _flight("def f(x):\n    return \n", "    return ", "x * fact")
    assert not flight.multiline
    assert flight.words_so_far() == "x * "


def test_a_block_so_far_is_cut_to_whole_lines():
    # The last line may still change, or be dropped when the block is cut by its budget:
    # shown now, it would be replaced by a shorter suggestion.
    flight = _flight("def f(x):\n    \n", "def f(x):\n    ", "y = x + 1\n    return y.val")
    assert flight.multiline
    assert flight.words_so_far() == "y = x + 1"


def test_the_first_line_of_a_block_is_shown_word_by_word():
    flight = _flight("def f(x):\n    \n", "def f(x):\n    ", "y = x + fact")
    assert flight.words_so_far() == "y = x + "
