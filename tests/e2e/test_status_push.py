"""codehearth/status pushes: what a status item sees, and how often it is told."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

DATA = Path(__file__).parent.parent / "data"
DETERMINISTIC = {"completion": {"temperature": 0.0}}
# Each test runs once per recorded editor capability set (capabilities/).
pytestmark = pytest.mark.editors()


async def _wait_for_push(session, predicate, timeout: float = 30) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for _, status in reversed(session.statuses):
            if predicate(status):
                return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"no matching push in {[s['state'] for _, s in session.statuses]}")


async def test_pushes_ready_then_completion_numbers(server_factory):
    session = await server_factory(init_options=DETERMINISTIC)
    ready = await _wait_for_push(session, lambda s: s["state"] == "ready")
    assert ready["model"] == "smollm2-135m"
    assert ready["quant"] == "Q4_1"
    assert ready["device"] == "cpu"
    assert ready["vram"] is None  # CPU: no VRAM numbers at all, not zeros
    assert ready["total_layers"] == 31  # 30 blocks + the output layer
    assert ready["gpu_layers"] == 0
    assert ready["rss_bytes"] > 50 * 2**20

    uri = session.open_file(DATA / "inventory.py")
    lines = (DATA / "inventory.py").read_text().splitlines()
    line = lines.index("    def count(self) -> int:") + 1
    await session.complete(uri, line, len("        return "))
    await session.complete(uri, lines.index("def main() -> None:") + 1, 4)
    # The same object on demand, with the details; the push of it trails by ≤ 1 s.
    status = await session.status()
    latency = status["last_latency_ms"]
    assert latency > 0 and 0 <= status["prompt_reuse"] <= 1
    after = await _wait_for_push(session, lambda s: s["last_latency_ms"] == latency)
    assert after["state"] in ("ready", "busy")
    generated = status["counters"]["generated_tokens"]
    # Speed is shown once there are enough tokens to measure it.
    assert (after["tokens_per_s"] or 0) > 0 or generated < 8, (after, generated)


async def test_pushes_are_coalesced_to_one_a_second(server_factory):
    session = await server_factory(init_options=DETERMINISTIC)
    await session.wait_state("ready")
    uri = session.open_file(DATA / "inventory.py")
    lines = (DATA / "inventory.py").read_text().splitlines()
    line = lines.index("    def count(self) -> int:") + 1
    text = "        return len(self.items)"
    loop = asyncio.get_running_loop()
    started = loop.time()
    session.statuses.clear()
    for col in range(len("        return "), len(text)):
        session.change(uri, line, col, text[col])
        await session.complete(uri, line, col + 1)
    elapsed = loop.time() - started
    # The trailing push ("ready" after the last completion) arrives within a second. (Not
    # an older "ready": typing along the suggestion is answered from the cache in a few
    # ms, so the typing may be over before the first push of it.)
    final = await _wait_for_push(
        session, lambda s: s["state"] == "ready" and s["last_latency_ms"], timeout=5
    )
    times = [t for t, _ in session.statuses]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) >= 2, "busy/ready changes during typing are pushed"
    assert len(times) <= elapsed + 3
    assert min(gaps) >= 0.9, gaps
    assert final["last_latency_ms"] is not None


async def test_error_state_is_pushed(server_factory, tmp_path):
    manifest = tmp_path / "models.toml"
    manifest.write_text('[models.ghost]\npath = "nothing.gguf"\n')
    session = await server_factory(init_options={"manifest": str(manifest), "model": "ghost"})
    failed = await _wait_for_push(session, lambda s: s["state"] == "error")
    assert "nothing.gguf" in failed["error"]
    assert failed["model"] == "ghost"
