"""What `codehearth ps` reports about the shared engine: its models, its editors, and
the decoding sequences each editor holds in a model (their KV size and what they do)."""

from __future__ import annotations

from pydantic import BaseModel


class PsSequence(BaseModel):
    """One llama.cpp sequence of a model: whose it is, how much KV it holds, its state."""

    seq_id: int
    slot: str | None = None
    owner: str | None = None
    state: str = "idle"
    tokens: int = 0
    kv_bytes: int = 0
    idle_s: float = 0.0


class PsModel(BaseModel):
    """One resident model of the shared engine, as `codehearth ps` shows it."""

    name: str | None
    state: str
    error: str | None = None
    gpu_layers: int | None = None
    n_ctx: int | None = None
    vram_bytes: int | None = None
    requests: int = 0
    clients: int = 0
    # Parallel sequences of one llama.cpp context (empty for a one-sequence engine).
    parallel: int = 1
    sequences: list[PsSequence] = []


class PsClient(BaseModel):
    """One editor attached to the shared engine."""

    id: int
    relay_pid: int | None = None
    editor_pid: int | None = None
    model: str | None = None
    documents: int = 0
    connected_s: float = 0.0
    # The runtime's client id: what its sequences' `owner` says.
    client_id: str | None = None


class PsReport(BaseModel):
    pid: int
    socket: str
    uptime_s: float
    idle_timeout_s: float
    rss_bytes: int | None = None
    models: list[PsModel]
    clients: list[PsClient]
