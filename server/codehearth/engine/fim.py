"""Fill-in-the-middle prompt templates per model family, and their detection.

A template's ``prefix``/``suffix``/``middle`` are the FIM marker texts exactly as the
model's vocabulary spells them, so tokenizing a marker with ``special=True`` yields one
control token.  Markers carry no padding spaces: CodeLlama's published text format
``<PRE> {prefix} <SUF>{suffix} <MID>`` is how its token sequence reads when decoded — the
markers are the vocab tokens ``▁<PRE>``/``▁<SUF>``/``▁<MID>`` (the "▁" decodes to the space
before each marker) and the space after ``<PRE>`` is the leading "▁" the sentencepiece
tokenizer adds to the code that follows a special token.  Adding literal spaces here would
double them.

Detection asks llama.cpp for the vocab's FIM token ids (it recognises the known spellings
when loading, or reads ``tokenizer.ggml.fim_*_token_id``), so no Python loop over a
150k-token vocabulary is needed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "TEMPLATES",
    "FimTemplate",
    "detect_fim",
    "parse_template_override",
    "template_by_name",
]

_PLACEHOLDER = re.compile(r"\{(prefix|suffix)\}")
_ANY_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


class FimTemplate(BaseModel):
    """How to lay out prefix and suffix around a family's FIM markers."""

    family: str
    prefix: str
    suffix: str
    middle: str
    order: Literal["psm", "spm"] = "psm"
    # Texts that end a FIM generation: end-of-text, file separators, fim_pad, and the FIM
    # markers themselves (a model that emits one has left the hole).
    stop: list[str] = Field(default_factory=list)
    # Custom layout from a manifest override; when set, render() substitutes into it
    # instead of composing the markers.
    format: str | None = None

    def render(self, prefix: str, suffix: str, extra: str = "") -> str:
        """The prompt text; ``extra`` (imports, signatures) goes right before the code prefix.

        psm: ``P + extra + prefix + S + suffix + M``.  spm is the suffix-first variant
        CodeLlama was trained on: ``P + S + suffix + M + extra + prefix``.
        """
        if self.format is not None:
            values = {"prefix": extra + prefix, "suffix": suffix}
            # One regex pass, so placeholder-like text inside the code is never expanded.
            return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.format)
        if self.order == "spm":
            return self.prefix + self.suffix + suffix + self.middle + extra + prefix
        return self.prefix + extra + prefix + self.suffix + suffix + self.middle


TEMPLATES: dict[str, FimTemplate] = {
    "qwen2.5-coder": FimTemplate(
        family="qwen2.5-coder",
        prefix="<|fim_prefix|>",
        suffix="<|fim_suffix|>",
        middle="<|fim_middle|>",
        stop=[
            "<|endoftext|>",
            "<|fim_pad|>",
            "<|file_sep|>",
            "<|repo_name|>",
            "<|im_end|>",
            "<|fim_prefix|>",
            "<|fim_suffix|>",
            "<|fim_middle|>",
        ],
    ),
    "starcoder": FimTemplate(
        family="starcoder",
        prefix="<fim_prefix>",
        suffix="<fim_suffix>",
        middle="<fim_middle>",
        stop=[
            "<|endoftext|>",
            "<file_sep>",
            "<fim_pad>",
            "<fim_prefix>",
            "<fim_suffix>",
            "<fim_middle>",
        ],
    ),
    "codellama": FimTemplate(
        family="codellama",
        prefix="▁<PRE>",
        suffix="▁<SUF>",
        middle="▁<MID>",
        stop=["▁<EOT>", "<EOT>", "</s>", "▁<PRE>", "▁<SUF>", "▁<MID>"],
    ),
    "deepseek-coder": FimTemplate(
        family="deepseek-coder",
        prefix="<｜fim▁begin｜>",
        suffix="<｜fim▁hole｜>",
        middle="<｜fim▁end｜>",
        stop=[
            "<｜end▁of▁sentence｜>",
            "<|EOT|>",
            "<｜fim▁begin｜>",
            "<｜fim▁hole｜>",
            "<｜fim▁end｜>",
        ],
    ),
    "codegemma": FimTemplate(
        family="codegemma",
        prefix="<|fim_prefix|>",
        suffix="<|fim_suffix|>",
        middle="<|fim_middle|>",
        stop=[
            "<|file_separator|>",
            "<eos>",
            "<end_of_turn>",
            "<|fim_prefix|>",
            "<|fim_suffix|>",
            "<|fim_middle|>",
        ],
    ),
}

_ALIASES = {
    "qwen": "qwen2.5-coder",
    "qwen2.5": "qwen2.5-coder",
    "qwen-coder": "qwen2.5-coder",
    "starcoder2": "starcoder",
    "code-llama": "codellama",
    "deepseek": "deepseek-coder",
    "deepseek-coder-v2": "deepseek-coder",
    "code-gemma": "codegemma",
}

# Vocab spelling of the FIM prefix token -> family.  "<|fim_prefix|>" is shared by Qwen and
# CodeGemma; _family_of() tells them apart.
_PREFIX_TEXT_FAMILY = {
    "<|fim_prefix|>": "qwen2.5-coder",
    "<fim_prefix>": "starcoder",
    "<｜fim▁begin｜>": "deepseek-coder",
    "<PRE>": "codellama",
    "▁<PRE>": "codellama",
}


def template_by_name(name: str) -> FimTemplate:
    """A copy of the built-in template ``name`` (case-insensitive; a few aliases accepted)."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    template = TEMPLATES.get(key)
    if template is None:
        known = ", ".join(TEMPLATES)
        raise ValueError(f"unknown FIM template {name!r}; known templates: {known}")
    # A copy, so a caller editing its stop list cannot change every later lookup.
    return template.model_copy(deep=True)


def parse_template_override(spec: str) -> FimTemplate:
    """Parse a manifest ``fim`` value: a family name or a custom format string.

    A family name is one of :data:`TEMPLATES` (e.g. ``"qwen2.5-coder"``).  Anything
    containing ``{`` is a custom format with exactly one ``{prefix}`` and one ``{suffix}``
    placeholder; every other character is literal marker text, tokenized with special
    tokens enabled.  Placeholder order picks psm or spm.  Examples::

        "<PRE>{prefix}<SUF>{suffix}<MID>"                    # prefix-suffix-middle
        "<fim_suffix>{suffix}<fim_prefix>{prefix}<fim_middle>"   # suffix first

    Context (imports, signatures) is inserted at the start of ``{prefix}``.  No other
    placeholders exist and braces cannot be escaped; the marker text before, between and
    after the placeholders is kept as the template's prefix/suffix/middle (for display).
    """
    text = spec.strip()
    if not text:
        raise ValueError("empty FIM template: give a family name or a format string")
    if "{" not in text and "}" not in text:
        try:
            return template_by_name(text)
        except ValueError:
            raise ValueError(
                f"unknown FIM template {spec!r}: give one of {', '.join(TEMPLATES)}, or a "
                "format string such as '<PRE>{prefix}<SUF>{suffix}<MID>'"
            ) from None
    return _parse_custom(spec)


def _parse_custom(spec: str) -> FimTemplate:
    unknown = [m for m in _ANY_PLACEHOLDER.findall(spec) if m not in ("{prefix}", "{suffix}")]
    if unknown:
        raise ValueError(
            f"FIM format {spec!r} has unknown placeholder(s) {', '.join(unknown)}; "
            "only {prefix} and {suffix} are supported"
        )
    found = _PLACEHOLDER.findall(spec)
    if sorted(found) != ["prefix", "suffix"]:
        raise ValueError(
            f"FIM format {spec!r} must contain {{prefix}} and {{suffix}} exactly once each"
        )
    lead, first, between, _second, tail = _PLACEHOLDER.split(spec)
    if "{" in lead + between + tail or "}" in lead + between + tail:
        raise ValueError(f"FIM format {spec!r} has a stray brace outside the placeholders")
    if not (lead or between or tail):
        raise ValueError(f"FIM format {spec!r} has no marker text around the placeholders")
    order: Literal["psm", "spm"] = "psm" if first == "prefix" else "spm"
    return FimTemplate(
        family="custom", prefix=lead, suffix=between, middle=tail, order=order, format=spec
    )


def _family_of(prefix_text: str, has_token: Callable[[str], bool]) -> str | None:
    family = _PREFIX_TEXT_FAMILY.get(prefix_text)
    if family == "qwen2.5-coder" and has_token("<|file_separator|>"):
        return "codegemma"
    return family


def detect_fim(
    fim_ids: tuple[int, int, int],
    id_to_text: Callable[[int], str],
    has_token: Callable[[str], bool],
) -> FimTemplate | None:
    """The FIM template of a vocabulary, or None when it has no complete FIM token set.

    ``fim_ids`` are the vocab's (prefix, suffix, middle) token ids as llama.cpp reports
    them (negative: none); ``id_to_text`` gives a token's text; ``has_token`` says whether
    a text is a single token of the vocab.  Known families get their template with markers
    spelled as this vocab spells them; unknown spellings get a psm template of family
    "custom" built from the three tokens.
    """
    if any(i < 0 for i in fim_ids):
        return None
    texts = [id_to_text(i) for i in fim_ids]
    if not all(texts):
        return None
    pre, suf, mid = texts
    family = _family_of(pre, has_token)
    if family is None:
        return FimTemplate(family="custom", prefix=pre, suffix=suf, middle=mid)
    return TEMPLATES[family].model_copy(
        deep=True, update={"prefix": pre, "suffix": suf, "middle": mid}
    )
