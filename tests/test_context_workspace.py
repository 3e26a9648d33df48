"""Workspace reads: only under announced folders, never ignored, excluded, secret-looking,
binary or oversized files, and never through a symlink that leaves the workspace."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from codehearth.config import ProjectSettings
from codehearth.context.gitignore import parse_rules
from codehearth.context.workspace import Workspace, decode_text, looks_secret


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "src" / "pkg").mkdir(parents=True)
    (ws / "build").mkdir()
    (ws / "docs").mkdir()
    (ws / ".git").mkdir()
    (ws / ".gitignore").write_text("build/\n*.log\n!keep.log\n/rootonly.py\n")
    (ws / "src" / ".gitignore").write_text("generated_*.py\n")
    for name in ("src/pkg/a.py", "build/out.py", "src/debug.log", "src/keep.log",
                 "rootonly.py", "src/rootonly.py", "src/generated_x.py", "docs/guide.py",
                 ".git/config", ".env", ".env.local", "src/server.pem", "id_rsa",
                 "src/credentials.json", ".netrc"):  # fmt: skip
        (ws / name).write_text(f"# {name}\n")
    (tmp_path / "outside.py").write_text("# outside\n")
    os.symlink(tmp_path / "outside.py", ws / "src" / "link_out.py")
    os.symlink(ws / "src" / "pkg" / "a.py", ws / "src" / "link_in.py")
    os.symlink(ws / ".env", ws / "src" / "innocent.py")
    return ws


def _workspace(ws: Path, **settings) -> Workspace:
    workspace = Workspace(ProjectSettings(**settings))
    workspace.set_folders([ws.as_uri()])
    return workspace


def test_only_allowed_files_are_read(tree: Path):
    ws = _workspace(tree, exclude=["docs/**"])
    readable = {
        "src/pkg/a.py": True,
        "build/out.py": False,  # ignored directory
        "src/debug.log": False,  # ignored glob
        "src/keep.log": True,  # re-included with !
        "rootonly.py": False,  # anchored pattern
        "src/rootonly.py": True,  # ... only at the root
        "src/generated_x.py": False,  # a nested .gitignore
        "docs/guide.py": False,  # the user's exclude glob
        ".git/config": False,
        ".env": False, ".env.local": False, "src/server.pem": False, "id_rsa": False,
        "src/credentials.json": False, ".netrc": False,
        "src/link_out.py": False,  # a symlink out of the workspace
        "src/link_in.py": True,  # a symlink inside it
        "src/innocent.py": False,  # a link to a secret is that secret
    }  # fmt: skip
    got = {name: ws.read(tree / name) is not None for name in readable}
    assert got == readable


def test_nothing_without_folders_and_nothing_outside(tree: Path, tmp_path: Path):
    assert Workspace().read(tree / "src" / "pkg" / "a.py") is None
    assert _workspace(tree).read(tmp_path / "outside.py") is None


def test_size_caps_and_binary(tree: Path):
    big = tree / "src" / "big.py"
    big.write_text("x = 1\n" * 2000)
    blob = tree / "src" / "blob.py"
    blob.write_bytes(b"x = 1\n\x00\x01\x02")
    ws = _workspace(tree, max_file_bytes=4096, max_total_bytes=4096)
    assert ws.read(big) is None
    assert ws.read(blob) is None
    budget = ws.new_budget()
    small = tree / "src" / "pkg" / "a.py"
    reads = [ws.read(small, budget) for _ in range(1000)]
    assert reads[0] is not None and reads[-1] is None, "the total budget ran out"


def test_a_folder_that_disappears(tree: Path):
    ws = _workspace(tree)
    target = tree / "src" / "pkg" / "a.py"
    assert ws.read(target) is not None
    shutil.rmtree(tree)
    assert ws.read(target) is None
    ws.remove_folder(tree.as_uri())
    assert ws.roots == []


def test_secret_names():
    secrets = (".env", ".env.production", "prod.env", "a/b/.npmrc", "deploy/id_ed25519")
    secrets += ("keys/server.key", "x/.ssh/config", "aws/credentials", "client_secret.json")
    for name in secrets:
        assert looks_secret(Path(name)), name
    for name in ("src/environment.py", "settings.py", "keyboard.py", "README.md"):
        assert not looks_secret(Path(name)), name


def test_gitignore_rules():
    rules = parse_rules("# comment\n\n*.pyc\n/dist\nlogs/\n**/tmp/*.txt\n!important.pyc\n")

    def ignored(path: str, is_dir: bool = False) -> bool:
        verdict = None
        for rule in rules:
            if rule.directory_only and not is_dir:
                continue
            if rule.pattern.match(path):
                verdict = not rule.negated
        return bool(verdict)

    assert ignored("a/b/c.pyc") and not ignored("important.pyc")
    assert ignored("dist") and not ignored("src/dist")
    assert ignored("logs", is_dir=True) and not ignored("logs")
    assert ignored("x/y/tmp/a.txt") and ignored("tmp/a.txt")


def test_decode_text():
    assert decode_text(b"caf\xc3\xa9\n") == "café\n"
    assert decode_text(b"\x00abc") is None
    assert decode_text(b"\xff\xfe" + b"a" * 100) is None
    assert decode_text(b"ab\xc3") == "ab", "a character cut at the size cap is dropped"
