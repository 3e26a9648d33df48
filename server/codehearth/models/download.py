"""Fetch a manifest's Hub model into the Hugging Face cache, checked and resumable.

Transfers go through `hf_hub_download`, so files land in the standard HF cache (shared with
every HF tool) and a connection dropped mid-file is resumed by huggingface_hub (Range GET).

Progress: with a `progress` callback, huggingface_hub's own bar is replaced by a silent one
that forwards to the callback (≥1 % steps), so a CLI or the LSP can render it their own way;
without a callback, huggingface_hub's standard tqdm bar is shown (on a TTY, unless
HF_HUB_DISABLE_PROGRESS_BARS is set).

huggingface_hub reads HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE once, at import; this module
reads them again at call time so a later change of environment (tests, a CLI flag) counts.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from tqdm import tqdm

from .cache import (
    DownloadError,
    cached_path,
    check_file_name,
    hub_cache_dir,
    select_quant_file,
    storage_folder,
)
from .manifest import ModelEntry
from .resolve import ModelNotFound, resolve_model_path

try:  # huggingface_hub 2.x ships its own httpx fork; 1.x used httpx.
    import httpx2 as _httpx
except ImportError:  # pragma: no cover - depends on the installed huggingface_hub
    import httpx as _httpx  # type: ignore[no-redef]

ProgressCallback = Callable[["DownloadProgress"], None]
_TRUE = {"1", "on", "yes", "true"}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DownloadProgress(BaseModel):
    model: str
    filename: str
    downloaded: int
    total: int | None
    percent: float | None


# --- environment, read at call time ----------------------------------------------------------


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or "").rstrip("/") or constants.ENDPOINT


def offline_mode_enabled() -> bool:
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return env.strip().lower() in _TRUE or bool(constants.HF_HUB_OFFLINE)


# --- names -----------------------------------------------------------------------------------


def _remove_from_cache(path: Path, cache_dir: Path) -> None:
    """Drop a snapshot entry and its blob, so a bad file is never taken for a complete one."""
    blob = Path(os.path.realpath(path))
    root = Path(os.path.realpath(cache_dir))
    if blob != path and root in blob.parents:
        blob.unlink(missing_ok=True)
    path.unlink(missing_ok=True)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(4 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _verify_sha256(entry: ModelEntry, path: Path, filename: str, cache_dir: Path) -> None:
    if entry.sha256 is None:
        return
    expected = entry.sha256.lower()
    actual = _sha256_of(path)
    if actual != expected:
        _remove_from_cache(path, cache_dir)
        raise DownloadError(
            f"sha256 mismatch for {entry.repo}/{filename}: expected {expected}, got {actual}; "
            "the downloaded file was deleted"
        )


# --- progress --------------------------------------------------------------------------------


class _ProgressBar(tqdm):
    """A silent tqdm that huggingface_hub drives; it reports to a callback instead of a TTY."""

    sink: Callable[[int, int | None], None]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["disable"] = True
        self._done = int(kwargs.get("initial") or 0)
        self._total = kwargs.get("total")
        super().__init__(*args, **kwargs)
        self.sink(self._done, self._total)

    def update(self, n: float | None = 1) -> bool | None:
        # A disabled tqdm does not count, so keep our own tally (n < 0 on a restarted GET).
        self._done += int(n or 0)
        self.sink(self._done, self._total)
        return None


class _Reporter:
    """Turns byte counts into DownloadProgress events, at most one per percent."""

    def __init__(self, callback: ProgressCallback, model: str, filename: str) -> None:
        self.callback, self.model, self.filename = callback, model, filename
        self.last_percent: float | None = None
        self.last_bytes = -1

    def __call__(self, done: int, total: int | None) -> None:
        percent = min(100.0, 100.0 * done / total) if total else None
        if percent is not None:
            last = self.last_percent
            if last is not None and percent < 100.0 and 0 <= percent - last < 1.0:
                return
            if last == 100.0 and percent == 100.0:
                return
        elif 0 <= done - self.last_bytes < 1024 * 1024:
            return
        self.last_percent, self.last_bytes = percent, done
        event = DownloadProgress(
            model=self.model, filename=self.filename, downloaded=done, total=total, percent=percent
        )
        self.callback(event)

    def bar_class(self) -> type[tqdm]:
        return type("_BoundProgressBar", (_ProgressBar,), {"sink": staticmethod(self)})


# --- network ---------------------------------------------------------------------------------


@contextmanager
def _hub_errors(entry: ModelEntry, filename: str | None, endpoint: str) -> Iterator[None]:
    """Translate huggingface_hub / httpx2 failures into one DownloadError with a fix-it hint."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{entry.repo}/{filename}" if filename else f"{entry.repo}"
    revision = entry.revision or "main"
    try:
        yield
    except OfflineModeIsEnabled as exc:
        raise DownloadError(
            f"cannot reach {endpoint}: huggingface_hub is in offline mode (HF_HUB_OFFLINE "
            "was set when it was imported)"
        ) from exc
    except (_httpx.TransportError, LocalEntryNotFoundError) as exc:
        raise DownloadError(f"cannot reach {endpoint}: {str(exc) or type(exc).__name__}") from exc
    except RevisionNotFoundError as exc:
        raise DownloadError(f"{entry.repo}: revision {revision!r} not found") from exc
    except RemoteEntryNotFoundError as exc:
        raise DownloadError(f"{where}: no such file at revision {revision!r}") from exc
    except GatedRepoError as exc:
        raise DownloadError(
            f"{entry.repo} is gated: accept its terms on the Hub and set HF_TOKEN"
        ) from exc
    except RepositoryNotFoundError as exc:
        raise DownloadError(
            f"{entry.repo}: repository not found on {endpoint} (private? set HF_TOKEN)"
        ) from exc
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise DownloadError(f"{where}: the Hub answered HTTP {status}") from exc
    except ValueError as exc:  # HFValidationError: malformed repo id or revision
        raise DownloadError(f"{where}: {exc}") from exc
    except OSError as exc:  # disk full, permissions, size check after retries
        if exc.errno == errno.ENOSPC:
            raise DownloadError(
                f"{where}: the disk filled up during the download; the partial file was "
                "removed. Free some space or set HF_HOME to a larger disk, then retry"
            ) from exc
        raise DownloadError(f"{where}: download failed: {exc}") from exc


def _pick_quant_online(entry: ModelEntry, endpoint: str) -> str:
    from huggingface_hub import HfApi

    assert entry.repo is not None and entry.quant is not None
    with _hub_errors(entry, None, endpoint):
        # model_info makes a single request (no backoff), so an unreachable Hub fails fast.
        info = HfApi(endpoint=endpoint).model_info(entry.repo, revision=entry.revision, timeout=30)
    names = [s.rfilename for s in info.siblings or []]
    return select_quant_file(names, entry.quant, entry.repo)


def _ensure_disk_space(needed: int, cache_dir: Path) -> None:
    probe = cache_dir
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed:
        raise DownloadError(
            f"not enough disk space in {cache_dir}: the model needs {needed / 1e6:.1f} MB, "
            f"only {free / 1e6:.1f} MB free (set HF_HOME to a larger disk)"
        )


def _preflight(entry: ModelEntry, filename: str, endpoint: str, cache_dir: Path) -> None:
    """One HEAD (no retries) before any transfer: reachability, Hub-side sha256, disk space."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    assert entry.repo is not None
    url = hf_hub_url(entry.repo, filename, revision=entry.revision, endpoint=endpoint)
    with _hub_errors(entry, filename, endpoint):
        meta = get_hf_file_metadata(url, endpoint=endpoint)
    hub_sha = (meta.etag or "").lower()
    # An LFS file's ETag is its sha256: a pinned hash that disagrees cannot be fixed by
    # downloading, so say so now instead of after gigabytes.
    if entry.sha256 and _SHA256.match(hub_sha) and hub_sha != entry.sha256.lower():
        raise DownloadError(
            f"sha256 mismatch for {entry.repo}/{filename}: expected {entry.sha256.lower()}, "
            f"the Hub serves {hub_sha} at revision {entry.revision or 'main'!r}; nothing downloaded"
        )
    blob = storage_folder(entry, cache_dir) / "blobs" / (meta.etag or "")
    if meta.size is not None and not (meta.etag and blob.is_file()):
        _ensure_disk_space(meta.size, cache_dir)


def _pull_offline(entry: ModelEntry, cache_dir: Path) -> Path:
    found = cached_path(entry, models_dir=cache_dir)
    if found is None:
        what = entry.file or f"the {entry.quant} .gguf"
        raise DownloadError(
            f"model {entry.name!r}: {entry.repo}/{what} is not in the local cache "
            f"({cache_dir}) and offline mode is on; run `codehearth pull {entry.name}` "
            "with network access (unset HF_HUB_OFFLINE), or copy the HF cache from another machine"
        )
    _verify_sha256(entry, found, found.name, cache_dir)
    return found


def pull_model(
    entry: ModelEntry,
    *,
    progress: ProgressCallback | None = None,
    models_dir: Path | None = None,
    offline: bool | None = None,
) -> Path:
    """Make the entry's GGUF available locally and return its path.

    `models_dir` is the HF cache directory to use (default: HF_HUB_CACHE / HF_HOME/hub).
    `offline` defaults to HF_HUB_OFFLINE. Raises DownloadError, never a network traceback.
    """
    from huggingface_hub import hf_hub_download

    if entry.repo is None:
        try:
            return resolve_model_path(entry)  # path/package models need no download
        except ModelNotFound as exc:
            raise DownloadError(str(exc)) from exc
    if entry.file is not None:
        check_file_name(entry.file)
    if entry.revision is not None:
        check_file_name(entry.revision, "revision")
    cache_dir = Path(models_dir) if models_dir is not None else hub_cache_dir()
    is_offline = offline_mode_enabled() if offline is None else offline
    if is_offline:
        return _pull_offline(entry, cache_dir)

    endpoint = hub_endpoint()
    filename = entry.file or _pick_quant_online(entry, endpoint)
    check_file_name(filename)  # a listed name comes from the server: trust it no more
    _preflight(entry, filename, endpoint, cache_dir)
    reporter = _Reporter(progress, entry.name, filename) if progress else None
    with _hub_errors(entry, filename, endpoint):
        path = Path(
            hf_hub_download(
                entry.repo,
                filename,
                revision=entry.revision,
                cache_dir=str(cache_dir),
                endpoint=endpoint,
                tqdm_class=reporter.bar_class() if reporter else None,
            )
        )
    _verify_sha256(entry, path, filename, cache_dir)
    if reporter is not None:
        size = path.stat().st_size
        reporter(size, size)  # a cache hit still ends at 100 %
    return path
