"""Sampling for the assist commands: the manifest's values, per-role rules, request overrides.

The resident model's manifest entry (ModelEntry.sampling) gives the defaults for every
role; a command argument's ``sampling`` object overrides single fields. Review is the one
role with rules of its own: its output is grammar-constrained JSON, so stop strings (which
could cut the JSON) are ignored and max_tokens is kept between a floor that leaves room
for a few findings and a cap that keeps a small model from rambling inside strings.
"""

from __future__ import annotations

from typing import Literal

from ..engine.types import GenerationParams
from ..models.manifest import Sampling
from .payloads import SamplingOverride

Role = Literal["explain", "chat", "review"]

REVIEW_MIN_TOKENS = 256
REVIEW_MAX_TOKENS = 1024


def generation_params(
    base: Sampling | None, role: Role, override: SamplingOverride | None = None
) -> GenerationParams:
    values = (base or Sampling()).model_dump()
    if role == "review":
        values["max_tokens"] = max(values["max_tokens"], REVIEW_MIN_TOKENS)
    if override is not None:
        values.update(override.model_dump(exclude_none=True))
    if role == "review":
        values["stop"] = []
        values["max_tokens"] = min(values["max_tokens"], REVIEW_MAX_TOKENS)
    return GenerationParams(**values, stop_at_newline=False)
