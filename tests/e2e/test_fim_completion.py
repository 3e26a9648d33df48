"""FIM models end to end: a tiny random-weight GGUF with each family's FIM vocabulary."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..fixtures.tiny_gguf import write_tiny_gguf
from .harness import items_of

DATA = Path(__file__).parent.parent / "data"


@pytest.mark.parametrize("family", ["qwen2.5-coder", "starcoder", "deepseek-coder"])
async def test_fim_model_serves_inline_completion(server_factory, tmp_path, family):
    model = write_tiny_gguf(tmp_path / "tiny.gguf", family)
    manifest = tmp_path / "models.toml"
    manifest.write_text(
        f'[models.tiny]\npath = "{model.name}"\ncontext = 1024\nroles = ["completion"]\n'
    )
    session = await server_factory(
        init_options={
            "manifest": str(manifest),
            "model": "tiny",
            "completion": {"temperature": 0.0, "maxTokensSingle": 8, "maxTokensMulti": 8},
        }
    )
    uri = session.open_file(DATA / "inventory.py")
    result = await session.complete(uri, 39, len("        return "))
    for text in items_of(result):
        assert text.strip() and "\n" not in text
    status = await session.status()
    assert status["model"] == "tiny"
    assert status["fim"] == family
    assert status["counters"]["completed"] >= 1
    assert status["counters"]["last"]["prompt_tokens"] > 100
