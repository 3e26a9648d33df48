"""The pieces one running codehearth holds: a model host, documents, services.

A `ModelHost` is the model: manifest entry, download, engine. A `Runtime` is one
editor connection: its documents, its completion settings and chats, and the host it
uses. In-process (`codehearth serve`) each runtime owns its host; in the shared engine
(`codehearth engine`) runtimes of many editors use one host per model from a
`HostRegistry`, so a model is resident once per user and machine.

Shared by the language server and the one-shot CLI commands so both take the
same path from a manifest entry to a resident model.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .completion.service import CompletionService
from .config import ServeOptions
from .context.documents import DocumentStore
from .context.project import ProjectContext
from .engine.types import EngineConfig
from .engine.worker import Engine
from .gpu.apply import LayerDecision, decide_sequences
from .models.manifest import Manifest, ManifestError, ModelEntry, load_manifest
from .models.resolve import ModelNotFound, resolve_model_path

log = logging.getLogger(__name__)

_client_ids = itertools.count(1)


class StartupError(Exception):
    """The configured model cannot be started; the message says why and what to do."""


@dataclass
class ModelHost:
    """One model: chosen from the manifest, downloaded if need be, loaded in an engine."""

    options: ServeOptions
    manifest: Manifest | None = None
    entry: ModelEntry | None = None
    engine: Engine | None = None
    layers: LayerDecision | None = None
    startup_error: str | None = None
    # Set when the model must be downloaded first (a Hub model not in the cache).
    needs_download: bool = False
    # While downloading: {"percent", "done_bytes", "total_bytes"}.
    download_progress: dict[str, float | int | None] | None = None
    # Called (from any thread) when the state a status item shows may have changed.
    listeners: list[Callable[[], None]] = field(default_factory=list)
    started: bool = False
    # Sequences its llama.cpp context decodes together (the shared engine's models:
    # engine/parallel.py); 1: one sequence, as in-process.
    n_seq: int = 1
    _download_lock: threading.Lock = field(default_factory=threading.Lock)

    def changed(self) -> None:
        for listener in list(self.listeners):
            listener()

    def start(self) -> None:
        """Choose the model and start loading it in the background (or flag a download)."""
        if self.started:
            return
        self.started = True
        try:
            self.manifest = load_manifest(self.options.manifest)
            self.entry = self._choose_entry(self.manifest)
            if self.entry.backend == "openai":
                self.start_remote()
                return
            path = resolve_model_path(self.entry)
        except ModelNotFound as exc:
            if self.entry is not None and self.entry.source_kind == "hub":
                self.needs_download = True
                return
            self._failed(str(exc))
            return
        except (ManifestError, StartupError) as exc:
            self._failed(str(exc))
            return
        self.start_engine(path)

    def _choose_entry(self, manifest: Manifest) -> ModelEntry:
        if self.options.model == "auto":
            from .gpu.nvml import probe_gpus
            from .models.choose import choose_model, gpu_offload_supported

            entry, reason = choose_model(
                manifest, "completion", probe_gpus(), gpu_offload_supported()
            )
            log.info("%s", reason)
            return entry
        return manifest.model_for("completion", self.options.model)

    def download(self, progress: Callable | None = None) -> None:
        """Fetch the chosen Hub model (blocking: run it off the event loop), then load it.
        Several editors may ask at once in the shared engine: one downloads."""
        with self._download_lock:
            if self.needs_download:
                self._download(progress)

    def _download(self, progress: Callable | None) -> None:
        from .models.download import DownloadError, pull_model

        assert self.entry is not None

        def track(update) -> None:
            self.download_progress = {
                "percent": round(float(update.percent or 0), 1),
                "done_bytes": update.downloaded,
                "total_bytes": update.total,
            }
            self.changed()
            if progress is not None:
                progress(update)

        try:
            path = pull_model(self.entry, progress=track)
        except DownloadError as exc:
            self._failed(str(exc))
            return
        finally:
            self.needs_download = False
            self.download_progress = None
        self.start_engine(path)

    def start_engine(self, path: Path) -> None:
        assert self.entry is not None
        n_ctx = self.options.context or self.entry.context
        # The shared engine's context holds one window per sequence (engine/parallel.py):
        # the planner fits all of their KV, with fewer sequences if need be.
        n_seq, self.layers = decide_sequences(
            self.entry, path, n_ctx, self.n_seq, self.options.n_gpu_layers
        )
        log.info("%s", self.layers.summary)
        config = EngineConfig(
            model_name=self.entry.name,
            model_path=str(path),
            n_ctx=n_ctx,
            n_gpu_layers=self.layers.n_gpu_layers,
            fallback_layers=self.layers.fallbacks,
            n_threads=self.options.n_threads,
            fim=self.entry.fim,
            n_seq=n_seq,
        )
        self.engine = Engine(config)
        self.engine.listeners.append(self.changed)
        self.engine.start()
        self.changed()

    def start_remote(self) -> None:
        """An OpenAI-compatible engine the user configured: the same queue and features,
        generation over HTTP. Connecting (and a clear error if it fails) happens on the
        engine's thread, never on the event loop."""
        from .remote.session import REMOTE_WORKERS, remote_session_factory

        assert self.entry is not None
        render_fim = None
        if self.entry.fim:
            from .engine.fim import parse_template_override

            template = parse_template_override(self.entry.fim)
            render_fim = template.render
        config = EngineConfig(
            model_name=self.entry.name,
            model_path=self.entry.base_url or "",
            n_ctx=self.options.context or self.entry.context,
            n_gpu_layers=0,
            fim=self.entry.fim,
        )
        factory = remote_session_factory(self.entry.remote_config(), render_fim)
        self.engine = Engine(config, session_factory=factory, workers=REMOTE_WORKERS)
        self.engine.listeners.append(self.changed)
        self.engine.start()
        self.changed()

    def _failed(self, message: str) -> None:
        self.startup_error = message
        log.error("%s", message)
        self.changed()

    def error(self) -> str | None:
        if self.startup_error:
            return self.startup_error
        if self.engine is not None and self.engine.load_error is not None:
            name = self.engine.config.model_name
            return f"model {name!r} failed to load: {self.engine.load_error}"
        return None

    def transient_error(self) -> str | None:
        """A remote engine that fails right now (requests still go out, so the state
        clears by itself when it answers again)."""
        info = self.engine.session_info if self.engine is not None else None
        error = info.remote.error if info is not None and info.remote is not None else None
        return f"remote engine: {error}" if error else None

    def state(self) -> str:
        if self.error() or self.transient_error():
            return "error"
        if self.needs_download:
            return "downloading"
        if self.engine is not None and self.engine.ready:
            return "busy" if self.engine.busy else "ready"
        return "loading"

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.shutdown()


def chat_model_name(manifest: Manifest, completion: ModelEntry) -> str:
    """The model explain, chat and review run on: the completion model when it can chat
    (one model resident), else the manifest's chat default (a base completion model such
    as Gemma 3 270M has no chat template)."""
    if "chat" in completion.roles:
        return completion.name
    try:
        return manifest.model_for("chat").name
    except ManifestError:
        return completion.name


def host_key(options: ServeOptions) -> tuple[Any, ...]:
    """What makes two editors' models the same resident model."""
    return (
        options.manifest,
        options.model,
        options.context,
        options.n_gpu_layers,
        options.n_threads,
    )


class HostRegistry:
    """The shared engine's models: one host per distinct model configuration, each
    decoding `parallel` sequences together (its editors' completions and chats)."""

    def __init__(self, parallel: int = 1) -> None:
        self._hosts: dict[tuple[Any, ...], ModelHost] = {}
        self._lock = threading.Lock()
        self.parallel = parallel

    def host_for(self, options: ServeOptions) -> ModelHost:
        with self._lock:
            key = host_key(options)
            host = self._hosts.get(key)
            if host is None:
                host = self._hosts[key] = ModelHost(options, n_seq=self.parallel)
            return host

    def hosts(self) -> list[ModelHost]:
        with self._lock:
            return list(self._hosts.values())

    def stop(self) -> None:
        for host in self.hosts():
            host.stop()


@dataclass
class Runtime:
    """One editor connection: its documents and services, and the model host it uses."""

    options: ServeOptions
    store: DocumentStore = field(default_factory=DocumentStore)
    host: ModelHost | None = None
    # False when the host is shared (the engine process stops it, not a connection).
    owns_host: bool = True
    client_id: str = field(default_factory=lambda: f"c{next(_client_ids)}")
    # Called (from any thread) when the state a status item shows may have changed.
    on_change: Callable[[], None] | None = None
    assist: Any = None
    # The shared engine's hosts: a separate chat model is taken from there, so it too is
    # resident once however many editors use it.
    registry: HostRegistry | None = None
    # Other workspace files for completion prompts (lsp/documents.py, lsp/lifecycle.py feed it).
    project: ProjectContext = field(default_factory=ProjectContext)
    _completion: CompletionService | None = None
    _chat_host: ModelHost | None = None

    def __post_init__(self) -> None:
        if self.host is None:
            self.host = ModelHost(self.options)
        self.host.listeners.append(self.changed)

    def changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def start(self) -> None:
        self.model.start()

    @property
    def model(self) -> ModelHost:
        assert self.host is not None
        return self.host

    # The model host's state, as the features read it.
    @property
    def manifest(self) -> Manifest | None:
        return self.model.manifest

    @property
    def entry(self) -> ModelEntry | None:
        return self.model.entry

    @property
    def engine(self) -> Engine | None:
        return self.model.engine

    @property
    def layers(self) -> LayerDecision | None:
        return self.model.layers

    @property
    def startup_error(self) -> str | None:
        return self.model.startup_error

    @property
    def needs_download(self) -> bool:
        return self.model.needs_download

    @property
    def download_progress(self) -> dict[str, float | int | None] | None:
        return self.model.download_progress

    def download(self, progress: Callable | None = None) -> None:
        self.model.download(progress)

    def error(self) -> str | None:
        return self.model.error()

    def state(self) -> str:
        return self.model.state()

    @property
    def chat_model(self) -> ModelHost:
        """The host explain/chat/review run on: the completion model's host, or (when that
        model cannot chat) the chat model's, started on first use so that completion-only
        work (`complete`, `eval`, `bench`, an editor that never chats) never loads it."""
        host = self.model
        if host.entry is None or host.manifest is None:
            return host
        if self._chat_host is None:
            name = chat_model_name(host.manifest, host.entry)
            if name == host.entry.name:
                return host
            options = self.options.model_copy(update={"model": name})
            chat = self.registry.host_for(options) if self.registry else ModelHost(options)
            chat.start()
            self._chat_host = chat
        return self._chat_host

    @property
    def completion(self) -> CompletionService | None:
        """This connection's completion service, once the model has an engine."""
        engine = self.engine
        if engine is None or self.entry is None:
            return None
        if self._completion is None or self._completion.engine is not engine:
            self._completion = CompletionService(
                engine=engine,
                sampling=self.entry.sampling,
                settings=self.options.completion,
                owner=self.client_id,
                project=self.project,
            )
        return self._completion

    def stop(self) -> None:
        """The connection ends: its queued and running work is dropped; an owned model
        is unloaded."""
        host = self.model
        if self.changed in host.listeners:
            host.listeners.remove(self.changed)
        if host.engine is not None:
            host.engine.release(self.client_id)
        if self.owns_host:
            host.stop()
        chat = self._chat_host
        if chat is not None:
            if chat.engine is not None:
                chat.engine.release(self.client_id)
            if self.registry is None:
                chat.stop()
