"""Reading other files of the user's project, safely: the only way cross-file context
touches the disk.

What may be read is decided here, once, for every source (imports resolved to files, open
documents put in the ring):

* only files under a workspace folder the editor announced (initialize's
  workspaceFolders or rootUri, didChangeWorkspaceFolders); with none, nothing;
* a path is judged after resolving symlinks, so a link that leaves the workspace is not
  followed, and judged again by the name it has inside the workspace;
* never what the repository ignores (.gitignore, .git/info/exclude), never version-control
  directories, never what the user's `project.exclude` globs name;
* never a file that looks like a secret: `.env*`, keys and certificates, SSH keys,
  `.netrc`, `.npmrc`/`.pypirc`, cloud and tool credentials;
* files over a size cap are skipped without being read, binary files (a NUL byte or
  invalid UTF-8 at the start) are skipped, and one block reads at most a total budget.

A folder that disappears is simply a folder whose files can no longer be read. Nothing
here opens a network connection or starts a process.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..config import ProjectSettings
from .gitignore import IgnoreRules

log = logging.getLogger(__name__)

SNIFF_BYTES = 8192  # how much of a file is looked at to tell binary from text
_VCS_DIRS = frozenset({".git", ".hg", ".svn", ".jj"})
# Secret-looking names, matched case-insensitively against the file name.
SECRET_NAMES = (
    ".env", ".env.*", "*.env", ".envrc", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks",
    "*.keystore", "*.crt", "*.cer", "*.der", "*.asc", "*.gpg", "*.kdbx", "*.ovpn",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", "*.ppk", ".netrc", "_netrc",
    ".npmrc", ".pypirc", ".pgpass", ".htpasswd", ".git-credentials", "credentials",
    "credentials.*", "*credentials*.json", "*secret*", "*.tfvars", "*.tfstate",
    "service-account*.json", "known_hosts", "authorized_keys",
)  # fmt: skip
# Directories whose every file is a secret (~/.ssh copied into a project, cloud configs).
SECRET_DIRS = frozenset({".ssh", ".aws", ".gnupg", ".docker", ".kube", ".azure", ".gcloud"})


def path_of_uri(uri: str) -> Path | None:
    """The local path of a file: URI, None for any other scheme."""
    parsed = urlparse(uri)
    if parsed.scheme != "file" or (parsed.netloc not in ("", "localhost")):
        return None
    path = unquote(parsed.path)
    if os.name == "nt" and path.startswith("/") and len(path) > 2 and path[2] == ":":
        path = path[1:]
    return Path(path)


def looks_secret(relative: Path) -> bool:
    parts = [p.lower() for p in relative.parts]
    if any(p in SECRET_DIRS for p in parts[:-1]):
        return True
    name = parts[-1] if parts else ""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in SECRET_NAMES)


@dataclass
class Folder:
    root: Path  # resolved
    rules: IgnoreRules


@dataclass
class ReadBudget:
    """Bytes one block may still read from disk."""

    left: int

    def take(self, size: int) -> bool:
        if size > self.left:
            return False
        self.left -= size
        return True


@dataclass
class Workspace:
    """The announced workspace folders and the rules for reading inside them."""

    settings: ProjectSettings = field(default_factory=ProjectSettings)
    _folders: dict[str, Folder] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- folders -----------------------------------------------------------------------
    def set_folders(self, uris: list[str]) -> None:
        with self._lock:
            self._folders = {}
        for uri in uris:
            self.add_folder(uri)

    def add_folder(self, uri: str) -> None:
        path = path_of_uri(uri)
        if path is None:
            log.info("workspace folder with a non-file URI ignored")
            return
        try:
            root = path.resolve(strict=True)
        except OSError:
            log.info("a workspace folder does not exist; ignored")
            return
        with self._lock:
            self._folders[uri] = Folder(root, IgnoreRules(root))

    def remove_folder(self, uri: str) -> None:
        with self._lock:
            self._folders.pop(uri, None)

    @property
    def roots(self) -> list[Path]:
        with self._lock:
            return [f.root for f in self._folders.values()]

    def _folder_for(self, resolved: Path) -> Folder | None:
        with self._lock:
            folders = list(self._folders.values())
        best = None
        for folder in folders:
            inside = resolved == folder.root or folder.root in resolved.parents
            if inside and (best is None or len(folder.root.parts) > len(best.root.parts)):
                best = folder
        return best

    # -- the rules ---------------------------------------------------------------------
    def allowed(self, path: Path) -> Path | None:
        """The resolved path when `path` may be read (see module doc), else None."""
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return None  # gone, or a symlink loop
        folder = self._folder_for(resolved)
        if folder is None or not resolved.is_file():
            return None
        relative = resolved.relative_to(folder.root)
        if not self._name_allowed(relative) or folder.rules.ignored(resolved):
            return None
        # The name it was asked by must pass too (a link inside the workspace to an
        # ignored or secret file is still that file).
        if path.is_absolute() and path != resolved:
            outer = self._folder_for(path)
            if outer is not None and not self._name_allowed(path.relative_to(outer.root)):
                return None
        return resolved

    def _name_allowed(self, relative: Path) -> bool:
        if any(part in _VCS_DIRS for part in relative.parts):
            return False
        if looks_secret(relative):
            return False
        text = relative.as_posix()
        return not any(_glob_match(text, pattern) for pattern in self.settings.exclude)

    def allowed_uri(self, uri: str) -> Path | None:
        path = path_of_uri(uri)
        return self.allowed(path) if path is not None else None

    # -- reading -----------------------------------------------------------------------
    def read(self, path: Path, budget: ReadBudget | None = None) -> str | None:
        """The text of a workspace file, or None when it may not or cannot be read."""
        resolved = self.allowed(path)
        if resolved is None:
            return None
        try:
            size = resolved.stat().st_size
            if size > self.settings.max_file_bytes:
                return None
            if budget is not None and not budget.take(size):
                return None
            with resolved.open("rb") as handle:
                data = handle.read(self.settings.max_file_bytes + 1)
        except OSError:
            return None
        return decode_text(data)

    def relative_name(self, path: Path) -> str:
        """A workspace-relative name for labels in the prompt (never an absolute path)."""
        try:
            resolved = path.resolve()
        except OSError:
            return path.name
        folder = self._folder_for(resolved)
        return resolved.relative_to(folder.root).as_posix() if folder else path.name

    def new_budget(self) -> ReadBudget:
        return ReadBudget(self.settings.max_total_bytes)


def decode_text(data: bytes) -> str | None:
    """UTF-8 text, or None for what looks binary."""
    head = data[:SNIFF_BYTES]
    if b"\x00" in head:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(data) - 4:
            return None
        return data[: exc.start].decode("utf-8")  # cut inside a character at the cap


def _glob_match(relative: str, pattern: str) -> bool:
    """A workspace-relative glob: `**` crosses directories, a pattern without `/` matches
    the name at any depth."""
    pattern = pattern.strip().lstrip("/")
    if not pattern:
        return False
    if "/" not in pattern:
        return fnmatch.fnmatchcase(relative.rsplit("/", 1)[-1], pattern)
    if fnmatch.fnmatchcase(relative, pattern):
        return True
    if pattern.endswith("/**"):
        return relative.startswith(pattern[:-3] + "/")
    return pattern.startswith("**/") and fnmatch.fnmatchcase(relative, pattern[3:])
