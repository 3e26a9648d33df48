"""Cross-file completion quality: does context from other files help, and never hurt?

Holes are punched in real multi-file code installed in the environment (by default the
packages huggingface_hub, pygls, pydantic and openai): at a line that calls a name the
module imports from another module of the same package, the rest of the line from that
name on is removed. The server's completion path (Runtime, CompletionService, context
building, prompt, generation, post-processing) fills each hole twice, with the project
context off and on (workspace folder = the package, imported definitions only: the ring
of open files stays off so no hole sees another's document). The single-file set does the
same at calls of names defined in the same file, in standard-library modules, whose own
imports the workspace (the standard library) resolves: a block that is there but not
needed must not cost quality.

Scores (codehearth.evaluation.scoring): first-identifier accuracy, exact match and edit
similarity. Decoding is greedy and the time budget is off, so the scores do not depend on
machine load. Each raw model output also goes through the clean-up with a counter, which
reports how many outputs each post-processing filter changed.

    python benchmarks/crossfile_eval.py --holes 40 --json /tmp/crossfile-eval.json
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import random
import re
import statistics
import sysconfig
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from codehearth.cli.startup import start_runtime
from codehearth.completion import generate
from codehearth.completion.postprocess import clean_suggestion
from codehearth.config import CompletionSettings, ProjectSettings, ServeOptions
from codehearth.context.definitions import file_definitions
from codehearth.context.import_resolve import resolve
from codehearth.context.imports import Origin, import_nodes
from codehearth.context.languages import load_spec
from codehearth.evaluation.scoring import score_hole

PACKAGES = ("huggingface_hub", "pygls", "pydantic", "openai")
STDLIB = ("textwrap.py", "shlex.py", "json/encoder.py", "argparse.py", "configparser.py",
          "tarfile.py", "zipfile.py", "difflib.py")  # fmt: skip
MAX_FILE_BYTES = 120_000


@dataclass
class Hole:
    root: Path
    path: Path
    text: str  # the file with the hole
    line: int
    column: int
    expected: str
    name: str


def _calls(text: str, names: set[str], first_line: int):
    """(line, column, name) of calls of `names` inside indented code below first_line."""
    for number, line in enumerate(text.split("\n")):
        if number <= first_line or not line.startswith((" ", "\t")):
            continue
        stripped = line.lstrip()
        if stripped.startswith(("#", "import ", "from ", "def ", "class ", "@", '"', "'")):
            continue
        for match in re.finditer(r"\b([A-Za-z_]\w*)\(", line):
            if match.group(1) in names and match.start() > len(line) - len(stripped):
                yield number, match.start(), match.group(1)
                break


def _holes_in(root: Path, path: Path, cross_file: bool, typed: int = 0) -> list[Hole]:
    spec = load_spec("python")
    assert spec is not None
    source = path.read_bytes()
    if len(source) > MAX_FILE_BYTES:
        return []
    text = source.decode("utf-8", "replace")
    tree = spec.parse(source)
    statements = import_nodes(spec, tree, source)
    if cross_file:
        names: set[str] = set()
        for item in resolve(spec, statements, Origin(path, (root,))):
            target_text = item.target.read_text(encoding="utf-8", errors="replace")
            defined = {d.name for d in file_definitions(spec, target_text)}
            names |= {n for n in item.names if n in defined}
    else:
        names = {d.name for d in file_definitions(spec, text) if not d.name.startswith("__")}
    last_import = max((text[: text.find(s)].count("\n") for s in statements if s in text),
                      default=0)  # fmt: skip
    holes = []
    for line, column, name in _calls(text, names, last_import):
        column += min(typed, len(name) - 1)  # the user typed the name's first characters
        lines = text.split("\n")
        expected = lines[line][column:]
        lines[line] = lines[line][:column]
        holes.append(Hole(root, path, "\n".join(lines), line, column, expected, name))
    return holes


def collect(cross_file: bool, count: int, seed: str, typed: int = 0) -> list[Hole]:
    holes: list[Hole] = []
    if cross_file:
        for package in PACKAGES:
            root = Path(importlib.import_module(package).__file__).parent
            for path in sorted(root.rglob("*.py")):
                holes += _holes_in(root, path, True, typed)
    else:
        stdlib = Path(sysconfig.get_paths()["stdlib"])
        for name in STDLIB:
            holes += _holes_in(stdlib, stdlib / name, False, typed)
    rng = random.Random(seed)
    # One hole per (file, name) at most, so no file or helper dominates.
    unique = {}
    for hole in holes:
        unique.setdefault((hole.path, hole.name), hole)
    chosen = list(unique.values())
    rng.shuffle(chosen)
    return chosen[:count]


class RawOutputs:
    """Wraps the clean-up run_generation calls, counting what each filter changes."""

    def __init__(self) -> None:
        self.changed: Counter[str] = Counter()
        self.outputs = 0

    def __call__(self, text, ctx, changed=None):
        self.outputs += 1
        return clean_suggestion(text, ctx, self.changed)


async def _fill(runtime, holes: list[Hole]) -> list[dict]:
    service = runtime.completion
    rows = []
    for index, hole in enumerate(holes):
        doc = runtime.store.open(hole.path.as_uri(), "python", index, hole.text)
        started = time.perf_counter()
        result = await service.complete(doc.snapshot(), hole.line, hole.column)
        suggestion = result.items[0] if result.items else ""
        score = score_hole(suggestion, hole.expected)
        rows.append({"file": str(hole.path), "line": hole.line, "name": hole.name,
                     "expected": hole.expected, "suggestion": suggestion,
                     "ms": (time.perf_counter() - started) * 1000,
                     "prompt_tokens": result.stats.prompt_tokens if result.stats else 0,
                     **score.model_dump()})  # fmt: skip
        runtime.store.close(doc.uri)
        print(f"    {index + 1}/{len(holes)} {rows[-1]['ms']:.0f} ms", flush=True)
    return rows


def run_condition(args, holes: list[Hole], with_files: bool, raw: RawOutputs) -> list:
    completion = CompletionSettings(
        temperature=0.0, speculate=False, time_budget_ms=0, first_time_budget_ms=0,
        max_prompt_tokens=args.prompt_tokens,
    )  # fmt: skip
    project = ProjectSettings(enabled=with_files, open_files=False, max_tokens=args.block_tokens)
    options = ServeOptions(model=args.model, completion=completion, project=project)
    runtime = start_runtime(options)
    runtime.project.configure(project)
    runtime.project.set_folders(sorted({h.root.as_uri() for h in holes}))
    generate.clean_suggestion = raw
    try:
        return asyncio.run(_fill(runtime, holes))
    finally:
        generate.clean_suggestion = clean_suggestion
        runtime.stop()


def summary(rows: list[dict]) -> dict:
    firsts = [r["first_identifier"] for r in rows if r["first_identifier"] is not None]
    return {
        "holes": len(rows),
        "first_identifier": round(sum(firsts) / max(1, len(firsts)), 3),
        "exact_match": round(sum(r["exact"] for r in rows) / max(1, len(rows)), 3),
        "edit_similarity": round(statistics.fmean(r["edit_similarity"] for r in rows), 3),
        "non_empty": round(sum(r["non_empty"] for r in rows) / max(1, len(rows)), 3),
        "p50_ms": round(statistics.median(r["ms"] for r in rows), 1),
        "mean_prompt_tokens": round(statistics.fmean(r["prompt_tokens"] for r in rows)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holes", type=int, default=40)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--seed", default="crossfile-v1")
    parser.add_argument("--sets", default="cross,single")
    parser.add_argument("--typed", type=int, default=0, help="characters of the name typed")
    parser.add_argument("--prompt-tokens", type=int, default=1536, help="maxPromptTokens")
    parser.add_argument("--block-tokens", type=int, default=1024, help="project.maxTokens")
    parser.add_argument("--json")
    args = parser.parse_args()
    report: dict = {"model": args.model}
    raw = RawOutputs()
    for name in args.sets.split(","):
        holes = collect(name == "cross", args.holes, args.seed, args.typed)
        rows_off = run_condition(args, holes, False, raw)
        rows_on = run_condition(args, holes, True, raw)
        report[name] = {"without": summary(rows_off), "with": summary(rows_on),
                        "rows": {"without": rows_off, "with": rows_on}}  # fmt: skip
        print(f"{name}-file set, {len(holes)} holes, model {args.model}")
        for label in ("without", "with"):
            print(f"  {label:<8} other files: {report[name][label]}")
    report["filters"] = {"outputs": raw.outputs, "changed": dict(raw.changed.most_common())}
    print(
        f"post-processing of {raw.outputs} raw outputs, changed by: {report['filters']['changed']}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
