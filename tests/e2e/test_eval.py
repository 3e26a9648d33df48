"""`codehearth eval` as a user runs it: the reference set, both embedded models, the files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "codehearth.cli"]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    """Where Gemma is joined from its chunks: once for this module."""
    return tmp_path_factory.mktemp("models")


def _env(models_dir: Path) -> dict[str, str]:
    return {**os.environ, "CODEHEARTH_MODELS_DIR": str(models_dir)}


def _broken_manifest(tmp_path: Path) -> Path:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a model at all" * 100)
    manifest = tmp_path / "models.toml"
    manifest.write_text(f'[models.broken]\npath = "{broken}"\n')
    return manifest


def test_reference_eval_writes_json_and_png_and_reports_a_failed_model(tmp_path, models_dir):
    out, png = tmp_path / "out" / "report.json", tmp_path / "out" / "plot.png"
    out.parent.mkdir()
    manifest = _broken_manifest(tmp_path)
    done = subprocess.run(
        [*CLI, "eval", "--reference", "--holes", "10", "--threads", "2",
         "--models", "smollm2-135m,gemma3-270m,broken", "--manifest", str(manifest),
         "--json", str(out), "--plot", str(png)],
        capture_output=True, text=True, env=_env(models_dir), timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert len(report["holes"]) == 10
    assert {h["kind"] for h in report["holes"]} == {"single-line", "multi-line", "cross-file"}
    models = {m["model"]: m for m in report["models"]}
    assert models["broken"]["status"] == "failed" and models["broken"]["error"]
    for name in ("smollm2-135m", "gemma3-270m"):
        model = models[name]
        assert model["status"] == "ok", model["error"]
        overall = model["overall"]
        assert overall["holes"] == 10
        for key in ("exact_match", "edit_similarity", "non_empty"):
            assert 0.0 <= overall[key] <= 1.0
        assert overall["latency_p50_ms"] <= overall["latency_p95_ms"]
        assert model["peak_rss_bytes"] > 50 * 1024 * 1024
        assert len(report["suggestions"][name]) == 10
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["plot.png", "report.json"]
    assert "broken" in done.stdout and "failed" in done.stdout
    assert report["recommendation"] in done.stdout


def test_ctrl_c_leaves_no_partial_output(tmp_path, models_dir):
    out = tmp_path / "out"
    out.mkdir()
    process = subprocess.Popen(
        [*CLI, "eval", "--reference", "--holes", "40", "--threads", "2",
         "--models", "smollm2-135m", "--json", str(out / "r.json"), "--plot", str(out / "p.png")],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env(models_dir),
    )  # fmt: skip
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("evaluating smollm2-135m"):
                break
        time.sleep(3)  # the model is loaded and holes are being completed
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert list(out.iterdir()) == []


def test_plot_without_matplotlib_says_how_to_get_it(tmp_path):
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from codehearth.cli import main\n"
        f"sys.exit(main(['eval', '--reference', '--plot', {str(tmp_path / 'p.png')!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 2
    assert "pip install 'codehearth[plot]'" in done.stderr
    assert list(tmp_path.iterdir()) == []
