"""Which workspace files a document imports, and which of their names it uses.

The import statements are found with tree-sitter (the language spec's import node types,
plus `require(...)` declarations for CommonJS and Lua); their text is then read with a
few per-language patterns, which is simpler than a query per grammar and good enough for
the forms real code uses. Resolution only ever yields files inside the workspace roots it
is given; reading them is workspace.py's decision.

Per language: Python absolute and relative imports (`from . import x`, submodules and
names); JS/TS relative specifiers (`./x`, `../y`, with the usual extensions and
`index.*`), ES imports and `require`; Go imports under the module of the nearest go.mod,
plus the files of the document's own package; Rust `use crate::/self::/super::` paths
and `mod x;`; C/C++ `#include "..."` (not `<...>`); Java imports and the classes of the
document's own package; Lua `require("a.b")`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import tree_sitter

from .languages import LanguageSpec

MAX_IMPORT_NODES = 256  # top-level statements looked at per document for imports
MAX_PACKAGE_FILES = 24  # files of one Go/Java package taken as siblings


@dataclass(frozen=True)
class Import:
    """One file the document uses, and how: `names` taken from it (empty: whichever of
    its definitions the document mentions), or `qualifier` (`ns` in `ns.name` uses)."""

    target: Path
    names: tuple[str, ...] = ()
    qualifier: str | None = None


@dataclass(frozen=True)
class Origin:
    """The document being completed: where it is and which roots imports resolve under."""

    path: Path
    roots: tuple[Path, ...]


def import_nodes(spec: LanguageSpec, tree: tree_sitter.Tree, source: bytes) -> list[str]:
    """The text of the document's top-level import statements, in order."""
    found: list[str] = []
    for node in tree.root_node.named_children[:MAX_IMPORT_NODES]:
        inner = node
        if spec.name in ("javascript", "typescript", "tsx") and node.type == "export_statement":
            continue
        if spec.is_import(inner, source) or (spec.name == "rust" and _is_mod_decl(inner)):
            found.append(source[node.start_byte : node.end_byte].decode("utf-8", "replace"))
    return found


def _is_mod_decl(node: tree_sitter.Node) -> bool:
    return node.type == "mod_item" and node.child_by_field_name("body") is None


def first_file(candidates: list[Path]) -> Path | None:
    for candidate in candidates:
        try:
            if candidate.is_file():
                return candidate
        except OSError:
            continue
    return None


# -- Python --------------------------------------------------------------------------------

_PY_FROM = re.compile(r"^\s*from\s+(\.*)([\w.]*)\s+import\s+(.+)$", re.DOTALL)
_PY_IMPORT = re.compile(r"^\s*import\s+(.+)$", re.DOTALL)


def _py_roots(origin: Origin) -> list[Path]:
    """Where absolute imports start: the roots (and their src/), and the directory above
    the document's top package (a folder chain with __init__.py files)."""
    roots = []
    package = origin.path.parent
    while (package / "__init__.py").is_file() and package.parent != package:
        package = package.parent
    roots.append(package)
    for root in origin.roots:
        roots += [root, root / "src"]
    return roots


def _py_module(roots: list[Path], dotted: str) -> Path | None:
    parts = [p for p in dotted.split(".") if p]
    if not parts:
        return None
    candidates = []
    for root in roots:
        base = root.joinpath(*parts)
        candidates += [base.with_suffix(".py"), base / "__init__.py", base.with_suffix(".pyi")]
    return first_file(candidates)


def _py_names(text: str) -> list[tuple[str, str]]:
    """(name, alias) pairs of an import list: `a, b as c` or `(a,\n b)`."""
    cleaned = re.sub(r"#[^\n]*", "", text).replace("(", " ").replace(")", " ").replace("\\", " ")
    pairs = []
    for item in cleaned.split(","):
        words = item.split()
        if len(words) == 1:
            pairs.append((words[0], words[0]))
        elif len(words) == 3 and words[1] == "as":
            pairs.append((words[0], words[2]))
    return pairs


def _python(statements: list[str], origin: Origin) -> list[Import]:
    roots = _py_roots(origin)
    found: list[Import] = []
    for text in statements:
        match = _PY_FROM.match(text)
        if match:
            found += _py_from(match, roots, origin)
            continue
        match = _PY_IMPORT.match(text)
        if match:
            for dotted, alias in _py_names(match.group(1)):
                target = _py_module(roots, dotted)
                if target is not None:
                    found.append(Import(target, qualifier=alias))
    return found


def _py_from(match: re.Match[str], roots: list[Path], origin: Origin) -> list[Import]:
    dots, module, names = match.group(1), match.group(2), match.group(3)
    if dots:
        base = origin.path.parent
        for _ in range(len(dots) - 1):
            base = base.parent
        bases = [base]
    else:
        bases = roots
    module_file = _py_module(bases, module) if module else None
    found: list[Import] = []
    wildcard = names.strip() == "*"
    for name, alias in [] if wildcard else _py_names(names):
        submodule = _py_module(bases, f"{module}.{name}" if module else name)
        if submodule is not None:
            found.append(Import(submodule, qualifier=alias))
        elif module_file is not None:
            found.append(Import(module_file, names=(name,)))
    if wildcard and module_file is not None:
        found.append(Import(module_file))
    return found


# -- JavaScript / TypeScript ---------------------------------------------------------------

_JS_FROM = re.compile(r"""^\s*import\s+(?:type\s+)?(.*?)\s+from\s+["']([^"']+)["']""", re.DOTALL)
_JS_REQUIRE = re.compile(
    r"""(?:const|let|var)\s+(\{[^}]*\}|\w+)\s*=\s*require\s*\(\s*["']([^"']+)["']\s*\)"""
)
_JS_EXTENSIONS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")


def _js_file(origin: Origin, specifier: str) -> Path | None:
    if not specifier.startswith("."):
        return None  # a package: node_modules is not the user's code
    base = (origin.path.parent / specifier).resolve()
    stem = base.with_suffix("") if base.suffix in (".js", ".mjs", ".cjs") else base
    candidates = [base] if base.suffix else []
    candidates += [Path(f"{stem}{ext}") for ext in _JS_EXTENSIONS]
    candidates += [base / f"index{ext}" for ext in _JS_EXTENSIONS]
    return first_file(candidates)


def _js_bindings(clause: str) -> tuple[list[str], str | None]:
    """Names imported by an import clause (`d, {a, b as c}`, `* as ns`) and a namespace."""
    names: list[str] = []
    namespace = None
    star = re.search(r"\*\s+as\s+(\w+)", clause)
    if star:
        namespace = star.group(1)
    braces = re.search(r"\{([^}]*)\}", clause)
    if braces:
        for item in braces.group(1).split(","):
            words = item.replace("type ", "").split()
            if words:
                names.append(words[0])
    default = re.match(r"\s*(\w+)\s*(?:,|$)", clause)
    if default and default.group(1) != "type":
        names.append("default")
    return names, namespace


def _javascript(statements: list[str], origin: Origin) -> list[Import]:
    found: list[Import] = []
    for text in statements:
        match = _JS_FROM.match(text)
        pairs = [(match.group(1), match.group(2), True)] if match else []
        pairs += [(m.group(1), m.group(2), False) for m in _JS_REQUIRE.finditer(text)]
        for clause, specifier, es_import in pairs:
            target = _js_file(origin, specifier)
            if target is None:
                continue
            if not es_import and not clause.startswith("{"):
                found.append(Import(target, qualifier=clause.strip()))
                continue
            names, namespace = _js_bindings(clause)
            if namespace:
                found.append(Import(target, qualifier=namespace))
            if names:
                found.append(Import(target, names=tuple(names)))
    return found


PYTHON_LIKE = {"python": _python, "javascript": _javascript, "typescript": _javascript,
               "tsx": _javascript}  # fmt: skip
