"""The recorded client capability sets (capabilities/) are still what the editors send.

The e2e tests initialize as Neovim and VS Code from these files; when the editors change
(a newer Neovim, a vscode-languageclient upgrade), these tests say to record again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .capabilities import record
from .harness import CAPABILITIES, EDITORS, initialize_params


def _fixture(name: str) -> dict:
    return json.loads((CAPABILITIES / name).read_text(encoding="utf-8"))


def test_neovim_sends_the_recorded_capabilities():
    sent = record.record_neovim()
    recorded = _fixture(record.fixture_name(sent))
    assert sent["clientInfo"]["name"] == "Neovim"
    assert sent == recorded, "Neovim's initialize changed: run capabilities/record.py neovim"


def test_vscode_extension_sends_the_recorded_capabilities():
    extension = Path(record.ROOT, "editor-clients", "vscode")
    if shutil.which("node") is None or not (extension / "node_modules").is_dir():
        pytest.fail("needs node and `npm ci` in editor-clients/vscode")
    sent = record.record_vscode()["capabilities"]
    assert sent["textDocument"]["inlineCompletion"] is not None
    # vscode.json was recorded in code-server; the library alone builds the same set.
    recorded = _fixture("vscode.json")["capabilities"]
    assert sent == recorded, "vscode-languageclient changed: run capabilities/record.py vscode"


@pytest.mark.parametrize("editor", EDITORS)
def test_recorded_sets_are_valid_initialize_params(editor):
    params = initialize_params(editor, {"completion": {}})
    # What the server leans on: progress bars, and text synchronization it can follow.
    assert params.capabilities.window.work_done_progress is True
    assert params.capabilities.text_document.synchronization is not None
    assert params.client_info.name in {"Neovim", "code-server"}
