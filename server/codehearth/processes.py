"""Whether another process is alive: the editor that named itself in LSP `processId`.

Used by the in-process server (lsp/lifecycle.py) and by the relay a shared-engine
`serve` runs (shared/supervisor.py), which imports neither pygls nor llama.cpp.
"""

from __future__ import annotations

import os


def process_alive(pid: int) -> bool:
    """True while `pid` exists (owned by anyone). POSIX only: on Windows os.kill(pid, 0)
    would terminate the process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def watchable(pid: int) -> bool:
    """Whether `pid` can be watched from here: POSIX, not ourselves, and visible (an
    editor outside a container lives in another PID namespace)."""
    return os.name == "posix" and pid != os.getpid() and pid > 0 and process_alive(pid)
