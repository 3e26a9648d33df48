"""Typing replay through `codehearth serve` with the remote (OpenAI-compatible) backend.

Starts llama-cpp-python's own OpenAI-compatible server with the default model as the
"cluster" (or uses --base-url), writes a manifest with `backend = "openai"`, and runs
`codehearth bench --which server` against it: the same keystrokes, context building and
LSP path as the in-process numbers in docs/performance.md.

    python benchmarks/remote_replay.py --keystrokes 150 --files textwrap.py shlex.py
    python benchmarks/remote_replay.py --base-url http://gpu-box:8080/v1 --remote-model qwen
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from codehearth.cli import main as codehearth

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def cluster(args: argparse.Namespace) -> Iterator[str]:
    if args.base_url:
        yield args.base_url
        return
    sys.path.insert(0, str(REPO))  # the server helper and the model path live in tests/
    from tests.conftest import SMOLLM2
    from tests.remote_server import llama_cpp_server

    with llama_cpp_server(SMOLLM2, args.remote_model, n_ctx=4096) as url:
        yield url + "/v1"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="engine URL; default: start llama_cpp.server")
    parser.add_argument("--remote-model", default="smollm2")
    args, rest = parser.parse_known_args(argv)
    with cluster(args) as url, tempfile.TemporaryDirectory() as tmp:
        manifest = Path(tmp) / "models.toml"
        manifest.write_text(
            f'[models.remote]\nbackend = "openai"\nbase_url = "{url}"\n'
            f'remote_model = "{args.remote_model}"\ncontext = 4096\n'
        )
        return codehearth(
            ["bench", "--which", "server", "--manifest", str(manifest), "--model", "remote", *rest]
        )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
