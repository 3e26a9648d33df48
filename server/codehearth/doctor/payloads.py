"""What `codehearth doctor` reports: one pydantic model per part of the report.

Apart from the checks so that the remote engine's check (doctor/remote.py) and the
report (doctor/__init__.py) share them without importing each other.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ..engine.build import LlamaBuild
from ..gpu.nvml import NvmlStatus
from ..gpu.planner import OffloadPlan
from ..models.manifest import Role

Severity = Literal["error", "warning", "note"]


class VramCheck(BaseModel):
    predicted_bytes: int
    measured_bytes: int
    # (predicted - measured) / measured: negative means the model took more than planned.
    error: float


class ModelCheck(BaseModel):
    """A default model: is its file here, and where would its layers go."""

    name: str
    roles: list[Role]
    source: str
    present: bool
    path: str | None = None
    plan: OffloadPlan | None = None
    summary: str
    problem: str | None = None
    vram: VramCheck | None = None


class Problem(BaseModel):
    severity: Severity
    message: str
    fix: str


class DoctorReport(BaseModel):
    usable: bool
    nvml: NvmlStatus
    llama: LlamaBuild
    manifest_sources: list[str] = Field(default_factory=list)
    manifest_error: str | None = None
    models: list[ModelCheck] = Field(default_factory=list)
    # What `model = "auto"` would pick for completion, with its reason.
    auto_completion: str | None = None
    problems: list[Problem] = Field(default_factory=list)
