"""Grounding: a review finding is kept only when it is anchored in the code it cites.

Review findings become diagnostics in the user's Problems panel, and one finding that is
unrelated to the code (a small model copying the prompt's example, or talking about code
that is not there) teaches users to distrust all of them. So every finding must show it
is about its lines:

* it does not repeat text the model was shown that is not the user's code (the
  instructions, a worked example): that is parroting;
* its message refers to something on the cited lines: an identifier, a literal or an
  operator that occurs there (an operator also by name: "adds" for ``+``);
* its message says something (not one phrase over and over, as small models loop) and
  is about its lines (not one message pasted on three or more lines);
* a suggested fix is a plausible edit of those lines: not the same text, not empty
  unless the message asks for a deletion, and sharing something with what it replaces.

The rules are language-agnostic (they look at tokens, not at a parse), so diffs and every
language get them. Whatever fails a rule is dropped and counted by reason; the reasons
are logged, never the code.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .review import PlacedFinding

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")
_STRING = re.compile(r"'([^'\n]{2,})'|\"([^\"\n]{2,})\"")
_WORD = re.compile(r"[a-z0-9_]+")
_CODE_SPAN = re.compile(r"`([^`]+)`")
_LINE_REFERENCE = re.compile(r"\blines?\s+\d+(?:\s*(?:-|to|and)\s*\d+)?", re.IGNORECASE)
_CONTRACTION = re.compile(r"(?<=\w)'\w+")
# Longest first, so "<=" is one operator and not "<" then "=".
_OPERATORS = (
    "**", "//", "==", "!=", "<=", ">=", "<<", ">>", "->", "+=", "-=", "*=", "/=", "&&", "||",
    "+", "-", "*", "/", "%", "<", ">", "&", "|", "^", "~", "=",
)  # fmt: skip
_ADD = r"add(s|ed|ing|ition)?|plus|sum(s|med|ming)?|concatenat\w*|increment\w*"
_SUB = r"subtract\w*|minus|negat\w*|decrement\w*"
_DIV = r"divid\w*|division|quotient|ratio"
_LESS = r"less|smaller|lower|compar\w*"
_MORE = r"greater|larger|bigger|higher|compar\w*"
# Operators by name, as whole words ("adds" names "+", "address" does not).
_OPERATOR_NAMES = {
    "+": _ADD,
    "-": _SUB,
    "*": r"multipl\w*|times|product",
    "/": _DIV,
    "//": _DIV + r"|floor",
    "%": r"modul\w*|remainder",
    "**": r"power|exponent\w*|squar\w*",
    "==": r"equal\w*|compar\w*",
    "!=": r"equal\w*|compar\w*",
    "<": _LESS,
    ">": _MORE,
    "<=": _LESS + r"|at most",
    ">=": _MORE + r"|at least",
    "=": r"assign\w*",
    "+=": _ADD + r"|accumulat\w*",
    "-=": _SUB,
}
# Keywords that are also everyday English: their presence in a message proves nothing.
_PROSE = frozenset(
    (
        *("a", "an", "the", "is", "are", "be", "to", "of", "in", "and", "or", "not", "if"),
        *("for", "as", "with", "from", "else", "by", "on", "at", "it", "its", "this"),
        *("that", "then", "than", "do", "does", "no", "so", "all", "any", "some"),
    )
)
_DELETION = ("delet", "remov", "unused", "unnecessar", "redundant", "dead code", "duplicat")

REASONS = (
    *("parroted", "no_anchor", "repetitive", "scattered"),
    *("same_fix", "empty_fix", "unrelated_fix"),
)


@dataclass(frozen=True)
class Grounding:
    """What a finding is checked against: the code the model reviewed (all of it) and
    the prompt's other text (instructions, example), which findings must not repeat."""

    reviewed_text: str
    prompt_only: tuple[str, ...] = ()


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _identifiers(text: str) -> set[str]:
    return set(_IDENTIFIER.findall(text))


def _operators(text: str) -> set[str]:
    found, rest = set(), _STRING.sub(" ", text)
    for op in _OPERATORS:
        if op in rest:
            found.add(op)
            rest = rest.replace(op, " ")
    return found


def _message_tokens(message: str) -> tuple[set[str], set[str]]:
    """(words of the message as written, the contents of its `code` spans)."""
    cleaned = _CONTRACTION.sub("", _LINE_REFERENCE.sub(" ", message))
    return set(_IDENTIFIER.findall(cleaned)) | set(_NUMBER.findall(cleaned)), set(
        _CODE_SPAN.findall(cleaned)
    )


def _names_identifier(identifier: str, words: set[str], spans: set[str]) -> bool:
    if any(identifier in _identifiers(span) for span in spans):
        return True
    if len(identifier) == 1:
        # "a" and "I" are words before they are variables; other letters stand alone.
        return identifier in words and identifier not in ("a", "A", "I")
    if identifier.lower() in _PROSE:
        return False
    lowered = {w.lower() for w in words}
    low = identifier.lower()
    return low in lowered or f"{low}s" in lowered or f"{low}es" in lowered


def _names_operator(op: str, message: str) -> bool:
    if re.search(rf"(?:^|[\s`'\"(]){re.escape(op)}(?:$|[\s`'\")])", message):
        return True
    names = _OPERATOR_NAMES.get(op)
    return names is not None and re.search(rf"\b(?:{names})\b", message, re.IGNORECASE) is not None


def refers_to(message: str, cited: str) -> bool:
    """Whether the message names an identifier, literal or operator of the cited text."""
    words, spans = _message_tokens(message)
    if any(_names_identifier(name, words, spans) for name in _identifiers(cited)):
        return True
    if set(_NUMBER.findall(cited)) & words:
        return True
    for match in _STRING.finditer(cited):
        literal = match.group(1) or match.group(2)
        if literal.strip() and literal in message:
            return True
    return any(_names_operator(op, message) for op in _operators(cited))


def _runs(words: list[str], size: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def repeats_prompt(text: str, grounding: Grounding, run: int = 5) -> bool:
    """Whether text repeats a run of words from the prompt's non-code text (or all of it,
    when shorter) that the reviewed code does not contain."""
    words = _words(text)
    if len(words) < 3:
        return False  # one or two words are in every prompt
    size = min(run, len(words))
    own = _runs(_words(grounding.reviewed_text), size)
    mine = _runs(words, size) - own
    return any(mine & _runs(_words(other), size) for other in grounding.prompt_only)


def _copies_prompt_code(replacement: str, grounding: Grounding) -> bool:
    lines = {line.strip() for line in replacement.split("\n") if line.strip()}
    own = {line.strip() for line in grounding.reviewed_text.split("\n")}
    prompt_lines = {line.strip() for other in grounding.prompt_only for line in other.split("\n")}
    return bool(lines) and lines <= prompt_lines - own


def is_repetitive(message: str, gram: int = 4, times: int = 3) -> bool:
    """One phrase said over and over: a model loop, not a finding."""
    words = _words(message)
    grams = Counter(tuple(words[i : i + gram]) for i in range(len(words) - gram + 1))
    return bool(grams) and max(grams.values()) >= times


def _normal_message(message: str) -> str:
    return " ".join(_words(message))


def _normal(text: str) -> str:
    return "\n".join(line.strip() for line in text.strip("\n").split("\n"))


def fix_problem(message: str, cited: str, replacement: str | None) -> str | None:
    """Why a suggested fix is not a plausible edit of the cited lines (None: it is)."""
    if replacement is None:
        return None
    if not replacement.strip():
        return None if any(w in message.lower() for w in _DELETION) else "empty_fix"
    if _normal(replacement) == _normal(cited):
        return "same_fix"
    anchors = _identifiers(cited) | set(_NUMBER.findall(cited))
    kept = _identifiers(replacement) | set(_NUMBER.findall(replacement))
    if anchors and not anchors & kept:
        return "unrelated_fix"
    return None


def ungrounded_reason(
    message: str, cited: str, replacement: str | None, grounding: Grounding
) -> str | None:
    """The first rule a finding breaks (one of REASONS), or None when it is grounded."""
    if repeats_prompt(message, grounding) or (
        replacement is not None and _copies_prompt_code(replacement, grounding)
    ):
        return "parroted"
    if is_repetitive(message):
        return "repetitive"
    if not refers_to(message, cited):
        return "no_anchor"
    return fix_problem(message, cited, replacement)


def describe(reasons: Iterable[str]) -> str:
    """'2 no_anchor, 1 parroted': for the log, without any code."""
    counts = Counter(reasons)
    return ", ".join(f"{n} {reason}" for reason, n in counts.most_common()) or "none"


# -- applied to placed findings ---------------------------------------------------------

SCATTERED = 3  # the same message on this many findings: dropped on all of them
SMALL_MODEL_NOTICE = "small model: findings may be unreliable; see `codehearth eval --review`"
_SEVERITY_ORDER = ("hint", "info", "warning", "error")


def ground_findings(
    placed: list[PlacedFinding], grounding: Grounding
) -> tuple[list[PlacedFinding], list[str]]:
    """The grounded findings, and the reason each other one was dropped."""
    kept, reasons = [], []
    copies = Counter(_normal_message(item.finding.message) for item in placed)
    for item in placed:
        reason = ungrounded_reason(item.finding.message, item.seen, item.replacement, grounding)
        if reason is None and copies[_normal_message(item.finding.message)] >= SCATTERED:
            reason = "scattered"  # one message on many lines is about none of them
        if reason is None:
            kept.append(item)
        else:
            reasons.append(reason)
    return kept, reasons


def cap_severity(placed: list[PlacedFinding], ceiling: str = "warning") -> list[PlacedFinding]:
    """Findings of a model not known to review well never claim more than the ceiling."""
    top = _SEVERITY_ORDER.index(ceiling)
    out = []
    for item in placed:
        if _SEVERITY_ORDER.index(item.finding.severity) > top:
            finding = item.finding.model_copy(update={"severity": ceiling})
            item = dataclasses.replace(item, finding=finding)
        out.append(item)
    return out
