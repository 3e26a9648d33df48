"""A stand-in language server that only records what a client says in `initialize`.

An editor is pointed at this script instead of `codehearth serve`; the script answers
`initialize` with no capabilities, writes `clientInfo` and `capabilities` of the request
(the form pytest-lsp keeps its recorded clients in) to the file named by its argument, and
exits when the editor shuts it down. record.py uses it to re-record the fixtures here.

    python record_initialize.py OUT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, BinaryIO


def read_message(stream: BinaryIO) -> dict[str, Any] | None:
    length = None
    while True:
        line = stream.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return json.loads(stream.read(length or 0))


def send(stream: BinaryIO, message: dict[str, Any]) -> None:
    body = json.dumps({"jsonrpc": "2.0", **message}).encode()
    stream.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    stream.flush()


def main(out: Path) -> int:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while (message := read_message(stdin)) is not None:
        method = message.get("method")
        if method == "initialize":
            params = message["params"]
            recorded = {
                "clientInfo": params.get("clientInfo"),
                "capabilities": params["capabilities"],
            }
            out.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            info = {"name": "record-initialize", "version": "0"}
            send(stdout, {"id": message["id"], "result": {"capabilities": {}, "serverInfo": info}})
        elif method == "shutdown":
            send(stdout, {"id": message["id"], "result": None})
        elif method == "exit":
            return 0
        elif "id" in message and method is not None:
            error = {"code": -32601, "message": f"{method} is not recorded"}
            send(stdout, {"id": message["id"], "error": error})
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
