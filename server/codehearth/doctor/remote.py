"""`codehearth doctor` for a remote model: is the configured engine there, and what is it."""

from __future__ import annotations

from typing import Literal

from ..models.listing import source_label
from ..models.manifest import ModelEntry, Role
from ..remote.config import RemoteError
from ..remote.openai_compat import OpenAICompatClient
from .payloads import ModelCheck, Problem


def check_remote(entry: ModelEntry, role: Role) -> tuple[ModelCheck, list[Problem]]:
    """Ask the configured engine what it is (the one connection doctor makes, and only
    to the URL the user configured)."""
    check = ModelCheck(
        name=entry.name, roles=[role], source=source_label(entry), present=True, summary=""
    )
    try:
        with OpenAICompatClient(entry.remote_config()) as client:
            info = client.probe()
            counter = client.token_counter
    except RemoteError as exc:
        check.problem = check.summary = str(exc)
        severity: Literal["error", "warning"] = "error" if role == "completion" else "warning"
        fix = (
            "Start the engine or fix base_url / remote_model / api_key_env in the manifest. "
            "codehearth never falls back to another engine."
        )
        return check, [Problem(severity=severity, message=str(exc), fix=fix)]
    check.summary = (
        f"{info.server} at {entry.base_url}: model {entry.remote_model or entry.name} ok, "
        f"context {info.n_ctx or entry.context}, FIM via {info.fim_route}, "
        f"token counts from {'the engine' if counter == 'engine' else 'an estimate'}"
    )
    return check, []
