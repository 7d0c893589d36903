"""Paths as macOS sees them, whatever machine the profile is generated on.

Seatbelt matches the path the kernel resolved (no symbolic links in it), so
every path handed to a profile must already be in that form or the rule
silently matches nothing. On macOS ``/tmp``, ``/var`` and ``/etc`` are
symbolic links into ``/private``: a file written as ``/tmp/x`` is checked
as ``/private/tmp/x``. :func:`canonical_path` resolves links through a
:class:`FileSystemView` and always treats those three top-level names as
links into ``/private``, so a profile generated on Linux for macOS paths is
the one macOS would need.

A view answers three questions about a path whose parent is already
canonical: what it is (not following a final link), where a link points,
and the first bytes of a file (for a linked worktree's ``.git`` pointer).
:class:`RealFileSystem` asks the host (on a host without ``/private``,
such as Linux, ``/private/tmp/x`` is looked up as ``/tmp/x``);
:class:`MemoryFileSystem` is a tree given in full, for deterministic
profiles and tests.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterable, Mapping
from typing import Literal, Protocol

from .errors import SeatbeltError

__all__ = [
    "MACOS_ALIASES",
    "FileSystemView",
    "Kind",
    "MemoryFileSystem",
    "RealFileSystem",
    "canonical_path",
    "check_param_value",
    "exists",
    "is_dir",
    "is_file",
]

Kind = Literal["dir", "file", "symlink", "other"]

# Top-level names that macOS resolves into /private; the kernel (and so
# Seatbelt) only ever reports the /private form.
MACOS_ALIASES = {"tmp": "private/tmp", "var": "private/var", "etc": "private/etc"}
# macOS gives up after this many links in one lookup (MAXSYMLINKS).
_MAX_LINKS = 32


class FileSystemView(Protocol):
    """What a profile needs to know about the file system. Every path given
    is absolute and its parent canonical (no links in it)."""

    def kind(self, path: str) -> Kind | None:
        """What ``path`` is, not following a final symbolic link; None if
        it does not exist."""
        ...

    def readlink(self, path: str) -> str | None:
        """The target of the symbolic link ``path``, or None."""
        ...

    def read_head(self, path: str, limit: int) -> bytes | None:
        """Up to ``limit`` first bytes of the file ``path``, or None."""
        ...


class RealFileSystem:
    """The host's file system. ``private_aliases`` (default: when the host
    has no ``/private/tmp``, i.e. is not macOS): look ``/private/tmp/...``,
    ``/private/var/...`` and ``/private/etc/...`` up without the
    ``/private`` prefix, where such a host keeps them."""

    def __init__(self, *, private_aliases: bool | None = None) -> None:
        if private_aliases is None:
            private_aliases = not os.path.isdir("/private/tmp")
        self._private_aliases = private_aliases

    def _host(self, path: str) -> str:
        if self._private_aliases:
            for target in MACOS_ALIASES.values():
                prefix = "/" + target
                if path == prefix or path.startswith(prefix + "/"):
                    return path[len("/private"):]
        return path

    def kind(self, path: str) -> Kind | None:
        try:
            mode = os.lstat(self._host(path)).st_mode
        except (OSError, ValueError):  # ValueError: a NUL byte
            return None
        if stat.S_ISLNK(mode):
            return "symlink"
        if stat.S_ISDIR(mode):
            return "dir"
        return "file" if stat.S_ISREG(mode) else "other"

    def readlink(self, path: str) -> str | None:
        try:
            return os.readlink(self._host(path))
        except (OSError, ValueError):
            return None

    def read_head(self, path: str, limit: int) -> bytes | None:
        try:
            with open(self._host(path), "rb") as handle:
                return handle.read(limit)
        except (OSError, ValueError):
            return None


class MemoryFileSystem:
    """A file system given in full: directories, files (with their
    contents) and symbolic links (with their targets), by absolute path.
    Parents of every entry are directories unless listed otherwise; ``/``
    always exists. Nothing else exists."""

    def __init__(self, dirs: Iterable[str] = (), files: Mapping[str, str | bytes] | None = None,
                 symlinks: Mapping[str, str] | None = None) -> None:
        self._kinds: dict[str, Kind] = {"/": "dir"}
        self._contents: dict[str, bytes] = {}
        self._links: dict[str, str] = {}
        for path in dirs:
            self._add(path, "dir")
        for path, content in (files or {}).items():
            self._contents[self._add(path, "file")] = (
                content.encode("utf-8", "surrogateescape") if isinstance(content, str)
                else content)
        for path, target in (symlinks or {}).items():
            self._links[self._add(path, "symlink")] = target

    def _add(self, path: str, kind: Kind) -> str:
        if not path.startswith("/"):
            raise ValueError(f"MemoryFileSystem paths must be absolute: {path!r}")
        path = posixpath.normpath(path)
        self._kinds[path] = kind
        parent = posixpath.dirname(path)
        while parent not in self._kinds:
            self._kinds[parent] = "dir"
            parent = posixpath.dirname(parent)
        return path

    def kind(self, path: str) -> Kind | None:
        return self._kinds.get(path)

    def readlink(self, path: str) -> str | None:
        return self._links.get(path)

    def read_head(self, path: str, limit: int) -> bytes | None:
        content = self._contents.get(path)
        return None if content is None else content[:limit]


def canonical_path(path: str, fs: FileSystemView) -> str:
    """``path`` with every symbolic link resolved, as macOS would report it
    (``/tmp/x`` → ``/private/tmp/x``); components that do not exist are
    kept as given (``realpath`` without ``strict``). ``path`` must be
    absolute."""
    if not path.startswith("/"):
        raise SeatbeltError(f"not an absolute path: {path!r}")
    resolved = "/"
    pending = [part for part in path.split("/") if part]
    pending.reverse()  # a stack: the next component is at the end
    links = 0
    while pending:
        part = pending.pop()
        if part == ".":
            continue
        if part == "..":
            resolved = posixpath.dirname(resolved)
            continue
        candidate = posixpath.join(resolved, part)
        if resolved == "/" and part in MACOS_ALIASES:
            target: str | None = MACOS_ALIASES[part]
        else:
            target = fs.readlink(candidate)
        if target is None or links >= _MAX_LINKS:
            # Not a link, or a loop: keep the name (the path will not exist).
            resolved = candidate
            continue
        links += 1
        if target.startswith("/"):
            resolved = "/"
        pending.extend(reversed([piece for piece in target.split("/") if piece]))
    return resolved


def exists(path: str, fs: FileSystemView) -> bool:
    """Whether ``path`` (canonical) exists; a dangling or looping link does not."""
    return fs.kind(path) not in (None, "symlink")


def is_dir(path: str, fs: FileSystemView) -> bool:
    """Whether ``path`` is a directory, following symbolic links."""
    return fs.kind(canonical_path(path, fs)) == "dir"


def is_file(path: str, fs: FileSystemView) -> bool:
    """Whether ``path`` is a regular file, following symbolic links."""
    return fs.kind(canonical_path(path, fs)) == "file"


def check_param_value(path: str) -> str:
    """``path`` if it can be handed to ``sandbox-exec -DKEY=path``.

    A NUL byte cannot be in an argument at all. A path that is not UTF-8
    (here: a ``surrogateescape``d string) names no file on a Mac (APFS and
    HFS+ refuse such names), so whatever it was meant to protect or grant
    cannot be said to Seatbelt: refused rather than guessed."""
    if "\0" in path:
        raise SeatbeltError(f"path {path!r} contains a NUL byte; it cannot be passed to "
                            "sandbox-exec")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise SeatbeltError(
            f"path {path!r} is not valid UTF-8: macOS file systems (APFS, HFS+) only store "
            "UTF-8 names, so Seatbelt cannot be given this path (rename it, or run the "
            "command elsewhere)") from None
    return path
