"""Streamed generation on the real engine: pre-emption by a completion, continuation,
grammar restarts; and the per-role sampling rules."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from codehearth.assist.generation import PreparedPrompt, StreamingRun
from codehearth.assist.payloads import SamplingOverride
from codehearth.assist.review import findings_schema, parse_findings
from codehearth.assist.sampling import REVIEW_MAX_TOKENS, REVIEW_MIN_TOKENS, generation_params
from codehearth.engine.types import EngineConfig, GenerationParams
from codehearth.engine.worker import PRIORITY_CHAT, PRIORITY_COMPLETION, Engine, Job
from codehearth.models.manifest import Sampling

from .fixtures.tiny_gguf import write_tiny_gguf


@pytest.fixture
def engine(tmp_path: Path):
    path = write_tiny_gguf(tmp_path / "t.gguf", None)
    engine = Engine(EngineConfig(model_name="t", model_path=str(path), n_ctx=2048, n_threads=1))
    engine.start()
    engine.wait_loaded(30)
    yield engine
    engine.shutdown()


def _prepare(session, params) -> PreparedPrompt:
    return PreparedPrompt(session.tokenize("def main():\n    return", special=False))


def _run_with_interruption(engine: Engine, run_factory) -> tuple[StreamingRun, object]:
    """Start a chat-priority run; on its first text, queue a completion behind it."""
    completion_queued = threading.Event()
    deltas: list[str] = []
    completion: list = []

    def on_delta(delta: str) -> None:
        deltas.append(delta)
        if not completion_queued.is_set():
            job = Job(run=lambda session, job: "completed", priority=PRIORITY_COMPLETION)
            completion.append(engine.submit(job))
            completion_queued.set()

    run = run_factory(on_delta)
    future = engine.submit(Job(run=run, key="chat", priority=PRIORITY_CHAT))
    result = future.result(60)
    assert completion[0].result(10) == "completed"
    return run, (result, deltas)


def test_preempted_chat_continues_where_it_stopped(engine: Engine) -> None:
    def factory(on_delta):
        params = GenerationParams(max_tokens=150, temperature=0.0)
        return StreamingRun(_prepare, params, on_delta)

    run, (result, deltas) = _run_with_interruption(engine, factory)
    assert run.preemptions >= 1 and engine.counters.preempted >= 1
    assert result.preemptions == run.preemptions
    assert result.generated_tokens <= 150
    assert result.stop_reason in {"length", "eog"}
    assert "".join(deltas) == result.text  # the stream carries on seamlessly
    # The continuation re-evaluated the original prompt plus the text so far.
    assert len(result.stats) >= 2
    assert result.stats[1].prompt_tokens > result.stats[0].prompt_tokens


def test_resumed_run_waits_for_typing_to_pause(engine: Engine) -> None:
    """A completion arriving shortly after another one finds the reply still waiting: it
    yields again without having evaluated anything (the completion's KV stays put)."""
    later: list = []

    def first_completion(session, job) -> str:
        timer = threading.Timer(
            0.2,
            lambda: later.append(
                engine.submit(Job(run=lambda s, j: "second", priority=PRIORITY_COMPLETION))
            ),
        )
        timer.start()
        return "first"

    def on_delta(delta: str) -> None:
        if not hasattr(on_delta, "sent"):
            on_delta.sent = True  # type: ignore[attr-defined]
            engine.submit(Job(run=first_completion, priority=PRIORITY_COMPLETION))

    run = StreamingRun(_prepare, GenerationParams(max_tokens=60, temperature=0.0), on_delta)
    result = engine.submit(Job(run=run, priority=PRIORITY_CHAT)).result(60)
    assert later and later[0].result(10) == "second"
    assert run.preemptions == 2
    assert len(result.stats) == 2  # one generation before the first completion, one after


def test_preempted_grammar_run_restarts_and_still_yields_json(engine: Engine) -> None:
    def factory(on_delta):
        params = GenerationParams(max_tokens=1500, temperature=0.0)
        return StreamingRun(_prepare, params, on_delta, json_schema=findings_schema())

    run, (result, _) = _run_with_interruption(engine, factory)
    assert run.restarts >= 1
    assert result.text.startswith('{"findings"')
    parse_findings(result.text)  # whatever it holds, it parses without raising


def test_sampling_rules_per_role() -> None:
    base = Sampling(temperature=0.2, max_tokens=64, stop=["###"])
    chat = generation_params(base, "chat")
    assert (chat.temperature, chat.max_tokens, chat.stop) == (0.2, 64, ["###"])
    hot = generation_params(base, "chat", SamplingOverride(temperature=0.7, max_tokens=500))
    assert (hot.temperature, hot.max_tokens, hot.top_p) == (0.7, 500, base.top_p)
    review = generation_params(base, "review")
    assert review.max_tokens == REVIEW_MIN_TOKENS and review.stop == []
    capped = generation_params(base, "review", SamplingOverride(max_tokens=8000))
    assert capped.max_tokens == REVIEW_MAX_TOKENS
    short = generation_params(base, "review", SamplingOverride(max_tokens=50))
    assert short.max_tokens == 50
    assert generation_params(None, "explain").max_tokens == Sampling().max_tokens


async def test_soft_cancel_of_a_preempted_chat_returns_its_partial_text(engine: Engine) -> None:
    """A reply that yielded to a completion sits requeued with a running future; cancelling
    it then must still answer (Engine.cancel alone would leave the future pending)."""
    import asyncio

    from codehearth.assist.service import AssistService

    service = AssistService(engine, None)
    active = service.begin("s-1", session="chat")
    release = threading.Event()
    requeued = threading.Event()

    def blocking_completion(session, job) -> str:
        requeued.set()  # the chat job is back in the queue now
        release.wait(10)
        return "done"

    def on_delta(delta: str) -> None:
        if not requeued.is_set() and not hasattr(on_delta, "sent"):
            on_delta.sent = True  # type: ignore[attr-defined]
            engine.submit(Job(run=blocking_completion, priority=PRIORITY_COMPLETION))

    run = StreamingRun(_prepare, GenerationParams(max_tokens=400, temperature=0.0), on_delta)
    task = asyncio.ensure_future(service.run(run, active))
    await asyncio.get_running_loop().run_in_executor(None, requeued.wait, 10)
    assert service.cancel(stream_id="s-1")
    release.set()
    result, cancelled = await asyncio.wait_for(task, 10)
    assert cancelled and result.preemptions == 1
    assert result.text and result.generated_tokens < 400
