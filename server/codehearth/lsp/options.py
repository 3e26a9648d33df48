"""Server options: command-line flags merged with the editor's initializationOptions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from ..completion.settings import CompletionSettings


class InitOptions(BaseModel):
    """What an editor may send in initializationOptions (camelCase or snake_case keys)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    manifest: str | None = None
    model: str | None = None
    context: int | None = Field(None, ge=256, le=1_048_576)
    n_gpu_layers: int | None = Field(None, ge=-1)
    n_threads: int | None = Field(None, ge=1, le=1024)
    completion: CompletionSettings = Field(default_factory=CompletionSettings)
    # Off by default: user code never reaches the logs unless asked for.
    log_content: bool = False


class ServeOptions(InitOptions):
    """The same knobs from the command line; initializationOptions win over them."""

    @classmethod
    def from_args(cls, args: Any, **extra: Any) -> ServeOptions:
        """From the model flags every subcommand shares (cli._add_model_args)."""
        return cls(
            manifest=args.manifest,
            model=args.model,
            context=args.context,
            n_gpu_layers=args.n_gpu_layers,
            n_threads=args.threads,
            **extra,
        )

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
