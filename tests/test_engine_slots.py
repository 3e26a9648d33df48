"""KV slots: two conversations taking turns on one llama.cpp context keep their prefixes."""

from __future__ import annotations

from codehearth.engine.session import ModelSession
from codehearth.engine.types import GenerationParams
from codehearth.engine.worker import Engine, Job

FIRST = "".join(f"def first_{i}(x):\n    return x + {i}\n\n" for i in range(30))
SECOND = "".join(f"class Second{i}:\n    value = {i}\n\n" for i in range(30))
SHORT = GenerationParams(max_tokens=4, temperature=0.0)


def _turn(engine: Engine, prompt: str, slot: str | None):
    def run(session: ModelSession, job: Job):
        tokens = session.tokenize(prompt, add_bos=True)
        text, stats = session.generate(tokens, SHORT, job.control(), slot=slot)
        return text, stats, session.slots.saved_bytes

    return engine.submit(Job(run=run)).result(60)


def test_alternating_slots_keep_their_prefix(engine):
    # Warm both slots, then alternate with a little typed text each time.
    _turn(engine, FIRST, "a")
    _turn(engine, SECOND, "b")
    texts = {"a": FIRST, "b": SECOND}
    for step in range(3):
        for slot in ("a", "b"):
            texts[slot] += f"x{step}"
            _, stats, saved = _turn(engine, texts[slot], slot)
            assert stats.reused_tokens / stats.prompt_tokens > 0.95, (slot, stats)
            assert saved > 0  # the other slot's cache is held in memory
    # Same prompt and cache contents give the same greedy answer as a cold start.
    warm, _, _ = _turn(engine, texts["a"], "a")
    cold, _, _ = _turn(engine, texts["a"], "fresh")
    assert warm == cold


def test_without_slots_alternating_evicts(engine):
    # The baseline the slots fix: one shared cache, each turn evaluates its prompt again.
    _turn(engine, FIRST, None)
    _, stats, _ = _turn(engine, SECOND, None)
    _, stats, _ = _turn(engine, FIRST + "y", None)
    assert stats.reused_tokens / stats.prompt_tokens < 0.1, stats
