"""The pieces one running codehearth holds: manifest, documents, engine, services.

Shared by the language server and the one-shot CLI commands so both take the
same path from a manifest entry to a resident model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .completion.service import CompletionService
from .context.documents import DocumentStore
from .engine.types import EngineConfig
from .engine.worker import Engine
from .lsp.options import ServeOptions
from .models.manifest import Manifest, ManifestError, ModelEntry, load_manifest
from .models.resolve import ModelNotFound, resolve_model_path

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The configured model cannot be started; the message says why and what to do."""


def plan_gpu_layers(entry: ModelEntry, options: ServeOptions) -> int:
    """Layers to offload: an explicit number wins; "auto" offloads all when the build can."""
    if options.n_gpu_layers is not None:
        return options.n_gpu_layers
    if isinstance(entry.n_gpu_layers, int):
        return entry.n_gpu_layers
    import llama_cpp

    return -1 if llama_cpp.llama_supports_gpu_offload() else 0


def engine_config_for(entry: ModelEntry, options: ServeOptions) -> EngineConfig:
    try:
        path = resolve_model_path(entry)
    except ModelNotFound as exc:
        raise StartupError(str(exc)) from exc
    return EngineConfig(
        model_name=entry.name,
        model_path=str(path),
        n_ctx=options.context or entry.context,
        n_gpu_layers=plan_gpu_layers(entry, options),
        n_threads=options.n_threads,
        fim=entry.fim,
    )


@dataclass
class Runtime:
    options: ServeOptions
    store: DocumentStore = field(default_factory=DocumentStore)
    manifest: Manifest | None = None
    entry: ModelEntry | None = None
    engine: Engine | None = None
    completion: CompletionService | None = None
    startup_error: str | None = None

    def start(self) -> None:
        """Load the manifest and start the model loading in the background."""
        try:
            self.manifest = load_manifest(self.options.manifest)
            self.entry = self.manifest.model_for("completion", self.options.model)
            config = engine_config_for(self.entry, self.options)
        except (ManifestError, StartupError) as exc:
            self.startup_error = str(exc)
            log.error("%s", exc)
            return
        self.engine = Engine(config)
        self.engine.start()
        self.completion = CompletionService(
            engine=self.engine, sampling=self.entry.sampling, settings=self.options.completion
        )

    def error(self) -> str | None:
        if self.startup_error:
            return self.startup_error
        if self.engine is not None and self.engine.load_error is not None:
            name = self.engine.config.model_name
            return f"model {name!r} failed to load: {self.engine.load_error}"
        return None

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.shutdown()
