"""Suggestion clean-up rules."""

from __future__ import annotations

from codehearth.completion.postprocess import clean_suggestion
from codehearth.context.builder import CompletionContext


def ctx(line_prefix: str, line_suffix: str = "", after: str = "", multiline: bool = False):
    indent = line_prefix[: len(line_prefix) - len(line_prefix.lstrip())]
    return CompletionContext(
        prefix="def f():\n" + line_prefix,
        suffix=line_suffix + after,
        extra="",
        language="python",
        multiline=multiline,
        line_prefix=line_prefix,
        line_suffix=line_suffix,
        indent=indent,
        prefix_start_line=0,
        suffix_end_line=5,
        prompt_tokens_estimate=0,
    )


def test_single_line_keeps_first_line_only():
    assert clean_suggestion("x + 1\n    more()", ctx("    return ")) == "x + 1"


def test_text_already_after_cursor_is_not_repeated():
    assert clean_suggestion("a, b)", ctx("    print(", ")")) == "a, b"
    assert clean_suggestion("a, b):", ctx("    if f(", "):")) == "a, b"
    assert clean_suggestion("value)", ctx("    x = g(", "value)")) is None


def test_whitespace_only_is_dropped():
    assert clean_suggestion("   \n  ", ctx("    x = ")) is None
    assert clean_suggestion("", ctx("    x = ")) is None


def test_multiline_stops_at_end_of_block():
    text = "total += 1\n        count += 1\n    return total\ndef other():"
    got = clean_suggestion(text, ctx("        ", multiline=True))
    assert got == "total += 1\n        count += 1"


def test_multiline_stops_before_existing_following_code():
    text = "x = 1\n    y = 2\n    return x + y"
    got = clean_suggestion(text, ctx("    ", after="\n    return x + y\n", multiline=True))
    assert got == "x = 1\n    y = 2"


def test_block_finished_detects_dedent_after_first_line():
    from codehearth.completion.postprocess import block_finished

    c = ctx("        ", multiline=True)
    assert not block_finished("total += 1\n        count", c)
    assert not block_finished("total += 1\n    ret", c)  # the dedented line is still partial
    assert block_finished("total += 1\n    return total\n", c)
    assert not block_finished("x\n    y\n", ctx("    a = ", multiline=False))
