"""`codehearth bench --mode steady`: typing at a fixed pace, as a person does.

Keys arrive every `--pace-ms` (125 ms: 8 keys a second) whether an answer came or not;
each key sends didChange, cancels the previous request ($/cancelRequest, as VS Code does)
and asks again. What an editor shows is simulated the way VS Code does it: an answer is
shown only if it arrives before the next key; a shown suggestion is trimmed while the
typed characters match it and dropped when one does not. Reported, after and before
(the cache, reuse in flight and speculation off):

* the share of keystrokes after which a suggestion is visible before the next key
  (answered in time, or a shown one still being typed along);
* the share answered in time with a suggestion;
* replacements: answers that arrived while a suggestion still valid for what was typed
  was shown, and showed something else (or nothing; a longer one that begins with it
  is not a replacement). The target is none.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from .common import BEFORE, Keystroke, counter_deltas, plan_typing, user_init


class SteadyReport(BaseModel):
    name: str
    pace_ms: float
    keystrokes: int
    visible: int  # a suggestion visible before the next key
    answered_in_time: int  # ... of which the server's answer to this key
    replaced: int  # a still-valid suggestion replaced by a different answer
    # The first few replacements: where, what was shown, what replaced it.
    replacements: list[tuple[str, str, str]] = []
    model_calls_per_100: float
    counters: dict[str, int]


@dataclass
class _Screen:
    """What the editor shows: the suggestion and the key it answers."""

    shown: str = ""
    latest: int = -1  # index of the last key typed
    answered: set[int] = field(default_factory=set)
    replaced: int = 0
    examples: list[tuple[str, str, str]] = field(default_factory=list)

    def typed(self, index: int, char: str) -> None:
        self.latest = index
        self.shown = self.shown[1:] if self.shown[:1] == char else ""

    def answer(self, index: int, text: str, line: str = "") -> None:
        if index != self.latest:
            return  # late: the editor has moved on and drops it
        if self.shown and not text.startswith(self.shown):  # growing it is fine
            self.replaced += 1
            if len(self.examples) < 5:
                self.examples.append((line, self.shown, text))
        self.shown = text
        if text:
            self.answered.add(index)


def _text(result) -> str:
    items = getattr(result, "items", result) or []
    if not items:
        return ""
    text = items[0].insert_text
    return text if isinstance(text, str) else text.value


async def _watch(screen: _Screen, index: int, future: asyncio.Future, line: str) -> None:
    try:
        result = await future
    except Exception:  # cancelled by the next key: RequestCancelled
        return
    screen.answer(index, _text(result), line)


async def _warm_up(client, first: Keystroke) -> None:
    at = Keystroke(first.uri, first.line, first.character - 1, "")
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.ask(at)[1], 120)


async def steady_one(args: argparse.Namespace, files: list[Path], init: dict, name: str):
    from ..bench_client import BenchClient

    client = BenchClient()
    await client.start(args, init)
    pace = args.pace_ms / 1000
    visible = answered = keys = replaced = 0
    examples: list[tuple[str, str, str]] = []
    try:
        before = await client.counters()
        for path in files:
            uri, opened, strokes = plan_typing(path, args.start_line, args.keystrokes)
            client.open(uri, opened, "python" if path.suffix == ".py" else "plaintext")
            # A first suggestion where typing starts, as when a file is opened and the
            # cursor placed: the prompt is evaluated before the clock runs.
            await _warm_up(client, strokes[0])
            screen, watchers, last = _Screen(), [], None
            start = time.perf_counter()
            for i, ks in enumerate(strokes):
                await asyncio.sleep(max(0.0, start + i * pace - time.perf_counter()))
                visible += i > 0 and bool(screen.shown)
                screen.typed(i, ks.char)
                if last is not None:
                    client.cancel(last)
                client.type(ks)
                last, future = client.ask(ks)
                at = f"line {ks.line + 1}:{ks.character + 1}, then {ks.rest_of_line!r}"
                watchers.append(asyncio.ensure_future(_watch(screen, i, future, at)))
            await asyncio.sleep(pace)
            visible += bool(screen.shown)
            await asyncio.gather(*watchers)
            keys += len(strokes)
            answered += len(screen.answered)
            replaced += screen.replaced
            examples += screen.examples
        counters = counter_deltas(before, await client.counters())
    finally:
        await client.stop()
    return SteadyReport(
        name=name,
        pace_ms=args.pace_ms,
        keystrokes=keys,
        visible=visible,
        answered_in_time=answered,
        replaced=replaced,
        replacements=examples[:5],
        model_calls_per_100=round(100 * counters["model_calls"] / max(1, keys), 1),
        counters=counters,
    )


async def steady(args: argparse.Namespace, files: list[Path], order: int = 0):
    runs = [("after", user_init()), ("before", user_init(**BEFORE))]
    if order % 2:
        runs.reverse()
    reports = {}
    for label, init in runs:
        reports[label] = await steady_one(args, files, init, f"steady typing ({label})")
    return reports["after"], reports["before"]


def print_steady(r: SteadyReport) -> None:
    n = max(1, r.keystrokes)
    in_time = r.answered_in_time / n
    print(
        f"  {r.name:<24} {r.keystrokes} keys at {r.pace_ms:.0f} ms: suggestion visible "
        f"before the next key {r.visible / n:6.1%} (answered in time {in_time:6.1%}),"
        f" still-valid suggestions replaced {r.replaced}, model calls / 100 keys "
        f"{r.model_calls_per_100:.1f}"
    )
    for where, shown, text in r.replacements:
        print(f"    replaced at {where}: shown {shown!r}, then {text!r}")
