"""Speculation while idle: the next suggestion before the user asks for it.

Once a suggestion is shown and the engine has nothing else to do, the suggestion for the
state "this one accepted" is generated at background priority (llama.vim's speculative
request), so accepting and going on is answered from the cache at once. "Its first line
accepted" needs no generation: typing along finds the rest of the block there. A
speculative job gives way to any real work the moment it arrives (engine/jobs.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .target import Target

if TYPE_CHECKING:
    from ..engine.worker import Engine
    from .cache import SuggestionCache

# Longer suggestions are rarely accepted whole; their speculation would mostly be wasted.
MAX_SPECULATED_CHARS = 2000


def speculation_target(
    target: Target, suggestion: str, cache: SuggestionCache, engine: Engine
) -> Target | None:
    """Where to speculate after `suggestion` was shown at `target`, or None: the engine is
    busy, or the answer there is known already."""
    if len(suggestion) > MAX_SPECULATED_CHARS or engine.busy or engine.queue_depth:
        return None
    accepted = target.then_typing(suggestion)
    if cache.lookup(accepted.state, empty=True) is not None:
        return None
    return accepted
