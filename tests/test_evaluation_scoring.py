"""Scores, summaries, the recommendation, the table, and whole-or-nothing output files."""

from __future__ import annotations

import pytest

from codehearth.evaluation.holes import Hole
from codehearth.evaluation.report import build_report, format_table, recommend, write_atomic
from codehearth.evaluation.runner import HoleResult, ModelRun
from codehearth.evaluation.scoring import (
    edit_similarity,
    exact_match,
    first_identifier_match,
    levenshtein,
    percentile,
    score_hole,
    summarise,
)


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("", "", 0), ("abc", "", 3), ("kitten", "sitting", 3), ("flaw", "lawn", 2), ("ab", "ba", 2)],
)
def test_levenshtein(a, b, distance):
    assert levenshtein(a, b) == distance
    assert levenshtein(b, a) == distance


def test_exact_match_ignores_only_trailing_and_surrounding_whitespace():
    assert exact_match("  return x  \n", "return x")
    assert exact_match("a\n  b   \n", "a\n  b")
    assert not exact_match("a\nb", "a\n  b")  # indentation inside a block matters
    assert not exact_match("return y", "return x")


def test_edit_similarity_bounds():
    assert edit_similarity("same", "same") == 1.0
    assert edit_similarity("", "") == 1.0
    assert edit_similarity("", "something") == 0.0
    assert edit_similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    for a, b in [("x", "yyyy"), ("return a + b", "return a - b"), ("", "q")]:
        assert 0.0 <= edit_similarity(a, b) <= 1.0


def test_first_identifier():
    assert first_identifier_match("total(amounts)", "total(items)") is True
    assert first_identifier_match(" totals(x)", "total(x)") is False
    assert first_identifier_match("anything", ", 2)") is None  # nothing to name: not counted
    assert first_identifier_match("", "name") is False


def test_score_hole_and_summary():
    scores = [score_hole("return x", "return x"), score_hole("", "return x"),
              score_hole("retur", "return x"), score_hole("x", ")")]  # fmt: skip
    assert [s.exact for s in scores] == [True, False, False, False]
    assert [s.non_empty for s in scores] == [True, False, True, True]
    summary = summarise(scores, [10.0, 20.0, 30.0, 400.0])
    assert summary.holes == 4
    assert summary.exact_match == 0.25
    assert summary.non_empty == 0.75
    assert summary.first_identifier == pytest.approx(1 / 3, abs=1e-4)  # the ")" hole is out
    assert summary.latency_p50_ms == 20.0 and summary.latency_p95_ms == 400.0
    for value in (summary.exact_match, summary.edit_similarity, summary.non_empty):
        assert 0.0 <= value <= 1.0


def test_percentile_nearest_rank():
    values = list(range(1, 21))
    assert percentile(values, 0.5) == 10
    assert percentile(values, 0.95) == 19
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([], 0.5) is None


def _hole(kind="single-line") -> Hole:
    return Hole(kind=kind, file="a.py", path="/p/a.py", project="p", line=0, column=4,
                text="x = ", expected="f(1)", removed_lines=(0, 0))  # fmt: skip


def _run(model: str, suggestion: str, latency: float) -> ModelRun:
    hole = _hole()
    result = HoleResult(index=0, kind=hole.kind, file=hole.file, line=0, suggestion=suggestion,
                        score=score_hole(suggestion, hole.expected), latency_ms=latency,
                        generated_tokens=4, generate_ms=100.0)  # fmt: skip
    return ModelRun(model=model, results=[result], peak_rss_bytes=300 * 1024 * 1024)


def test_report_recommends_the_best_model_within_the_target():
    holes = [_hole()]
    runs = [_run("slow-good", "f(1)", 900.0), _run("fast-ok", "f(2)", 100.0),
            _run("fast-bad", "zzz", 50.0), ModelRun(model="broken", status="failed",
                                                     error="file is not a GGUF")]  # fmt: skip
    report = build_report(holes, runs, {}, "seed", 300.0, files=1)
    assert report.recommendation.startswith("Recommended: fast-ok")
    relaxed = recommend(report.models, 1000.0)
    assert relaxed.startswith("Recommended: slow-good")
    assert "No model meets the 10 ms" in recommend(report.models, 10.0)
    table = format_table(report)
    assert "broken" in table and "failed: file is not a GGUF" in table
    assert "300 MiB" in table and "40" in table  # 4 tokens in 100 ms
    assert report.models[0].by_kind["single-line"].exact_match == 1.0


def test_no_model_at_all():
    report = build_report([_hole()], [ModelRun(model="x", status="failed", error="e")], {},
                          "s", 300.0, files=1)  # fmt: skip
    assert report.recommendation.startswith("No model could be evaluated")


def test_write_atomic_is_whole_or_nothing(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    write_atomic(target, b"{}")
    assert target.read_bytes() == b"{}"

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C while the file is being written

    monkeypatch.setattr("codehearth.evaluation.report.os.fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "other.json", b"{...}")
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    assert target.read_bytes() == b"{}"
