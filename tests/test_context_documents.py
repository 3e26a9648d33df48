"""Documents: UTF-16 positions, incremental edits, line bookkeeping, incremental trees."""

from __future__ import annotations

import random
import re
import time
from types import SimpleNamespace

import pytest
from lsprotocol.types import Position, Range

from codehearth.context.documents import (
    Document,
    DocumentSnapshot,
    DocumentStore,
    PositionError,
)
from codehearth.context.textindex import compute_line_starts, encode

# --- a deliberately naive reference model of LSP positions -------------------------------


def ref_lines(text: str) -> list[str]:
    """Lines without their breaks; \\r\\n, \\r and \\n all end a line."""
    return re.split(r"\r\n|\r|\n", text)


def ref_offset(text: str, line: int, character: int, *, clamp: bool) -> int:
    lines = ref_lines(text)
    breaks = [m.group() for m in re.finditer(r"\r\n|\r|\n", text)]
    if line >= len(lines):
        assert clamp
        return len(text)
    offset = sum(len(lines[i]) + len(breaks[i]) for i in range(line))
    units = 0
    for index, ch in enumerate(lines[line]):
        width = 2 if ord(ch) > 0xFFFF else 1
        if units + width > character:
            return offset + index
        units += width
    assert clamp or character == units
    return offset + len(lines[line])


def rng_range(doc_text: str, rng: random.Random) -> Range:
    lines = ref_lines(doc_text)

    def position() -> Position:
        line = rng.randrange(len(lines) + 1)  # one past the end: clamped
        width = (
            len(lines[line].encode("utf-16-le", "surrogatepass")) // 2 if line < len(lines) else 3
        )
        return Position(line=line, character=rng.randrange(width + 3))

    a, b = position(), position()
    if (a.line, a.character) > (b.line, b.character):
        a, b = b, a
    return Range(start=a, end=b)


def nodes(tree) -> list[tuple[object, ...]]:
    result = []
    cursor = tree.walk()
    visited_children = False
    while True:
        node = cursor.node
        if not visited_children:
            result.append(
                (node.type, node.start_byte, node.end_byte, node.start_point, node.end_point)
            )
            if cursor.goto_first_child():
                continue
        if cursor.goto_next_sibling():
            visited_children = False
        elif cursor.goto_parent():
            visited_children = True
        else:
            return result


def assert_tree_matches_fresh_parse(doc: Document) -> None:
    snap = doc.snapshot()
    assert snap.tree is not None and snap.language is not None
    fresh = snap.language.parse(encode(snap.text))
    assert str(snap.tree.root_node) == str(fresh.root_node)
    assert nodes(snap.tree) == nodes(fresh)


def rng_insert(rng: random.Random) -> str:
    pieces = ["a", "bc", " ", "\n", "\r\n", "\r", "é", "😀", "\t", "x = 1", "(", ")", "𝄞z"]
    return "".join(rng.choice(pieces) for _ in range(rng.randrange(0, 6)))


def edit(doc: Document, sl: int, sc: int, el: int, ec: int, text: str) -> None:
    doc.apply_change(
        Range(start=Position(line=sl, character=sc), end=Position(line=el, character=ec)), text
    )


# --- positions -------------------------------------------------------------------------


def test_offsets_in_plain_text() -> None:
    doc = Document("file:///a.txt", "plaintext", 1, "ab\ncd\n")
    assert doc.offset_at(0, 0) == 0
    assert doc.offset_at(0, 2) == 2
    assert doc.offset_at(1, 1) == 4
    assert doc.offset_at(2, 0) == 6  # the empty last line after a trailing newline
    assert doc.line_count == 3


def test_emoji_counts_as_two_utf16_units() -> None:
    text = "x = '😀😀' + y\n"
    doc = Document("file:///a.py", "python", 1, text)
    # after the first emoji: 5 code units in, 4 code points in
    assert doc.offset_at(0, 7) == text.index("😀") + 1
    assert doc.offset_at(0, 9) == text.index("😀") + 2
    assert doc.offset_at(0, 13) == text.index("y")
    assert doc.position_at(text.index("y")) == (0, 13)
    assert doc.position_at(len(text)) == (1, 0)


def test_position_inside_surrogate_pair_snaps_to_the_character_start() -> None:
    doc = Document("file:///a.txt", "plaintext", 1, "a😀b")
    assert doc.offset_at(0, 2) == 1  # between the two halves of 😀
    edit(doc, 0, 1, 0, 2, "")  # both ends snap to 😀's start: nothing to delete
    assert doc.text == "a😀b"
    edit(doc, 0, 2, 0, 3, "")  # the start snaps back: the whole 😀 goes, never half
    assert doc.text == "ab"


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_all_line_breaks_count(eol: str) -> None:
    text = eol.join(["one", "twö", "😀3"]) + eol
    doc = Document("file:///a.txt", "plaintext", 1, text)
    assert doc.line_count == 4
    assert doc.offset_at(1, 0) == 3 + len(eol)
    assert doc.offset_at(2, 2) == text.index("3")
    assert doc.offset_at(3, 0) == len(text)
    with pytest.raises(PositionError):
        doc.offset_at(0, 4)  # the line break is not part of the line


def test_mixed_line_breaks() -> None:
    text = "a\r\nb\rc\nd"
    doc = Document("file:///a.txt", "plaintext", 1, text)
    assert [doc.offset_at(i, 0) for i in range(4)] == [0, 3, 5, 7]


def test_strict_positions_raise() -> None:
    doc = Document("file:///a.txt", "plaintext", 1, "ab\ncd")
    for line, character in [(-1, 0), (0, -1), (2, 0), (0, 3), (1, 3)]:
        with pytest.raises(PositionError):
            doc.offset_at(line, character)
    snap = doc.snapshot()
    with pytest.raises(PositionError):
        snap.offset_at(5, 0)
    assert issubclass(PositionError, ValueError)


def test_edits_clamp_out_of_range_positions() -> None:
    doc = Document("file:///a.txt", "plaintext", 1, "ab\ncd")
    edit(doc, 0, 99, 0, 99, "!")  # past the end of the line: end of line
    assert doc.text == "ab!\ncd"
    edit(doc, 7, 0, 9, 5, "?")  # past the last line: end of the document
    assert doc.text == "ab!\ncd?"
    edit(doc, 1, 1, 42, 0, "")  # a range running off the end
    assert doc.text == "ab!\nc"


def test_negative_edit_positions_raise() -> None:
    # lsprotocol's Position refuses negative numbers, so build look-alikes as a lax
    # deserializer might hand them over.
    def bad_range(sl: int, sc: int, el: int, ec: int) -> Range:
        return SimpleNamespace(  # type: ignore[return-value]
            start=SimpleNamespace(line=sl, character=sc), end=SimpleNamespace(line=el, character=ec)
        )

    doc = Document("file:///a.txt", "plaintext", 1, "ab")
    with pytest.raises(PositionError):
        doc.apply_change(bad_range(0, -1, 0, 1), "x")
    with pytest.raises(PositionError):
        doc.apply_change(bad_range(-1, 0, 0, 1), "x")
    assert doc.text == "ab"


# --- edits -------------------------------------------------------------------------------


def test_incremental_edit_spanning_lines() -> None:
    doc = Document("file:///a.py", "python", 1, "def f():\n    return 1\n\nx = f()\n")
    edit(doc, 0, 4, 1, 12, "g():\n    y = 2\n    return y")
    assert doc.text == "def g():\n    y = 2\n    return y\n\nx = f()\n"
    assert doc.line_count == 6
    assert doc.offset_at(4, 4) == doc.text.index("f()")
    assert_tree_matches_fresh_parse(doc)


def test_edits_joining_and_splitting_crlf() -> None:
    doc = Document("file:///a.txt", "plaintext", 1, "a\rb")
    edit(doc, 1, 0, 1, 0, "\n")  # "\r" + "\n" now form one break
    assert doc.text == "a\r\nb"
    assert doc.line_count == 2
    assert doc.offset_at(1, 0) == 3
    edit(doc, 0, 1, 1, 0, "\r\rX\n")  # replace the break itself
    assert doc.text == "a\r\rX\nb"
    assert doc.line_count == 4
    assert doc.offset_at(3, 0) == 5


def test_full_replacement() -> None:
    doc = Document("file:///a.py", "python", 1, "x = 1\n")
    doc.snapshot()
    doc.apply_change(None, "def f():\n    pass\n")
    assert doc.text == "def f():\n    pass\n"
    assert_tree_matches_fresh_parse(doc)


@pytest.mark.parametrize("seed", range(12))
def test_random_edits_match_reference(seed: int) -> None:
    rng = random.Random(seed)
    text = "def f(x):\r\n    return '😀' + x\n\rclass K:\n    pass\n"
    doc = Document("file:///r.py", "python", 1, text)
    doc.snapshot()  # so the tree gets edited, not just parsed once at the end
    for step in range(60):
        range_ = rng_range(text, rng)
        new_text = rng_insert(rng)
        start = ref_offset(text, range_.start.line, range_.start.character, clamp=True)
        end = ref_offset(text, range_.end.line, range_.end.character, clamp=True)
        text = text[:start] + new_text + text[end:]
        doc.apply_change(range_, new_text)
        assert doc.text == text
        snap = doc.snapshot() if step % 7 == 0 else None
        if snap is not None:
            assert list(snap.line_starts) == compute_line_starts(text)
    lines = ref_lines(text)
    for line, content in enumerate(lines):
        width = len(content.encode("utf-16-le", "surrogatepass")) // 2
        for character in {0, width // 2, width}:
            assert doc.offset_at(line, character) == ref_offset(text, line, character, clamp=False)


@pytest.mark.parametrize("language", ["python", "javascript", "go", "rust", "c", "lua"])
def test_incremental_tree_equals_fresh_parse(language: str) -> None:
    sources = {
        "python": "import os\n\ndef f(a):\n    return a\n\nclass K:\n    x = 1\n",
        "javascript": "const a = 1;\nfunction f(x) {\n  return x;\n}\nclass K {}\n",
        "go": "package m\n\nfunc F(a int) int {\n\treturn a\n}\n\ntype S struct{}\n",
        "rust": "use std::io;\n\nfn f(a: i32) -> i32 {\n    a\n}\n\nstruct S;\n",
        "c": "#include <stdio.h>\n\nint f(int a) {\n    return a;\n}\n\nstruct S { int x; };\n",
        "lua": "local M = {}\n\nfunction M.f(a)\n  return a\nend\n\nreturn M\n",
    }
    doc = Document(f"file:///t.{language}", language, 1, sources[language])
    doc.snapshot()
    rng = random.Random(language)
    typed = "xé😀(1)\n  y"
    for _ in range(40):
        lines = ref_lines(doc.text)
        line = rng.randrange(len(lines))
        column = rng.randrange(len(lines[line]) + 1)
        if rng.random() < 0.7:
            edit(doc, line, column, line, column, rng.choice(typed))
        else:
            end_line = min(line + rng.randrange(2), len(lines) - 1)
            edit(doc, line, column, end_line, rng.randrange(len(lines[end_line]) + 1), "")
        if rng.random() < 0.3:
            assert_tree_matches_fresh_parse(doc)
    assert_tree_matches_fresh_parse(doc)


def test_incremental_tree_with_crlf_and_emoji() -> None:
    text = "def f(a):\r\n    s = '😀'\r\n    return a\r\n"
    doc = Document("file:///w.py", "python", 1, text)
    doc.snapshot()
    edit(doc, 1, 11, 1, 11, "😀x")  # after the emoji, in UTF-16 units
    assert doc.text.splitlines()[1] == "    s = '😀😀x'"
    edit(doc, 2, 4, 2, 4, "t = 1\r\n    ")
    edit(doc, 0, 7, 1, 4, ", b):\r\n    ")
    assert doc.text == "def f(a, b):\r\n    s = '😀😀x'\r\n    t = 1\r\n    return a\r\n"
    assert_tree_matches_fresh_parse(doc)


def test_lone_surrogates_do_not_crash() -> None:
    doc = Document("file:///s.py", "python", 1, "x = '\ud800'\ny = 2\n")
    snap = doc.snapshot()
    assert snap.tree is not None
    edit(doc, 0, 6, 0, 6, "\udc00z")
    edit(doc, 1, 0, 1, 0, "\ud83d")
    assert doc.text == "x = '\ud800\udc00z'\n\ud83dy = 2\n"
    assert doc.offset_at(1, 1) == doc.text.index("y")
    assert_tree_matches_fresh_parse(doc)


def test_snapshot_is_unaffected_by_later_edits() -> None:
    doc = Document("file:///a.py", "python", 3, "def f():\n    return 1\n")
    snap = doc.snapshot()
    before = str(snap.tree.root_node) if snap.tree else ""
    edit(doc, 1, 11, 1, 12, "[1, 2]")
    doc.snapshot()
    assert snap.text == "def f():\n    return 1\n"
    assert snap.version == 3
    assert snap.tree is not None and str(snap.tree.root_node) == before
    assert snap.tree.root_node.end_byte == len(snap.text)


def test_snapshot_built_by_hand_derives_its_line_index() -> None:
    snap = DocumentSnapshot("file:///a.txt", "plaintext", 1, "a\r\nbc", None, None)
    assert snap.line_count == 2
    assert snap.line_text(1) == "bc"
    assert snap.offset_at(1, 2) == 5


# --- size limits and the store ------------------------------------------------------------


def test_large_document_skips_parsing() -> None:
    line = "value_{0} = compute({0}, 'some text here')  # comment\n"
    text = "".join(line.format(i) for i in range(200_000))  # ~10 MB
    assert len(text) > 10_000_000
    start = time.perf_counter()
    doc = Document("file:///big.py", "python", 1, text)
    snap = doc.snapshot()
    assert snap.tree is None
    edit(doc, 100_000, 0, 100_000, 0, "x")
    assert doc.text[doc.offset_at(100_001, 0) :].startswith("value_100001 =")
    assert doc.text[doc.offset_at(100_000, 0) :].startswith("xvalue_100000 =")
    assert time.perf_counter() - start < 5.0


def test_tree_comes_back_when_document_shrinks() -> None:
    doc = Document("file:///a.py", "python", 1, "x = 1\n", max_parse_chars=20)
    assert doc.snapshot().tree is not None
    edit(doc, 1, 0, 1, 0, "y = 2\n" * 5)
    assert doc.snapshot().tree is None
    edit(doc, 1, 0, 6, 0, "")
    assert doc.text == "x = 1\n"
    assert_tree_matches_fresh_parse(doc)


def test_document_without_grammar_has_no_tree() -> None:
    doc = Document("file:///notes.txt", "plaintext", 1, "hello\n")
    snap = doc.snapshot()
    assert snap.tree is None and snap.language is None


def test_store_lifecycle() -> None:
    store = DocumentStore()
    doc = store.open("file:///a.py", "python", 1, "x = 1\n")
    assert store.get("file:///a.py") is doc
    changed = store.change(
        "file:///a.py",
        2,
        [
            (Range(start=Position(line=0, character=4), end=Position(line=0, character=5)), "2"),
            (None, "y = 3\n"),
            (Range(start=Position(line=1, character=0), end=Position(line=1, character=0)), "z"),
        ],
    )
    assert changed is doc and doc.version == 2 and doc.text == "y = 3\nz"
    with pytest.raises(KeyError):
        store.change("file:///missing.py", 1, [(None, "")])
    store.close("file:///a.py")
    assert store.get("file:///a.py") is None
    store.close("file:///a.py")  # closing twice is harmless
