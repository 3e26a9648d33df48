"""The seeded-bug review benchmark from a checkout (the same as `codehearth eval --review`).

Plants one known bug in each of a fixed set of standard-library functions, reviews the
mutated and the original function through the real review path at temperature 0, and
prints recall, precision and the false-finding rate (see docs/quality.md, "Review").

    python benchmarks/review_seeded.py [--model NAME] [--limit N] [--json results.json]
"""

from __future__ import annotations

import argparse
import sys

from codehearth.cli.logs import setup_logging
from codehearth.config import add_model_flags
from codehearth.evaluation.review import DEFAULT_SEED, run_review_eval


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_model_flags(parser)
    parser.add_argument("--limit", type=int, help="only the first N reference functions")
    parser.add_argument("--seed", default=DEFAULT_SEED, help="mutation seed")
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--json", help="write the scores and every case to this file")
    parser.add_argument("--quiet", action="store_true", help="no per-case progress lines")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    return run_review_eval(args)


if __name__ == "__main__":
    sys.exit(main())
