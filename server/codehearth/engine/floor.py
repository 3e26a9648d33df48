"""The latency floor of the typing benchmark: llama-cpp-python called directly, with its
own prompt cache and nothing of ours around it. Here because only engine/ imports
llama_cpp; bench.py feeds it prompts and reports what it measured."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from pydantic import BaseModel


class FloorSample(BaseModel):
    latency_ms: float
    prompt_tokens: int
    reused_tokens: int
    non_empty: bool


def run_floor(
    model_path: str,
    prompts: Iterable[str],
    *,
    n_ctx: int,
    n_threads: int | None,
    max_tokens: int,
) -> list[FloorSample]:
    """One plain completion per prompt (stop at newline, greedy), timed."""
    import llama_cpp

    threads = n_threads or os.cpu_count() or 1
    llm = llama_cpp.Llama(
        model_path=model_path,
        n_ctx=n_ctx,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    samples: list[FloorSample] = []
    try:
        for prompt in prompts:
            tokens = llm.tokenize(prompt.encode(), add_bos=True)
            cached = llm.input_ids[: llm.n_tokens].tolist()
            reuse = 0
            for a, b in zip(cached, tokens, strict=False):
                if a != b:
                    break
                reuse += 1
            started = time.perf_counter()
            out = llm.create_completion(prompt, max_tokens=max_tokens, stop=["\n"], temperature=0.0)
            samples.append(
                FloorSample(
                    latency_ms=(time.perf_counter() - started) * 1000,
                    prompt_tokens=len(tokens),
                    reused_tokens=min(reuse, len(tokens) - 1),
                    non_empty=bool(out["choices"][0]["text"].strip()),
                )
            )
    finally:
        llm.close()
    return samples
