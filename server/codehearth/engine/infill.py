"""Assemble a local model's infill prompt tokens: FIM markers or prefix only.

Code is tokenized with special tokens disabled, so a file that contains text
like "<|endoftext|>" cannot inject control tokens; only the FIM markers of the
template (and the repo-level markers below) are tokenized as special tokens.

Cross-file context (`InfillRequest.files`) comes first, in the layout the family was
trained on where it has one:

* Qwen2.5-Coder: `<|repo_name|>repo\n<|file_sep|>path\ntext\n...<|file_sep|>current\n`
  and then the FIM markers around the current file;
* StarCoder2: `<repo_name>repo<file_sep>path\ntext...<file_sep>` and the current file's
  path at the start of the FIM prefix;
* every other model: each file as a path comment (`# path` in its language's comment
  syntax) and its text, then the current file's path comment, at the start of the prefix
  slot.

Each piece is tokenized on its own, so the block's tokens never depend on the text after
it: typing below it leaves them, and the KV cache of them, unchanged.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from .api import InfillMode, InfillRequest
from .fim import FimTemplate

if TYPE_CHECKING:
    from .session import ModelSession

_PREFIX_SLOT = "\ue000"
_SUFFIX_SLOT = "\ue001"


def fim_layout(template: FimTemplate) -> list[str]:
    """The template as [marker, slot, marker, slot, marker] with slots named by sentinels."""
    rendered = template.render(_PREFIX_SLOT, _SUFFIX_SLOT, "")
    parts: list[str] = []
    current = ""
    for char in rendered:
        if char in (_PREFIX_SLOT, _SUFFIX_SLOT):
            parts.extend([current, char])
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def build_prompt(session: ModelSession, ctx: InfillRequest) -> tuple[list[int], InfillMode]:
    """Prompt tokens and the mode used ("fim" or "prefix")."""
    tokens: list[int] = []
    bos = session.bos_token()
    if session.add_bos() and bos is not None:
        tokens.append(bos)
    template = session.fim
    before, head = _block_tokens(session, ctx) if ctx.files else ([], [])
    tokens += before
    if template is None:
        tokens += head + session.tokenize(ctx.extra + ctx.prefix)
        return tokens, "prefix"
    for part in fim_layout(template):
        if part == _PREFIX_SLOT:
            tokens += head + session.tokenize(ctx.extra + ctx.prefix)
        elif part == _SUFFIX_SLOT:
            tokens += session.tokenize(ctx.suffix)
        elif part:
            tokens += session.tokenize(part, special=True)
    return tokens, "fim"


# Per session (a session's vocabulary is its own), the last few blocks' tokens.
_BLOCK_MEMO: weakref.WeakKeyDictionary[ModelSession, dict] = weakref.WeakKeyDictionary()
_BLOCK_MEMO_SIZE = 8


def _block_tokens(session: ModelSession, ctx: InfillRequest) -> tuple[list[int], list[int]]:
    """The cross-file block's tokens before the FIM prefix marker and at the start of
    the prefix slot. The block is the same for many keystrokes: its tokens are kept."""
    memo = _BLOCK_MEMO.setdefault(session, {})
    key = (ctx.files, ctx.path, ctx.comment, ctx.repo)
    found = memo.get(key)
    if found is not None:
        return found
    layout = _repo_layout(session, session.fim)
    if layout is None:
        result: tuple[list[int], list[int]] = ([], session.tokenize(path_comments(ctx)))
    elif layout == "starcoder":
        result = (_repo_tokens(session, ctx, layout), session.tokenize(ctx.path + "\n"))
    else:
        result = (_repo_tokens(session, ctx, layout), [])
    while len(memo) >= _BLOCK_MEMO_SIZE:
        memo.pop(next(iter(memo)))
    memo[key] = result
    return result


# Repo-level markers per family: (repo name, file separator).
_REPO_MARKERS = {
    "qwen2.5-coder": ("<|repo_name|>", "<|file_sep|>"),
    "starcoder": ("<repo_name>", "<file_sep>"),
}


def _repo_layout(session: ModelSession, template: FimTemplate | None) -> str | None:
    """The family whose repo-level layout the model knows, when its vocabulary has the
    markers as single tokens (StarCoder 1 has other ones: it gets path comments)."""
    if template is None or template.order != "psm" or template.format is not None:
        return None
    markers = _REPO_MARKERS.get(template.family)
    if markers is None:
        return None
    if any(len(session.tokenize(m, special=True)) != 1 for m in markers):
        return None
    return template.family


def _repo_tokens(session: ModelSession, ctx: InfillRequest, family: str) -> list[int]:
    repo_marker, sep_marker = _REPO_MARKERS[family]
    sep = session.tokenize(sep_marker, special=True)
    qwen = family == "qwen2.5-coder"
    tokens = session.tokenize(repo_marker, special=True)
    tokens += session.tokenize(ctx.repo + "\n" if qwen else ctx.repo)
    for file in ctx.files:
        body = file.text + "\n" if qwen and not file.text.endswith("\n") else file.text
        tokens += sep + session.tokenize(f"{file.path}\n{body}")
    tokens += sep
    if qwen:
        tokens += session.tokenize(ctx.path + "\n")
    return tokens


def path_comments(ctx: InfillRequest) -> str:
    """The files as `<comment> path` headers and text, then the current file's header."""
    parts = []
    for file in ctx.files:
        text = file.text if file.text.endswith("\n") else file.text + "\n"
        parts.append(f"{file.comment} {file.path}\n{text}\n")
    parts.append(f"{ctx.comment} {ctx.path}\n" if ctx.path else "")
    return "".join(parts)


def stop_token_ids(session: ModelSession) -> frozenset[int]:
    """FIM stop markers that are single special tokens (file separators, pad...)."""
    template = session.fim
    if template is None:
        return frozenset()
    ids: set[int] = set()
    for text in template.stop:
        toks = session.tokenize(text, special=True)
        if len(toks) == 1:
            ids.add(toks[0])
    return frozenset(ids)
