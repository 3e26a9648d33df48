"""The composition root of the language server: features register on the server, the
server knows none of them. Adding a feature is one module with a `register(server)` and
one line here."""

from __future__ import annotations

from ..config import ServeOptions
from . import assist, commands, documents, inline, lifecycle
from .protocol import install_lenient_json
from .server import CodehearthServer

FEATURES = (lifecycle, documents, inline, commands, assist)


def create_server(options: ServeOptions | None = None) -> CodehearthServer:
    install_lenient_json()
    server = CodehearthServer(options or ServeOptions())
    for feature in FEATURES:
        feature.register(server)
    return server
