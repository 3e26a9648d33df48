"""Hold GPU memory so that only a chosen amount stays free: the "other program" of the
load-fallback check, so a big card can be made to look small without a huge context.

A separate process allocates plain device memory (cuMemAlloc through the driver API, no
managed memory) in 1 GiB pieces until NVML-free is down to the target, prints "ready",
and holds it until its stdin closes. Dry runs do not start it: the fake GPU is told a
smaller free figure instead (see vram.py).

    python -m benchmarks.gpu.ballast --leave-free-mib 6000
"""

from __future__ import annotations

import argparse
import ctypes
import sys

MIB = 1024**2
CHUNK = 1024 * MIB


def _check(result: int, what: str) -> None:
    if result != 0:
        raise RuntimeError(f"{what} failed with CUDA error {result}")


def hold(leave_free: int) -> int:
    """Allocate until at most `leave_free` bytes are free on device 0; returns bytes held."""
    cuda = ctypes.CDLL("libcuda.so.1")
    _check(cuda.cuInit(0), "cuInit")
    device, context = ctypes.c_int(), ctypes.c_void_p()
    _check(cuda.cuDeviceGet(ctypes.byref(device), 0), "cuDeviceGet")
    _check(cuda.cuDevicePrimaryCtxRetain(ctypes.byref(context), device), "cuDevicePrimaryCtxRetain")
    _check(cuda.cuCtxSetCurrent(context), "cuCtxSetCurrent")
    free, total = ctypes.c_size_t(), ctypes.c_size_t()
    held = 0
    while True:
        _check(cuda.cuMemGetInfo_v2(ctypes.byref(free), ctypes.byref(total)), "cuMemGetInfo")
        want = min(CHUNK, free.value - leave_free)
        if want < 16 * MIB:
            return held
        pointer = ctypes.c_uint64()
        if cuda.cuMemAlloc_v2(ctypes.byref(pointer), ctypes.c_size_t(want)) != 0:
            return held  # fragmentation or a race with another allocation: hold what we have
        held += want


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leave-free-mib", type=int, required=True)
    args = parser.parse_args(argv)
    held = hold(args.leave_free_mib * MIB)
    print(f"ready {held}", flush=True)
    sys.stdin.read()  # hold until the parent closes our stdin (or exits)
    return 0


if __name__ == "__main__":
    sys.exit(main())
