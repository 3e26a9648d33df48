"""Assemble a local model's infill prompt tokens: FIM markers or prefix only.

Code is tokenized with special tokens disabled, so a file that contains text
like "<|endoftext|>" cannot inject control tokens; only the FIM markers of the
template are tokenized as special tokens.
"""

from __future__ import annotations

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
    if template is None:
        tokens += session.tokenize(ctx.extra + ctx.prefix)
        return tokens, "prefix"
    for part in fim_layout(template):
        if part == _PREFIX_SLOT:
            tokens += session.tokenize(ctx.extra + ctx.prefix)
        elif part == _SUFFIX_SLOT:
            tokens += session.tokenize(ctx.suffix)
        elif part:
            tokens += session.tokenize(part, special=True)
    return tokens, "fim"


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
