"""The real functions the review benchmark plants bugs in: small, well-tested functions of
the Python standard library.

They are read from the interpreter's own standard library when the benchmark runs, not
copied into this project (they are under the Python Software Foundation License, which
stays with the interpreter). Python versions differ slightly in these sources, so each
run reports its interpreter version and a fingerprint of the corpus: numbers compare
only between runs with the same fingerprint.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import sys
from dataclasses import dataclass

# Top-level functions of 4-25 lines: big enough to hold a bug, small enough for a 135M
# model's window, and with a docstring or clear names so a reviewer knows the intent.
REFERENCE_FUNCTIONS: tuple[tuple[str, str], ...] = (
    ("heapq", "heappush"),
    ("heapq", "heappop"),
    ("heapq", "heapreplace"),
    ("heapq", "heappushpop"),
    ("heapq", "heapify"),
    ("heapq", "_siftdown"),
    ("heapq", "_siftup"),
    ("bisect", "insort_right"),
    ("bisect", "insort_left"),
    ("colorsys", "rgb_to_yiq"),
    ("colorsys", "yiq_to_rgb"),
    ("colorsys", "rgb_to_hls"),
    ("colorsys", "hls_to_rgb"),
    ("colorsys", "_v"),
    ("colorsys", "rgb_to_hsv"),
    ("colorsys", "hsv_to_rgb"),
    ("statistics", "mean"),
    ("statistics", "median"),
    ("statistics", "median_low"),
    ("statistics", "median_high"),
    ("statistics", "_fail_neg"),
    ("textwrap", "indent"),
    ("textwrap", "shorten"),
    ("calendar", "leapdays"),
    ("calendar", "monthrange"),
    ("calendar", "_prevmonth"),
    ("calendar", "_nextmonth"),
    ("posixpath", "split"),
    ("posixpath", "dirname"),
    ("operator", "countOf"),
    ("operator", "indexOf"),
    ("string", "capwords"),
)


@dataclass(frozen=True)
class ReferenceFunction:
    module: str
    name: str
    code: str  # the function's source, without a trailing newline

    @property
    def label(self) -> str:
        return f"{self.module}.{self.name}"


def function_source(module: str, name: str) -> str:
    """The source of a top-level function of a standard library module, as written in its
    .py file (C accelerators that replace it at import time do not matter here)."""
    path = inspect.getsourcefile(importlib.import_module(module))
    if path is None:
        raise LookupError(f"{module} has no Python source here")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            lines = text.split("\n")[node.lineno - 1 : node.end_lineno]
            return "\n".join(lines)
    raise LookupError(f"{module}.{name} is not a top-level function")


def reference_corpus(limit: int | None = None) -> list[ReferenceFunction]:
    chosen = REFERENCE_FUNCTIONS[:limit] if limit else REFERENCE_FUNCTIONS
    return [ReferenceFunction(m, n, function_source(m, n)) for m, n in chosen]


def fingerprint(corpus: list[ReferenceFunction]) -> str:
    digest = hashlib.sha256()
    for function in corpus:
        digest.update(function.label.encode() + b"\0" + function.code.encode() + b"\0")
    return digest.hexdigest()[:12]


def python_version() -> str:
    return ".".join(str(part) for part in sys.version_info[:3])
