"""Remote (OpenAI-compatible) entries in models.toml: what is required and what is refused."""

from __future__ import annotations

import pytest

from codehearth.models.manifest import ManifestError, parse_manifest
from codehearth.models.resolve import ModelNotFound, resolve_model_path


def _entry(body: str):
    return parse_manifest(f"[models.team]\n{body}", "models.toml").models["team"]


def test_remote_entry_builds_the_client_config() -> None:
    entry = _entry(
        'backend = "openai"\nbase_url = "http://gpu-box:8080/v1"\n'
        'remote_model = "qwen2.5-coder-7b"\napi_key_env = "TEAM_KEY"\ncontext = 8192\n'
    )
    config = entry.remote_config()
    assert entry.source_kind == "remote"
    assert (config.api_url, config.model, config.api_key_env) == (
        "http://gpu-box:8080/v1",
        "qwen2.5-coder-7b",
        "TEAM_KEY",
    )
    assert config.context == 8192
    with pytest.raises(ModelNotFound, match="remote engine"):
        resolve_model_path(entry)


def test_remote_model_name_defaults_to_the_entry_name() -> None:
    entry = _entry('backend = "openai"\nbase_url = "http://127.0.0.1:8080"\n')
    assert entry.remote_config().model == "team"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('backend = "openai"\n', "needs base_url"),
        ('backend = "openai"\nbase_url = "gpu-box:8080"\n', "http(s) URL"),
        ('backend = "openai"\nbase_url = "http://h/v1"\npath = "x.gguf"\n', "no local file"),
        ('backend = "openai"\nbase_url = "http://h/v1"\napi_key_env = "sk-123 abc"\n', "name of"),
        ('base_url = "http://h/v1"\npath = "x.gguf"\n', 'needs backend = "openai"'),
    ],
)
def test_bad_remote_entries_name_the_problem(body: str, message: str) -> None:
    with pytest.raises(ManifestError, match=r"models\.team") as info:
        _entry(body)
    assert message in str(info.value)
