"""Context for a selection: enclosing definition, referenced definitions, imports, budget."""

from __future__ import annotations

from codehearth.context.documents import DocumentStore
from codehearth.context.selection import fit_text, gather_context, render_context

CODE = '''import json
from pathlib import Path


class Store:
    def __init__(self) -> None:
        self.items = {}

    def save(self, path: Path) -> None:
        data = encode(self.items)
        path.write_text(data)


def encode(items: dict) -> str:
    """Serialise items."""
    return json.dumps(items, sort_keys=True)


def unrelated() -> int:
    return 42
'''


def _snap(text: str = CODE, uri: str = "file:///w/store.py", language: str = "python"):
    return DocumentStore().open(uri, language, 1, text).snapshot()


def _chars(text: str) -> int:
    return len(text)


def _select(snap, line: int, end_line: int):
    return gather_context(snap, snap.offset_at(line, 0), snap.offset_at(end_line, 0))


def test_gathers_enclosing_definition_references_and_imports() -> None:
    snap = _snap()
    ctx = _select(snap, 9, 11)  # the body of Store.save
    assert ctx.path == "store.py" and ctx.language == "python"
    assert ctx.selection.text.startswith("        data = encode(")
    assert ctx.enclosing is not None and ctx.enclosing.text.startswith("    def save(")
    assert [r.name for r in ctx.references] == ["encode"]
    assert ctx.imports == ("import json", "from pathlib import Path")
    markdown, cut = render_context(ctx, _chars, 10_000)
    assert not cut
    assert (
        markdown.index("import json")
        < markdown.index("def encode")
        < markdown.index("Selected code")
    )
    assert "unrelated" not in markdown


def test_empty_selection_explains_the_definition_around_it() -> None:
    snap = _snap()
    start = snap.offset_at(15, 4)
    ctx = gather_context(snap, start, start)
    assert ctx.selection.text.startswith("def encode(")
    assert ctx.enclosing is None


def test_budget_keeps_the_selection_and_degrades_the_rest() -> None:
    snap = _snap()
    ctx = _select(snap, 9, 11)
    full, _ = render_context(ctx, _chars, 10_000)
    tight, cut = render_context(ctx, _chars, 260)
    assert not cut
    assert len(tight) <= 260 + 40  # headings are estimated, not counted exactly
    assert "data = encode(self.items)" in tight
    assert len(tight) < len(full)
    tiny, cut = render_context(ctx, _chars, 40)
    assert cut and "cut to fit" in tiny


def test_without_a_grammar_surrounding_lines_stand_in() -> None:
    text = "\n".join(f"line {i}" for i in range(60))
    snap = _snap(text, "file:///w/notes.txt", "plaintext")
    ctx = _select(snap, 30, 31)
    assert ctx.selection.text == "line 30"
    assert ctx.surrounding is not None and "line 20" in ctx.surrounding.text
    assert ctx.references == () and ctx.imports == ()


def test_fit_text_prefers_whole_lines() -> None:
    text = "aaaa\nbbbb\ncccc"
    assert fit_text(text, _chars, 100) == (text, False)
    assert fit_text(text, _chars, 10) == ("aaaa\nbbbb", True)
    assert fit_text(text, _chars, 2) == ("aa", True)
