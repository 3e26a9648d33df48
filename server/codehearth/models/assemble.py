"""Models that ship as chunks of several Python packages, joined into one GGUF here.

PyPI limits a file's size, so a model such as Gemma 3 270M is split over several
packages. The first time it is needed its chunks are joined into the models
directory, once, atomically: written under a temporary name, flushed to disk, checked
against the manifest's sha256, then renamed. A crash or Ctrl-C midway leaves only a
temporary file, which never counts as the model (and is cleaned up by the next run).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import time
import uuid
from pathlib import Path

from .manifest import ModelEntry

MODELS_DIR_ENV = "CODEHEARTH_MODELS_DIR"
PARTIAL_SUFFIX = ".partial"
# A temporary file older than this belongs to a run that died: it is removed.
STALE_PARTIAL_S = 600.0
_BLOCK = 1 << 20


class AssemblyError(Exception):
    """The chunks are missing or do not join into the expected file."""


def models_dir() -> Path:
    """$CODEHEARTH_MODELS_DIR, else $XDG_CACHE_HOME/codehearth/models (~/.cache/...)."""
    explicit = os.environ.get(MODELS_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(cache).expanduser() / "codehearth" / "models"


def chunk_files(entry: ModelEntry) -> list[Path]:
    """The installed chunk files, in order; AssemblyError names a missing package."""
    assert entry.chunks is not None
    found: list[Path] = []
    for chunk in entry.chunks:
        package, _, relative = chunk.partition("/")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            wanted = (entry.package or package).replace("_", "-")
            raise AssemblyError(
                f"model {entry.name!r}: Python package {package!r} is not installed "
                f"(pip install {wanted})"
            )
        candidates = [Path(loc) / relative for loc in spec.submodule_search_locations]
        existing = [c for c in candidates if c.is_file()]
        if not existing:
            raise AssemblyError(f"model {entry.name!r}: chunk {chunk!r} is missing")
        found.append(existing[0])
    return found


def assembled_path(entry: ModelEntry, directory: Path | None = None) -> Path:
    assert entry.file is not None and entry.sha256 is not None
    # The hash in the folder name: a new version of the model never meets the old file.
    return (directory or models_dir()) / entry.sha256[:12].lower() / entry.file


def is_assembled(entry: ModelEntry, chunks: list[Path], directory: Path | None = None) -> bool:
    """Present = under its final name with the chunks' total size (only a verified file is
    ever renamed there; the size check catches a file truncated or replaced since)."""
    target = assembled_path(entry, directory)
    try:
        return target.stat().st_size == sum(c.stat().st_size for c in chunks)
    except OSError:
        return False


def ensure_assembled(entry: ModelEntry, directory: Path | None = None) -> Path:
    """The joined GGUF of a chunked entry, joining it first if it is not there yet."""
    chunks = chunk_files(entry)
    target = assembled_path(entry, directory)
    if is_assembled(entry, chunks, directory):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(target)
    partial = target.with_name(f"{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    partial = partial.with_name(partial.name + PARTIAL_SUFFIX)
    try:
        digest = _join(chunks, partial)
        expected = (entry.sha256 or "").lower()
        if digest != expected:
            raise AssemblyError(
                f"model {entry.name!r}: the joined chunks have sha256 {digest}, the manifest "
                f"expects {expected} (reinstall the package: pip install --force-reinstall "
                f"{(entry.package or '').replace('_', '-')})"
            )
        os.replace(partial, target)
        _fsync_dir(target.parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target


def _join(chunks: list[Path], out: Path) -> str:
    """Concatenate into `out`, flushed to disk; returns the sha256 of what was written."""
    digest = hashlib.sha256()
    with out.open("xb") as sink:
        for chunk in chunks:
            with chunk.open("rb") as source:
                while block := source.read(_BLOCK):
                    digest.update(block)
                    sink.write(block)
        sink.flush()
        os.fsync(sink.fileno())
    return digest.hexdigest()


def _remove_stale_partials(target: Path) -> None:
    now = time.time()
    for leftover in target.parent.glob(f"{target.name}.*{PARTIAL_SUFFIX}"):
        try:
            if now - leftover.stat().st_mtime > STALE_PARTIAL_S:
                leftover.unlink()
        except OSError:
            pass  # another run removed it, or it is not ours to remove


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (where the platform allows opening a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
