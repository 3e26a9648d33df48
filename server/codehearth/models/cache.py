"""Where downloaded models live: the Hugging Face cache, read without any network access.

Below both `resolve` (is the file here?) and `download` (fetch it): the cache layout and
the name rules are the one thing they share, so neither imports the other for it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .manifest import ModelEntry

_TOKEN_EDGE = "A-Za-z0-9_"


class DownloadError(Exception):
    """A model could not be fetched; the message says why and what to do."""


def hub_cache_dir() -> Path:
    """Same precedence as huggingface_hub.constants, evaluated now instead of at import."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(os.path.expandvars(explicit)).expanduser()
    home = os.environ.get("HF_HOME")
    if not home:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
        home = os.path.join(xdg, "huggingface")
    return Path(os.path.expandvars(home)).expanduser() / "hub"


def check_file_name(name: str, what: str = "file name") -> None:
    """Refuse a repo-relative name that could land outside the models directory."""
    problem = None
    if not name or not name.strip():
        problem = "it is empty"
    elif "\\" in name or "\0" in name:
        problem = "it contains a backslash or NUL"
    elif name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        problem = "it is an absolute path"
    elif any(part in ("", ".", "..") for part in name.split("/")):
        problem = "it has an empty, '.' or '..' path component"
    if problem:
        raise DownloadError(f"unsafe {what} {name!r}: {problem}")


def select_quant_file(files: list[str], quant: str, repo: str) -> str:
    """The one *.gguf in `files` for `quant`: a whole-token match wins over a substring."""
    ggufs = [f for f in files if f.lower().endswith(".gguf")]
    loose = [f for f in ggufs if quant.lower() in f.lower()]
    token = re.compile(rf"(?<![{_TOKEN_EDGE}]){re.escape(quant)}(?![{_TOKEN_EDGE}])", re.I)
    # "Q4_K" also occurs inside "Q4_K_M"; prefer names where the quant stands alone.
    exact = [f for f in loose if token.search(f)]
    matches = exact or loose
    if len(matches) == 1:
        return matches[0]
    if not matches:
        listed = ", ".join(ggufs) or "no .gguf files at all"
        raise DownloadError(f"{repo}: no .gguf file matches quant {quant!r} (files: {listed})")
    raise DownloadError(
        f"{repo}: quant {quant!r} matches several files ({', '.join(matches)}); "
        "set 'file' in the manifest to pick one"
    )


def storage_folder(entry: ModelEntry, cache_dir: Path) -> Path:
    assert entry.repo is not None
    return cache_dir / ("models--" + entry.repo.replace("/", "--"))


def _cached_quant_file(entry: ModelEntry, cache_dir: Path) -> str | None:
    """Pick the quant among files already in the cached snapshot of the entry's revision."""
    assert entry.quant is not None
    storage = storage_folder(entry, cache_dir)
    revision = entry.revision or "main"
    ref = storage / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    snapshot = storage / "snapshots" / commit
    if not snapshot.is_dir():
        return None
    names = [p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if p.is_file()]
    try:
        return select_quant_file(names, entry.quant, entry.repo or "")
    except DownloadError:
        return None


def cached_path(entry: ModelEntry, *, models_dir: Path | None = None) -> Path | None:
    """The entry's file in the HF cache, or None; never touches the network.

    Only Hub entries have a cache; `path` and `package` entries give None.
    """
    from huggingface_hub import try_to_load_from_cache

    if entry.repo is None:
        return None
    cache_dir = Path(models_dir) if models_dir is not None else hub_cache_dir()
    filename = entry.file or _cached_quant_file(entry, cache_dir)
    if filename is None:
        return None
    try:
        check_file_name(filename)
        found = try_to_load_from_cache(
            entry.repo, filename, cache_dir=str(cache_dir), revision=entry.revision
        )
    except (DownloadError, ValueError):
        return None
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None
