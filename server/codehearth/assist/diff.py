"""Unified diffs for review: which line of the diff is which line of which new file."""

from __future__ import annotations

import re
from dataclasses import dataclass

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@dataclass(frozen=True)
class DiffLine:
    path: str  # the new file's path as the diff names it (a/ b/ prefixes removed)
    line: int  # 0-based line in the new file


def _new_path(header: str) -> str | None:
    name = header[4:].split("\t", 1)[0].strip()
    if name == "/dev/null":
        return None
    if name.startswith(("a/", "b/")):
        name = name[2:]
    return name


def map_diff_lines(diff: str) -> list[DiffLine | None]:
    """For each line of the diff (index 0 = first line): the new-file line it shows, or
    None for headers, removed lines and anything outside a hunk."""
    result: list[DiffLine | None] = []
    path: str | None = None
    new_line = -1
    for text in diff.split("\n"):
        mapped: DiffLine | None = None
        hunk = _HUNK.match(text)
        if text.startswith("+++ "):
            path, new_line = _new_path(text), -1
        elif text.startswith("--- ") and new_line < 0:
            pass
        elif hunk is not None:
            new_line = int(hunk.group(1)) - 1
        elif path is not None and new_line >= 0 and text[:1] in ("+", " "):
            mapped = DiffLine(path, new_line)
            new_line += 1
        elif text.startswith("diff "):
            path, new_line = None, -1
        result.append(mapped)
    return result


def strip_diff_markers(text: str) -> str:
    """A replacement the model copied with the diff's "+" markers: drop them (only when
    every line has one, since code lines may start with a space)."""
    lines = text.split("\n")
    if lines and all(line.startswith("+") for line in lines):
        return "\n".join(line[1:] for line in lines)
    return text
