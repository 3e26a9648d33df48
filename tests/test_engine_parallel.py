"""Parallel sequences in one llama.cpp context (engine/parallel.py, engine/scheduler.py).

Real llama.cpp throughout: SmolLM2 for the real-model check, the tiny random-weight GGUF
(tests/fixtures/tiny_gguf.py) where many tokens are needed quickly. Greedy decoding, so
"the same output" means token for token.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from codehearth.engine.jobs import PRIORITY_CHAT, PRIORITY_COMPLETION
from codehearth.engine.parallel import ParallelSession
from codehearth.engine.session import Cancelled
from codehearth.engine.types import EngineConfig, GenerationParams
from codehearth.engine.worker import Engine, EngineBusy, Job

from .conftest import SMOLLM2
from .fixtures.tiny_gguf import write_tiny_gguf

CODE_A = "".join(f"def function_{i}(x):\n    return x * {i}\n\n" for i in range(12))
CODE_B = "".join(f"class Item{i}:\n    value = {i}\n\n" for i in range(12))
CODE_C = "".join(f"for i in range({i}):\n    print(i)\n" for i in range(12))


def _params(n: int) -> GenerationParams:
    return GenerationParams(max_tokens=n, temperature=0.0, repeat_penalty=1.1)


def _job(prompt: str, slot: str, n: int, priority=PRIORITY_COMPLETION, on_text=None) -> Job:
    def run(session: ParallelSession, job: Job):
        tokens = session.tokenize(prompt, add_bos=True)
        text, stats = session.generate(tokens, _params(n), job.control(on_text=on_text), slot=slot)
        if stats.stop_reason == "cancelled":
            raise Cancelled()
        return text, stats

    return Job(run=run, owner=slot.split(":")[0], priority=priority)


def _engine(path: Path, n_seq: int, n_ctx: int = 2048) -> Engine:
    eng = Engine(EngineConfig(model_name="m", model_path=str(path), n_ctx=n_ctx, n_seq=n_seq))
    eng.start()
    assert eng.wait_loaded(60)
    return eng


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("tiny") / "tiny.gguf", None, n_layer=2)


@pytest.fixture
def tiny_engine(tiny: Path):
    eng = _engine(tiny, n_seq=3, n_ctx=6144)  # 2048 cells a sequence
    yield eng
    eng.shutdown()


def _now() -> float:
    return time.perf_counter()


def _session(eng: Engine) -> ParallelSession:
    session = eng._session
    assert isinstance(session, ParallelSession)
    return session


def test_two_sequences_together_give_the_same_greedy_tokens_as_each_alone_smollm2():
    eng = _engine(SMOLLM2, n_seq=3, n_ctx=1536)
    try:
        alone_a = eng.submit(_job(CODE_A, "a", 16)).result(120)[0]
        alone_b = eng.submit(_job(CODE_B, "b", 16)).result(120)[0]
        together = [eng.submit(_job(CODE_A, "a2", 16)), eng.submit(_job(CODE_B, "b2", 16))]
        assert [f.result(120)[0] for f in together] == [alone_a, alone_b]
        assert _session(eng).loop.max_sequences_in_batch >= 2, "they must share batches"
    finally:
        eng.shutdown()


def test_three_sequences_in_shared_batches_match_each_alone(tiny_engine: Engine):
    prompts = {"a": CODE_A, "b": CODE_B, "c": CODE_C}
    alone = {s: tiny_engine.submit(_job(p, s, 48)).result(60)[0] for s, p in prompts.items()}
    futures = {s: tiny_engine.submit(_job(p, f"{s}:fresh", 48)) for s, p in prompts.items()}
    assert {s: f.result(60)[0] for s, f in futures.items()} == alone
    assert _session(tiny_engine).loop.max_sequences_in_batch == 3


def test_cancelling_one_sequence_leaves_the_others_output_unchanged(tiny_engine: Engine):
    alone = tiny_engine.submit(_job(CODE_A, "a", 48)).result(60)[0]
    holder: dict[str, Job] = {}
    seen: list[str] = []

    def cancel_after_three(delta: str) -> None:
        seen.append(delta)
        if len(seen) == 3:
            holder["b"].cancel()

    holder["b"] = _job(CODE_B, "b", 200, on_text=cancel_after_three)
    other = tiny_engine.submit(_job(CODE_A, "a:again", 48))
    cancelled = tiny_engine.submit(holder["b"])
    with pytest.raises(Cancelled):
        cancelled.result(60)
    assert other.result(60)[0] == alone
    assert len(seen) < 200


def test_each_slot_keeps_its_own_prefix_and_the_least_recently_used_is_evicted(tiny: Path):
    eng = _engine(tiny, n_seq=2)
    try:
        eng.submit(_job(CODE_A, "a", 2)).result(60)
        eng.submit(_job(CODE_B, "b", 2)).result(60)
        # a and b alternate: each finds its own prefix in its own sequence, nothing copied.
        for text, slot in ((CODE_A + "x", "a"), (CODE_B + "y", "b")):
            _, stats = eng.submit(_job(text, slot, 2)).result(60)
            assert stats.reused_tokens >= stats.prompt_tokens - 3, stats
        # A third slot takes the least recently used sequence (a's) and drops its cache.
        eng.submit(_job(CODE_C, "c", 2)).result(60)
        assert {s.slot for s in eng.sequences()} == {"b", "c"}
        assert _session(eng).table.evictions == 1
        _, stats = eng.submit(_job(CODE_A, "a", 2)).result(60)
        assert stats.reused_tokens == 0
    finally:
        eng.shutdown()


def test_each_sequence_has_the_whole_configured_window(tiny: Path):
    eng = _engine(tiny, n_seq=2, n_ctx=512)
    try:
        session = _session(eng)
        # The configured window per sequence, as in-process: the context holds two.
        assert session.n_ctx == 512 and session.mctx.n_ctx == 1024
        # Two ~260-token prompts fit side by side; a prompt beyond a window does not run.
        for prompt, slot in ((CODE_A, "a"), (CODE_B, "b")):
            assert eng.submit(_job(prompt, slot, 4)).result(60)[1].stop_reason == "length"
        _, stats = eng.submit(_job(CODE_A * 3, "c", 4)).result(60)
        assert stats.stop_reason == "context"
    finally:
        eng.shutdown()


def test_a_completion_runs_first_while_a_chat_waits_in_its_sequence(tiny_engine: Engine):
    chat_alone = tiny_engine.submit(_job(CODE_C, "e:assist", 600, PRIORITY_CHAT)).result(60)[0]
    chat_times: list[float] = []
    completion_times: list[float] = []
    chat = tiny_engine.submit(
        _job(CODE_C, "e:assist2", 600, PRIORITY_CHAT, on_text=lambda _: chat_times.append(_now()))
    )
    deadline = time.monotonic() + 30
    while not chat_times and time.monotonic() < deadline:
        time.sleep(0.001)
    completion = _job(CODE_A, "e", 24, on_text=lambda _: completion_times.append(_now()))
    _, stats = tiny_engine.submit(completion).result(60)
    assert stats.generated_tokens == 24
    assert not chat.done(), "the completion must not wait for the chat"
    # On the CPU the chat waits in its sequence while the completion generates...
    first, last = completion_times[0], completion_times[-1]
    assert not [t for t in chat_times if first < t < last]
    # ... and was neither restarted nor changed: its text is the one it had alone.
    chat_text, chat_stats = chat.result(60)
    assert chat_text == chat_alone and chat_stats.stop_reason == "length"
    assert tiny_engine.counters.preempted == 0


def test_prompts_of_equal_priority_take_turns(tiny_engine: Engine):
    # A long prompt does not hold a short one of another editor back until it is read.
    long_job, short_job = _job(CODE_A * 6, "long", 1), _job(CODE_B[:200], "short", 1)
    futures = [tiny_engine.submit(long_job), tiny_engine.submit(short_job)]
    (_, long_stats), (_, short_stats) = (f.result(60) for f in futures)
    assert long_stats.prompt_tokens > 1200 and short_stats.prompt_tokens < 200
    # In turns: ~2 of the long prompt's ~12 steps; first come, first served: all 12.
    assert short_stats.prompt_ms < 0.6 * long_stats.prompt_ms, (short_stats, long_stats)


def test_one_editor_cannot_fill_the_queue(tiny: Path):
    config = EngineConfig(
        model_name="m", model_path=str(tiny), n_ctx=512, n_seq=2, max_queue_per_owner=3
    )
    eng = Engine(config)
    eng.start()
    gate = threading.Event()
    try:
        assert eng.wait_loaded(60)
        order: list[str] = []

        def work(name: str):
            def run(session, job):
                order.append(name)
                time.sleep(0.3)
                return name

            return Job(run=run, owner=name)

        for n in range(2):  # both workers busy
            eng.submit(Job(run=lambda s, j: gate.wait(30), owner=f"busy{n}"))
        time.sleep(0.2)
        flood = [eng.submit(work("flood")) for _ in range(3)]
        with pytest.raises(EngineBusy, match="this editor has 3 requests waiting"):
            eng.submit(work("flood"))
        calm = eng.submit(work("calm"))
        gate.set()
        assert calm.result(30) == "calm"
        assert [f.result(30) for f in flood] == ["flood"] * 3
        # The other editor's job is not behind all of the flood: it runs in the first turn.
        assert order.index("calm") <= 1, order
    finally:
        gate.set()
        eng.shutdown()


def test_ps_shows_each_sequence_its_owner_and_kv(tiny_engine: Engine):
    tiny_engine.submit(_job(CODE_A, "ed1", 2)).result(60)
    tiny_engine.submit(_job(CODE_B, "ed2:assist", 2)).result(60)
    rows = {s.slot: s for s in tiny_engine.sequences()}
    assert rows["ed1"].owner == "ed1" and rows["ed2:assist"].owner == "ed2"
    assert rows["ed1"].state == "idle" and rows["ed1"].tokens > 100
    assert (
        rows["ed1"].kv_bytes == rows["ed1"].tokens * _session(tiny_engine).table.kv_bytes_per_token
    )
    tiny_engine.release("ed1")
    deadline = time.monotonic() + 10
    while "ed1" in {s.slot for s in tiny_engine.sequences()} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "ed1" not in {s.slot for s in tiny_engine.sequences()}


def test_review_grammars_constrain_each_sequence_on_its_own(tiny_engine: Engine):
    import json

    import llama_cpp

    from codehearth.assist.review import findings_schema

    schema = json.dumps(findings_schema(max_findings=1))

    def review(temperature: float) -> Job:
        def run(session: ParallelSession, job: Job):
            grammar = llama_cpp.LlamaGrammar.from_json_schema(schema, verbose=False)
            params = GenerationParams(max_tokens=1900, temperature=temperature)
            tokens = session.tokenize('Review this: {"')
            return session.generate(tokens, params, job.control(), grammar=grammar, slot=None)

        return Job(run=run, owner=f"r{temperature}")

    # Two constrained generations side by side, each with its own grammar state.
    futures = [tiny_engine.submit(review(t)) for t in (0.0, 1.5)]
    for future in futures:
        text, stats = future.result(120)
        assert stats.stop_reason == "eog"
        assert set(json.loads(text, strict=False)) == {"findings"}
