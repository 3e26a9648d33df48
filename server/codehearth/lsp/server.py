"""The codehearth language server object: pygls's LanguageServer plus what one editor
connection holds. It knows no feature; lsp/app.py registers them on it."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING

from pygls.lsp.server import LanguageServer

from .. import __version__
from ..config import ServeOptions
from ..runtime import Runtime
from .protocol import CodehearthProtocol

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
        """End this editor connection: in the shared engine only the connection, else
        free the model and end the process at once."""
        if self.on_leave is not None:
            log.info("connection ends (%s)", why)
            self.on_leave(self)
            return
        log.info("exiting (%s)", why)
        try:
            self.runtime.stop()
        finally:
            # pygls's own exit path waits for its stdin reader thread, which stays blocked
            # in read() while the pipe is open; nothing is left to do after exit.
            logging.shutdown()
            os._exit(code)
