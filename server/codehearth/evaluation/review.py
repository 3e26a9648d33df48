"""The seeded-bug review benchmark: how often review finds a bug we planted, and how often
it reports one in code that has none.

Each reference function (review_corpus.py) gets one seeded bug (review_mutations.py);
the mutated function and the untouched original are each reviewed as a document through
the real AssistService path (the resident model, the review prompt, the grammar, the
grounding), greedy (temperature 0). Scores:

* recall: mutated functions with a finding on the mutated line / all mutated functions;
* precision: findings on a mutated line / all findings on mutated functions;
* false-finding rate: originals with at least one finding / all originals (each of
  their findings is false: the standard library functions are correct);
* coverage: the share of a mutated function's lines that findings cover. A reviewer
  that flags random lines has a recall about equal to its coverage, so recall well
  above coverage is what shows the model sees the bug.

`codehearth eval --review` calls run_review_eval; benchmarks/review_seeded.py is the
same from a checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from ..assist.payloads import ReviewArgs, SamplingOverride
from ..assist.service import AssistService, document_review_target, resolve_range
from ..runtime import Runtime
from .review_corpus import ReferenceFunction, fingerprint, python_version, reference_corpus
from .review_mutations import OPERATORS, Mutation, mutations_of

DEFAULT_SEED = "review-seeded-v1"


@dataclass(frozen=True)
class Case:
    function: ReferenceFunction
    mutation: Mutation


@dataclass
class Reviewed:
    """One review's findings, as (first line, last line, severity, message, replacement),
    lines 1-based."""

    findings: list[tuple[int, int, str, str, str | None]]
    dropped: int
    notice: str | None
    seconds: float
    dropped_reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class CaseResult:
    label: str
    operator: str
    line: int
    lines: int
    mutated: Reviewed
    original: Reviewed

    @property
    def hits(self) -> int:
        return sum(1 for first, last, *_ in self.mutated.findings if first <= self.line <= last)

    @property
    def covered(self) -> float:
        lines = {n for first, last, *_ in self.mutated.findings for n in range(first, last + 1)}
        return len(lines) / self.lines


def plan_cases(corpus: list[ReferenceFunction], seed: str = DEFAULT_SEED) -> list[Case]:
    """One bug per function. Operators are spread evenly: each function takes the
    least-used operator that applies to it (ties: in OPERATORS order from its index)."""
    used = dict.fromkeys(OPERATORS, 0)
    cases = []
    for index, function in enumerate(corpus):
        order = [OPERATORS[(index + k) % len(OPERATORS)] for k in range(len(OPERATORS))]
        options = {op: mutations_of(function.code, op, f"{seed}:{function.label}") for op in order}
        usable = [op for op in order if options[op]]
        if not usable:
            continue
        operator = min(usable, key=lambda op: used[op])
        used[operator] += 1
        cases.append(Case(function, options[operator][0]))
    return cases


async def _review(
    runtime: Runtime, service: AssistService, code: str, uri: str, temperature: float
) -> Reviewed:
    runtime.store.open(uri, "python", 0, code + "\n")
    try:
        args = ReviewArgs(uri=uri, sampling=SamplingOverride(temperature=temperature))
        snap, start, end = resolve_range(runtime.store, uri, None)
        target = document_review_target(snap, start, end, whole=True)
        started = time.perf_counter()
        outcome = await service.review(args, target, f"review:{uri}", service.begin(None))
        seconds = time.perf_counter() - started
    finally:
        runtime.store.close(uri)
    findings = [
        (p.first + 1, p.last + 1, p.finding.severity, p.finding.message, p.replacement)
        for p in outcome.placed
    ]
    notice = getattr(outcome, "notice", None)
    reasons = getattr(outcome, "dropped_reasons", {})
    return Reviewed(findings, outcome.dropped, notice, seconds, dict(reasons))


async def review_cases(
    runtime: Runtime, cases: list[Case], temperature: float = 0.0, progress=None
) -> list[CaseResult]:
    service = AssistService.for_runtime(runtime)
    results = []
    for number, case in enumerate(cases, 1):
        base = f"file:///review-eval/{case.function.module}/{case.function.name}"
        mutated = await _review(
            runtime, service, case.mutation.code, f"{base}/mutated.py", temperature
        )
        original = await _review(
            runtime, service, case.function.code, f"{base}/original.py", temperature
        )
        lines = case.function.code.count("\n") + 1
        result = CaseResult(
            case.function.label,
            case.mutation.operator,
            case.mutation.line,
            lines,
            mutated,
            original,
        )
        results.append(result)
        if progress is not None:
            progress(number, len(cases), result)
    return results


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 3) if whole else None


def score(results: list[CaseResult]) -> dict[str, Any]:
    n = len(results)
    mutated_findings = sum(len(r.mutated.findings) for r in results)
    original_findings = sum(len(r.original.findings) for r in results)
    per_operator = {}
    for operator in OPERATORS:
        mine = [r for r in results if r.operator == operator]
        per_operator[operator] = {
            "cases": len(mine),
            "recall": _ratio(sum(1 for r in mine if r.hits), len(mine)),
        }
    everything = [f for r in results for f in (*r.mutated.findings, *r.original.findings)]
    return {
        "cases": n,
        "recall": _ratio(sum(1 for r in results if r.hits), n),
        "precision": _ratio(sum(r.hits for r in results), mutated_findings),
        "false_finding_rate": _ratio(sum(1 for r in results if r.original.findings), n),
        "false_findings_per_original": _ratio(original_findings, n),
        "coverage": _ratio(sum(r.covered for r in results), n),
        "findings_on_mutated": mutated_findings,
        "findings_on_originals": original_findings,
        "errors": sum(1 for f in everything if f[2] == "error"),
        "dropped": sum(r.mutated.dropped + r.original.dropped for r in results),
        "dropped_reasons": dict(
            sum(
                (Counter(x.dropped_reasons) for r in results for x in (r.mutated, r.original)),
                Counter(),
            )
        ),
        "per_operator": per_operator,
        "median_review_s": round(
            statistics.median(
                [x for r in results for x in (r.mutated.seconds, r.original.seconds)] or [0.0]
            ),
            2,
        ),
    }


@dataclass
class EvalReport:
    model: str
    python: str
    corpus: str
    seed: str
    temperature: float
    scores: dict[str, Any]
    cases: list[dict[str, Any]] = field(default_factory=list)
    notice: str | None = None


def format_report(report: EvalReport) -> str:
    s = report.scores
    lines = [
        f"review benchmark: {report.model}, {s['cases']} seeded bugs in standard-library "
        f"functions (Python {report.python}, corpus {report.corpus}, seed {report.seed})",
        f"  recall {_pct(s['recall'])}  (a random line flagger with this coverage: "
        f"~{_pct(s['coverage'])})",
        f"  precision {_pct(s['precision'])}  ({s['findings_on_mutated']} findings on mutated)",
        f"  false-finding rate {_pct(s['false_finding_rate'])} of originals "
        f"({s['findings_on_originals']} findings on {s['cases']} correct functions)",
        f"  dropped as ungrounded or invalid: {s['dropped']} ({_reasons(s)}); "
        f"severity error: {s['errors']}",
        "  recall per operator: "
        + ", ".join(
            f"{op} {_pct(v['recall'])} of {v['cases']}" for op, v in s["per_operator"].items()
        ),
        f"  median review time {s['median_review_s']} s",
    ]
    if report.notice:
        lines.append(f"  notice: {report.notice}")
    return "\n".join(lines)


def _reasons(scores: dict[str, Any]) -> str:
    counts = scores.get("dropped_reasons") or {}
    return ", ".join(f"{n} {why}" for why, n in sorted(counts.items())) or "none"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _case_dict(result: CaseResult) -> dict[str, Any]:
    out = asdict(result)
    out["hits"] = result.hits
    return out


def evaluate(
    runtime: Runtime,
    *,
    limit: int | None = None,
    seed: str = DEFAULT_SEED,
    temperature: float = 0.0,
    progress=None,
) -> EvalReport:
    corpus = reference_corpus(limit)
    cases = plan_cases(corpus, seed)
    results = asyncio.run(review_cases(runtime, cases, temperature, progress))
    notices = {r.mutated.notice for r in results} | {r.original.notice for r in results}
    notices.discard(None)
    entry = runtime.entry
    return EvalReport(
        model=entry.name if entry is not None else "?",
        python=python_version(),
        corpus=fingerprint(corpus),
        seed=seed,
        temperature=temperature,
        scores=score(results),
        cases=[_case_dict(r) for r in results],
        notice=min(notices) if notices else None,
    )


def _progress(number: int, total: int, result: CaseResult) -> None:
    mark = "hit" if result.hits else "miss"
    print(
        f"[{number}/{total}] {result.label} {result.operator}@{result.line}: {mark}, "
        f"{len(result.mutated.findings)} on mutated, {len(result.original.findings)} on original",
        file=sys.stderr,
    )


def _run_one(args: argparse.Namespace, model: str | None) -> EvalReport | int:
    from ..cli.startup import StartupFailed, fail, start_runtime
    from ..config import options_from_args

    options = options_from_args(args)
    if model is not None:
        options = options.model_copy(update={"model": model})
    try:
        runtime = start_runtime(options)
    except StartupFailed as exc:
        return fail(str(exc))
    try:
        return evaluate(
            runtime,
            limit=getattr(args, "limit", None),
            seed=getattr(args, "seed", None) or DEFAULT_SEED,
            temperature=getattr(args, "temperature", None) or 0.0,
            progress=None if getattr(args, "quiet", False) else _progress,
        )
    finally:
        runtime.stop()


def run_review_eval(args: argparse.Namespace) -> int:
    """`codehearth eval --review`: run the benchmark with each model named (--models a,b,
    else --model, else the default), print the scores, and write them as JSON to args.json
    when given. Reads the model flags of config.add_model_flags and, when present, models,
    limit, seed, temperature, json, quiet."""
    names = [n.strip() for n in (getattr(args, "models", None) or "").split(",") if n.strip()]
    reports = []
    for model in names or [None]:
        report = _run_one(args, model)
        if isinstance(report, int):
            return report
        print(format_report(report))
        reports.append(asdict(report))
    destination = getattr(args, "json", None)
    if isinstance(destination, str) and destination:
        with open(destination, "w", encoding="utf-8") as handle:
            json.dump(reports[0] if len(reports) == 1 else reports, handle, indent=2)
    return 0
