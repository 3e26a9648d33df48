"""One function per `codehearth bench --mode`: run it `--repeat` times, print, return JSON.

Ratios are taken within one repetition (the same minutes of the same machine) and then
summarized over the repetitions as median [min–max].
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from .common import ReplayReport, Spread, format_counters, user_init
from .replay import replay_floor, replay_server
from .steady import print_steady, steady
from .typealong import print_type_along, type_along


def _print_report(r: ReplayReport) -> None:
    reuse = "n/a" if r.prompt_reuse is None else format(r.prompt_reuse, "6.1%")
    print(
        f"  {r.name:<44} p50 {r.p50_ms:7.1f} ms  p95 {r.p95_ms:7.1f} ms  "
        f"p99 {r.p99_ms:7.1f} ms  reuse {reuse}  non-empty {r.non_empty}/{r.keystrokes}"
    )
    counters = format_counters(r.counters, r.keystrokes)
    if counters:
        print(f"  {'':<44} {counters}")


def _ratio(a: float, b: float) -> float:
    return round(a / max(0.1, b), 3)


def _replay_once(args: argparse.Namespace, files: list[Path]) -> list[ReplayReport]:
    reports: list[ReplayReport] = []
    if args.which in ("both", "server"):
        init = user_init() if args.user_defaults else None
        name = "codehearth serve (user defaults)" if args.user_defaults else None
        reports.append(asyncio.run(replay_server(args, files, init, name)))
    if args.llama_server:
        from .llama_server import replay_llama_server

        reports.append(replay_llama_server(args, files, args.model_path))
    if args.which in ("both", "floor"):
        reports.append(replay_floor(args, files, args.model_path))
    return reports


def run_replay(args: argparse.Namespace, files: list[Path]) -> list:
    tokens = "user settings" if args.user_defaults else f"{args.max_tokens} new tokens"
    print(f"  replay, waiting for each answer; ours: {tokens}; others: "
          f"{args.max_tokens} new tokens, stop at newline")  # fmt: skip
    runs: list[list[ReplayReport]] = []
    for n in range(max(1, args.repeat)):
        if args.repeat > 1:
            print(f" run {n + 1}/{args.repeat}")
        reports = _replay_once(args, files)
        for r in reports:
            _print_report(r)
        ours = reports[0]
        for other in reports[1:]:
            print(
                f"  ours / {other.name}: p50 {_ratio(ours.p50_ms, other.p50_ms):.2f}x, "
                f"p95 {_ratio(ours.p95_ms, other.p95_ms):.2f}x"
            )
        runs.append(reports)
    if len(runs) > 1 and len(runs[0]) > 1:
        for k, other in enumerate(runs[0][1:], start=1):
            p50 = Spread([_ratio(r[0].p50_ms, r[k].p50_ms) for r in runs])
            p95 = Spread([_ratio(r[0].p95_ms, r[k].p95_ms) for r in runs])
            print(f" over {len(runs)} runs, ours / {other.name}: p50 {p50}x, p95 {p95}x")
    return [[r.model_dump() for r in reports] for reports in runs]


def run_type_along(args: argparse.Namespace, files: list[Path]) -> list:
    results = []
    for n in range(max(1, args.repeat)):
        print(f" run {n + 1}/{args.repeat}")
        report = asyncio.run(type_along(args, files, order=n))
        print_type_along(report)
        results.append(report)
    if len(results) > 1:
        share = Spread([r.share_answered * 100 for r in results])
        p50 = Spread([r.continued_p50_ms for r in results])
        p95 = Spread([r.continued_p95_ms for r in results])
        calls = Spread([r.model_calls_per_100_after for r in results])
        print(
            f" over {len(results)} runs: answered from the shown suggestion {share} %, "
            f"their p50 {p50} ms, p95 {p95} ms; model calls / 100 keys after {calls}"
        )
    return [r.model_dump() for r in results]


def run_steady(args: argparse.Namespace, files: list[Path]) -> list:
    results = []
    for n in range(max(1, args.repeat)):
        print(f" run {n + 1}/{args.repeat}")
        after, before = asyncio.run(steady(args, files, order=n))
        print_steady(after)
        print_steady(before)
        results.append((after, before))
    if len(results) > 1:
        visible = Spread([100 * a.visible / max(1, a.keystrokes) for a, _ in results])
        replaced = Spread([float(a.replaced) for a, _ in results])
        print(f" over {len(results)} runs: visible {visible} %, replaced {replaced}")
    return [{"after": a.model_dump(), "before": b.model_dump()} for a, b in results]
