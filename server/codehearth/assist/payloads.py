"""Arguments and results of the assist commands (workspace/executeCommand), as pydantic models.

Arguments accept camelCase or snake_case keys and reject unknown ones, so a typo comes
back as InvalidParams naming the field. Results are dumped with camelCase keys, except
review findings, which keep the snake_case shape the model is made to produce
(``end_line``) so one schema describes both.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from .chat_template import ChatMessage

SESSION_PATTERN = r"^[A-Za-z0-9_.:@-]{1,128}$"
Severity = Literal["error", "warning", "info", "hint"]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def dump(self) -> dict:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class PositionArg(_Model):
    line: int = Field(ge=0)
    character: int = Field(ge=0)


class RangeArg(_Model):
    start: PositionArg
    end: PositionArg

    @model_validator(mode="after")
    def _ordered(self) -> RangeArg:
        if (self.end.line, self.end.character) < (self.start.line, self.start.character):
            raise ValueError("range end is before its start")
        return self


class SamplingOverride(_Model):
    """Per-request sampling; unset fields keep the manifest's values."""

    temperature: float | None = Field(None, ge=0.0, le=5.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=0)
    repeat_penalty: float | None = Field(None, gt=0.0)
    max_tokens: int | None = Field(None, ge=1, le=8192)
    stop: list[str] | None = Field(None, max_length=8)


class _StreamArgs(_Model):
    sampling: SamplingOverride | None = None
    # Names this request's stream notifications; defaults to the JSON-RPC request id.
    stream_id: str | None = Field(None, min_length=1, max_length=128)


class ExplainArgs(_StreamArgs):
    uri: str = Field(min_length=1, max_length=8192)
    range: RangeArg


class ChatArgs(_StreamArgs):
    session: str | None = Field(None, pattern=SESSION_PATTERN)
    message: str = Field(min_length=1, max_length=200_000)
    uri: str | None = Field(None, min_length=1, max_length=8192)
    range: RangeArg | None = None

    @model_validator(mode="after")
    def _range_needs_uri(self) -> ChatArgs:
        if self.range is not None and self.uri is None:
            raise ValueError("'range' attaches code from a document: give 'uri' too")
        return self


class SessionArgs(_Model):
    session: str = Field(pattern=SESSION_PATTERN)


class CancelArgs(_Model):
    session: str | None = Field(None, pattern=SESSION_PATTERN)
    stream_id: str | None = Field(None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _one_target(self) -> CancelArgs:
        if self.session is None and self.stream_id is None:
            raise ValueError("give 'session' (a chat) or 'streamId' (any streamed request)")
        return self


class ReviewArgs(_StreamArgs):
    uri: str | None = Field(None, min_length=1, max_length=8192)
    range: RangeArg | None = None
    diff: str | None = Field(None, min_length=1, max_length=1_000_000)

    @model_validator(mode="after")
    def _one_subject(self) -> ReviewArgs:
        if (self.uri is None) == (self.diff is None):
            raise ValueError("give exactly one of 'uri' (a document) or 'diff' (unified diff)")
        if self.range is not None and self.uri is None:
            raise ValueError("'range' narrows a document review: give 'uri' too")
        return self


class ExplainResult(_Model):
    markdown: str
    stop_reason: str | None = None
    cancelled: bool = False


class ChatResult(_Model):
    session: str
    reply: str
    stop_reason: str | None = None
    cancelled: bool = False


class Finding(BaseModel):
    """One review finding as the model writes it; line numbers count from 1 in the
    reviewed text."""

    model_config = ConfigDict(extra="ignore")

    line: int
    end_line: int | None = None
    severity: Severity
    message: str = Field(min_length=1, max_length=2000)
    replacement: str | None = Field(None, max_length=20_000)


class LocatedFinding(Finding):
    """A finding that survived validation, with where it lands in a document."""

    uri: str | None = None
    path: str | None = None  # diff reviews: the file named by the diff
    range: dict | None = None  # LSP Range in the document, when it maps to one


class ReviewResult(_Model):
    findings: list[LocatedFinding]
    # Findings the model wrote that were not kept: invalid, on lines that do not exist,
    # ungrounded (see assist/grounding.py) or stale; dropped_reasons counts them by reason.
    dropped: int = 0
    dropped_reasons: dict[str, int] = Field(default_factory=dict)
    truncated: bool = False
    stop_reason: str | None = None
    cancelled: bool = False
    # Said once per review when findings deserve caution (a model too small to trust).
    notice: str | None = None

    def dump(self) -> dict:
        out = super().dump()
        out["findings"] = [f.model_dump(mode="json", exclude_none=True) for f in self.findings]
        return out


class StreamNotification(_Model):
    """``codehearth/stream``: one chunk of a streamed reply (see docs/protocol.md)."""

    id: str | int
    command: str
    delta: str = ""
    done: bool = False
    session: str | None = None
    stop_reason: str | None = None


class PromptRecord(_Model):
    """The last prompt a chat session sent to the model (debugging; user content)."""

    session: str
    messages: list[ChatMessage]
    prompt: str
    prompt_tokens: int
    dropped_turns: int = 0
    template: str = "gguf"
    mode: str = "segments"


def describe_validation_error(command: str, exc: ValidationError) -> str:
    """One line naming each bad field, for an InvalidParams message."""
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "argument"
        problems.append(f"{where}: {err['msg']}")
    return f"{command}: invalid argument ({'; '.join(problems)})"
