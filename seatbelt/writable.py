"""Where a ``workspaceWrite`` command may write under Seatbelt, and what stays
read-only: :func:`execguard.sandbox.roots.resolve_writable_roots`, computed
through a :class:`~.paths.FileSystemView` with macOS's path forms, and
split the way a Seatbelt profile needs it.

Roots, in order: the cwd, each ``writableRoots`` entry (relative ones
against the cwd), ``/tmp`` and ``$TMPDIR`` unless excluded; canonical
(``/tmp`` → ``/private/tmp``), deduplicated, missing ones skipped.

Protected paths (:data:`~execguard.sandbox.roots.PROTECTED_NAMES` at the
top of every directory root, unless that exact path is itself a writable
root) are excluded in one of two ways:

* a ``-D`` parameter, excluded both as ``literal`` (creating the name
  itself, ``mkdir .codex``) and ``subpath`` (anything beneath it), for:
  every protected name that exists (as the reference: ``<repo>/.git``,
  ``<repo>/.codex``); the in-root target of a protected name that is a
  symbolic link; the git directory a ``.git`` pointer file names; and every
  protected name of the cwd, existing or not (the reference's "symbolic"
  carveouts of the workspace, in its order ``.codex``, ``.git``,
  ``.agents``, then ours). Existing names come first, so a cwd that is a
  git repository gets ``.git`` and ``.codex`` as ``EXCLUDED_0`` and ``_1``
  as in the reference's test, then its missing names as parameters too:
  more than "missing ``.agents`` only by pattern", never less, and both
  exclude exactly the same paths;
* a pattern ``^<root>/<name>(/.*)?$`` for every protected name of every
  root, existing or not, so that names which do not exist yet cannot be
  created. Where no pattern can be written for the root (see
  :mod:`.regex`), each such name becomes a parameter instead: the same
  paths, excluded the same way.

A writable root nested in another (a workspace under ``/tmp``) is allowed
by both roots' rules, and Seatbelt grants a write when any rule allows it,
so every root's rule excludes every protected path beneath it, whichever
root it belongs to. And because a renamed directory takes its contents out
of reach of these path rules (``mv ws ws2``, write ``ws2/.git/hooks``,
move it back), no writable root and no directory between a root and a
protected path beneath it can be renamed or removed (:func:`protected_ancestors`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from ..sandbox.policy import WorkspaceWrite
from ..sandbox.roots import PROTECTED_NAMES
from .paths import FileSystemView, canonical_path, exists, is_dir, is_file
from .regex import regex_safe

__all__ = ["Carveout", "SeatbeltRoot", "protected_ancestors", "seatbelt_writable_roots"]

# The reference's order for the workspace's protected names (its "symbolic"
# carveouts), then ours.
CWD_PARAM_ORDER = (".codex", ".git", ".agents",
                   *(name for name in PROTECTED_NAMES if name not in (".codex", ".git", ".agents")))
_GITDIR_PREFIX = "gitdir:"
_MAX_GIT_FILE = 64 * 1024


@dataclass(frozen=True)
class Carveout:
    """A path kept read-only inside a writable root: by a ``-D`` parameter
    (``literal`` and ``subpath``), or by a pattern matching it and its
    subtree (``by_regex``)."""

    path: str
    by_regex: bool = False


@dataclass(frozen=True)
class SeatbeltRoot:
    """A writable root (canonical) and what stays read-only beneath it,
    parameters first, in the order they are numbered."""

    path: str
    carveouts: tuple[Carveout, ...] = ()
    # /tmp or $TMPDIR (and not also the cwd or a writableRoots entry).
    temporary: bool = False
    cwd: bool = False


def _inside(path: str, root: str) -> bool:
    """Whether ``path`` is strictly beneath ``root``."""
    if root == "/":
        return path != "/" and path.startswith("/")
    return path.startswith(root + "/")


def _gitdir(git_file: str, fs: FileSystemView) -> str | None:
    """The git directory a linked worktree's ``.git`` file names."""
    head = fs.read_head(canonical_path(git_file, fs), _MAX_GIT_FILE)
    if head is None:
        return None
    for line in head.decode("utf-8", "replace").splitlines():
        if line.startswith(_GITDIR_PREFIX):
            target = line[len(_GITDIR_PREFIX):].strip()
            if target:
                joined = posixpath.join(posixpath.dirname(git_file), target)
                return canonical_path(posixpath.normpath(joined), fs)
    return None


def _owned(root: str, is_cwd: bool, roots: Sequence[str], fs: FileSystemView) -> list[Carveout]:
    """The carveouts ``root`` brings, parameters first, then patterns."""
    if fs.kind(root) != "dir":
        return []
    granted = set(roots)
    params: list[str] = []

    def add(path: str) -> None:
        if path not in granted and path not in params:
            params.append(path)

    for name in PROTECTED_NAMES:
        path = posixpath.join(root, name)
        kind = fs.kind(path)
        if path in granted or kind is None:
            continue
        add(path)
        if kind == "symlink":
            target = canonical_path(path, fs)
            if any(target == other or _inside(target, other) for other in roots):
                add(target)
        if name == ".git" and is_file(path, fs):
            gitdir = _gitdir(path, fs)
            if gitdir is not None and is_dir(gitdir, fs):
                add(gitdir)
    if is_cwd:
        for name in CWD_PARAM_ORDER:
            add(posixpath.join(root, name))
    carveouts = [Carveout(path) for path in params]
    for name in PROTECTED_NAMES:
        path = posixpath.join(root, name)
        if path in granted:
            continue
        if regex_safe(path):
            carveouts.append(Carveout(path, by_regex=True))
        elif path not in params:  # no pattern possible: a parameter instead
            params.append(path)
            carveouts.append(Carveout(path))
    carveouts.sort(key=lambda carveout: carveout.by_regex)  # stable: parameters first
    return carveouts


def seatbelt_writable_roots(policy: WorkspaceWrite, cwd: str, fs: FileSystemView,
                            tmpdir: str | None) -> list[SeatbeltRoot]:
    """The writable roots of ``policy`` for a command run in ``cwd`` (absolute),
    ``tmpdir`` being the server's ``$TMPDIR`` (None or empty: none)."""
    candidates = [(cwd, False), *((posixpath.join(cwd, root), False)
                                  for root in policy.writable_roots)]
    if not policy.exclude_slash_tmp:
        candidates.append(("/tmp", True))
    if not policy.exclude_tmpdir_env_var and tmpdir and tmpdir.startswith("/"):
        candidates.append((tmpdir, True))
    found: dict[str, bool] = {}
    cwd_root: str | None = None
    for index, (candidate, temporary) in enumerate(candidates):
        real = canonical_path(posixpath.normpath(candidate), fs)
        if exists(real, fs) and real not in found:
            found[real] = temporary
            if index == 0:
                cwd_root = real
    roots = list(found)
    owned = {root: _owned(root, root == cwd_root, roots, fs) for root in roots}
    result = []
    for root in roots:
        # Its own carveouts first, then those of other roots that lie beneath it.
        carveouts: list[Carveout] = []
        for owner in (root, *(other for other in roots if other != root)):
            for carveout in owned[owner]:
                if _inside(carveout.path, root) and carveout not in carveouts:
                    carveouts.append(carveout)
        carveouts.sort(key=lambda carveout: carveout.by_regex)  # stable: parameters first
        result.append(SeatbeltRoot(root, tuple(carveouts), found[root], root == cwd_root))
    return result


def protected_ancestors(roots: Sequence[SeatbeltRoot]) -> list[str]:
    """Directories between a writable root and a protected path beneath it
    (both excluded): renaming one would move the protected path out of
    reach of its rule. Outermost first, deduplicated, roots left out (each
    root gets its own rule)."""
    root_paths = {root.path for root in roots}
    found: list[str] = []
    for root in roots:
        for carveout in root.carveouts:
            chain = []
            parent = posixpath.dirname(carveout.path)
            while parent != root.path and _inside(parent, root.path):
                chain.append(parent)
                parent = posixpath.dirname(parent)
            for path in reversed(chain):
                if path not in root_paths and path not in found:
                    found.append(path)
    return found
