"""A loaded model's vocabulary through llama.cpp's public C API (no llama-cpp-python
internals): token texts, BOS/EOS, control-token spellings, EOG, FIM markers."""

from __future__ import annotations

from typing import Any

import llama_cpp

from .fim import FimTemplate, detect_fim


class Vocab:
    """The vocabulary of one llama_cpp.Llama; used only on the engine's worker thread."""

    def __init__(self, llm: llama_cpp.Llama) -> None:
        self._llm = llm
        self.ptr: Any = llama_cpp.llama_model_get_vocab(llm.model)
        self._control: frozenset[str] | None = None

    def text(self, token: int) -> str:
        """The token's spelling ("" for an id the vocabulary does not know)."""
        if token < 0 or token >= llama_cpp.llama_vocab_n_tokens(self.ptr):
            return ""
        raw = llama_cpp.llama_vocab_get_text(self.ptr, token) or b""
        return raw.decode("utf-8", errors="ignore")

    def bos(self) -> int | None:
        token = int(llama_cpp.llama_vocab_bos(self.ptr))
        return token if token >= 0 else None

    def eos(self) -> int | None:
        token = int(llama_cpp.llama_vocab_eos(self.ptr))
        return token if token >= 0 else None

    def add_bos(self) -> bool:
        return bool(llama_cpp.llama_vocab_get_add_bos(self.ptr))

    def is_eog(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.ptr, token))

    def control_texts(self) -> frozenset[str]:
        """Spellings of the control and user-defined tokens (computed once)."""
        if self._control is None:
            wanted = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
            texts = set()
            for token in range(llama_cpp.llama_vocab_n_tokens(self.ptr)):
                if llama_cpp.llama_vocab_get_attr(self.ptr, token) & wanted:
                    text = self.text(token)
                    if len(text) > 1:
                        texts.add(text)
            self._control = frozenset(texts)
        return self._control

    def detect_fim(self) -> FimTemplate | None:
        """:func:`fim.detect_fim` against this vocabulary's FIM token ids."""
        ptr = self.ptr
        fim_ids = (
            int(llama_cpp.llama_vocab_fim_pre(ptr)),
            int(llama_cpp.llama_vocab_fim_suf(ptr)),
            int(llama_cpp.llama_vocab_fim_mid(ptr)),
        )

        def has_token(text: str) -> bool:
            tokens = self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
            return len(tokens) == 1 and self.text(tokens[0]) == text

        return detect_fim(fim_ids, self.text, has_token)


def detect_fim_from_llama(llm: llama_cpp.Llama) -> FimTemplate | None:
    """:func:`fim.detect_fim` for a loaded model (``vocab_only=True`` suffices)."""
    return Vocab(llm).detect_fim()
