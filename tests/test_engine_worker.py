"""The engine with the real SmolLM2 model: queue, supersede, cancel, KV reuse, pre-emption."""

from __future__ import annotations

import threading

import pytest

from codehearth.engine.api import Capabilities, RemoteStatus, SessionInfo
from codehearth.engine.session import Cancelled, ModelSession, WrongThread
from codehearth.engine.types import EngineConfig, GenerationParams
from codehearth.engine.worker import (
    PRIORITY_CHAT,
    PRIORITY_COMPLETION,
    Engine,
    EngineBusy,
    EngineUnavailable,
    Job,
    Requeue,
)

from .conftest import SMOLLM2

CODE = "".join(f"def function_{i}(x):\n    return x * {i}\n\n" for i in range(40))
LONG = GenerationParams(max_tokens=200, temperature=0.0)


def generate_job(prompt: str, params: GenerationParams, key: str | None = None, on_text=None):
    def run(session: ModelSession, job: Job):
        tokens = session.tokenize(prompt, add_bos=True)
        text, stats = session.generate(tokens, params, job.control(on_text=on_text))
        if stats.stop_reason == "cancelled":
            raise Cancelled()
        return text, stats

    return Job(run=run, key=key)


def test_cancellation_stops_generation_between_tokens(engine):
    seen: list[str] = []
    holder: dict[str, Job] = {}

    def on_text(delta: str) -> None:
        seen.append(delta)
        if len(seen) == 3:
            holder["job"].cancel()

    job = generate_job(CODE, LONG, on_text=on_text)
    holder["job"] = job
    with pytest.raises(Cancelled):
        engine.submit(job).result(60)
    last = engine.counters.last
    assert last is not None and last.stop_reason == "cancelled"
    assert last.generated_tokens < LONG.max_tokens


def test_new_request_for_same_document_supersedes_running_one(engine):
    started = threading.Event()
    first = generate_job(CODE, LONG, key="file:///a.py", on_text=lambda _: started.set())
    first_future = engine.submit(first)
    assert started.wait(30)
    second = generate_job(CODE + "def extra", GenerationParams(max_tokens=4), key="file:///a.py")
    _, stats = engine.submit(second).result(60)
    with pytest.raises(Cancelled):
        first_future.result(1)
    assert first.superseded
    assert stats.generated_tokens <= 4


def test_queued_request_for_same_document_is_dropped(engine):
    blocker_started = threading.Event()
    blocker = generate_job(CODE, LONG, key="other", on_text=lambda _: blocker_started.set())
    blocker_future = engine.submit(blocker)
    assert blocker_started.wait(30)
    superseded_before = engine.counters.superseded
    futures = [
        engine.submit(generate_job(CODE, GenerationParams(max_tokens=2), key="file:///b.py"))
        for _ in range(20)
    ]
    assert engine.queue_depth <= 2  # the blocker's key is not pending; b.py holds one slot
    blocker.cancel()
    for future in futures[:-1]:
        assert future.cancelled()
    futures[-1].result(60)
    assert engine.counters.superseded - superseded_before >= 19
    with pytest.raises(Cancelled):
        blocker_future.result(5)


def test_second_keystroke_reuses_the_prompt_prefix(engine):
    short = GenerationParams(max_tokens=2, temperature=0.0)
    engine.submit(generate_job(CODE + "def next_function(", short)).result(60)
    _, stats = engine.submit(generate_job(CODE + "def next_function(y", short)).result(60)
    assert stats.prompt_tokens > 300
    assert stats.reused_tokens >= 0.9 * stats.prompt_tokens
    assert stats.evaluated_tokens == stats.prompt_tokens - stats.reused_tokens


def test_completion_preempts_chat_which_then_resumes(engine):
    chat_started = threading.Event()
    progress: dict[str, object] = {"text": "", "runs": 0}

    def chat(session: ModelSession, job: Job):
        progress["runs"] += 1
        tokens = session.tokenize(CODE + str(progress["text"]), add_bos=True)
        params = GenerationParams(max_tokens=60, temperature=0.0)
        control = job.control(may_yield=True, on_text=lambda _: chat_started.set())
        text, stats = session.generate(tokens, params, control)
        progress["text"] = str(progress["text"]) + text
        if stats.stop_reason == "preempted":
            raise Requeue()
        return progress["text"]

    chat_job = Job(run=chat, key="chat", priority=PRIORITY_CHAT)
    chat_future = engine.submit(chat_job)
    assert chat_started.wait(30)
    completion = generate_job("def add(a, b):", GenerationParams(max_tokens=4), key="doc")
    completion.priority = PRIORITY_COMPLETION
    completion_future = engine.submit(completion)
    completion_future.result(60)
    assert not chat_future.done(), "the completion must not wait for the chat to finish"
    assert isinstance(chat_future.result(120), str)
    assert progress["runs"] >= 2
    assert engine.counters.preempted >= 1


def test_model_is_only_touched_by_its_worker_thread(engine):
    holder: dict[str, ModelSession] = {}
    engine.submit(Job(run=lambda session, job: holder.setdefault("s", session))).result(30)
    session = holder["s"]
    with pytest.raises(WrongThread):
        session.tokenize("print('hello')")
    # Not even the raw llama.cpp object can be reached from here.
    with pytest.raises(WrongThread):
        _ = session.llm
    with pytest.raises(WrongThread):
        session.count_tokens("x = 1\n")


def test_queue_is_bounded():
    eng = Engine(
        EngineConfig(model_name="smollm2", model_path=str(SMOLLM2), n_ctx=512, max_queue=3)
    )
    gate = threading.Event()
    eng.start()
    try:
        eng.submit(Job(run=lambda s, j: gate.wait(30)))
        with pytest.raises(EngineBusy):
            for i in range(10):
                eng.submit(Job(run=lambda s, j: None, key=f"k{i}"))
    finally:
        gate.set()
        eng.shutdown()


def test_unloadable_model_reports_a_clear_error(tmp_path):
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"this is not a gguf file at all")
    eng = Engine(EngineConfig(model_name="bogus", model_path=str(bogus)))
    eng.start()
    with pytest.raises(EngineUnavailable):
        eng.wait_loaded(30)
    with pytest.raises(EngineUnavailable):
        eng.submit(Job(run=lambda s, j: None))
    eng.shutdown()


def test_out_of_memory_at_load_falls_back_to_fewer_layers_then_cpu(monkeypatch):
    import llama_cpp

    real = llama_cpp.Llama
    tried: list[int] = []

    def fake_llama(*args, n_gpu_layers=0, **kwargs):
        tried.append(n_gpu_layers)
        if n_gpu_layers > 0:
            raise ValueError("Failed to create llama_context: out of memory")
        return real(*args, n_gpu_layers=n_gpu_layers, **kwargs)

    monkeypatch.setattr(llama_cpp, "Llama", fake_llama)
    config = EngineConfig(
        model_name="smollm2",
        model_path=str(SMOLLM2),
        n_ctx=512,
        n_gpu_layers=31,
        fallback_layers=[15, 7, 0],
    )
    eng = Engine(config)
    eng.start()
    try:
        assert eng.wait_loaded(60)
        assert tried == [31, 15, 7, 0]
        assert eng.loaded_gpu_layers == 0
        assert "loaded with 0 (CPU)" in eng.load_notes[0]
    finally:
        eng.shutdown()


REMOTE = RemoteStatus(
    url="http://engine", server="stub", model="m", fim="none", token_counter="estimate"
)


class _SharedSession:
    """What a remote engine's session looks like to the worker: no model, thread-safe."""

    capabilities = Capabilities(token_prompts=False, concurrent=True)
    n_ctx = 1024
    n_ctx_train = 0
    on_stats = None

    def describe(self) -> SessionInfo:
        return SessionInfo(n_ctx=4096, remote=REMOTE)

    def close(self) -> None:
        pass


def test_several_workers_run_a_completion_beside_a_long_chat():
    eng = Engine(
        EngineConfig(model_name="remote", model_path="http://engine"),
        session_factory=lambda config: _SharedSession(),
        workers=2,
    )
    eng.start()
    try:
        assert eng.wait_loaded(5)
        assert eng.session_info is not None and eng.session_info.remote == REMOTE
        gate = threading.Event()
        chat = eng.submit(Job(run=lambda s, j: gate.wait(10), priority=PRIORITY_CHAT))
        completion = eng.submit(Job(run=lambda s, j: "done", key="doc"))
        assert completion.result(5) == "done"
        assert not chat.done(), "the completion ran beside the chat, not after it"
        gate.set()
        assert chat.result(5) is True
    finally:
        eng.shutdown()
