"""Holes completed through the real completion path with SmolLM2; the testbed score."""

from __future__ import annotations

from codehearth.config import ServeOptions
from codehearth.evaluation.holes import select_holes
from codehearth.evaluation.runner import run_model
from codehearth.evaluation.sources import files_for
from codehearth.evaluation.testbed import Testbed, covering_tests, score_model


def _holes(count: int):
    return select_holes(files_for([], reference=True), count, seed="runner-test")


def test_two_runs_give_the_same_suggestions_and_scores():
    # The short Go files: small prompts keep this quick on two cores.
    small = [f for f in files_for([], reference=True) if f.project == "geom"]
    holes = select_holes(small, 3, seed="runner-test")
    options = ServeOptions(n_threads=2)
    first = run_model("smollm2-135m", holes, options)
    seen = []
    second = run_model("smollm2-135m", holes, options, on_hole=seen.append)
    assert first.status == second.status == "ok", (first.error, second.error)
    assert len(first.results) == len(holes) and len(seen) == len(holes)
    assert [r.suggestion for r in first.results] == [r.suggestion for r in second.results]
    assert [r.score for r in first.results] == [r.score for r in second.results]
    for result in first.results:
        assert result.error is None
        assert 0.0 <= result.score.edit_similarity <= 1.0
        assert result.latency_ms > 0 and result.cold_ms is not None
    assert first.peak_rss_bytes and first.peak_rss_bytes > 50 * 1024 * 1024
    assert first.device == "CPU" or first.device.startswith("GPU")
    assert first.tokens_per_second is None or first.tokens_per_second > 0


def test_a_model_that_cannot_load_is_a_failed_run(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF but not really a model" * 10)
    manifest = tmp_path / "models.toml"
    manifest.write_text(f'[models.broken]\npath = "{broken}"\n')
    run = run_model("broken", _holes(2), ServeOptions(manifest=str(manifest)))
    assert run.status == "failed" and run.results == []
    assert run.error and "broken" in run.error
    missing = run_model("no-such-model", _holes(2), ServeOptions())
    assert missing.status == "failed" and "not in the manifest" in (missing.error or "")


def test_testbed_baseline_scores_below_the_ceiling():
    holes = [h for h in _holes(40) if covering_tests(h)][:2]
    assert holes, "the reference ledger has tests that import its modules"
    assert all(covering_tests(h) == ["tests/test_ledger.py"] for h in holes)
    testbed = Testbed()
    try:
        perfect = score_model(testbed, holes, [h.expected for h in holes])
        empty = score_model(testbed, holes, ["" for _ in holes])
    finally:
        testbed.close()
    assert perfect.holes == empty.holes == len(holes)
    assert perfect.baseline_passed < perfect.ceiling_passed
    assert perfect.tests_passed == perfect.ceiling_passed and perfect.score == 1.0
    assert empty.tests_passed == empty.baseline_passed and empty.score == 0.0
