"""`codehearth eval`: which model completes your code best, and how fast, on this machine.

Nothing is written until the run is complete: Ctrl-C leaves no partial JSON or PNG.
`--review` runs the seeded-bug review benchmark instead (codehearth.evaluation.review).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..config import add_model_flags, options_from_args
from .logs import setup_logging
from .startup import fail

DEFAULT_HOLES = 60


def add_eval_subcommand(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "eval",
        parents=[common],
        help="score models' completions on holes punched in your code (or --reference)",
        description="Punch holes in source files, complete them with each model through "
        "the server's completion path, and report quality, latency and memory.",
    )
    parser.add_argument("paths", nargs="*", help="files or folders (default: this git repo)")
    parser.add_argument("--models", help="comma-separated manifest names (default: every "
                        "local model whose file is here)")  # fmt: skip
    parser.add_argument("--holes", type=int, default=DEFAULT_HOLES,
                        help=f"how many holes (default {DEFAULT_HOLES})")  # fmt: skip
    parser.add_argument("--seed", help="seed of the hole selection (default holes-v1)")
    parser.add_argument("--reference", action="store_true",
                        help="use the reference corpus shipped with codehearth")  # fmt: skip
    parser.add_argument("--run-tests", action="store_true",
                        help="also run the pytest suites of Python projects (testbed score)")
    parser.add_argument("--target-ms", type=float, default=300.0,
                        help="latency target (p50) of the recommendation (default 300)")
    parser.add_argument("--json", metavar="FILE", help="write the full report as JSON")
    parser.add_argument("--plot", metavar="FILE", help="write quality vs latency as a PNG")
    parser.add_argument("--review", action="store_true",
                        help="run the seeded-bug review benchmark instead")  # fmt: skip
    add_model_flags(parser)
    parser.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    if args.review:
        return _review(args)
    if args.holes < 1:
        return fail("--holes must be at least 1", 2)
    if args.plot:
        from ..evaluation.plot import PlotUnavailable, check_available

        try:
            check_available()
        except PlotUnavailable as exc:
            return fail(str(exc), 2)
    from ..evaluation.holes import DEFAULT_SEED, select_holes
    from ..evaluation.sources import SourceError, files_for

    seed = args.seed or DEFAULT_SEED
    try:
        files = files_for(args.paths, args.reference)
    except SourceError as exc:
        return fail(str(exc), 2)
    holes = select_holes(files, args.holes, seed)
    try:
        models = _models(args)
    except ValueError as exc:
        return fail(str(exc), 2)
    print(f"{len(holes)} holes in {len(files)} files; models: {', '.join(models)}",
          file=sys.stderr)  # fmt: skip
    runs = _run_models(args, models, holes)
    return _finish(args, holes, runs, seed, len(files))


def _review(args: argparse.Namespace) -> int:
    try:
        from ..evaluation.review import run_review_eval
    except ImportError:
        return fail("the review benchmark (codehearth eval --review) is not available in "
                    "this installation", 2)  # fmt: skip
    return run_review_eval(args)


def _models(args: argparse.Namespace) -> list[str]:
    if args.models:
        return [name.strip() for name in args.models.split(",") if name.strip()]
    if args.model:
        return [args.model]
    from ..models.manifest import ManifestError, load_manifest
    from ..models.resolve import ModelNotFound, resolve_model_path

    try:
        manifest = load_manifest(args.manifest)
    except ManifestError as exc:
        raise ValueError(str(exc)) from exc
    present = []
    for entry in manifest.models.values():
        if entry.source_kind == "remote":
            continue  # never contacted unless named
        try:
            resolve_model_path(entry)
        except ModelNotFound:
            continue
        present.append(entry.name)
    if not present:
        raise ValueError("no model file is on this machine; name models with --models")
    return present


def _run_models(args: argparse.Namespace, models: list[str], holes: list) -> list:
    from tqdm import tqdm

    from ..evaluation.runner import run_model

    options = options_from_args(args)
    bar = tqdm(total=len(models) * len(holes), unit="hole", file=sys.stderr,
               disable=not sys.stderr.isatty())  # fmt: skip
    runs = []
    try:
        for model in models:
            bar.set_description(model)
            print(f"evaluating {model}", file=sys.stderr, flush=True)
            run = run_model(model, holes, options, on_hole=lambda _r: bar.update(1))
            bar.update(len(holes) - len(run.results))
            runs.append(run)
    finally:
        bar.close()
    return runs


def _finish(args: argparse.Namespace, holes: list, runs: list, seed: str, files: int) -> int:
    from ..evaluation.report import build_report, format_table, write_atomic

    tests = _testbed(holes, runs) if args.run_tests else {}
    report = build_report(holes, runs, tests, seed, args.target_ms, files)
    # Everything is rendered before anything is written: both files or neither.
    png = None
    if args.plot:
        from ..evaluation.plot import render_png

        png = render_png(report)
    if args.json:
        write_atomic(args.json, report.model_dump_json(indent=2).encode("utf-8"))
    if png is not None:
        write_atomic(args.plot, png)
    print(format_table(report))
    return 0 if any(run.status == "ok" for run in runs) else 1


def _testbed(holes: list, runs: list) -> dict:
    from ..evaluation.testbed import Testbed, score_model

    testbed = Testbed()
    try:
        return {
            run.model: score_model(testbed, holes, [r.suggestion for r in run.results])
            for run in runs
            if run.status == "ok"
        }
    finally:
        testbed.close()
