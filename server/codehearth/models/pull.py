"""`codehearth pull NAME`: download a manifest model with a progress bar."""

from __future__ import annotations

import sys

from .download import DownloadError, DownloadProgress, pull_model
from .manifest import ManifestError, load_manifest


def pull_command(name: str, manifest_path: str | None) -> int:
    from tqdm import tqdm

    try:
        manifest = load_manifest(manifest_path)
    except ManifestError as exc:
        print(f"codehearth: {exc}", file=sys.stderr)
        return 2
    entry = manifest.models.get(name)
    if entry is None:
        known = ", ".join(sorted(manifest.models))
        print(f"codehearth: no model {name!r} in the manifest (known: {known})", file=sys.stderr)
        return 2
    bar: tqdm | None = None

    def show(progress: DownloadProgress) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=progress.total, unit="B", unit_scale=True, desc=progress.filename)
        bar.update(progress.downloaded - bar.n)

    try:
        path = pull_model(entry, progress=show)
    except DownloadError as exc:
        print(f"\ncodehearth: {exc}", file=sys.stderr)
        return 1
    finally:
        if bar is not None:
            bar.close()
    print(f"{name}: {path}")
    return 0
