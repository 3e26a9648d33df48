"""`codehearth engine`: the per-user process that holds the models for every editor.

Each editor's `codehearth serve --shared` relays its LSP stream over a Unix socket
(0600, in a 0700 directory). A connection starts with one JSON line (the handshake):
`{"codehearth": 1, "kind": "lsp", "options": {...}, "pid": N}` and is then plain LSP,
handled by its own language server instance (documents, chats, settings of that
editor) over a model from the shared HostRegistry. `{"kind": "ps"}` gets one JSON
line describing the engine instead. The process exits after `idle_timeout` seconds
without connections; one flock decides which process is the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any

from pygls.io_ import run_async

from ..config import ServeOptions
from ..gpu.nvml import process_vram_bytes
from ..lsp.app import create_server
from ..lsp.protocol import install_lenient_json
from ..runtime import HostRegistry, ModelHost
from ..status import rss_bytes
from . import editor_log
from .paths import lock_path, socket_path
from .report import PsClient, PsModel, PsReport, PsSequence
from .wire import DEFAULT_PARALLEL, PROTOCOL_VERSION

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT_S = 10.0
DEFAULT_IDLE_TIMEOUT_S = 300.0


@dataclass
class Connection:
    id: int
    relay_pid: int | None
    editor_pid: int | None
    options: ServeOptions
    since: float = field(default_factory=time.time)
    server: Any = None


class SharedEngine:
    def __init__(
        self, idle_timeout: float = DEFAULT_IDLE_TIMEOUT_S, parallel: int = DEFAULT_PARALLEL
    ) -> None:
        self.idle_timeout = idle_timeout
        self.registry = HostRegistry(parallel)
        self.connections: dict[int, Connection] = {}
        self.started = time.time()
        self._next_id = 0
        self._idle = asyncio.Event()
        self._lock_file: IO[str] | None = None

    # -- process ------------------------------------------------------------
    def acquire(self) -> bool:
        """Become the engine: False when another process already is."""
        handle = open(lock_path(), "a+")  # noqa: SIM115 - held for the process's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock_file = handle
        return True

    async def serve(self) -> None:
        path = socket_path()
        # We hold the lock, so a socket file left here belongs to a dead engine.
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        old_umask = os.umask(0o177)  # the socket is created 0600, never briefly wider
        try:
            server = await asyncio.start_unix_server(self._accept, path=str(path))
        finally:
            os.umask(old_umask)
        path.chmod(0o600)
        log.info("shared engine %d listening on %s", os.getpid(), path)
        async with server:
            await self._wait_idle()
        log.info("no editor for %.0f s: the shared engine exits", self.idle_timeout)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        await asyncio.to_thread(self.registry.stop)

    async def _wait_idle(self) -> None:
        while True:
            if self.connections:
                self._idle.clear()
                await self._idle.wait()
                continue
            try:
                await asyncio.wait_for(self._idle.wait(), self.idle_timeout)
            except TimeoutError:
                if not self.connections:
                    return
            self._idle.clear()

    # -- connections --------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            hello = await self._handshake(reader)
        except (ValueError, TimeoutError, asyncio.IncompleteReadError) as exc:
            log.warning("refused a connection: %s", exc)
            writer.close()
            return
        if hello.get("kind") == "ps":
            writer.write((json.dumps(self.describe()) + "\n").encode())
            await writer.drain()
            writer.close()
            return
        await self._serve_lsp(hello, reader, writer)

    async def _handshake(self, reader: asyncio.StreamReader) -> dict[str, Any]:
        line = await asyncio.wait_for(reader.readline(), HANDSHAKE_TIMEOUT_S)
        hello = json.loads(line or b"null")
        if not isinstance(hello, dict) or hello.get("codehearth") != PROTOCOL_VERSION:
            raise ValueError("not a codehearth handshake")
        return hello

    async def _serve_lsp(
        self, hello: dict[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        options = ServeOptions.model_validate(hello.get("options") or {})
        self._next_id += 1
        conn = Connection(self._next_id, hello.get("pid"), hello.get("editor_pid"), options)
        server = create_server(options)
        server.host_registry = self.registry
        stop = threading.Event()

        def leave(_server: Any) -> None:
            stop.set()
            writer.close()

        server.on_leave = leave
        conn.server = server
        self.connections[conn.id] = conn
        self._idle.set()
        log.info("editor connection %d (relay pid %s) opened", conn.id, conn.relay_pid)
        server.protocol.set_writer(writer)  # type: ignore[arg-type]
        level = editor_log.parse_level(hello.get("log_level"))
        token = editor_log.open_connection(
            asyncio.get_running_loop(),
            lambda text: server.protocol.notify(editor_log.LOG_NOTIFICATION, {"message": text}),
            level,
        )
        try:
            await run_async(
                stop_event=stop,
                reader=_YieldingReader(reader),
                protocol=server.protocol,
                logger=log,
                error_handler=server.report_server_error,
            )
        finally:
            editor_log.CURRENT_EDITOR.reset(token)
            self._close(conn, writer)

    def _close(self, conn: Connection, writer: asyncio.StreamWriter) -> None:
        server = conn.server
        if server.status_publisher is not None:
            server.status_publisher.stop()
        # Drops what this editor still has queued or running; the model stays loaded.
        server.runtime.stop()
        writer.close()
        self.connections.pop(conn.id, None)
        self._idle.set()
        log.info("editor connection %d closed", conn.id)

    # -- ps -----------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """What `codehearth ps` shows (a PsReport, as JSON)."""
        models = [self._model_row(host) for host in self.registry.hosts()]
        clients = [
            PsClient(
                id=c.id,
                relay_pid=c.relay_pid,
                editor_pid=c.editor_pid,
                model=c.server.runtime.entry.name if c.server.runtime.entry else None,
                documents=len(c.server.runtime.store),
                connected_s=round(time.time() - c.since, 1),
                client_id=c.server.runtime.client_id,
            )
            for c in self.connections.values()
        ]
        return PsReport(
            pid=os.getpid(),
            socket=str(socket_path()),
            uptime_s=round(time.time() - self.started, 1),
            idle_timeout_s=self.idle_timeout,
            rss_bytes=rss_bytes(),
            models=models,
            clients=clients,
        ).model_dump()

    def _model_row(self, host: ModelHost) -> PsModel:
        engine = host.engine
        info = engine.session_info if engine is not None else None
        return PsModel(
            name=host.entry.name if host.entry else host.options.model,
            state=host.state(),
            error=host.error(),
            gpu_layers=engine.loaded_gpu_layers if engine else None,
            n_ctx=info.n_ctx if info is not None else None,
            vram_bytes=_process_vram(),
            requests=engine.counters.requests if engine else 0,
            clients=sum(1 for c in self.connections.values() if c.server.runtime.host is host),
            parallel=engine.config.n_seq if engine else host.n_seq,
            sequences=[PsSequence(**s.model_dump()) for s in engine.sequences()] if engine else [],
        )


def _process_vram() -> int | None:
    usage = process_vram_bytes(os.getpid())
    return sum(usage.values()) if usage else None


class _YieldingReader:
    """The connection's stream for pygls's reader loop, giving way after every line.

    A StreamReader with buffered data returns without suspending, so a burst of
    messages (a didOpen, a request, the next didChange) was handled back to back, and a
    request's handler task first ran after the later edits: it saw a document newer
    than the one it was asked about. In-process, pygls reads stdin in a thread and
    yields at every line. Giving way here lets each request's handler take its snapshot
    of the documents (and check its position) before the next message is handled, and
    lets other editors' connections run between one editor's messages."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    async def readline(self) -> bytes:
        line = await self._reader.readline()
        await asyncio.sleep(0)
        return line

    async def readexactly(self, n: int) -> bytes:
        return await self._reader.readexactly(n)


def run_engine(idle_timeout: float, parallel: int = DEFAULT_PARALLEL) -> int:
    """The `codehearth engine` command: 0 when it served and went idle, or when another
    engine is already running (the caller attaches to that one)."""
    engine = SharedEngine(idle_timeout, parallel)
    if not engine.acquire():
        log.info("a shared engine is already running")
        return 0
    install_lenient_json()
    editor_log.install(logging.getLogger().level)
    asyncio.run(engine.serve())
    return 0
