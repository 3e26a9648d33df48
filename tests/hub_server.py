"""A fake Hugging Face Hub on 127.0.0.1, speaking just enough of the file routes.

huggingface_hub 2.4.0 (httpx2 underneath) needs, for `hf_hub_download`:
  HEAD /{repo}/resolve/{rev}/{file}  -> X-Repo-Commit (40 hex, else FileMetadataError),
      ETag or X-Linked-Etag (else FileMetadataError), X-Linked-Size or Content-Length (size);
      404s carry X-Error-Code (RepoNotFound / RevisionNotFound / EntryNotFound) so they map to
      the typed errors instead of a generic HTTP error.
  GET  same URL -> the bytes; a retry after a dropped connection sends `Range: bytes=N-` and
      expects 206 + Content-Range (total size is read from it).
and for `HfApi.model_info` / `list_repo_files`:
  GET /api/models/{repo}[/revision/{rev}] -> {"id", "sha", "siblings": [{"rfilename"}]}
  GET /api/models/{repo}/tree/{rev}       -> [{"type": "file", "path", "size", "oid", "lfs"}]
No X-Xet-* headers are sent, so the client takes the plain HTTP path even with hf_xet installed.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
MODEL_INFO = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?$")
TREE = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/.*)?$")
RANGE = re.compile(r"^bytes=(?P<start>\d+)-$")
# Large binary files live in LFS on the real Hub: their ETag is the sha256 of the content.
LFS_SUFFIXES = (".gguf", ".bin", ".safetensors")

Files = dict[tuple[str, str, str], bytes]


def commit_sha(repo: str, revision: str) -> str:
    return hashlib.sha1(f"{repo}\0{revision}".encode()).hexdigest()


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Seen:
    method: str
    path: str
    filename: str | None = None
    range: str | None = None


@dataclass
class HubState:
    files: Files
    requests: list[Seen] = field(default_factory=list)
    # filename -> byte count: the next GET of that file drops the connection after that many bytes.
    cut_after: dict[str, int] = field(default_factory=dict)
    # filename -> bytes served instead of the real content, while the headers still describe
    # the real content (a corrupted mirror).
    tamper: dict[str, bytes] = field(default_factory=dict)
    # filename -> (chunk bytes, seconds between chunks): a slow link.
    throttle: dict[str, tuple[int, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _etags: dict[int, str] = field(default_factory=dict)

    def commit_to_revision(self, repo: str, rev: str) -> str | None:
        for f_repo, f_rev, _ in self.files:
            if f_repo == repo and rev in (f_rev, commit_sha(f_repo, f_rev)):
                return f_rev
        return None

    def etag(self, filename: str, data: bytes) -> str:
        key = id(data)
        if key not in self._etags:
            lfs = filename.endswith(LFS_SUFFIXES)
            self._etags[key] = hashlib.sha256(data).hexdigest() if lfs else git_blob_sha(data)
        return self._etags[key]


class FakeHub:
    """Start with `with FakeHub(files) as hub:`; `hub.endpoint` goes into HF_ENDPOINT."""

    def __init__(self, files: Files) -> None:
        self.state = HubState(files=dict(files))
        handler = type("Handler", (_Handler,), {"state": self.state})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        # A short poll interval keeps shutdown() (once per test) from costing half a second.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- inspection -----------------------------------------------------------------------
    @property
    def requests(self) -> list[Seen]:
        with self.state.lock:
            return list(self.state.requests)

    def gets(self, filename: str | None = None) -> list[Seen]:
        return [
            r
            for r in self.requests
            if r.method == "GET" and r.filename is not None and filename in (None, r.filename)
        ]

    def ranges(self) -> list[str]:
        return [r.range for r in self.requests if r.range]

    def commit(self, repo: str, revision: str) -> str:
        return commit_sha(repo, revision)

    def cut_once(self, filename: str, after: int) -> None:
        with self.state.lock:
            self.state.cut_after[filename] = after

    def throttle(self, filename: str, chunk: int, delay: float) -> None:
        with self.state.lock:
            self.state.throttle[filename] = (chunk, delay)


@contextmanager
def nothing_listening() -> Iterator[str]:
    """An endpoint whose port is closed: a bound-then-closed socket is refused right away."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    yield f"http://127.0.0.1:{port}"


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps httpx2's pooled connections alive across HEAD and GET, as on the real Hub.
    protocol_version = "HTTP/1.1"
    state: HubState

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep pytest output clean

    def do_HEAD(self) -> None:
        self._dispatch(body=False)

    def do_GET(self) -> None:
        self._dispatch(body=True)

    def _dispatch(self, *, body: bool) -> None:
        path = urlsplit(self.path).path
        if match := RESOLVE.match(path):
            self._resolve(match, body=body)
        elif match := TREE.match(path):
            self._record(None)
            self._tree(unquote(match["repo"]), unquote(match["rev"]))
        elif match := MODEL_INFO.match(path):
            self._record(None)
            self._model_info(unquote(match["repo"]), unquote(match["rev"] or "main"))
        else:
            self._record(None)
            self._error(404, "RepoNotFound")

    def _record(self, filename: str | None) -> None:
        seen = Seen(self.command, self.path, filename, self.headers.get("Range"))
        with self.state.lock:
            self.state.requests.append(seen)

    def _error(self, status: int, code: str, commit: str | None = None) -> None:
        payload = json.dumps({"error": code}).encode()
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        if commit:
            self.send_header("X-Repo-Commit", commit)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(payload)

    def _lookup(self, repo: str, rev: str) -> str | None:
        if not any(f_repo == repo for f_repo, _, _ in self.state.files):
            self._error(404, "RepoNotFound")
            return None
        revision = self.state.commit_to_revision(repo, rev)
        if revision is None:
            self._error(404, "RevisionNotFound")
        return revision

    def _resolve(self, match: re.Match[str], *, body: bool) -> None:
        repo, rev, filename = unquote(match["repo"]), unquote(match["rev"]), unquote(match["file"])
        self._record(filename)
        revision = self._lookup(repo, rev)
        if revision is None:
            return
        data = self.state.files.get((repo, revision, filename))
        if data is None:
            self._error(404, "EntryNotFound", commit_sha(repo, revision))
            return
        start = 0
        if body and (wanted := RANGE.match(self.headers.get("Range", ""))):
            start = int(wanted["start"])
            if start >= len(data):
                self._error(416, "RangeNotSatisfiable")
                return
        self._send_file_headers(repo, revision, filename, data, start)
        if body:
            self._send_body(filename, data, start)

    def _send_file_headers(
        self, repo: str, revision: str, filename: str, data: bytes, start: int
    ) -> None:
        etag = self.state.etag(filename, data)
        self.send_response(206 if start else 200)
        self.send_header("X-Repo-Commit", commit_sha(repo, revision))
        self.send_header("ETag", f'"{etag}"')
        if filename.endswith(LFS_SUFFIXES):
            self.send_header("X-Linked-Etag", f'"{etag}"')
            self.send_header("X-Linked-Size", str(len(data)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()

    def _send_body(self, filename: str, data: bytes, start: int) -> None:
        with self.state.lock:
            served = self.state.tamper.get(filename, data)
            cut = self.state.cut_after.pop(filename, None)
            slow = self.state.throttle.get(filename)
        if slow is not None:
            chunk, delay = slow
            for offset in range(start, len(served), chunk):
                self.wfile.write(served[offset : offset + chunk])
                self.wfile.flush()
                time.sleep(delay)
            return
        if cut is None:
            self.wfile.write(served[start:])
            return
        # Headers promised the whole file: stopping short makes the client see a protocol
        # error mid-body, which is what a dropped connection looks like.
        self.wfile.write(served[start : start + cut])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _send_json(self, payload: object) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(raw)

    def _files_at(self, repo: str, revision: str) -> dict[str, bytes]:
        return {
            name: data
            for (f_repo, f_rev, name), data in self.state.files.items()
            if f_repo == repo and f_rev == revision
        }

    def _model_info(self, repo: str, rev: str) -> None:
        revision = self._lookup(repo, rev)
        if revision is None:
            return
        siblings = [{"rfilename": name} for name in sorted(self._files_at(repo, revision))]
        self._send_json({"id": repo, "sha": commit_sha(repo, revision), "siblings": siblings})

    def _tree(self, repo: str, rev: str) -> None:
        revision = self._lookup(repo, rev)
        if revision is None:
            return
        entries = []
        for name, data in sorted(self._files_at(repo, revision).items()):
            entry: dict[str, object] = {
                "type": "file",
                "path": name,
                "size": len(data),
                "oid": git_blob_sha(data),
            }
            if name.endswith(LFS_SUFFIXES):
                sha = hashlib.sha256(data).hexdigest()
                entry["lfs"] = {"oid": sha, "size": len(data), "pointerSize": 134}
            entries.append(entry)
        self._send_json(entries)
