"""Tree-sitter grammars per language and what the context builder needs to know about them.

Grammars come from the per-language wheels (tree_sitter_python, ...). Loading a grammar and
creating a parser is cached; parsers are not thread-safe, so each one is used under a lock.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from urllib.parse import unquote, urlparse

import tree_sitter

BRACE_ELISION = " { ... }"


@dataclass(frozen=True, eq=False)
class LanguageSpec:
    """How one language's syntax tree is read for completion context.

    function_types: definitions whose body is elided in signatures (functions, methods).
    container_types: definitions whose body holds further definitions (classes, impls,
        namespaces); their members are listed in signatures.
    type_types: data definitions (structs, enums, interfaces, type aliases) kept verbatim when
        short, listed like containers when long.
    member_types: non-definition nodes inside container bodies worth showing (fields).
    wrapper_types: nodes wrapping a definition (decorators, export, template<...>).
    import_types: imports, includes, package clauses.
    elision: what replaces an elided body.
    require_call: the function call that makes a variable declaration an import (CommonJS,
        Lua), or None.
    """

    name: str
    language: tree_sitter.Language
    function_types: frozenset[str]
    container_types: frozenset[str] = frozenset()
    type_types: frozenset[str] = frozenset()
    member_types: frozenset[str] = frozenset()
    wrapper_types: frozenset[str] = frozenset()
    import_types: frozenset[str] = frozenset()
    elision: str = BRACE_ELISION
    require_call: str | None = None
    function_value_holders: frozenset[str] = frozenset()
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _parser: list[tree_sitter.Parser] = field(default_factory=list, repr=False)

    @property
    def definition_types(self) -> frozenset[str]:
        return self.function_types | self.container_types | self.type_types

    def parse(self, source: bytes, old_tree: tree_sitter.Tree | None = None) -> tree_sitter.Tree:
        with self._lock:
            if not self._parser:
                self._parser.append(tree_sitter.Parser(self.language))
            parser = self._parser[0]
            if old_tree is None:
                return parser.parse(source)
            return parser.parse(source, old_tree)

    def unwrap(self, node: tree_sitter.Node) -> tree_sitter.Node | None:
        """The definition inside a wrapper node (or the node itself), None if it is none."""
        for _ in range(4):  # export default async ... / template<> template<> ...
            if node.type not in self.wrapper_types:
                return node if self.is_definition(node) else None
            inner = node.child_by_field_name("definition") or node.child_by_field_name(
                "declaration"
            )
            if inner is None and node.named_child_count:
                inner = node.named_children[-1]
            if inner is None:
                return None
            node = inner
        return None

    def is_definition(self, node: tree_sitter.Node) -> bool:
        if node.type in self.function_value_holders:
            return self.body_of(node) is not None
        return node.type in self.definition_types

    def is_import(self, node: tree_sitter.Node, source: bytes) -> bool:
        if node.type in self.import_types:
            return True
        if self.require_call is None or node.end_point.row - node.start_point.row > 2:
            return False
        if node.type not in self.function_value_holders | {"variable_declaration"}:
            return False
        text = source[node.start_byte : node.end_byte]
        call = self.require_call.encode()
        return call + b"(" in text or call + b" " in text or call + b"'" in text

    def body_of(self, node: tree_sitter.Node) -> tree_sitter.Node | None:
        if node.type in self.function_value_holders:
            return _function_value_body(node)
        return node.child_by_field_name("body")

    def signature(self, node: tree_sitter.Node, source: bytes) -> str:
        """Text of a definition up to its body, or its first line when it has no body."""
        body = self.body_of(node)
        if body is None:
            end = source.find(b"\n", node.start_byte, node.end_byte)
            end = node.end_byte if end < 0 else end
        else:
            end = body.start_byte
        return source[node.start_byte : end].decode("utf-8", "replace").rstrip()


def _function_value_body(node: tree_sitter.Node) -> tree_sitter.Node | None:
    """Body of `const f = (...) => {...}` style declarations with a single declarator."""
    declarators = [c for c in node.named_children if c.type == "variable_declarator"]
    if len(declarators) != 1:
        return None
    value = declarators[0].child_by_field_name("value")
    if value is None or value.type not in {"arrow_function", "function_expression", "function"}:
        return None
    body = value.child_by_field_name("body")
    return body if body is not None and body.type == "statement_block" else None


def _set(*names: str) -> frozenset[str]:
    return frozenset(names)


_JS_FUNCS = _set(
    "function_declaration",
    "generator_function_declaration",
    "method_definition",
)
_JS_COMMON = {
    "container_types": _set("class_declaration", "class"),
    "member_types": _set("field_definition", "public_field_definition"),
    "wrapper_types": _set("export_statement"),
    "import_types": _set("import_statement"),
    "require_call": "require",
    "function_value_holders": _set("lexical_declaration", "variable_declaration"),
}
_TS_EXTRA = {
    "function_types": _JS_FUNCS
    | _set("function_signature", "method_signature", "abstract_method_signature"),
    "container_types": _set(
        "class_declaration", "class", "abstract_class_declaration", "internal_module", "module"
    ),
    "type_types": _set("interface_declaration", "type_alias_declaration", "enum_declaration"),
    "wrapper_types": _set("export_statement", "ambient_declaration", "expression_statement"),
}

_C_TYPES = _set("struct_specifier", "enum_specifier", "union_specifier", "type_definition")

# name -> (module, attribute, spec keyword arguments)
_GRAMMARS: dict[str, tuple[str, str, dict[str, object]]] = {
    "python": (
        "tree_sitter_python",
        "language",
        {
            "function_types": _set("function_definition"),
            "container_types": _set("class_definition"),
            "member_types": _set("expression_statement"),
            "wrapper_types": _set("decorated_definition"),
            "import_types": _set(
                "import_statement", "import_from_statement", "future_import_statement"
            ),
            "elision": " ...",
        },
    ),
    "javascript": (
        "tree_sitter_javascript",
        "language",
        {
            "function_types": _JS_FUNCS,
            **_JS_COMMON,
        },
    ),
    "typescript": ("tree_sitter_typescript", "language_typescript", {**_JS_COMMON, **_TS_EXTRA}),
    "tsx": ("tree_sitter_typescript", "language_tsx", {**_JS_COMMON, **_TS_EXTRA}),
    "go": (
        "tree_sitter_go",
        "language",
        {
            "function_types": _set("function_declaration", "method_declaration"),
            "type_types": _set("type_declaration"),
            "import_types": _set("import_declaration", "package_clause"),
        },
    ),
    "rust": (
        "tree_sitter_rust",
        "language",
        {
            "function_types": _set("function_item", "function_signature_item"),
            "container_types": _set("impl_item", "trait_item", "mod_item"),
            "type_types": _set("struct_item", "enum_item", "union_item", "type_item"),
            "member_types": _set("const_item", "associated_type", "type_item"),
            "import_types": _set("use_declaration", "extern_crate_declaration"),
        },
    ),
    "c": (
        "tree_sitter_c",
        "language",
        {
            "function_types": _set("function_definition"),
            "type_types": _C_TYPES,
            "import_types": _set("preproc_include"),
        },
    ),
    "cpp": (
        "tree_sitter_cpp",
        "language",
        {
            "function_types": _set("function_definition"),
            "container_types": _set("class_specifier", "struct_specifier", "namespace_definition"),
            "type_types": _set(
                "enum_specifier", "union_specifier", "type_definition", "alias_declaration"
            ),
            "member_types": _set("field_declaration", "access_specifier", "declaration"),
            "wrapper_types": _set("template_declaration"),
            "import_types": _set("preproc_include", "using_declaration"),
        },
    ),
    "java": (
        "tree_sitter_java",
        "language",
        {
            "function_types": _set("method_declaration", "constructor_declaration"),
            "container_types": _set(
                "class_declaration",
                "interface_declaration",
                "enum_declaration",
                "record_declaration",
                "annotation_type_declaration",
            ),
            "member_types": _set("field_declaration", "constant_declaration"),
            "import_types": _set("import_declaration", "package_declaration"),
        },
    ),
    "lua": (
        "tree_sitter_lua",
        "language",
        {
            "function_types": _set("function_declaration"),
            "elision": " ...",
            "require_call": "require",
        },
    ),
}

_LANGUAGE_IDS = {
    "python": "python",
    "javascript": "javascript",
    "javascriptreact": "javascript",
    "jsx": "javascript",
    "typescript": "typescript",
    "typescriptreact": "tsx",
    "tsx": "tsx",
    "go": "go",
    "rust": "rust",
    "c": "c",
    "cpp": "cpp",
    "c++": "cpp",
    "cuda-cpp": "cpp",
    "java": "java",
    "lua": "lua",
}

_EXTENSIONS = {
    **dict.fromkeys((".py", ".pyi", ".pyw"), "python"),
    **dict.fromkeys((".js", ".mjs", ".cjs", ".jsx"), "javascript"),
    **dict.fromkeys((".ts", ".mts", ".cts"), "typescript"),
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    **dict.fromkeys((".c", ".h"), "c"),
    **dict.fromkeys(
        (".cc", ".cpp", ".cxx", ".c++", ".hh", ".hpp", ".hxx", ".h++", ".ipp", ".inl", ".cu"),
        "cpp",
    ),
    ".java": "java",
    ".lua": "lua",
}


def supported_languages() -> tuple[str, ...]:
    return tuple(_GRAMMARS)


@cache
def load_spec(name: str) -> LanguageSpec | None:
    """The spec for a grammar name (see supported_languages()); None if it cannot load."""
    entry = _GRAMMARS.get(name)
    if entry is None:
        return None
    module_name, attribute, kwargs = entry
    try:
        module = importlib.import_module(module_name)
        factory: Callable[[], object] = getattr(module, attribute)
        language = tree_sitter.Language(factory())
    except (ImportError, AttributeError, ValueError):
        return None
    return LanguageSpec(name=name, language=language, **kwargs)  # type: ignore[arg-type]


def _extension(uri: str) -> str:
    path = unquote(urlparse(uri).path) if ":" in uri else uri
    return os.path.splitext(path)[1].lower()


def language_for(language_id: str, uri: str) -> LanguageSpec | None:
    """Spec for an LSP language id, falling back to the file extension of the URI."""
    name = _LANGUAGE_IDS.get((language_id or "").lower()) or _EXTENSIONS.get(_extension(uri))
    return load_spec(name) if name else None


_LINE_COMMENTS = {"python": "#", "lua": "--"}


def line_comment(name: str | None) -> str:
    """The line-comment token of a grammar name ("#" when unknown: labels stay readable)."""
    if name is None:
        return "#"
    return _LINE_COMMENTS.get(name, "//")
