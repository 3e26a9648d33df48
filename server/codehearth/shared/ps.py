"""`codehearth ps`: the shared engine, its models and the editors attached to it."""

from __future__ import annotations

import json
import sys

from .relay import EngineUnreachable, query_engine


def _gib(value: int | None) -> str:
    return f"{value / 2**30:.1f} GiB" if value else "-"


def print_ps(as_json: bool = False) -> int:
    try:
        info = query_engine()
    except EngineUnreachable as exc:
        print(f"codehearth: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(info, indent=2))
        return 0
    if info is None:
        print("no shared engine is running (codehearth serve starts one)")
        return 0
    print(
        f"engine pid {info['pid']}  up {info['uptime_s']:.0f} s  rss {_gib(info['rss_bytes'])}  "
        f"socket {info['socket']}"
    )
    print(
        f"{'MODEL':<28} {'STATE':<12} {'GPU LAYERS':>10} {'VRAM':>10} {'EDITORS':>8} "
        f"{'SEQUENCES':>10}"
    )
    for m in info["models"]:
        layers = "CPU" if not m["gpu_layers"] else str(m["gpu_layers"])
        busy = sum(1 for seq in m.get("sequences") or [] if seq["state"] != "idle")
        working = f"{busy}/{m.get('parallel', 1)}"  # sequences at work / sequences
        print(
            f"{m['name'] or '?':<28} {m['state']:<12} {layers:>10} "
            f"{_gib(m['vram_bytes']):>10} {m['clients']:>8} {working:>10}"
        )
    sequences = [(m, s) for m in info["models"] for s in m.get("sequences") or []]
    for c in info["clients"]:
        print(
            f"  editor {c['id']}: pid {c['editor_pid']} via relay {c['relay_pid']}, "
            f"{c['model']}, {c['documents']} documents, {c['connected_s']:.0f} s"
        )
        for model, seq in sequences:
            if c.get("client_id") and seq.get("owner") == c["client_id"]:
                print(f"    {_sequence_line(model, seq)}")
    free = [(m, s) for m, s in sequences if not s.get("owner")]
    for model, seq in free:
        if seq["tokens"]:
            print(f"  unowned {_sequence_line(model, seq)}")
    return 0


def _sequence_line(model: dict, seq: dict) -> str:
    """One decoding sequence: whose slot, what it does, how much KV it holds."""
    what = seq["state"] if seq["state"] != "idle" else f"idle {seq['idle_s']:.0f} s"
    slot = seq.get("slot") or "-"
    kv = seq["kv_bytes"] / 2**20
    return (
        f"sequence {seq['seq_id']} of {model['name']}: {slot}, {what}, "
        f"{seq['tokens']} tokens, KV {kv:.1f} MiB"
    )
