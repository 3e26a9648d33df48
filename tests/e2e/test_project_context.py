"""Cross-file context end to end: a real server, the real client, a workspace on disk.

What the prompt holds is read from the server's own debug log with --log-content (the
cross-file block is logged there, and only there); every file below carries a marker
that appears nowhere else (not in the document being completed, whose text the client
sends and the content log shows), so a marker in a logged block can only have come
from that file.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import uuid
from pathlib import Path

from lsprotocol import types

from .harness import ServerSession, initialize_params, items_of

INIT = {
    "completion": {"temperature": 0.0, "maxTokensSingle": 4, "maxTokensMulti": 4},
    "project": {"maxFileBytes": 4096, "exclude": ["vendor/**"], "prewarmIdleMs": 60_000},
}
BLOCK = re.compile(r"cross-file block file (\S+):\n(.*?)(?=\n\d{4}-\d\d-\d\d |\Z)", re.DOTALL)


def _workspace(root: Path, tag: str) -> dict[str, str]:
    """A project whose app.py imports from a sibling module, an ignored file, an excluded
    file, a secret-looking file, a symlink out of the workspace, a huge and a binary
    file. Returns the marker of each."""
    marks = {k: f"{k}_{tag}" for k in ("sibling", "ignored", "excluded", "secret", "outside",
                                       "huge", "binary", "ring", "env", "gone")}  # fmt: skip
    pkg = root / "ws" / "pkg"
    (root / "ws" / "vendor").mkdir(parents=True)
    (root / "ws" / "generated").mkdir()
    (root / "outside").mkdir()
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (root / "ws" / ".gitignore").write_text("generated/\n")
    (pkg / "messaging.py").write_text(
        f'def send_message(channel, payload):\n    """{marks["sibling"]}"""\n    return True\n'
    )
    (root / "ws" / "generated" / "models.py").write_text(
        f"def build():\n    return '{marks['ignored']}'\n"
    )
    (root / "ws" / "vendor" / "lib.py").write_text(
        f"def helper():\n    return '{marks['excluded']}'\n"
    )
    (pkg / "credentials.py").write_text(f"TOKEN = '{marks['secret']}'\n")
    (root / "outside" / "elsewhere.py").write_text(f"def far():\n    return '{marks['outside']}'\n")
    os.symlink(root / "outside" / "elsewhere.py", pkg / "linked.py")
    filler = "".join(f"# line {i} of filler text\n" for i in range(400))
    (pkg / "huge.py").write_text(f"def big():\n    return '{marks['huge']}'\n" + filler)
    (pkg / "blob.py").write_bytes(
        f"def raw():\n    return '{marks['binary']}'\n".encode() + b"\0\1"
    )
    (pkg / "other.py").write_text(
        "".join(f"def ring_{i}(x):\n    return x + {i}  # {marks['ring']}\n" for i in range(6))
    )
    (root / "ws" / ".env").write_text(f"API_TOKEN={marks['env']}\n")
    (root / "ws2").mkdir()
    (root / "ws2" / "util.py").write_text(f"def clean():\n    return '{marks['gone']}'\n")
    (pkg / "app.py").write_text(
        "from . import credentials, linked\n"
        "from .messaging import send_message\n"
        "from ..generated.models import build\n"
        "from ..vendor.lib import helper\n"
        "from .huge import big\n"
        "from .blob import raw\n\n\n"
        "def notify(user):\n"
        "    build(); helper(); big(); raw(); linked.far(); credentials.TOKEN\n"
        "    return send_message("
    )
    return marks


async def _start(session: ServerSession, folders: list[Path], *args: str) -> None:
    await session.client.start_io(*session.server_command(), "serve", *args,
                                  env=session.server_env(None))  # fmt: skip
    params = initialize_params(session.editor, INIT)
    params.workspace_folders = [types.WorkspaceFolder(uri=f.as_uri(), name=f.name) for f in folders]
    session.init_result = await asyncio.wait_for(session.client.initialize_session(params), 60)


def _blocks(session: ServerSession) -> str:
    stderr = session.stderr.decode("utf-8", errors="replace")
    return "\n".join(f"{path}\n{text}" for path, text in BLOCK.findall(stderr))


async def test_prompt_holds_the_sibling_definition_and_nothing_forbidden(tmp_path):
    marks = _workspace(tmp_path, uuid.uuid4().hex[:10])
    ws, ws2 = tmp_path / "ws", tmp_path / "ws2"
    session = ServerSession()
    try:
        await _start(session, [ws, ws2], "--log-level", "debug", "--log-content")
        assert (await session.wait_state("ready"))["state"] == "ready"
        session.open_file(ws / "pkg" / "other.py")
        session.open((ws / ".env").as_uri(), (ws / ".env").read_text(), "plaintext")
        uri = session.open_file(ws / "pkg" / "app.py")
        last = (ws / "pkg" / "app.py").read_text().split("\n")
        await session.complete(uri, len(last) - 1, len(last[-1]))
        blocks = _blocks(session)
        assert marks["sibling"] in blocks, "the imported definition is in the prompt"
        assert marks["ring"] in blocks, "another open document is in the prompt's ring"
        for forbidden in ("ignored", "excluded", "secret", "outside", "huge", "binary", "env"):
            assert marks[forbidden] not in blocks, f"{forbidden} file reached the prompt"

        # A workspace folder that disappears, then is removed by the editor: still served.
        shutil.rmtree(ws2)
        assert isinstance(items_of(await session.complete(uri, len(last) - 1, len(last[-1]))), list)
        session.client.workspace_did_change_workspace_folders(
            types.DidChangeWorkspaceFoldersParams(
                event=types.WorkspaceFoldersChangeEvent(
                    added=[], removed=[types.WorkspaceFolder(uri=ws2.as_uri(), name="ws2")]
                )
            )
        )
        session.change(uri, len(last) - 1, len(last[-1]), "'")
        assert isinstance(
            items_of(await session.complete(uri, len(last) - 1, len(last[-1]) + 1)), list
        )
        assert (await session.wait_state("ready"))["state"] == "ready"
    finally:
        await session.stop()
    assert session.process.returncode == 0


async def test_default_log_holds_no_block(tmp_path):
    marks = _workspace(tmp_path, uuid.uuid4().hex[:10])
    ws = tmp_path / "ws"
    session = ServerSession()
    try:
        await _start(session, [ws], "--log-level", "debug")
        assert (await session.wait_state("ready"))["state"] == "ready"
        uri = session.open_file(ws / "pkg" / "app.py")
        last = (ws / "pkg" / "app.py").read_text().split("\n")
        await session.complete(uri, len(last) - 1, len(last[-1]))
    finally:
        await session.stop()
    stderr = session.stderr.decode("utf-8", errors="replace")
    assert "cross-file block: 1 files" in stderr or "cross-file block:" in stderr
    assert marks["sibling"] not in stderr
