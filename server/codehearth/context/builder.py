"""Completion context: prefix, suffix and extra cut to a token budget at stable boundaries.

The prompt's beginning must stay byte-identical between keystrokes for llama.cpp to reuse
its KV cache, so the prefix cut (cut.py) and the extra (outline.py) depend only on text
above the cursor line, and are remembered per such text (anchors.py).

Token counts are the model's own, memoized per line, and sums of per-line counts are the
budget estimate. Splitting text at line starts never lowers its token count in practice
(joined text comes out ~8% smaller on code), so the sum is an upper estimate; where pieces
meet mid-line (prefix | suffix) tokens can merge differently, so the shares are planned
within the budget less a small margin. Counting the whole prompt costs milliseconds with
llama.cpp's tokenizer, so it is only done when the estimate comes out over that (or always,
with ContextBudget.exact_total): then the whole is counted as one string and trimmed until
it fits the full budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .anchors import Anchor, AnchorCache, AnchorKey
from .cut import quantized_cut, syntax_cut, window_start
from .documents import DocumentSnapshot
from .outline import build_extra
from .textindex import LINE_BREAK, byte_len, scrub_surrogates
from .tokens import CachedTokenCounter, cached_counter

__all__ = ["CompletionContext", "ContextBudget", "build_context", "clear_caches"]

MID_LINE_STEP = 64  # a prefix cut inside an overlong line moves in steps of this many chars


class ContextBudget(BaseModel):
    """How much context goes into a prompt, in model tokens and lines."""

    model_config = ConfigDict(extra="forbid")

    max_prompt_tokens: int = Field(1536, ge=16)  # prefix + suffix + extra
    max_lines_before: int = Field(128, ge=0)
    max_lines_after: int = Field(32, ge=0)
    suffix_share: float = Field(0.2, ge=0.0, le=0.9)  # of the token budget
    extra_share: float = Field(0.15, ge=0.0, le=0.9)  # imports/signatures above the cut
    # Count extra + prefix + suffix as one string on every build instead of only when the
    # per-line estimate is over budget; exact, but ~2 µs per token with llama.cpp.
    exact_total: bool = False

    @model_validator(mode="after")
    def _shares_leave_room(self) -> ContextBudget:
        if self.suffix_share + self.extra_share > 0.9:
            raise ValueError("suffix_share + extra_share must leave room for the prefix")
        return self

    @property
    def margin_tokens(self) -> int:
        """Kept free for tokens that merge differently where the separately counted pieces
        (text above the cursor line, cursor line prefix, suffix) meet."""
        return max(8, self.max_prompt_tokens // 64)

    @property
    def usable_tokens(self) -> int:
        return self.max_prompt_tokens - self.margin_tokens

    @property
    def suffix_tokens(self) -> int:
        return int(self.usable_tokens * self.suffix_share)

    @property
    def extra_tokens(self) -> int:
        return int(self.usable_tokens * self.extra_share)

    @property
    def prefix_tokens(self) -> int:
        return self.usable_tokens - self.suffix_tokens - self.extra_tokens

    @property
    def line_reserve(self) -> int:
        """Part of the prefix budget kept for the cursor line, so typing never moves the cut."""
        return min(max(self.prefix_tokens // 10, 32), 96, self.prefix_tokens // 2)


@dataclass(frozen=True)
class CompletionContext:
    # Strings are slices of the document, except that lone surrogates become U+FFFD.
    prefix: str  # text from the cut point up to the cursor
    suffix: str  # text from the cursor to the end of suffix_end_line (no final line break)
    extra: str  # imports + signatures above the cut, ends with a line break; "" if none
    language: str | None  # grammar name if known (python, tsx, cpp...), else the language id
    multiline: bool  # the cursor line is blank before and after the cursor
    line_prefix: str
    line_suffix: str
    indent: str
    prefix_start_line: int
    suffix_end_line: int
    # model tokens of extra + prefix + suffix: an upper estimate from per-line counts (exact
    # when the builder had to trim); never above max_prompt_tokens (see module doc)
    prompt_tokens_estimate: int


_ANCHORS = AnchorCache()


def clear_caches() -> None:
    """Forget remembered cuts (tests, or when documents are reloaded)."""
    _ANCHORS.clear()


@dataclass
class _Doc:
    """Per-call helpers over a snapshot."""

    snap: DocumentSnapshot
    count: CachedTokenCounter

    def line_tokens(self, line: int) -> int:
        starts = self.snap.line_starts
        end = starts[line + 1] if line + 1 < len(starts) else len(self.snap.text)
        return self.count(self.snap.text[starts[line] : end])

    def byte_offset(self, offset: int) -> int:
        text = self.snap.text
        return offset if text.isascii() else byte_len(text[:offset])

    def use_tree(self) -> bool:
        snap = self.snap
        if snap.tree is None or snap.language is None or snap.source is None:
            return False
        # Tree-sitter rows only break at \n; with lone \r breaks rows and lines disagree.
        return "\r" not in snap.text or snap.text.count("\r") == snap.text.count("\r\n")


@dataclass
class _Parts:
    """The pieces of a context as offsets into the text, so trimming is cheap."""

    cursor: int
    line: int
    cut: int
    prefix_offset: int
    suffix_end: int  # last line of the suffix
    suffix_offset: int  # end of the suffix
    extra: str

    def strings(self, text: str) -> tuple[str, str]:
        return text[self.prefix_offset : self.cursor], text[self.cursor : self.suffix_offset]


def build_context(
    snap: DocumentSnapshot,
    line: int,
    character: int,
    count_tokens: Callable[[str], int],
    budget: ContextBudget,
) -> CompletionContext:
    """Context for a completion at (line, UTF-16 character); PositionError if out of range."""
    cursor = snap.offset_at(line, character)
    doc = _Doc(snap, cached_counter(count_tokens))
    text = snap.text
    line_start = snap.line_starts[line]
    current = text[line_start : snap.line_end(line)]
    line_prefix, line_suffix = current[: cursor - line_start], current[cursor - line_start :]

    parts, total = _assemble(doc, line, cursor, budget)
    if budget.exact_total or total > budget.usable_tokens:
        total = _enforce_total(doc, parts, budget.max_prompt_tokens)
    prefix, suffix = parts.strings(text)
    spec = snap.language
    return CompletionContext(
        prefix=scrub_surrogates(prefix),
        suffix=scrub_surrogates(suffix),
        extra=scrub_surrogates(parts.extra),
        language=spec.name if spec is not None else (snap.language_id or None),
        multiline=not line_prefix.strip() and not line_suffix.strip(),
        line_prefix=scrub_surrogates(line_prefix),
        line_suffix=scrub_surrogates(line_suffix),
        indent=current[: len(current) - len(current.lstrip(" \t"))],
        prefix_start_line=parts.cut,
        suffix_end_line=parts.suffix_end,
        prompt_tokens_estimate=total,
    )


def _assemble(doc: _Doc, line: int, cursor: int, budget: ContextBudget) -> tuple[_Parts, int]:
    """Cut, extra and suffix within their shares; returns them with their estimated tokens."""
    snap = doc.snap
    use_tree = doc.use_tree()
    reserve = _line_reserve(doc, snap.text[snap.line_starts[line] : cursor], budget)
    key = _anchor_key(doc, line, budget, use_tree, reserve)
    anchor = _ANCHORS.get(key)
    if anchor is None:
        anchor = Anchor(_choose_cut(doc, line, budget, use_tree, reserve))
        _ANCHORS.put(key, anchor)
    cut, prefix_offset, prefix_tokens = _fit_prefix(
        doc, anchor.cut, line, cursor, budget.prefix_tokens
    )
    above = anchor.above.get(prefix_offset)
    if above is None:
        extra = ""
        if use_tree and prefix_offset > 0:
            extra = _extra(doc, prefix_offset, budget.extra_tokens)
        above = (extra, doc.count(extra) if extra else 0)
        anchor.above[prefix_offset] = above
    extra, extra_tokens = above
    suffix_end, suffix_offset, suffix_tokens = _suffix(doc, line, cursor, budget)
    parts = _Parts(cursor, line, cut, prefix_offset, suffix_end, suffix_offset, extra)
    return parts, extra_tokens + prefix_tokens + suffix_tokens


def _anchor_key(
    doc: _Doc, line: int, budget: ContextBudget, use_tree: bool, reserve: int
) -> AnchorKey:
    snap = doc.snap
    above = snap.text[: snap.line_starts[line]]
    spec = snap.language.name if snap.language is not None else None
    shape = (
        budget.max_prompt_tokens,
        budget.max_lines_before,
        budget.suffix_share,
        budget.extra_share,
    )
    return (snap.uri, line, len(above), hash(above), spec, use_tree, doc.count, reserve, shape)


def _line_reserve(doc: _Doc, line_prefix: str, budget: ContextBudget) -> int:
    """The reserve for the cursor line, doubled as often as a long line needs: the cut then
    moves (by a syntax unit) only when the line crosses a power of two of the reserve."""
    reserve = budget.line_reserve
    used = doc.count(line_prefix)
    while used > reserve and reserve < budget.prefix_tokens:
        reserve *= 2
    return min(reserve, budget.prefix_tokens)


def _choose_cut(doc: _Doc, line: int, budget: ContextBudget, use_tree: bool, reserve: int) -> int:
    window_budget = budget.prefix_tokens - reserve
    first = window_start(line, doc.line_tokens, window_budget, budget.max_lines_before)
    if first == line:
        return line
    if use_tree:
        snap = doc.snap
        assert snap.tree is not None
        line_byte = doc.byte_offset(snap.line_starts[line])
        window = snap.text[snap.line_starts[first] : snap.line_starts[line]]
        first_byte = line_byte - byte_len(window)
        # Chunks of about a quarter of the window (at ~4 bytes a token) between cut candidates.
        group_bytes = max(window_budget, 64)
        cut = syntax_cut(snap.tree.root_node, first, first_byte, line_byte, group_bytes)
        if cut is not None:
            return cut
    return quantized_cut(first, line)


def _fit_prefix(doc: _Doc, cut: int, line: int, cursor: int, budget: int) -> tuple[int, int, int]:
    """Move the cut down only if the cursor line outgrew its reserve.

    Returns the cut line, the prefix's start offset and its estimated tokens.
    """
    snap = doc.snap
    line_start = snap.line_starts[line]
    head = snap.text[line_start:cursor]
    used = doc.count(head) + sum(doc.line_tokens(i) for i in range(cut, line))
    while used > budget and cut < line:
        used -= doc.line_tokens(cut)
        cut += 1
    if used <= budget:
        return cut, snap.line_starts[cut], used
    # The text before the cursor on its own line is over budget (minified code): cut inside
    # the line at a multiple of MID_LINE_STEP so the cut still holds while typing.
    lo, hi = 0, len(head) // MID_LINE_STEP + 1
    while lo < hi:
        mid = (lo + hi) // 2
        if doc.count.uncached(head[mid * MID_LINE_STEP :]) <= budget:
            hi = mid
        else:
            lo = mid + 1
    start = min(lo * MID_LINE_STEP, len(head))
    return line, line_start + start, doc.count.uncached(head[start:])


def _extra(doc: _Doc, prefix_offset: int, budget: int) -> str:
    snap = doc.snap
    assert snap.tree is not None and snap.language is not None and snap.source is not None
    match = LINE_BREAK.search(snap.text)
    eol = match.group() if match else "\n"
    return build_extra(
        snap.language,
        snap.tree,
        snap.source,
        doc.byte_offset(prefix_offset),
        doc.count,
        budget,
        eol,
    )


def _suffix(doc: _Doc, line: int, cursor: int, budget: ContextBudget) -> tuple[int, int, int]:
    """Last line, end offset and estimated tokens of the suffix: whole lines while they fit."""
    snap = doc.snap
    tokens = budget.suffix_tokens
    rest = snap.text[cursor : snap.line_end(line)]
    used = doc.count(rest)
    if used > tokens:
        kept = _trim_end(doc, rest, tokens)
        return line, cursor + len(kept), doc.count.uncached(kept)
    last = min(snap.line_count - 1, line + budget.max_lines_after)
    end = line
    while end < last:
        cost = doc.line_tokens(end + 1)
        if used + cost > tokens:
            break
        used += cost
        end += 1
    return end, snap.line_end(end), used


def _trim_end(doc: _Doc, text: str, budget: int) -> str:
    """Longest head of `text` within `budget` tokens (binary search on characters)."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if doc.count.uncached(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def _enforce_total(doc: _Doc, parts: _Parts, limit: int) -> int:
    """Recount the assembled text as one string and, while it is over (tokens merging across
    lines differently than estimated), give up suffix lines first, then the extra, then
    prefix lines. Rare: the shares are filled from per-line counts that overestimate."""
    snap = doc.snap
    total = 0
    for _ in range(64):
        prefix, suffix = parts.strings(snap.text)
        total = doc.count.uncached(parts.extra + prefix + suffix)
        over = total - limit
        if over <= 0:
            break
        if parts.suffix_end > parts.line:
            while parts.suffix_end > parts.line and over > 0:
                over -= doc.line_tokens(parts.suffix_end)
                parts.suffix_end -= 1
            parts.suffix_offset = snap.line_end(parts.suffix_end)
        elif parts.suffix_offset > parts.cursor:
            kept = _trim_end(doc, suffix, max(doc.count(suffix) - over, 0))
            parts.suffix_offset = parts.cursor + len(kept)
        elif parts.extra:
            parts.extra = ""
        elif parts.cut < parts.line:
            while parts.cut < parts.line and over > 0:
                over -= doc.line_tokens(parts.cut)
                parts.cut += 1
            parts.prefix_offset = snap.line_starts[parts.cut]
        else:
            parts.prefix_offset = min(parts.cursor, parts.prefix_offset + MID_LINE_STEP)
    return total
