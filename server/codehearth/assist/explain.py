"""Explain a selection: tree-sitter context around it, fitted to the model's window."""

from __future__ import annotations

from collections.abc import Callable

from ..context.selection import CodeContext, render_context
from ..engine.api import Session
from ..engine.types import GenerationParams
from .chat_template import ChatMessage, chat_template_for, encode_chat
from .generation import PreparedPrompt

EXPLAIN_SYSTEM = (
    "You are codehearth, a code assistant running privately on the user's machine. "
    "Explain code to a programmer: what it does, how it does it, and anything surprising "
    "or risky. Be concise and answer in Markdown."
)
EXPLAIN_INSTRUCTION = "Explain the selected code."
_SAFETY_TOKENS = 16


def _messages(context_markdown: str) -> list[ChatMessage]:
    user = f"{context_markdown}\n\n{EXPLAIN_INSTRUCTION}" if context_markdown else ""
    return [
        ChatMessage(role="system", content=EXPLAIN_SYSTEM),
        ChatMessage(role="user", content=user or EXPLAIN_INSTRUCTION),
    ]


def explain_prepare(ctx: CodeContext) -> Callable[[Session, GenerationParams], PreparedPrompt]:
    """The Job's prompt builder: runs on the worker, where tokens can be counted."""

    def prepare(session: Session, params: GenerationParams) -> PreparedPrompt:
        template = chat_template_for(session)
        overhead = encode_chat(session, template, _messages("")).token_count
        budget = session.n_ctx - params.max_tokens - overhead - _SAFETY_TOKENS
        markdown, _ = render_context(ctx, session.count_tokens, max(32, budget))
        prompt = encode_chat(session, template, _messages(markdown))
        return PreparedPrompt.of(prompt, prompt)

    return prepare
