"""The editor's relay outlives the shared engine: it restarts it and replays the editor.

An engine process can die under every editor at once (killed, OOM-killed, a native
abort inside llama.cpp such as a CUDA error). The editors' clients must not have to be
restarted for that: each relay answers what was in flight with RequestFailed, says
`restarting` in its status, starts (or finds) a new engine, replays what its editor had
said (initialize, initialized, configuration, open documents at their current text and
version, shared/replay.py) and passes messages on again. While no engine is there it
answers `codehearth.status` and `shutdown` itself and fails other requests clearly. Three
deaths within a minute are a crash loop: it stops starting engines and says why.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, BinaryIO

from ..config import ServeOptions
from ..processes import process_alive, watchable
from .editor_log import LOG_NOTIFICATION
from .paths import log_path
from .relay import EngineUnreachable, connect_or_start, engine_pid, handshake
from .replay import EditorState
from .wire import DEFAULT_PARALLEL, FrameReader, encode, failure, notification, result

log = logging.getLogger(__name__)

CRASH_LOOP_DEATHS = 3
CRASH_LOOP_WINDOW_S = 60.0
STATUS_NOTIFICATION = "codehearth/status"
STATUS_COMMAND = "codehearth.status"
PROCESS_POLL_S = 0.5


class Relay:
    """One editor's connection to the shared engine, across engine restarts."""

    def __init__(
        self,
        options: ServeOptions,
        idle_timeout: float,
        parallel: int = DEFAULT_PARALLEL,
        fallback: Callable[[], int] | None = None,
    ) -> None:
        self.options = options
        # What to run instead when no engine can be attached at start (None: exit 1).
        self.fallback = fallback
        self.idle_timeout = idle_timeout
        self.parallel = parallel
        self.state = EditorState()
        self.engine_pid: int | None = None
        # "connected" | "restarting" | "failed" (a crash loop: no more restarts).
        self.phase = "connected"
        self.reason: str | None = None
        self.deaths: deque[float] = deque()
        self.restarts = 0
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()  # the state, the socket, the phase
        self._send_lock = threading.Lock()  # one writer into the engine socket
        self._write_lock = threading.Lock()  # one writer into the editor's stdout
        self._stdout: BinaryIO | None = None
        self._editor_gone = threading.Event()
        self._started: list[subprocess.Popen] = []

    # -- the process --------------------------------------------------------
    def run(self, stdin: BinaryIO, stdout: BinaryIO) -> int:
        self._stdout = stdout
        try:
            sock = self._attach()
        except (EngineUnreachable, OSError) as exc:
            if self.fallback is not None:
                log.warning("the shared engine is not available (%s); serving in-process", exc)
                return self.fallback()
            print(f"codehearth: {exc}", file=sys.stderr)
            return 1
        self._connected(sock, replay=False)
        fd = stdin.fileno()
        threading.Thread(
            target=self._from_editor, args=(fd,), name="codehearth-relay", daemon=True
        ).start()
        threading.Thread(target=_exit_with_editor, name="codehearth-parent", daemon=True).start()
        while True:
            self._pump(sock)
            if self.state.exited:  # LSP: 0 after shutdown, 1 without
                return 0 if self.state.shutdown else 1
            if self._editor_gone.is_set():
                return 0
            next_sock = self._recover()
            if next_sock is None:
                self._editor_gone.wait()
                return 0
            sock = next_sock

    def _attach(self) -> socket.socket:
        sock = connect_or_start(self.idle_timeout, self._started, self.parallel)
        handshake(sock, self.options)
        self.engine_pid = engine_pid()
        return sock

    def _connected(self, sock: socket.socket, *, replay: bool) -> None:
        """From now on editor messages go to `sock`; a new engine hears the replay first
        (under the lock, so no editor message can overtake it)."""
        with self._lock:
            if replay:
                data = b"".join(encode(m) for m in self.state.replay())
                with self._send_lock:
                    sock.sendall(data)
            self._sock = sock
            self.phase = "connected"
            self.reason = None

    # -- engine -> editor ---------------------------------------------------
    def _pump(self, sock: socket.socket) -> None:
        """Engine messages to the editor until the engine closes or dies."""
        reader = FrameReader(sock.recv)
        try:
            while (frame := reader.next()) is not None:
                if _log_line(frame.message):
                    continue
                with self._lock:
                    deliver = self.state.from_engine(frame.message)
                if deliver:
                    self._write(frame.raw)
        except OSError as exc:
            log.warning("lost the shared engine: %s", exc)
        with self._lock:
            self._sock = None
        with contextlib.suppress(OSError):
            sock.close()

    # -- editor -> engine ---------------------------------------------------
    def _from_editor(self, fd: int) -> None:
        # Raw reads on the descriptor: a thread blocked in a buffered read would hold its
        # lock and crash the interpreter's shutdown.
        reader = FrameReader(lambda n: _read(fd, n))
        while (frame := reader.next()) is not None:
            with self._lock:
                sock = self._sock
                route = self.state.from_editor(frame.message, connected=sock is not None)
            if frame.message is not None and frame.message.get("method") == "initialize":
                self._watch_editor_process(frame.message)
            if route == "forward" and sock is not None:
                try:
                    with self._send_lock:
                        sock.sendall(frame.raw)
                except OSError:
                    pass  # the engine reader sees it die and fails what was pending
            elif route == "local" and frame.message is not None:
                self._answer_locally(frame.message)
            if self.state.exited and sock is None:
                self._leave(0 if self.state.shutdown else 1)
        # The editor is gone: tell the engine, which drops this editor's work.
        self._editor_gone.set()
        with self._lock:
            sock = self._sock
        if sock is None:
            self._leave(0)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)

    def _watch_editor_process(self, initialize: dict[str, Any]) -> None:
        """LSP processId: when the editor process is gone, leave even if the pipes stay
        open (an orphaned helper may hold them). The engine cannot do it for us: it would
        only close this editor's connection, which looks like the engine dying."""
        params = initialize.get("params")
        pid = params.get("processId") if isinstance(params, dict) else None
        if not isinstance(pid, int) or isinstance(pid, bool) or pid == os.getppid():
            return  # the parent is watched anyway (_exit_with_editor)
        if not watchable(pid):
            log.info("editor process %d is not visible from here; not watching it", pid)
            return

        def watch() -> None:
            while process_alive(pid):
                time.sleep(PROCESS_POLL_S)
            log.info("editor process %d is gone", pid)
            self._leave(0)

        threading.Thread(target=watch, name="codehearth-editor-pid", daemon=True).start()

    def _answer_locally(self, message: dict[str, Any]) -> None:
        """A request while no engine is there."""
        method, request_id = message.get("method"), message.get("id")
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        if method == "shutdown":
            self._send(result(request_id, None))
        elif method == "workspace/executeCommand" and params.get("command") == STATUS_COMMAND:
            self._send(result(request_id, self.status()))
        else:
            self._send(failure(request_id, self._unavailable()))

    def _unavailable(self) -> str:
        if self.phase == "failed":
            return self.reason or "the shared engine is not running"
        return "the shared engine is restarting; try again in a moment"

    # -- recovery -----------------------------------------------------------
    def _recover(self) -> socket.socket | None:
        """The engine died: fail what it held, then start a new one (None: a crash loop)."""
        why = self._death_cause()
        log.error("%s", why)
        with self._lock:
            lost = self.state.engine_lost()
            self.phase, self.reason = "restarting", why
        for request_id in lost:
            self._send(failure(request_id, f"{why}; restarting it"))
        while True:
            if self._crash_loop():
                self._give_up(why)
                return None
            self._push_status()
            try:
                sock = self._attach()
            except (EngineUnreachable, OSError) as exc:
                why = f"a new shared engine did not come up ({exc})"
                self.deaths.append(time.monotonic())
                continue
            if self._editor_gone.is_set():
                return sock
            try:
                self._connected(sock, replay=True)
            except OSError as exc:
                why = f"the new shared engine went away at once ({exc})"
                self.deaths.append(time.monotonic())
                continue
            self.restarts += 1
            log.warning("attached to a new shared engine (pid %s)", self.engine_pid)
            return sock

    def _death_cause(self) -> str:
        self.deaths.append(time.monotonic())
        pid = self.engine_pid
        how = "stopped unexpectedly"
        for child in self._started:
            if child.pid == pid and (code := _reap(child)) is not None:
                how = _describe_exit(code)
        return f"the shared engine (pid {pid}) {how}"

    def _crash_loop(self) -> bool:
        now = time.monotonic()
        while self.deaths and now - self.deaths[0] > CRASH_LOOP_WINDOW_S:
            self.deaths.popleft()
        return len(self.deaths) >= CRASH_LOOP_DEATHS

    def _give_up(self, why: str) -> None:
        message = (
            f"the shared engine stopped {len(self.deaths)} times within "
            f"{CRASH_LOOP_WINDOW_S:.0f} s (last: {why}); not starting it again. "
            f"Its log: {log_path()}. Restart the language server to try again."
        )
        with self._lock:
            self.phase, self.reason = "failed", message
        shown = {"type": 1, "message": f"codehearth: {message}"}  # 1: MessageType.Error
        self._send(notification("window/showMessage", shown))
        self._push_status()

    # -- status -------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """The status object while no engine answers (the model as last reported)."""
        from ..status import EngineRef, StatusPayload

        last = self.state.last_status or {}
        failed = self.phase == "failed"
        payload = StatusPayload(
            state="error" if failed else "restarting",
            model=last.get("model"),
            quant=last.get("quant"),
            device=last.get("device") or "cpu",
            error=self.reason if failed else None,
            engine=EngineRef(kind="shared", pid=self.engine_pid or 0),
            load_notes=None if failed else [self.reason or "the shared engine is restarting"],
        )
        return payload.model_dump()

    def _push_status(self) -> None:
        self._send(notification(STATUS_NOTIFICATION, self.status()))

    # -- output -------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> None:
        self._write(encode(message))

    def _write(self, data: bytes) -> None:
        assert self._stdout is not None
        with self._write_lock:
            try:
                self._stdout.write(data)
                self._stdout.flush()
            except (OSError, ValueError):
                self._editor_gone.set()

    def _leave(self, code: int) -> None:
        with self._write_lock:
            with contextlib.suppress(OSError, ValueError):
                assert self._stdout is not None
                self._stdout.flush()
            os._exit(code)


def serve_shared(
    options: ServeOptions,
    idle_timeout: float,
    parallel: int = DEFAULT_PARALLEL,
    fallback: Callable[[], int] | None = None,
) -> int:
    """`codehearth serve` attached to the shared engine, until the editor goes."""
    relay = Relay(options, idle_timeout, parallel, fallback)
    return relay.run(sys.stdin.buffer, sys.stdout.buffer)


def _log_line(message: dict[str, Any] | None) -> bool:
    """The engine's log for this editor (shared/editor_log.py) goes to this process's
    stderr, where the editor reads a server's log; it is not an LSP message for it."""
    if not message or message.get("method") != LOG_NOTIFICATION:
        return False
    params = message.get("params")
    text = params.get("message") if isinstance(params, dict) else None
    if isinstance(text, str):
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
    return True


def _read(fd: int, n: int) -> bytes:
    try:
        return os.read(fd, n)
    except OSError:
        return b""


def _reap(child: subprocess.Popen) -> int | None:
    """The exit status of an engine this relay started, once it has exited."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        return child.wait(timeout=0.5)
    return None


def _describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _exit_with_editor() -> None:
    """The engine cannot see the editor: this relay ends when its parent (the editor)
    does, even if an orphaned helper keeps the pipes open; the engine then drops this
    editor's work when the socket closes."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
