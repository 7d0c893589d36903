"""Where rules come from: the layers of rules files, as Codex core finds them.

Layers, lowest precedence first (spec §10.1):

1. ``default`` — the policy shipped with execguard, ``policies/default.rules``
   of the source tree (only when present);
2. ``codex`` — opt-in: an existing Codex home's ``rules/`` directory
   (``$CODEX_HOME``, default ``~/.codex``), so Codex users bring their rules
   unchanged;
3. ``user`` — ``$EXECGUARD_HOME/rules``, else
   ``${XDG_CONFIG_HOME:-~/.config}/execguard/rules``; amendments go to
   ``default.rules`` there (:func:`user_rules_file`);
4. ``project`` — every ``.execguard/rules/`` from the project root (the
   nearest ancestor of the working directory containing ``.git``, else the
   working directory itself) down to the working directory, outermost first.

Each directory is listed non-recursively; its regular files named
``<something>.rules`` (case-sensitive) are taken, sorted by name. Symlinks to
regular files count (Codex skips them; execguard follows them so that rules
kept in a dotfiles repository can be linked in). A missing directory is
fine; any other listing error is fatal. All files of all layers are evaluated
in order by one parser, so rules accumulate (the strictest decision wins) and
`host_executable` entries of later files replace earlier ones.

Project rules are read only for trusted projects, as in Codex: a checkout's
rules can add ``allow`` rules (which run commands outside the sandbox) and
``host_executable`` entries, so a hostile repository must not be able to
loosen the policy by being cloned. A project is trusted when its root is
listed in ``<user config dir>/trusted-projects`` (one absolute path per
line, see :func:`trust_project`) or when the caller passes
``trust_project=True``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .error import PolicyError
from .load import load_policy
from .policy import Policy

LayerKind = Literal["default", "codex", "user", "project"]

RULES_EXTENSION = ".rules"
DEFAULT_RULES_FILE = "default.rules"
PROJECT_DIR_NAME = ".execguard"
RULES_DIR_NAME = "rules"


class RulesDiscoveryError(PolicyError):
    """A rules directory exists but could not be listed."""

    def __init__(self, directory: str | os.PathLike[str], cause: str) -> None:
        super().__init__(f"failed to read rules files from {os.fspath(directory)}: {cause}")
        self.directory = Path(directory)
        self.cause = cause


@dataclass(frozen=True)
class RuleLayer:
    """One source of rules files, with the files it contributes, in load order."""

    kind: LayerKind
    directory: Path
    files: tuple[Path, ...]


# -- locations ------------------------------------------------------------------


def _environ(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME")
    return Path(home) if home else Path.home()


def default_rules_file() -> Path:
    """The policy shipped with execguard (it may not exist)."""
    # The package directory is linked into `execguard/`; resolve to the tree.
    return Path(__file__).resolve().parent.parent / "policies" / DEFAULT_RULES_FILE


def codex_home(env: Mapping[str, str] | None = None) -> Path:
    """``$CODEX_HOME``, else ``~/.codex``."""
    environ = _environ(env)
    configured = environ.get("CODEX_HOME")
    return Path(configured) if configured else _home(environ) / ".codex"


def user_rules_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$EXECGUARD_HOME/rules``, else ``${XDG_CONFIG_HOME:-~/.config}/execguard/rules``
    (a relative ``XDG_CONFIG_HOME`` is ignored, as the XDG spec says)."""
    environ = _environ(env)
    configured = environ.get("EXECGUARD_HOME")
    if configured:
        return Path(configured) / RULES_DIR_NAME
    xdg = environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else _home(environ) / ".config"
    return base / "execguard" / RULES_DIR_NAME


def user_rules_file(env: Mapping[str, str] | None = None) -> Path:
    """The file amendments are appended to: ``<user rules dir>/default.rules``."""
    return user_rules_dir(env) / DEFAULT_RULES_FILE


def trusted_projects_file(env: Mapping[str, str] | None = None) -> Path:
    """``<user config dir>/trusted-projects``: one project root per line."""
    return user_rules_dir(env).parent / "trusted-projects"


def is_trusted_project(root: str | os.PathLike[str], env: Mapping[str, str] | None = None
                       ) -> bool:
    """Whether ``root`` (a project root) is listed in :func:`trusted_projects_file`."""
    try:
        listed = trusted_projects_file(env).read_text(encoding="utf-8").splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except (OSError, UnicodeDecodeError) as error:
        raise RulesDiscoveryError(trusted_projects_file(env), str(error)) from None
    wanted = os.path.realpath(root)
    return any(line.strip() and os.path.realpath(line.strip()) == wanted for line in listed)


def trust_project(root: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Path:
    """Add ``root`` to :func:`trusted_projects_file` (creating it); returns the
    trusted path. Idempotent."""
    resolved = Path(os.path.realpath(root))
    if is_trusted_project(resolved, env):
        return resolved
    listing = trusted_projects_file(env)
    listing.parent.mkdir(parents=True, exist_ok=True)
    with open(listing, "a", encoding="utf-8") as handle:
        handle.write(f"{resolved}\n")
    return resolved


def _absolute(cwd: str | os.PathLike[str] | None) -> Path:
    # Lexical, like the shell's $PWD: symlinked working directories keep
    # their spelling, `..` is resolved textually.
    return Path(os.path.abspath(os.getcwd() if cwd is None else cwd))


def project_root(cwd: str | os.PathLike[str] | None = None) -> Path:
    """The nearest ancestor of ``cwd`` (itself included) containing ``.git``
    (a directory, or a file as in worktrees and submodules), else ``cwd``."""
    start = _absolute(cwd)
    for directory in (start, *start.parents):
        if os.path.lexists(directory / ".git"):
            return directory
    return start


def project_rules_dirs(cwd: str | os.PathLike[str] | None = None) -> list[Path]:
    """``<d>/.execguard/rules`` for every ``d`` from the project root down to
    ``cwd``, outermost first (whether or not they exist)."""
    start = _absolute(cwd)
    root = project_root(start)
    chain = [start]
    while chain[-1] != root:
        chain.append(chain[-1].parent)
    return [d / PROJECT_DIR_NAME / RULES_DIR_NAME for d in reversed(chain)]


# -- listing --------------------------------------------------------------------


def _cause(error: OSError) -> str:
    if error.errno is None:
        return str(error)
    return f"{error.strerror or os.strerror(error.errno)} (os error {error.errno})"


def list_rules_files(directory: str | os.PathLike[str]) -> tuple[Path, ...] | None:
    """The ``*.rules`` regular files directly in ``directory``, sorted by name
    (byte order, as the reference sorts paths); ``None`` if it does not exist.

    Raises :class:`RulesDiscoveryError` for any other listing error.
    """
    try:
        with os.scandir(directory) as listing:
            entries = list(listing)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise RulesDiscoveryError(directory, _cause(error)) from None
    files = []
    for entry in entries:
        name = entry.name
        # `.rules` alone has no extension (Rust `Path::extension`).
        if not name.endswith(RULES_EXTENSION) or name == RULES_EXTENSION:
            continue
        try:
            regular = entry.is_file()  # follows symlinks; dangling ones are skipped
        except OSError as error:
            raise RulesDiscoveryError(directory, f"{name}: {_cause(error)}") from None
        if regular:
            files.append(entry)
    files.sort(key=lambda e: os.fsencode(e.name))
    base = Path(directory)
    return tuple(base / e.name for e in files)


# -- discovery ------------------------------------------------------------------


def discover_rule_files(
    cwd: str | os.PathLike[str] | None = None,
    *,
    include_default: bool = True,
    include_codex_home: bool = False,
    include_user: bool = True,
    include_project: bool = True,
    trust_project: bool = False,
    env: Mapping[str, str] | None = None,
) -> list[RuleLayer]:
    """The rule layers for working directory ``cwd`` (default: the process's),
    lowest precedence first.

    Only layers whose directory exists are returned (an existing directory
    without rules files gives a layer with no files); a directory reached a
    second time (say ``$EXECGUARD_HOME`` is a project's ``.execguard``) is
    listed once, in its first position. Project layers are included only for
    a trusted project (see the module's docstring) or with ``trust_project``.
    ``env`` replaces ``os.environ`` for ``HOME``, ``CODEX_HOME``,
    ``EXECGUARD_HOME`` and ``XDG_CONFIG_HOME``.
    """
    layers: list[RuleLayer] = []
    seen: set[str] = set()

    def add(kind: LayerKind, directory: Path) -> None:
        key = os.path.realpath(directory)
        if key in seen:
            return
        files = list_rules_files(directory)
        if files is None:
            return
        seen.add(key)
        layers.append(RuleLayer(kind, directory, files))

    if include_default:
        shipped = default_rules_file()
        if shipped.is_file():
            layers.append(RuleLayer("default", shipped.parent, (shipped,)))
    if include_codex_home:
        add("codex", codex_home(env) / RULES_DIR_NAME)
    if include_user:
        add("user", user_rules_dir(env))
    if include_project and (trust_project or is_trusted_project(project_root(cwd), env)):
        for directory in project_rules_dirs(cwd):
            # An unrelated file named `.execguard` is not a rules location.
            if directory.parent.is_dir():
                add("project", directory)
    return layers


def discovered_files(cwd: str | os.PathLike[str] | None = None, *,
                     include_codex_home: bool = False, trust_project: bool = False
                     ) -> list[str]:
    """Every file :func:`discover_rule_files` finds, in load order."""
    layers = discover_rule_files(cwd, include_codex_home=include_codex_home,
                                 trust_project=trust_project)
    return [str(f) for layer in layers for f in layer.files]


def load_discovered_policy(
    cwd: str | os.PathLike[str] | None = None,
    *,
    include_default: bool = True,
    include_codex_home: bool = False,
    include_user: bool = True,
    include_project: bool = True,
    trust_project: bool = False,
    env: Mapping[str, str] | None = None,
    use_cache: bool | None = None,
) -> Policy:
    """Evaluate every discovered rules file, layer by layer, into one policy.

    Raises :class:`RulesDiscoveryError`, or :class:`PolicyReadError` /
    :class:`PolicyParseError` naming the failing file. (Codex core only logs a
    parse error and drops the user and project rules; here the caller decides.)
    """
    layers = discover_rule_files(
        cwd,
        include_default=include_default,
        include_codex_home=include_codex_home,
        include_user=include_user,
        include_project=include_project,
        trust_project=trust_project,
        env=env,
    )
    return load_policy([f for layer in layers for f in layer.files], use_cache=use_cache)
