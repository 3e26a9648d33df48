"""Write Qwen2.5-Coder-shaped GGUF models with random weights, on the machine that measures.

VRAM and per-token cost depend on tensor shapes and types, not on weight values, so a file
with the real shapes of a manifest model, quantised the way its Q4_K_M file is, loads and
runs like the real one without carrying gigabytes of weights. Blocks are filled with random
bytes under a small fixed scale, so every weight is finite. The vocabulary is the test
fixtures' byte-level BPE with Qwen's special tokens (FIM included), padded to the real size.

    python -m benchmarks.gpu.ggufgen --shape 1.5b --out /tmp/qwen-1.5b.gguf
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Literal

import gguf
import numpy as np
from pydantic import BaseModel
from tests.fixtures.tiny_gguf import FAMILIES, _bpe_vocab

Quant = Literal["Q4_K_M", "Q8_0", "F16"]
Q = gguf.GGMLQuantizationType


class ModelShape(BaseModel):
    """A model's transformer shape (its config.json), as llama.cpp's qwen2 arch reads it."""

    name: str
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    n_ff: int
    n_vocab: int
    context: int = 32768
    tied: bool = False


# The manifest's Qwen2.5-Coder models (config.json of each), and small stand-ins with the
# same structure for the CPU dry run.
SHAPES: dict[str, ModelShape] = {
    "1.5b": ModelShape(
        name="qwen2.5-coder-1.5b-shaped", n_layer=28, n_embd=1536, n_head=12, n_head_kv=2,
        n_ff=8960, n_vocab=151936, tied=True,
    ),
    "7b": ModelShape(
        name="qwen2.5-coder-7b-shaped", n_layer=28, n_embd=3584, n_head=28, n_head_kv=4,
        n_ff=18944, n_vocab=152064,
    ),
    "1.5b-dry": ModelShape(
        name="qwen2.5-coder-1.5b-dry", n_layer=4, n_embd=256, n_head=4, n_head_kv=2,
        n_ff=512, n_vocab=1024, context=8192, tied=True,
    ),
    "7b-dry": ModelShape(
        name="qwen2.5-coder-7b-dry", n_layer=6, n_embd=512, n_head=8, n_head_kv=2,
        n_ff=1024, n_vocab=1024, context=8192,
    ),
}  # fmt: skip

_FILE_TYPES = {
    "Q4_K_M": gguf.LlamaFileType.MOSTLY_Q4_K_M,
    "Q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
    "F16": gguf.LlamaFileType.MOSTLY_F16,
}
# Fixed bytes written into every block so weights are zero-mean and about +-0.03, like a
# freshly initialised model: (offset, bytes). Q4_K: d, dmin = 7.5 d and all eight 6-bit
# sub-block scales and mins = 1, so w = d * (q - 7.5); Q6_K: scales = 1 and d, so
# w = d * (q - 32); Q8_0: d, so w = d * q.
_F16 = np.float16
_FIXED: dict[Q, tuple[tuple[int, bytes], ...]] = {
    Q.Q4_K: (
        (0, _F16(0.004).tobytes() + _F16(0.03).tobytes()),
        (4, bytes([1] * 8 + [0x11] * 4)),
    ),
    Q.Q6_K: ((192, bytes([1] * 16) + _F16(0.001).tobytes()),),
    Q.Q8_0: ((0, _F16(0.00025).tobytes()),),
}


def _more_bits(layer: int, n_layer: int) -> bool:
    """llama.cpp's Q4_K_M rule for attn_v / ffn_down: Q6_K in these layers."""
    eighth = n_layer // 8
    return layer < eighth or layer >= 7 * n_layer // 8 or (layer - eighth) % 3 == 2


def tensor_type(name: str, layer: int | None, shape: ModelShape, quant: Quant) -> Q:
    if quant == "F16":
        return Q.F16
    if quant == "Q8_0":
        return Q.Q8_0
    is_output = name == "output.weight" or (shape.tied and name == "token_embd.weight")
    if is_output:
        return Q.Q6_K
    if layer is not None and name.endswith(("attn_v.weight", "ffn_down.weight")):
        return Q.Q6_K if _more_bits(layer, shape.n_layer) else Q.Q4_K
    return Q.Q4_K


class _Pools:
    """One random buffer per type, sliced for every tensor: the writer keeps views, not copies."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        self._pools: dict[Q, np.ndarray] = {}

    def data(self, qtype: Q, rows: int, cols: int) -> np.ndarray:
        if qtype == Q.F16:
            flat = self._take(qtype, rows * cols)
            return flat.reshape(rows, cols)
        block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
        if cols % block_elems:
            raise ValueError(f"{cols} columns do not split into {qtype.name} blocks")
        row_bytes = cols // block_elems * block_bytes
        return self._take(qtype, rows * row_bytes).reshape(rows, row_bytes)

    def _take(self, qtype: Q, n: int) -> np.ndarray:
        pool = self._pools.get(qtype)
        if pool is None or pool.size < n:
            pool = self._make(qtype, n)
            self._pools[qtype] = pool
        return pool[:n]

    def _make(self, qtype: Q, n: int) -> np.ndarray:
        if qtype == Q.F16:
            return (self._rng.standard_normal(n, dtype=np.float32) * 0.02).astype(np.float16)
        _, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
        blocks = self._rng.integers(
            0, 256, size=(-(-n // block_bytes), block_bytes), dtype=np.uint8
        )
        for offset, fixed in _FIXED[qtype]:
            blocks[:, offset : offset + len(fixed)] = np.frombuffer(fixed, np.uint8)
        return blocks.reshape(-1)


def _vocab(n_vocab: int) -> tuple[list[str], list[str], list[int], dict[str, int]]:
    """Byte-level BPE + Qwen specials + padding to n_vocab: (tokens, merges, types, ids)."""
    spec = FAMILIES["qwen2.5-coder"]
    tokens, merges = _bpe_vocab()
    types = [gguf.TokenType.NORMAL] * len(tokens)
    tokens += spec.specials
    types += [gguf.TokenType.CONTROL] * len(spec.specials)
    if n_vocab < len(tokens):
        raise ValueError(f"n_vocab {n_vocab} is smaller than the base vocabulary {len(tokens)}")
    pad = n_vocab - len(tokens)
    tokens += [f"[PAD{i}]" for i in range(pad)]
    types += [gguf.TokenType.NORMAL] * pad
    return tokens, merges, types, {t: i for i, t in enumerate(tokens)}


def _add_metadata(w: gguf.GGUFWriter, shape: ModelShape, quant: Quant) -> None:
    w.add_name(shape.name)
    w.add_context_length(shape.context)
    w.add_embedding_length(shape.n_embd)
    w.add_block_count(shape.n_layer)
    w.add_feed_forward_length(shape.n_ff)
    w.add_head_count(shape.n_head)
    w.add_head_count_kv(shape.n_head_kv)
    w.add_rope_freq_base(1_000_000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(_FILE_TYPES[quant])
    tokens, merges, types, ids = _vocab(shape.n_vocab)
    spec = FAMILIES["qwen2.5-coder"]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(ids[spec.bos])
    w.add_eos_token_id(ids[spec.eos])
    w.add_eot_token_id(ids[spec.eot])
    w.add_add_bos_token(False)


def _add_tensors(w: gguf.GGUFWriter, shape: ModelShape, quant: Quant, pools: _Pools) -> None:
    e, ff = shape.n_embd, shape.n_ff
    kv = e // shape.n_head * shape.n_head_kv

    def matrix(name: str, rows: int, cols: int, layer: int | None = None) -> None:
        qtype = tensor_type(name, layer, shape, quant)
        data = pools.data(qtype, rows, cols)
        w.add_tensor(name, data, raw_dtype=None if qtype == Q.F16 else qtype)

    def vector(name: str, n: int, value: float) -> None:
        w.add_tensor(name, np.full(n, value, dtype=np.float32))

    # numpy shapes are (out, in); gguf stores them reversed, as ggml's (ne0=in, ne1=out).
    matrix("token_embd.weight", shape.n_vocab, e)
    vector("output_norm.weight", e, 1.0)
    if not shape.tied:
        matrix("output.weight", shape.n_vocab, e)
    for i in range(shape.n_layer):
        blk = f"blk.{i}."
        vector(blk + "attn_norm.weight", e, 1.0)
        matrix(blk + "attn_q.weight", e, e, i)
        vector(blk + "attn_q.bias", e, 0.0)
        matrix(blk + "attn_k.weight", kv, e, i)
        vector(blk + "attn_k.bias", kv, 0.0)
        matrix(blk + "attn_v.weight", kv, e, i)
        vector(blk + "attn_v.bias", kv, 0.0)
        matrix(blk + "attn_output.weight", e, e, i)
        vector(blk + "ffn_norm.weight", e, 1.0)
        matrix(blk + "ffn_gate.weight", ff, e, i)
        matrix(blk + "ffn_up.weight", ff, e, i)
        matrix(blk + "ffn_down.weight", e, ff, i)


def write_model(path: Path, shape: ModelShape, quant: Quant = "Q4_K_M", seed: int = 0) -> Path:
    """Write a qwen2-architecture GGUF with `shape` and random `quant` weights to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(path, arch="qwen2")
    _add_metadata(writer, shape, quant)
    _add_tensors(writer, shape, quant, _Pools(seed))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), required=True)
    parser.add_argument("--quant", choices=sorted(_FILE_TYPES), default="Q4_K_M")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    started = time.monotonic()
    path = write_model(args.out, SHAPES[args.shape], args.quant)
    size = path.stat().st_size / 2**20
    print(f"{path}: {size:.1f} MiB in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
