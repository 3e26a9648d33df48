"""Golden clean-up cases: a file with a cursor marker, the raw model output, the text the
editor must get (tests/fixtures/postprocess/<language>.toml, one file per language).

Each case runs through the real context builder (tree-sitter, the same budget an editor's
request gets) and the real clean-up pipeline. `expected` is the cleaned suggestion;
`dropped = true` says no suggestion may be shown. `filters` (optional) names the filters
that must have changed the text, so a case pins the rule it is about.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from codehearth.completion.postprocess import FILTER_NAMES, clean_suggestion
from codehearth.context.builder import ContextBudget, build_context
from codehearth.context.documents import Document

FIXTURES = Path(__file__).parent / "fixtures" / "postprocess"
CURSOR = "<|cursor|>"
EXTENSIONS = {
    "python": ".py", "javascript": ".js", "typescript": ".ts", "go": ".go", "rust": ".rs",
    "c": ".c", "cpp": ".cpp", "java": ".java", "lua": ".lua", "plaintext": ".txt",
}  # fmt: skip


def _cases() -> list[pytest.param]:
    cases = []
    for path in sorted(FIXTURES.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for case in data["case"]:
            cases.append(pytest.param(data["language"], case, id=f"{path.stem}: {case['name']}"))
    return cases


def _context(language: str, text: str, multiline: str | None):
    assert text.count(CURSOR) == 1, "a case has exactly one cursor marker"
    offset = text.index(CURSOR)
    text = text.replace(CURSOR, "")
    uri = f"file:///golden/case{EXTENSIONS[language]}"
    snap = Document(uri, language, 1, text).snapshot()
    line, character = snap.position_at(offset)
    ctx = build_context(snap, line, character, lambda s: len(s) // 3 + 1, ContextBudget())
    if multiline is not None:
        ctx = replace(ctx, multiline=multiline == "always")
    return ctx


@pytest.mark.parametrize(("language", "case"), _cases())
def test_golden_case(language: str, case: dict) -> None:
    ctx = _context(language, case["file"], case.get("multiline"))
    changed: Counter[str] = Counter()
    got = clean_suggestion(case["raw"], ctx, changed)
    if case.get("dropped"):
        assert got is None, f"expected no suggestion, got {got!r}"
    else:
        assert got == case["expected"]
    for name in case.get("filters", []):
        assert name in FILTER_NAMES, f"unknown filter {name!r}"
        assert changed[name], f"{name} did not act (changed: {dict(changed)})"


def test_every_language_and_filter_has_cases() -> None:
    languages, named = set(), set()
    for path in FIXTURES.glob("*.toml"):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        languages.add(data["language"])
        named.update(name for case in data["case"] for name in case.get("filters", []))
    assert {"python", "javascript", "typescript", "go", "rust", "c", "java", "lua"} <= languages
    assert set(FILTER_NAMES) - named == set(), "a filter without a golden case"
