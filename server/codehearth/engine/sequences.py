"""Which llama.cpp sequence holds whose KV cache: each editor and each chat keeps its own.

A one-sequence context keeps the prefix of whoever ran last, so engine/slots.py copies
the cache of the one that gives way out and the next one's back in. With several
sequences in one context nothing is copied: a slot (an editor's completions, its chat)
finds its sequence with its tokens still in the KV cache, and two slots decode side by
side. The number of sequences is bounded; a slot with none takes an empty one, else the
least recently used idle one (whose cache is dropped). All cells come from one pool of
`n_ctx`: what the sequences hold is counted here, so a batch that would not fit first
evicts idle sequences (oldest first) instead of failing inside llama_decode.

Used only on the decode loop's thread; `snapshot` is safe from any thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class SequenceInfo(BaseModel):
    """One sequence as `codehearth ps` shows it."""

    seq_id: int
    slot: str | None = None
    owner: str | None = None
    state: str = "idle"
    tokens: int = 0
    kv_bytes: int = 0
    idle_s: float = 0.0


@dataclass
class SeqState:
    seq_id: int
    slot: str | None = None
    owner: str | None = None
    # The tokens whose keys and values are in the cache, in position order.
    tokens: list[int] = field(default_factory=list)
    # "idle", or what the request on it does: "prompt", "generating".
    state: str = "idle"
    last_used: float = field(default_factory=time.monotonic)

    @property
    def busy(self) -> bool:
        return self.state != "idle"


class SequenceTable:
    """The context's sequences and the KV cells they hold."""

    def __init__(
        self, n_seq: int, remove: Callable[[int, int], None], kv_bytes_per_token: int
    ) -> None:
        self._remove = remove
        self.kv_bytes_per_token = kv_bytes_per_token
        self.seqs = [SeqState(i) for i in range(n_seq)]
        self.evictions = 0

    def acquire(self, slot: str | None, owner: str | None, prompt: list[int]) -> SeqState | None:
        """A sequence for a request of `slot` (None when every sequence is busy): its own
        idle one (the longest shared prefix), else an empty one, else the least recently
        used idle one (evicted)."""
        idle = [s for s in self.seqs if not s.busy]
        if not idle:
            return None
        own = [s for s in idle if slot is not None and s.slot == slot]
        if own:
            chosen = max(own, key=lambda s: (common_prefix_length(s.tokens, prompt), s.last_used))
        else:
            empty = [s for s in idle if not s.tokens]
            chosen = empty[0] if empty else min(idle, key=lambda s: s.last_used)
            if chosen.tokens:
                self.evict(chosen)
        chosen.slot, chosen.owner = slot, owner
        return chosen

    def truncate(self, seq: SeqState, keep: int) -> None:
        """Keep the first `keep` cached tokens of `seq` (drop the rest from the cache)."""
        if keep < len(seq.tokens):
            self._remove(seq.seq_id, keep)
            del seq.tokens[keep:]

    def evict(self, seq: SeqState) -> None:
        if seq.tokens:
            self._remove(seq.seq_id, 0)
            seq.tokens.clear()
            self.evictions += 1

    def release(self, seq: SeqState) -> None:
        seq.state = "idle"
        seq.last_used = time.monotonic()

    def drop_slot(self, slot: str) -> None:
        """Forget a slot's sequences (its editor went away); busy ones are left alone."""
        for seq in self.seqs:
            if seq.slot == slot and not seq.busy:
                self.evict(seq)
                seq.slot = seq.owner = None

    def snapshot(self) -> list[SequenceInfo]:
        now = time.monotonic()
        return [
            SequenceInfo(
                seq_id=s.seq_id,
                slot=s.slot,
                owner=s.owner,
                state=s.state,
                tokens=len(s.tokens),
                kv_bytes=len(s.tokens) * self.kv_bytes_per_token,
                idle_s=0.0 if s.busy else round(now - s.last_used, 1),
            )
            for s in list(self.seqs)
        ]
