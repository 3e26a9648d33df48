"""`codehearth explain | chat | review` in a terminal, with the real default model."""

from __future__ import annotations

import argparse
import io
import re
from pathlib import Path

import pytest

from codehearth.cli.assist import add_subcommands

SOURCE = "def add(a, b):\n    return a - b\n\n\nprint(add(1, 2))\n"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codehearth")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-level", default="warning")
    sub = parser.add_subparsers(dest="command", required=True)
    add_subcommands(sub, common)
    return parser


def _main(*argv: str) -> int:
    args = _parser().parse_args(list(argv))
    return args.func(args)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "calc.py"
    path.write_text(SOURCE)
    return path


def test_review_prints_file_line_severity_message(source: Path, capsys) -> None:
    assert _main("review", str(source), "--temperature", "0", "--max-tokens", "96") == 0
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line]
    pattern = re.compile(rf"^{re.escape(str(source))}:(\d+): (error|warning|info|hint): .+")
    for line in lines:
        match = pattern.match(line)
        assert match, line
        assert 1 <= int(match.group(1)) <= SOURCE.count("\n")
    assert lines or "no findings" in err


def test_explain_streams_to_stdout(source: Path, capsys) -> None:
    assert _main("explain", str(source), "--lines", "1-2", "--max-tokens", "16") == 0
    assert capsys.readouterr().out.strip()


def test_chat_reads_stdin_lines_until_quit(source: Path, capsys, monkeypatch) -> None:
    script = "What does add do?\n/reset\nSay hi.\n/quit\nnever sent\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(script))
    argv = ("chat", "--file", str(source), "--lines", "1-2", "--max-tokens", "8")
    assert _main(*argv, "--temperature", "0") == 0
    out, err = capsys.readouterr()
    assert len([line for line in out.split("\n") if line.strip()]) >= 2
    assert "conversation cleared" in err


def test_lines_outside_the_file_are_an_error(source: Path, capsys) -> None:
    assert _main("explain", str(source), "--lines", "40-41") == 2
    assert "past the end" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _parser().parse_args(["explain", str(source), "--lines", "5-2"])
