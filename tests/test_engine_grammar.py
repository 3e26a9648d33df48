"""JSON-schema grammars against a real llama.cpp vocabulary: compiled once, checked
before use, constraining even a random model to the review findings' shape."""

from __future__ import annotations

import json
from pathlib import Path

import llama_cpp
import pytest

from codehearth.assist.review import findings_schema, parse_findings
from codehearth.engine.control import GenerationControl
from codehearth.engine.grammar import GrammarError, check_grammar, grammar_for_schema
from codehearth.engine.session import ModelSession
from codehearth.engine.types import EngineConfig, GenerationParams

from .fixtures.tiny_gguf import write_tiny_gguf


@pytest.fixture
def session(tmp_path: Path):
    path = write_tiny_gguf(tmp_path / "t.gguf", None)
    s = ModelSession(EngineConfig(model_name="t", model_path=str(path), n_ctx=2048, n_threads=1))
    yield s
    s.close()


def test_schema_grammar_compiles_and_constrains_even_a_random_model(session) -> None:
    # The full schema compiles against a real vocab, once per model.
    grammar = grammar_for_schema(session, findings_schema())
    assert grammar_for_schema(session, findings_schema()) is grammar
    # A one-finding version of the same schema lets random weights reach the end quickly.
    small = llama_cpp.LlamaGrammar.from_json_schema(
        json.dumps(findings_schema(max_findings=1)), verbose=False
    )
    for temperature in (0.0, 0.7, 1.5):
        text, stats = session.generate(
            session.tokenize('Review this: {"', special=False),
            GenerationParams(max_tokens=1900, temperature=temperature),
            GenerationControl(),
            grammar=small,
        )
        assert stats.stop_reason == "eog"
        data = json.loads(text, strict=False)
        assert set(data) == {"findings"} and len(data["findings"]) <= 1
        for item in data["findings"]:
            assert (
                {"line", "severity", "message"}
                <= set(item)
                <= set(findings_schema()["properties"]["findings"]["items"]["properties"])
            )
        findings, invalid = parse_findings(text)
        assert len(findings) + invalid == len(data["findings"])


def test_broken_grammar_is_refused_not_crashed_on(session) -> None:
    with pytest.raises(GrammarError):
        check_grammar(session.vocab.ptr, llama_cpp.LlamaGrammar.from_string("root ::= ("))
