"""On-demand download: a Hub model missing from the cache is fetched with editor progress."""

from __future__ import annotations

from pathlib import Path

from ..conftest import SMOLLM2
from ..hub_server import FakeHub
from .harness import items_of, wait_for

DATA = Path(__file__).parent.parent / "data"


def _hub_env(tmp_path: Path, hub: FakeHub) -> dict[str, str]:
    return {
        "HF_ENDPOINT": hub.endpoint,
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_OFFLINE": "0",
    }


def _manifest(tmp_path: Path) -> Path:
    manifest = tmp_path / "models.toml"
    manifest.write_text(
        '[models.smol-hub]\nrepo = "test-org/smol"\nfile = "smol.gguf"\n'
        'context = 2048\nroles = ["completion"]\n'
    )
    return manifest


async def test_missing_hub_model_downloads_with_progress_then_serves(server_factory, tmp_path):
    data = SMOLLM2.read_bytes()
    with FakeHub({("test-org/smol", "main", "smol.gguf"): data}) as hub:
        session = await server_factory(
            init_options={"manifest": str(_manifest(tmp_path)), "model": "smol-hub"},
            env=_hub_env(tmp_path, hub),
        )
        status = await session.wait_state("ready", timeout=120)
        assert status["state"] == "ready", status
        assert hub.gets("smol.gguf")
    # pytest-lsp's record: one list of begin/report/end values per (server-made) token.
    values = [value for values in session.client.progress_reports.values() for value in values]
    kinds = [value.kind for value in values]
    assert kinds[0] == "begin" and kinds[-1] == "end"
    percents = [value.percentage for value in values if value.kind == "report"]
    assert percents and percents == sorted(percents) and percents[-1] == 100
    # The status item is told too: downloading first, ready at the end (pushes are
    # coalesced to one a second, so the last one may trail the polled state a little).
    await wait_for(lambda: any(s["state"] == "ready" for _, s in session.statuses), timeout=5)
    states = [status["state"] for _, status in session.statuses]
    assert states[0] == "downloading" and "ready" in states, states
    pushed = [s["progress"] for _, s in session.statuses if s["progress"] is not None]
    assert all(0 <= p["percent"] <= 100 for p in pushed)
    uri = session.open_file(DATA / "inventory.py")
    assert isinstance(items_of(await session.complete(uri, 39, 15)), list)


async def test_offline_mode_names_the_missing_file(server_factory, tmp_path):
    session = await server_factory(
        init_options={"manifest": str(_manifest(tmp_path)), "model": "smol-hub"},
        env={"HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"},
    )
    status = await session.wait_state("ready", timeout=60)
    assert status["state"] == "error"
    assert "smol.gguf" in status["error"]
    assert any("smol.gguf" in m.message for m in session.messages)
