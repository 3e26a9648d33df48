"""Review: the findings grammar, parsing untrusted answers, placing findings on lines,
diagnostics and quick fixes."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from codehearth.assist.diff import map_diff_lines
from codehearth.assist.payloads import Finding
from codehearth.assist.review import (
    diff_target,
    document_target,
    findings_schema,
    parse_findings,
    place_findings,
)
from codehearth.context.documents import DocumentStore
from codehearth.engine.session import ModelSession
from codehearth.engine.types import EngineConfig
from codehearth.lsp.diagnostics import quick_fix, to_diagnostic

from .fixtures.tiny_gguf import write_tiny_gguf

TEXT = "def f(x):\n    return x +\n\nprint('héllo 🌍')\n"
URI = "file:///tmp/review_me.py"


@pytest.fixture
def session(tmp_path: Path):
    path = write_tiny_gguf(tmp_path / "t.gguf", None)
    s = ModelSession(EngineConfig(model_name="t", model_path=str(path), n_ctx=2048, n_threads=1))
    yield s
    s.close()


def _snap(text: str = TEXT, uri: str = URI):
    return DocumentStore().open(uri, "python", 3, text).snapshot()


def test_schema_bounds_the_answer() -> None:
    schema = findings_schema()
    items = schema["properties"]["findings"]
    assert items["maxItems"] == 8
    assert items["items"]["properties"]["message"]["maxLength"] <= 1000
    assert items["items"]["additionalProperties"] is False


def test_parse_findings_valid_cut_and_garbage() -> None:
    good = '{"findings": [{"line": 2, "severity": "error", "message": "m", "replacement": "r"}]}'
    findings, invalid = parse_findings(good)
    assert [f.line for f in findings] == [2] and invalid == 0
    cut = (
        '{"findings": [{"line": 1, "severity": "hint", "message": "a"}, '
        '{"line": 2, "severity": "warning", "message": "b"}, {"line": 3, "sev'
    )
    findings, _ = parse_findings(cut)
    assert [f.message for f in findings] == ["a", "b"]
    assert parse_findings("not json at all") == ([], 0)
    assert parse_findings('{"findings": 5}') == ([], 0)
    mixed = (
        '{"findings": [{"line": "x", "severity": "error", "message": "m"}, '
        '{"line": 1, "severity": "fatal", "message": "m"}, '
        '{"line": 1, "severity": "info", "message": ""}, '
        '{"line": 1, "severity": "info", "message": "ok"}]}'
    )
    findings, invalid = parse_findings(mixed)
    assert [f.message for f in findings] == ["ok"] and invalid == 3


def _finding(line: int, end_line: int | None = None, **kw) -> Finding:
    return Finding(
        line=line,
        end_line=end_line,
        severity=kw.pop("severity", "warning"),
        message=kw.pop("message", f"problem at {line}"),
        **kw,
    )


def test_place_findings_drops_what_points_nowhere() -> None:
    snap = _snap()
    target = document_target(snap, 1, 3)  # lines 2-4 of the document
    findings = [
        _finding(1),  # -> document line 1 (0-based)
        _finding(2, 3),  # -> 2..3
        _finding(0),  # before the text
        _finding(4),  # after the text
        _finding(3, 2),  # ends before it starts
        _finding(2, 99),  # ends past the text
        _finding(-5),
        _finding(1),  # duplicate
    ]
    placed, dropped = place_findings(findings, target, reviewed_lines=3)
    assert [(p.first, p.last) for p in placed] == [(1, 1), (2, 3)]
    assert dropped == 6
    # Lines the model was not shown (the prompt was cut) do not count either.
    placed, dropped = place_findings([_finding(3)], target, reviewed_lines=2)
    assert placed == [] and dropped == 1


def test_replacement_loses_copied_line_numbers_and_trailing_newline() -> None:
    target = document_target(_snap(), 0, 3)
    placed, _ = place_findings(
        [_finding(1, 2, replacement="1| def f(x):\n2|     return x + 1\n")], target, 4
    )
    assert placed[0].replacement == "def f(x):\n    return x + 1"


def test_finding_to_diagnostic_covers_whole_lines_in_utf16() -> None:
    snap = _snap()
    target = document_target(snap, 0, snap.line_count - 1)
    placed, _ = place_findings(
        [
            _finding(2, severity="error", replacement="    return x + 1"),
            _finding(4, severity="hint"),
        ],
        target,
        snap.line_count,
    )
    first = to_diagnostic(placed[0], snap)
    assert first is not None
    assert first.severity == types.DiagnosticSeverity.Error
    assert first.source == "codehearth"
    assert (first.range.start.line, first.range.start.character) == (1, 0)
    assert (first.range.end.line, first.range.end.character) == (1, len("    return x +"))
    assert first.data["replacement"] == "    return x + 1"
    hint = to_diagnostic(placed[1], snap)
    assert hint.severity == types.DiagnosticSeverity.Hint
    assert hint.range.end.character == len("print('héllo ')") + 2  # the globe is 2 UTF-16 units
    assert "replacement" not in hint.data
    # A finding whose lines the document no longer has, or no longer holds the reviewed
    # text (edited during the review), maps to nothing.
    assert to_diagnostic(placed[1], _snap("def f(x):\n")) is None
    assert to_diagnostic(placed[0], _snap(TEXT.replace("return x +", "return y +"))) is None


def test_quick_fix_applies_only_while_the_text_is_unchanged() -> None:
    snap = _snap()
    placed, _ = place_findings(
        [_finding(2, replacement="    return x + 1")], document_target(snap, 0, 4), 5
    )
    diagnostic = to_diagnostic(placed[0], snap)
    action = quick_fix(URI, snap, diagnostic)
    assert action is not None and action.kind == types.CodeActionKind.QuickFix
    (edit,) = action.edit.changes[URI]
    assert edit.range == diagnostic.range and edit.new_text == "    return x + 1"
    edited = _snap(TEXT.replace("return x +", "return x - 2"))
    assert quick_fix(URI, edited, diagnostic) is None
    other = types.Diagnostic(
        range=diagnostic.range, message="m", source="pyright", data=diagnostic.data
    )
    assert quick_fix(URI, snap, other) is None


DIFF = """diff --git a/pkg/a.py b/pkg/a.py
--- a/pkg/a.py
+++ b/pkg/a.py
@@ -1,3 +1,4 @@
 import os
-x = 1
+x = 2
+y = x / 0
 print(x)
diff --git a/b.py b/b.py
--- /dev/null
+++ b/b.py
@@ -0,0 +1,1 @@
+hello = 1
"""


def test_diff_lines_map_to_new_file_lines() -> None:
    mapped = map_diff_lines(DIFF)
    shown = {i + 1: (m.path, m.line) for i, m in enumerate(mapped) if m is not None}
    assert shown == {
        5: ("pkg/a.py", 0),
        7: ("pkg/a.py", 1),
        8: ("pkg/a.py", 2),
        9: ("pkg/a.py", 3),
        14: ("b.py", 0),
    }
    target = diff_target(DIFF)
    placed, dropped = place_findings(
        [_finding(8, replacement="+y = x / 1"), _finding(6), _finding(1), _finding(8, 14)],
        target,
        len(target.lines),
    )
    assert [(p.key, p.first, p.replacement) for p in placed] == [("pkg/a.py", 2, "y = x / 1")]
    assert dropped == 3  # a removed line, a header, a span across two files
