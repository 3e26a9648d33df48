"""Every option codehearth takes, once: a pydantic field with its description, default and bounds.

Below every other layer (it imports nothing of codehearth), so the language server, the
CLI, the shared engine and the benchmarks read one schema. What is derived from it:

* the command-line flags of the model options (`add_model_flags`, `options_from_args`):
  each field of `ModelOptions` names its flag in `json_schema_extra`;
* `initializationOptions` (camelCase or snake_case keys): `InitOptions` itself;
* the option table of docs/protocol.md (`options_table()`; a test keeps the two equal,
  `python -m codehearth.config` prints it).

A manifest's per-model knobs (sampling, context, FIM template) live with the manifest
(models/manifest.py): they describe a model, not a user's choice.
"""

from __future__ import annotations

import argparse
import types
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

_CAMEL = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class CompletionSettings(BaseModel):
    """How inline completion behaves; `completion.*` in initializationOptions."""

    model_config = _CAMEL

    multiline: Literal["auto", "never", "always"] = Field(
        "auto", description="auto = multi-line only at an empty line (Copilot-like)"
    )
    max_tokens_single: int = Field(
        32, ge=1, le=4096, description="new tokens for a mid-line suggestion"
    )
    max_tokens_multi: int = Field(96, ge=1, le=4096, description="new tokens for a block")
    temperature: float | None = Field(
        None, ge=0.0, le=5.0, description="overrides the manifest's sampling temperature"
    )
    max_prompt_tokens: int = Field(
        1536, ge=64, description="token budget of prefix + suffix + extra context"
    )
    max_lines_before: int = Field(128, ge=1, description="line cap of the window above")
    max_lines_after: int = Field(32, ge=0, description="line cap of the window below")

    # -- answering without the model, budgets and gating (completion/cache.py, inflight.py,
    # speculate.py): typing along a shown suggestion, the suggestion cache, reuse of the
    # generation in flight, speculation while idle.
    time_budget_ms: int = Field(
        500,
        ge=0,
        le=60_000,
        description="generation time after which the text so far is returned "
        "(whole lines of a block); 0 = no limit",
    )
    first_time_budget_ms: int = Field(
        250,
        ge=0,
        le=60_000,
        description="the same for the first completion of a session (its prompt is the "
        "long one); 0 = no limit",
    )
    max_line_suffix: int = Field(
        8,
        ge=0,
        description="no automatic suggestion when more than this many non-blank characters "
        "follow the cursor on its line (an explicit request always answers)",
    )
    cache_size: int = Field(
        250,
        ge=0,
        le=100_000,
        description="suggestions remembered per editor (LRU) for typing along and "
        "returning to a spot; 0 = always ask the model",
    )
    look_back: int = Field(
        128,
        ge=0,
        le=4096,
        description="typed characters looked back over to find the suggestion they continue",
    )
    reuse_in_flight: bool = Field(
        True,
        description="a keystroke that continues the text being generated waits for that "
        "generation instead of restarting it",
    )
    early_answer_ms: int = Field(
        100,
        ge=0,
        le=10_000,
        description="while the user types fast (automatic requests under 400 ms apart), "
        "answer after this long with the whole words generated so far if the generation "
        "is still running; it goes on into the cache for the keys that follow; 0 = wait "
        "for the whole suggestion",
    )
    speculate: bool = Field(
        True,
        description="while idle, compute the suggestion for 'the shown one accepted' "
        "(dropped as soon as real work arrives)",
    )


# -- cross-file context: other files of the workspace in the prompt ------------------------


class ProjectSettings(BaseModel):
    """Context from other files of the workspace in completion prompts; `project.*` in
    initializationOptions. Only files under the workspace folders the editor announced
    are read, never ones the repository ignores or that look like secrets."""

    model_config = _CAMEL

    enabled: bool = Field(True, description="put context from other workspace files in prompts")
    imports: bool = Field(
        True, description="definitions of the names a file imports from other workspace files"
    )
    open_files: bool = Field(
        True, description="chunks of other open documents and recently edited regions"
    )
    max_tokens: int = Field(
        1024, ge=0, le=65536, description="token budget of the cross-file block"
    )
    ring_chunks: int = Field(16, ge=0, le=64, description="chunks the ring of open files keeps")
    chunk_lines: int = Field(32, ge=8, le=512, description="lines per ring chunk")
    exclude: list[str] = Field(
        default_factory=list,
        description="glob patterns (workspace-relative, e.g. `docs/**`) of files never read",
    )
    max_file_bytes: int = Field(
        262_144, ge=1024, description="files larger than this are never read"
    )
    max_total_bytes: int = Field(
        4_194_304, ge=1024, description="bytes read from disk for one block at most"
    )
    prewarm: bool = Field(
        True, description="evaluate a changed block into the KV cache while the user is idle"
    )
    prewarm_idle_ms: int = Field(
        1000, ge=0, le=60_000, description="idle time before pre-warming starts"
    )


# -- model options ------------------------------------------------------------------------


class ModelOptions(BaseModel):
    """Which model runs and how; the same knobs as command-line flags of every subcommand."""

    model_config = _CAMEL

    manifest: str | None = Field(
        None,
        description="path of a user models.toml added to the default manifest",
        json_schema_extra={"flag": "--manifest"},
    )
    model: str | None = Field(
        None,
        description='manifest model name for completion; "auto" picks the largest that fits',
        json_schema_extra={"flag": "--model"},
    )
    context: int | None = Field(
        None,
        ge=256,
        le=1_048_576,
        description="context window in tokens of each request (default: the manifest entry's)",
        json_schema_extra={"flag": "--context"},
    )
    n_gpu_layers: int | None = Field(
        None,
        ge=-1,
        description="layers to offload (-1 all, 0 CPU; default: the manifest's)",
        json_schema_extra={"flag": "--n-gpu-layers"},
    )
    n_threads: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="CPU threads for llama.cpp (default: all cores)",
        json_schema_extra={"flag": "--threads"},
    )


class InitOptions(ModelOptions):
    """What an editor may send in initializationOptions (camelCase or snake_case keys)."""

    completion: CompletionSettings = Field(default_factory=CompletionSettings)
    project: ProjectSettings = Field(default_factory=ProjectSettings)
    log_content: bool = Field(
        False, description="allow user code in debug logs (off: code never reaches the logs)"
    )


class ServeOptions(InitOptions):
    """The same knobs from the command line; initializationOptions win over them."""

    def merged_with(self, init: InitOptions | None) -> ServeOptions:
        if init is None:
            return self
        given = init.model_dump(exclude_unset=True)
        merged = self.model_dump()
        for key, value in given.items():
            if key == "completion":
                merged["completion"] = {**merged["completion"], **value}
            elif value is not None:
                merged[key] = value
        return ServeOptions.model_validate(merged)


# -- derived: command-line flags ------------------------------------------------------------


def _flag(info: FieldInfo) -> str:
    extra = info.json_schema_extra
    assert isinstance(extra, dict), "every ModelOptions field names its flag"
    return str(extra["flag"])


def _scalar_type(annotation: Any) -> type:
    """int for `int | None`, str for `str | None`."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0]
    return annotation


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    """--manifest, --model, --context, --n-gpu-layers, --threads: one per ModelOptions field."""
    for name, info in ModelOptions.model_fields.items():
        parser.add_argument(
            _flag(info),
            dest=name,
            type=_scalar_type(info.annotation),
            help=info.description,
        )


def options_from_args(args: argparse.Namespace, **extra: Any) -> ServeOptions:
    """ServeOptions from the flags add_model_flags made (absent flags stay unset)."""
    given = {name: getattr(args, name, None) for name in ModelOptions.model_fields}
    return ServeOptions(**given, **extra)


# -- derived: the option table of docs/protocol.md ------------------------------------------


def _type_name(annotation: Any) -> str:
    scalar = _scalar_type(annotation)
    if typing.get_origin(scalar) is Literal:
        return " \\| ".join(f'`"{v}"`' for v in typing.get_args(scalar))
    return {str: "string", int: "int", float: "float", bool: "bool"}.get(scalar, str(scalar))


def _rows(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for name, info in model.model_fields.items():
        key = prefix + to_camel(name)
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(_rows(annotation, key + "."))
            continue
        default = info.get_default(call_default_factory=True)
        meaning = info.description or ""
        if default is not None:
            shown = str(default).lower() if isinstance(default, bool) else default
            meaning += f" (default {shown})"
        rows.append((key, _type_name(annotation), meaning))
    return rows


def options_table() -> str:
    """The initializationOptions table, as docs/protocol.md shows it."""
    lines = ["| key | type | meaning |", "|---|---|---|"]
    lines += [f"| `{key}` | {kind} | {meaning} |" for key, kind, meaning in _rows(InitOptions)]
    return "\n".join(lines)


if __name__ == "__main__":
    print(options_table())
