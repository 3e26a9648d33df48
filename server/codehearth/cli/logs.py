"""One logging setup for every subcommand.

pygls's message dumps quote the user's code, so they are hidden unless --log-content.
Kept apart from startup.py so that commands that load no model import nothing heavy.
"""

from __future__ import annotations

import logging
import sys

_PYGLS_LOGGERS = ("pygls", "pygls.protocol", "pygls.server", "pygls.feature_manager")


def setup_logging(level: str, log_content: bool = False) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not log_content:
        # pygls logs whole JSON-RPC messages (the user's code): every message at debug
        # and info level, and malformed ones in warnings and tracebacks.
        for name in _PYGLS_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        for handler in logging.getLogger().handlers:
            handler.addFilter(_redact_pygls)


def _redact_pygls(record: logging.LogRecord) -> bool:
    """Keep pygls's warnings and errors but not the message contents they quote."""
    if record.name.startswith("pygls"):
        record.msg = "%s (message details hidden; run with --log-content to see them)"
        record.args = (record.funcName,)
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
    return True
