"""`--run-tests`: llm-ls's testbed score for Python projects with a pytest suite.

A hole in a Python module counts when some test file of its project imports the module.
For such a hole the module is written three ways into a copy of the project and the
tests that import it are run each time: with the model's suggestion filled in, with an
empty suggestion (the baseline: what the tests pass with the line missing) and with the
original line (the ceiling). Summed over holes, the score is
(passed with suggestions - baseline) / (ceiling - baseline): lines no test exercises
pass all three ways and so do not count as wins, and a suggestion that breaks the
module (a syntax error) counts against the model.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from pydantic import BaseModel

from .holes import Hole

TEST_TIMEOUT_S = 120.0
_TEST_FILE = re.compile(r"^(test_.*|.*_test)\.py$")
_IGNORED = shutil.ignore_patterns(".git", ".venv", "venv", "__pycache__", "node_modules", ".tox")


class TestbedScore(BaseModel):
    __test__ = False  # not a pytest class, despite the name

    holes: int = 0  # holes in modules some test imports
    tests_passed: int = 0
    baseline_passed: int = 0
    ceiling_passed: int = 0

    @property
    def score(self) -> float | None:
        room = self.ceiling_passed - self.baseline_passed
        if room <= 0:
            return None
        return round(max(0.0, (self.tests_passed - self.baseline_passed) / room), 4)

    def describe(self) -> str:
        score = f"{self.score:.2f}" if self.score is not None else "n/a (no test needs these lines)"
        return (
            f"score {score}: {self.tests_passed} tests passed with the suggestions, "
            f"{self.baseline_passed} with empty ones, {self.ceiling_passed} with the original "
            f"lines ({self.holes} holes in tested modules)"
        )


def project_root(hole: Hole) -> Path:
    return Path(hole.path[: len(hole.path) - len(hole.file)])


def covering_tests(hole: Hole) -> list[str]:
    """The project's test files (relative paths) that import the hole's module."""
    if not hole.file.endswith(".py"):
        return []
    root = project_root(hole)
    module = hole.file.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    stem = module.rsplit(".", 1)[-1]
    uses = re.compile(
        rf"^\s*(from\s+{re.escape(module)}\b|import\s+{re.escape(module)}\b|"
        rf"from\s+[\w.]*\s+import\s+.*\b{re.escape(stem)}\b|import\s+{re.escape(stem)}\b)",
        re.M,
    )
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        hidden = any(p.startswith(".") for p in relative.parts)
        if not _TEST_FILE.match(path.name) or hidden:
            continue
        if uses.search(path.read_text(encoding="utf-8", errors="replace")):
            found.append(relative.as_posix())
    return found


class Testbed:
    """Copies of the projects, where modules are swapped and their tests run."""

    __test__ = False

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="codehearth-testbed-")
        self._copies: dict[Path, Path] = {}
        self._cache: dict[tuple[str, str], int] = {}

    def close(self) -> None:
        self._dir.cleanup()

    def passed(self, hole: Hole, text: str, tests: list[str]) -> int:
        """Tests passed with the hole's module replaced by `text` (cached by content)."""
        key = (hole.path, text)
        if key not in self._cache:
            self._cache[key] = self._run(hole, text, tests)
        return self._cache[key]

    def _copy(self, root: Path) -> Path:
        if root not in self._copies:
            target = Path(self._dir.name) / f"p{len(self._copies)}"
            shutil.copytree(root, target, ignore=_IGNORED)
            self._copies[root] = target
        return self._copies[root]

    def _run(self, hole: Hole, text: str, tests: list[str]) -> int:
        copy = self._copy(project_root(hole))
        module = copy / hole.file
        original = module.read_text(encoding="utf-8")
        report = Path(self._dir.name) / "junit.xml"
        report.unlink(missing_ok=True)
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(copy), env.get("PYTHONPATH")]))
        try:
            module.write_text(text, encoding="utf-8")
            subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 f"--junitxml={report}", *tests],
                cwd=copy, env=env, capture_output=True, timeout=TEST_TIMEOUT_S, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return 0
        finally:
            module.write_text(original, encoding="utf-8")
        return _passed(report)


def _passed(report: Path) -> int:
    try:
        root = ET.parse(report).getroot()
    except (OSError, ET.ParseError):
        return 0
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = 0
    for suite in suites:
        counts = [int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")]
        total += counts[0] - counts[1] - counts[2] - counts[3]
    return max(0, total)


def score_model(testbed: Testbed, holes: list[Hole], suggestions: list[str]) -> TestbedScore:
    """The testbed score of one model's suggestions (in the order of `holes`)."""
    score = TestbedScore()
    for hole, suggestion in zip(holes, suggestions, strict=False):
        tests = covering_tests(hole)
        if not tests:
            continue
        original = Path(hole.path).read_text(encoding="utf-8")
        score.holes += 1
        score.ceiling_passed += testbed.passed(hole, original, tests)
        score.baseline_passed += testbed.passed(hole, hole.filled(""), tests)
        score.tests_passed += testbed.passed(hole, hole.filled(suggestion), tests)
    return score
