"""The pieces one running codehearth holds: manifest, documents, engine, services.

Shared by the language server and the one-shot CLI commands so both take the
same path from a manifest entry to a resident model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .completion.service import CompletionService
from .context.documents import DocumentStore
from .engine.types import EngineConfig
from .engine.worker import Engine
from .gpu.apply import LayerDecision, decide_layers
from .lsp.options import ServeOptions
from .models.manifest import Manifest, ManifestError, ModelEntry, load_manifest
from .models.resolve import ModelNotFound, resolve_model_path

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The configured model cannot be started; the message says why and what to do."""


@dataclass
class Runtime:
    options: ServeOptions
    store: DocumentStore = field(default_factory=DocumentStore)
    manifest: Manifest | None = None
    entry: ModelEntry | None = None
    engine: Engine | None = None
    completion: CompletionService | None = None
    layers: LayerDecision | None = None
    startup_error: str | None = None
    # Set when the model must be downloaded first (a Hub model not in the cache).
    needs_download: bool = False
    # While downloading: {"percent", "done_bytes", "total_bytes"}.
    download_progress: dict[str, float | int | None] | None = None
    # Called (from any thread) when the state a status item shows may have changed.
    on_change: Callable[[], None] | None = None

    def changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def start(self) -> None:
        """Choose the model and start loading it in the background (or flag a download)."""
        try:
            self.manifest = load_manifest(self.options.manifest)
            self.entry = self._choose_entry(self.manifest)
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
        """Fetch the chosen Hub model (blocking: run it off the event loop), then load it."""
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
        self.layers = decide_layers(self.entry, path, n_ctx, self.options.n_gpu_layers)
        log.info("%s", self.layers.summary)
        config = EngineConfig(
            model_name=self.entry.name,
            model_path=str(path),
            n_ctx=n_ctx,
            n_gpu_layers=self.layers.n_gpu_layers,
            fallback_layers=self.layers.fallbacks,
            n_threads=self.options.n_threads,
            fim=self.entry.fim,
        )
        self.engine = Engine(config)
        self.engine.listeners.append(self.changed)
        self.engine.start()
        self.changed()
        self.completion = CompletionService(
            engine=self.engine, sampling=self.entry.sampling, settings=self.options.completion
        )

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

    def state(self) -> str:
        if self.error():
            return "error"
        if self.needs_download:
            return "downloading"
        if self.engine is not None and self.engine.ready:
            return "busy" if self.engine.busy else "ready"
        return "loading"

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.shutdown()
