"""`codehearth ps`: the shared engine, its models and the editors attached to it."""

from __future__ import annotations

import json

from .relay import query_engine


def _gib(value: int | None) -> str:
    return f"{value / 2**30:.1f} GiB" if value else "-"


def print_ps(as_json: bool = False) -> int:
    info = query_engine()
    if as_json:
        print(json.dumps(info, indent=2))
        return 0
    if info is None:
        print("no shared engine is running (codehearth serve --shared starts one)")
        return 0
    print(
        f"engine pid {info['pid']}  up {info['uptime_s']:.0f} s  rss {_gib(info['rss_bytes'])}  "
        f"socket {info['socket']}"
    )
    print(f"{'MODEL':<28} {'STATE':<12} {'GPU LAYERS':>10} {'VRAM':>10} {'EDITORS':>8}")
    for m in info["models"]:
        layers = "CPU" if not m["gpu_layers"] else str(m["gpu_layers"])
        print(
            f"{m['name'] or '?':<28} {m['state']:<12} {layers:>10} "
            f"{_gib(m['vram_bytes']):>10} {m['clients']:>8}"
        )
    for c in info["clients"]:
        print(
            f"  editor {c['id']}: pid {c['editor_pid']} via relay {c['relay_pid']}, "
            f"{c['model']}, {c['documents']} documents, {c['connected_s']:.0f} s"
        )
    return 0
