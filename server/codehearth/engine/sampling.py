"""A sampler per sequence: the same knobs and chain as the one-sequence engine.

`Llama.generate` keeps one sampler for its one sequence. With several sequences in one
batch each needs its own chain (its penalties remember its own tokens, its grammar its
own position), built here from the same GenerationParams and in the order
llama-cpp-python builds it: penalties, grammar, then greedy at temperature 0, else
top-k, typical, top-p, min-p, temperature and a random draw.
"""

from __future__ import annotations

import random
from typing import Any

import llama_cpp

from .types import GenerationParams

# llama-cpp-python's default `last_n_tokens_size`: how far back the repeat penalty looks.
PENALTY_LAST_N = 64


class SequenceSampler:
    """One sequence's llama.cpp sampler chain (sample also accepts the token)."""

    def __init__(
        self, vocab: Any, params: GenerationParams, grammar: llama_cpp.LlamaGrammar | None
    ) -> None:
        chain_params = llama_cpp.llama_sampler_chain_default_params()
        self._chain = llama_cpp.llama_sampler_chain_init(chain_params)
        add = self._add
        # Called exactly as llama-cpp-python's own chain calls it (n_vocab first), so the
        # penalty behaves the same here as in the one-sequence engine.
        n_vocab = int(llama_cpp.llama_vocab_n_tokens(vocab))
        add(
            llama_cpp.llama_sampler_init_penalties(
                n_vocab, PENALTY_LAST_N, params.repeat_penalty, 0.0, 0.0
            )
        )
        if grammar is not None:
            add(
                llama_cpp.llama_sampler_init_grammar(
                    vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
                )
            )
        if params.temperature == 0.0:
            add(llama_cpp.llama_sampler_init_greedy())
        else:
            add(llama_cpp.llama_sampler_init_top_k(params.top_k))
            add(llama_cpp.llama_sampler_init_typical(1.0, 1))
            add(llama_cpp.llama_sampler_init_top_p(params.top_p, 1))
            add(llama_cpp.llama_sampler_init_min_p(0.0, 1))
            add(llama_cpp.llama_sampler_init_temp(params.temperature))
            add(llama_cpp.llama_sampler_init_dist(random.getrandbits(32)))

    def _add(self, sampler: Any) -> None:
        if not sampler:
            raise ValueError("llama.cpp could not build a sampler")
        llama_cpp.llama_sampler_chain_add(self._chain, sampler)

    def sample(self, ctx: Any, index: int) -> int:
        """The next token from the logits at batch `index` (and accept it)."""
        return int(llama_cpp.llama_sampler_sample(self._chain, ctx, index))

    def close(self) -> None:
        if self._chain is not None:
            llama_cpp.llama_sampler_free(self._chain)
            self._chain = None
