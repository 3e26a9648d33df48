"""Grounding rules on hand-written findings: what a review may say about which lines."""

from __future__ import annotations

import pytest

from codehearth.assist.grounding import (
    Grounding,
    cap_severity,
    fix_problem,
    ground_findings,
    is_repetitive,
    refers_to,
    repeats_prompt,
    ungrounded_reason,
)
from codehearth.assist.payloads import Finding
from codehearth.assist.review import EXAMPLES, document_target, place_findings, prompt_only_texts
from codehearth.context.documents import DocumentStore

CODE = """import os


def read_config(path):
    with open(path) as handle:
        return eval(handle.read())


def average(values):
    return sum(values) / len(values)
"""
PROMPT = Grounding(CODE, prompt_only_texts())


def _reason(message: str, line: int, replacement: str | None = None) -> str | None:
    cited = CODE.split("\n")[line - 1]
    return ungrounded_reason(message, cited, replacement, PROMPT)


AREA_EXAMPLE = (
    "def area(width, height):\n    return width + height",
    "An area is width times height; this adds them.",
    "    return width * height",
)


def test_the_prompt_example_on_user_code_is_parroting() -> None:
    # The finding from the bug report: the example of an earlier prompt, on `import os`.
    old = Grounding(CODE, AREA_EXAMPLE)
    area = "An area is width times height; this adds them."
    assert ungrounded_reason(area, "import os", None, old) == "parroted"
    # Even on a line it could be anchored to (it has "/" and "values"): the words are the
    # prompt's, not a finding about this code.
    cited = CODE.split("\n")[9]
    assert ungrounded_reason(f"{area} values", cited, None, old) == "parroted"
    # The instructions are prompt text too.
    assert _reason("what is wrong and why", 10) == "parroted"


def test_a_fix_copied_from_the_prompt_is_parroting() -> None:
    old = Grounding(CODE, AREA_EXAMPLE)
    assert ungrounded_reason("os is unused", "import os", AREA_EXAMPLE[2], old) == "parroted"


def test_prompt_text_includes_every_worked_example() -> None:
    texts = prompt_only_texts()
    assert any("what is wrong and why" in text for text in texts)  # the instructions
    for example in EXAMPLES:
        assert example.code in texts
        for finding in example.findings:
            assert finding["message"] in texts


def test_words_the_user_code_itself_contains_are_not_parroting() -> None:
    own = Grounding("print('what is wrong and why')", ("Say what is wrong and why.",))
    assert not repeats_prompt("prints what is wrong and why", own)
    assert not repeats_prompt("two words", PROMPT)  # too short to tell


@pytest.mark.parametrize(
    ("message", "line"),
    [
        ("eval runs arbitrary code from the file", 6),  # an identifier
        ("`handle.read()` may be huge", 6),  # a code span
        ("Division by zero when values is empty", 10),  # identifier (and "/" by name)
        ("divides by zero for an empty list", 10),  # the operator by name only
        ("uses / on an empty sequence", 10),  # the operator itself
        ("The `os` import is unused", 1),
    ],
)
def test_a_message_about_something_on_its_line_is_grounded(message: str, line: int) -> None:
    assert _reason(message, line) is None


@pytest.mark.parametrize(
    ("message", "line"),
    [
        ("The function does not handle errors.", 1),  # nothing of `import os`
        ("average divides by len", 1),  # true of another line, not of line 1
        ("This line is not a valid function call.", 4),
    ],
)
def test_a_message_about_nothing_on_its_line_is_dropped(message: str, line: int) -> None:
    assert _reason(message, line) == "no_anchor"


def test_refers_to_literals_and_plural_identifiers() -> None:
    assert refers_to("'utf-8' is the wrong codec", "data = text.encode('utf-8')")
    assert refers_to("the timeout of 30 is too long", "TIMEOUT = 30")
    assert refers_to("items may be None", "for item in collection:")
    assert not refers_to("see line 30 above", "TIMEOUT = 30")  # a line number, not a literal
    # One-letter names: "a" and "I" are words first; other letters, or code spans, count.
    assert not refers_to("this is a bug", "a = b")
    assert refers_to("`a` is never used", "a = b")
    assert refers_to("x is never used", "x = 1")


def test_a_looping_message_is_dropped() -> None:
    loop = "The heap is not a list of lists, it is a list of lists of lists, " * 3
    assert is_repetitive(loop)
    assert _reason(f"values: {loop}", 10) == "repetitive"
    assert not is_repetitive("values may be empty, and an empty list divides by zero")


def test_a_fix_must_be_a_plausible_edit_of_its_lines() -> None:
    line = "    return sum(values) / len(values)"
    message = "divides by zero when values is empty"
    assert fix_problem(message, line, None) is None
    assert fix_problem(message, line, "    return sum(values) / max(1, len(values))") is None
    assert fix_problem(message, line, line) == "same_fix"
    assert fix_problem(message, line, "  return sum(values) / len(values)  ") == "same_fix"
    assert fix_problem(message, line, "") == "empty_fix"
    assert fix_problem("unused import", "import os", "") is None  # deleting is the fix
    assert fix_problem(message, line, "    print('hello')") == "unrelated_fix"
    assert _reason(message, 10, line) == "same_fix"


def _placed(findings: list[Finding]):
    snap = DocumentStore().open("file:///w/config.py", "python", 1, CODE).snapshot()
    target = document_target(snap, 0, snap.line_count - 1)
    placed, _ = place_findings(findings, target, snap.line_count)
    return placed


def test_ground_findings_keeps_the_grounded_and_names_each_drop() -> None:
    placed = _placed(
        [
            Finding(line=1, severity="error", message=AREA_EXAMPLE[1]),
            Finding(line=6, severity="error", message="eval on file contents runs any code"),
            Finding(line=10, severity="warning", message="Nothing here.", replacement="x"),
        ]
    )
    kept, reasons = ground_findings(placed, Grounding(CODE, AREA_EXAMPLE))
    assert [p.finding.message for p in kept] == ["eval on file contents runs any code"]
    assert reasons == ["parroted", "no_anchor"]


def test_one_message_pasted_on_many_lines_is_about_none_of_them() -> None:
    message = "values and path are not checked"
    pasted = [Finding(line=n, severity="warning", message=message) for n in (4, 6, 10)]
    kept, reasons = ground_findings(_placed(pasted), PROMPT)
    assert kept == [] and reasons == ["scattered", "no_anchor", "scattered"]
    twice = [Finding(line=n, severity="warning", message=message) for n in (4, 10)]
    kept, reasons = ground_findings(_placed(twice), PROMPT)
    assert [p.first for p in kept] == [3, 9] and reasons == []


def test_severity_is_capped_at_warning() -> None:
    placed = _placed(
        [
            Finding(line=6, severity="error", message="eval is unsafe"),
            Finding(line=10, severity="hint", message="values could be typed"),
        ]
    )
    capped = cap_severity(placed)
    assert [p.finding.severity for p in capped] == ["warning", "hint"]
    assert [p.finding.severity for p in placed] == ["error", "hint"]  # not changed in place
