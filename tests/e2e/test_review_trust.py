"""Review findings a user can trust, end to end: real server, real client, real SmolLM2.

The bug report: on a small file (`read_config` calling `eval`, an `average` dividing by
`len`) the embedded model's review published the prompt's own example, "An area is width
times height; this adds them.", as an error on line 1 (`import os`). Here that file is
reviewed greedily and at the default sampling, several times: no published diagnostic may
repeat prompt text, every one must refer to something on its line, none may claim to be
an error (the model is not known to review well), and the result says so once.
"""

from __future__ import annotations

from lsprotocol import types

from codehearth.assist.grounding import SMALL_MODEL_NOTICE, Grounding, refers_to, repeats_prompt
from codehearth.assist.review import prompt_only_texts

from .harness import execute, wait_for, watch_assist

CONFIG_TOOLS = """import os
import json


def read_config(path):
    with open(path) as f:
        data = eval(f.read())
    return data


def average(items):
    return sum(items) / len(items)


if __name__ == "__main__":
    print(average([1, 2, 3]))
"""
AREA = "An area is width times height; this adds them."
# Greedy first, then the manifest's sampling (temperature 0.2, unseeded: the setting of the
# report) three times.
RUNS = [{"temperature": 0.0}, None, None, None]


async def test_review_never_publishes_parroted_or_unanchored_findings(server_factory, tmp_path):
    session = await server_factory(init_options={"logContent": False})
    events = watch_assist(session)
    path = tmp_path / "config_tools.py"
    path.write_text(CONFIG_TOOLS)
    uri = session.open_file(path)
    lines = CONFIG_TOOLS.split("\n")
    grounding = Grounding(CONFIG_TOOLS, prompt_only_texts())
    published: list[types.Diagnostic] = []
    for sampling in RUNS:
        argument = {"uri": uri} | ({"sampling": sampling} if sampling else {})
        result = await execute(session, "codehearth.review", argument, timeout=240)
        await wait_for(lambda: uri in events.diagnostics)
        diagnostics = events.diagnostics.pop(uri)
        assert len(diagnostics) == len(result["findings"])
        assert result["notice"] == SMALL_MODEL_NOTICE
        assert result["dropped"] == sum(result["droppedReasons"].values())
        published += diagnostics
    for d in published:
        cited = "\n".join(lines[d.range.start.line : d.range.end.line + 1])
        assert AREA not in d.message
        assert not repeats_prompt(d.message, grounding), d.message
        assert refers_to(d.message, cited), (d.message, cited)
        assert d.severity != types.DiagnosticSeverity.Error
    # The log says how many were dropped and why, never what the code or findings said.
    log = session.stderr.decode("utf-8", "replace")
    assert "read_config" not in log and "eval(" not in log
