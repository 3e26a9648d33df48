"""Scores of one completion against what the hole removed, and their summaries.

* exact match: equal after trimming whitespace at the ends of lines and of the text;
* edit similarity: 1 - Levenshtein distance / length of the longer text (1.0 = equal),
  the measure of CrossCodeEval and Tabby's offline evaluation;
* first identifier: the first identifier of the suggestion is the one that was there
  (holes whose removed text has no identifier do not count);
* non-empty: the server suggested anything at all.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence

from pydantic import BaseModel

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def exact_match(suggestion: str, expected: str) -> bool:
    return normalise(suggestion) == normalise(expected)


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions), O(len(a) * len(b))."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return previous[-1]


def edit_similarity(suggestion: str, expected: str) -> float:
    a, b = normalise(suggestion), normalise(expected)
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - levenshtein(a, b) / longest


def first_identifier(text: str) -> str | None:
    found = _IDENTIFIER.search(text)
    return found.group() if found else None


def first_identifier_match(suggestion: str, expected: str) -> bool | None:
    """None when the expected text has no identifier (the hole does not count)."""
    wanted = first_identifier(expected)
    if wanted is None:
        return None
    return first_identifier(suggestion) == wanted


class HoleScore(BaseModel):
    exact: bool
    edit_similarity: float
    first_identifier: bool | None
    non_empty: bool


def score_hole(suggestion: str, expected: str) -> HoleScore:
    return HoleScore(
        exact=exact_match(suggestion, expected),
        edit_similarity=round(edit_similarity(suggestion, expected), 4),
        first_identifier=first_identifier_match(suggestion, expected),
        non_empty=bool(suggestion.strip()),
    )


class Summary(BaseModel):
    """The scores of a set of holes (one model, one kind or all)."""

    holes: int
    exact_match: float
    edit_similarity: float
    first_identifier: float | None
    non_empty: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (p95 of 20 values is the 19th); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1]


def summarise(scores: Sequence[HoleScore], latencies_ms: Sequence[float]) -> Summary:
    counted = [s.first_identifier for s in scores if s.first_identifier is not None]
    n = len(scores)

    def share(flags: Sequence[bool]) -> float:
        return round(sum(flags) / len(flags), 4) if flags else 0.0

    p50 = percentile(latencies_ms, 0.5)
    p95 = percentile(latencies_ms, 0.95)
    return Summary(
        holes=n,
        exact_match=share([s.exact for s in scores]),
        edit_similarity=round(statistics.fmean(s.edit_similarity for s in scores), 4) if n else 0.0,
        first_identifier=share(counted) if counted else None,
        non_empty=share([s.non_empty for s in scores]),
        latency_p50_ms=round(p50, 1) if p50 is not None else None,
        latency_p95_ms=round(p95, 1) if p95 is not None else None,
    )
