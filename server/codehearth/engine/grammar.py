"""JSON-schema-constrained output for a local model: the schema becomes a llama.cpp
grammar, compiled once per model and schema, checked before it reaches the sampler.

llama-cpp-python hands a grammar that fails to parse to the sampler chain as a null
pointer (a crash later), so it is compiled against the vocabulary here first and refused
with GrammarError instead.
"""

from __future__ import annotations

import json
import weakref
from typing import TYPE_CHECKING, Any

import llama_cpp

if TYPE_CHECKING:
    from .session import ModelSession


class GrammarError(Exception):
    """llama.cpp cannot use the grammar built from a JSON schema."""


_GRAMMARS: weakref.WeakKeyDictionary[Any, dict[str, llama_cpp.LlamaGrammar]] = (
    weakref.WeakKeyDictionary()
)


def grammar_for_schema(session: ModelSession, schema: dict[str, Any]) -> llama_cpp.LlamaGrammar:
    """The compiled grammar of `schema` for this session's model (cached)."""
    key = json.dumps(schema, sort_keys=True)
    per_session = _GRAMMARS.setdefault(session, {})
    grammar = per_session.get(key)
    if grammar is None:
        grammar = llama_cpp.LlamaGrammar.from_json_schema(key, verbose=False)
        check_grammar(session.vocab.ptr, grammar)
        grammar = per_session[key] = grammar
    return grammar


def check_grammar(vocab: Any, grammar: llama_cpp.LlamaGrammar) -> None:
    sampler = llama_cpp.llama_sampler_init_grammar(
        vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
    )
    if not sampler:
        raise GrammarError("llama.cpp rejected the review grammar")
    llama_cpp.llama_sampler_free(sampler)
