"""Completion settings, set by the editor through initializationOptions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ..context.builder import ContextBudget


class CompletionSettings(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    # Copilot-like default: one line mid-line, a block at an empty line.
    multiline: Literal["auto", "never", "always"] = "auto"
    max_tokens_single: int = Field(32, ge=1, le=4096)
    max_tokens_multi: int = Field(96, ge=1, le=4096)
    temperature: float | None = Field(None, ge=0.0, le=5.0)
    max_prompt_tokens: int = Field(1536, ge=64)
    max_lines_before: int = Field(128, ge=1)
    max_lines_after: int = Field(32, ge=0)

    def budget(self, n_ctx: int, max_new_tokens: int) -> ContextBudget:
        room = max(64, n_ctx - max_new_tokens - 8)
        return ContextBudget(
            max_prompt_tokens=min(self.max_prompt_tokens, room),
            max_lines_before=self.max_lines_before,
            max_lines_after=self.max_lines_after,
        )
