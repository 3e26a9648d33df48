"""Import resolution for Go, Rust, C/C++, Java and Lua, and the one entry point for all.

See imports.py for what is resolved and how; the languages here share that paths come
from a module root (go.mod, the crate's src/, a Java source root, Lua's package path)
rather than from the importing file alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from .imports import MAX_PACKAGE_FILES, PYTHON_LIKE, Import, Origin, first_file
from .languages import LanguageSpec

Resolver = Callable[[list[str], Origin], list[Import]]


def resolve(spec: LanguageSpec, statements: list[str], origin: Origin) -> list[Import]:
    """The imports of a document (its statements' text) that resolve to existing files,
    without repeats and never the document itself."""
    resolver = RESOLVERS.get(spec.name)
    if resolver is None:
        return []
    found: list[Import] = []
    seen: set[Import] = set()
    for item in resolver(statements, origin):
        if item not in seen and item.target != origin.path:
            seen.add(item)
            found.append(item)
    return found


def _upwards(start: Path, roots: tuple[Path, ...], name: str) -> Path | None:
    """The nearest `name` in `start` or a directory above it, not above the roots."""
    directory = start
    while True:
        candidate = directory / name
        if candidate.is_file():
            return candidate
        if directory in roots or directory.parent == directory:
            return None
        directory = directory.parent


def _package_files(directory: Path, suffix: str, skip: Path) -> list[Path]:
    try:
        files = sorted(p for p in directory.iterdir() if p.suffix == suffix and p != skip)
    except OSError:
        return []
    return [p for p in files if not p.name.endswith("_test.go")][:MAX_PACKAGE_FILES]


# -- Go ------------------------------------------------------------------------------------

_GO_SPEC = re.compile(r"""(?:^|[\s(])(?:(\w+|\.)\s+)?"([^"]+)\"""")
_GO_MODULE = re.compile(r"^module\s+(\S+)", re.MULTILINE)


def _go(statements: list[str], origin: Origin) -> list[Import]:
    found = [Import(p) for p in _package_files(origin.path.parent, ".go", origin.path)]
    go_mod = _upwards(origin.path.parent, origin.roots, "go.mod")
    if go_mod is None:
        return found
    try:
        module = _GO_MODULE.search(go_mod.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return found
    if module is None:
        return found
    prefix = module.group(1).rstrip("/") + "/"
    for text in statements:
        for alias, path in _GO_SPEC.findall(text):
            if not path.startswith(prefix):
                continue
            directory = go_mod.parent / path[len(prefix) :]
            qualifier = alias if alias and alias not in ("_", ".") else path.rsplit("/", 1)[-1]
            for file in _package_files(directory, ".go", origin.path):
                found.append(Import(file, qualifier=qualifier))
    return found


# -- Rust ----------------------------------------------------------------------------------


def _rust_module_dir(path: Path) -> Path:
    """The directory a module's children live in."""
    if path.name in ("mod.rs", "lib.rs", "main.rs"):
        return path.parent
    return path.parent / path.stem


def _rust_file(base: Path, segments: list[str]) -> Path | None:
    if not segments:
        return None
    joined = base.joinpath(*segments)
    return first_file([joined.with_suffix(".rs"), joined / "mod.rs"])


def _expand_use(tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]."""
    tree = tree.strip()
    brace = tree.find("{")
    if brace < 0:
        return [tree] if tree else []
    head, body = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    items, depth, current = [], 0, ""
    for char in body:
        depth += char == "{"
        depth -= char == "}"
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    return [head + leaf for item in items for leaf in _expand_use(item)]


def _rust_path(path: str, origin: Origin) -> Import | None:
    segments = [s for s in path.split(" as ")[0].strip().split("::") if s]
    if len(segments) < 2:
        return None
    first, rest = segments[0], segments[1:]
    if first == "crate":
        lib = _upwards(origin.path.parent, origin.roots, "lib.rs")
        lib = lib or _upwards(origin.path.parent, origin.roots, "main.rs")
        if lib is None:
            return None
        base = lib.parent
    elif first == "self":
        base = _rust_module_dir(origin.path)
    elif first == "super":
        own = _rust_module_dir(origin.path)
        base = own.parent
    else:
        return None  # another crate
    module = _rust_file(base, rest)
    if module is not None:
        return Import(module, qualifier=rest[-1])
    parent = _rust_file(base, rest[:-1])
    return Import(parent, names=(rest[-1],)) if parent is not None and rest[-1] != "*" else None


def _rust(statements: list[str], origin: Origin) -> list[Import]:
    found: list[Import] = []
    for text in statements:
        mod = re.match(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text)
        if mod:
            target = _rust_file(_rust_module_dir(origin.path), [mod.group(1)])
            if target is not None:
                found.append(Import(target, qualifier=mod.group(1)))
            continue
        use = re.match(r"^\s*(?:pub(?:\([^)]*\))?\s+)?use\s+(.+?);?\s*$", text, re.DOTALL)
        if use:
            for path in _expand_use(use.group(1)):
                item = _rust_path(path, origin)
                if item is not None:
                    found.append(item)
    return found


# -- C / C++ -------------------------------------------------------------------------------

_INCLUDE = re.compile(r'#\s*include\s*"([^"]+)"')


def _c(statements: list[str], origin: Origin) -> list[Import]:
    found: list[Import] = []
    for text in statements:
        for name in _INCLUDE.findall(text):
            candidates = [origin.path.parent / name]
            for root in origin.roots:
                candidates += [root / name, root / "include" / name, root / "src" / name]
            target = first_file(candidates)
            if target is not None:
                found.append(Import(target))
    return found


# -- Java ----------------------------------------------------------------------------------

_JAVA_IMPORT = re.compile(r"^\s*import\s+(static\s+)?([\w.]+)(\.\*)?\s*;")
_JAVA_PACKAGE = re.compile(r"^\s*package\s+([\w.]+)\s*;")


def _java(statements: list[str], origin: Origin) -> list[Import]:
    found = [Import(p) for p in _package_files(origin.path.parent, ".java", origin.path)]
    source_roots = [r / sub for r in origin.roots for sub in ("", "src/main/java", "src")]
    for text in statements:
        package = _JAVA_PACKAGE.match(text)
        if package:
            depth = len(package.group(1).split("."))
            source_roots.insert(0, origin.path.parents[min(depth, len(origin.path.parents) - 1)])
    for text in statements:
        match = _JAVA_IMPORT.match(text)
        if not match:
            continue
        parts = match.group(2).split(".")
        if match.group(3):  # a whole package
            for root in source_roots:
                files = _package_files(root.joinpath(*parts), ".java", origin.path)
                found += [Import(p) for p in files]
            continue
        if match.group(1):  # static import of a member: the class is the parent
            parts = parts[:-1]
        candidates = [root.joinpath(*parts).with_suffix(".java") for root in source_roots]
        target = first_file(candidates)
        if target is not None:
            found.append(Import(target, names=(parts[-1],)))
    return found


# -- Lua -----------------------------------------------------------------------------------

_LUA_REQUIRE = re.compile(r"""(?:local\s+(\w+)\s*=\s*)?require\s*\(?\s*["']([\w./-]+)["']""")


def _lua(statements: list[str], origin: Origin) -> list[Import]:
    found: list[Import] = []
    bases = [origin.path.parent] + [r / sub for r in origin.roots for sub in ("", "lua")]
    for text in statements:
        for name, module in _LUA_REQUIRE.findall(text):
            relative = Path(*module.split("."))
            candidates = [b / relative.with_suffix(".lua") for b in bases]
            candidates += [b / relative / "init.lua" for b in bases]
            target = first_file(candidates)
            if target is not None:
                found.append(Import(target, qualifier=name or None))
    return found


RESOLVERS: dict[str, Resolver] = {
    **PYTHON_LIKE,
    "go": _go,
    "rust": _rust,
    "c": _c,
    "cpp": _c,
    "java": _java,
    "lua": _lua,
}
