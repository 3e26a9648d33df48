"""`codehearth bench`: typing benchmarks against a real `codehearth serve` over stdio.

Modes (`--mode`):

* `replay` (default): type real files (by default some of Python's standard library) one
  character at a time, asking for a completion after every keystroke and waiting for the
  answer; the same keystrokes against llama-cpp-python called directly (the floor) and,
  with `--llama-server PATH`, against llama.cpp's own llama-server (llama_server.py);
  `--user-defaults` runs our server with the settings a user gets instead of the fixed
  one-line, `--max-tokens` ones;
* `type-along`: the replay with user settings, after and before the cache (typealong.py);
* `steady`: typing at a fixed pace without waiting for answers (steady.py).

`--repeat N` runs the measurement N times and prints the median and range of its ratios
(the machine may be shared: ratios measured within one run are what compare).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from pathlib import Path

from .common import DEFAULT_FILES, Keystroke, ReplayReport, plan_typing, resolve_files
from .replay import replay_floor, replay_server
from .runs import run_replay, run_steady, run_type_along

__all__ = [
    "DEFAULT_FILES",
    "Keystroke",
    "ReplayReport",
    "add_arguments",
    "plan_typing",
    "replay_floor",
    "replay_server",
    "resolve_files",
    "run_bench",
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--files",
        nargs="*",
        default=list(DEFAULT_FILES),
        help="files to type (paths, or names inside the Python stdlib)",
    )
    p.add_argument("--mode", choices=["replay", "type-along", "steady"], default="replay")
    p.add_argument("--keystrokes", type=int, default=200, help="characters typed per file")
    p.add_argument("--start-line", type=int, default=180, help="line where typing starts")
    p.add_argument("--lines-before", type=int, default=128)
    p.add_argument("--lines-after", type=int, default=32)
    p.add_argument("--max-tokens", type=int, default=16)
    p.add_argument("--which", choices=["both", "server", "floor"], default="both")
    p.add_argument("--output", help="write the reports as JSON here")
    p.add_argument("--clients", type=int, default=1, help="editors typing at the same time")
    p.add_argument(
        "--shared", action="store_true", help="editors use a (private, temporary) shared engine"
    )
    p.add_argument(
        "--llama-server",
        metavar="PATH",
        help="replay: also replay against this llama.cpp llama-server binary (same model)",
    )
    p.add_argument(
        "--user-defaults",
        action="store_true",
        help="replay: our server with the completion settings a user gets (greedy)",
    )
    p.add_argument("--pace-ms", type=float, default=125.0, help="steady: time between keys")
    p.add_argument("--repeat", type=int, default=1, help="run the measurement this many times")


def run_bench(args: argparse.Namespace) -> int:
    from ..models.manifest import load_manifest
    from ..models.resolve import resolve_model_path

    files = resolve_files(args.files)
    entry = load_manifest(args.manifest).model_for("completion", args.model)
    local_only = args.which != "server" or args.llama_server
    if entry.source_kind == "remote" and local_only:
        print("codehearth bench: a remote model has no local floor; use --which server")
        return 2
    args.model_path = str(resolve_model_path(entry)) if local_only else ""
    if entry.source_kind == "remote":
        args.where = f"remote engine, {entry.base_url}"
    args.context = args.context or 4096
    print(
        f"model {entry.name}, {len(files)} files x ~{args.keystrokes} keystrokes, "
        f"{args.lines_before} lines before / {args.lines_after} after, {os.cpu_count()} CPUs, "
        f"mode {args.mode}"
    )
    runner = {"replay": run_replay, "type-along": run_type_along, "steady": run_steady}
    with _private_engine(args):
        results = runner[args.mode](args, files)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2))
    return 0


@contextlib.contextmanager
def _private_engine(args: argparse.Namespace):
    """With --shared, a private shared engine for the run: never the user's own, and it
    ends with the run."""
    if not args.shared:
        yield
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="codehearth-bench-") as run_dir:
        os.environ["CODEHEARTH_RUNTIME_DIR"] = run_dir
        try:
            yield
        finally:
            _stop_engine(Path(run_dir))


def _stop_engine(run_dir: Path) -> None:
    import signal

    lock = run_dir / "engine.lock"
    pid = lock.read_text().strip() if lock.exists() else ""
    if pid.isdigit():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGTERM)
