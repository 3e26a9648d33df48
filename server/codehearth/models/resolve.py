"""Find the GGUF file of a manifest entry on this machine, without any network access.

A model shipped as package chunks is joined into the models directory here, on first use.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from .manifest import ModelEntry


class ModelNotFound(Exception):
    """The model's file is not on this machine."""


def _package_file(entry: ModelEntry) -> Path:
    assert entry.package is not None and entry.file is not None
    spec = importlib.util.find_spec(entry.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound(
            f"model {entry.name!r}: Python package {entry.package!r} is not installed "
            f"(pip install {entry.package.replace('_', '-')})"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / entry.file
        if candidate.is_file():
            return candidate
    raise ModelNotFound(
        f"model {entry.name!r}: {entry.file!r} not found in package {entry.package}"
    )


def _assembled_file(entry: ModelEntry) -> Path:
    """Joined from its chunks on first use (local work only, a few seconds, once)."""
    from .assemble import AssemblyError, ensure_assembled

    try:
        return ensure_assembled(entry)
    except AssemblyError as exc:
        raise ModelNotFound(str(exc)) from exc
    except OSError as exc:
        raise ModelNotFound(
            f"model {entry.name!r}: cannot write the joined model file: {exc.strerror or exc}"
        ) from exc


def _local_file(entry: ModelEntry) -> Path:
    assert entry.path is not None
    path = Path(os.path.expanduser(entry.path))
    if not path.is_absolute() and entry.base_dir:
        path = Path(entry.base_dir) / path
    if not path.is_file():
        raise ModelNotFound(f"model {entry.name!r}: file {str(path)!r} does not exist")
    return path


def _hub_cached_file(entry: ModelEntry) -> Path:
    from .cache import cached_path

    cached = cached_path(entry)
    if cached is not None:
        return cached
    what = f"{entry.repo}/{entry.file or entry.quant}"
    raise ModelNotFound(
        f"model {entry.name!r}: {what} is not downloaded yet (run `codehearth pull {entry.name}`)"
    )


def resolve_model_path(entry: ModelEntry) -> Path:
    """The local path of the entry's GGUF; raises ModelNotFound with a fix-it message."""
    if entry.source_kind == "remote":
        raise ModelNotFound(
            f"model {entry.name!r} runs on a remote engine ({entry.base_url}); it has no local file"
        )
    if entry.source_kind == "package":
        return _assembled_file(entry) if entry.assembled else _package_file(entry)
    if entry.source_kind == "path":
        return _local_file(entry)
    return _hub_cached_file(entry)
