"""GGUF inspection without loading weights.

`read_gguf_info` reads the metadata and the tensor directory of a GGUF file with
`gguf.GGUFReader`, which memory-maps the file: tensor data is never read, so this
is safe on a 20 GB model. What it yields (per-layer byte sizes, attention shape,
FIM tokens) is what the offload planner and the prompt builder need before the
model is handed to llama.cpp.

GGUFReader builds one numpy view per vocabulary string and per BPE merge, so
opening a 150k-vocabulary model costs seconds; results are therefore cached per
(path, size, mtime).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

from gguf import GGUFReader, GGUFValueType, ReaderField
from pydantic import BaseModel

from .file_types import file_type_name

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)

# Token texts llama.cpp itself recognises as FIM markers (llama-vocab.cpp), so a
# model we call FIM-capable is one llama.cpp's infill support agrees on.
# "<PAD>" (llama.cpp's last fim_pad guess) is left out: too many non-code
# vocabularies have a generic <PAD> token.
FIM_TOKEN_TEXTS: dict[str, tuple[str, ...]] = {
    "prefix": (
        "<|fim_prefix|>",
        "<fim-prefix>",
        "<fim_prefix>",
        "<｜fim▁begin｜>",
        "<PRE>",
        "▁<PRE>",
        "<|code_prefix|>",
    ),
    "suffix": (
        "<|fim_suffix|>",
        "<fim-suffix>",
        "<fim_suffix>",
        "<｜fim▁hole｜>",
        "<SUF>",
        "▁<SUF>",
        "<|code_suffix|>",
    ),
    "middle": (
        "<|fim_middle|>",
        "<fim-middle>",
        "<fim_middle>",
        "<｜fim▁end｜>",
        "<MID>",
        "▁<MID>",
        "<|code_middle|>",
    ),
    "pad": ("<|fim_pad|>", "<fim-pad>", "<fim_pad>"),
    "repo": ("<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"),
    "file_sep": ("<|file_sep|>",),
}

CORE_FIM_ROLES = frozenset({"prefix", "suffix", "middle"})

# Explicit ids written by convert_hf_to_gguf win over the text scan, as in llama.cpp.
# The deprecated prefix/suffix/middle keys still occur in older CodeLlama files.
FIM_TOKEN_KEYS: dict[str, tuple[str, ...]] = {
    "prefix": ("tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"),
    "suffix": ("tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id"),
    "middle": ("tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id"),
    "pad": ("tokenizer.ggml.fim_pad_token_id",),
    "repo": ("tokenizer.ggml.fim_rep_token_id",),
    "file_sep": ("tokenizer.ggml.fim_sep_token_id",),
}

OUTPUT_TENSORS = frozenset(
    {"output.weight", "output.bias", "output_norm.weight", "output_norm.bias"}
)

# Exceptions GGUFReader lets escape on malformed input (short reads surface as
# numpy view/reshape errors, bad enums as ValueError, bad UTF-8 in names, ...).
_PARSE_ERRORS = (ValueError, IndexError, KeyError, TypeError, OverflowError, struct.error)


class GgufError(Exception):
    """A file is not a usable GGUF model; the message names the file and the problem."""


class GgufInfo(BaseModel):
    """What a GGUF model file says about itself, read without loading weights."""

    path: str
    architecture: str
    name: str | None = None
    n_layers: int
    context_length: int | None = None
    n_embd: int | None = None
    n_head: int | None = None
    n_head_kv: int | None = None
    head_dim_k: int | None = None
    head_dim_v: int | None = None
    file_type: str | None = None
    file_size: int
    layer_bytes: list[int]
    # Bytes llama.cpp places on the device of the output layer: output.weight and
    # output_norm. When the model ties its embeddings (no output.weight), llama.cpp
    # loads token_embd a second time as the output matrix (TENSOR_DUPLICATED) into
    # the output layer's buffer, so that copy is counted here as well; the input
    # copy always stays on the CPU and is counted in token_embd_bytes.
    output_bytes: int
    token_embd_bytes: int
    other_bytes: int
    tied_embeddings: bool = False
    has_chat_template: bool
    # Role -> token id for "prefix", "suffix", "middle" and, when present, "pad",
    # "repo", "file_sep". Empty when the model has no complete FIM triple.
    fim_tokens: dict[str, int]
    vocab_size: int | None = None


_CACHE: dict[tuple[str, int, int], GgufInfo] = {}
_CACHE_MAX = 16


def read_gguf_info(path: str | Path) -> GgufInfo:
    """Inspect a GGUF file; raise GgufError if it is missing, broken or not a model."""
    p = Path(path)
    stat = _stat_file(p)
    key = (str(p.resolve()), stat.st_size, stat.st_mtime_ns)
    cached = _CACHE.get(key)
    if cached is None:
        _check_header(p, stat.st_size)
        cached = _parse(p, stat.st_size)
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = cached
    # Callers may mutate what they get; the cached value must not change with them.
    return cached.model_copy(deep=True)


def clear_gguf_cache() -> None:
    """Forget cached results (tests, or after a file was replaced in place)."""
    _CACHE.clear()


def _stat_file(p: Path) -> os.stat_result:
    try:
        stat = p.stat()
    except FileNotFoundError:
        raise GgufError(f"{p}: file not found") from None
    except OSError as err:
        raise GgufError(f"{p}: cannot read file: {err.strerror or err}") from err
    if p.is_dir():
        raise GgufError(f"{p}: is a directory, not a GGUF file")
    if stat.st_size == 0:
        raise GgufError(f"{p}: file is empty (0 bytes); an interrupted download?")
    return stat


def _check_header(p: Path, size: int) -> None:
    """Reject non-GGUF files by their first bytes, with a hint about what they are."""
    try:
        with p.open("rb") as fh:
            head = fh.read(64)
    except OSError as err:
        raise GgufError(f"{p}: cannot read file: {err.strerror or err}") from err
    if not head.startswith(GGUF_MAGIC):
        raise GgufError(f"{p}: not a GGUF file ({_describe_foreign(head)})")
    if size < 24:
        raise GgufError(f"{p}: truncated GGUF file: {size} bytes is shorter than the header")
    (version,) = struct.unpack_from("<I", head, 4)
    if version not in SUPPORTED_VERSIONS and _byteswap32(version) not in SUPPORTED_VERSIONS:
        raise GgufError(
            f"{p}: unsupported GGUF version {version} (supported: "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}); re-convert the model"
        )


def _byteswap32(value: int) -> int:
    return int.from_bytes(value.to_bytes(4, "little"), "big")


def _describe_foreign(head: bytes) -> str:
    if head.startswith(b"version https://git-lfs"):
        return "it is a Git LFS pointer; the model was not downloaded with LFS"
    if head.lstrip()[:1] == b"<":
        return "it looks like an HTML/XML page, probably an error page saved as the model"
    if head[:4] in (b"lmgg", b"fmgg", b"tjgg"):
        return "it is a legacy GGML/GGJT model; convert it to GGUF"
    if head.startswith(b"PK\x03\x04"):
        return "it is a ZIP archive, e.g. a PyTorch checkpoint"
    if len(head) >= 9 and head[8:9] == b"{":
        return "it looks like a safetensors file; convert it to GGUF"
    return f"wrong magic {head[:4]!r}, expected {GGUF_MAGIC!r}"


def _open_reader(p: Path, size: int) -> GGUFReader:
    try:
        return GGUFReader(p)
    except OSError as err:
        raise GgufError(f"{p}: cannot read file: {err.strerror or err}") from err
    except MemoryError as err:
        raise GgufError(f"{p}: cannot map file into memory ({size} bytes)") from err
    except _PARSE_ERRORS as err:
        # GGUFReader views every tensor's data, so a cut-off download fails here
        # even when the metadata at the front is intact. numpy's wording ("cannot
        # reshape array") would only confuse; it stays available as __cause__.
        raise GgufError(
            f"{p}: truncated or corrupt GGUF file ({size} bytes): its metadata or tensor "
            "data runs past the end of the file or is malformed; an interrupted download? "
            "Delete it and download it again"
        ) from err


def _parse(p: Path, size: int) -> GgufInfo:
    reader = _open_reader(p, size)
    try:
        return _extract(p, size, reader)
    except _PARSE_ERRORS as err:
        raise GgufError(f"{p}: malformed GGUF metadata: {err}") from err


def _extract(p: Path, size: int, reader: GGUFReader) -> GgufInfo:
    arch = _model_architecture(p, reader)
    if not reader.tensors:
        raise GgufError(f"{p}: contains no tensors (a vocabulary-only GGUF?), not a model")
    end = max(int(t.data_offset) + int(t.n_bytes) for t in reader.tensors)
    if end > size:
        raise GgufError(f"{p}: truncated: tensor data ends at byte {end} but the file has {size}")

    sizes = _tensor_sizes(p, reader, _int(reader, f"{arch}.block_count"))
    n_embd = _int(reader, f"{arch}.embedding_length")
    n_head = _int(reader, f"{arch}.attention.head_count")
    n_head_kv = _int(reader, f"{arch}.attention.head_count_kv") or n_head
    fallback_dim = n_embd // n_head if n_embd and n_head else None
    head_dim_k = _int(reader, f"{arch}.attention.key_length") or fallback_dim
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    return GgufInfo(
        path=str(p),
        architecture=arch,
        name=_str(reader, "general.name"),
        n_layers=len(sizes.layers),
        context_length=_int(reader, f"{arch}.context_length"),
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=n_head_kv,
        head_dim_k=head_dim_k,
        head_dim_v=_int(reader, f"{arch}.attention.value_length") or head_dim_k,
        file_type=_file_type(reader),
        file_size=size,
        layer_bytes=sizes.layers,
        output_bytes=sizes.output,
        token_embd_bytes=sizes.token_embd,
        other_bytes=sizes.other,
        tied_embeddings=sizes.tied,
        has_chat_template=any(k.startswith("tokenizer.chat_template") for k in reader.fields),
        fim_tokens=_fim_tokens(reader, tokens),
        vocab_size=_int(reader, f"{arch}.vocab_size")
        or (len(tokens.data) if tokens is not None else None)
        or sizes.vocab_from_shape,
    )


def _model_architecture(p: Path, reader: GGUFReader) -> str:
    """general.architecture, after ruling out GGUFs that hold something other than a model."""
    arch = _str(reader, "general.architecture")
    gtype = _str(reader, "general.type")
    if gtype == "adapter" or "adapter.type" in reader.fields:
        raise GgufError(f"{p}: is a LoRA adapter GGUF, not a model")
    if gtype == "mmproj" or arch == "clip":
        raise GgufError(f"{p}: is a multimodal projector (mmproj), not a language model")
    if not arch:
        raise GgufError(f"{p}: has no general.architecture key; not a llama.cpp model file")
    return arch


class _Sizes(BaseModel):
    layers: list[int]
    output: int
    token_embd: int
    other: int
    tied: bool
    vocab_from_shape: int | None


def _tensor_sizes(p: Path, reader: GGUFReader, block_count: int | None) -> _Sizes:
    per_layer: dict[int, int] = {}
    output = token_embd = other = 0
    has_output_weight = False
    vocab_from_shape: int | None = None
    for t in reader.tensors:
        n_bytes = int(t.n_bytes)
        layer = _block_index(t.name)
        if layer is not None:
            per_layer[layer] = per_layer.get(layer, 0) + n_bytes
        elif t.name in OUTPUT_TENSORS:
            output += n_bytes
            has_output_weight |= t.name == "output.weight"
        elif t.name == "token_embd.weight":
            token_embd = n_bytes
            # GGUF stores dims fastest-first: (n_embd, n_vocab).
            vocab_from_shape = int(t.shape[-1]) if len(t.shape) == 2 else None
        else:
            other += n_bytes
    # block_count is authoritative, but a file with extra blk.N tensors (e.g.
    # next-token-prediction layers) must not lose their bytes.
    n_layers = max(block_count or 0, max(per_layer, default=-1) + 1)
    if n_layers == 0:
        raise GgufError(f"{p}: has no transformer layers (no blk.N.* tensors), not a model")
    tied = not has_output_weight and token_embd > 0
    return _Sizes(
        layers=[per_layer.get(i, 0) for i in range(n_layers)],
        output=output + (token_embd if tied else 0),
        token_embd=token_embd,
        other=other,
        tied=tied,
        vocab_from_shape=vocab_from_shape,
    )


def _block_index(name: str) -> int | None:
    if not name.startswith("blk."):
        return None
    index = name.split(".", 2)[1]
    return int(index) if index.isdigit() else None


def _file_type(reader: GGUFReader) -> str | None:
    raw = _int(reader, "general.file_type")
    if raw is not None and (name := file_type_name(raw)) is not None:
        return name
    # Without the key, name the file after its dominant 2-D weight type, as
    # llama.cpp's own guess does.
    counts: dict[str, int] = {}
    for t in reader.tensors:
        if _block_index(t.name) is not None and len(t.shape) >= 2:
            counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else None


def _fim_tokens(reader: GGUFReader, tokens: ReaderField | None) -> dict[str, int]:
    """FIM marker ids by role; empty unless prefix, suffix and middle all exist."""
    n_vocab = len(tokens.data) if tokens is not None else None
    found: dict[str, int] = {}
    for role, keys in FIM_TOKEN_KEYS.items():
        for key in keys:
            value = _int(reader, key)
            if value is not None and value >= 0 and (n_vocab is None or value < n_vocab):
                found[role] = value
                break
    missing = {role for role in FIM_TOKEN_TEXTS if role not in found}
    if tokens is None or not missing:
        return found
    wanted = {text.encode(): role for role in missing for text in FIM_TOKEN_TEXTS[role]}
    lengths = {len(b) for b in wanted}
    # Compare sizes before bytes: converting all 150k memmap views to bytes is
    # what would make this slow, and almost none have a candidate's length.
    for token_id, part_index in enumerate(tokens.data):
        part = tokens.parts[part_index]
        if part.size in lengths:
            role = wanted.get(part.tobytes())
            if role is not None and role not in found:
                found[role] = token_id
    if not found.keys() >= CORE_FIM_ROLES:
        # Without the prefix/suffix/middle triple a model cannot do FIM; its stray
        # repo or file markers (SmolLM2 has <reponame>) must not make it look capable.
        return {}
    return {role: found[role] for role in FIM_TOKEN_TEXTS if role in found}


def _value(reader: GGUFReader, key: str) -> Any:
    field = reader.fields.get(key)
    if field is None or not field.types:
        return None
    if field.types[0] == GGUFValueType.ARRAY and len(field.data) > 4096:
        # Only small per-layer arrays are wanted here; never decode a vocabulary.
        return None
    return field.contents()


def _str(reader: GGUFReader, key: str) -> str | None:
    value = _value(reader, key)
    return value if isinstance(value, str) else None


def _int(reader: GGUFReader, key: str) -> int | None:
    """An integer key; per-layer arrays collapse to their maximum (the safe bound)."""
    value = _value(reader, key)
    if isinstance(value, list):
        value = max((v for v in value if isinstance(v, int | float)), default=None)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)
