"""The model's chat template, rendered in a sandbox and tokenized without letting user text
inject control tokens.

A GGUF file carries its chat template as Jinja source (``tokenizer.chat_template``). That
source comes with a downloaded model, so it is untrusted: it is compiled in Jinja's
ImmutableSandboxedEnvironment, the same sandbox llama-cpp-python's Jinja2ChatFormatter
uses (whose extension and ``tojson`` filter are reused here). Two things differ from that
formatter, which is why it is not called directly:

* The stock sandbox answers an unsafe attribute (``''.__class__``) with an *undefined*
  value that renders as an empty string, so a probing template quietly "works". Here any
  unsafe access raises UnsafeTemplateError (a jinja2 SecurityError) at once, and the
  prompt is never produced. ``*`` and ``**`` are bounded so a template cannot build a
  gigabyte string.
* Message contents are rendered as placeholders. The rendered text is split at them:
  the template's own text (role markers such as ``<|im_start|>``) is tokenized with
  special=True, the contents with special=False, so a file or chat message containing
  ``<|im_end|>`` stays plain text and cannot close the turn or fake a system message.
  When a template transforms contents so the placeholders do not come out intact, the
  prompt is rendered with the real contents after every control-token spelling in them
  was broken up with a zero-width space (U+200B), and tokenized with special=True.
"""

from __future__ import annotations

import functools
import json
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from pydantic import BaseModel

if TYPE_CHECKING:
    from ..engine.api import Session, TokenLevel

__all__ = [
    "CHATML_TEMPLATE",
    "ChatMessage",
    "ChatTemplate",
    "ChatTemplateError",
    "EncodedPrompt",
    "UnsafeTemplateError",
    "chat_template_for",
    "encode_chat",
]

# The fallback for models without a template; also what SmolLM2 and Qwen ship.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Markers of turn ends in common templates: single control tokens that end a reply.
_TURN_END_MARKERS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|EOT|>")

MAX_RENDERED_CHARS = 4_000_000
_MAX_REPEAT = 1_000_000
_ZWSP = "\u200b"
_SLOT_RE = re.compile("\ue000([0-9]+)\ue001")
_TEMPLATES: weakref.WeakKeyDictionary[Any, ChatTemplate] = weakref.WeakKeyDictionary()


class ChatTemplateError(ValueError):
    """The chat template does not compile or fails while rendering."""


class UnsafeTemplateError(SecurityError):
    """The chat template tried to reach Python internals; it was not allowed to run."""


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class _StrictSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, failing loudly instead of rendering unsafe access as ''."""

    intercepted_binops = frozenset({"*", "**"})

    def unsafe_undefined(self, obj: Any, attribute: Any) -> Any:
        raise UnsafeTemplateError(
            f"the chat template tried to access {attribute!r} of a {type(obj).__name__!r} "
            "object; the sandbox forbids Python internals and mutation, so it was not rendered"
        )

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > 64:
            raise UnsafeTemplateError("the chat template computes an oversized power")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(count, int)
                if sized and len(seq) * count > _MAX_REPEAT:
                    raise UnsafeTemplateError("the chat template builds an oversized value")
        return super().call_binop(context, operator, left, right)


def _raise_exception(message: str) -> None:
    raise ChatTemplateError(f"the chat template refused the conversation: {message}")


class _IgnoreGenerationTags(jinja2.ext.Extension):
    """Pass-through for Hugging Face's ``{% generation %}`` chat-template tag (as
    llama-cpp-python's Jinja2ChatFormatter does)."""

    tags = {"generation"}  # noqa: RUF012 - jinja's own class attribute

    def parse(self, parser: Any) -> Any:
        parser.stream.skip(1)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


def _tojson(
    x: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    """HF templates' ``tojson`` filter (non-ASCII kept, as transformers does)."""
    return json.dumps(
        x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(fmt: str) -> str:
    from datetime import datetime

    return datetime.now().strftime(fmt)


class ChatTemplate:
    """A compiled chat template plus the model's BOS/EOS spellings."""

    def __init__(
        self,
        source: str,
        *,
        bos_token: str = "",
        eos_token: str = "",
        origin: Literal["gguf", "chatml", "remote"] = "gguf",
    ) -> None:
        self.source = source
        self.bos_token = bos_token
        self.eos_token = eos_token
        self.origin = origin
        env = _StrictSandbox(
            loader=jinja2.BaseLoader(),
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[_IgnoreGenerationTags, jinja2.ext.loopcontrols],
        )
        env.filters["tojson"] = _tojson
        try:
            self._template = env.from_string(source)
        except SecurityError:
            raise
        except jinja2.TemplateError as exc:
            raise ChatTemplateError(f"the model's chat template does not compile: {exc}") from exc

    def render(self, messages: Sequence[ChatMessage], *, add_generation_prompt: bool = True) -> str:
        """Render messages as they are (contents inline)."""
        return self._render([m.model_dump() for m in messages], add_generation_prompt)

    def _render(self, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        try:
            text = self._template.render(
                messages=messages,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                add_generation_prompt=add_generation_prompt,
                raise_exception=_raise_exception,
                strftime_now=_strftime_now,
                tools=None,
                functions=None,
            )
        except (SecurityError, ChatTemplateError):
            raise
        except OverflowError as exc:  # the sandbox's "Range too big"
            raise UnsafeTemplateError(f"the chat template was stopped: {exc}") from exc
        except Exception as exc:
            raise ChatTemplateError(f"the chat template failed to render: {exc}") from exc
        if len(text) > MAX_RENDERED_CHARS:
            raise UnsafeTemplateError("the chat template rendered an oversized prompt")
        return text

    def segments(
        self, messages: Sequence[ChatMessage], *, add_generation_prompt: bool = True
    ) -> list[tuple[str, bool]] | None:
        """The prompt as (text, is_content) pieces, or None when contents did not survive
        the template intact (each placeholder exactly once)."""
        slots = [{"role": m.role, "content": f"\ue000{i}\ue001"} for i, m in enumerate(messages)]
        rendered = self._render(slots, add_generation_prompt)
        pieces: list[tuple[str, bool]] = []
        seen: list[int] = []
        last = 0
        for match in _SLOT_RE.finditer(rendered):
            index = int(match.group(1))
            if index >= len(messages):
                return None
            pieces.append((rendered[last : match.start()], False))
            pieces.append((messages[index].content, True))
            seen.append(index)
            last = match.end()
        pieces.append((rendered[last:], False))
        if sorted(seen) != list(range(len(messages))):
            return None
        return [(text, is_content) for text, is_content in pieces if text]


@dataclass(frozen=True)
class EncodedPrompt:
    tokens: list[int]
    text: str  # the rendered prompt, for prompt records
    stop_ids: frozenset[int]
    mode: Literal["segments", "neutralised", "remote"]
    # A remote engine applies its own chat template: it gets the messages, and the
    # budget uses a count of the text instead of our tokens.
    messages: tuple[ChatMessage, ...] = ()
    counted: int | None = None

    @property
    def token_count(self) -> int:
        return self.counted if self.counted is not None else len(self.tokens)


def chat_template_for(session: Session) -> ChatTemplate:
    """The template from the GGUF metadata, or ChatML when the model has none (compiled
    once per loaded model). A remote engine templates for itself; ChatML here only
    estimates the size of its prompt."""
    if not session.capabilities.token_prompts:
        return _remote_template()
    cached = _TEMPLATES.get(session)
    if cached is None:
        cached = _TEMPLATES[session] = _load_template(cast("TokenLevel", session))
    return cached


@functools.cache
def _remote_template() -> ChatTemplate:
    return ChatTemplate(CHATML_TEMPLATE, origin="remote")


def _load_template(session: TokenLevel) -> ChatTemplate:
    source = session.metadata.get("tokenizer.chat_template")
    bos_id, eos_id = session.bos_token(), session.eos_token()
    bos = session.token_text(bos_id) if bos_id is not None else ""
    eos = session.token_text(eos_id) if eos_id is not None else ""
    if not source:
        return ChatTemplate(CHATML_TEMPLATE, bos_token=bos, eos_token=eos, origin="chatml")
    return ChatTemplate(source, bos_token=bos, eos_token=eos, origin="gguf")


def neutralise(text: str, markers: frozenset[str]) -> str:
    """Break every control-token spelling in user text so the tokenizer cannot match it."""
    for marker in markers:
        if marker in text:
            text = text.replace(marker, marker[0] + _ZWSP + marker[1:])
    return text


def stop_ids_for(session: TokenLevel, template: ChatTemplate) -> frozenset[int]:
    """Tokens that end a reply besides llama.cpp's own end-of-generation set."""
    ids: set[int] = set()
    for text in {template.eos_token, *_TURN_END_MARKERS}:
        if text:
            tokens = session.tokenize(text, special=True)
            if len(tokens) == 1:
                ids.add(tokens[0])
    return frozenset(ids)


def encode_chat(
    session: Session, template: ChatTemplate, messages: Sequence[ChatMessage]
) -> EncodedPrompt:
    """Prompt tokens for a conversation, ending with the assistant's turn opened."""
    messages = list(messages)
    if not session.capabilities.token_prompts:
        text = template.render(messages)
        return EncodedPrompt(
            [], text, frozenset(), "remote", tuple(messages), session.count_tokens(text)
        )
    tokens_of = cast("TokenLevel", session)
    try:
        pieces = template.segments(messages)
    except ChatTemplateError:
        # Some templates (Gemma) refuse a system role: fold it into the first user turn.
        if not messages or messages[0].role != "system":
            raise
        messages = _fold_system(messages)
        pieces = template.segments(messages)
    if pieces is not None:
        text = "".join(piece for piece, _ in pieces)
        tokens: list[int] = []
        for piece, is_content in pieces:
            tokens += tokens_of.tokenize(piece, special=not is_content)
        mode: Literal["segments", "neutralised"] = "segments"
    else:
        markers = tokens_of.control_token_texts()
        safe = [m.model_copy(update={"content": neutralise(m.content, markers)}) for m in messages]
        text = template.render(safe)
        tokens = tokens_of.tokenize(text, special=True)
        mode = "neutralised"
    bos = tokens_of.bos_token()
    if tokens_of.add_bos() and bos is not None and (not tokens or tokens[0] != bos):
        tokens.insert(0, bos)
    return EncodedPrompt(tokens, text, stop_ids_for(tokens_of, template), mode)


def _fold_system(messages: list[ChatMessage]) -> list[ChatMessage]:
    system, rest = messages[0], messages[1:]
    if rest and rest[0].role == "user":
        merged = ChatMessage(role="user", content=f"{system.content}\n\n{rest[0].content}")
        return [merged, *rest[1:]]
    return [ChatMessage(role="user", content=system.content), *rest]
