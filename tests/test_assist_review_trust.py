"""Review honesty through the real service: grounding applied, severities capped and the
small-model notice said once (result and CLI), unless the manifest trusts the model."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pytest

from codehearth.assist.grounding import SMALL_MODEL_NOTICE
from codehearth.assist.payloads import ReviewArgs, SamplingOverride
from codehearth.assist.review import document_target
from codehearth.assist.service import AssistService
from codehearth.cli.assist import add_subcommands
from codehearth.context.documents import DocumentStore
from codehearth.models.manifest import parse_manifest

CODE = """import os


def read_config(path):
    with open(path) as handle:
        return eval(handle.read())


def average(values):
    return sum(values) / len(values)
"""
URI = "file:///w/config_tools.py"


def _target():
    snap = DocumentStore().open(URI, "python", 1, CODE).snapshot()
    return document_target(snap, 0, snap.line_count - 1)


def _answer(*findings: dict) -> str:
    return json.dumps({"findings": list(findings)})


ANSWER = _answer(
    {"line": 1, "severity": "error", "message": "The function does not handle errors."},
    {"line": 6, "severity": "error", "message": "`eval` runs any code the file holds"},
    {"line": 10, "severity": "error", "message": "divides by zero", "replacement": "x"},
    {"line": 10, "severity": "hint", "message": "values could be typed"},
    {"line": 40, "severity": "error", "message": "no such line"},
    {"line": "x", "severity": "error", "message": "invalid"},
)


def test_an_untrusted_model_keeps_only_grounded_findings_capped_at_warning(caplog) -> None:
    service = AssistService(None, None)
    with caplog.at_level(logging.INFO, logger="codehearth.assist.service"):
        kept, reasons = service._checked_findings(ANSWER, _target(), reviewed_lines=11)
    assert [(p.first, p.finding.severity) for p in kept] == [(5, "warning"), (9, "hint")]
    assert sorted(reasons) == ["invalid", "misplaced", "no_anchor", "unrelated_fix"]


def test_a_trusted_model_keeps_its_severities_but_not_its_ungrounded_findings() -> None:
    service = AssistService(None, None, reviews_reliably=True)
    kept, reasons = service._checked_findings(ANSWER, _target(), reviewed_lines=11)
    assert [(p.first, p.finding.severity) for p in kept] == [(5, "error"), (9, "hint")]
    assert len(reasons) == 4


def test_the_manifest_knob_is_off_unless_a_model_says_so() -> None:
    manifest = parse_manifest(
        '[models.a]\npath = "a.gguf"\n[models.b]\npath = "b.gguf"\nreviews_reliably = true\n',
        "test",
    )
    assert not manifest.models["a"].reviews_reliably
    assert manifest.models["b"].reviews_reliably


@pytest.mark.parametrize("trusted", [False, True])
async def test_a_real_review_says_once_whether_to_trust_it(engine, trusted: bool) -> None:
    service = AssistService(engine, None, reviews_reliably=trusted)
    args = ReviewArgs(uri=URI, sampling=SamplingOverride(temperature=0.0, max_tokens=96))
    outcome = await service.review(args, _target(), f"review:{URI}", service.begin(None))
    assert outcome.notice == (None if trusted else SMALL_MODEL_NOTICE)
    assert outcome.dropped == sum(outcome.dropped_reasons.values())
    if not trusted:
        assert all(p.finding.severity != "error" for p in outcome.placed)


def test_cli_review_prints_the_notice_once(tmp_path: Path, capsys) -> None:
    source = tmp_path / "config_tools.py"
    source.write_text(CODE)
    parser = argparse.ArgumentParser(prog="codehearth")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-level", default="warning")
    add_subcommands(parser.add_subparsers(dest="command", required=True), common)
    for extra in ([], ["--json"]):
        argv = ["review", str(source), "--temperature", "0", "--max-tokens", "96", *extra]
        args = parser.parse_args(argv)
        assert args.func(args) == 0
        out, err = capsys.readouterr()
        if extra:
            report = json.loads(out)
            assert report["notice"] == SMALL_MODEL_NOTICE
            assert report["dropped"] == sum(report["dropped_reasons"].values())
            assert all(f["severity"] != "error" for f in report["findings"])
        else:
            assert (out + err).count(SMALL_MODEL_NOTICE) == 1
            assert f"{source}: note: {SMALL_MODEL_NOTICE}" in err
            assert ": error: " not in out
