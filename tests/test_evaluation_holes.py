"""Hole punching: kinds, languages, what never becomes a hole, determinism."""

from __future__ import annotations

from pathlib import Path

import pytest

from codehearth.evaluation.holes import Hole, candidate_holes, select_holes
from codehearth.evaluation.sources import SourceFile, collect, files_for, is_skipped
from codehearth.evaluation.syntax import analyse

PY_MAIN = '''"""Module docstring: no hole in here."""

from shapes import area_of_square

# a comment line
LABEL = "just a string"


def describe(side):
    """Docstring."""
    size = area_of_square(side)
    text = f"{side} -> {size}"
    return text.upper()


def twice(x):
    doubled = x * 2
    return doubled
'''

PY_SHAPES = '''def area_of_square(side):
    result = side * side
    return result
'''

JS = """// comment only
'use strict';
const message = "only a string";
function add(a, b) {
  const sum = a + b;
  return sum;
}
/* block
   comment */
module.exports = { add };
"""

GO = """package demo

// Scale multiplies.
func Scale(v float64, f float64) float64 {
\tr := v * f
\treturn r
}

var name = "text"
"""


def _source(tmp_path: Path, name: str, text: str, project: str = "demo") -> SourceFile:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return SourceFile(path, name, project, text)


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _check_single(hole: Hole, original: str) -> None:
    line = _lines(original)[hole.line]
    holed = _lines(hole.text)[hole.line]
    assert line.rstrip() == (holed + hole.expected).rstrip()
    assert holed.strip(), "the cursor is after code, not at the start of the line"
    assert hole.filled(hole.expected).rstrip() == original.rstrip()


@pytest.mark.parametrize(
    ("name", "text", "never"),
    [
        ("main.py", PY_MAIN, ["docstring", "# a comment", "Docstring", '"just a string"']),
        ("add.js", JS, ["// comment", "'use strict'", "block", "comment */"]),
        ("scale.go", GO, ["// Scale"]),
    ],
)
def test_single_line_holes_only_on_code(tmp_path, name, text, never):
    source = _source(tmp_path, name, text)
    pools = candidate_holes([source], seed="s")
    singles = pools["single-line"]
    assert singles, "every file here has code lines"
    for hole in singles:
        _check_single(hole, text)
        original_line = _lines(text)[hole.line]
        assert not any(marker in original_line for marker in never), original_line
        # Never a hole that would only remove part of a string or comment.
        assert any(ch.isalnum() for ch in hole.expected)


def test_string_only_line_has_no_code_tokens(tmp_path):
    syntax = analyse('x = 1\n"only a string"\n# comment\n', (tmp_path / "a.py").as_uri())
    assert 0 in syntax.tokens
    assert 1 not in syntax.tokens and 2 not in syntax.tokens


@pytest.mark.parametrize(
    ("name", "text", "body"),
    [
        ("main.py", PY_MAIN, "doubled = x * 2\n    return doubled"),
        ("add.js", JS, "const sum = a + b;\n  return sum;"),
        ("scale.go", GO, "r := v * f\n\treturn r"),
    ],
)
def test_multi_line_hole_removes_a_function_body(tmp_path, name, text, body):
    source = _source(tmp_path, name, text)
    holes = candidate_holes([source], seed="s")["multi-line"]
    match = [h for h in holes if h.expected == body]
    assert match, [h.expected for h in holes]
    hole = match[0]
    cursor_line = _lines(hole.text)[hole.line]
    assert cursor_line.strip() == "" and hole.column == len(cursor_line)
    assert hole.filled(hole.expected) == text


def test_python_docstring_stays_and_the_code_after_it_goes(tmp_path):
    source = _source(tmp_path, "main.py", PY_MAIN)
    holes = candidate_holes([source], seed="s")["multi-line"]
    describe = next(h for h in holes if h.expected.startswith("size ="))
    assert '"""Docstring."""' in describe.text
    assert "Docstring" not in describe.expected


def test_cross_file_holes_depend_on_another_file(tmp_path):
    main = _source(tmp_path, "main.py", PY_MAIN)
    shapes = _source(tmp_path, "shapes.py", PY_SHAPES)
    holes = candidate_holes([main, shapes], seed="s")["cross-file"]
    assert holes
    for hole in holes:
        assert hole.name and hole.defined_in and hole.defined_in != hole.file
        assert hole.expected.startswith(hole.name)
        owner = analyse(shapes.text if hole.defined_in == "shapes.py" else main.text, "x.py")
        here = analyse(main.text if hole.file == "main.py" else shapes.text, "y.py")
        assert hole.name in owner.defined
        assert hole.name not in here.defined
        assert not _lines(hole.text)[hole.line].lstrip().startswith(("from ", "import "))
    assert any(h.name == "area_of_square" for h in holes)


def test_no_cross_file_holes_across_projects(tmp_path):
    main = _source(tmp_path, "a/main.py", PY_MAIN, project="a")
    shapes = _source(tmp_path, "b/shapes.py", PY_SHAPES, project="b")
    assert candidate_holes([main, shapes], seed="s")["cross-file"] == []


def test_selection_is_deterministic_and_spread_over_kinds():
    files = files_for([], reference=True)
    first = select_holes(files, 20, seed="one")
    again = select_holes(files, 20, seed="one")
    other = select_holes(files, 20, seed="two")
    assert [h.model_dump() for h in first] == [h.model_dump() for h in again]
    assert [h.model_dump() for h in first] != [h.model_dump() for h in other]
    kinds = [h.kind for h in first]
    assert len(first) == 20
    assert kinds.count("single-line") == 10
    assert kinds.count("multi-line") == 5 and kinds.count("cross-file") == 5


def test_a_files_cursors_do_not_move_when_another_file_is_added(tmp_path):
    main = _source(tmp_path, "main.py", PY_MAIN)
    alone = {(h.line, h.column) for h in candidate_holes([main], "s")["single-line"]}
    js = _source(tmp_path, "add.js", JS)
    mixed = candidate_holes([main, js], "s")["single-line"]
    assert alone == {(h.line, h.column) for h in mixed if h.file == "main.py"}


def test_a_small_pool_gives_its_share_to_the_other_kinds(tmp_path):
    source = _source(tmp_path, "main.py", PY_MAIN)  # no cross-file holes without a 2nd file
    holes = select_holes([source], 8, seed="s")
    assert len(holes) == 8
    assert not [h for h in holes if h.kind == "cross-file"]


def test_tests_vendored_and_generated_files_are_skipped(tmp_path):
    for name in ("tests/test_x.py", "vendor/lib.js", "pkg/x_test.go", "src/app.py", "gen.py"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("value = compute(1)\n")
    (tmp_path / "gen.py").write_text("# Code generated by protoc. DO NOT EDIT.\nx = f(1)\n")
    (tmp_path / "notes.txt").write_text("not code\n")
    found = [f.relative for f in collect(tmp_path, use_git=False)]
    assert found == ["src/app.py"]
    assert is_skipped(Path("node_modules/x/index.js"))
    assert not is_skipped(Path("server/codehearth/runtime.py"))


def test_reference_set_has_several_languages_and_projects():
    files = files_for([], reference=True)
    assert {f.project for f in files} >= {"ledger", "tasks", "geom"}
    assert {Path(f.relative).suffix for f in files} >= {".py", ".js", ".go"}
    assert not [f for f in files if "test" in f.relative]
