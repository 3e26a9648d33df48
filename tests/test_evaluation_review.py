"""The seeded-bug benchmark's parts: mutation operators, the corpus, the plan, the scores."""

from __future__ import annotations

import ast
import re

import pytest

from codehearth.evaluation.review import CaseResult, Reviewed, plan_cases, score
from codehearth.evaluation.review_corpus import fingerprint, reference_corpus
from codehearth.evaluation.review_mutations import OPERATORS, mutations_of

SMALL = """def total_positive(xs, n):
    total = 0
    for i in range(n - 1):
        if xs[i] > 0:
            total = total + xs[i]
    return total"""

CORPUS = reference_corpus()


def _changed_lines(a: str, b: str) -> list[int]:
    before, after = a.split("\n"), b.split("\n")
    assert len(before) == len(after)
    return [i + 1 for i, (x, y) in enumerate(zip(before, after, strict=True)) if x != y]


@pytest.mark.parametrize("operator", OPERATORS)
def test_every_mutation_parses_and_changes_exactly_its_line(operator: str) -> None:
    applied = 0
    for function in CORPUS:
        for mutation in mutations_of(function.code, operator, function.label):
            ast.parse(mutation.code)
            assert ast.dump(ast.parse(mutation.code)) != ast.dump(ast.parse(function.code))
            assert _changed_lines(function.code, mutation.code) == [mutation.line]
            lines = mutation.code.split("\n")
            assert lines[mutation.line - 1] == mutation.after
            assert function.code.split("\n")[mutation.line - 1] == mutation.before
            applied += 1
    assert applied >= 5, f"{operator} applies to almost nothing in the corpus"


def test_each_operator_plants_its_kind_of_bug() -> None:
    found = {op: mutations_of(SMALL, op, "seed") for op in OPERATORS}
    swaps = {(m.line, m.after.strip()) for m in found["swap_operator"]}
    assert (3, "for i in range(n + 1):") in swaps
    assert (5, "total = total - xs[i]") in swaps
    off = {(m.line, m.after.strip()) for m in found["off_by_one"]}
    assert (3, "for i in range(n):") in off  # n - 1 -> n
    assert (4, "if xs[i + 1] > 0:") in off
    inverted = {(m.line, m.after.strip()) for m in found["invert_condition"]}
    assert inverted == {(4, "if xs[i] <= 0:")}
    assert [(m.line, m.after.strip()) for m in found["missing_return"]] == [(6, "total")]
    assert found["wrong_variable"]
    for m in found["wrong_variable"]:
        # One name replaced by another local name of the function, nothing else.
        before, after = re.findall(r"\w+", m.before), re.findall(r"\w+", m.after)
        changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
        assert len(changed) == 1 and {*changed[0]} <= {"xs", "n", "total", "i"}, m


def test_mutations_are_seeded() -> None:
    first = mutations_of(SMALL, "wrong_variable", "one")
    assert first == mutations_of(SMALL, "wrong_variable", "one")
    orders = {
        tuple((m.line, m.after) for m in mutations_of(SMALL, "wrong_variable", s)) for s in "abcdef"
    }
    assert len(orders) > 1  # another seed, another choice


def test_an_operator_without_a_site_plants_nothing() -> None:
    assert mutations_of("def f():\n    pass", "missing_return", "s") == []
    with pytest.raises(ValueError, match="unknown mutation operator"):
        mutations_of(SMALL, "delete_everything", "s")


def test_the_plan_is_deterministic_and_uses_every_operator() -> None:
    cases = plan_cases(CORPUS)
    assert cases == plan_cases(reference_corpus())
    assert len(cases) == len(CORPUS)  # one bug in every reference function
    used = {case.mutation.operator for case in cases}
    assert used == set(OPERATORS)
    counts = [sum(1 for c in cases if c.mutation.operator == op) for op in OPERATORS]
    assert max(counts) - min(counts) <= 3, counts
    assert fingerprint(CORPUS) == fingerprint(reference_corpus())


def _result(line: int, mutated: list[tuple[int, int]], original: int) -> CaseResult:
    def reviewed(spans: list[tuple[int, int]]) -> Reviewed:
        return Reviewed([(a, b, "warning", "m", None) for a, b in spans], 0, None, 1.0)

    return CaseResult(
        "m.f", "swap_operator", line, 10, reviewed(mutated), reviewed([(1, 1)] * original)
    )


def test_scores() -> None:
    results = [
        _result(3, [(3, 3), (7, 7)], 0),  # a hit and a false finding
        _result(5, [(4, 6)], 2),  # a span over the mutated line is a hit
        _result(2, [], 0),  # nothing found
        _result(8, [(1, 1)], 1),  # a miss
    ]
    s = score(results)
    assert s["recall"] == 0.5
    assert s["precision"] == 0.5  # 2 of the 4 findings on mutated functions
    assert s["false_finding_rate"] == 0.5  # 2 of 4 originals had a finding
    assert s["false_findings_per_original"] == 0.75
    assert s["coverage"] == round((0.2 + 0.3 + 0.0 + 0.1) / 4, 3)
    assert s["per_operator"]["swap_operator"] == {"cases": 4, "recall": 0.5}
    assert s["per_operator"]["off_by_one"] == {"cases": 0, "recall": None}


def test_run_review_eval_reviews_through_the_real_model(tmp_path, capsys) -> None:
    """`codehearth eval --review` on one function: both versions reviewed, scores and
    cases written; the same arguments `codehearth eval` parses."""
    import argparse
    import json

    from codehearth.evaluation.review import run_review_eval

    out = tmp_path / "review.json"
    args = argparse.Namespace(limit=1, json=str(out), quiet=True, seed=None, models=None)
    assert run_review_eval(args) == 0
    report = json.loads(out.read_text())
    assert report["model"] == "smollm2-135m" and report["temperature"] == 0.0
    assert report["scores"]["cases"] == 1 and len(report["cases"]) == 1
    case = report["cases"][0]
    assert case["label"] == CORPUS[0].label and case["operator"] in OPERATORS
    assert report["notice"] is not None  # the embedded model is not trusted to review
    assert "recall" in capsys.readouterr().out
