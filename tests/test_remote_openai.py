"""codehearth.remote against a real llama_cpp.server (SmolLM2) and a stdlib stub engine."""

from __future__ import annotations

import json
import math
import socket
import time
from collections.abc import Iterator
from typing import Any

import llama_cpp
import pytest
from pydantic import ValidationError

from codehearth.remote import OpenAICompatClient, RemoteConfig, RemoteError, RemoteGeneration
from codehearth.remote.errors import scrub
from codehearth.remote.probe import check_model
from tests.conftest import SMOLLM2
from tests.remote_server import REPLY, FakeEngine, llama_cpp_server

ALIAS = "smollm2"
PY_PREFIX = "import os\n\n\ndef read_lines(path):\n    with open(path) as f:\n        return "
never = lambda: False  # noqa: E731


def run(
    client: OpenAICompatClient, prefix: str, suffix: str | None = None, **kw: Any
) -> RemoteGeneration:
    """complete() with test defaults: greedy, 8 tokens, no stop, never cancelled."""
    args: dict[str, Any] = {
        "max_tokens": 8,
        "temperature": 0.0,
        "top_p": 1.0,
        "stop": [],
        "cancelled": never,
    }
    return client.complete(prefix, suffix, **(args | kw))


@pytest.fixture(scope="module")
def engine_url() -> Iterator[str]:
    with llama_cpp_server(SMOLLM2, ALIAS, n_ctx=2048) as url:
        yield url


@pytest.fixture(scope="module")
def client(engine_url: str) -> Iterator[OpenAICompatClient]:
    with OpenAICompatClient(RemoteConfig(base_url=engine_url + "/v1", model=ALIAS)) as c:
        yield c


# -- probe ---------------------------------------------------------------------------------


def test_probe_llama_cpp_python(client: OpenAICompatClient) -> None:
    info = client.probe()
    assert info.server == "llama-cpp-python"
    assert ALIAS in info.models
    assert info.tokenize_route == "/extras/tokenize/count"
    assert info.fim_route == "none"  # its `suffix` uses token id 0, not FIM tokens
    assert info.n_ctx is None  # llama_cpp.server exposes no context size
    assert client.token_counter == "engine"


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_probe_base_url_forms_and_context_override(engine_url: str, suffix: str) -> None:
    config = RemoteConfig(base_url=engine_url + suffix, model=ALIAS, context=2048)
    with OpenAICompatClient(config) as c:
        assert c.probe().n_ctx == 2048
    assert config.api_url == engine_url + "/v1"


def test_unreachable_engine_fails_fast_with_url() -> None:
    with socket.socket() as sock:  # bound but not listening: connection refused
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        start = time.monotonic()
        config = RemoteConfig(base_url=url, model="x")
        with OpenAICompatClient(config) as c, pytest.raises(RemoteError, match="refused") as err:
            run(c, "x")
    assert url in str(err.value) and "does not fall back" in str(err.value)
    assert time.monotonic() - start < 2.0


def test_unknown_model_lists_the_engine_models(engine_url: str) -> None:
    # llama_cpp.server itself silently answers with its default model for any name;
    # codehearth refuses instead of completing with a model nobody configured.
    config = RemoteConfig(base_url=engine_url, model="qwen2.5-coder")
    with (
        OpenAICompatClient(config) as c,
        pytest.raises(RemoteError, match=r"'qwen2\.5-coder'.*it has: smollm2"),
    ):
        c.probe()


def test_config_rejects_a_key_in_api_key_env_and_missing_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValidationError, match="name of an environment variable"):
        RemoteConfig(base_url="http://h:1", model="m", api_key_env="sk-live-123")
    with pytest.raises(ValidationError, match="http"):
        RemoteConfig(base_url="localhost:8080", model="m")
    monkeypatch.delenv("CODEHEARTH_TEST_KEY", raising=False)
    config = RemoteConfig(base_url="http://h:1", model="m", api_key_env="CODEHEARTH_TEST_KEY")
    with pytest.raises(RemoteError, match=r"\$CODEHEARTH_TEST_KEY, which is not set"):
        OpenAICompatClient(config)


# -- tokens --------------------------------------------------------------------------------


def test_count_tokens_matches_the_model_tokenizer(client: OpenAICompatClient) -> None:
    vocab = llama_cpp.Llama(model_path=str(SMOLLM2), vocab_only=True, verbose=False)
    texts = ["def foo(x):\n    return x", PY_PREFIX * 3, "  // ünïcode ✓ 名前\n\t"]
    for text in texts:
        expected = len(vocab.tokenize(text.encode(), special=True))
        assert client.count_tokens(text) == expected
        assert client.count_tokens(text) == expected  # second answer from the LRU cache
    assert client.count_tokens("") == 0


# -- completion ----------------------------------------------------------------------------


def test_complete_streams_deltas_within_max_tokens(client: OpenAICompatClient) -> None:
    deltas: list[str] = []
    gen = run(client, PY_PREFIX, max_tokens=24, on_delta=deltas.append)
    assert len(deltas) >= 2 and gen.text == "".join(deltas)
    assert 0 < gen.generated_tokens <= 24
    assert gen.finish_reason in ("length", "stop")
    assert gen.first_token_ms is not None and gen.first_token_ms <= gen.total_ms


def test_complete_honours_stop_at_newline(client: OpenAICompatClient) -> None:
    gen = run(client, "x = 1\ny = 2\nz = ", "\nprint(z)\n", max_tokens=48, stop=["\n"])
    assert "\n" not in gen.text
    assert gen.finish_reason == "stop"


def test_cancel_after_first_delta_closes_the_stream(client: OpenAICompatClient) -> None:
    deltas: list[str] = []
    start = time.monotonic()
    gen = run(
        client, "Once upon a time", max_tokens=200, temperature=1.5,
        cancelled=lambda: bool(deltas), on_delta=deltas.append,
    )  # fmt: skip
    assert gen.finish_reason == "cancelled"
    assert gen.generated_tokens < 200 and gen.text == "".join(deltas)
    assert time.monotonic() - start < 3.0
    # The engine noticed the disconnect and is free for the next request.
    after = run(client, "a", max_tokens=4)
    assert after.finish_reason in ("length", "stop")


def test_cancelled_before_start_sends_nothing(client: OpenAICompatClient) -> None:
    gen = run(client, "x", cancelled=lambda: True)
    assert (gen.text, gen.finish_reason, gen.generated_tokens) == ("", "cancelled", 0)


def test_prompt_over_context_is_explained(client: OpenAICompatClient) -> None:
    # llama_cpp.server fails after sending the SSE headers: the stream is just empty.
    with pytest.raises(RemoteError, match="exceed the engine's context") as err:
        run(client, "hello world " * 1500)
    assert "hello world" not in str(err.value)


# -- chat ----------------------------------------------------------------------------------


def test_chat_streams_a_reply(client: OpenAICompatClient) -> None:
    deltas: list[str] = []
    messages = [{"role": "user", "content": "Say hello to Bob."}]
    gen = client.chat(
        messages, max_tokens=24, temperature=0.0, top_p=1.0, cancelled=never, on_delta=deltas.append
    )
    assert gen.text.strip() and len(deltas) >= 2 and gen.text == "".join(deltas)


def test_chat_json_schema_constrains_output(client: OpenAICompatClient) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    messages = [{"role": "user", "content": "Alice is 30. Reply with her name and age as JSON."}]
    gen = client.chat(
        messages, max_tokens=64, temperature=0.0, top_p=1.0, cancelled=never, json_schema=schema
    )
    data = json.loads(gen.text)
    assert isinstance(data["name"], str) and isinstance(data["age"], int)


# -- stub engine: paths llama_cpp.server does not have -----------------------------------------


def test_generic_engine_estimates_tokens_and_falls_back_to_prefix_only() -> None:
    with (
        FakeEngine("openai") as fake,
        OpenAICompatClient(RemoteConfig(base_url=fake.url, model="fake-coder")) as c,
    ):
        info = c.probe()
        assert (info.server, info.fim_route, info.tokenize_route) == (
            "openai-compatible",
            "none",
            None,
        )
        assert c.token_counter == "estimate"
        assert c.count_tokens("x" * 100) == math.ceil(100 / 3.5)
        gen = run(c, "a = ", "\nb", max_tokens=3)
        assert gen.text == "".join(REPLY[:3]) and gen.finish_reason == "length"
        path, body = fake.requests[-1]
        assert (path, body["prompt"], "suffix" in body) == ("/v1/completions", "a = ", False)


def test_render_fim_builds_the_prompt_when_the_engine_has_no_fim_route() -> None:
    render = lambda p, s: f"<PRE>{p}<SUF>{s}<MID>"  # noqa: E731
    with FakeEngine("openai") as fake:
        config = RemoteConfig(base_url=fake.url, model="fake-coder")
        with OpenAICompatClient(config, render_fim=render) as c:
            run(c, "a = ", "\nb")
    assert fake.requests[-1][1]["prompt"] == "<PRE>a = <SUF>\nb<MID>"


def test_llama_server_infill_route_and_tokenizer() -> None:
    with (
        FakeEngine("llama-server") as fake,
        OpenAICompatClient(RemoteConfig(base_url=fake.url, model="fake-coder")) as c,
    ):
        info = c.probe()
        assert (info.server, info.n_ctx, info.fim_route, info.tokenize_route) == (
            "llama-server",
            4096,
            "infill",
            "/tokenize",
        )
        assert c.count_tokens("one two three") == 3
        deltas: list[str] = []
        gen = run(c, "pre", "suf", max_tokens=50, stop=["\n\n"], on_delta=deltas.append)
        path, body = fake.requests[-1]
    assert path == "/infill"
    assert (body["input_prefix"], body["input_suffix"], body["n_predict"]) == ("pre", "suf", 50)
    assert gen.text == "".join(REPLY) == "".join(deltas)
    assert (gen.finish_reason, gen.generated_tokens, gen.prompt_tokens) == ("stop", len(REPLY), 7)


def test_retries_5xx_before_the_first_token_then_gives_up() -> None:
    with (
        FakeEngine("openai") as fake,
        OpenAICompatClient(RemoteConfig(base_url=fake.url, model="fake-coder", retries=2)) as c,
    ):
        c.probe()
        fake.fail_next = [503, 502]
        gen = run(c, "x", max_tokens=2)
        assert gen.text == "".join(REPLY[:2])
        fake.fail_next = [503, 503, 503]
        with pytest.raises(RemoteError, match=r"HTTP 503.*engine busy"):
            run(c, "x", max_tokens=2)
        fake.fail_next = [400]  # client errors are not retried
        with pytest.raises(RemoteError, match="rejected the request"):
            run(c, "x", max_tokens=2)
        assert fake.fail_next == []


def test_slow_engine_times_out_with_url_and_limit() -> None:
    with (
        FakeEngine("openai") as fake,
        OpenAICompatClient(RemoteConfig(base_url=fake.url, model="fake-coder", timeout_s=0.5)) as c,
    ):
        c.probe()
        fake.delay_s = 1.5
        start = time.monotonic()
        with pytest.raises(RemoteError, match=r"did not answer within 0.5 s") as err:
            run(c, "x", max_tokens=2)
        assert fake.url + "/v1/completions" in str(err.value)
        assert time.monotonic() - start < 1.4  # timeouts are not retried


# -- pure helpers ----------------------------------------------------------------------------


def test_engine_messages_are_scrubbed_of_user_code() -> None:
    code = "def secret_algorithm(payload):\n    return payload ** 2"
    message = "1 validation error: {'loc': ('body', 'prompt'), 'input': 'def secret_algorithm(...'}"
    assert "secret" not in scrub(message)
    leaked = f"could not parse near: {code.splitlines()[1].strip()}"
    assert "payload ** 2" not in scrub(leaked, [code])
    assert len(scrub("x" * 5000)) <= 300


def test_model_names_follow_ollama_latest_convention() -> None:
    config = RemoteConfig(base_url="http://h:1", model="qwen2.5-coder")
    check_model(config, ["qwen2.5-coder:latest"], "http://h:1/v1/models")
    check_model(config, [], "http://h:1/v1/models")  # engines that list nothing are trusted
    with pytest.raises(RemoteError, match="it has: llama3:8b"):
        check_model(config, ["llama3:8b"], "http://h:1/v1/models")
