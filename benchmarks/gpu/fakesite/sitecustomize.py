"""Dry run only: on this folder's PYTHONPATH, every Python process of the kit (the server
it starts too) gets the fake GPU of benchmarks/gpu/fakegpu.py when the variable is set."""

import os

if os.environ.get("CODEHEARTH_GPUKIT_FAKE_GPU"):
    from benchmarks.gpu.fakegpu import install_from_env

    install_from_env()
