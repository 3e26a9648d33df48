"""The session interface: everything a feature may ask of the model, local or remote.

A *session* is what engine jobs run against. Two implement this protocol: the in-process
llama.cpp `ModelSession` (engine/session.py) and the OpenAI-compatible `RemoteSession`
(remote/session.py). Features call `infill` for a completion and `chat` for a
conversation, and never ask which kind they hold; where a feature can do better with
tokens (chat templates rendered here, with control tokens kept out of user text), it asks
`capabilities.token_prompts` and uses the `TokenLevel` methods.

The payloads here (`InfillRequest`, `ChatPrompt`, `SessionInfo`) are what crosses the
boundary; llama_cpp types never do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from .control import GenerationControl
from .types import GenerationParams, GenerationStats


class Capabilities(BaseModel):
    """What a session can do beyond the common interface."""

    model_config = ConfigDict(frozen=True)

    # Prompts are token lists built here (chat templates, FIM markers as special tokens);
    # False: the engine takes text and templates it itself.
    token_prompts: bool
    # Several jobs may run against the session at once (it schedules its own work).
    concurrent: bool = False
    # Output can be constrained to a JSON schema.
    structured_output: bool = True


class RemoteStatus(BaseModel):
    """A remote engine as the status shows it; `error` is set while its requests fail."""

    url: str
    server: str
    model: str
    fim: str
    token_counter: str
    error: str | None = None


class SessionInfo(BaseModel):
    """Facts about the loaded model for the status, `ps` and the shared engine."""

    n_ctx: int
    fim: str | None = None
    quant: str | None = None
    total_layers: int | None = None
    remote: RemoteStatus | None = None


class ContextFile(BaseModel):
    """Another workspace file's text, shown to the model before the file being completed."""

    model_config = ConfigDict(frozen=True)

    path: str  # workspace-relative: the file's label
    text: str
    comment: str = "#"  # its language's line comment, for labels where no markers exist


class InfillRequest(BaseModel):
    """Text before and after the cursor; `extra` is context placed before the prefix.

    `files` is cross-file context: it goes first in the prompt, with the model's
    repo-level markers where its family has them (engine/infill.py), and changes only when
    its files do, so the KV cache keeps it between keystrokes. `path` labels the current
    file after them (`comment`: its language's line comment) and `repo` names the
    workspace; all three are unused without `files`."""

    prefix: str
    suffix: str = ""
    extra: str = ""
    files: tuple[ContextFile, ...] = ()
    path: str = ""
    comment: str = "#"
    repo: str = ""


class ChatMessageText(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: str
    content: str


class ChatPrompt(BaseModel):
    """A conversation ready to generate from: its tokens where the session builds token
    prompts, its messages where the engine templates for itself."""

    tokens: list[int] = []
    stop_ids: frozenset[int] = frozenset()
    messages: tuple[ChatMessageText, ...] = ()


InfillMode = Literal["fim", "prefix"]


@runtime_checkable
class Session(Protocol):
    """What engine jobs may call. Every method runs on an engine worker thread."""

    capabilities: Capabilities
    n_ctx: int
    n_ctx_train: int
    # Token count of a text (memoized); a remote engine may estimate.
    count_tokens: Callable[[str], int]
    on_stats: Callable[[GenerationStats], None] | None

    @property
    def infill_mode(self) -> InfillMode: ...

    def infill(
        self,
        request: InfillRequest,
        params: GenerationParams,
        control: GenerationControl,
        slot: str | None = None,
    ) -> tuple[str, GenerationStats]: ...

    def prewarm(
        self, request: InfillRequest, control: GenerationControl, slot: str | None = None
    ) -> int: ...

    def chat(
        self,
        prompt: ChatPrompt,
        params: GenerationParams,
        control: GenerationControl,
        *,
        continuation: str = "",
        json_schema: dict | None = None,
        slot: str | None = None,
    ) -> tuple[str, GenerationStats]: ...

    def describe(self) -> SessionInfo: ...

    def check_thread(self) -> None: ...

    def close(self) -> None: ...


class TokenLevel(Protocol):
    """What a session with `capabilities.token_prompts` adds: its vocabulary."""

    metadata: dict[str, str]

    def tokenize(self, text: str, *, special: bool = False, add_bos: bool = False) -> list[int]: ...

    def token_text(self, token: int) -> str: ...

    def bos_token(self) -> int | None: ...

    def eos_token(self) -> int | None: ...

    def control_token_texts(self) -> frozenset[str]: ...
