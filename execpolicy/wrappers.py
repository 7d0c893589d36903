r"""Commands that run other commands: what they run, read as they read it.

``timeout 60 pytest``, ``env CI=1 npm test``, ``xargs grep foo``, ``find .
-exec rm {} +``, ``sudo apt install x`` and ``bash -c 'echo hi'`` each run
another command. A rule that allows the wrapper must not allow what it runs
(``timeout 5 rm -rf /``), so :func:`unwrap` takes a wrapper's argv apart into
its own words (:attr:`Unwrapped.outer`), the commands it runs
(:attr:`Unwrapped.inner`), the shell scripts it runs
(:attr:`Unwrapped.scripts`) and the environment it sets for them; the engine
judges each of those on its own and calls :func:`unwrap` again on every inner
command (``sudo timeout 5 env X=1 cmd``).

Each wrapper's options are read as its own parser reads them (GNU getopt for
coreutils, util-linux, findutils, procps, sudo; bash's for the shells), so an
option's value is never taken for the command (``timeout -s KILL 5 rm``: the
command is ``rm``, not ``KILL``). Where builds differ, the options of both
are accepted when they agree on whether a value follows (BSD ``xargs -J``,
``find -E``); a build that lacks one fails on it and runs nothing. Whatever
cannot be read exactly sets :attr:`Unwrapped.problem` and the caller asks:
an unknown or ambiguous option, ``env -S`` (which splits a string into more
words), a shell started with startup files we cannot see (``bash -i``,
``--rcfile``, ``-O shopt``), ``sudo -s``, an interactive shell, and any
*dynamic* word (`execpolicy.words.Word`) that decides where the command
starts: one that may be an option where the wrapper reads options
(``timeout $OPT cmd``) or that may become zero or several words before the
command (an unquoted ``$x`` among the wrapper's own words). A dynamic word
as an option's value (``timeout -s "$SIG" 5 cmd``) or as the command itself
is fine: the inner argv simply holds it, and no rule allows a program that
is not known.

``find`` is stricter still: a dynamic word in its expression that may be
``-exec`` could start a command out of the literal words after it, and one in
an ``-exec`` clause that may be ``;`` or ``+`` could end the clause early so
that a later ``-exec`` starts another; both are problems. The ``{}`` of ``-exec`` becomes a dynamic
word whose prefix every found path starts with (the starting point, ``./``
for GNU ``-execdir``); the input ``xargs`` appends, or substitutes for the
``-I`` string, is dynamic the same way.

Not here: the readable meaning of the wrapper's own options (``env -C DIR``,
``time -o FILE``, ``nohup``'s ``nohup.out``) is left in :attr:`outer` for the
caller's rules; shells that are not a trusted path (``./bash -c``), ``bash
FILE`` and ``find`` without ``-exec`` are no wrappers (``None``): the engine
judges them as programs. Other wrappers are recognised by the last path
component of ``argv[0]`` (``/usr/bin/timeout``, and so also ``./timeout``:
its command is judged all the same).

Nothing here raises: a parser that fails on an unforeseen input gives an
:class:`Unwrapped` with a problem.
"""

from __future__ import annotations

import sys

from .environment import sensitive_variable
from .shell import EXACT_SHELL_PATHS
from .value import Value
from .words import Word

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    # (key, value, index of the word holding the value): the key is the
    # short letter or the long name; the value None for a flag.
    Option = tuple[str, Word | None, int]
    Parser = Callable[[str, Sequence[Word]], "Unwrapped | None"]

_set = object.__setattr__

# GNU find writes `{}` of -execdir as `./NAME`; BSD find as `NAME`.
GNU_FIND = sys.platform.startswith("linux")

# Shells whose `-c SCRIPT` is unwrapped: the trusted paths and dash's.
SHELL_PATHS = EXACT_SHELL_PATHS | {"dash", "/bin/dash", "/usr/bin/dash"}
# Wrappers that run their command as another user or with more privilege.
ELEVATING = frozenset({"sudo", "sudoedit", "doas", "su", "pkexec", "run0"})

XARGS_INPUT = "<xargs input>"
XARGS_SLOT = "<xargs process slot>"


class Unwrapped(Value):
    """What a wrapper command runs (see the module docstring).

    ``inner_offset`` is the index in the argv where the one inner command
    starts when it is the argv's tail, so a rule matching the argv from there
    covers it; else ``None``. ``problem`` names why the wrapper's arguments
    cannot be read exactly; the caller must then ask.
    """

    __slots__ = ("wrapper", "outer", "inner", "inner_offset", "scripts", "assignments",
                 "elevates", "problem")
    wrapper: str
    outer: list[Word]
    inner: list[list[Word]]
    inner_offset: int | None
    scripts: list[Word]
    assignments: list[tuple[str, Word]]
    elevates: bool
    problem: str | None

    def __init__(self, wrapper: str, outer: list[Word], inner: list[list[Word]],
                 inner_offset: int | None = None, scripts: list[Word] | None = None,
                 assignments: list[tuple[str, Word]] | None = None, elevates: bool = False,
                 problem: str | None = None) -> None:
        _set(self, "wrapper", wrapper)
        _set(self, "outer", outer)
        _set(self, "inner", inner)
        _set(self, "inner_offset", inner_offset)
        _set(self, "scripts", scripts if scripts is not None else [])
        _set(self, "assignments", assignments if assignments is not None else [])
        _set(self, "elevates", elevates)
        _set(self, "problem", problem)


def unwrap(argv: Sequence[Word]) -> Unwrapped | None:
    """What the wrapper command ``argv`` runs; ``None`` when ``argv[0]`` is no
    wrapper (or is dynamic). Never raises."""
    if not argv:
        return None
    program = argv[0].text
    if program is None:
        return None
    name = program.rpartition("/")[2] if "/" in program else program
    parser = _PARSERS.get(name)
    if parser is None:
        return None
    try:
        return parser(name, argv)
    except _Exits:
        # --help, --version: the wrapper prints and runs nothing.
        return Unwrapped(name, list(argv), [], elevates=name in ELEVATING)
    except _Problem as problem:
        return _problem(name, argv, str(problem))
    except Exception as error:  # a wrapper must never make the engine fail
        return _problem(name, argv, f"{name}: its arguments could not be read "
                                    f"({type(error).__name__})")


# -- shared machinery ---------------------------------------------------------------


class _Problem(Exception):
    """The wrapper's arguments cannot be read exactly (the message says why)."""


class _Exits(Exception):
    """An option makes the wrapper exit without running anything."""


def _problem(name: str, argv: Sequence[Word], reason: str) -> Unwrapped:
    return Unwrapped(name, list(argv), [], elevates=name in ELEVATING, problem=reason)


def _none(name: str, argv: Sequence[Word], *, elevates: bool = False) -> Unwrapped:
    """The wrapper runs no command (``command -v``, ``sudo -l``, ``env``)."""
    return Unwrapped(name, list(argv), [], elevates=elevates)


def _run(name: str, argv: Sequence[Word], start: int, *,
         assignments: list[tuple[str, Word]] | None = None,
         elevates: bool = False) -> Unwrapped:
    """The wrapper runs ``argv[start:]`` (nothing when that is empty)."""
    _check_fixed(name, argv, start)
    if start >= len(argv):
        return Unwrapped(name, list(argv), [], assignments=assignments, elevates=elevates)
    return Unwrapped(name, list(argv[:start]), [list(argv[start:])], inner_offset=start,
                     assignments=assignments, elevates=elevates)


def _check_fixed(name: str, argv: Sequence[Word], end: int) -> None:
    # A word that may become zero or several words moves every word after
    # it, so the command would start elsewhere.
    for word in argv[1:end]:
        if not word.single:
            raise _Problem(f"{name}: {word.source} may become several words or none, "
                           f"which moves the command it runs")


_FLAG, _VALUE, _OPTIONAL, _EXIT = 0, 1, 2, 3


class _Grammar:
    """A getopt_long grammar: short letters and long names with what they
    take (no value, a value, an optional value glued or after ``=``, or
    exit: the program prints and runs nothing).

    ``short`` is in optstring notation (``"fk:ps:v"``, ``"e::"``); ``long``
    holds names separated by blanks, with the same colons. ``help`` and
    ``version`` exit, as do the short letters in ``exits``. The tables are
    built on first use, so importing this module stays cheap."""

    __slots__ = ("_spec", "_tables")

    def __init__(self, short: str, long: str = "", *, exits: str = "") -> None:
        self._spec = (short, long, exits)
        self._tables: tuple[dict[str, int], dict[str, int]] | None = None

    @property
    def short(self) -> dict[str, int]:
        return (self._tables or self._build())[0]

    @property
    def long(self) -> dict[str, int]:
        return (self._tables or self._build())[1]

    def _build(self) -> tuple[dict[str, int], dict[str, int]]:
        short_spec, long_spec, exits = self._spec
        short: dict[str, int] = {}
        index = 0
        while index < len(short_spec):
            letter = short_spec[index]
            colons = 0
            while index + 1 + colons < len(short_spec) and short_spec[index + 1 + colons] == ":":
                colons += 1
            short[letter] = _EXIT if letter in exits else min(colons, 2)
            index += 1 + colons
        long: dict[str, int] = {}
        for entry in long_spec.split():
            name = entry.rstrip(":")
            long[name] = min(len(entry) - len(name), 2)
        long["help"] = long["version"] = _EXIT
        self._tables = (short, long)
        return self._tables


def _getopt(name: str, argv: Sequence[Word], index: int, grammar: _Grammar,
            *, limit: int = -1) -> tuple[list[Option], int, bool]:
    """Read options from ``argv[index:]`` as getopt_long with a leading ``+``
    does (up to the first operand or ``--``): the options, the index of the
    first operand, and whether ``--`` ended them. ``limit`` caps the number
    of option words read."""
    options: list[Option] = []
    count = len(argv)
    while index < count and limit != 0:
        limit -= 1
        word = argv[index]
        text = word.text
        if text is None:
            index = _dynamic_option(name, argv, index, grammar, options)
            if index < 0:
                return options, -index - 1, False
            continue
        if text == "--":
            return options, index + 1, True
        if len(text) < 2 or text[0] != "-":
            break
        if text[1] == "-":
            given, equals, value = text[2:].partition("=")
            key, takes = _long(name, grammar, given)
            if equals:
                if takes == _FLAG:
                    raise _Problem(f"{name}: --{key} takes no value")
                options.append((key, Word(value), index))
            elif takes == _VALUE:
                options.append((key, _value(name, argv, index + 1, text), index + 1))
                index += 1
            else:
                options.append((key, None, index))
        else:
            index = _short_cluster(name, argv, index, text, grammar, options)
        index += 1
    return options, index, False


def _short_cluster(name: str, argv: Sequence[Word], index: int, text: str,
                   grammar: _Grammar, options: list[Option]) -> int:
    """Read the cluster ``-abc`` at ``index``; the index of its last word."""
    for position in range(1, len(text)):
        letter = text[position]
        takes = grammar.short.get(letter)
        if takes is None:
            raise _Problem(f"{name}: unknown option -{letter}")
        if takes == _EXIT:
            raise _Exits
        if takes == _FLAG:
            options.append((letter, None, index))
            continue
        rest = text[position + 1:]
        if rest:
            options.append((letter, Word(rest), index))
        elif takes == _OPTIONAL:
            options.append((letter, None, index))
        else:
            options.append((letter, _value(name, argv, index + 1, "-" + letter), index + 1))
            return index + 1
        return index
    return index


def _dynamic_option(name: str, argv: Sequence[Word], index: int, grammar: _Grammar,
                    options: list[Option]) -> int:
    """Read a dynamic word where options are read: the index after it when
    its known prefix fixes the option and leaves only the value unknown
    (``--signal=$S``, ``-sK$S``); ``-index - 1`` when it cannot be an option
    (an operand). Else a problem."""
    word = argv[index]
    prefix = word.prefix
    if not word.may_be_option():
        return -index - 1
    if word.single and prefix.startswith("--") and "=" in prefix:
        given = prefix[2:].partition("=")[0]
        key, takes = _long(name, grammar, given)
        if takes in (_VALUE, _OPTIONAL):
            options.append((key, _tail(word, len(given) + 3), index))
            return index + 1
    elif word.single and len(prefix) > 1 and prefix[1] != "-":
        for position in range(1, len(prefix)):
            letter_takes = grammar.short.get(prefix[position])
            if letter_takes is None or letter_takes == _EXIT:
                break
            if letter_takes != _FLAG:
                # Its value is the rest of the word, once that rest is
                # known not to be empty (empty, the value is the next word).
                if position + 1 < len(prefix):
                    options.append((prefix[position], _tail(word, position + 1), index))
                    return index + 1
                break
            options.append((prefix[position], None, index))
    raise _Problem(f"{name}: {word.source} may be an option, which changes where "
                   f"the command it runs starts")


def _long(name: str, grammar: _Grammar, given: str) -> tuple[str, int]:
    takes = grammar.long.get(given)
    if takes is None:
        # getopt_long accepts any unambiguous abbreviation.
        found = [long for long in grammar.long if given and long.startswith(given)]
        if len(found) != 1:
            raise _Problem(f"{name}: unknown or ambiguous option --{given}")
        given = found[0]
        takes = grammar.long[given]
    if takes == _EXIT:
        raise _Exits
    return given, takes


def _value(name: str, argv: Sequence[Word], index: int, option: str) -> Word:
    if index >= len(argv):
        raise _Problem(f"{name}: {option} needs a value")
    return argv[index]


def _tail(word: Word, start: int) -> Word:
    """The part of ``word`` from ``start`` (the value of ``NAME=VALUE``)."""
    if word.text is not None:
        return Word(word.text[start:])
    return Word.dynamic(word.source, prefix=word.prefix[start:], single=word.single)


def _has(options: list[Option], *keys: str) -> bool:
    return any(option[0] in keys for option in options)


def _assignment(name: str, word: Word) -> tuple[str, Word] | None:
    """``NAME=VALUE`` as (NAME, VALUE), when the word's known part has the
    ``=``; else ``None``."""
    known = word.text if word.text is not None else word.prefix
    variable, equals, _ = known.partition("=")
    if not equals:
        return None
    if not variable:
        raise _Problem(f"{name}: {word.source} sets no variable")
    return variable, _tail(word, len(variable) + 1)


# -- coreutils, util-linux and friends: options, fixed operands, command ------------


def _simple(grammar: _Grammar, operands: int = 0) -> Parser:
    """A wrapper that reads options, then ``operands`` fixed words (the
    duration of timeout, the mask of taskset), then its command."""

    def parse(name: str, argv: Sequence[Word]) -> Unwrapped:
        _, index, _ = _getopt(name, argv, 1, grammar)
        return _run(name, argv, min(index + operands, len(argv)))

    return parse


_TIMEOUT = _Grammar("fk:ps:v", "foreground kill-after: preserve-status signal: verbose")
_NOHUP = _Grammar("")
_STDBUF = _Grammar("i:o:e:", "input: output: error:")
_SETSID = _Grammar("cfwhV", "ctty fork wait", exits="hV")
# GNU time 1.9 and BSD time (-h, -l).
_TIME = _Grammar("af:hlo:pqvV", "append format: output: portability quiet verbose", exits="V")
_XVFB_RUN = _Grammar("ade:f:hn:lp:s:w:", "auto-servernum auto-display error-file: auth-file: "
                     "server-num: listen-tcp xauth-protocol: server-args: wait:", exits="h")
_EXEC = _Grammar("cla:")
_BUILTIN = _Grammar("")
# nocache [-n N] [-D FILE] (a getopts shell script: no long options).
_NOCACHE = _Grammar("n:D:")


def _env(name: str, argv: Sequence[Word]) -> Unwrapped:
    options, index, _ = _getopt(name, argv, 1, _ENV)
    for key, _, _ in options:
        if key in ("S", "split-string"):
            raise _Problem(f"{name} -S splits a string into more words and options")
        if key == "P":
            raise _Problem(f"{name} -P looks the command up in another PATH")
    if index < len(argv) and argv[index].text == "-":
        index += 1  # `env -` is `env -i`
    assignments: list[tuple[str, Word]] = []
    while index < len(argv):
        pair = _assignment(name, argv[index])
        if pair is None:
            break
        assignments.append(pair)
        index += 1
    return _run(name, argv, index, assignments=assignments)


# GNU env (with the newer -a/--argv0) and BSD env's -P (a problem).
_ENV = _Grammar("a:C:iP:S:u:v0", "argv0: ignore-environment null unset: chdir: split-string: "
                "block-signal:: default-signal:: ignore-signal:: list-signal-handling debug")


def _nice(name: str, argv: Sequence[Word]) -> Unwrapped:
    # GNU nice reads an old-style adjustment (-10, --10, -+10) before each
    # getopt call, one option at a time.
    index = 1
    while index < len(argv):
        text = argv[index].text
        if text is not None and len(text) > 1 and text[0] == "-":
            digit = text[2:3] if text[1] in "-+" else text[1]
            if "0" <= digit <= "9" and digit:
                index += 1
                continue
        _, after, ended = _getopt(name, argv, index, _NICE, limit=1)
        if after == index:
            break
        index = after
        if ended:
            break
    return _run(name, argv, index)


_NICE = _Grammar("n:", "adjustment:")


def _ionice(name: str, argv: Sequence[Word]) -> Unwrapped:
    options, index, _ = _getopt(name, argv, 1, _IONICE)
    if _has(options, "p", "P", "u", "pid", "pgid", "uid"):
        return _none(name, argv)  # the operands are process ids
    return _run(name, argv, index)


_IONICE = _Grammar("c:n:p:P:u:thV", "class: classdata: pid: pgid: uid: ignore", exits="hV")


def _chrt(name: str, argv: Sequence[Word]) -> Unwrapped:
    options, index, _ = _getopt(name, argv, 1, _CHRT)
    if _has(options, "p", "pid", "m", "max"):
        return _none(name, argv)
    if index < len(argv):
        # Newer chrt lets policies without priorities leave it out, so only a
        # number is surely the priority rather than the command.
        priority = argv[index].text
        if priority is None or not priority.isascii() or not priority.isdigit():
            raise _Problem(f"{name}: {argv[index].source} may be the priority or the command")
        index += 1
    return _run(name, argv, index)


_CHRT = _Grammar("abdD:efiphmoP:rRT:vV", "all-tasks batch deadline ext fifo idle max other pid "
                 "reset-on-fork rr sched-deadline: sched-period: sched-runtime: verbose",
                 exits="hV")


def _taskset(name: str, argv: Sequence[Word]) -> Unwrapped:
    options, index, _ = _getopt(name, argv, 1, _TASKSET)
    if _has(options, "p", "pid"):
        return _none(name, argv)
    return _run(name, argv, min(index + 1, len(argv)))  # the mask, then the command


_TASKSET = _Grammar("acphV", "all-tasks cpu-list pid", exits="hV")


def _command(name: str, argv: Sequence[Word]) -> Unwrapped:
    options, index, _ = _getopt(name, argv, 1, _COMMAND)
    if _has(options, "v", "V"):
        return _none(name, argv)  # only looks the name up
    return _run(name, argv, index)


_COMMAND = _Grammar("pvV")


def _unbuffer(name: str, argv: Sequence[Word]) -> Unwrapped:
    # expect's unbuffer takes only a first `-p`; it hands the rest to
    # `spawn`, which would read a leading option of its own.
    index = 2 if len(argv) > 1 and argv[1].text == "-p" else 1
    if index < len(argv) and argv[index].may_be_option():
        raise _Problem(f"{name}: {argv[index].source} may be an option of expect's spawn")
    return _run(name, argv, index)


def _flock(name: str, argv: Sequence[Word]) -> Unwrapped:
    _, index, _ = _getopt(name, argv, 1, _FLOCK)
    if index + 1 >= len(argv):
        _check_fixed(name, argv, len(argv))
        return _none(name, argv)  # `flock FD`: locks a descriptor, runs nothing
    if argv[index + 1].text in ("-c", "--command"):
        _check_fixed(name, argv, len(argv))
        if len(argv) != index + 3:
            raise _Problem(f"{name} -c takes exactly one command string")
        return Unwrapped(name, list(argv[:index + 2]), [], scripts=[argv[index + 2]])
    return _run(name, argv, index + 1)  # the file, then the command


_FLOCK = _Grammar("sexnoFuw:E:hV", "shared exclusive unlock nonblocking nb timeout: wait: "
                  "conflict-exit-code: close no-fork verbose fcntl start: length:",
                  exits="hV")


def _watch(name: str, argv: Sequence[Word]) -> Unwrapped:
    options, index, _ = _getopt(name, argv, 1, _WATCH)
    if _has(options, "x", "exec") or index >= len(argv):
        return _run(name, argv, index)
    # watch joins its words with blanks and runs them with `sh -c`.
    _check_fixed(name, argv, index)
    return Unwrapped(name, list(argv[:index]), [], scripts=[_joined(argv[index:])])


_WATCH = _Grammar("bCcefd::ghq:n:prs:twvx", "beep color no-color differences:: errexit follow "
                  "chgexit interval: precise equexit: no-rerun shotsdir: no-title no-wrap exec",
                  exits="hv")


def _joined(words: Sequence[Word]) -> Word:
    """``words`` joined with blanks, as one word."""
    known: list[str] = []
    for word in words:
        if word.text is not None:
            known.append(word.text)
            continue
        if word.single:
            known.append(word.prefix)
        # else: it may add no word, and then no blank after the known ones.
        sources = " ".join(each.source for each in words)
        return Word.dynamic(sources, prefix=" ".join(known), single=True)
    return Word(" ".join(known))


# -- privilege ------------------------------------------------------------------------


def _sudo(name: str, argv: Sequence[Word]) -> Unwrapped:
    if name == "sudoedit":
        return _none(name, argv, elevates=True)
    options: list[Option] = []
    assignments: list[tuple[str, Word]] = []
    index = 1
    while True:
        found, index, ended = _getopt(name, argv, index, _SUDO)
        options.extend(found)
        if ended or index >= len(argv):
            break
        # sudo takes VAR=value words among its options (not one starting
        # with `/`, nor after `--`).
        word = argv[index]
        known = word.text if word.text is not None else word.prefix
        if known.startswith("/"):
            break
        pair = _assignment(name, word)
        if pair is None:
            break
        assignments.append(pair)
        index += 1
    if _has(options, "e", "edit", "l", "list", "v", "validate", "K", "remove-timestamp"):
        return _none(name, argv, elevates=True)  # edits files, lists or checks rights
    if _has(options, "s", "shell", "i", "login"):
        raise _Problem(f"{name} -s/-i runs the command through the target user's shell")
    if index >= len(argv):
        if _has(options, "k", "reset-timestamp"):
            return _none(name, argv, elevates=True)  # `sudo -k` only forgets the password
        raise _Problem(f"{name} without a command starts an interactive shell")
    return _run(name, argv, index, assignments=assignments, elevates=True)


# sudo 1.9 with BSD auth, SELinux and chroot options. sudo reads the word
# after a bare -h as the host unless it looks like an option or VAR=value,
# and then asks for help and runs nothing: `h:` takes that word whatever it
# is, which at worst finds a command where none runs.
_SUDO = _Grammar("Aa:BbC:c:D:Eeg:Hh:iKklNnPp:R:r:SsT:t:U:u:Vv",
                 "askpass auth-type: background bell close-from: login-class: chdir: "
                 "preserve-env:: edit group: set-home host: login remove-timestamp "
                 "reset-timestamp list no-update non-interactive preserve-groups prompt: "
                 "chroot: role: stdin shell command-timeout: type: other-user: user: validate",
                 exits="V")


def _doas(name: str, argv: Sequence[Word]) -> Unwrapped:
    options, index, _ = _getopt(name, argv, 1, _DOAS)
    if _has(options, "C", "L"):
        return _none(name, argv, elevates=True)  # checks the config, clears auth
    if _has(options, "s"):
        raise _Problem(f"{name} -s starts an interactive shell")
    return _run(name, argv, index, elevates=True)


_DOAS = _Grammar("C:Lnsu:")


def _su(name: str, argv: Sequence[Word]) -> Unwrapped:
    # util-linux su permutes: options may follow the user (`su root -c x`).
    options: list[Option] = []
    operands: list[int] = []
    index = 1
    while index < len(argv):
        found, index, ended = _getopt(name, argv, index, _SU)
        options.extend(found)
        if ended:
            operands.extend(range(index, len(argv)))
            break
        if index < len(argv):
            operands.append(index)
            index += 1
    _check_fixed(name, argv, len(argv))
    if operands and argv[operands[0]].text == "-":
        operands = operands[1:]  # `su -` is `su -l`
    if _has(options, "s", "shell"):
        raise _Problem(f"{name} -s runs another shell")
    if len(operands) > 1:
        raise _Problem(f"{name} hands the words after the user to the user's shell")
    scripts = [(value, at) for key, value, at in options
               if key in ("c", "command", "session-command") and value is not None]
    if not scripts:
        raise _Problem(f"{name} without -c starts an interactive shell")
    script, at = scripts[-1]
    outer = [word for position, word in enumerate(argv) if position != at]
    return Unwrapped(name, outer, [], scripts=[script], elevates=True)


_SU = _Grammar("c:fg:G:lmpPTs:w:hV", "command: session-command: fast login "
               "preserve-environment pty no-pty shell: group: supp-group: "
               "whitelist-environment:", exits="hV")


def _pkexec(name: str, argv: Sequence[Word]) -> Unwrapped:
    # pkexec compares each word with its few options, with no `--` or `=`.
    index = 1
    exits = False
    while index < len(argv):
        word = argv[index]
        text = word.text
        if text in ("--help", "--version"):
            exits = True
        elif text in ("--user", "-u"):
            _value(name, argv, index + 1, text)
            index += 1
        elif text not in ("--disable-internal-agent", "--keep-cwd"):
            if word.may_be_option():
                raise _Problem(f"{name}: {word.source} may be an option")
            break
        index += 1
    if exits:
        return _none(name, argv, elevates=True)
    if index >= len(argv):
        raise _Problem(f"{name} without a command starts an interactive shell")
    return _run(name, argv, index, elevates=True)


def _run0(name: str, argv: Sequence[Word]) -> Unwrapped:
    options, index, _ = _getopt(name, argv, 1, _RUN0)
    assignments: list[tuple[str, Word]] = []
    for key, value, _ in options:
        if key == "property":
            raise _Problem(f"{name} --property can add commands to the unit it starts")
        if key == "setenv" and value is not None:
            pair = _assignment(name, value)
            if pair is None:
                if value.text is None:
                    raise _Problem(f"{name}: --setenv {value.source} sets an unknown variable")
                # --setenv=NAME passes the caller's value on.
                pair = (value.text, Word.dynamic("$" + value.text, single=True))
            assignments.append(pair)
    if index >= len(argv):
        raise _Problem(f"{name} without a command starts an interactive shell")
    return _run(name, argv, index, assignments=assignments, elevates=True)


_RUN0 = _Grammar("u:g:D:hV", "no-ask-password machine: unit: property: description: slice: "
                 "slice-inherit user: group: nice: chdir: setenv: background: pty pipe "
                 "shell-prompt-prefix: lightweight: area:", exits="hV")


# -- xargs ------------------------------------------------------------------------------


def _xargs(name: str, argv: Sequence[Word]) -> Unwrapped:
    options, index, _ = _getopt(name, argv, 1, _XARGS)
    replace: str | None = None  # -I: replaced inside words
    replace_word: str | None = None  # BSD -J: replaces one whole word
    counts = False
    assignments: list[tuple[str, Word]] = []
    for key, value, _ in options:
        if key in ("I", "i", "replace", "J"):
            if value is None:
                text: str | None = "{}"
            else:
                text = value.text
            if not text:
                raise _Problem(f"{name}: the replace string of -{key} is empty or not known")
            if key == "J":
                replace_word = text
            else:
                replace = text
        elif key in ("L", "l", "n", "max-lines", "max-args"):
            counts = True
        elif key == "process-slot-var":
            variable = value.text if value is not None else None
            if variable is None:
                raise _Problem(f"{name}: --process-slot-var names an unknown variable")
            reason = sensitive_variable(variable)
            if reason is not None:
                raise _Problem(f"{name} --process-slot-var sets {reason}")
            assignments.append((variable, Word.dynamic(XARGS_SLOT, single=True)))
    if replace is not None and (counts or replace_word is not None):
        # GNU drops -I after a later -L/-n; BSD keeps it: builds disagree.
        raise _Problem(f"{name}: -I with -L, -n or -J is read differently by GNU and BSD")
    _check_fixed(name, argv, index)
    command = list(argv[index:]) or [Word("echo")]
    if replace is not None:
        # Each input line replaces the string inside the words: one word each.
        inner = [_fill(word, replace, "", single=True) for word in command]
    elif replace_word is not None and any(word.may_equal(replace_word) for word in command):
        at = next(position for position, word in enumerate(command)
                  if word.may_equal(replace_word))
        if command[at].text is None:
            raise _Problem(f"{name}: {command[at].source} may be the -J string")
        inner = [*command[:at], Word.dynamic(XARGS_INPUT, single=False), *command[at + 1:]]
    else:
        inner = [*command, Word.dynamic(XARGS_INPUT, single=False)]
    return Unwrapped(name, list(argv[:index]), [inner], assignments=assignments)


# GNU findutils 4.9 and BSD xargs (-J, -R, -S).
_XARGS = _Grammar("0a:d:E:e::I:i::J:l::L:n:oP:prR:s:S:tx",
                  "null arg-file: delimiter: eof:: replace:: max-lines:: max-args: max-procs: "
                  "open-tty interactive no-run-if-empty max-chars: verbose show-limits exit "
                  "process-slot-var:")


def _fill(word: Word, marker: str, filled_prefix: str, *, single: bool) -> Word:
    """``word`` with ``marker`` replaced by an unknown value starting with
    ``filled_prefix`` (find's path, xargs's input line)."""
    if word.text is not None:
        found = word.text.find(marker)
        if found < 0:
            return word
        return Word.dynamic(word.source, prefix=word.text[:found] + filled_prefix,
                            single=single)
    # A dynamic word's value may hold the marker too, even across the end
    # of its known prefix: keep only what comes before any possible start.
    prefix = word.prefix
    found = prefix.find(marker)
    if found >= 0:
        return Word.dynamic(word.source, prefix=prefix[:found] + filled_prefix,
                            single=word.single)
    for start in range(max(0, len(prefix) - len(marker) + 1), len(prefix)):
        if marker.startswith(prefix[start:]):
            return Word.dynamic(word.source, prefix=prefix[:start], single=word.single)
    return word


# -- find -------------------------------------------------------------------------------


_FIND_EXEC = frozenset({"-exec", "-execdir", "-ok", "-okdir"})
_FIND_IN_DIR = frozenset({"-execdir", "-okdir"})
_FIND_WITH_PLUS = frozenset({"-exec", "-execdir"})
# Front options before the starting points: GNU -H -L -P -D X -O<n>, BSD
# -E -X -d -s -x (clustered) and -f PATH.
_FIND_FRONT_LETTERS = frozenset("HLPEXdsx")
# Primaries whose next words are their values (never -exec), in GNU and BSD
# find; one a build lacks fails there. -depth is left out: BSD's may take a
# value, GNU's takes none.
_FIND_VALUES = {
    **dict.fromkeys((
        "-amin", "-anewer", "-atime", "-Bmin", "-Bnewer", "-Btime", "-cmin", "-cnewer",
        "-context", "-ctime", "-files0-from", "-flags", "-fls", "-fprint", "-fprint0",
        "-fstype", "-gid", "-group", "-ilname", "-iname", "-inum", "-ipath", "-iregex",
        "-iwholename", "-links", "-lname", "-maxdepth", "-mindepth", "-mmin", "-mnewer",
        "-mtime", "-name", "-newer", "-path", "-perm", "-printf", "-regex", "-regextype",
        "-samefile", "-size", "-type", "-uid", "-used", "-user", "-wholename",
        "-xattrname", "-xtype"), 1),
    "-fprintf": 2,
}
_FIND_OPERATORS = frozenset({"(", ")", "!", ","})


def _find(name: str, argv: Sequence[Word]) -> Unwrapped | None:
    count = len(argv)
    index = 1
    starts: list[int] = []  # indexes of the starting points
    while index < count:  # front options
        text = argv[index].text
        if text == "--":  # ends the options; starting points follow
            index += 1
            break
        if text == "-D":
            index += 2
        elif text == "-f":  # BSD: a starting point that may start with `-`
            _value(name, argv, index + 1, text)
            starts.append(index + 1)
            index += 2
        elif text is not None and len(text) > 1 and text[0] == "-" and (
                text.startswith("-O") or _FIND_FRONT_LETTERS.issuperset(text[1:])):
            index += 1
        else:
            break
    while index < count and not _find_expression_starts(argv[index], leading=not starts):
        starts.append(index)
        index += 1
    outer = list(argv[:index])
    clauses: list[tuple[int, int]] = []  # (index of -exec, index of its terminator)
    files_from = False
    while index < count:
        word = argv[index]
        text = word.text
        if text in _FIND_EXEC:
            end = _find_clause_end(name, argv, index)
            clauses.append((index, end))
            index = end + 1
            continue
        outer.append(word)
        if text is None:
            _find_check_injection(name, argv, index)
            index += 1
            continue
        if text == "-files0-from":
            files_from = True
        values = _FIND_VALUES.get(text, 0)
        if text.startswith("-newer") and len(text) == 8:
            values = 1  # -newerXY
        for at in range(index + 1, min(index + 1 + values, count)):
            outer.append(argv[at])
            if not argv[at].single:
                # A value that becomes several words adds expression words.
                _find_check_injection(name, argv, at)
        index += 1 + values
    for at in starts:
        if argv[at].text is None:
            _find_check_injection(name, argv, at)
    if not clauses:
        return None
    start_words = [argv[at] for at in starts]
    inner = [_find_command(argv, at, end, start_words, files_from) for at, end in clauses]
    return Unwrapped(f"{name} -exec", outer, inner)


def _find_expression_starts(word: Word, *, leading: bool) -> bool:
    # GNU's looks_like_expression: `-x`, `!`, `(`; `)` and `,` unless first.
    text = word.text
    if text is None:
        return False
    if text.startswith("-"):
        return len(text) > 1
    if text in ("!", "("):
        return True
    return text in (")", ",") and not leading


def _find_clause_end(name: str, argv: Sequence[Word], at: int) -> int:
    """The index of the ``;`` or ``{} +`` that ends the clause at ``at``.

    A word that may end the clause before that (a dynamic ``;``, or ``+``
    after a word that may hold ``{}``) is a problem only when a word after
    it may be ``-exec`` or the like: without one, what follows the early end
    is no valid expression (it would hold our terminator) and find runs
    nothing."""
    kind = argv[at].text
    plus = kind in _FIND_WITH_PLUS
    early: int | None = None
    for index in range(at + 1, len(argv)):
        word = argv[index]
        text = word.text
        if text == ";":
            if index == at + 1:
                raise _Problem(f"{name} {kind} runs an empty command")
            _find_check_early_end(name, argv, early)
            return index
        if index == at + 1:
            continue  # the program: `+` here is its name
        before = argv[index - 1]
        braces = before.text is None or "{}" in before.text
        if text == "+" and plus:
            if before.text == "{}":
                _find_check_early_end(name, argv, early)
                return index
            # GNU ends at `x{} +` (and then fails); BSD reads on.
            if before.text is None and early is None:
                early = index
        elif text is None and early is None and (
                word.may_equal(";") or (plus and braces and word.may_equal("+"))):
            early = index
    raise _Problem(f"{name} {kind} has no terminating `;`")


def _find_check_early_end(name: str, argv: Sequence[Word], early: int | None) -> None:
    if early is None:
        return
    if any(_may_be_exec(word) for word in argv[early + 1:]):
        raise _Problem(f"{name}: {argv[early].source} may end the -exec command early, "
                       f"and a later word start another")


def _may_be_exec(word: Word) -> bool:
    return any(word.may_equal(primary) for primary in _FIND_EXEC)


def _find_check_injection(name: str, argv: Sequence[Word], index: int) -> None:
    """A dynamic word that may be ``-exec`` (or ``-ok``...) in the expression
    would start a command out of the words after it, if one of them may end
    that command."""
    word = argv[index]
    if not _may_be_exec(word):
        return
    if not word.single:
        raise _Problem(f"{name}: {word.source} may add an -exec clause")
    rest = argv[index + 1:]
    if not rest:
        return
    program = rest[0].text
    if program is not None and (program.startswith("-") or program in _FIND_OPERATORS):
        return  # the command would be named like a primary: no such program
    if any(word.may_equal(";") or word.may_equal("+") for word in rest[1:]):
        raise _Problem(f"{name}: {word.source} may be -exec, which would run "
                       f"{rest[0].source} as a command")


def _find_command(argv: Sequence[Word], at: int, end: int, starts: list[Word],
                  files_from: bool) -> list[Word]:
    kind = argv[at].text
    words = list(argv[at + 1:end])
    path = _find_path_prefix(kind in _FIND_IN_DIR, starts, files_from)
    if argv[end].text == "+":
        # Only the `{}` before `+` stands for the found paths, several of them.
        words[-1] = Word.dynamic(words[-1].source, prefix=path, single=False)
        return words
    return [_fill(word, "{}", path, single=True) for word in words]


def _find_path_prefix(in_dir: bool, starts: list[Word], files_from: bool) -> str:
    """What every path find hands its command starts with."""
    if files_from:
        return ""  # the starting points come from a file
    if in_dir:
        # GNU: `./NAME`, except for a starting point that is all slashes,
        # whose name is `/`.
        if not GNU_FIND:
            return ""
        for start in starts:
            known = start.text if start.text is not None else start.prefix
            if not known.strip("/") and (start.text is None or known):
                return ""
        return "./"
    if not starts:
        return "."  # GNU's default starting point
    prefix = starts[0].prefix
    for start in starts[1:]:
        other = start.prefix
        length = 0
        while length < min(len(prefix), len(other)) and prefix[length] == other[length]:
            length += 1
        prefix = prefix[:length]
    return prefix


# -- shells -----------------------------------------------------------------------------


# Flags of bash, zsh and dash that start no other code: `set` options, -l
# (login: the user's profile, not the agent's code), -r, -s, -D.
_SHELL_FLAGS = frozenset("abdefhklmnprstuvxBCDEHPT")
_SHELL_LONG_FLAGS = frozenset({
    "--login", "--noediting", "--noprofile", "--norc", "--posix", "--restricted",
    "--verbose", "--dump-strings", "--dump-po-strings", "--pretty-print", "--norcs",
    "--no-rcs",
})


def _shell(name: str, argv: Sequence[Word]) -> Unwrapped | None:
    if argv[0].text not in SHELL_PATHS:
        return None  # a shell we do not trust is judged as a program
    index = 1
    script = False
    short_seen = False
    count = len(argv)
    while index < count:
        word = argv[index]
        text = word.text
        if text is None:
            # After -c, a dynamic script is unknown code whatever it holds
            # (the caller asks); before it, it may be any option.
            if not script and word.may_be_option():
                raise _Problem(f"{name}: {word.source} may be an option of the shell")
            break
        if text in ("--", "-"):
            index += 1
            break
        if text.startswith("--"):
            # bash reads long options only before the short ones.
            if not short_seen and text in ("--help", "--version"):
                return None
            if short_seen or text not in _SHELL_LONG_FLAGS:
                raise _Problem(f"{name} {text} may run startup code we cannot see")
            index += 1
            continue
        if len(text) < 2 or text[0] not in "-+":
            break
        short_seen = True
        values = 0
        for letter in text[1:]:
            if letter == "c" and text[0] == "-":
                script = True
            elif letter == "o":
                values += 1  # `-o pipefail`: each o takes the next word
            elif letter in "iO" or letter not in _SHELL_FLAGS:
                raise _Problem(f"{name} {text[0]}{letter} may run startup code we cannot see")
        for at in range(index + 1, index + 1 + values):
            _value(name, argv, at, text)
        index += 1 + values
    if not script:
        return None  # `bash FILE`, `bash -s`: the engine judges the shell itself
    _check_fixed(name, argv, index)
    if index >= count:
        return _none(f"{name} -c", argv)  # bash fails: -c needs a string
    outer = [*argv[:index], *argv[index + 1:]]
    return Unwrapped(f"{name} -c", outer, [], scripts=[argv[index]])


# -- the table ----------------------------------------------------------------------------

_PARSERS: dict[str, Parser] = {
    "env": _env,
    "timeout": _simple(_TIMEOUT, operands=1),
    "nice": _nice,
    "nohup": _simple(_NOHUP),
    "stdbuf": _simple(_STDBUF),
    "ionice": _ionice,
    "chrt": _chrt,
    "taskset": _taskset,
    "setsid": _simple(_SETSID),
    "time": _simple(_TIME),
    "command": _command,
    "builtin": _simple(_BUILTIN),
    "exec": _simple(_EXEC),
    "nocache": _simple(_NOCACHE),
    "unbuffer": _unbuffer,
    "flock": _flock,
    "xvfb-run": _simple(_XVFB_RUN),
    "sudo": _sudo,
    "sudoedit": _sudo,
    "doas": _doas,
    "su": _su,
    "pkexec": _pkexec,
    "run0": _run0,
    "xargs": _xargs,
    "find": _find,
    "watch": _watch,
    "sh": _shell,
    "bash": _shell,
    "zsh": _shell,
    "dash": _shell,
}
# GNU coreutils and findutils as Homebrew installs them on macOS.
for _gnu in ("env", "timeout", "nice", "nohup", "stdbuf", "time", "xargs", "find"):
    _PARSERS["g" + _gnu] = _PARSERS[_gnu]
WRAPPERS = frozenset(_PARSERS)
