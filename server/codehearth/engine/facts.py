"""Facts about a model read from its llama.cpp metadata (strings), for the status."""

from __future__ import annotations

from typing import Any

from ..models.file_types import file_type_name


def model_facts(metadata: dict[str, str]) -> dict[str, Any]:
    """Quantization and layer count."""
    arch = metadata.get("general.architecture", "")
    blocks = metadata.get(f"{arch}.block_count", "")
    raw = metadata.get("general.file_type", "")
    quant = file_type_name(int(raw)) if raw.isdigit() else None
    # The output layer is offloadable too: llama.cpp counts n_layer + 1.
    return {"quant": quant, "total_layers": int(blocks) + 1 if blocks.isdigit() else None}
