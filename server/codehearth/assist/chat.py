"""Chat sessions: history per session id, trimmed to the model's window.

What always goes into the prompt: the system prompt, the code attached to the session
(its latest ``uri``/``range``; it stays until replaced or reset) and the new message.
Earlier turns fill the rest, newest first: when they do not fit, the oldest are dropped.
The history itself is kept whole (up to MAX_TURNS) so a later, shorter prompt can use it.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..context.selection import CodeContext, fit_text, render_context
from ..engine.api import Session
from ..engine.types import GenerationParams
from .chat_template import ChatMessage, chat_template_for, encode_chat
from .generation import PreparedPrompt
from .payloads import PromptRecord

CHAT_SYSTEM = (
    "You are codehearth, a coding assistant running privately on the user's machine. "
    "Answer questions about code accurately and briefly, in Markdown."
)
MAX_SESSIONS = 64
MAX_TURNS = 200
ATTACHMENT_SHARE = 0.5  # of the prompt budget, at most
_SAFETY_TOKENS = 16


@dataclass(frozen=True)
class Turn:
    user: str
    assistant: str


@dataclass
class ChatSession:
    id: str
    turns: list[Turn] = field(default_factory=list)
    attachment: CodeContext | None = None
    record: PromptRecord | None = None  # written by the worker, read by the loop
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    active: object | None = None  # the in-flight request, for cancelling

    def add_turn(self, user: str, assistant: str) -> None:
        self.turns.append(Turn(user, assistant))
        del self.turns[:-MAX_TURNS]


class ChatStore:
    """Sessions by id; the least recently used goes when there are too many."""

    def __init__(self, max_sessions: int = MAX_SESSIONS) -> None:
        self._sessions: OrderedDict[str, ChatSession] = OrderedDict()
        self._max = max_sessions

    def get(self, session_id: str) -> ChatSession | None:
        chat = self._sessions.get(session_id)
        if chat is not None:
            self._sessions.move_to_end(session_id)
        return chat

    def get_or_create(self, session_id: str) -> ChatSession:
        chat = self.get(session_id)
        if chat is None:
            chat = self._sessions[session_id] = ChatSession(session_id)
            while len(self._sessions) > self._max:
                self._sessions.popitem(last=False)
        return chat

    def reset(self, session_id: str) -> ChatSession | None:
        chat = self._sessions.pop(session_id, None)
        return chat

    def __len__(self) -> int:
        return len(self._sessions)


def fit_history(fixed_tokens: int, turn_tokens: Sequence[int], budget: int) -> int:
    """Index of the oldest turn to keep so that fixed + kept turns fit the budget.

    Oldest turns go first; returns len(turn_tokens) when none fits.
    """
    total = fixed_tokens + sum(turn_tokens)
    start = 0
    while start < len(turn_tokens) and total > budget:
        total -= turn_tokens[start]
        start += 1
    return start


def _system_text(attachment_markdown: str) -> str:
    if not attachment_markdown:
        return CHAT_SYSTEM
    return f"{CHAT_SYSTEM}\n\nThe user attached this code:\n\n{attachment_markdown}"


def _conversation(system: str, turns: Sequence[Turn], message: str) -> list[ChatMessage]:
    messages = [ChatMessage(role="system", content=system)]
    for turn in turns:
        messages.append(ChatMessage(role="user", content=turn.user))
        messages.append(ChatMessage(role="assistant", content=turn.assistant))
    messages.append(ChatMessage(role="user", content=message))
    return messages


def chat_prepare(
    session_id: str,
    turns: Sequence[Turn],
    message: str,
    attachment: CodeContext | None,
    on_record: Callable[[PromptRecord], None],
) -> Callable[[Session, GenerationParams], PreparedPrompt]:
    """The Job's prompt builder (runs on the worker, where tokens can be counted)."""
    turns = list(turns)

    def prepare(session: Session, params: GenerationParams) -> PreparedPrompt:
        template = chat_template_for(session)
        window = session.n_ctx - params.max_tokens - _SAFETY_TOKENS
        system, text, fixed = _fixed_part(session, window, message, attachment)
        per_turn = _turn_overhead(session, system, text, fixed)
        costs = [
            session.count_tokens(t.user) + session.count_tokens(t.assistant) + per_turn
            for t in turns
        ]
        start = fit_history(fixed, costs, window)
        while True:  # the estimate is per piece; the rendered whole is what must fit
            messages = _conversation(system, turns[start:], text)
            prompt = encode_chat(session, template, messages)
            if prompt.token_count <= window or start >= len(turns):
                break
            start += 1
        record = PromptRecord(
            session=session_id,
            messages=messages,
            prompt=prompt.text,
            prompt_tokens=prompt.token_count,
            dropped_turns=start,
            template=template.origin,
            mode=prompt.mode,
        )
        on_record(record)
        return PreparedPrompt.of(prompt, record)

    return prepare


def _prompt_len(session: Session, system: str, message: str) -> int:
    conversation = _conversation(system, [], message)
    return encode_chat(session, chat_template_for(session), conversation).token_count


def _fixed_part(
    session: Session, window: int, message: str, attachment: CodeContext | None
) -> tuple[str, str, int]:
    """(system text, message, their prompt tokens): what every prompt of the turn holds.

    The message comes first (it is the question); if it alone overflows, its head is
    kept, leaving room for some attached code. The attachment gets what is left, up to
    ATTACHMENT_SHARE of the window, and shrinks to its most useful parts to fit.
    """
    count = session.count_tokens
    base = _prompt_len(session, CHAT_SYSTEM, message)
    if base > window:
        room = window // 2 if attachment is not None else window
        message = fit_text(message, count, max(16, room - (base - count(message))))[0]
        base = _prompt_len(session, CHAT_SYSTEM, message)
    if attachment is None:
        return CHAT_SYSTEM, message, base
    budget = min(int(window * ATTACHMENT_SHARE), window - base - _SAFETY_TOKENS)
    for _ in range(3):
        if budget < 32:
            break
        system = _system_text(render_context(attachment, count, budget)[0])
        fixed = _prompt_len(session, system, message)
        if fixed <= window:
            return system, message, fixed
        budget -= fixed - window + _SAFETY_TOKENS
    return CHAT_SYSTEM, message, base


def _turn_overhead(session: Session, system: str, message: str, fixed: int) -> int:
    """Tokens one exchange adds besides its texts (role markers, separators)."""
    template = chat_template_for(session)
    probe = _conversation(system, [Turn("", "")], message)
    return max(0, encode_chat(session, template, probe).token_count - fixed)
