"""One llama.cpp context with several sequences, and the batch that feeds them together.

llama-cpp-python's `Llama` decodes one sequence (id 0). llama.cpp itself decodes a batch
whose tokens each carry a sequence id, so the prompt chunk of one editor's completion and
the next token of another editor's completion (and of a streaming chat) cost one
`llama_decode` instead of two. This module is the thin layer over those C calls: the
context (created from an already loaded model with `n_seq_max` sequences), per-sequence
KV removal, and the token batch. Used only by the decode loop's thread
(engine/scheduler.py).

Each sequence gets a KV stream of its own (`kv_unified` off), as llama-server's slots
do with `-np`: the context's cells are split evenly (`n_ctx / n_seq` each), a token
attends over its own sequence's cells only (a shared pool would make every token attend
over, and pay for, everyone's masked cells), and a sequence computes exactly what it
would alone. Flash attention is off for the same reason: its CPU kernel splits the
work by the attention window's length, so a sequence's result would depend on the others.
"""

from __future__ import annotations

import ctypes
from typing import Any

import llama_cpp


class DecodeError(RuntimeError):
    """llama_decode failed (other than for lack of KV room)."""


class KvFull(RuntimeError):
    """The KV cache has no room for the batch (llama_decode returned 1)."""


class MultiContext:
    """A llama.cpp context for `n_seq` sequences over a loaded model."""

    def __init__(
        self,
        model: Any,
        *,
        n_ctx: int,
        n_seq: int,
        n_batch: int,
        n_threads: int,
        flash_attn: bool = False,
    ) -> None:
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = n_seq
        params.kv_unified = False
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.flash_attn_type = (
            llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
            if flash_attn
            else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        self.ctx = llama_cpp.llama_init_from_model(model, params)
        if not self.ctx:
            raise ValueError("Failed to create llama_context for parallel sequences")
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.n_ctx = int(llama_cpp.llama_n_ctx(self.ctx))
        # What one sequence can hold.
        self.n_ctx_seq = int(llama_cpp.llama_n_ctx_seq(self.ctx))
        self.n_seq = n_seq
        self.n_batch = n_batch

    def remove(self, seq_id: int, start: int = 0) -> None:
        """Drop a sequence's KV from position `start` on (0: all of it)."""
        llama_cpp.llama_memory_seq_rm(self.memory, seq_id, start if start > 0 else -1, -1)

    def decode(self, batch: TokenBatch) -> None:
        code = int(llama_cpp.llama_decode(self.ctx, batch.raw))
        if code == 1:
            raise KvFull("no room in the KV cache for this batch")
        if code != 0:
            raise DecodeError(f"llama_decode failed ({code})")

    def close(self) -> None:
        if self.ctx:
            llama_cpp.llama_free(self.ctx)
            self.ctx = None


class TokenBatch:
    """A reusable llama_batch: tokens with positions, one sequence id each, and which
    of them need logits."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.raw = llama_cpp.llama_batch_init(capacity, 0, 1)
        self.n = 0

    def clear(self) -> None:
        self.n = 0
        self.raw.n_tokens = 0

    def add(self, token: int, pos: int, seq_id: int, logits: bool) -> int:
        """Append one token; returns its index (where its logits are, if asked for)."""
        if self.n >= self.capacity:
            raise IndexError("batch is full")
        i = self.n
        raw = self.raw
        raw.token[i] = token
        raw.pos[i] = pos
        raw.n_seq_id[i] = 1
        raw.seq_id[i][0] = seq_id
        raw.logits[i] = 1 if logits else 0
        self.n += 1
        raw.n_tokens = self.n
        return i

    @property
    def room(self) -> int:
        return self.capacity - self.n

    def close(self) -> None:
        if self.raw is not None:
            llama_cpp.llama_batch_free(self.raw)
            self.raw = None


def kv_bytes_per_token(model: Any) -> int:
    """KV cache bytes one token takes (F16 keys and values, every layer): for `ps`."""
    n_layer = int(llama_cpp.llama_model_n_layer(model))
    n_head = max(1, int(llama_cpp.llama_model_n_head(model)))
    n_head_kv = int(llama_cpp.llama_model_n_head_kv(model))
    head_dim = int(llama_cpp.llama_model_n_embd(model)) // n_head
    return 2 * n_layer * n_head_kv * head_dim * ctypes.sizeof(ctypes.c_uint16)
