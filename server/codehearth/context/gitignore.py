"""The repository's ignore rules (.gitignore files and .git/info/exclude), read without git.

A file the repository ignores (build output, virtual environments, local configuration)
never goes into a prompt. The rules are git's, in the subset every .gitignore uses:
blank lines and `#` comments, `!` negation, a trailing `/` for directories, a leading or
inner `/` anchoring the pattern to the .gitignore's directory, `*`, `?`, `[...]` and
`**`. Each directory's .gitignore applies below it, deeper files winning; a path is
ignored when its last matching rule is not a negation, or when a directory above it is.
Files are re-read when they change (mtime); no process is started.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

MAX_RULES_BYTES = 256 * 1024  # a .gitignore larger than this is read only this far


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    negated: bool
    directory_only: bool


def _translate(glob: str) -> str:
    """A gitignore glob (already without anchoring slashes) as a regular expression."""
    out, i, n = [], 0, len(glob)
    while i < n:
        char = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("/**", i) and i + 3 == n:
            out.append("/.*")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            end = glob.find("]", i + 2)
            if end < 0:
                out.append(re.escape(char))
                i += 1
                continue
            body = glob[i + 1 : end].replace("\\", "\\\\")
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append(f"[{body}]")
            i = end + 1
        elif char == "\\" and i + 1 < n:
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


def parse_rules(text: str) -> list[Rule]:
    rules: list[Rule] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            line += " "
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        if negated:
            line = line[1:]
        if line.startswith("\\"):
            line = line[1:]
        directory_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        line = line.lstrip("/")
        body = _translate(line)
        regex = body if anchored else f"(?:.*/)?{body}"
        rules.append(Rule(re.compile(f"^{regex}$", re.DOTALL), negated, directory_only))
    return rules


def _verdict(rules: list[Rule], relative: str, is_dir: bool) -> bool | None:
    """True ignored, False re-included, None: no rule matches."""
    verdict = None
    for rule in rules:
        if rule.directory_only and not is_dir:
            continue
        if rule.pattern.match(relative):
            verdict = not rule.negated
    return verdict


class IgnoreRules:
    """The ignore rules of one workspace folder (a repository root or any folder)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[Path, tuple[float, list[Rule]]] = {}
        self._lock = threading.Lock()

    def _rules_in(self, directory: Path) -> list[Rule]:
        rules: list[Rule] = []
        sources = [directory / ".gitignore"]
        if directory == self.root:
            sources.insert(0, directory / ".git" / "info" / "exclude")
        for source in sources:
            rules += self._read(source)
        return rules

    def _read(self, source: Path) -> list[Rule]:
        try:
            mtime = source.stat().st_mtime
        except OSError:
            return []
        with self._lock:
            cached = self._cache.get(source)
            if cached is not None and cached[0] == mtime:
                return cached[1]
        try:
            with source.open("rb") as handle:
                text = handle.read(MAX_RULES_BYTES).decode("utf-8", "replace")
        except OSError:
            return []
        rules = parse_rules(text)
        with self._lock:
            self._cache[source] = (mtime, rules)
        return rules

    def ignored(self, path: Path) -> bool:
        """Whether `path` (inside the root) is ignored, itself or through a directory."""
        try:
            parts = path.relative_to(self.root).parts
        except ValueError:
            return True
        for depth in range(1, len(parts) + 1):
            is_dir = depth < len(parts) or path.is_dir()
            if self._ignored_at(parts, depth, is_dir):
                return True
        return False

    def _ignored_at(self, parts: tuple[str, ...], depth: int, is_dir: bool) -> bool:
        """Is parts[:depth] ignored by the rules of the directories above it (deepest
        .gitignore that has an opinion wins)."""
        for base in range(depth - 1, -1, -1):
            directory = self.root.joinpath(*parts[:base])
            relative = "/".join(parts[base:depth])
            verdict = _verdict(self._rules_in(directory), relative, is_dir)
            if verdict is not None:
                return verdict
        return False
