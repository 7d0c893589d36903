"""Commands that might be dangerous (decision_engine spec §8).

A dangerous command is never auto-allowed by the heuristics: it is prompted
for, or forbidden under ``never``. :func:`command_might_be_dangerous` takes the
detector of one variant (spec §0):

* ``"classic"`` (also *current*): ``rm`` spelled exactly so, with the force
  flag as its first argument (``rm -f``, ``rm -rf``, and the spellings some
  revisions added: ``-Rf``, ``-fr``, ``-fR``, ``--force``). ``/bin/rm -rf``,
  ``rm -r -f`` and ``rm x -f`` are not caught. ``sudo CMD`` is judged as
  ``CMD``. Git is not dangerous (PR #11510).
* ``"legacy"`` (until 2026-02-12): classic plus destructive git — ``reset``,
  ``rm``, deleting branches, forced or deleting pushes, forced ``clean``.
* ``"latest"``: any *forced* ``rm`` — the program's last path component is
  ``rm`` (``/bin/rm``) and ``--force`` or a short cluster with ``f`` appears
  anywhere before ``--`` (``rm -r -f``, ``rm x -f``).

In every variant a shell wrapper's script is searched too: the plain commands
``split_script`` finds (spec §3.2) and, for *latest*, every command
``find_commands`` finds inside complex scripts (``if``, ``for``, ``$(..)``,
redirects). A hit inside a script counts like a hit on the argv itself.

Hardening beyond the reference (each only finds more danger):

* ``sudo``'s own options and ``VAR=value`` words are skipped to find its
  command (``sudo -u x rm -f``), and that command is searched like any other
  (``sudo bash -lc 'rm -rf x'``);
* commands found in a script are searched recursively, so nested wrappers
  (``bash -lc "sh -c 'rm -rf x'"``) are seen;
* shell wrappers are recognised generously — any ``bash``/``zsh``/``sh`` path
  or file stem (``/tmp/bash``, ``bash.exe``), options before ``-c`` and
  arguments after the script (``bash -e -c SCRIPT arg0``) — because a fake
  shell is not a reason to overlook the script it is handed;
* *latest*: abbreviations of ``--force`` that GNU rm accepts (``--forc``).

Out of scope: the Windows additions (§8.4).
"""

from __future__ import annotations

from .known_safe import (
    find_git_subcommand,
    getopt_operands,
    long_option_abbreviates,
    program_name,
    short_cluster_has,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Literal

    Detector = Literal["classic", "legacy", "latest"]
    # What a hit was: a forced rm (which has its own rejection reason in
    # latest), or any other rule.
    DangerKind = Literal["forced_rm", "other"]
    ScriptSplitter = Callable[[str], list[list[str]] | None]
    CommandFinder = Callable[[str], list[list[str]]]

DETECTORS: tuple[Detector, ...] = ("classic", "legacy", "latest")
FORCED_RM: DangerKind = "forced_rm"
OTHER: DangerKind = "other"

# The latest dedicated rejection reason for a forced rm (spec §6.1, §6.2): the
# engine shows it bare, or as "`{cmd}` rejected: {reason}".
FORCED_RM_REASON = "rm -f style commands are not permitted. Use a safer approach"

# -- rm ---------------------------------------------------------------------------

# classic/legacy: argv[0] exactly `rm`, and argv[1] one of these.
CLASSIC_RM_PROGRAM = "rm"
CLASSIC_FORCED_RM_FLAGS = frozenset({"-f", "-rf", "-Rf", "-fr", "-fR", "--force"})
# latest: program name `rm`; `-f` inside any short cluster, or `--force` (or
# an abbreviation GNU rm accepts: its only long option starting with `f`).
RM_PROGRAM_NAME = "rm"
RM_FORCE_SHORT = "f"
RM_FORCE_LONG = "force"
END_OF_OPTIONS = "--"

# -- sudo -------------------------------------------------------------------------

# classic/legacy match `sudo` literally, latest by program name.
SUDO_PROGRAM = "sudo"
# sudo 1.9's getopt: `+Aa:BbC:c:D:Eeg:Hh::iKklNnPp:R:r:SsT:t:U:u:Vv` (`+`: the
# first operand starts the command). `-h`'s value is optional, so only glued.
SUDO_SHORT_OPTIONS_WITH_VALUE = "CDRTUacgprtu"
SUDO_LONG_OPTIONS: Mapping[str, bool] = {
    "askpass": False, "auth-type": True, "background": False, "bell": False,
    "chdir": True, "chroot": True, "close-from": True, "command-timeout": True,
    "edit": False, "group": True, "help": False, "host": True, "list": False,
    "login": False, "login-class": True, "non-interactive": False, "other-user": True,
    "preserve-env": False, "preserve-groups": False, "prompt": True,
    "remove-timestamp": False, "reset-timestamp": False, "role": True,
    "set-home": False, "shell": False, "stdin": False, "type": True, "user": True,
    "validate": False, "version": False,
}

# -- git (legacy) -----------------------------------------------------------------

# argv[0] *ending* in `git` (`/usr/bin/git`; the reference's test is that loose).
LEGACY_GIT_SUFFIX = "git"
# Destructive whatever their arguments.
LEGACY_GIT_DANGEROUS_SUBCOMMANDS = frozenset({"reset", "rm"})
# The Dec 2025 form looked at argv[1] only; `--force` was in that list too.
LEGACY_GIT_DANGEROUS_ARGV1 = frozenset({"--force"})
# Destructive with one of these arguments after the subcommand: exact words,
# `--opt=value` prefixes, letters inside a short cluster (`-vD`, `-fdx`).
LEGACY_GIT_UNSAFE_OPTIONS: Mapping[str, frozenset[str]] = {
    "branch": frozenset({"-d", "-D", "--delete"}),
    "push": frozenset({"--force", "--force-with-lease", "--force-if-includes", "--delete",
                       "-f", "-d"}),
    "clean": frozenset({"--force", "-f"}),
}
LEGACY_GIT_UNSAFE_OPTION_PREFIXES: Mapping[str, tuple[str, ...]] = {
    "branch": ("--delete=",),
    "push": ("--force-with-lease=", "--force-if-includes=", "--delete="),
    "clean": ("--force=",),
}
LEGACY_GIT_UNSAFE_SHORT_LETTERS: Mapping[str, str] = {
    "branch": "dD",
    "push": "fd",
    "clean": "f",
}
# `git push` refspecs `+src:dst` (force) and `:dst` (delete).
LEGACY_GIT_REFSPEC_SUBCOMMANDS = frozenset({"push"})
LEGACY_GIT_REFSPEC_MARKERS = ("+", ":")

# -- shell wrappers ---------------------------------------------------------------

SHELL_NAMES = frozenset({"bash", "zsh", "sh"})
SHELL_COMMAND_LETTER = "c"
# Options whose value is the next word (`-o errexit`, `+O extglob`, `--rcfile f`).
SHELL_SHORT_OPTIONS_WITH_VALUE = "oO"
SHELL_LONG_OPTIONS_WITH_VALUE = frozenset({"--rcfile", "--init-file"})
# Deeper nesting (wrapper in a script in a wrapper ...) is reported as danger
# rather than followed: nobody writes it, and the recursion must end.
MAX_NESTING = 32


# -- public API -------------------------------------------------------------------


def command_might_be_dangerous(
    argv: Sequence[str],
    *,
    detector: Detector = "latest",
    split_script: ScriptSplitter | None = None,
    find_commands: CommandFinder | None = None,
) -> bool:
    """Whether ``argv`` (or a command inside its shell-wrapper script) is
    dangerous by the rules of ``detector``.

    ``split_script`` splits a wrapper's script into its plain commands (``None``
    when it is not plain); ``find_commands`` (latest only) returns every
    command of a script with its statically known words, even inside control
    flow and substitutions, and is preferred over ``split_script`` when given.
    Without either, a wrapper's script is not searched.
    """
    return dangerous_command_match(argv, detector=detector, split_script=split_script,
                                   find_commands=find_commands) is not None


def dangerous_command_match(
    argv: Sequence[str],
    *,
    detector: Detector = "latest",
    split_script: ScriptSplitter | None = None,
    find_commands: CommandFinder | None = None,
) -> DangerKind | None:
    """Like :func:`command_might_be_dangerous`, but says what matched:
    :data:`FORCED_RM`, :data:`OTHER` (legacy git), or ``None``."""
    if detector not in DETECTORS:
        raise ValueError(f"unknown dangerous-command detector: {detector!r}")
    finder = find_commands if detector == "latest" else None
    return _match(argv, detector, split_script, finder, 0)


def forced_rm_reason(
    argv: Sequence[str],
    *,
    split_script: ScriptSplitter | None = None,
    find_commands: CommandFinder | None = None,
) -> str | None:
    """:data:`FORCED_RM_REASON` when the latest detector finds a forced ``rm``
    in ``argv`` (directly, under ``sudo``, or in a wrapper's script), else ``None``."""
    kind = dangerous_command_match(argv, detector="latest", split_script=split_script,
                                   find_commands=find_commands)
    return FORCED_RM_REASON if kind == FORCED_RM else None


def is_forced_rm(
    argv: Sequence[str],
    split_script: ScriptSplitter | None = None,
    *,
    find_commands: CommandFinder | None = None,
) -> bool:
    """Whether the latest detector finds a forced ``rm`` in ``argv`` (the case
    that gets :data:`FORCED_RM_REASON`)."""
    return forced_rm_reason(argv, split_script=split_script,
                            find_commands=find_commands) is not None


def shell_wrapper_script(argv: Sequence[str]) -> str | None:
    """The script a ``bash``/``zsh``/``sh`` invocation runs with ``-c``, or
    ``None``. Generous on purpose (see the module notes): ``/tmp/bash -lc S``,
    ``bash -e -o pipefail -c S``, ``sh -c S arg0 arg1`` all give ``S``."""
    if len(argv) < 3 or not _is_shell(argv[0]):
        return None
    saw_command_flag = False
    index, count = 1, len(argv)
    while index < count:
        arg = argv[index]
        index += 1
        if arg in ("--", "-"):
            break
        if arg.startswith("--"):
            if arg in SHELL_LONG_OPTIONS_WITH_VALUE:
                index += 1
            continue
        if arg[:1] in ("-", "+") and len(arg) > 1:
            letters = arg[1:]
            if arg[0] == "-" and SHELL_COMMAND_LETTER in letters:
                saw_command_flag = True
            index += sum(letters.count(letter) for letter in SHELL_SHORT_OPTIONS_WITH_VALUE)
            continue
        # The first operand: the script with -c, a script file without.
        return arg if saw_command_flag else None
    if saw_command_flag and index < count:
        return argv[index]
    return None


# -- matching ---------------------------------------------------------------------


def _match(
    argv: Sequence[str],
    detector: Detector,
    split_script: ScriptSplitter | None,
    find_commands: CommandFinder | None,
    depth: int,
) -> DangerKind | None:
    if depth > MAX_NESTING:
        return OTHER
    if not argv:
        return None
    first = argv[0]
    if detector == "latest":
        name = program_name(first)
        if name == RM_PROGRAM_NAME:
            return FORCED_RM if _rm_is_forced(argv[1:]) else None
        is_sudo = name == SUDO_PROGRAM
    else:
        if first == CLASSIC_RM_PROGRAM:
            return FORCED_RM if argv[1:2] and argv[1] in CLASSIC_FORCED_RM_FLAGS else None
        if detector == "legacy" and first.endswith(LEGACY_GIT_SUFFIX):
            return OTHER if _legacy_git_is_destructive(argv) else None
        is_sudo = first == SUDO_PROGRAM
    if is_sudo:
        return _match(_sudo_command(argv[1:]), detector, split_script, find_commands, depth + 1)

    script = shell_wrapper_script(argv)
    if script is None:
        return None
    if find_commands is not None:
        commands: list[list[str]] | None = find_commands(script)
    elif split_script is not None:
        commands = split_script(script)
    else:
        commands = None
    for command in commands or ():
        kind = _match(command, detector, split_script, find_commands, depth + 1)
        if kind is not None:
            return kind
    return None


def _rm_is_forced(args: Sequence[str]) -> bool:
    for arg in args:
        if arg == END_OF_OPTIONS:  # `rm -- -f` removes a file named -f
            return False
        if short_cluster_has(arg, RM_FORCE_SHORT) or long_option_abbreviates(arg, RM_FORCE_LONG):
            return True
    return False


def _sudo_command(args: Sequence[str]) -> list[str]:
    """The command ``sudo ARGS`` runs: after sudo's options and ``VAR=value``."""
    words = getopt_operands(args, short_with_value=SUDO_SHORT_OPTIONS_WITH_VALUE,
                            long_options=SUDO_LONG_OPTIONS, permute=False)
    start = 0
    while start < len(words) and _is_assignment(words[start]):
        start += 1
    return words[start:]


def _is_assignment(word: str) -> bool:
    name, equals, _ = word.partition("=")
    return (bool(equals) and bool(name) and not name[0].isdigit()
            and all(c == "_" or ("a" <= c.lower() <= "z") or "0" <= c <= "9" for c in name))


def _legacy_git_is_destructive(argv: Sequence[str]) -> bool:
    if len(argv) > 1 and argv[1] in LEGACY_GIT_DANGEROUS_ARGV1:
        return True
    found = find_git_subcommand(argv)
    if found is None:
        return False
    index, subcommand = found
    if subcommand in LEGACY_GIT_DANGEROUS_SUBCOMMANDS:
        return True
    exact = LEGACY_GIT_UNSAFE_OPTIONS.get(subcommand)
    if exact is None:
        return False
    prefixes = LEGACY_GIT_UNSAFE_OPTION_PREFIXES[subcommand]
    letters = LEGACY_GIT_UNSAFE_SHORT_LETTERS[subcommand]
    refspecs = subcommand in LEGACY_GIT_REFSPEC_SUBCOMMANDS
    return any(
        arg in exact
        or arg.startswith(prefixes)
        or any(short_cluster_has(arg, letter) for letter in letters)
        or (refspecs and len(arg) > 1 and arg.startswith(LEGACY_GIT_REFSPEC_MARKERS))
        for arg in argv[index + 1:]
    )


def _is_shell(raw: str) -> bool:
    # Like the classic detector: the name, else its file stem, repeatedly
    # (`bash.exe` and `/tmp/bash.evil` count as bash).
    name = program_name(raw)
    while name:
        if name in SHELL_NAMES:
            return True
        stem = name.rpartition(".")[0]
        if not stem or stem == name:
            return False
        name = stem
    return False
