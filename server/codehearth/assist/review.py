"""Offline code review: a grammar-constrained JSON answer, validated and placed on lines.

The model sees the reviewed text with numbered lines and must answer
``{"findings": [{"line", "severity", "message", "end_line"?, "replacement"?}]}``; a
llama.cpp grammar built from the JSON schema below makes any other output impossible.
The array and its strings are bounded in the schema (and max_tokens is capped, see
sampling.py) so even a tiny model reaches the closing brace. When max_tokens cuts the
JSON anyway, the complete findings before the cut are kept.

Findings are untrusted: a line outside the reviewed text, an end before a start or a line
a diff does not show is dropped, never crashed on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from ..context.documents import DocumentSnapshot
from ..context.selection import display_path, fit_text
from ..engine.api import Session
from ..engine.types import GenerationParams
from .chat_template import ChatMessage, chat_template_for, encode_chat
from .diff import map_diff_lines, strip_diff_markers
from .generation import PreparedPrompt
from .payloads import Finding

MAX_FINDINGS = 8
MAX_MESSAGE_CHARS = 240
MAX_REPLACEMENT_CHARS = 800
_SAFETY_TOKENS = 16
_NUMBERED = re.compile(r"^\s*\d+\| ?")

REVIEW_SYSTEM = (
    "You are a careful code reviewer. Reply with JSON only, in exactly this shape:\n"
    '{"findings": [{"line": 2, "severity": "error", "message": "what is wrong and why", '
    '"replacement": "the corrected code of that line"}]}\n'
    "- line: the number written before the code line. For a problem spanning several "
    'lines add "end_line"; "replacement" then replaces lines line to end_line.\n'
    '- severity: "error" (a bug), "warning" (risky or probably wrong), "info" or "hint" '
    "(clarity, style).\n"
    "- message: quote the code it is about in backticks, as it is written on that line.\n"
    f"- Report real problems only, at most {MAX_FINDINGS}. "
    'Reply {"findings": []} when the code is fine.'
)


def findings_schema(max_findings: int = MAX_FINDINGS) -> dict[str, Any]:
    finding = {
        "type": "object",
        "properties": {
            "line": {"type": "integer"},
            "end_line": {"type": "integer"},
            "severity": {"enum": ["error", "warning", "info", "hint"]},
            "message": {"type": "string", "minLength": 1, "maxLength": MAX_MESSAGE_CHARS},
            "replacement": {"type": "string", "maxLength": MAX_REPLACEMENT_CHARS},
        },
        "required": ["line", "severity", "message"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"findings": {"type": "array", "items": finding, "maxItems": max_findings}},
        "required": ["findings"],
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class ReviewTarget:
    """What is reviewed: its lines, and for each line where it lives (a document URI or a
    diff's file path, and a 0-based line there), None where it lives nowhere."""

    label: str
    language: str
    lines: list[str]
    where: list[tuple[str, int] | None]
    kind: Literal["document", "diff"] = "document"


def document_target(snap: DocumentSnapshot, first: int, last: int) -> ReviewTarget:
    lines = [snap.line_text(i) for i in range(first, last + 1)]
    language = snap.language.name if snap.language else (snap.language_id or "text")
    where: list[tuple[str, int] | None] = [(snap.uri, i) for i in range(first, last + 1)]
    return ReviewTarget(display_path(snap.uri), language, lines, where)


def diff_target(diff: str) -> ReviewTarget:
    mapped = map_diff_lines(diff)
    where: list[tuple[str, int] | None] = [(m.path, m.line) if m else None for m in mapped]
    return ReviewTarget("the change", "diff", diff.split("\n"), where, kind="diff")


def numbered(lines: list[str]) -> str:
    width = len(str(len(lines)))
    return "\n".join(f"{i:>{width}}| {text}" for i, text in enumerate(lines, 1))


@dataclass(frozen=True)
class ReviewPrompt:
    reviewed_lines: int  # the model saw lines 1..reviewed_lines of the target
    truncated: bool


@dataclass(frozen=True)
class ReviewExample:
    """A worked example shown before the user's code: a file and the answer to it."""

    label: str
    code: str
    findings: list[dict[str, Any]]

    def answer(self) -> str:
        return json.dumps({"findings": self.findings})


# No worked example: measured with the seeded-bug benchmark (docs/quality.md, "Review"),
# the embedded model answers well-formed JSON from the schema and the instructions alone
# (the grammar enforces it), and a worked example only gave it text to copy onto unrelated
# code (the bug report: the example's message on `import os`) and more false findings.
# An example added here must use names no user file is likely to have: its text counts as
# prompt text that findings may not repeat (prompt_only_texts).
EXAMPLES: tuple[ReviewExample, ...] = ()


def _user_message(label: str, language: str, shown: str, diff: bool) -> ChatMessage:
    what = "this change (a unified diff)" if diff else f"`{label}`"
    content = f"Review {what}. Every line starts with its number.\n```{language}\n{shown}\n```"
    return ChatMessage(role="user", content=content)


def _messages(target: ReviewTarget, shown: str) -> list[ChatMessage]:
    messages = [ChatMessage(role="system", content=REVIEW_SYSTEM)]
    for example in EXAMPLES:
        code = numbered(example.code.split("\n"))
        messages.append(_user_message(example.label, "python", code, False))
        messages.append(ChatMessage(role="assistant", content=example.answer()))
    messages.append(_user_message(target.label, target.language, shown, target.kind == "diff"))
    return messages


def prompt_only_texts() -> tuple[str, ...]:
    """The text the model is shown that is not the user's code (findings must not repeat
    it: see grounding.py)."""
    template = _user_message("", "", "", False).content + _user_message("", "", "", True).content
    texts = [REVIEW_SYSTEM, template]
    for example in EXAMPLES:
        texts.append(example.code)
        for finding in example.findings:
            texts += [finding.get("message", ""), finding.get("replacement", "")]
    return tuple(text for text in texts if text)


def review_prepare(
    target: ReviewTarget,
) -> Callable[[Session, GenerationParams], PreparedPrompt]:
    def prepare(session: Session, params: GenerationParams) -> PreparedPrompt:
        template = chat_template_for(session)
        overhead = encode_chat(session, template, _messages(target, "")).token_count
        budget = max(32, session.n_ctx - params.max_tokens - overhead - _SAFETY_TOKENS)
        shown, truncated = fit_text(numbered(target.lines), session.count_tokens, budget)
        reviewed = shown.count("\n") + 1 if shown else 0
        prompt = encode_chat(session, template, _messages(target, shown))
        return PreparedPrompt.of(prompt, ReviewPrompt(reviewed, truncated))

    return prepare


def parse_findings(text: str) -> tuple[list[Finding], int]:
    """Valid findings in the model's answer and how many items were invalid. A cut-off
    answer keeps the findings that were complete."""
    try:
        data = json.loads(text, strict=False)  # raw newlines in strings are fine here
        items = data.get("findings") if isinstance(data, dict) else None
    except ValueError:
        items = _salvage(text)
    if not isinstance(items, list):
        return [], 0
    findings, dropped = [], 0
    for item in items:
        try:
            findings.append(Finding.model_validate(item))
        except ValidationError:
            dropped += 1
    return findings, dropped


def _salvage(text: str) -> list[Any]:
    start = text.find("[", text.find('"findings"') + 1)
    if start < 0:
        return []
    decoder = json.JSONDecoder(strict=False)
    items, pos = [], start + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        try:
            item, pos = decoder.raw_decode(text, pos)
        except ValueError:
            return items
        items.append(item)


@dataclass(frozen=True)
class PlacedFinding:
    finding: Finding
    key: str  # document URI, or the diff's file path
    first: int  # 0-based lines in that document
    last: int
    replacement: str | None
    seen: str  # the text of those lines as the model saw it, to detect later edits


def place_findings(
    findings: list[Finding], target: ReviewTarget, reviewed_lines: int
) -> tuple[list[PlacedFinding], int]:
    """Findings on lines that exist, mapped to their document; the count dropped."""
    placed: list[PlacedFinding] = []
    known: set[tuple[str, int, int, str]] = set()
    dropped = 0
    limit = min(reviewed_lines, len(target.lines))
    for finding in findings:
        end = finding.end_line if finding.end_line is not None else finding.line
        ok = 1 <= finding.line <= end <= limit
        start_at = target.where[finding.line - 1] if ok else None
        end_at = target.where[end - 1] if ok else None
        if start_at is None or end_at is None or start_at[0] != end_at[0]:
            dropped += 1
            continue
        key = (start_at[0], start_at[1], end_at[1], finding.message)
        if key in known:
            dropped += 1
            continue
        known.add(key)
        replacement = _clean_replacement(finding.replacement, target)
        seen = _seen_text(target, finding.line, end, start_at[0])
        placed.append(
            PlacedFinding(finding, start_at[0], start_at[1], end_at[1], replacement, seen)
        )
    return placed, dropped


def _seen_text(target: ReviewTarget, line: int, end: int, key: str) -> str:
    """The document lines a finding covers, as they were in the reviewed text (a diff's
    lines without their +/space marker)."""
    lines = []
    for index in range(line - 1, end):
        where = target.where[index]
        if where is not None and where[0] == key:
            text = target.lines[index]
            lines.append(text[1:] if target.kind == "diff" else text)
    return "\n".join(lines)


def _clean_replacement(text: str | None, target: ReviewTarget) -> str | None:
    """The replacement as plain code: without the "N| " numbers the model may have copied,
    a trailing newline or diff markers."""
    if text is None:
        return None
    if text.endswith("\n"):
        text = text[:-1]
    lines = text.split("\n")
    if lines and all(_NUMBERED.match(line) for line in lines):
        text = "\n".join(_NUMBERED.sub("", line, count=1) for line in lines)
    if target.kind == "diff":
        text = strip_diff_markers(text)
    return text
