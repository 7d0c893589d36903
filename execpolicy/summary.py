"""Command summaries for the approval UI (decision_engine spec §11).

:func:`summarize_command` turns an argv into what a person reviewing it wants
to see: "reads ``Cargo.toml``", "lists files in ``webview``", "searches for
``TODO`` in ``src``", or, when in doubt, the command itself. The summaries are
the reference's ``ParsedCommand`` (app-server ``CommandAction``) values.

Purely presentational: nothing here affects a decision, so every oddity of the
reference is kept (the UI compares these values verbatim) and any input at all
yields at least one summary rather than an error.

Imported lazily, like :mod:`.results`: the `execguard execpolicy check`
process never loads pydantic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .render import split_example, try_join
from .shell import extract_shell_script, parse_plain_commands

# Splits a wrapper's script into plain commands (§3.2), or None when the
# script is anything but a plain sequence. Provided by the shell module.
ScriptSplitter = Callable[[str], list[list[str]] | None]


class _Action(BaseModel):
    # Each variant declares `type` first and then `cmd`, so dumps list the
    # fields in the reference's order (serde writes the internal tag first).
    model_config = ConfigDict(populate_by_name=True, frozen=True)

    def to_json(self) -> dict[str, Any]:
        """The app-server ``CommandAction`` object (``type`` tag, camelCase
        keys; an absent optional field is ``null``, as serde writes it)."""
        return self.model_dump(mode="json", by_alias=True)

    def to_protocol_json(self) -> dict[str, Any]:
        """The core protocol ``ParsedCommand`` object (snake_case ``type``
        tag, the command under ``cmd``)."""
        data = self.model_dump(mode="json")
        data["type"] = _PROTOCOL_TAGS[data["type"]]
        return data


class ReadCommand(_Action):
    """A command that shows (part of) one file: ``cat``, ``sed -n 1,10p``, ...

    ``name`` is the short display form of the file; ``path`` the operand as
    written, joined onto the directory of any preceding ``cd``."""

    type: Literal["read"] = "read"
    cmd: str = Field(alias="command")
    name: str
    path: str


class ListFilesCommand(_Action):
    """A command that lists files: ``ls``, ``rg --files``, ``find``, ..."""

    type: Literal["listFiles"] = "listFiles"
    cmd: str = Field(alias="command")
    path: str | None = None


class SearchCommand(_Action):
    """A command that searches file contents or names: ``rg``, ``grep``, ..."""

    type: Literal["search"] = "search"
    cmd: str = Field(alias="command")
    query: str | None = None
    path: str | None = None


class UnknownCommand(_Action):
    """Anything else; ``cmd`` is what the UI shows verbatim."""

    type: Literal["unknown"] = "unknown"
    cmd: str = Field(alias="command")


CommandAction = Annotated[
    ReadCommand | ListFilesCommand | SearchCommand | UnknownCommand,
    Field(discriminator="type"),
]

_PROTOCOL_TAGS = {"read": "read", "listFiles": "list_files", "search": "search",
                  "unknown": "unknown"}


def _plain_commands(script: str) -> list[list[str]] | None:
    return parse_plain_commands(script, literal_words=False)


def summarize_command(
    argv: Sequence[str], *, split_script: ScriptSplitter | None = None
) -> list[CommandAction]:
    """Summaries of what `argv` does, in execution order (never empty).

    `split_script` splits a ``bash -lc``/``zsh -c``/... wrapper's script into
    its plain commands (``None`` when it is not a plain sequence); by default
    the Codex-compatible splitter of ``shell.py`` (summaries only describe, so
    the looser word rules are fine here). When any part of the command
    cannot be summarised, the result is a single unknown showing the wrapper's
    script or the quoted argv.
    """
    if split_script is None:
        split_script = _plain_commands
    try:
        tokens = [str(t) for t in argv]
    except Exception:
        return [UnknownCommand(cmd="")]
    try:
        actions = _dedupe(_summarize(tokens, split_script))
        if not actions or any(isinstance(a, UnknownCommand) for a in actions):
            # The reference returns an empty list for e.g. a lone `cd dir`;
            # a summary must always show something, so show the command.
            return [UnknownCommand(cmd=_unknown_text(tokens))]
        return actions
    except Exception:
        # Presentational only: a bug or a misbehaving splitter must never
        # turn into a failed approval request.
        try:
            return [UnknownCommand(cmd=_unknown_text(tokens))]
        except Exception:
            return [UnknownCommand(cmd=" ".join(tokens))]


# --- dispatch ---------------------------------------------------------------

_CONNECTORS = frozenset(("&&", "||", "|", ";"))


def _summarize(tokens: list[str], split_script: ScriptSplitter | None) -> list[CommandAction]:
    script = _bash_script(tokens)
    if script is not None:
        return _summarize_script(script, split_script)
    script = _powershell_script(tokens)
    if script is not None:
        return [UnknownCommand(cmd=script)]
    normalized = _drop_yes_prefix(tokens)
    if any(t in _CONNECTORS for t in normalized):
        parts = _split_on_connectors(normalized)
    else:
        parts = [normalized]
    return _simplify(_summarize_segments(parts))


def _summarize_script(script: str, split_script: ScriptSplitter | None) -> list[CommandAction]:
    commands = split_script(script) if split_script is not None else None
    if not commands:  # not a plain sequence, or no command at all
        return [UnknownCommand(cmd=script)]
    split = split_example(script)
    script_tokens = [script] if split is None else split
    had_multiple_commands = len(commands) > 1
    # Bias towards the primary command: `rg --files | head -n 50` lists files.
    kept = [list(c) for c in commands if not _is_small_formatting_command(c)]
    if not kept:
        return [UnknownCommand(cmd=script)]
    actions = _summarize_segments(kept)
    if len(actions) > 1:
        actions = [a for a in actions if not (isinstance(a, UnknownCommand) and a.cmd == "true")]
        actions = _simplify(actions)
    if len(actions) != 1:
        return actions
    # One summary left: a script without connectors is shown whole (as the
    # quoted tokens); otherwise the stage's own command, except that a file
    # read through a `sed -n` pipe (`nl -ba f | sed -n 1,9p`) shows the script.
    only = actions[0]
    had_connectors = had_multiple_commands or any(t in _CONNECTORS for t in script_tokens)
    if not had_connectors:
        if isinstance(only, UnknownCommand):
            return actions
        return [only.model_copy(update={"cmd": _shlex_join(script_tokens)})]
    if isinstance(only, ReadCommand):
        has_pipe = "|" in script_tokens
        has_sed_n = any(a == "sed" and b == "-n" for a, b in pairwise(script_tokens))
        if has_pipe and has_sed_n:
            return [only.model_copy(update={"cmd": script})]
    return actions


def _summarize_segments(segments: list[list[str]]) -> list[CommandAction]:
    """Summarise each command, tracking `cd` so read paths are where the file
    is; a `cd` itself is not summarised."""
    out: list[CommandAction] = []
    cwd: str | None = None
    for tokens in segments:
        if tokens and tokens[0] == "cd":
            target = _cd_target(tokens[1:])
            if target is not None:
                cwd = target if cwd is None else _join_paths(cwd, target)
            continue
        action = _summarize_tokens(tokens)
        if isinstance(action, ReadCommand) and cwd is not None:
            action = action.model_copy(update={"path": _join_paths(cwd, action.path)})
        out.append(action)
    return out


def _dedupe(actions: list[CommandAction]) -> list[CommandAction]:
    out: list[CommandAction] = []
    for action in actions:
        if not out or out[-1] != action:
            out.append(action)
    return out


def _simplify(actions: list[CommandAction]) -> list[CommandAction]:
    while True:
        nxt = _simplify_once(actions)
        if nxt is None:
            return actions
        actions = nxt


def _simplify_once(actions: list[CommandAction]) -> list[CommandAction] | None:
    """One reduction step, rules in the reference's order (§11 step 5)."""
    if len(actions) <= 1:
        return None
    first = actions[0]
    if isinstance(first, UnknownCommand) and _first_word(first.cmd) == "echo":
        return actions[1:]
    for i, a in enumerate(actions):  # `cd dir && x` -> x
        if isinstance(a, UnknownCommand) and _first_word(a.cmd) == "cd":
            if i + 1 < len(actions):
                return actions[:i] + actions[i + 1 :]
            break
    for i, a in enumerate(actions):  # `x || true` -> x
        if isinstance(a, UnknownCommand) and a.cmd == "true":
            return actions[:i] + actions[i + 1 :]
    for i, a in enumerate(actions):  # `x | nl -ba` -> x
        if isinstance(a, UnknownCommand):
            words = split_example(a.cmd)
            if words and words[0] == "nl" and all(w.startswith("-") for w in words[1:]):
                return actions[:i] + actions[i + 1 :]
    return None


def _first_word(cmd: str) -> str | None:
    words = split_example(cmd)
    return words[0] if words else None


# --- argv shapes ------------------------------------------------------------

_POWERSHELL = frozenset((
    "pwsh", "powershell", "pwsh.exe", "powershell.exe",
    "/usr/local/bin/pwsh", "/usr/bin/pwsh", "/bin/pwsh", "/opt/homebrew/bin/pwsh",
))
_POWERSHELL_WINDOWS = frozenset((
    "c:/windows/system32/windowspowershell/v1.0/powershell.exe",
    "c:/program files/powershell/7/pwsh.exe",
))
_POWERSHELL_FLAGS = frozenset(("-nologo", "-noprofile", "-command", "-c"))


def _bash_script(tokens: list[str]) -> str | None:
    """The script of ``[shell, -c|-lc, script]`` for a bash/zsh/sh wrapper.

    The shell must be one of the exact names the reference trusts (latest,
    §3.1): a repo-local ``./bash`` is not presented as a shell wrapper either.
    """
    return extract_shell_script(tokens, exact_wrappers=True)


def _powershell_script(tokens: list[str]) -> str | None:
    """The script after ``-Command``/``-c`` of a PowerShell invocation, whose
    other leading flags may only be ``-NoLogo``/``-NoProfile``."""
    if len(tokens) < 3:
        return None
    shell = tokens[0]
    windows_form = _ascii_lower(shell.replace("\\", "/"))
    if shell not in _POWERSHELL and windows_form not in _POWERSHELL_WINDOWS:
        return None
    for i in range(1, len(tokens) - 1):
        flag = _ascii_lower(tokens[i])
        if flag not in _POWERSHELL_FLAGS:
            return None
        if flag in ("-command", "-c"):
            return tokens[i + 1]
    return None


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _ascii_lower(s: str) -> str:
    # Rust's to_ascii_lowercase: `str.lower` would also fold e.g. the Kelvin sign.
    return s.translate(_ASCII_LOWER)


def _unknown_text(tokens: list[str]) -> str:
    """What a single unknown summary shows: a wrapper's script, else the argv."""
    script = _bash_script(tokens)
    if script is None:
        script = _powershell_script(tokens)
    return _shlex_join(tokens) if script is None else script


def _drop_yes_prefix(tokens: list[str]) -> list[str]:
    if len(tokens) >= 2 and tokens[0] in ("yes", "y", "no", "n") and tokens[1] == "|":
        return tokens[2:]
    return tokens


def _split_on_connectors(tokens: list[str]) -> list[list[str]]:
    parts: list[list[str]] = []
    cur: list[str] = []
    for t in tokens:
        if t in _CONNECTORS:
            if cur:
                parts.append(cur)
                cur = []
        else:
            cur.append(t)
    if cur:
        parts.append(cur)
    return parts


def _trim_at_connector(tokens: list[str]) -> list[str]:
    for i, t in enumerate(tokens):
        if t in _CONNECTORS:
            return tokens[:i]
    return tokens


def _shlex_join(tokens: list[str]) -> str:
    # The reference's parse_command prints this instead of failing; its
    # example checks word NUL differently (join_example).
    joined = try_join(tokens)
    return "<command included NUL byte>" if joined is None else joined


# --- per-tool summaries (§11 step 4) ----------------------------------------

_LS_VALUE_FLAGS = ("-I", "-w", "--block-size", "--format", "--time-style", "--color",
                   "--quoting-style")
_EZA_VALUE_FLAGS = ("-I", "--ignore-glob", "--color", "--sort", "--time-style", "--time")
_TREE_VALUE_FLAGS = ("-L", "-P", "-I", "--charset", "--filelimit", "--sort")
_DU_VALUE_FLAGS = ("-d", "--max-depth", "-B", "--block-size", "--exclude", "--time-style")
_RG_VALUE_FLAGS = ("-g", "--glob", "--iglob", "-t", "--type", "--type-add", "--type-not",
                   "-m", "--max-count", "-A", "-B", "-C", "--context", "--max-depth")
_GIT_LS_FILES_VALUE_FLAGS = ("--exclude", "--exclude-from", "--pathspec-from-file")
_FD_VALUE_FLAGS = ("-t", "--type", "-e", "--extension", "-E", "--exclude", "--search-path")
_AG_VALUE_FLAGS = ("-G", "-g", "--file-search-regex", "--ignore-dir", "--ignore-file",
                   "--path-to-ignore")
_BAT_VALUE_FLAGS = ("--theme", "--language", "--style", "--terminal-width", "--tabs",
                    "--line-range", "--map-syntax")
_LESS_VALUE_FLAGS = ("-p", "-P", "-x", "-y", "-z", "-j", "--pattern", "--prompt", "--tabs",
                     "--shift", "--jump-target")
_NL_VALUE_FLAGS = ("-s", "-w", "-v", "-i", "-b")
_AWK_VALUE_FLAGS = ("-F", "-v", "-f", "--field-separator", "--assign", "--file")
_SED_VALUE_FLAGS = ("-e", "-f", "--expression", "--file")
_GREP_SKIPPED_VALUE_FLAGS = frozenset((
    "-m", "--max-count", "-C", "--context", "-A", "--after-context", "-B", "--before-context",
))
_PYTHON_WALKS = ("os.walk", "os.listdir", "os.scandir", "glob.glob", "glob.iglob",
                 "pathlib.Path", ".rglob(")


def _summarize_tokens(main: list[str]) -> CommandAction:
    """The summary of one plain command."""
    cmd = _shlex_join(main)
    if not main:
        return UnknownCommand(cmd=cmd)
    head, tail = main[0], main[1:]
    if head in ("ls", "eza", "exa", "tree", "du"):
        flags = {"ls": _LS_VALUE_FLAGS, "tree": _TREE_VALUE_FLAGS, "du": _DU_VALUE_FLAGS}.get(
            head, _EZA_VALUE_FLAGS)
        return ListFilesCommand(cmd=cmd, path=_short_opt(_first_operand(tail, flags)))
    if head in ("rg", "rga", "ripgrep-all"):
        args = _trim_at_connector(tail)
        operands = _non_flags(_skip_flag_values(args, _RG_VALUE_FLAGS))
        if "--files" in args:
            return ListFilesCommand(cmd=cmd, path=_short_opt(_nth(operands, 0)))
        return SearchCommand(cmd=cmd, query=_nth(operands, 0),
                             path=_short_opt(_nth(operands, 1)))
    if head == "git":
        sub = tail[0] if tail else None
        if sub == "grep":
            return _grep_like(cmd, tail[1:])
        if sub == "ls-files":
            path = _first_operand(tail[1:], _GIT_LS_FILES_VALUE_FLAGS)
            return ListFilesCommand(cmd=cmd, path=_short_opt(path))
        return UnknownCommand(cmd=cmd)
    if head == "fd":
        query, path = _fd_query_and_path(tail)
        if query is not None:
            return SearchCommand(cmd=cmd, query=query, path=path)
        return ListFilesCommand(cmd=cmd, path=path)
    if head == "find":
        query, path = _find_query_and_path(tail)
        if query is not None:
            return SearchCommand(cmd=cmd, query=query, path=path)
        return ListFilesCommand(cmd=cmd, path=path)
    if head in ("grep", "egrep", "fgrep"):
        return _grep_like(cmd, tail)
    if head in ("ag", "ack", "pt"):
        operands = _non_flags(_skip_flag_values(_trim_at_connector(tail), _AG_VALUE_FLAGS))
        return SearchCommand(cmd=cmd, query=_nth(operands, 0),
                             path=_short_opt(_nth(operands, 1)))
    file: str | None
    if head in ("cat", "more"):
        file = _single_operand(tail, ())
    elif head in ("bat", "batcat"):
        file = _single_operand(tail, _BAT_VALUE_FLAGS)
    elif head == "less":
        file = _single_operand(tail, _LESS_VALUE_FLAGS)
    elif head in ("head", "tail"):
        file = _head_tail_file(tail, allow_plus=head == "tail")
    elif head == "awk":
        file = _awk_data_file(tail)
    elif head == "nl":
        # Skip option values (`nl -s "  " f`) so they are not taken for files.
        file = _nth(_non_flags(_skip_flag_values(tail, _NL_VALUE_FLAGS)), 0)
    elif head == "sed":
        file = _sed_read_path(tail)
    elif _is_python(head):
        if _python_walks_files(tail):
            return ListFilesCommand(cmd=cmd, path=None)
        return UnknownCommand(cmd=cmd)
    else:
        return UnknownCommand(cmd=cmd)
    if file is None:
        return UnknownCommand(cmd=cmd)
    return ReadCommand(cmd=cmd, name=_short_display_path(file), path=file)


def _grep_like(cmd: str, args: list[str]) -> CommandAction:
    """grep/egrep/fgrep/git grep: the pattern (``-e``/``-f`` or the first
    operand, never shortened) and the first path operand after it."""
    args = _trim_at_connector(args)
    operands: list[str] = []
    pattern: str | None = None
    after_double_dash = False
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if after_double_dash:
            operands.append(arg)
        elif arg == "--":
            after_double_dash = True
        elif arg in ("-e", "--regexp", "-f", "--file"):
            if i < len(args):
                if pattern is None:
                    pattern = args[i]
                i += 1
        elif arg in _GREP_SKIPPED_VALUE_FLAGS:
            i += 1
        elif not arg.startswith("-"):
            operands.append(arg)
    if pattern is None:
        query, path = _nth(operands, 0), _nth(operands, 1)
    else:
        query, path = pattern, _nth(operands, 0)
    return SearchCommand(cmd=cmd, query=query, path=_short_opt(path))


def _fd_query_and_path(args: list[str]) -> tuple[str | None, str | None]:
    operands = _non_flags(_skip_flag_values(_trim_at_connector(args), _FD_VALUE_FLAGS))
    if len(operands) == 1:
        if _is_pathish(operands[0]):
            return None, _short_display_path(operands[0])
        return operands[0], None
    if len(operands) >= 2:
        return operands[0], _short_display_path(operands[1])
    return None, None


def _find_query_and_path(args: list[str]) -> tuple[str | None, str | None]:
    args = _trim_at_connector(args)
    # The root is the first word that is not an option or operator; the
    # reference does not skip option values (`find -name x` has root `x`).
    path = next(
        (_short_display_path(a) for a in args
         if not a.startswith("-") and a not in ("!", "(", ")")),
        None,
    )
    query: str | None = None
    for i, a in enumerate(args):
        if a in ("-name", "-iname", "-path", "-regex"):
            if i + 1 < len(args):
                query = args[i + 1]
            break
    return query, path


def _head_tail_file(args: list[str], *, allow_plus: bool) -> str | None:
    """The file of ``head|tail -n N file``, ``-nN file`` or a lone ``file``."""

    def count_ok(n: str) -> bool:
        if allow_plus:
            n = n.removeprefix("+")
            return n != "" and _ascii_digits(n)
        return _ascii_digits(n)

    valid_n = False
    if args:
        if args[0] == "-n":
            valid_n = len(args) > 1 and count_ok(args[1])
        elif args[0].startswith("-n"):
            valid_n = count_ok(args[0][2:])
    if valid_n:
        rest = args[2:] if args[0] == "-n" and len(args) > 1 and count_ok(args[1]) else args
        for a in rest:
            if not a.startswith("-"):
                return a
    if len(args) == 1 and not args[0].startswith("-"):
        return args[0]
    return None


def _awk_data_file(args: list[str]) -> str | None:
    """The data file of an awk command: the first operand after a ``-f``
    script file, else the operand after the program text."""
    if not args:
        return None
    args = _trim_at_connector(args)
    operands = _non_flags(_skip_flag_values(args, _AWK_VALUE_FLAGS))
    if "-f" in args or "--file" in args:
        return _nth(operands, 0)
    return _nth(operands, 1)


def _is_sed_range(arg: str | None) -> bool:
    """``N p`` or ``M,N p`` (digits only), the script of ``sed -n`` reads."""
    if arg is None or not arg.endswith("p"):
        return False
    parts = arg[:-1].split(",")
    return len(parts) in (1, 2) and all(p != "" and _ascii_digits(p) for p in parts)


def _sed_read_path(args: list[str]) -> str | None:
    """The file of ``sed -n <range> file`` (range also via ``-e``)."""
    args = _trim_at_connector(args)
    if "-n" not in args:
        return None
    has_range = False
    i = 0
    while i < len(args):
        if args[i] in ("-e", "--expression"):
            if _is_sed_range(_nth(args, i + 1)):
                has_range = True
            i += 2
        elif args[i] in ("-f", "--file"):
            i += 2
        else:
            i += 1
    if not has_range:
        has_range = any(not a.startswith("-") and _is_sed_range(a) for a in args)
    if not has_range:
        return None
    operands = _non_flags(_skip_flag_values(args, _SED_VALUE_FLAGS))
    if not operands:
        return None
    if _is_sed_range(operands[0]):
        return _nth(operands, 1)
    return operands[0]


def _is_python(name: str) -> bool:
    return name in ("python", "python2", "python3") or name.startswith(("python2.", "python3."))


def _python_walks_files(args: list[str]) -> bool:
    """Whether the first ``-c`` program lists directories."""
    args = _trim_at_connector(args)
    for i, arg in enumerate(args):
        if arg == "-c" and i + 1 < len(args):
            return any(marker in args[i + 1] for marker in _PYTHON_WALKS)
    return False


def _cd_target(args: list[str]) -> str | None:
    """Where a ``cd`` goes: the last operand, or the word after ``--``."""
    target: str | None = None
    for i, arg in enumerate(args):
        if arg == "--":
            return _nth(args, i + 1)
        if not arg.startswith("-"):  # also skips -L/-P
            target = arg
    return target


# --- small formatting helpers (§11 step 6) ----------------------------------

_ALWAYS_FORMATTING = frozenset(("wc", "tr", "cut", "sort", "uniq", "tee", "column", "yes",
                                "printf"))


def _is_small_formatting_command(tokens: Sequence[str]) -> bool:
    """Whether a wrapper-script command only formats a pipeline's output and
    is left out of the summary (`head -n 40`, `wc -l`, plain `sed`, ...)."""
    if not tokens:
        return False
    tokens = list(tokens)
    name = tokens[0]
    if name in _ALWAYS_FORMATTING:
        return True
    if name == "xargs":
        return not _is_mutating_xargs(tokens)
    if name == "awk":
        return _awk_data_file(tokens[1:]) is None
    if name in ("head", "tail"):
        if len(tokens) == 1:
            return True
        if len(tokens) == 2:
            return tokens[1].startswith("-")
        if len(tokens) == 3:
            flag, count = tokens[1], tokens[2]
            if name == "head":
                return flag in ("-n", "-c") and _ascii_digits(count)
            return flag in ("-n", "-c") and (
                _ascii_digits(count) or (count.startswith("+") and _ascii_digits(count[1:]))
            )
        return False
    if name == "sed":
        return _sed_read_path(tokens[1:]) is None
    return False


_XARGS_VALUE_FLAGS = frozenset(("-E", "-e", "-I", "-L", "-n", "-P", "-s"))


def _is_mutating_xargs(tokens: list[str]) -> bool:
    """``xargs perl -pi ...``, ``xargs sed -i ...``, ``xargs rg --replace ...``:
    an edit, not formatting, so it stays in the summary (as unknown)."""
    i = 1
    sub: list[str] = []
    while i < len(tokens):
        token = tokens[i]
        if token == "--":
            sub = tokens[i + 1 :]
            break
        if not token.startswith("-"):
            sub = tokens[i:]
            break
        i += 2 if token in _XARGS_VALUE_FLAGS else 1
    if not sub:
        return False
    head, tail = sub[0], sub[1:]
    if head in ("perl", "ruby"):
        return _has_in_place_flag(tail)
    if head == "sed":
        return _has_in_place_flag(tail) or "--in-place" in tail
    if head == "rg":
        return "--replace" in tail
    return False


def _has_in_place_flag(tokens: list[str]) -> bool:
    return any(t.startswith(("-i", "-pi")) for t in tokens)


# --- operands and paths ------------------------------------------------------


def _ascii_digits(s: str) -> bool:
    """Every character is an ASCII digit (true for ``""``, like Rust's
    ``chars().all(..)``; `str.isdigit` would accept other scripts' digits)."""
    return all("0" <= c <= "9" for c in s)


def _nth(items: list[str], i: int) -> str | None:
    return items[i] if 0 <= i < len(items) else None


def _non_flags(args: list[str]) -> list[str]:
    return [a for a in args if not a.startswith("-")]


def _skip_flag_values(args: list[str], value_flags: Sequence[str]) -> list[str]:
    """`args` without ``--x=y`` words and the flags in `value_flags` with
    their values; everything after ``--`` is kept (it may start with ``-``)."""
    out: list[str] = []
    skip_next = False
    for i, a in enumerate(args):
        if skip_next:
            skip_next = False
            continue
        if a == "--":
            out.extend(args[i + 1 :])
            break
        if a.startswith("--") and "=" in a:
            continue
        if a in value_flags:
            skip_next = i + 1 < len(args)
            continue
        out.append(a)
    return out


def _operands(args: list[str], value_flags: Sequence[str]) -> list[str]:
    """Positional operands: not flags, not flag values, all after ``--``."""
    out: list[str] = []
    after_double_dash = False
    skip_next = False
    for i, arg in enumerate(args):
        if skip_next:
            skip_next = False
        elif after_double_dash:
            out.append(arg)
        elif arg == "--":
            after_double_dash = True
        elif arg.startswith("--") and "=" in arg:
            pass
        elif arg in value_flags:
            skip_next = i + 1 < len(args)
        elif not arg.startswith("-"):
            out.append(arg)
    return out


def _first_operand(args: list[str], value_flags: Sequence[str]) -> str | None:
    return _nth(_operands(args, value_flags), 0)


def _single_operand(args: list[str], value_flags: Sequence[str]) -> str | None:
    operands = _operands(args, value_flags)
    return operands[0] if len(operands) == 1 else None


def _is_pathish(s: str) -> bool:
    return s in (".", "..") or "/" in s or "\\" in s


def _short_display_path(path: str) -> str:
    """The last meaningful component of `path` for display: separators
    normalised, trailing ``/`` dropped, and ``build``/``dist``/
    ``node_modules``/``src`` skipped (``webview/src`` -> ``webview``,
    ``./dist`` -> ``.``)."""
    trimmed = path.replace("\\", "/").rstrip("/")
    for part in reversed(trimmed.split("/")):
        if part and part not in ("build", "dist", "node_modules", "src"):
            return part
    return trimmed


def _short_opt(path: str | None) -> str | None:
    return None if path is None else _short_display_path(path)


def _is_abs_like(path: str) -> bool:
    # POSIX absolute, a Windows drive path (`C:\`) or a UNC path (`\\server`).
    if path.startswith("/") or path.startswith("\\\\"):
        return True
    return len(path) >= 3 and path[0].isascii() and path[0].isalpha() and path[1:3] == ":\\"


def _join_paths(base: str, rel: str) -> str:
    """`rel` relative to `base`, as Rust's ``PathBuf::push`` on POSIX."""
    if _is_abs_like(rel) or not base:
        return rel
    return base + rel if base.endswith("/") else f"{base}/{rel}"
