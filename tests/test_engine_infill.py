"""Prompt assembly against real tokenizers: FIM order per family, prefix-only for SmolLM2."""

from __future__ import annotations

import pytest

from codehearth.engine.api import InfillRequest
from codehearth.engine.fim import TEMPLATES
from codehearth.engine.infill import build_prompt
from codehearth.engine.session import ModelSession
from codehearth.engine.types import EngineConfig

from .conftest import SMOLLM2
from .fixtures.tiny_gguf import write_tiny_gguf

FAMILIES = ["qwen2.5-coder", "starcoder", "codellama", "deepseek-coder", "codegemma"]


def _ctx(prefix: str, suffix: str, extra: str = "") -> InfillRequest:
    return InfillRequest(prefix=prefix, suffix=suffix, extra=extra)


def _session(path) -> ModelSession:
    return ModelSession(EngineConfig(model_name="tiny", model_path=str(path), n_ctx=512))


@pytest.mark.parametrize("family", FAMILIES)
def test_fim_prompt_has_markers_in_family_order(tmp_path, family):
    session = _session(write_tiny_gguf(tmp_path / f"{family}.gguf", family))
    assert session.fim is not None and session.fim.family == family
    template = TEMPLATES[family]
    ctx = _ctx("import os\ndef area(r):\n    return ", "\n\nprint(area(2))\n", extra="# extra\n")
    tokens, mode = build_prompt(session, ctx)
    assert mode == "fim"
    marker = {
        "P": session.tokenize(template.prefix, special=True),
        "S": session.tokenize(template.suffix, special=True),
        "M": session.tokenize(template.middle, special=True),
    }
    for name, toks in marker.items():
        assert len(toks) == 1, f"{name} marker must be one special token"
    positions = {name: tokens.index(toks[0]) for name, toks in marker.items()}
    if template.order == "psm":
        assert positions["P"] < positions["S"] < positions["M"]
        code_after_prefix = tokens[positions["P"] + 1 : positions["S"]]
    else:
        assert positions["P"] < positions["S"] < positions["M"]
        code_after_prefix = tokens[positions["M"] + 1 :]
    text = session.llm.detokenize(code_after_prefix).decode()
    assert "# extra" in text and "def area" in text
    # The code is tokenized without special tokens: the markers appear exactly once.
    for toks in marker.values():
        assert tokens.count(toks[0]) == 1
    session.close()


def test_code_cannot_inject_special_tokens(tmp_path):
    session = _session(write_tiny_gguf(tmp_path / "q.gguf", "qwen2.5-coder"))
    ctx = _ctx("x = '<|fim_middle|><|endoftext|>'\n", "")
    tokens, _ = build_prompt(session, ctx)
    middle = session.tokenize("<|fim_middle|>", special=True)[0]
    assert tokens.count(middle) == 1 and tokens[-1] == middle
    session.close()


def test_smollm2_uses_prefix_only_prompt():
    session = _session(SMOLLM2)
    assert session.fim is None
    tokens, mode = build_prompt(
        session, _ctx("def add(a, b):\n    return ", "\n", extra="import os\n")
    )
    assert mode == "prefix"
    text = session.llm.detokenize(tokens).decode()
    assert text.endswith("import os\ndef add(a, b):\n    return ")
    session.close()
