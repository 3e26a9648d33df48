"""The kit's one JSON report and its short text rendering."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from .speed import ReplayResult, Spread, TokensResult
from .statuscheck import StatusCheck
from .vram import FallbackResult, VramRow


class StepOutcome(BaseModel):
    name: str
    seconds: float
    ok: bool
    error: str | None = None


class ModelFile(BaseModel):
    key: str
    name: str
    path: str
    file_type: str | None
    file_mib: float
    n_layers: int
    write_s: float


class Machine(BaseModel):
    gpu: str | None
    gpu_total_mib: float | None
    driver: str | None
    cuda_driver: int | None
    cpus: int | None
    python: str
    llama_cpp_python: str | None
    gpu_offload: bool
    nvml_reason: str | None = None


class KitReport(BaseModel):
    dry_run: bool
    started: str
    total_s: float = 0.0
    machine: Machine | None = None
    build: dict | None = None  # run.sh's build.json: seconds, CMAKE_ARGS, ok
    models: list[ModelFile] = []
    vram: list[VramRow] = []
    status: StatusCheck | None = None
    replay: ReplayResult | None = None
    tokens: TokensResult | None = None
    fallback: FallbackResult | None = None
    steps: list[StepOutcome] = []

    @property
    def ok(self) -> bool:
        return all(step.ok for step in self.steps)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"


def _mib(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} MiB"


def _spread(s: Spread, unit: str) -> str:
    return f"{s.median:g} {unit} ({s.low:g}-{s.high:g})"


def _header(r: KitReport) -> list[str]:
    lines = ["codehearth GPU verification kit" + (" -- CPU DRY RUN" if r.dry_run else "")]
    if r.dry_run:
        lines.append("  (NVML and GPU offload faked: the numbers check the kit, not a GPU)")
    m = r.machine
    if m:
        lines.append(
            f"  {m.gpu or 'no GPU'} ({_mib(m.gpu_total_mib)}), driver {m.driver}, "
            f"{m.cpus} CPUs, Python {m.python}, llama-cpp-python {m.llama_cpp_python}, "
            f"GPU offload {'yes' if m.gpu_offload else 'NO'}"
        )
    if r.build:
        lines.append(
            f"  CUDA build: {r.build.get('seconds')} s, ok={r.build.get('ok')}, "
            f"CMAKE_ARGS={r.build.get('cmake_args')}"
        )
    for f in r.models:
        lines.append(
            f"  model {f.key}: {f.name} {f.file_type}, {f.file_mib:.0f} MiB, {f.n_layers} layers"
        )
    return lines


def _vram_lines(r: KitReport) -> list[str]:
    if not r.vram:
        return []
    lines = ["VRAM: planner prediction vs NVML after load (device used, after - before)"]
    lines.append(
        "  model          ctx    layers   predicted  measured   error         process  after gen"
    )
    for v in r.vram:
        layers = f"{v.loaded_gpu_layers}/{v.total_layers}"
        error = "n/a" if v.error_mib is None else f"{v.error_mib:+.0f} MiB {_pct(v.error_pct)}"
        lines.append(
            f"  {v.model:<13} {v.n_ctx:>6} {layers:>7}   {_mib(v.predicted_mib):>9}  "
            f"{_mib(v.measured_mib):>9}  {error:<13} {_mib(v.process_mib):>8}  "
            f"{_mib(v.after_generate_mib):>8}" + (f"  ERROR {v.error}" if v.error else "")
        )
    return lines


def _status_lines(r: KitReport) -> list[str]:
    s = r.status
    if s is None:
        return []
    return [
        f"Status push vs NVML ({len(s.samples)} samples, {s.gpu_samples} with VRAM fields): "
        f"process max |diff| {_mib(s.max_process_diff_mib)}, GPU used max |diff| "
        f"{_mib(s.max_gpu_used_diff_mib)}, on GPU without VRAM fields: {s.vram_missing_on_gpu}"
    ]


def _speed_lines(r: KitReport) -> list[str]:
    lines = []
    if (p := r.replay) is not None:
        lines.append(
            f"Typing replay ({p.gpu.keystrokes} keystrokes x {len(p.gpu.p50_ms.runs)} runs each):"
        )
        for name, side in (("GPU", p.gpu), ("CPU", p.cpu)):
            reuse = _spread(side.prompt_reuse, "%") if side.prompt_reuse else "n/a"
            lines.append(
                f"  {name}: p50 {_spread(side.p50_ms, 'ms')}, p95 {_spread(side.p95_ms, 'ms')}, "
                f"prompt reuse {reuse}"
            )
        lines.append(f"  CPU/GPU: p50 {p.cpu_over_gpu_p50}x, p95 {p.cpu_over_gpu_p95}x")
    if (t := r.tokens) is not None:
        lines.append(
            f"Tokens/s ({t.gpu.prompt_tokens}-token prompt; median of {len(t.gpu.prompt_tok_s)}):"
        )
        for name, side in (("GPU", t.gpu), ("CPU", t.cpu)):
            lines.append(
                f"  {name}: prompt {side.prompt_tok_s_median:g} tok/s {side.prompt_tok_s}, "
                f"generation {side.generate_tok_s_median:g} tok/s {side.generate_tok_s} "
                f"({side.generated_tokens} tokens)"
            )
        lines.append(
            f"  GPU/CPU: prompt {t.prompt_gpu_over_cpu}x, generation {t.generate_gpu_over_cpu}x"
        )
    return lines


def _fallback_lines(r: KitReport) -> list[str]:
    f = r.fallback
    if f is None:
        return []
    lines = [
        f"Load fallback ({f.model}, ctx {f.n_ctx}: {_mib(f.held_free_mib)} free; all layers "
        f"need {_mib(f.full_need_mib)} + {_mib(f.margin_mib)} margin):"
    ]
    for case in (f.auto, f.forced_all):
        verdict = "fewer layers, no crash" if case.fewer_layers else "NOT fewer layers"
        if r.dry_run and case is f.forced_all:
            verdict = "not exercised (a CPU build cannot run out of GPU memory)"
        lines.append(
            f"  {case.requested}: plan {case.plan_layers}/{case.total_layers}, loaded "
            f"{case.loaded_gpu_layers}/{case.total_layers} -> {verdict}"
            + (f"; {'; '.join(case.load_notes)}" if case.load_notes else "")
            + (f"; ERROR {case.error}" if case.error else "")
        )
    return lines


def render(r: KitReport) -> str:
    lines = _header(r) + _vram_lines(r) + _status_lines(r) + _speed_lines(r) + _fallback_lines(r)
    lines.append("Steps: " + ", ".join(
        f"{s.name} {s.seconds:.0f}s{'' if s.ok else ' FAILED'}" for s in r.steps
    ) + f"; total {r.total_s:.0f} s")  # fmt: skip
    lines += [f"  {s.name} FAILED: {s.error}" for s in r.steps if not s.ok]
    return "\n".join(lines) + "\n"


def write(r: KitReport, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(r.model_dump_json(indent=2) + "\n")
    (out / "report.txt").write_text(render(r))
