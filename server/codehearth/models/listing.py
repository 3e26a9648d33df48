"""`codehearth models`: the manifest's entries and whether their files are here."""

from __future__ import annotations

import json
import sys

from .manifest import ManifestError, load_manifest
from .resolve import ModelNotFound, resolve_model_path


def _describe(entry) -> dict:
    try:
        path = resolve_model_path(entry)
        present, size, where = True, path.stat().st_size, str(path)
    except ModelNotFound as exc:
        present, size, where = False, None, str(exc)
    if entry.source_kind == "hub":
        source = f"hf:{entry.repo}/{entry.file or entry.quant}"
    elif entry.source_kind == "package":
        source = f"package:{entry.package}/{entry.file}"
    else:
        source = f"path:{entry.path}"
    return {
        "name": entry.name,
        "roles": entry.roles,
        "context": entry.context,
        "source": source,
        "present": present,
        "size_bytes": size,
        "location": where,
    }


def print_models(manifest_path: str | None, as_json: bool = False) -> int:
    try:
        manifest = load_manifest(manifest_path)
    except ManifestError as exc:
        print(f"codehearth: {exc}", file=sys.stderr)
        return 2
    rows = [_describe(entry) for entry in manifest.models.values()]
    if as_json:
        print(json.dumps({"defaults": manifest.defaults.model_dump(), "models": rows}, indent=2))
        return 0
    defaults = {v for v in manifest.defaults.model_dump().values() if v}
    for row in rows:
        mark = "*" if row["name"] in defaults else " "
        size = f"{row['size_bytes'] / 2**20:.0f} MiB" if row["size_bytes"] else "-"
        state = "present" if row["present"] else "missing"
        print(
            f"{mark} {row['name']:<24} {','.join(row['roles']):<16} {state:<8} {size:>9}  "
            f"{row['source']}"
        )
    print("(* = default)  sources: " + ", ".join(manifest.sources))
    return 0
