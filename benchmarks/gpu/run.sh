#!/usr/bin/env bash
# GPU verification kit (benchmarks/gpu/README.md): one command on a borrowed NVIDIA machine.
#
#   benchmarks/gpu/run.sh prepare [--python-version 3.12]  # online, here: fill bundle/
#   benchmarks/gpu/run.sh OUT                              # GPU machine, offline
#   benchmarks/gpu/run.sh --cpu-dry-run OUT                # here: every step but CUDA
#
# On the GPU machine: installs the carried wheels into a private folder (no index), builds
# llama-cpp-python from the trimmed sdist with CMAKE_ARGS="-DGGML_CUDA=on" (timed, -j all
# cores, only this GPU's architecture), then runs benchmarks.gpu.measure, which writes
# OUT/report.json and OUT/report.txt. Environment knobs: PYTHON (default python3),
# GPUKIT_WORK (default /tmp/codehearth-gpukit), GPUKIT_BUNDLE (default bundle/ here),
# CUDA_ARCH (default: nvidia-smi's compute capability), CMAKE_ARGS_EXTRA (added),
# GPUKIT_CMAKE_ARGS (replaces all: -DGGML_CUDA=off tries the pipeline without CUDA),
# GPUKIT_REBUILD=1 (ignore an earlier build), GPUKIT_TIME_LIMIT_S (default 480: later
# steps are skipped, the report is still written).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
BUNDLE="${GPUKIT_BUNDLE:-$HERE/bundle}"
cd "$ROOT"

die() { echo "run.sh: $*" >&2; exit 1; }

case "${1:-}" in
  prepare)
    shift
    exec "$PYTHON" -m benchmarks.gpu.prepare "$@" ;;
  --cpu-dry-run)
    shift
    out="${1:?usage: run.sh --cpu-dry-run OUT}"; shift
    exec "$PYTHON" -m benchmarks.gpu.measure "$out" --cpu-dry-run "$@" ;;
  ""|-h|--help)
    sed -n '2,17p' "$0"; exit 2 ;;
esac

OUT="$(mkdir -p "$1" && cd "$1" && pwd)"; shift
started_at=$(date +%s)
WORK="${GPUKIT_WORK:-${TMPDIR:-/tmp}/codehearth-gpukit}"
SITE="$WORK/site"
mkdir -p "$WORK/built"

[ -f "$BUNDLE/MANIFEST.json" ] || die "no bundle in $BUNDLE: run 'benchmarks/gpu/run.sh prepare' on a machine with a package index first"
want="$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["python_version"])' "$BUNDLE/MANIFEST.json")"
have="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "$want" = "$have" ] || die "the bundle holds wheels for Python $want but $PYTHON is $have: prepare with --python-version $have"
bundle_commit="$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["git_commit"])' "$BUNDLE/MANIFEST.json")"
tree_commit="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
[ "$bundle_commit" = "$tree_commit" ] || echo "run.sh: note: the bundle's codehearth wheel is from $bundle_commit, this tree is $tree_commit" >&2

echo "[gpukit] installing the carried wheels into $SITE"
"$PYTHON" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$SITE" "$BUNDLE"/wheels/*.whl
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"

arch="${CUDA_ARCH:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d '. ' || true)}"
# mtmd (LLAVA_BUILD, multimodal) is loaded by llama-cpp-python only for image chat, which
# codehearth never uses: not building it saves minutes of a short lease.
cmake_args="${GPUKIT_CMAKE_ARGS:--DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=${arch:-native} -DLLAVA_BUILD=OFF ${CMAKE_ARGS_EXTRA:-}}"
jobs="$(nproc)"
built=( "$WORK"/built/llama_cpp_python-*.whl )
start=$(date +%s)
if [ -f "${built[0]}" ] && [ -z "${GPUKIT_REBUILD:-}" ]; then
  echo "[gpukit] reusing ${built[0]} (GPUKIT_REBUILD=1 builds again)"
  ok=true; reused=true
else
  echo "[gpukit] building llama-cpp-python with CMAKE_ARGS=\"$cmake_args\", $jobs jobs"
  rm -f "$WORK"/built/llama_cpp_python-*.whl
  reused=false
  if CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL="$jobs" \
      "$PYTHON" -m pip wheel --verbose --no-index --no-deps --no-build-isolation --no-cache-dir \
      -w "$WORK/built" "$BUNDLE"/llama_cpp_python-*-cuda-src.tar.gz >"$WORK/build.log" 2>&1; then
    ok=true
  else
    ok=false
  fi
  tail -n 150 "$WORK/build.log" >"$OUT/build-tail.log"
fi
seconds=$(( $(date +%s) - start ))
"$PYTHON" - "$OUT/build.json" "$seconds" "$ok" "$reused" "$cmake_args" "$jobs" <<'EOF'
import json, sys
path, seconds, ok, reused, cmake_args, jobs = sys.argv[1:]
json.dump({"seconds": int(seconds), "ok": ok == "true", "reused": reused == "true",
           "cmake_args": cmake_args, "jobs": int(jobs)}, open(path, "w"), indent=2)
EOF
$ok || die "the CUDA build failed after ${seconds} s; see $OUT/build-tail.log"
echo "[gpukit] build: ${seconds} s"
"$PYTHON" -m pip install --quiet --no-index --no-deps --no-compile --upgrade --target "$SITE" \
  "$WORK"/built/llama_cpp_python-*.whl

# Steps that would start after GPUKIT_TIME_LIMIT_S (from the start of this script) are
# skipped, so a run with a hard limit still ends with a report.
deadline=$(( started_at + ${GPUKIT_TIME_LIMIT_S:-480} ))
exec "$PYTHON" -m benchmarks.gpu.measure "$OUT" --build-info "$OUT/build.json" \
  --work "$WORK/models" --deadline "$deadline" "$@"
