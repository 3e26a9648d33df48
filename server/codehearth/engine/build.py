"""What the installed llama.cpp build can do (GPU offload, CPU features), asked of llama.cpp
itself. Here because only engine/ imports llama_cpp."""

from __future__ import annotations

from pydantic import BaseModel


class LlamaBuild(BaseModel):
    """The installed llama-cpp-python and the features its llama.cpp was compiled with."""

    importable: bool
    version: str | None = None
    gpu_offload: bool = False
    # "CPU: AVX2 AVX512 FMA ...; CUDA: ARCHS=890 ..." from llama_print_system_info().
    system_info: str | None = None
    error: str | None = None


def llama_build() -> LlamaBuild:
    try:
        import llama_cpp
    except Exception as exc:  # a broken wheel raises OSError/RuntimeError, not ImportError
        return LlamaBuild(importable=False, error=f"{type(exc).__name__}: {exc}")
    build = LlamaBuild(importable=True, version=getattr(llama_cpp, "__version__", None))
    try:
        build.gpu_offload = bool(llama_cpp.llama_supports_gpu_offload())
        build.system_info = summarize_system_info(llama_cpp.llama_print_system_info())
    except Exception as exc:
        build.error = f"llama.cpp capability query failed: {exc}"
    return build


def summarize_system_info(raw: bytes | str) -> str:
    """'CUDA : ARCHS = 890 | CPU : AVX2 = 1 | FMA = 0 |' -> 'CUDA: ARCHS=890; CPU: AVX2'."""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    sections: list[tuple[str, list[str]]] = []
    for part in (p.strip() for p in text.split("|")):
        if not part:
            continue
        if " : " in part:  # a new backend section starts with "NAME : "
            backend, part = (s.strip() for s in part.split(" : ", 1))
            sections.append((backend, []))
        elif not sections:
            sections.append(("llama.cpp", []))
        key, _, value = (s.strip() for s in part.partition("="))
        if value in ("", "1"):
            sections[-1][1].append(key)
        elif value != "0":
            sections[-1][1].append(f"{key}={value}")
    return "; ".join(f"{name}: {' '.join(flags) or '-'}" for name, flags in sections)
