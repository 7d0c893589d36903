"""Where a ``workspaceWrite`` command may write, and what stays read-only.

Writable roots, in this order: the command's cwd, each ``writableRoots``
entry (relative ones against the cwd), ``/tmp`` (unless
``excludeSlashTmp``) and the server's ``$TMPDIR`` (unless
``excludeTmpdirEnvVar``). Each is canonicalised (symlinks resolved: the
sandbox binds what the path really is), duplicates are dropped, and roots
that do not exist are skipped, as the reference does.

At the top of every writable root the names in :data:`PROTECTED_NAMES` stay
read-only whether or not they exist yet: a command must not plant git
hooks or agent configuration that later runs outside the sandbox. A
``.git`` *file* (a linked worktree's pointer, ``gitdir: <path>``) is
protected and so is the git directory it names. A protected name that the
policy grants explicitly (``writableRoots: ["<ws>/.git"]``) is writable:
that is how a user lets an agent commit.

A protected name that is a symlink is protected where it points (when that
is inside a writable root) as well as where it is.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from .policy import WorkspaceWrite

__all__ = ["PROTECTED_NAMES", "WritableRoot", "resolve_writable_roots"]

# The reference's names (`.git`, `.agents`, `.codex`; its binary also
# protects `.aws`) and our own configuration directory.
PROTECTED_NAMES = (".git", ".agents", ".codex", ".aws", ".execguard")
_GITDIR_PREFIX = "gitdir:"
_MAX_GIT_FILE = 64 * 1024


@dataclass(frozen=True)
class WritableRoot:
    """A directory (rarely a file) the command may write beneath, except
    ``read_only``: absolute paths, existing or not, kept read-only."""

    path: str
    read_only: tuple[str, ...] = ()
    # /tmp or $TMPDIR (and not also the cwd or a writableRoots entry).
    temporary: bool = False


def _canonical(path: str) -> str | None:
    """The real path of an existing ``path``, or None."""
    real = os.path.realpath(path)
    return real if os.path.exists(real) else None


def _gitdir(git_file: str) -> str | None:
    """The git directory a linked worktree's ``.git`` file names."""
    try:
        with open(git_file, "rb") as handle:
            text = handle.read(_MAX_GIT_FILE).decode("utf-8", "replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(_GITDIR_PREFIX):
            target = line[len(_GITDIR_PREFIX):].strip()
            if target:
                return os.path.realpath(os.path.join(os.path.dirname(git_file), target))
    return None


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def resolve_writable_roots(policy: WorkspaceWrite, cwd: str,
                           tmpdir: str | None = None) -> list[WritableRoot]:
    """The writable roots of ``policy`` for a command run in ``cwd``.
    ``tmpdir`` is the server's ``$TMPDIR`` (default: this process's)."""
    if tmpdir is None:
        tmpdir = os.environ.get("TMPDIR")
    candidates = [(cwd, False),
                  *((os.path.join(cwd, root), False) for root in policy.writable_roots)]
    if not policy.exclude_slash_tmp:
        candidates.append(("/tmp", True))
    if not policy.exclude_tmpdir_env_var and tmpdir:
        candidates.append((tmpdir, True))
    paths: dict[str, bool] = {}
    for candidate, temporary in candidates:
        real = _canonical(os.path.normpath(candidate))
        if real is not None and real not in paths:
            paths[real] = temporary
    granted = set(paths)
    return [WritableRoot(path, _protected(path, list(paths), granted), temporary)
            for path, temporary in paths.items()]


def _protected(root: str, roots: Sequence[str], granted: set[str]) -> tuple[str, ...]:
    if not os.path.isdir(root):
        return ()
    found: list[str] = []

    def add(path: str) -> None:
        if path not in granted and path not in found:
            found.append(path)

    for name in PROTECTED_NAMES:
        path = os.path.join(root, name)
        add(path)
        if os.path.islink(path):
            target = os.path.realpath(path)
            if any(_inside(target, other) for other in roots):
                add(target)
        if name == ".git" and os.path.isfile(path):
            gitdir = _gitdir(path)
            if gitdir is not None and os.path.isdir(gitdir):
                add(gitdir)
    return tuple(found)
