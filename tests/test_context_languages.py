"""Grammar lookup and the per-language knowledge the context builder relies on."""

from __future__ import annotations

import pytest
import tree_sitter

from codehearth.context.languages import LanguageSpec, language_for, load_spec

LANGUAGE_IDS = {
    "python": "python",
    "javascript": "javascript",
    "javascriptreact": "javascript",
    "typescript": "typescript",
    "typescriptreact": "tsx",
    "go": "go",
    "rust": "rust",
    "c": "c",
    "cpp": "cpp",
    "java": "java",
    "lua": "lua",
}


@pytest.mark.parametrize(("language_id", "name"), sorted(LANGUAGE_IDS.items()))
def test_language_ids_map_to_grammars(language_id: str, name: str) -> None:
    spec = language_for(language_id, "untitled:Untitled-1")
    assert spec is not None
    assert spec.name == name
    assert isinstance(spec.language, tree_sitter.Language)


@pytest.mark.parametrize(
    ("uri", "name"),
    [
        ("file:///src/app.py", "python"),
        ("file:///src/stubs.pyi", "python"),
        ("file:///src/app.mjs", "javascript"),
        ("file:///src/App.jsx", "javascript"),
        ("file:///src/app.ts", "typescript"),
        ("file:///src/App.tsx", "tsx"),
        ("file:///src/main.go", "go"),
        ("file:///src/lib.rs", "rust"),
        ("file:///src/util.h", "c"),
        ("file:///src/util.c", "c"),
        ("file:///src/widget.hpp", "cpp"),
        ("file:///src/WIDGET.CPP", "cpp"),
        ("file:///src/Main.java", "java"),
        ("file:///src/init.lua", "lua"),
        ("file:///with%20space/my%20file.py", "python"),
        ("/plain/path/script.py", "python"),
    ],
)
def test_extension_fallback(uri: str, name: str) -> None:
    spec = language_for("plaintext", uri)
    assert spec is not None and spec.name == name


@pytest.mark.parametrize(
    ("language_id", "uri"),
    [
        ("ruby", "file:///a.rb"),
        ("plaintext", "file:///notes.txt"),
        ("", "file:///Makefile"),
        ("markdown", "untitled:Untitled-2"),
    ],
)
def test_unknown_language_is_none(language_id: str, uri: str) -> None:
    assert language_for(language_id, uri) is None


def test_known_language_id_wins_over_extension() -> None:
    spec = language_for("python", "file:///weird.js")
    assert spec is not None and spec.name == "python"


def test_specs_are_cached() -> None:
    assert language_for("python", "") is language_for("python", "file:///x.py")
    assert load_spec("rust") is load_spec("rust")
    assert load_spec("cobol") is None


SNIPPETS: dict[str, tuple[str, list[str], list[str]]] = {
    # name: (source, expected import lines, expected signatures of definitions)
    "python": (
        "import os\nfrom a import b\n\n@dec\ndef f(a, b=1):\n    return a\n\n"
        "class K(Base):\n    def m(self) -> int:\n        return 1\n",
        ["import os", "from a import b"],
        ["def f(a, b=1):", "class K(Base):"],
    ),
    "javascript": (
        "import x from 'y';\nconst fs = require('fs');\n"
        "export function f(a) { return a; }\nclass A { m() {} }\n"
        "const g = (a) => { return a; };\n",
        ["import x from 'y';", "const fs = require('fs');"],
        ["function f(a)", "class A", "const g = (a) =>"],
    ),
    "typescript": (
        "import { x } from 'y';\ninterface I { a: number }\n"
        "function f(a: number): string { return ''; }\nclass C<T> { m(): void {} }\n",
        ["import { x } from 'y';"],
        ["interface I", "function f(a: number): string", "class C<T>"],
    ),
    "tsx": (
        "import React from 'react';\nexport function App(): JSX.Element { return <div/>; }\n",
        ["import React from 'react';"],
        ["function App(): JSX.Element"],
    ),
    "go": (
        'package main\n\nimport "fmt"\n\ntype S struct{ A int }\n\n'
        "func (s *S) M() int { return 1 }\n\nfunc F(a int) error { return nil }\n",
        ["package main", 'import "fmt"'],
        ["type S struct", "func (s *S) M() int", "func F(a int) error"],
    ),
    "rust": (
        "use std::io;\n\nstruct S { a: i32 }\n\nimpl S {\n    fn m(&self) -> i32 { 1 }\n}\n\n"
        "fn f(a: i32) -> i32 { a }\n",
        ["use std::io;"],
        ["struct S", "impl S", "fn f(a: i32) -> i32"],
    ),
    "c": (
        "#include <stdio.h>\n\nstruct S { int a; };\n\nstatic int g(int a) { return a; }\n",
        ["#include <stdio.h>"],
        ["struct S", "static int g(int a)"],
    ),
    "cpp": (
        "#include <vector>\n\nnamespace n {\nclass A { public: int m(int x) { return x; } };\n}\n"
        "template <typename T> T f(T a) { return a; }\n",
        ["#include <vector>"],
        ["namespace n", "T f(T a)"],  # unwrap() drops the template<> wrapper
    ),
    "java": (
        "package p;\nimport java.util.List;\n\npublic class A {\n"
        "    public int m(int a) { return a; }\n}\n",
        ["package p;", "import java.util.List;"],
        ["public class A"],
    ),
    "lua": (
        'local json = require("dkjson")\n\nfunction M.f(a)\n  return a\nend\n\n'
        "local function g(b)\n  return b\nend\n",
        ['local json = require("dkjson")'],
        ["function M.f(a)", "local function g(b)"],
    ),
}


def _top_level(spec: LanguageSpec, source: bytes) -> tuple[list[str], list[str]]:
    tree = spec.parse(source)
    assert not tree.root_node.has_error
    imports, signatures = [], []
    for node in tree.root_node.named_children:
        if spec.is_import(node, source):
            imports.append(source[node.start_byte : node.end_byte].decode().strip())
        elif (inner := spec.unwrap(node)) is not None:
            signature = spec.signature(inner, source)
            signatures.append(signature.split("\n")[0])
    return imports, signatures


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_imports_and_signatures(name: str) -> None:
    spec = load_spec(name)
    assert spec is not None
    source, imports, signatures = SNIPPETS[name]
    found_imports, found_signatures = _top_level(spec, source.encode())
    assert found_imports == imports
    for expected, found in zip(signatures, found_signatures, strict=True):
        assert found.startswith(expected), (expected, found)


def test_signature_without_body_is_first_line() -> None:
    spec = load_spec("rust")
    assert spec is not None
    source = b"trait T {\n    fn m(&self) -> i32;\n}\n"
    tree = spec.parse(source)
    trait = tree.root_node.named_children[0]
    body = spec.body_of(trait)
    assert body is not None
    method = body.named_children[0]
    assert spec.is_definition(method)
    assert spec.body_of(method) is None
    assert spec.signature(method, source) == "fn m(&self) -> i32;"


def test_plain_variable_is_not_a_definition() -> None:
    spec = load_spec("javascript")
    assert spec is not None
    source = b"const a = 1;\nconst f = function () { return 2; };\n"
    first, second = spec.parse(source).root_node.named_children
    assert not spec.is_definition(first)
    assert not spec.is_import(first, source)
    assert spec.is_definition(second)


def test_parse_reuses_the_cached_parser_incrementally() -> None:
    spec = load_spec("python")
    assert spec is not None
    old = spec.parse(b"x = 1\n")
    old.edit(
        start_byte=4,
        old_end_byte=5,
        new_end_byte=6,
        start_point=(0, 4),
        old_end_point=(0, 5),
        new_end_point=(0, 6),
    )
    new = spec.parse(b"x = 12\n", old)
    assert str(new.root_node) == str(spec.parse(b"x = 12\n").root_node)
