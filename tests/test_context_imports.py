"""Import resolution per language and the definitions taken from the imported files."""

from __future__ import annotations

from pathlib import Path

import pytest

from codehearth.context.definitions import file_definitions
from codehearth.context.import_resolve import resolve
from codehearth.context.imports import Origin, import_nodes
from codehearth.context.languages import language_for, load_spec


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _imports(root: Path, name: str):
    path = root / name
    spec = language_for("", path.as_uri())
    assert spec is not None
    source = path.read_bytes()
    statements = import_nodes(spec, spec.parse(source), source)
    found = resolve(spec, statements, Origin(path, (root,)))
    return [(i.target.relative_to(root).as_posix(), i.names, i.qualifier) for i in found]


CASES = {
    "python": (
        {
            "pkg/__init__.py": "",
            "pkg/util.py": "def helper():\n    pass\n",
            "pkg/sub/__init__.py": "",
            "pkg/sub/deep.py": "X = 1\n",
            "pkg/app.py": "import os\nfrom .util import helper\nfrom . import sub\n"
            "from pkg.sub import deep as d\nimport pkg.util as u\nfrom .missing import nope\n",
        },
        "pkg/app.py",
        [
            ("pkg/util.py", ("helper",), None),
            ("pkg/sub/__init__.py", (), "sub"),
            ("pkg/sub/deep.py", (), "d"),
            ("pkg/util.py", (), "u"),
        ],
    ),
    "typescript": (
        {
            "src/api.ts": "export function sendMessage(to: string): void {}\n",
            "src/lib/index.ts": "export default class Lib {}\n",
            "src/app.ts": "import { sendMessage as send } from './api';\n"
            "import Lib from './lib';\nimport * as api from './api';\nimport x from 'react';\n",
        },
        "src/app.ts",
        [
            ("src/api.ts", ("sendMessage",), None),
            ("src/lib/index.ts", ("default",), None),
            ("src/api.ts", (), "api"),
        ],
    ),
    "javascript": (
        {"a.js": "function f() {}\nmodule.exports = { f };\n",
         "b.js": "const { f } = require('./a');\nconst a = require('./a.js');\n"},
        "b.js",
        [("a.js", ("f",), None), ("a.js", (), "a")],
    ),
    "go": (
        {"go.mod": "module example.com/shop\n\ngo 1.22\n",
         "cart/cart.go": "package cart\n\nfunc Total() int { return 0 }\n",
         "cart/cart_test.go": "package cart\n",
         "main.go": 'package main\n\nimport (\n\t"fmt"\n\tc "example.com/shop/cart"\n)\n',
         "helpers.go": "package main\n\nfunc help() {}\n"},
        "main.go",
        [("helpers.go", (), None), ("cart/cart.go", (), "c")],
    ),
    "rust": (
        {"src/lib.rs": "mod net;\nuse crate::net::{send, Packet};\nuse std::fmt;\n",
         "src/net.rs": "pub fn send() {}\npub struct Packet;\n"},
        "src/lib.rs",
        [("src/net.rs", (), "net"), ("src/net.rs", ("send",), None),
         ("src/net.rs", ("Packet",), None)],
    ),
    "c": (
        {"include/geo.h": "int area(int w, int h);\n",
         "src/main.c": '#include <stdio.h>\n#include "geo.h"\n'},
        "src/main.c",
        [("include/geo.h", (), None)],
    ),
    "java": (
        {"src/main/java/com/shop/Cart.java": "package com.shop;\npublic class Cart {}\n",
         "src/main/java/com/shop/util/Money.java": "package com.shop.util;\nclass Money {}\n",
         "src/main/java/com/shop/App.java": "package com.shop;\nimport com.shop.util.Money;\n"
         "import java.util.List;\npublic class App {}\n"},
        "src/main/java/com/shop/App.java",
        [("src/main/java/com/shop/Cart.java", (), None),
         ("src/main/java/com/shop/util/Money.java", ("Money",), None)],
    ),
    "lua": (
        {"lua/shop/cart.lua": "local M = {}\nfunction M.total() return 0 end\nreturn M\n",
         "init.lua": 'local cart = require("shop.cart")\nlocal json = require("cjson")\n'},
        "init.lua",
        [("lua/shop/cart.lua", (), "cart")],
    ),
}  # fmt: skip


@pytest.mark.parametrize("language", sorted(CASES))
def test_imports_resolve_to_workspace_files(tmp_path: Path, language: str):
    files, origin, expected = CASES[language]
    _write(tmp_path, files)
    assert _imports(tmp_path, origin) == expected


def test_definitions_signature_docstring_and_small_whole():
    spec = load_spec("python")
    assert spec is not None
    long_body = "".join(f"    x{i} = {i}\n" for i in range(20))
    text = (
        "import os\n\nLIMIT = 10\n\n\ndef short(a):\n    return a\n\n\n"
        'def long(a, b=2):\n    """Add things.\n\n    More words."""\n'
        f"{long_body}    return a\n\n\n"
        'class Box:\n    """A box."""\n\n'
        + "".join(f"    def m{i}(self):\n        return {i}\n\n" for i in range(8))
    )
    found = {d.name: d.text for d in file_definitions(spec, text)}
    assert set(found) == {"LIMIT", "short", "long", "Box"}
    assert found["short"] == "def short(a):\n    return a"
    assert found["long"].startswith('def long(a, b=2):\n    """Add things.')
    assert found["long"].endswith("...") and "x19" not in found["long"]
    assert "class Box:" in found["Box"] and "def m7(self): ..." in found["Box"]
    assert "return 7" not in found["Box"]


def test_definitions_of_other_languages():
    cases = {
        "typescript": ("/** Sends. */\nexport function send(a: string): void {\n  go(a);\n}\n"
                       "export const LIMIT = 3;\n", {"send", "LIMIT"}),
        "go": ("package x\n\n// Total sums.\nfunc Total() int { return 0 }\n\ntype Cart struct{}\n",
               {"Total", "Cart"}),
        "c": ("#define MAX 4\nint area(int w, int h);\ntypedef struct { int a; } Point;\n",
              {"MAX", "area", "Point"}),
        "lua": ("local M = {}\nfunction M.total(a) return a end\nreturn M\n", {"total"}),
        "rust": ("/// Sends.\npub fn send() {}\npub const N: u32 = 1;\n", {"send", "N"}),
    }  # fmt: skip
    for language, (text, names) in cases.items():
        spec = load_spec(language)
        assert spec is not None
        found = {d.name: d.text for d in file_definitions(spec, text)}
        assert names <= set(found), (language, found)
    ts = {d.name: d.text for d in file_definitions(load_spec("typescript"), cases["typescript"][0])}
    assert ts["send"].startswith("/** Sends. */"), "the doc comment comes along"
