"""Privacy: the server talks to nobody but the editor, and user code stays out of its logs.

Every Python process of the server (the editor's `serve` and, by default, the shared
engine it starts) runs with a `sitecustomize` on its path that installs a Python audit
hook (sys.addaudithook) before codehearth is imported; the hook appends every network
event (connect, bind, getaddrinfo, sendto) and every process spawn to a file, with its
PID. Audit hooks see what Python code does (sockets made by the standard library, httpx,
huggingface_hub...), not what native code does on its own sockets; llama.cpp opens none.

The one local plumbing allowed is the shared engine's: its Unix socket inside the
user's private runtime directory, and the spawn of `codehearth engine` itself.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ..conftest import SMOLLM2
from ..hub_server import FakeHub
from .harness import SERVE_MODES as MODES
from .harness import ServerSession, execute, items_of
from .raw_client import RawLspClient

AUDIT_ENV = "CODEHEARTH_TEST_AUDIT_LOG"
NETWORK = ("socket.connect", "socket.bind", "socket.getaddrinfo", "socket.sendto")
SPAWN = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork")

# Imported by every Python process started with it on PYTHONPATH, before anything else.
SITECUSTOMIZE = f"""
import os, sys
_log = os.environ.get({AUDIT_ENV!r})
_watch = {NETWORK + SPAWN!r}

def _hook(event, args):
    if event in _watch:
        if event.startswith("socket.") and event != "socket.getaddrinfo":
            args = args[1:]  # the socket object itself
        with open(_log, "a", encoding="utf-8") as f:
            f.write(repr((os.getpid(), event, tuple(repr(a) for a in args))) + "\\n")

if _log:
    sys.addaudithook(_hook)
"""

INIT = {"completion": {"temperature": 0.0, "maxTokensSingle": 8, "maxTokensMulti": 16}}
QUICK = {"max_tokens": 12, "temperature": 0.0}
ASSIST = ("codehearth.explain", "codehearth.chat", "codehearth.review")


class AuditedSession(ServerSession):
    """ServerSession whose processes (and the engine they start) run under the hook."""

    def __init__(self, audit_log: Path) -> None:
        super().__init__()
        self.audit_log = audit_log
        self.site = audit_log.parent / "audit-site"
        self.site.mkdir(exist_ok=True)
        (self.site / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")

    def server_env(self, env: dict[str, str] | None) -> dict[str, str]:
        merged = super().server_env(env)
        path = os.pathsep.join(p for p in (str(self.site), merged.get("PYTHONPATH")) if p)
        return {**merged, "PYTHONPATH": path, AUDIT_ENV: str(self.audit_log)}

    def all_events(self) -> list[tuple[int, str, tuple[str, ...]]]:
        if not self.audit_log.exists():
            return []
        lines = self.audit_log.read_text(encoding="utf-8").splitlines()
        return [ast.literal_eval(line) for line in lines]

    def events(self) -> list[tuple[str, tuple[str, ...]]]:
        """What any of the server's processes did, less the shared engine's plumbing."""
        return [(event, args) for _, event, args in self.all_events() if not _plumbing(event, args)]

    def engine_was_audited(self) -> bool:
        """Whether a second process (the engine) ran under the hook: it binds its socket."""
        return any(e == "socket.bind" and _plumbing(e, a) for _, e, a in self.all_events())


def _plumbing(event: str, args: tuple[str, ...]) -> bool:
    """The relay and the shared engine on the engine's Unix socket in the private runtime
    directory, and the relay starting `codehearth engine`."""
    runtime = os.environ["CODEHEARTH_RUNTIME_DIR"]
    if event in ("socket.connect", "socket.bind") and args:
        address = ast.literal_eval(args[0])
        return isinstance(address, str) and Path(address).parent == Path(runtime)
    if event == "subprocess.Popen" and len(args) > 1:
        command = ast.literal_eval(args[1])
        return list(command[:4]) == [sys.executable, "-m", "codehearth.cli", "engine"]
    return False


def _commands(session: ServerSession) -> list[str]:
    assert session.init_result is not None
    provider = session.init_result.capabilities.execute_command_provider
    return list(provider.commands) if provider else []


async def _full_session(session: AuditedSession, secret: str) -> list[str]:
    """Everything an editor does in a working session, on code that contains `secret`.
    Returns the assist commands exercised."""
    status = await session.wait_state("ready", timeout=60)
    assert status["state"] == "ready", status
    code = (
        f"import os\n\n\nclass {secret}:\n"
        f'    """Keeps {secret} values."""\n\n'
        "    def __init__(self, path):\n"
        "        self.path = path\n\n"
        "    def load(self):\n"
        "        with open(self.path) as f:\n"
        "            return f.read()\n\n"
        "    def size(self):\n"
        "        return "
    )
    uri = "file:///tmp/privacy/secret_module.py"
    session.open(uri, code)
    session.open("file:///tmp/privacy/notes.zz", f"{secret} = 1\n{secret}", language_id="zz")
    last = code.split("\n")
    items_of(await session.complete(uri, len(last) - 1, len(last[-1])))
    session.change(uri, len(last) - 1, len(last[-1]), f"len({secret}")
    items_of(await session.complete(uri, len(last) - 1, len(last[-1]) + len(secret) + 4))
    items_of(await session.complete(uri, 8, 0))  # an empty line: a block
    items_of(await session.complete("file:///tmp/privacy/notes.zz", 1, len(secret)))
    await session.status()

    used = [c for c in ASSIST if c in _commands(session)]
    whole = {"start": {"line": 3, "character": 0}, "end": {"line": 12, "character": 0}}
    if "codehearth.explain" in used:
        await execute(
            session, "codehearth.explain", {"uri": uri, "range": whole, "sampling": QUICK}
        )
    if "codehearth.chat" in used:
        reply = await execute(
            session,
            "codehearth.chat",
            {"message": f"What does {secret} do?", "uri": uri, "range": whole, "sampling": QUICK},
        )
        if "codehearth.chat.reset" in _commands(session):
            await execute(session, "codehearth.chat.reset", {"session": reply["session"]})
    if "codehearth.review" in used:
        await execute(session, "codehearth.review", {"uri": uri, "sampling": QUICK}, timeout=120)
    await session.status()
    return used


@pytest.mark.parametrize("mode", MODES)
async def test_a_full_session_opens_no_connection(tmp_path, mode):
    session = AuditedSession(tmp_path / "audit.log")
    secret = f"Ledger_{uuid.uuid4().hex[:12]}"
    try:
        await session.start(*MODES[mode], "--log-level", "debug", init_options=INIT)
        used = await _full_session(session, secret)
        print(f"\nassist commands exercised: {used or 'none advertised'}")
    finally:
        await session.stop()
    assert session.process.returncode == 0
    assert session.events() == []
    assert session.engine_was_audited() == (mode == "shared")


@pytest.mark.parametrize("mode", MODES)
async def test_user_code_stays_out_of_logs_at_debug_level(tmp_path, mode, private_runtime_dir):
    session = AuditedSession(tmp_path / "audit.log")
    secret = f"Ledger_{uuid.uuid4().hex[:12]}"
    try:
        await session.start(*MODES[mode], "--log-level", "debug", init_options=INIT)
        await _full_session(session, secret)
    finally:
        await session.stop()
    stderr = session.stderr.decode("utf-8", errors="replace")
    assert "DEBUG" in stderr, "the server did not log at debug level: the check means nothing"
    assert secret not in stderr
    assert all(secret not in m.message for m in session.log_messages)
    engine_log = private_runtime_dir / "engine.log"  # the shared engine's own log
    assert engine_log.exists() == (mode == "shared")
    if engine_log.exists():
        assert secret not in engine_log.read_text(encoding="utf-8", errors="replace")


async def test_malformed_messages_keep_code_out_of_logs():
    """A buggy client: user code inside messages the server rejects. pygls logs some of
    them whole (a "jsonrpc" other than "2.0") or quotes the rejected value in a traceback."""
    secret = f"Ledger_{uuid.uuid4().hex[:12]}"
    client = RawLspClient()
    await client.start("--log-level", "debug", init_options=INIT)
    try:
        # Loaded: llama.cpp silences stderr while it loads, which would hide leaks.
        assert (await client.wait_loaded())["state"] != "loading"
        doc = {"uri": "file:///tmp/x.py", "languageId": "python", "version": 1}
        await client.send(
            {
                "jsonrpc": "1.0",
                "method": "textDocument/didOpen",
                "params": {"textDocument": {**doc, "text": f"def {secret}(): pass"}},
            }
        )
        await client.notify(
            "textDocument/didOpen", {"textDocument": {**doc, "version": secret, "text": secret}}
        )
        await client.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": doc["uri"], "version": 2},
                "contentChanges": [{"range": {"start": secret}, "text": secret}],
            },
        )
        reply = await client.request(
            "textDocument/inlineCompletion",
            {
                "textDocument": {"uri": doc["uri"]},
                "position": {"line": secret, "character": 0},
                "context": {"triggerKind": 2},
            },
        )
        assert "error" in reply
        await asyncio.sleep(0.5)  # let the server write its logs
    finally:
        await client.stop()
    stderr = client.stderr.decode("utf-8", errors="replace")
    leaks = [line[:200] for line in stderr.splitlines() if secret in line]
    assert not leaks, leaks
    log_messages = [n for n in client.notifications if n.get("method") == "window/logMessage"]
    assert secret not in json.dumps(log_messages)


def _hub_env(tmp_path: Path, hub: FakeHub) -> dict[str, str]:
    # Telemetry is deliberately not disabled here: whatever the server would send anywhere
    # must show up in the audit log.
    return {"HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0"}


async def test_a_model_download_connects_only_to_the_configured_endpoint(tmp_path):
    manifest = tmp_path / "models.toml"
    manifest.write_text(
        '[models.smol-hub]\nrepo = "test-org/smol"\nfile = "smol.gguf"\n'
        'context = 2048\nroles = ["completion"]\n'
    )
    session = AuditedSession(tmp_path / "audit.log")
    with FakeHub({("test-org/smol", "main", "smol.gguf"): SMOLLM2.read_bytes()}) as hub:
        host, port = urlsplit(hub.endpoint).hostname, urlsplit(hub.endpoint).port
        try:
            await session.start(
                init_options={**INIT, "manifest": str(manifest), "model": "smol-hub"},
                env=_hub_env(tmp_path, hub),
            )
            status = await session.wait_state("ready", timeout=120)
            assert status["state"] == "ready", status
            assert hub.gets("smol.gguf"), "the model was not downloaded from the fake hub"
            session.open("file:///tmp/privacy/after.py", "def f(x):\n    return ")
            items_of(await session.complete("file:///tmp/privacy/after.py", 1, 11))
        finally:
            await session.stop()
    events = session.events()
    assert events, "no network event recorded: is the audit hook working?"
    allowed_connect = repr((host, port))
    allowed_lookup = (repr(host), repr(port))
    stray = [
        (event, args)
        for event, args in events
        if not (
            (event == "socket.connect" and args[0] == allowed_connect)
            or (event == "socket.getaddrinfo" and args[:2] == allowed_lookup)
        )
    ]
    assert not stray, f"connections other than {hub.endpoint}: {stray}"
    assert any(event == "socket.connect" for event, _ in events)
