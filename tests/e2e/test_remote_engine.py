"""The remote backend end to end: a real `codehearth serve` whose model is
llama-cpp-python's own OpenAI-compatible server (SmolLM2) standing in for a team cluster.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from ..conftest import SMOLLM2
from ..hub_server import nothing_listening
from ..remote_server import llama_cpp_server
from .harness import execute, items_of, wait_for, watch_assist

DATA = Path(__file__).parent.parent / "data"
ALIAS = "team-smollm2"


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with llama_cpp_server(SMOLLM2, ALIAS, n_ctx=2048) as url:
        yield url


def _manifest(tmp_path: Path, base_url: str, extra: str = "") -> Path:
    manifest = tmp_path / "models.toml"
    manifest.write_text(
        f'[models.team]\nbackend = "openai"\nbase_url = "{base_url}"\n'
        f'remote_model = "{ALIAS}"\ncontext = 2048\nroles = ["completion", "chat"]\n{extra}'
    )
    return manifest


async def _start(server_factory, manifest: Path):
    init = {
        "manifest": str(manifest),
        "model": "team",
        "completion": {"temperature": 0.0, "maxTokensSingle": 12, "maxTokensMulti": 24},
    }
    return await server_factory(init_options=init)


async def test_inline_completion_and_chat_through_the_remote_engine(
    server_factory, tmp_path, cluster
):
    session = await _start(server_factory, _manifest(tmp_path, cluster + "/v1"))
    status = await session.wait_state("ready", timeout=60)
    assert status["state"] == "ready", status
    assert status["device"] == "cpu" or status["device"] == "remote"
    assert status["remote"]["server"] == "llama-cpp-python"
    assert status["remote"]["token_counter"] == "engine"
    assert status["vram"] is None

    uri = session.open_file(DATA / "inventory.py")
    lines = (DATA / "inventory.py").read_text().splitlines()
    line = lines.index("    def count(self) -> int:") + 1
    texts = items_of(await session.complete(uri, line, len("        return ")))
    assert all("\n" not in t for t in texts)  # mid-line: one line
    after = await session.status()
    assert after["counters"]["completed"] >= 1 and after["counters"]["failed"] == 0

    events = watch_assist(session)
    result = await execute(
        session,
        "codehearth.chat",
        {"session": "s1", "message": "What does count return?", "sampling": {"max_tokens": 32}},
        work_done_token="chat-1",
    )
    assert result["reply"].strip()
    streamed = "".join(
        p["value"].get("message") or ""
        for p in events.of("progress")
        if p["token"] == "chat-1" and p["value"]["kind"] == "report"
    )
    assert streamed.strip() == result["reply"]

    explain = await execute(
        session,
        "codehearth.explain",
        {"uri": uri, "range": _lines(line - 1, line + 1), "sampling": {"max_tokens": 24}},
    )
    assert explain["markdown"].strip()


async def test_review_uses_structured_output(server_factory, tmp_path, cluster):
    session = await _start(server_factory, _manifest(tmp_path, cluster + "/v1"))
    await session.wait_state("ready", timeout=60)
    events = watch_assist(session)
    path = tmp_path / "avg.py"
    path.write_text("def average(xs):\n    return sum(xs) / len(xs) + 1\n")
    uri = session.open_file(path)
    result = await execute(
        session, "codehearth.review", {"uri": uri, "sampling": {"max_tokens": 160}}, timeout=120
    )
    assert isinstance(result["findings"], list)  # parsed from the engine's JSON
    await wait_for(lambda: uri in events.diagnostics)
    assert len(events.diagnostics[uri]) == len(result["findings"])


async def test_unreachable_engine_is_a_clear_error_without_hanging(server_factory, tmp_path):
    with nothing_listening() as url:
        started = time.monotonic()
        session = await _start(server_factory, _manifest(tmp_path, url + "/v1"))
        status = await session.wait_state("ready", timeout=30)
    assert status["state"] == "error", status
    assert "cannot reach" in status["error"] and url in status["error"], status["error"]
    assert time.monotonic() - started < 15
    # The status push and the message are sent from different threads: either may come first.
    await wait_for(lambda: any(m.type == types.MessageType.Error for m in session.messages))
    errors = [m for m in session.messages if m.type == types.MessageType.Error]
    assert url in errors[0].message
    uri = session.open_file(DATA / "inventory.py")
    with pytest.raises(JsonRpcException) as info:
        await session.complete(uri, 1, 0)
    assert url in info.value.message


def _lines(start: int, end: int) -> dict:
    return {"start": {"line": start, "character": 0}, "end": {"line": end, "character": 0}}


def test_doctor_checks_the_remote_engine(tmp_path, cluster):
    from codehearth.doctor import doctor_report

    manifest = _manifest(tmp_path, cluster + "/v1", '[defaults]\ncompletion = "team"\n')
    report = doctor_report(str(manifest))
    check = next(c for c in report.models if c.name == "team")
    assert check.problem is None, check
    assert "llama-cpp-python at" in check.summary
    assert "token counts from the engine" in check.summary
    assert report.usable

    with nothing_listening() as url:
        down = _manifest(tmp_path, url + "/v1", '[defaults]\ncompletion = "team"\n')
        report = doctor_report(str(down))
    assert not report.usable
    assert any("cannot reach" in p.message and p.severity == "error" for p in report.problems)


async def test_remote_session_connects_only_to_the_configured_engine(tmp_path, cluster):
    """With a remote backend, the user's code goes to the engine they configured and to
    nothing else (the same audit hook as test_privacy.py), and stays out of the logs."""
    import uuid
    from urllib.parse import urlsplit

    from .test_privacy import INIT, AuditedSession, _full_session

    manifest = _manifest(tmp_path, cluster + "/v1")
    session = AuditedSession(tmp_path / "audit.log")
    secret = f"Ledger_{uuid.uuid4().hex[:12]}"
    try:
        await session.start(init_options={**INIT, "manifest": str(manifest), "model": "team"})
        await _full_session(session, secret)
    finally:
        await session.stop()
    host, port = urlsplit(cluster).hostname, urlsplit(cluster).port
    events = session.events()
    assert any(event == "socket.connect" for event, _ in events)
    stray = [
        (event, args)
        for event, args in events
        if not (
            (event == "socket.connect" and args[0] == repr((host, port)))
            or (event == "socket.getaddrinfo" and args[:2] == (repr(host), repr(port)))
            # The openai package asks `uname -p` for its platform headers (docs/remote.md).
            or (event == "subprocess.Popen" and args[0] == repr("uname"))
        )
    ]
    assert not stray, f"connections other than {cluster}: {stray}"
    assert secret not in session.stderr.decode(errors="replace")


async def test_an_engine_failing_after_startup_shows_in_the_status_and_recovers(
    server_factory, tmp_path
):
    from ..remote_server import FakeEngine

    with FakeEngine("openai", model=ALIAS) as engine:
        session = await _start(server_factory, _manifest(tmp_path, engine.url + "/v1"))
        assert (await session.wait_state("ready", timeout=30))["state"] == "ready"
        session.open("file:///tmp/remote/a.py", "def add(a, b):\n    return ")
        engine.fail_next = [503, 503, 503]  # more than the retries
        with pytest.raises(JsonRpcException) as info:
            await session.complete("file:///tmp/remote/a.py", 1, 11)
        assert "503" in info.value.message and engine.url in info.value.message
        status = await session.status()
        assert status["state"] == "error" and "503" in status["error"], status
        assert status["remote"]["error"]
        # The engine is back: the next keystroke works and the status clears.
        assert isinstance(items_of(await session.complete("file:///tmp/remote/a.py", 1, 11)), list)
        status = await session.status()
        assert status["state"] == "ready" and status["error"] is None, status
