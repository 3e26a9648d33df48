"""GPU verification kit: prepared online on our machine, run offline on a borrowed NVIDIA one.

See benchmarks/gpu/README.md. `prepare` gathers the bundle; `measure` (started by run.sh)
writes the test models, measures VRAM prediction, the status push, GPU latency and the
load fallback, and writes one JSON plus a short text report.
"""
