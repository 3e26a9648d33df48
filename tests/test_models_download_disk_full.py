"""A disk that fills up mid-download, on a real (tiny) tmpfs.

The download runs in a private user + mount namespace (`unshare -rm`), so the
test needs no root and leaves no mount behind: `codehearth pull` writes into a
48 MB tmpfs while another writer fills the rest of it.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .hub_server import FakeHub

# huggingface_hub writes in 10 MB pieces: the disk must fill between two of them.
SIZE = 30 * 2**20

# Runs inside the namespace: mount, start a filler that waits for the partial download,
# run the pull, then list what is left on the tmpfs (it vanishes with the namespace).
SCRIPT = r"""
set -u
mount -t tmpfs -o size=48m tmpfs "$CACHE"
(
  until [ -n "$(find "$CACHE" -name '*.incomplete' -size +0 2>/dev/null)" ]; do
    sleep 0.02
  done
  dd if=/dev/zero of="$CACHE/filler" bs=1M 2>/dev/null
) &
"$PYTHON" -m codehearth.cli pull big --manifest "$MANIFEST"
echo "exit=$?"
wait
rm -f "$CACHE/filler"
echo "left:"
find "$CACHE/hub" -type f -printf '%P %s\n' 2>/dev/null
"""


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _namespaces_work(), reason="needs unshare -rm (user namespaces)")
def test_disk_full_mid_download_leaves_nothing_behind(tmp_path: Path) -> None:
    data = random.Random(7).randbytes(SIZE)
    manifest = tmp_path / "models.toml"
    manifest.write_text('[models.big]\nrepo = "test-org/big"\nfile = "big.gguf"\n')
    cache = tmp_path / "hf"
    cache.mkdir()
    with FakeHub({("test-org/big", "main", "big.gguf"): data}) as hub:
        hub.throttle("big.gguf", 512 * 1024, 0.02)
        env = {
            **os.environ,
            "CACHE": str(cache),
            "HF_HOME": str(cache),
            "HF_ENDPOINT": hub.endpoint,
            "HF_HUB_OFFLINE": "0",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "MANIFEST": str(manifest),
            "PYTHON": sys.executable,
        }
        done = subprocess.run(
            ["unshare", "-rm", "sh", "-c", SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    out = done.stdout
    assert "exit=1" in out, (out, done.stderr)
    assert "the disk filled up during the download" in done.stderr, done.stderr
    left = out.split("left:", 1)[1].split()
    names = left[::2]
    # Nothing that looks complete, and the partial blob is gone so the space is free again.
    assert not any(name.endswith("big.gguf") for name in names), left
    assert not any(name.endswith(".incomplete") for name in names), left
