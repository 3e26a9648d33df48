"""The layout rules of docs/architecture.md, checked on the source itself.

* no import cycles among server/codehearth modules (function-level imports count too:
  a cycle hidden inside a function is still a cycle; only TYPE_CHECKING imports are free);
* only engine/ imports llama_cpp;
* assist/, context/, engine/, models/, gpu/ import neither pygls nor lsprotocol;
* no module over 400 lines, no function over 60;
* docs/protocol.md's initializationOptions table is the one config.py generates.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from codehearth.config import options_table

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "server" / "codehearth"
LSP_FREE = ("assist", "context", "engine", "models", "gpu")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            guarded.update(id(inner) for inner in ast.walk(node))
    return guarded


def _imports(name: str, path: Path) -> list[str]:
    """Absolute names of everything the module imports at run time."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    guarded = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[str] = []
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for alias in node.names:
                full = f"{prefix}.{alias.name}"
                found.append(full if full in MODULES else prefix)
    return found


def _internal(target: str) -> str | None:
    while target and target not in MODULES:
        if "." not in target:
            return None
        target = target.rpartition(".")[0]
    return target or None


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    graph = {
        name: {t for i in found if (t := _internal(i)) is not None and t != name}
        for name, found in IMPORTS.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in graph:
        if name not in index:
            visit(name)
    return cycles


def test_the_walker_sees_the_package() -> None:
    assert "codehearth.engine.session" in MODULES
    assert "codehearth.engine.control" in _imports(
        "codehearth.engine.session", MODULES["codehearth.engine.session"]
    ), "the import walker must resolve relative imports"


def test_no_import_cycles() -> None:
    assert _cycles() == []


def test_only_engine_imports_llama_cpp() -> None:
    offenders = sorted(
        name
        for name, found in IMPORTS.items()
        if any(i == "llama_cpp" or i.startswith("llama_cpp.") for i in found)
        and not name.startswith("codehearth.engine")
    )
    assert offenders == []


@pytest.mark.parametrize("layer", LSP_FREE)
def test_layers_below_lsp_import_no_lsp_library(layer: str) -> None:
    offenders = sorted(
        name
        for name, found in IMPORTS.items()
        if name.startswith(f"codehearth.{layer}")
        and any(i.split(".")[0] in ("pygls", "lsprotocol") for i in found)
    )
    assert offenders == []


def test_modules_and_functions_stay_small() -> None:
    too_long: list[str] = []
    for name, path in MODULES.items():
        source = path.read_text(encoding="utf-8")
        lines = source.count("\n")
        if lines > MAX_MODULE_LINES:
            too_long.append(f"{name}: {lines} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}.{node.name}: {length} lines")
    assert too_long == []


def test_protocol_doc_lists_every_option_from_the_schema() -> None:
    doc = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    begin, end = "<!-- options:begin -->", "<!-- options:end -->"
    assert begin in doc and end in doc
    table = doc.split(begin, 1)[1].split(end, 1)[0].strip()
    assert table == options_table(), (
        "docs/protocol.md's option table is out of date: paste `python -m codehearth.config`"
    )
