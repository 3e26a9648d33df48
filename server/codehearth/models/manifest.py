"""The models.toml manifest: parsed with tomllib, validated with pydantic.

The default manifest ships inside the package; a user manifest adds models or
replaces them by name. Errors name the file and the field path so a typo in a
manifest is fixed in one look.
"""

from __future__ import annotations

import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

if TYPE_CHECKING:
    from ..remote.config import RemoteConfig

Role = Literal["completion", "chat"]
MANIFEST_ENV = "CODEHEARTH_MANIFEST"


class ManifestError(Exception):
    """A manifest could not be read or does not validate."""


class Sampling(BaseModel):
    """Sampling defaults of a model; every field is overridable per request."""

    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(0.2, ge=0.0, le=5.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    top_k: int = Field(40, ge=0)
    repeat_penalty: float = Field(1.0, gt=0.0)
    max_tokens: int = Field(64, ge=1, le=32768)
    stop: list[str] = Field(default_factory=list)


class ModelEntry(Sampling):
    """One [models.NAME] table."""

    name: str = ""
    # Where the GGUF comes from: exactly one of repo+file, path, package+file.
    repo: str | None = None
    file: str | None = None
    revision: str | None = None
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")
    quant: str | None = None
    path: str | None = None
    package: str | None = None
    # A model split over several packages: "package/relative/path" of each chunk, in
    # order, joined once into the models directory as `file` (needs sha256; `package`
    # is then what pip installs to get them all).
    chunks: list[str] | None = Field(None, min_length=1)
    context: int = Field(4096, ge=128, le=1_048_576)
    roles: list[Role] = Field(default_factory=lambda: ["completion"])
    fim: str | None = None
    n_gpu_layers: int | Literal["auto"] = "auto"
    # Whether this model's code review is known to be good (measured with `codehearth eval
    # --review`). Until it is, review severities are capped at "warning" and the review
    # result says that findings may be unreliable.
    reviews_reliably: bool = False
    # Where inference runs: this machine (llama.cpp) or an OpenAI-compatible engine the
    # user points at (llama-server, vLLM, Ollama, LM Studio...). Code goes only there.
    backend: Literal["llama.cpp", "openai"] = "llama.cpp"
    base_url: str | None = None
    remote_model: str | None = None  # the engine's name for the model (default: name)
    api_key_env: str | None = None
    timeout_s: float = Field(30.0, gt=0)
    # Directory of the manifest that defined this entry: relative paths resolve from it.
    base_dir: str | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _one_source(self) -> ModelEntry:
        if self.backend == "openai":
            return self._check_remote()
        if self.base_url is not None:
            raise ValueError("'base_url' needs backend = \"openai\"")
        sources = [
            name
            for name, present in (
                ("repo", self.repo is not None),
                ("path", self.path is not None),
                ("package", self.package is not None or self.chunks is not None),
            )
            if present
        ]
        if len(sources) != 1:
            raise ValueError(
                "give exactly one source: repo + file (Hugging Face), path (local file), "
                f"or package + file (installed Python package); got {sources or 'none'}"
            )
        if self.path is not None and self.file is not None:
            raise ValueError("'file' goes with 'repo' or 'package', not with 'path'")
        if self.file is None and self.path is None and self.quant is None:
            raise ValueError(f"'{sources[0]}' needs 'file' (or 'quant' for a Hub repo)")
        if self.quant is not None and self.repo is None:
            raise ValueError("'quant' picks a file in a Hub repo; it needs 'repo'")
        if self.chunks is not None:
            self._check_chunks()
        return self

    def _check_chunks(self) -> None:
        if self.package is None:
            raise ValueError("'chunks' needs 'package' (the package pip installs to get them)")
        if self.sha256 is None:
            raise ValueError("'chunks' needs 'sha256' of the joined file (it is verified)")
        for chunk in self.chunks or []:
            package, _, relative = chunk.partition("/")
            parts = relative.split("/")
            if not package.isidentifier() or any(p in ("", ".", "..") for p in parts):
                raise ValueError(f"chunk {chunk!r} is not 'python_package/relative/path'")

    def _check_remote(self) -> ModelEntry:
        if self.base_url is None:
            raise ValueError('backend = "openai" needs base_url (e.g. "http://gpu-box:8080/v1")')
        local = [
            k for k in ("repo", "path", "package", "file", "quant", "chunks") if getattr(self, k)
        ]
        if local:
            raise ValueError(f"a remote model has no local file; remove {', '.join(local)}")
        self.remote_config()  # validate URL and key variable name now, with the field path
        return self

    def remote_config(self) -> RemoteConfig:
        from ..remote.config import RemoteConfig

        assert self.base_url is not None
        return RemoteConfig(
            base_url=self.base_url,
            model=self.remote_model or self.name or "default",
            api_key_env=self.api_key_env,
            timeout_s=self.timeout_s,
            context=self.context,
        )

    @property
    def sampling(self) -> Sampling:
        return Sampling.model_validate(self.model_dump(include=set(Sampling.model_fields)))

    @property
    def assembled(self) -> bool:
        """A package model shipped as chunks (models/assemble.py joins them)."""
        return self.chunks is not None

    @property
    def source_kind(self) -> Literal["hub", "path", "package", "remote"]:
        if self.backend == "openai":
            return "remote"
        if self.repo is not None:
            return "hub"
        return "path" if self.path is not None else "package"


class Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    completion: str | None = None
    chat: str | None = None


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: Defaults = Field(default_factory=Defaults)
    models: dict[str, ModelEntry] = Field(default_factory=dict)
    sources: list[str] = Field(default_factory=list, exclude=True)

    def model_for(self, role: Role, name: str | None = None) -> ModelEntry:
        """The entry to use for a role: an explicit name, the default, or the first fit."""
        wanted = name or getattr(self.defaults, role)
        if wanted:
            if wanted not in self.models:
                known = ", ".join(sorted(self.models)) or "none"
                raise ManifestError(f"model {wanted!r} is not in the manifest (known: {known})")
            return self.models[wanted]
        for entry in self.models.values():
            if role in entry.roles:
                return entry
        raise ManifestError(f"no model in the manifest has the role {role!r}")

    def merged_with(self, other: Manifest) -> Manifest:
        """This manifest with `other`'s models added or replaced by name."""
        models = dict(self.models)
        models.update(other.models)
        defaults = self.defaults.model_copy(
            update={k: v for k, v in other.defaults.model_dump().items() if v}
        )
        return Manifest(defaults=defaults, models=models, sources=self.sources + other.sources)


def _format_error(path: str, err: ValidationError) -> str:
    lines = [f"{path}: invalid manifest"]
    for item in err.errors():
        loc = ".".join(str(part) for part in item["loc"])
        lines.append(f"  {loc}: {item['msg']}")
    return "\n".join(lines)


def parse_manifest(text: str, origin: str, base_dir: Path | None = None) -> Manifest:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{origin}: not valid TOML: {exc}") from exc
    models = raw.get("models", {})
    if isinstance(models, dict):
        for name, entry in models.items():
            if isinstance(entry, dict):
                entry.setdefault("name", name)
                if base_dir is not None:
                    entry["base_dir"] = str(base_dir)
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        raise ManifestError(_format_error(origin, exc)) from exc
    manifest.sources.append(origin)
    return manifest


def load_manifest_file(path: str | Path) -> Manifest:
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read manifest: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: manifest is not UTF-8 text") from exc
    return parse_manifest(text, str(path), base_dir=path.resolve().parent)


def default_manifest() -> Manifest:
    text = resources.files("codehearth").joinpath("data/models.toml").read_text("utf-8")
    return parse_manifest(text, "<default models.toml>")


def load_manifest(user_path: str | Path | None = None) -> Manifest:
    """The default manifest merged with the user's (argument, then environment)."""
    manifest = default_manifest()
    chosen = user_path or os.environ.get(MANIFEST_ENV)
    if chosen:
        manifest = manifest.merged_with(load_manifest_file(chosen))
    return manifest
