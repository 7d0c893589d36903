"""Commands known to be safe to run without asking (decision_engine spec §7).

:func:`is_known_safe_command` answers "can this argv only read?" for a small
allow-list of programs, each with the options that would let it write files or
run other programs ruled out. The answer is a proof obligation, so every doubt
(unknown program, unknown shape, unparsable script) answers *no*.

Which behaviour belongs to which variant (spec §0):

* **classic / current** — the program list below plus read-only ``git``
  (``status``, ``log``, ``diff``, ``show``, ``branch``); pass
  ``include_git=True``.
* **latest** — the same list without ``git``, because ``git`` reads repository
  config that can run helpers (fsmonitor, pagers, textconv), so its command
  line cannot prove it read-only (§7.1). This is the default.
* **all variants** — a shell wrapper (``bash -lc SCRIPT`` and the like) is safe
  when its script splits into plain commands that are *all* safe.

Hardening beyond the reference, each closing a hole where the reference would
auto-allow a command that writes or executes (they only ever make fewer
commands known-safe):

* shell wrappers are recognised only for an exact list of shell paths (the
  *latest* rule, PR #22171): a repo-local ``./bash`` is not a shell we trust;
* ``sed -n Np FILE``: FILE must not be an option. GNU sed permutes arguments,
  so ``sed -n 1p -ew/tmp/x`` writes a file and ``sed -n 1p -fscript`` runs the
  script's ``e`` commands; ``1p`` then merely names an input file;
* ``uniq``: at most one operand, since ``uniq IN OUT`` overwrites ``OUT``;
* ``base64``: an ``o`` inside a short-option cluster (``-Do out``) and
  abbreviations of ``--output`` (``--out=x``) write a file too;
* ``rg``: a ``z`` inside a short-option cluster (``-nz``) is ``--search-zip``;
* ``git`` (classic): the pager-forcing globals ``-p`` / ``--paginate`` before
  the subcommand (an open upstream issue, #18694) are not read-only.

Out of scope: the Windows PowerShell safelist (§7.3) and Windows executable
names (``.exe`` suffixes, case folding). The classic quirk that rewrites every
argv element ``zsh`` to ``bash`` is not reproduced: with the exact shell list
(which has both) it changes no answer.

The argv is taken literally: no word is expanded, so callers must not feed it
words the shell would still expand.
"""

from __future__ import annotations

import sys

from .shell import EXACT_SHELL_PATHS, extract_shell_script

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    # Splits a wrapper's script into its plain commands; ``None`` when the
    # script is not a plain word-only command sequence (spec §3.2).
    ScriptSplitter = Callable[[str], list[list[str]] | None]

# -- the program allow-list (§7) --------------------------------------------------

# Safe whatever their arguments.
ALWAYS_SAFE_PROGRAMS = frozenset({
    "cat", "cd", "cut", "echo", "expr", "false", "grep", "head", "id", "ls", "nl",
    "paste", "pwd", "rev", "seq", "stat", "tail", "tr", "true", "uname", "wc",
    "which", "whoami",
})
# Safe whatever their arguments, on Linux only (the reference's `cfg!(linux)`).
LINUX_ONLY_SAFE_PROGRAMS = frozenset({"numfmt", "tac"})
# Safe in classic/current only (`include_git=True`).
GIT_PROGRAM = "git"

ON_LINUX = sys.platform.startswith("linux")

# base64: writing to a file. `-o` glued to its value (`-ob64.txt`) counts too.
UNSAFE_BASE64_OPTIONS = frozenset({"-o", "--output"})
UNSAFE_BASE64_OPTION_PREFIXES = ("--output=",)
# Hardening: the short letter and the long name that write a file, wherever
# getopt would find them (inside `-Do`, as `--out=x`) ...
BASE64_OUTPUT_SHORT = "o"
BASE64_OUTPUT_LONG = "output"
# ... and the letters whose value ends a cluster (macOS `-b N`, `-i FILE`,
# GNU `-w COLS`): the `o` of `-iout.txt` is part of a file name.
BASE64_SHORT_OPTIONS_WITH_VALUE = "biw"

# find: running commands, deleting, writing file lists.
UNSAFE_FIND_OPTIONS = frozenset({
    "-exec", "-execdir", "-ok", "-okdir",  # run arbitrary commands
    "-delete",  # deletes what matches
    "-fls", "-fprint", "-fprint0", "-fprintf",  # write path names to a file
})

# rg: flags that start other programs.
UNSAFE_RG_OPTIONS = frozenset({
    "--search-zip", "-z",  # runs decompression tools
})
UNSAFE_RG_OPTIONS_WITH_VALUE = ("--pre", "--hostname-bin")  # also as `--pre=cmd`
# Hardening: `-z` inside a cluster (`-nz`), unless an earlier letter of the
# cluster takes a value (the `z` of `-gz*` is a glob).
RG_SEARCH_ZIP_SHORT = "z"
RG_SHORT_OPTIONS_WITH_VALUE = "ABCEMTdefgjmrt"

# sed: only `sed -n N[,M]p [FILE]`.
SED_MAX_ARGV = 4
SED_QUIET_FLAG = "-n"

# uniq (hardening): a second operand is an output file. Options and whether
# they take a separate value, as GNU getopt parses them (an optional value,
# `--group[=METHOD]`, only ever comes after `=`).
UNIQ_MAX_OPERANDS = 1
UNIQ_SHORT_OPTIONS_WITH_VALUE = "fsw"
UNIQ_LONG_OPTIONS: Mapping[str, bool] = {
    "all-repeated": False, "check-chars": True, "count": False, "group": False,
    "help": False, "ignore-case": False, "repeated": False, "skip-chars": True,
    "skip-fields": True, "unique": False, "version": False, "zero-terminated": False,
}

# git (classic/current).
SAFE_GIT_SUBCOMMANDS = frozenset({"status", "log", "diff", "show", "branch"})
# Global options that consume the next word (`git -C dir status`); their
# `--opt=value` forms and glued `-Cdir` / `-ckey=v` do not.
GIT_GLOBAL_OPTIONS_WITH_VALUE = frozenset({
    "-C", "-c", "--config-env", "--exec-path", "--git-dir", "--namespace",
    "--super-prefix", "--work-tree",
})
GIT_GLUED_SHORT_OPTIONS_WITH_VALUE = ("-C", "-c")
# Config overrides, anywhere in the argv: they can set pagers and helpers.
GIT_CONFIG_OVERRIDE_OPTIONS = frozenset({"-c", "--config-env"})
GIT_CONFIG_OVERRIDE_PREFIXES = ("--config-env=",)
GIT_CONFIG_OVERRIDE_GLUED = "-c"
# Hardening (#18694): globals that force a pager, which repository config picks.
GIT_PAGER_GLOBAL_OPTIONS = frozenset({"-p", "--paginate"})
# Subcommand options that write files or run external tools.
UNSAFE_GIT_SUBCOMMAND_OPTIONS = frozenset({
    "--output", "--ext-diff", "--textconv", "--exec", "--paginate",
})
UNSAFE_GIT_SUBCOMMAND_OPTION_PREFIXES = ("--output=", "--exec=")
# `git branch` lists only with no arguments or with nothing but these.
READ_ONLY_GIT_BRANCH_OPTIONS = frozenset({
    "--list", "-l", "--show-current", "-a", "--all", "-r", "--remotes", "-v", "-vv",
    "--verbose",
})
READ_ONLY_GIT_BRANCH_OPTION_PREFIXES = ("--format=",)

# Shell wrappers `[shell, flag, script]` whose script may be split (§3.1,
# latest: exact paths, so a model-supplied `./bash` is not trusted). One list,
# shared with the splitter.
TRUSTED_SHELLS = EXACT_SHELL_PATHS


# -- public API -------------------------------------------------------------------


def is_known_safe_command(
    argv: Sequence[str],
    *,
    include_git: bool = False,
    split_script: ScriptSplitter | None = None,
    extract_script: Callable[[Sequence[str]], str | None] | None = None,
    linux: bool = ON_LINUX,
) -> bool:
    """Whether ``argv`` can run without asking because it only reads.

    True when the command itself is safe (:func:`is_safe_to_call_with_exec`),
    or when it is a trusted shell wrapper ``[shell, -c|-lc, script]`` whose
    script ``split_script`` turns into at least one command, every one of them
    safe. Without ``split_script`` wrappers are never safe. ``extract_script``
    replaces :func:`trusted_shell_script` in finding a wrapper's script (for
    the classic file-stem shell match). ``include_git`` selects the classic
    list (with read-only ``git``); ``linux`` adds the Linux-only programs.
    """
    if is_safe_to_call_with_exec(argv, include_git=include_git, linux=linux):
        return True
    script = (extract_script or trusted_shell_script)(argv)
    if script is None or split_script is None:
        return False
    commands = split_script(script)
    # An empty script proves nothing: it is not "no commands, all safe".
    return bool(commands) and all(
        is_safe_to_call_with_exec(command, include_git=include_git, linux=linux)
        for command in commands or ()
    )


def is_safe_to_call_with_exec(
    argv: Sequence[str], *, include_git: bool = False, linux: bool = ON_LINUX
) -> bool:
    """Whether ``argv``, run directly (no shell), is known to only read.

    Programs are recognised by the last path component of ``argv[0]``, so
    ``/usr/bin/cat`` and ``./cat`` both count as ``cat``.
    """
    if not argv:
        return False
    name = program_name(argv[0])
    if name is None:
        return False
    if name in ALWAYS_SAFE_PROGRAMS:
        return True
    if name in LINUX_ONLY_SAFE_PROGRAMS:
        return linux
    check = _ARGUMENT_CHECKS.get(name)
    if check is not None:
        return check(argv)
    if name == GIT_PROGRAM and include_git:
        return _git_is_read_only(argv)
    return False


def trusted_shell_script(argv: Sequence[str]) -> str | None:
    """The script of ``[shell, flag, script]`` when ``shell`` is one of
    :data:`TRUSTED_SHELLS` and ``flag`` is exactly ``-c`` or ``-lc``; else ``None``."""
    return extract_shell_script(argv, exact_wrappers=True)


# -- argv anatomy shared with the dangerous-command detector ----------------------


def program_name(raw: str) -> str | None:
    """The last path component of a program path (Rust ``Path::file_name``):
    ``/usr/bin/git`` → ``git``; ``None`` for ``""``, ``/``, ``.`` and ``..``."""
    name = raw.rstrip("/").rpartition("/")[2]
    return None if name in ("", ".", "..") else name


def find_git_subcommand(argv: Sequence[str]) -> tuple[int, str] | None:
    """Index and name of the git subcommand: the first word after ``argv[0]``
    that is not an option or an option's value (``git -C dir log`` → ``log``).

    Only the first such word counts: in ``git checkout status`` the subcommand
    is ``checkout``, ``status`` a branch name. The caller checks ``argv[0]``.
    """
    skip_value = False
    for index in range(1, len(argv)):
        arg = argv[index]
        if skip_value:
            skip_value = False
        elif arg in GIT_GLOBAL_OPTIONS_WITH_VALUE:
            skip_value = True
        elif not arg.startswith("-"):  # `--`, `--opt=value`, `-Cdir`: keep looking
            return index, arg
    return None


def getopt_operands(
    args: Sequence[str],
    *,
    short_with_value: str = "",
    long_options: Mapping[str, bool] | None = None,
    permute: bool = True,
) -> list[str]:
    """The operands of ``args`` (the words after the program name) as a
    getopt_long parser sees them.

    ``short_with_value`` lists the short letters that take a value (glued,
    ``-f3``, or the next word); ``long_options`` maps long names (without
    ``--``) to whether they take a separate value. Long options may be
    abbreviated to a unique prefix; an unknown or ambiguous one is read as a
    flag (the program then fails). ``--`` ends the options. With ``permute``
    (GNU) operands may come between options; without it (``+`` in the optstring,
    as sudo does) the first operand and everything after it are operands.
    """
    longs = long_options or {}
    operands: list[str] = []
    index, count = 0, len(args)
    while index < count:
        arg = args[index]
        index += 1
        if arg == "--":
            operands.extend(args[index:])
            break
        if arg.startswith("--"):
            name, has_value, _ = arg[2:].partition("=")
            if not has_value and _long_option_takes_value(name, longs):
                index += 1
        elif arg.startswith("-") and arg != "-":
            letters = arg[1:]
            for position, letter in enumerate(letters):
                if letter in short_with_value:
                    if position == len(letters) - 1:  # value is the next word
                        index += 1
                    break
        else:
            operands.append(arg)
            if not permute:
                operands.extend(args[index:])
                break
    return operands


def short_cluster_has(arg: str, letter: str, *, value_letters: str = "") -> bool:
    """Whether the single-dash cluster ``arg`` (``-rf``, ``-nz``) sets the
    option ``letter`` before any letter in ``value_letters`` swallows the rest
    of the cluster as its value."""
    if not arg.startswith("-") or arg.startswith("--"):
        return False
    for found in arg[1:]:
        if found == letter:
            return True
        if found in value_letters:
            return False
    return False


def long_option_abbreviates(arg: str, name: str) -> bool:
    """Whether ``arg`` (``--out`` or ``--out=x``) is ``--name`` or a prefix of
    it that getopt_long would accept as that option."""
    given = arg[2:].partition("=")[0] if arg.startswith("--") else ""
    return bool(given) and name.startswith(given)


# -- per-program checks -----------------------------------------------------------


def _base64_is_read_only(argv: Sequence[str]) -> bool:
    return not any(
        arg in UNSAFE_BASE64_OPTIONS
        or arg.startswith(UNSAFE_BASE64_OPTION_PREFIXES)
        # also `-o` glued to its value (`-ob64.txt`), as the reference checks
        or short_cluster_has(arg, BASE64_OUTPUT_SHORT,
                             value_letters=BASE64_SHORT_OPTIONS_WITH_VALUE)
        or long_option_abbreviates(arg, BASE64_OUTPUT_LONG)
        for arg in argv[1:]
    )


def _find_is_read_only(argv: Sequence[str]) -> bool:
    return not any(arg in UNSAFE_FIND_OPTIONS for arg in argv)


def _rg_is_read_only(argv: Sequence[str]) -> bool:
    return not any(
        arg in UNSAFE_RG_OPTIONS
        or any(arg == option or arg.startswith(option + "=")
               for option in UNSAFE_RG_OPTIONS_WITH_VALUE)
        or short_cluster_has(arg, RG_SEARCH_ZIP_SHORT,
                             value_letters=RG_SHORT_OPTIONS_WITH_VALUE)
        for arg in argv
    )


def _sed_is_read_only(argv: Sequence[str]) -> bool:
    if not 3 <= len(argv) <= SED_MAX_ARGV:
        return False
    if argv[1] != SED_QUIET_FLAG or not _is_sed_print_range(argv[2]):
        return False
    # The file, if any, must not be an option GNU sed would permute in front.
    return len(argv) == 3 or argv[3] == "-" or not argv[3].startswith("-")


def _is_sed_print_range(script: str) -> bool:
    """Whether ``script`` is ``N p`` or ``M,N p`` with ASCII digits (``12p``,
    ``1,5p``)."""
    if not script.endswith("p"):
        return False
    parts = script[:-1].split(",")
    return len(parts) <= 2 and all(_is_ascii_number(part) for part in parts)


def _is_ascii_number(text: str) -> bool:
    # str.isdigit() would also accept other scripts' digits ("١", "²").
    return bool(text) and all("0" <= c <= "9" for c in text)


def _uniq_is_read_only(argv: Sequence[str]) -> bool:
    operands = getopt_operands(argv[1:], short_with_value=UNIQ_SHORT_OPTIONS_WITH_VALUE,
                               long_options=UNIQ_LONG_OPTIONS)
    return len(operands) <= UNIQ_MAX_OPERANDS


def _git_is_read_only(argv: Sequence[str]) -> bool:
    if any(arg in GIT_CONFIG_OVERRIDE_OPTIONS
           or arg.startswith(GIT_CONFIG_OVERRIDE_PREFIXES)
           or (arg.startswith(GIT_CONFIG_OVERRIDE_GLUED) and len(arg) > 2)
           for arg in argv):
        return False
    found = find_git_subcommand(argv)
    if found is None:
        return False
    index, subcommand = found
    if subcommand not in SAFE_GIT_SUBCOMMANDS:
        return False
    if any(arg in GIT_PAGER_GLOBAL_OPTIONS for arg in argv[1:index]):
        return False
    args = argv[index + 1:]
    if any(arg in UNSAFE_GIT_SUBCOMMAND_OPTIONS
           or arg.startswith(UNSAFE_GIT_SUBCOMMAND_OPTION_PREFIXES) for arg in args):
        return False
    if subcommand == "branch":
        return _git_branch_only_lists(args)
    return True


def _git_branch_only_lists(args: Sequence[str]) -> bool:
    # Any other word could create, rename or delete a branch (`-d x`, `new`),
    # so an explicit listing flag is required when there are arguments.
    return all(arg in READ_ONLY_GIT_BRANCH_OPTIONS
               or arg.startswith(READ_ONLY_GIT_BRANCH_OPTION_PREFIXES) for arg in args)


def _long_option_takes_value(given: str, options: Mapping[str, bool]) -> bool:
    if given in options:
        return options[given]
    candidates = [name for name in options if name.startswith(given)]
    return len(candidates) == 1 and options[candidates[0]]


_ARGUMENT_CHECKS: dict[str, Callable[[Sequence[str]], bool]] = {
    "base64": _base64_is_read_only,
    "find": _find_is_read_only,
    "rg": _rg_is_read_only,
    "sed": _sed_is_read_only,
    "uniq": _uniq_is_read_only,
}
# Safe unless their arguments say otherwise (the tables above).
CHECKED_PROGRAMS = frozenset(_ARGUMENT_CHECKS)
