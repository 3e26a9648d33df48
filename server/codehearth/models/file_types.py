"""GGUF file-type names ("Q4_K_M") as llama.cpp and the status show them."""

from __future__ import annotations

from gguf import LlamaFileType


def file_type_name(raw: int) -> str | None:
    """ "Q4_K_M" for general.file_type 15; None when the file says its type was guessed."""
    try:
        ftype = LlamaFileType(raw)
    except ValueError:
        return f"ftype {raw}"
    if ftype == LlamaFileType.GUESSED:
        return None
    return ftype.name.removeprefix("MOSTLY_").removeprefix("ALL_")
