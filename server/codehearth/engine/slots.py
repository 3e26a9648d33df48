"""KV-cache slots: one llama.cpp context, several conversations that keep their prefix.

The model has one KV cache. When two editors (or an editor's completions and its
chat) take turns, each turn would evict the other's prompt and the next request would
re-evaluate all of it: seconds per keystroke instead of milliseconds. So the cache of
the slot that gives way is copied out (llama_state_seq_get_data, sequence 0 only:
the KV cells, no logits) and the next slot's copy, if any, is put back. A copy costs
a memcpy of the used cells (about 23 KB per token for SmolLM2-135M), far less than
evaluating the prompt again. Saved copies are bounded in number and bytes (LRU).

This is the one-sequence engine's way (engine/session.py, what `serve --in-process`
runs). The parallel engine (engine/parallel.py) keeps a llama.cpp sequence per slot
instead (engine/sequences.py): nothing is copied, and slots decode side by side.
"""

from __future__ import annotations

import ctypes
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MAX_SAVED_SLOTS = 8
MAX_SAVED_BYTES = 1 << 30


@dataclass
class _Saved:
    data: Any  # a ctypes byte array
    size: int
    tokens: list[int]


class KvSlots:
    """Which slot owns the live KV cache, and the saved caches of the others."""

    def __init__(self, max_slots: int = MAX_SAVED_SLOTS, max_bytes: int = MAX_SAVED_BYTES) -> None:
        self.current: str | None = None
        self.max_slots = max_slots
        self.max_bytes = max_bytes
        self.switches = 0
        self._saved: OrderedDict[str, _Saved] = OrderedDict()

    @property
    def saved_bytes(self) -> int:
        return sum(s.size for s in self._saved.values())

    def switch(self, llm: Any, slot: str) -> None:
        """Make `slot` the live cache (call on the worker thread, before a prompt)."""
        if slot == self.current:
            return
        self.switches += 1
        if self.current is not None and llm.n_tokens > 0:
            self._save(llm, self.current)
        self.current = slot
        saved = self._saved.pop(slot, None)
        if saved is None or not self._restore(llm, saved):
            llm.n_tokens = 0  # the next eval starts from an empty cache

    def drop(self, slot: str) -> None:
        """Forget a slot (its editor disconnected)."""
        self._saved.pop(slot, None)
        if self.current == slot:
            self.current = None

    def _save(self, llm: Any, slot: str) -> None:
        import llama_cpp

        ctx = llm.ctx
        size = int(llama_cpp.llama_state_seq_get_size(ctx, 0))
        if size <= 0 or size > self.max_bytes:
            return
        data = (ctypes.c_uint8 * size)()
        written = int(llama_cpp.llama_state_seq_get_data(ctx, data, size, 0))
        if written <= 0:
            return
        tokens = [int(t) for t in llm.input_ids[: llm.n_tokens]]
        self._saved[slot] = _Saved(data, written, tokens)
        self._saved.move_to_end(slot)
        while self._saved and (
            len(self._saved) > self.max_slots or self.saved_bytes > self.max_bytes
        ):
            evicted, _ = self._saved.popitem(last=False)
            log.debug("KV slot %s evicted", evicted)

    def _restore(self, llm: Any, saved: _Saved) -> bool:
        import llama_cpp

        ctx = llm.ctx
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        if int(llama_cpp.llama_state_seq_set_data(ctx, saved.data, saved.size, 0)) == 0:
            log.debug("KV slot restore failed; evaluating from scratch")
            return False
        n = len(saved.tokens)
        llm.input_ids[:n] = saved.tokens
        llm.n_tokens = n
        return True
