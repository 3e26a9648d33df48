"""The codehearth language server: pygls wiring only; features live in sibling modules."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from pygls.lsp.server import LanguageServer

from .. import __version__
from ..runtime import Runtime
from .options import ServeOptions
from .protocol import CodehearthProtocol, install_lenient_json

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..runtime import HostRegistry
    from .status import StatusPublisher

log = logging.getLogger(__name__)


class CodehearthServer(LanguageServer):
    def __init__(self, options: ServeOptions) -> None:
        super().__init__("codehearth", __version__, protocol_cls=CodehearthProtocol)
        self.cli_options = options
        self.runtime = Runtime(options)
        self.error_shown = False
        self.background: asyncio.Future | None = None
        self.status_publisher: StatusPublisher | None = None
        self.process_watch: asyncio.Future | None = None
        self.shutdown_received = False
        self.initialized_once = False
        # Set in the shared engine: models come from it, and an editor leaving ends
        # only its connection (on_leave), not the process.
        self.host_registry: HostRegistry | None = None
        self.on_leave: Callable[[CodehearthServer], None] | None = None

    def leave(self, code: int, why: str) -> None:
        if self.on_leave is not None:
            log.info("connection ends (%s)", why)
            self.on_leave(self)
            return
        from .lifecycle import leave

        leave(self, code, why)


def create_server(options: ServeOptions | None = None) -> CodehearthServer:
    from . import assist, commands, documents, inline, lifecycle

    install_lenient_json()
    server = CodehearthServer(options or ServeOptions())
    for module in (lifecycle, documents, inline, commands, assist):
        module.register(server)
    return server
