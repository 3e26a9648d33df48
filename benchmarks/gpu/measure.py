"""Every measurement of the GPU kit, one report: started by run.sh after the CUDA build.

    python -m benchmarks.gpu.measure OUT                 # on the GPU machine
    python -m benchmarks.gpu.measure OUT --cpu-dry-run   # here: small models, fake NVML

Steps: write the test models; VRAM prediction vs NVML (two models x two contexts x full
and half offload); the status push vs NVML; typing replay and tokens/s, GPU vs CPU; the
load fallback. A failed step is recorded and the rest still run; the exit code is 1 if
any failed. This process never loads llama.cpp itself (its children do), so it holds no
CUDA context while it reads NVML.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codehearth.gpu.nvml import probe_gpus
from codehearth.gpu.planner import MIB
from codehearth.models.gguf_info import GgufInfo, read_gguf_info

from . import fakegpu, report, speed, statuscheck, vram
from .ggufgen import SHAPES, write_model
from .probe import Facts

ROOT = Path(__file__).resolve().parents[2]
FAKESITE = Path(__file__).resolve().parent / "fakesite"

# (GPU run, dry run) defaults: the GPU run must fit in a few minutes on a big card, the
# dry run in well under a minute on two cores.
DEFAULTS: dict[str, tuple[Any, Any]] = {
    "contexts": ("4096,16384", "2048"),
    "keystrokes": (30, 6),
    "typing_s": (4.0, 1.0),
    # What is typed: `codehearth bench`'s default file on the GPU; a short line of a small
    # file in the dry run (typing runs to the end of the line it stops in).
    "typed_file": (Path(textwrap.__file__), ROOT / "tests" / "data" / "inventory.py"),
    "start_line": (180, 9),
    "repeats": (3, 1),
    "prompt": (512, 64),
    "gen_gpu": (128, 8),
    "gen_cpu": (48, 8),
}

Models = dict[str, tuple[Path, Path, GgufInfo]]


def _machine() -> report.Machine:
    facts = Facts.model_validate_json(vram.run_child(["benchmarks.gpu.probe", "facts"]))
    status = probe_gpus()
    gpu = status.gpus[0] if status.gpus else None
    return report.Machine(
        gpu=gpu.name if gpu else None,
        gpu_total_mib=round(gpu.total_bytes / MIB, 1) if gpu else None,
        driver=status.driver_version,
        cuda_driver=status.cuda_driver_version,
        cpus=os.cpu_count(),
        python=platform.python_version(),
        llama_cpp_python=facts.llama_cpp_python,
        gpu_offload=facts.gpu_offload,
        nvml_reason=status.reason,
    )


def _write_models(work: Path, keys: list[str], quant: str, out: report.KitReport) -> Models:
    models: Models = {}
    for key in keys:
        shape = SHAPES[key]
        path = work / f"{shape.name}.{quant}.gguf"
        started = time.monotonic()
        write_model(path, shape, quant)  # type: ignore[arg-type]
        write_s = time.monotonic() - started
        info = read_gguf_info(path)
        info_json = path.with_suffix(".info.json")
        info_json.write_text(info.model_dump_json())
        models[key] = (path, info_json, info)
        out.models.append(
            report.ModelFile(
                key=key, name=shape.name, path=str(path), file_type=info.file_type,
                file_mib=round(info.file_size / MIB, 1), n_layers=info.n_layers,
                write_s=round(write_s, 1),
            )
        )  # fmt: skip
    return models


def _write_manifest(work: Path, model: Path) -> Path:
    """A user manifest with the small model twice: as the server would load it on a GPU
    ("auto") and forced onto the CPU, for the replay's GPU/CPU comparison."""
    entries = []
    for name, layers in (("gpukit-gpu", '"auto"'), ("gpukit-cpu", "0")):
        entries.append(
            f'[models."{name}"]\npath = {json.dumps(str(model))}\ncontext = 16384\n'
            f'roles = ["completion", "chat"]\ntemperature = 0.0\nmax_tokens = 16\n'
            f"n_gpu_layers = {layers}\n"
        )
    manifest = work / "gpukit-models.toml"
    manifest.write_text("\n".join(entries))
    return manifest


class _Run:
    """Runs the steps in order, records each, and rewrites the report after each one, so a
    run stopped from outside still leaves what it measured. Past the deadline (unix time)
    the remaining steps are skipped."""

    def __init__(self, out: report.KitReport, folder: Path, deadline: float | None) -> None:
        self.out, self.folder, self.deadline = out, folder, deadline
        self.started = time.monotonic()

    def late(self) -> bool:
        return self.deadline is not None and time.time() > self.deadline

    def step(self, name: str, run: Callable[[], Any]) -> Any:
        if self.late():
            return self._record(name, 0.0, "skipped: past the time limit")
        started = time.monotonic()
        print(f"[gpukit] {name} ...", flush=True)
        try:
            value = run()
        except Exception as exc:  # one failed measurement must not lose the others
            return self._record(name, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
        self._record(name, time.monotonic() - started, None)
        return value

    def _record(self, name: str, seconds: float, error: str | None) -> None:
        outcome = report.StepOutcome(name=name, seconds=round(seconds, 1), ok=error is None)
        outcome.error = error
        self.out.steps.append(outcome)
        print(f"[gpukit] {name}: {error or 'done'} ({seconds:.0f} s)", flush=True)
        self.save()

    def save(self) -> None:
        self.out.total_s = round(time.monotonic() - self.started, 1)
        report.write(self.out, self.folder)


def _fake_gpu_for_dry_run() -> None:
    """The fake GPU for this process and, through sitecustomize, for every child."""
    os.environ.setdefault(fakegpu.ENV, fakegpu.FakeGpu().model_dump_json())
    fakegpu.install_from_env()
    paths = [str(FAKESITE), str(ROOT), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)


def _measure(args: argparse.Namespace, run: _Run, work: Path) -> None:
    out = run.out
    out.machine = run.step("machine", _machine)
    if out.machine is None or not (out.machine.gpu_offload or args.cpu_dry_run):
        raise SystemExit("llama.cpp here cannot offload to a GPU: was the CUDA build used?")
    keys = ["1.5b-dry", "7b-dry"] if args.cpu_dry_run else ["1.5b", "7b"]
    models = run.step("models", lambda: _write_models(work, keys, args.quant, out)) or {}
    small, big = models.get(keys[0]), models.get(keys[1])
    contexts = [int(c) for c in args.contexts.split(",")]
    out.vram = run.step("vram", lambda: vram.vram_matrix(models, contexts)) or []
    if small is None or big is None:
        return
    manifest = _write_manifest(work, small[0])
    typing = speed.Typing(
        file=args.typed_file, start_line=args.start_line, keystrokes=args.keystrokes
    )
    out.status = run.step("status", lambda: statuscheck.status_check(
        manifest, "gpukit-gpu", 4096, typing, args.typing_s
    ))  # fmt: skip
    out.fallback = run.step("fallback", lambda: vram.fallback_check(
        keys[1], big[0], big[1], big[2], contexts[-1], args.cpu_dry_run
    ))  # fmt: skip
    out.tokens = run.step("tokens", lambda: speed.tokens_per_second(
        small[0], 4096, args.prompt, args.gen_gpu, args.gen_cpu, args.repeats
    ))  # fmt: skip
    # Last: its CPU half is the slowest part; past the deadline it stops after a GPU+CPU pair.
    out.replay = run.step("replay", lambda: speed.replay(
        manifest, "gpukit-gpu", "gpukit-cpu", 4096, typing, args.repeats, run.late
    ))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for report.json and report.txt")
    parser.add_argument("--cpu-dry-run", action="store_true")
    parser.add_argument("--work", type=Path, help="where the models go (default: a temp folder)")
    parser.add_argument("--build-info", type=Path, help="run.sh's build.json")
    parser.add_argument("--quant", default="Q4_K_M", choices=["Q4_K_M", "Q8_0", "F16"])
    parser.add_argument("--deadline", type=float, help="unix time after which steps are skipped")
    for name in DEFAULTS:
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(DEFAULTS[name][0]))
    args = parser.parse_args(argv)
    for name, (gpu, dry) in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, dry if args.cpu_dry_run else gpu)
    if args.cpu_dry_run:
        _fake_gpu_for_dry_run()
    out = report.KitReport(dry_run=args.cpu_dry_run, started=time.strftime("%Y-%m-%dT%H:%M:%S"))
    if args.build_info and args.build_info.is_file():
        out.build = json.loads(args.build_info.read_text())
    run = _Run(out, args.out, args.deadline)
    with tempfile.TemporaryDirectory(prefix="gpukit-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        try:
            _measure(args, run, work)
        finally:
            run.save()
            print(report.render(out), end="", flush=True)
    return 0 if out.ok else 1


if __name__ == "__main__":
    sys.exit(main())
