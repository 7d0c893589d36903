"""What a rule that allows a program does not cover: the arguments that make it
run other programs or write files.

A user who writes ``prefix_rule(["sed"], decision="allow")`` means sed as a
text filter. The same program runs shell commands (``sed 's/x/y/e'``), writes
anywhere (``sed -n 'w /etc/x'``, ``sed -i``), and a dozen other programs have
such arguments too (``find -exec``, ``tar --to-command``, ``git -c
core.pager=...``, ``sort -o``, ``curl -o``). An allow rule must not silently
extend to them: the engine asks before a program runs code the rule author did
not see, and allows a write only to a known path inside the writable roots.
:func:`argument_hazards` names those arguments, as :class:`Hazard` values the
engine turns into decisions.

The knowledge is data: per program, a getopt grammar (which options take a
value, GNU style: clusters, ``--opt=value``, unique-prefix abbreviations,
``--``, permutation) and a table of the options that run or write, plus small
readers for the languages hidden in arguments (sed scripts, awk programs, find
expressions, git's command line, tar's old-style letters).

Every doubt reports a hazard: a script we cannot read "runs", an ambiguous
abbreviation counts as the risky option it may stand for, a dynamic word (its
value known only at run time, see :mod:`execpolicy.words`) where an option
could appear is "dynamic". A grammar only has to be complete about which
options *take values* in one direction: calling a value-taking option a flag
only makes us read its value as another option or operand (a false alarm at
worst); so unknown options count as flags.

This runs on every command decision, so it imports nothing heavy (no ``re``,
``typing`` or ``dataclasses`` at run time) and parses each argv in one pass.
"""

from __future__ import annotations

from .value import Value
from .words import Word

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    # A program's reader: (program name, arguments after argv[0]) -> hazards.
    Checker = Callable[[str, Sequence[Word]], list["Hazard"]]
    # An option's entry in a hazard table: kind, what it does, the path
    # written when the option has no value (``None``: unknown target).
    Entry = tuple[str, str, Word | None]

_set = object.__setattr__

RUNS = "runs"
WRITES = "writes"
DYNAMIC = "dynamic"

# The working directory, as the target of programs that write "here"
# (``tar x``, ``curl -O``, ``wget``).
CWD = Word(".")


class Hazard(Value):
    """One reason an allow rule for the program does not cover this argv.

    ``kind`` is :data:`RUNS` (it can run another program or code),
    :data:`WRITES` (it writes, modifies or deletes a file; ``path`` is the
    target when the grammar names it, else ``None``) or :data:`DYNAMIC` (a
    word known only at run time sits where it could change the above).
    """

    __slots__ = ("kind", "reason", "path")
    kind: str
    reason: str
    path: Word | None

    def __init__(self, kind: str, reason: str, path: Word | None = None) -> None:
        _set(self, "kind", kind)
        _set(self, "reason", reason)
        _set(self, "path", path)


def argument_hazards(argv: Sequence[Word]) -> list[Hazard]:
    """Why a rule that allows argv's program does not cover these arguments.

    Empty list: nothing the grammar knows makes this invocation run programs
    or write files, and every dynamic word is acceptable. The program is the
    last path component of ``argv[0]``. Never raises: an argv we fail to read
    is reported as a "runs" hazard.
    """
    try:
        if not argv:
            return []
        first = argv[0]
        if first.text is None:
            return [Hazard(DYNAMIC, f"the program `{first.source}` is only known at run time")]
        name = first.text.rstrip("/").rpartition("/")[2]
        if name in ANY_ARGUMENTS:
            return []
        check = _CHECKS.get(name)
        if check is None:
            return _unknown_program(name, argv[1:])
        return check(name, argv[1:])
    except Exception:  # a bug or a strange argv must not take the engine down
        shown = _program_label(argv)
        return [Hazard(RUNS, f"{shown}: could not read the arguments")]


def _program_label(argv: Sequence[Word]) -> str:
    try:
        return str(argv[0].source) or "the program"
    except Exception:
        return "the program"


# -- program classes ----------------------------------------------------------------

# No argument makes these run another program or write a file, so a dynamic
# word anywhere is harmless.
ANY_ARGUMENTS = frozenset({
    "[", "arch", "b2sum", "basename", "bzcat", "cat", "cd", "cksum", "cmp", "column", "comm",
    "cut", "date", "df", "diff", "dirname", "du", "echo", "egrep", "expand", "expr", "factor",
    "false", "fgrep", "fmt", "fold", "grep", "groups", "head", "hexdump", "id", "join", "jq",
    "ls", "md5sum", "more", "nl", "nproc", "numfmt", "od", "paste", "printenv", "pwd",
    "readlink", "realpath", "rev", "seq", "sha1sum", "sha224sum", "sha256sum", "sha384sum",
    "sha512sum", "sleep", "stat", "strings", "sum", "tac", "tail", "test", "tr", "true",
    "tty", "uname", "unexpand", "wc", "which", "whoami", "xzcat", "yes", "zcat",
})

# Their whole point is to run something else: the operand is a command, or
# they start a shell or another program with no operand at all.
ALWAYS_RUNS = frozenset({
    ".", "at", "batch", "chroot", "doas", "eval", "nsenter", "open", "runuser", "script",
    "source", "su", "sudo", "unshare", "xdg-open",
})
# Run their operands as a command; with only options they just report.
RUNS_OPERAND = frozenset({
    "builtin", "caffeinate", "chrt", "command", "exec", "firejail", "flock", "ionice",
    "ltrace", "nice", "nohup", "numactl", "parallel", "setsid", "stdbuf", "strace",
    "systemd-run", "taskset", "time", "timeout", "valgrind", "watch", "xvfb-run", "bwrap",
})


def _unknown_program(name: str, args: Sequence[Word]) -> list[Hazard]:
    # No grammar: literal arguments are the rule's business, but a dynamic
    # word could be anything the rule author never saw.
    return [_dynamic(name, word, "and the arguments of this program are not known")
            for word in args if word.text is None]


# -- hazards ------------------------------------------------------------------------


def _show(word: Word) -> str:
    return word.text if word.text is not None else word.source


def _dynamic(name: str, word: Word, why: str = "and may be an option") -> Hazard:
    return Hazard(DYNAMIC, f"{name}: `{_show(word)}` is only known at run time, {why}")


def _write(name: str, what: str, path: Word | None) -> Hazard:
    return Hazard(WRITES, f"{name}: {what}", path)


def _runs(name: str, what: str) -> Hazard:
    return Hazard(RUNS, f"{name}: {what}")


def _writes_each(name: str, words: Iterable[Word], what: str, out: list[Hazard]) -> None:
    for word in words:
        out.append(_write(name, f"{what} `{_show(word)}`", word))


def _may_start_with(word: Word, chars: str) -> bool:
    """Whether a value of ``word`` may start with one of ``chars``."""
    text = word.text if word.text is not None else word.prefix
    return not text or text[0] in chars


def _is_local_path(text: str) -> bool:
    # scp / rsync / tar read `host:path` as remote: a colon before any slash.
    colon = text.find(":")
    return colon < 0 or 0 <= text.find("/") < colon


# -- GNU getopt over words -------------------------------------------------------------


def _table(spec: Mapping[str, tuple[str, str] | tuple[str, str, Word | None]]
           ) -> dict[str, Entry]:
    """Expand ``{"-o --output": (kind, text[, default path])}``, one key per spelling."""
    table: dict[str, Entry] = {}
    for keys, entry in spec.items():
        full: Entry = entry if len(entry) == 3 else (entry[0], entry[1], None)
        for key in keys.split():
            table[key] = full
    return table


class _Args:
    """What a getopt parser saw: options in order, operands, hazards so far."""

    __slots__ = ("opts", "operands", "hazards")

    def __init__(self) -> None:
        self.opts: list[tuple[str, Word | None]] = []
        self.operands: list[Word] = []
        self.hazards: list[Hazard] = []

    @classmethod
    def collecting(cls, hazards: list[Hazard]) -> _Args:
        """An empty result whose hazards go to ``hazards``."""
        args = cls()
        args.hazards = hazards
        return args

    def has(self, *keys: str) -> bool:
        # A plain loop: any() with a generator costs more on these short lists.
        for key, _ in self.opts:  # noqa: SIM110
            if key in keys:
                return True
        return False

    def values(self, *keys: str) -> list[Word | None]:
        return [value for key, value in self.opts if key in keys]


class _Grammar:
    """A program's getopt_long grammar and its table of risky options.

    ``shorts`` is a getopt optstring (``"ni::e:"``: ``:`` a required value,
    ``::`` an optional glued one); ``longs`` lists long names, with the same
    suffixes. Options are recorded as ``-x`` / ``--name``. ``strict``: a
    dynamic option value is itself a hazard, and so is a dynamic word after an
    unknown option (which may take it as a value), for programs whose option
    values we do not model.
    """

    __slots__ = ("shorts", "_long_spec", "_longs", "permute", "strict", "table", "risky")

    def __init__(self, shorts: str = "", longs: str = "", table: Mapping[str, Entry] | None = None,
                 *, permute: bool = True, strict: bool = False, risky: str = "") -> None:
        self.shorts = _optstring(shorts)
        # Long names are read on first use: most grammars never are in a
        # short-lived process, and the lists are long.
        self._long_spec = longs
        self._longs: dict[str, int] | None = None
        self.permute = permute
        self.strict = strict
        self.table: Mapping[str, Entry] = table or {}
        # Long names preferred when an abbreviation is ambiguous: getopt
        # refuses such a command, but we assume the worst reading.
        self.risky = frozenset(key[2:] for key in self.table if key.startswith("--")) | frozenset(
            risky.split())

    @property
    def longs(self) -> dict[str, int]:
        if self._longs is None:
            self._longs = _longs(self._long_spec)
        return self._longs

    def resolve(self, given: str) -> tuple[str, int]:
        """The long option ``--given`` stands for, and whether it takes a value."""
        longs = self.longs
        arity = longs.get(given)
        if arity is not None:
            return given, arity
        if not given:
            return given, 0
        matches = [name for name in longs if name.startswith(given)]
        if len(matches) == 1:
            return matches[0], longs[matches[0]]
        for name in matches:
            if name in self.risky:
                return name, 0  # consume nothing: the next word is still read
        return given, 0

    def parse(self, name: str, args: Sequence[Word]) -> _Args:
        out = _Args()
        opts, operands, hazards = out.opts, out.operands, out.hazards
        shorts, table, strict = self.shorts, self.table, self.strict
        count = len(args)
        index = 0
        pending = ""  # strict: an unknown option that may take the next word
        while index < count:
            word = args[index]
            index += 1
            text = word.text
            if pending:
                if text is None:
                    hazards.append(_dynamic(name, word, f"and may be the value of `{pending}`"))
                pending = ""
            if text is None:
                if word.may_be_option():
                    index = self._dynamic_option(name, word, args, index, out)
                    continue
                operands.append(word)
                if not self.permute:
                    break
                continue
            if text == "--":
                break
            if len(text) < 2 or text[0] != "-":
                operands.append(word)
                if not self.permute:
                    break
                continue
            value: Word | None
            if text[1] == "-":
                given, eq, rest = text[2:].partition("=")
                key, arity = self.resolve(given)
                if eq:
                    value = Word(rest)
                elif arity == 1:
                    value = args[index] if index < count else None
                    index += 1
                else:
                    value = None
                    if strict and key not in self.longs:
                        pending = "--" + key
                key = "--" + key
                opts.append((key, value))
                self._check_value(name, key, value, eq == "" and arity == 1, out)
                continue
            # A cluster of short options; a letter that takes a value takes
            # the rest of the word, or (when required) the next word.
            for position in range(1, len(text)):
                letter = text[position]
                arity = shorts.get(letter, -1)
                key = "-" + letter
                if arity <= 0:
                    opts.append((key, None))
                    if key in table:
                        self._option_hazard(name, key, None, out)
                    if arity < 0 and strict and position == len(text) - 1:
                        pending = key
                    continue
                rest = text[position + 1:]
                separate = False
                if rest:
                    value = Word(rest)
                elif arity == 1:
                    value = args[index] if index < count else None
                    index += 1
                    separate = True
                else:
                    value = None
                opts.append((key, value))
                self._check_value(name, key, value, separate, out)
                break
        while index < count:
            operands.append(args[index])
            index += 1
        return out

    def _check_value(self, name: str, key: str, value: Word | None, separate: bool,
                     out: _Args) -> None:
        if key in self.table:
            self._option_hazard(name, key, value, out)
        elif value is not None and value.text is None:
            if self.strict:
                out.hazards.append(_dynamic(name, value, f"and is the value of `{key}`"))
            elif separate and not value.single and value.may_be_option():
                out.hazards.append(_dynamic(
                    name, value, "and may become several words, the later ones options"))

    def _option_hazard(self, name: str, key: str, value: Word | None, out: _Args) -> None:
        kind, what, default = self.table[key]
        if kind == WRITES:
            path = value if value is not None else default
            if path is not None and path.text == "-":
                return  # standard output
            out.hazards.append(Hazard(WRITES, f"{name}: `{key}` {what}", path))
        else:
            out.hazards.append(Hazard(kind, f"{name}: `{key}` {what}"))

    def _dynamic_option(self, name: str, word: Word, args: Sequence[Word], index: int,
                        out: _Args) -> int:
        """Read a dynamic word that may be an option as far as its prefix goes."""
        prefix = word.prefix
        if prefix.startswith("--") and "=" in prefix:
            given, _, rest = prefix[2:].partition("=")
            key, _ = self.resolve(given)
            value = Word.dynamic(word.source, prefix=rest, single=word.single)
            out.opts.append(("--" + key, value))
            self._check_value(name, "--" + key, value, False, out)
            if word.single:
                return index
        elif len(prefix) > 1 and prefix[1] != "-":
            for position in range(1, len(prefix)):
                letter = prefix[position]
                arity = self.shorts.get(letter, -1)
                if arity > 0:
                    value = Word.dynamic(word.source, prefix=prefix[position + 1:],
                                         single=word.single)
                    out.opts.append(("-" + letter, value))
                    self._check_value(name, "-" + letter, value, False, out)
                    if word.single:
                        return index
                    break
                out.opts.append(("-" + letter, None))
                if "-" + letter in self.table:
                    self._option_hazard(name, "-" + letter, None, out)
        out.hazards.append(_dynamic(name, word))
        return index


def _optstring(spec: str) -> dict[str, int]:
    shorts: dict[str, int] = {}
    index = 0
    while index < len(spec):
        letter = spec[index]
        index += 1
        if spec.startswith("::", index):
            shorts[letter] = 2
            index += 2
        elif spec.startswith(":", index):
            shorts[letter] = 1
            index += 1
        else:
            shorts[letter] = 0
    return shorts


def _longs(spec: str) -> dict[str, int]:
    longs: dict[str, int] = {}
    for item in spec.split():
        if item.endswith("::"):
            longs[item[:-2]] = 2
        elif item.endswith(":"):
            longs[item[:-1]] = 1
        else:
            longs[item] = 0
    return longs


def _nth_operand(operands: Sequence[Word], index: int) -> Word | None:
    """The operand at ``index``, or the dynamic word that may expand into it."""
    for position, word in enumerate(operands):
        if position == index or not word.single:
            return word
    return None


def _table_checker(grammar: _Grammar,
                   operands: Callable[[str, _Args], None] | None = None) -> Checker:
    """A reader that needs only the grammar, its table and an operand rule."""
    def check(name: str, args: Sequence[Word]) -> list[Hazard]:
        parsed = grammar.parse(name, args)
        if operands is not None:
            operands(name, parsed)
        return parsed.hazards
    return check


# -- sed ---------------------------------------------------------------------------------

_SED = _Grammar(
    "bnrsuzEe:f:i::l:",
    "binary debug expression: file: follow-symlinks help in-place:: line-length: null-data "
    "zero-terminated posix quiet silent regexp-extended sandbox separate unbuffered version",
    risky="in-place expression file",
)
_SED_PLAIN = frozenset("=dDgGhHnNpPxzF")  # commands without arguments
_SED_NUMBER = frozenset("lLqQ")  # an optional number
_SED_LABEL = frozenset(":btT")
_SED_TEXT = frozenset("aic")  # text up to an unescaped newline
_SED_S_FLAGS = frozenset("gpiImM0123456789")
# Scripts made of these alone (line addresses and argument-less commands)
# cannot name a file or a command, however they parse.
_SED_INERT = frozenset("0123456789,$~+!;{} \t\n=dDgGhHnNpPxzF")
# GNU sed writes these to its own output streams, not to a file.
_STANDARD_STREAMS = frozenset({"/dev/stdout", "/dev/stderr"})


def _sed(name: str, args: Sequence[Word]) -> list[Hazard]:
    parsed = _SED.parse(name, args)
    hazards = parsed.hazards
    scripts: list[Word | None] = []
    suffixes: list[Word] = []
    from_file = sandbox = in_place = follow = False
    for key, value in parsed.opts:
        if key == "-e" or key == "--expression":
            scripts.append(value)
        elif key == "-f" or key == "--file":
            from_file = True
        elif key == "-i" or key == "--in-place":
            in_place = True
            if value is not None:
                suffixes.append(value)
        elif key == "--sandbox":
            sandbox = True
        elif key == "--follow-symlinks":
            follow = True
    files = parsed.operands
    if not scripts and not from_file and files:
        scripts, files = [files[0]], files[1:]
    # --sandbox makes sed refuse e, w and r: nothing in a script can harm.
    if not sandbox:
        if from_file:
            hazards.append(_runs(name, "`-f` reads the script from a file, so its commands "
                                       "are not known"))
        texts = []
        for script in scripts:
            if script is None:
                continue
            if script.text is None:
                hazards.append(_dynamic(name, script, "and is (part of) the script"))
            else:
                texts.append(script.text)
        if texts and not _sed_script(name, "\n".join(texts), hazards):
            hazards.append(_runs(name, "could not read the script, which may run commands"))
    if in_place:
        for file in files:
            if file.text != "-":
                hazards.append(_write(name, f"`-i` rewrites `{_show(file)}`",
                                      None if follow else file))
        if not files:
            hazards.append(_write(name, "`-i` rewrites files it is not told here", None))
        for suffix in suffixes:
            # A suffix with `/` (or unknown) puts the backup in another directory.
            if suffix.text is None or "/" in suffix.text:
                hazards.append(_write(name, f"`-i{_show(suffix)}` writes backups elsewhere",
                                      None))
    return hazards


def _sed_script(name: str, text: str, hazards: list[Hazard]) -> bool:
    """Add the hazards of a GNU sed script; ``False`` when it cannot be read."""
    if _SED_INERT.issuperset(text):
        return True  # no letter of a command that runs or writes (`1,5p`, `$d`)
    index, end = 0, len(text)
    while True:
        while index < end and text[index] in " \t\r\n;":
            index += 1
        if index >= end:
            return True
        if text[index] == "#":
            index = _line_end(text, index)
            continue
        index = _sed_address(text, index, False)
        if index < 0:
            return False
        index = _skip_blanks(text, index)
        if index < end and text[index] == ",":
            start = _skip_blanks(text, index + 1)
            index = _sed_address(text, start, True)
            if index <= start:
                return False
            index = _skip_blanks(text, index)
        if index < end and text[index] == "!":
            index = _skip_blanks(text, index + 1)
        if index >= end:
            return False
        command = text[index]
        index += 1
        if command in "{}":
            continue
        if command in _SED_PLAIN:
            pass
        elif command in _SED_NUMBER:
            index = _skip_blanks(text, index)
            while index < end and "0" <= text[index] <= "9":
                index += 1
        elif command in _SED_LABEL:
            # GNU ends labels at `;` too; ending early only reads more commands.
            while index < end and text[index] not in ";\n":
                index += 1
            continue
        elif command in _SED_TEXT:
            index = _escaped_line_end(text, index)
            continue
        elif command in "rRwW":
            index = _sed_file(name, command, text, index, hazards)
            if index < 0:
                return False
            continue
        elif command == "e":
            hazards.append(_runs(name, "the `e` command runs a shell command"))
            index = _line_end(text, index)
            continue
        elif command == "v":
            while index < end and text[index] not in ";\n}":
                index += 1
        elif command in "sy":
            index = _sed_substitute(name, command, text, index, hazards)
            if index < 0:
                return False
            if index >= end or text[index - 1] == "\n":
                continue  # ended by a `w FILE` flag
        else:
            return False
        index = _skip_blanks(text, index)
        if index < end and text[index] not in ";\n}#":
            return False


def _sed_address(text: str, index: int, second: bool) -> int:
    """The end of a sed address at ``index`` (``index`` itself if there is none)."""
    end = len(text)
    if index >= end:
        return index
    char = text[index]
    if "0" <= char <= "9" or (second and char in "+~"):
        index += 1
        while index < end and ("0" <= text[index] <= "9" or text[index] == "~"):
            index += 1
        return index
    if char == "$":
        return index + 1
    if char == "/":
        index = _scan_to(text, index + 1, "/")
    elif char == "\\":
        if index + 1 >= end or text[index + 1] == "\n":
            return -1
        index = _scan_to(text, index + 2, text[index + 1])
    else:
        return index
    while 0 <= index < end and text[index] in "IM":
        index += 1
    return index


def _sed_substitute(name: str, command: str, text: str, index: int,
                    hazards: list[Hazard]) -> int:
    end = len(text)
    if index >= end or text[index] in "\n\\":
        return -1
    delimiter = text[index]
    index = _scan_to(text, index + 1, delimiter)
    if index >= 0:
        index = _scan_to(text, index, delimiter)
    if index < 0 or command == "y":
        return index
    while index < end:
        flag = text[index]
        if flag in _SED_S_FLAGS:
            index += 1
        elif flag == "e":
            hazards.append(_runs(name, "the `e` flag of `s` runs the pattern space as a command"))
            index += 1
        elif flag == "w":
            index = _sed_file(name, "s///w", text, index + 1, hazards)
            return index if index < 0 or index >= end else index + 1
        else:
            break
    return index


def _sed_file(name: str, command: str, text: str, index: int, hazards: list[Hazard]) -> int:
    """Read the file name after r/R/w/W (the rest of the line); -1 if missing."""
    index = _skip_blanks(text, index)
    stop = _line_end(text, index)
    filename = text[index:stop]
    if not filename:
        return -1
    if command[-1] in "wW" and filename not in _STANDARD_STREAMS:
        hazards.append(_write(name, f"the `{command}` command writes `{filename}`",
                              Word(filename)))
    return stop


def _scan_to(text: str, index: int, delimiter: str) -> int:
    """Just past the next unescaped ``delimiter`` on this line; -1 if none."""
    end = len(text)
    while index < end:
        char = text[index]
        if char == "\\":
            index += 2
        elif char == delimiter:
            return index + 1
        elif char == "\n":
            return -1
        else:
            index += 1
    return -1


def _skip_blanks(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t":
        index += 1
    return index


def _line_end(text: str, index: int) -> int:
    stop = text.find("\n", index)
    return len(text) if stop < 0 else stop


def _escaped_line_end(text: str, index: int) -> int:
    end = len(text)
    while index < end:
        char = text[index]
        if char == "\\":
            index += 2
        elif char == "\n":
            return index
        else:
            index += 1
    return end


# -- awk ---------------------------------------------------------------------------------

# gawk's options (mawk and the one true awk have a subset). Option parsing
# stops at the program text, as in every awk.
_AWK = _Grammar(
    "F:f:v:W:bcCd::D::e:E:ghi:kl:L::nNo::Op::MPrSstVYZ:",
    "assign: bignum characters-as-bytes copyright csv debug:: dump-variables:: exec: "
    "field-separator: file: gen-pot help include: lint:: lint-old load: no-optimize "
    "non-decimal-data optimize posix pretty-print:: profile:: re-interval sandbox source: "
    "traditional use-lc-numeric version",
    _table({
        "-D --debug": (RUNS, "starts the debugger, which reads commands"),
        "-d --dump-variables": (WRITES, "writes the variables to a file", Word("awkvars.out")),
        "-p --profile": (WRITES, "writes a profile to a file", Word("awkprof.out")),
        "-o --pretty-print": (WRITES, "writes the program to a file", Word("awkprof.out")),
    }),
    permute=False,
    risky="file exec include load source",
)
# Program files and extensions: their code is not on the command line.
_AWK_CODE_OPTIONS = frozenset({"-f", "--file", "-E", "--exec", "-i", "--include", "-l",
                               "--load"})
# `-W NAME`: mawk's options and gawk's long options; these only report or tune.
_AWK_W_HARMLESS = frozenset({
    "dump", "help", "interactive", "lint", "lint-old", "posix", "posix_space", "random",
    "re-interval", "sprintf", "traditional", "usage", "version",
})
# After these tokens a `/` starts a regular expression, not a division.
_AWK_REGEX_AFTER_WORDS = frozenset({"print", "printf", "return", "case", "do", "else"})
# Every way to run or write needs one of these substrings.
_AWK_MARKERS = ("|", ">", "@", "system", "extension")
_AWK_STREAMS = frozenset({"/dev/stdout", "/dev/stderr", "/dev/fd/1", "/dev/fd/2", "-"})


def _awk(name: str, args: Sequence[Word]) -> list[Hazard]:
    parsed = _AWK.parse(name, args)
    hazards = parsed.hazards
    sandbox = parsed.has("-S", "--sandbox")
    sources: list[Word | None] = []
    from_file = False
    for key, value in parsed.opts:
        if key in ("-e", "--source"):
            sources.append(value)
        elif key in _AWK_CODE_OPTIONS:
            from_file = from_file or key in ("-f", "--file", "-E", "--exec")
            if not sandbox:
                hazards.append(_runs(name, f"`{key}` loads code that is not on the command "
                                           "line"))
        elif key == "-W":
            hazards.extend(_awk_w_option(name, value))
    if not sources and not from_file and parsed.operands:
        sources.append(parsed.operands[0])
    if sandbox:
        return hazards  # no system(), pipes, redirections or extensions
    for source in sources:
        if source is None:
            continue
        if source.text is None:
            hazards.append(_dynamic(name, source, "and is (part of) the program"))
        elif not _awk_program(name, source.text, hazards):
            hazards.append(_runs(name, "could not read the program, which may run commands"))
    return hazards


def _awk_w_option(name: str, value: Word | None) -> list[Hazard]:
    if value is None:
        return []
    if value.text is None:
        return [_dynamic(name, value, "and is the value of `-W`")]
    option = value.text.partition("=")[0].strip()
    if option in _AWK_W_HARMLESS or option == "sandbox":
        return []
    return [_runs(name, f"`-W {value.text}` is not known to be harmless")]


def _awk_program(name: str, text: str, hazards: list[Hazard]) -> bool:
    """Add the hazards of an awk program; ``False`` when it cannot be tokenised.

    Strings, regular expressions and comments are skipped; then any ``|``
    that is not ``||`` is a pipe to or from a command, ``system`` runs one,
    ``@`` (gawk's ``@load``, ``@include``, indirect calls) may, and a ``>``
    in a print statement is an output redirection.
    """
    if not any(marker in text for marker in _AWK_MARKERS):
        return True
    index, end = 0, len(text)
    in_print = False
    operand = False  # the previous token ends an operand: a `/` divides
    last = ""  # the previous significant character
    while index < end:
        char = text[index]
        if char in " \t\r":
            index += 1
            continue
        if char == "\\" and index + 1 < end and text[index + 1] in "\r\n":
            index += 2
            continue
        if char in "\n;{}":
            # A newline after `,`, `&&` or `||` continues the statement.
            if not (char == "\n" and last in ",&"):
                in_print = False
            operand = False
            last = char
            index += 1
            continue
        if char == "#":
            index = _line_end(text, index)
            continue
        if char == '"':
            stop = _scan_to(text, index + 1, '"')
            if stop < 0:
                return False
            index, operand, last = stop, True, '"'
            continue
        if char == "/" and not operand:
            stop = _awk_regex_end(text, index + 1)
            if stop < 0:
                return False
            index, operand, last = stop, True, "/"
            continue
        if char.isalpha() or char == "_":
            stop = index + 1
            while stop < end and (text[stop].isalnum() or text[stop] == "_"):
                stop += 1
            word = text[index:stop]
            index, last = stop, "a"
            if word == "system" or word == "extension":
                hazards.append(_runs(name, f"`{word}()` runs a command or loads code"))
            if word in ("print", "printf"):
                in_print = True
            operand = word not in _AWK_REGEX_AFTER_WORDS
            continue
        if "0" <= char <= "9" or (char == "." and index + 1 < end and text[index + 1].isdigit()):
            while index < end and (text[index].isalnum() or text[index] == "."):
                index += 1
            operand, last = True, "0"
            continue
        if char == "|":
            if index + 1 < end and text[index + 1] == "|":
                index, operand, last = index + 2, False, "&"
                continue
            hazards.append(_runs(name, "`|` pipes to or from a shell command"))
            index, operand, last = index + 1, False, "|"
            continue
        if char == ">" and in_print:
            index += 2 if text.startswith(">>", index) else 1
            hazards.extend(_awk_redirect(name, text, index))
            operand, last = False, ">"
            continue
        if char == "@":
            stop = index + 1
            while stop < end and (text[stop].isalnum() or text[stop] == "_"):
                stop += 1
            if text[index + 1:stop] != "namespace":
                hazards.append(_runs(name, f"`{text[index:stop]}` loads or calls code "
                                           "indirectly"))
            index, operand, last = stop, False, "@"
            continue
        if text.startswith(("++", "--"), index):
            index, operand, last = index + 2, True, char
            continue
        if char == "&" and text.startswith("&&", index):
            index, operand, last = index + 2, False, "&"
            continue
        # `$` and closing brackets end an operand: a `/` after them divides
        # (the safe reading: a regex misread as code only adds hazards).
        operand = char in ")]$"
        last = char
        index += 1
    return True


def _awk_regex_end(text: str, index: int) -> int:
    end = len(text)
    in_bracket = False
    while index < end:
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == "\n":
            return -1
        if in_bracket:
            if char == "[" and text.startswith(("[:", "[.", "[="), index):
                close = text.find(text[index + 1] + "]", index + 2)
                if close < 0:
                    return -1
                index = close + 2
                continue
            if char == "]":
                in_bracket = False
        elif char == "[":
            in_bracket = True
            index += 1
            # A `]` right after `[` or `[^` is a member, not the end.
            if index < end and text[index] == "^":
                index += 1
            if index < end and text[index] == "]":
                index += 1
            continue
        elif char == "/":
            return index + 1
        index += 1
    return -1


def _awk_redirect(name: str, text: str, index: int) -> list[Hazard]:
    """The write done by ``print > target`` with the target at ``index``."""
    index = _skip_blanks(text, index)
    if index < len(text) and text[index] == '"':
        stop = _scan_to(text, index + 1, '"')
        after = _skip_blanks(text, stop) if stop > 0 else -1
        if stop > 0 and (after >= len(text) or text[after] in ";\n}"):
            target = text[index + 1:stop - 1]
            if target in _AWK_STREAMS:
                return []
            if "\\" not in target:
                return [_write(name, f"`print >` writes `{target}`", Word(target))]
    return [_write(name, "`print >` writes a file named at run time", None)]


# -- find --------------------------------------------------------------------------------

_FIND_RUNS = frozenset({"-exec", "-execdir", "-ok", "-okdir"})
_FIND_WRITES_FILE = frozenset({"-fprint", "-fprint0", "-fls", "-fprintf"})
# Primaries that take one argument (anything starting with -newer does too).
_FIND_ONE_ARGUMENT = frozenset({
    "-amin", "-anewer", "-atime", "-cmin", "-cnewer", "-context", "-ctime", "-files0-from",
    "-fstype", "-gid", "-group", "-ilname", "-iname", "-inum", "-ipath", "-iregex",
    "-iwholename", "-links", "-lname", "-maxdepth", "-mindepth", "-mmin", "-mtime", "-name",
    "-path", "-perm", "-printf", "-regex", "-regextype", "-samefile", "-size", "-type",
    "-uid", "-used", "-user", "-wholename", "-xtype",
})


def _find(name: str, args: Sequence[Word]) -> list[Hazard]:
    hazards: list[Hazard] = []
    count = len(args)
    index = 0
    # Leading options: -H -L -P, -D LIST, -O LEVEL.
    while index < count:
        text = args[index].text
        if text in ("-H", "-L", "-P") or (text is not None and text.startswith("-O")):
            index += 1
        elif text == "-D":
            index += 2
        elif text == "--":
            index += 1
            break
        else:
            break
    # Starting points end at the first word that starts an expression.
    while index < count:
        word = args[index]
        if word.text is None:
            if _may_start_with(word, "-(!"):
                break
        elif word.text.startswith("-") or word.text in ("(", "!"):
            break
        index += 1
    while index < count:
        word = args[index]
        index += 1
        text = word.text
        if text is None:
            if _may_start_with(word, "-(!,"):
                hazards.append(_dynamic(name, word, "and may be part of the expression "
                                                    "(`-delete`, `-exec`)"))
            continue
        if text in _FIND_RUNS:
            hazards.append(_runs(name, f"`{text}` runs a command"))
            previous = ""
            while index < count:
                ending = args[index].text
                index += 1
                if ending == ";" or (ending == "+" and previous == "{}"):
                    break
                previous = ending or ""
        elif text == "-delete":
            hazards.append(_write(name, "`-delete` deletes what matches", None))
        elif text in _FIND_WRITES_FILE:
            path = args[index] if index < count else None
            index += 2 if text == "-fprintf" else 1
            if path is None or path.text not in _STANDARD_STREAMS:
                hazards.append(_write(name, f"`{text}` writes `{_show(path) if path else ''}`",
                                      path))
        elif text in _FIND_ONE_ARGUMENT or text.startswith("-newer"):
            value = args[index] if index < count else None
            index += 1
            if value is not None and not value.single and value.may_be_option():
                hazards.append(_dynamic(name, value, "and may become several words, the "
                                                     "later ones part of the expression"))
    return hazards


# -- rg, fd --------------------------------------------------------------------------------

_RG = _Grammar(
    "A:B:C:E:M:T:d:e:f:g:j:m:r:t:"
    "abcFHhIiLlNnopqSsUuVvwxz0",
    "after-context: before-context: context: color: colors: context-separator: "
    "dfa-size-limit: encoding: engine: field-context-separator: field-match-separator: "
    "file: glob: iglob: ignore-file: max-columns: max-count: max-depth: maxdepth: "
    "max-filesize: path-separator: pre: pre-glob: regex-size-limit: regexp: replace: "
    "sort: sortr: threads: type: type-add: type-clear: type-not: hostname-bin: "
    "hyperlink-format: generate: "
    "search-zip no-search-zip no-pre pretty files files-with-matches count "
    "case-sensitive ignore-case smart-case fixed-strings hidden no-ignore json "
    "line-number no-line-number only-matching pcre2 multiline follow null quiet "
    "text unrestricted vimgrep word-regexp line-regexp invert-match",
    _table({
        "--pre": (RUNS, "runs a preprocessor on every file"),
        "-z --search-zip": (RUNS, "runs decompression programs"),
        "--hostname-bin": (RUNS, "runs a program to find the host name"),
    }),
)

_FD = _Grammar(
    "c:d:e:E:j:o:S:t:x:X:0aFgHhiIlLpqsuV1",
    "changed-before: changed-within: color: exact-depth: exclude: extension: "
    "ignore-file: max-depth: max-results: min-depth: owner: path-separator: "
    "search-path: base-directory: size: threads: type: format: batch-size: "
    "exec: exec-batch: hidden no-ignore glob fixed-strings absolute-path list-details "
    "follow full-path print0 quiet show-errors",
    _table({
        "-x --exec": (RUNS, "runs a command for each match"),
        "-X --exec-batch": (RUNS, "runs a command on the matches"),
    }),
)


# -- git ---------------------------------------------------------------------------------

# `git help -a` (2.4x): built-in commands and the scripts shipped with git. A
# name outside this set may be an alias, and `alias.x = !cmd` runs a program.
GIT_COMMANDS = frozenset({
    "add", "am", "annotate", "apply", "archive", "bisect", "blame", "branch", "bugreport",
    "bundle", "cat-file", "check-attr", "check-ignore", "check-mailmap", "check-ref-format",
    "checkout", "checkout-index", "cherry", "cherry-pick", "clean", "clone", "column",
    "commit", "commit-graph", "commit-tree", "config", "count-objects", "describe",
    "diagnose", "diff", "diff-files", "diff-index", "diff-tree", "fast-export",
    "fast-import", "fetch", "fetch-pack", "fmt-merge-msg", "for-each-ref", "for-each-repo",
    "format-patch", "fsck", "fsck-objects", "gc", "get-tar-commit-id", "grep", "hash-object",
    "help", "http-backend", "index-pack", "init", "init-db", "interpret-trailers", "log",
    "ls-files", "ls-remote", "ls-tree", "mailinfo", "mailsplit", "maintenance", "merge",
    "merge-base", "merge-file", "merge-index", "merge-one-file", "merge-tree", "mktag",
    "mktree", "multi-pack-index", "mv", "name-rev", "notes", "pack-objects",
    "pack-redundant", "pack-refs", "patch-id", "prune", "prune-packed", "pull", "push",
    "range-diff", "read-tree", "rebase", "receive-pack", "reflog", "refs", "remote", "repack",
    "replace", "replay", "request-pull", "rerere", "reset", "restore", "rev-list",
    "rev-parse", "revert", "rm", "send-pack", "shortlog", "show", "show-branch", "show-index",
    "show-ref", "sparse-checkout", "stage", "stash", "status", "stripspace", "submodule",
    "switch", "symbolic-ref", "tag", "unpack-file", "unpack-objects", "update-index",
    "update-ref", "update-server-info", "upload-archive", "upload-pack", "var",
    "verify-commit", "verify-pack", "verify-tag", "version", "whatchanged", "worktree",
    "write-tree",
})
# Commands whose job is to run programs (tools, helpers, servers, hooks).
GIT_RUNNING_COMMANDS = {
    "difftool": "runs a diff tool",
    "mergetool": "runs a merge tool",
    "filter-branch": "runs shell commands on every commit",
    "credential": "runs credential helpers",
    "credential-cache": "runs a credential daemon",
    "credential-store": "is a credential helper",
    "daemon": "runs a server that runs git commands",
    "shell": "runs commands",
    "remote-ext": "runs a transport command",
    "hook": "runs hooks",
    "instaweb": "runs a web server and a browser",
    "web--browse": "runs a browser",
    "gui": "runs a graphical tool",
    "citool": "runs a graphical tool",
}
# Read-only commands whose non-option operands may be dynamic (paths, revs).
GIT_DYNAMIC_OPERANDS = frozenset({"status", "log", "diff", "show", "blame", "ls-files", "grep",
                                  "rev-parse"})
# Global options that take the next word.
_GIT_GLOBAL_VALUE = frozenset({"-C", "-c", "--config-env", "--git-dir", "--work-tree",
                               "--namespace", "--super-prefix", "--attr-source"})
_GIT_GLOBAL_RUNS = {
    "-c": "sets configuration, which can name programs to run (pagers, helpers)",
    "--config-env": "sets configuration, which can name programs to run",
    "-C": "works in another repository, whose configuration can run programs",
    "--git-dir": "uses another repository, whose configuration can run programs",
    "--work-tree": "uses another work tree and its repository configuration",
    "-p": "starts the configured pager",
    "--paginate": "starts the configured pager",
    "--exec-path": "runs git commands from another directory",
}
# Per command: options that run or write, long names matched by any prefix
# (git's parse-options accepts unique abbreviations).
_GIT_DIFF_OPTIONS = _table({
    "--ext-diff": (RUNS, "runs the configured external diff program"),
    "--output": (WRITES, "writes the output to a file"),
})
_GIT_OPTIONS: dict[str, dict[str, Entry]] = {
    "diff": _GIT_DIFF_OPTIONS, "log": _GIT_DIFF_OPTIONS, "show": _GIT_DIFF_OPTIONS,
    "whatchanged": _GIT_DIFF_OPTIONS, "diff-tree": _GIT_DIFF_OPTIONS,
    "diff-files": _GIT_DIFF_OPTIONS, "diff-index": _GIT_DIFF_OPTIONS,
    "range-diff": _GIT_DIFF_OPTIONS, "stash": _GIT_DIFF_OPTIONS, "reflog": _GIT_DIFF_OPTIONS,
    "format-patch": _table({
        "--ext-diff": (RUNS, "runs the configured external diff program"),
        "--output": (WRITES, "writes the output to a file"),
        "-o --output-directory": (WRITES, "writes the patches into a directory"),
    }),
    "rebase": _table({"-x --exec": (RUNS, "runs a command after each commit")}),
    "fetch": _table({"-u --upload-pack": (RUNS, "runs another program as upload-pack")}),
    "pull": _table({"--upload-pack": (RUNS, "runs another program as upload-pack")}),
    "ls-remote": _table({"-u --upload-pack": (RUNS, "runs another program as upload-pack")}),
    "clone": _table({
        "-u --upload-pack": (RUNS, "runs another program as upload-pack"),
        "--template": (RUNS, "copies hooks from a template directory, which then run"),
        "-c --config": (RUNS, "sets configuration, which can name programs to run"),
        "--separate-git-dir": (WRITES, "writes the repository to a directory"),
    }),
    "init": _table({
        "--template": (RUNS, "copies hooks from a template directory, which then run"),
        "--separate-git-dir": (WRITES, "writes the repository to a directory"),
    }),
    "push": _table({
        "--receive-pack --exec": (RUNS, "runs another program as receive-pack"),
    }),
    "archive": _table({
        "--exec": (RUNS, "runs another program as upload-archive"),
        "-o --output": (WRITES, "writes the archive to a file"),
    }),
    "grep": _table({"-O --open-files-in-pager": (RUNS, "runs a pager on the matches")}),
    "help": _table({"-w --web": (RUNS, "runs a web browser")}),
    "checkout-index": _table({"--prefix": (WRITES, "writes the files under a prefix")}),
    "apply": _table({"--unsafe-paths": (WRITES, "writes outside the work tree")}),
    "am": _table({"--unsafe-paths": (WRITES, "writes outside the work tree")}),
}
# Options whose value is the next word, where operands matter.
_GIT_CLONE_VALUE = frozenset({
    "-u", "--upload-pack", "-b", "--branch", "-o", "--origin", "--depth", "--template", "-c",
    "--config", "--reference", "--reference-if-able", "--separate-git-dir", "-j", "--jobs",
    "--filter", "--shallow-since", "--shallow-exclude", "--server-option", "--bundle-uri",
    "--ref-format", "--revision"})
_GIT_INIT_VALUE = frozenset({"--template", "--separate-git-dir", "-b", "--initial-branch",
                             "--object-format", "--ref-format"})
# Table options that take no value (the next word is not their target).
_GIT_FLAGS = frozenset({"--unsafe-paths", "--ext-diff"})
_GIT_CONFIG_WRITES = ("add", "unset", "unset-all", "replace-all", "rename-section",
                      "remove-section", "edit")
_GIT_CONFIG_READS = ("get", "get-all", "get-regexp", "get-urlmatch", "get-color",
                     "get-colorbool", "list")
_GIT_CONFIG_VALUE = frozenset({"-f", "--file", "--blob", "--type", "--default", "--comment",
                               "--value"})


def _git(name: str, args: Sequence[Word]) -> list[Hazard]:
    hazards: list[Hazard] = []
    count = len(args)
    index = 0
    while index < count:
        word = args[index]
        text = word.text
        if text is None:
            hazards.append(_dynamic(name, word, "and may be an option or the command"))
            return hazards
        if not text.startswith("-"):
            break
        index += 1
        if text == "--":
            break
        option, eq, _ = text.partition("=")
        if option in _GIT_GLOBAL_RUNS and (eq or option != "--exec-path"):
            hazards.append(_runs(name, f"`{option}` {_GIT_GLOBAL_RUNS[option]}"))
        elif text[:2] in ("-c", "-C") and len(text) > 2:
            hazards.append(_runs(name, f"`{text[:2]}` {_GIT_GLOBAL_RUNS[text[:2]]}"))
        if text in _GIT_GLOBAL_VALUE:
            index += 1
    if index >= count:
        return hazards
    word = args[index]
    command = word.text
    if command is None:
        hazards.append(_dynamic(name, word, "and is the command"))
        return hazards
    rest = args[index + 1:]
    if command in GIT_RUNNING_COMMANDS:
        hazards.append(_runs(name, f"`{command}` {GIT_RUNNING_COMMANDS[command]}"))
    elif command not in GIT_COMMANDS:
        hazards.append(_runs(name, f"`{command}` is not a git command, so it may be an alias "
                                   "or an external command, which can run programs"))
        return hazards + _git_dynamic(name, command, rest)
    table = _GIT_OPTIONS.get(command)
    if table is not None:
        _git_options(name, rest, table, hazards)
    special = _GIT_COMMAND_CHECKS.get(command)
    if special is not None:
        special(name, rest, hazards)
    hazards.extend(_git_dynamic(name, command, rest))
    return hazards


def _git_dynamic(name: str, command: str, rest: Sequence[Word]) -> list[Hazard]:
    lenient = command in GIT_DYNAMIC_OPERANDS
    hazards = []
    ended = False
    for word in rest:
        if word.text == "--":
            ended = True
        elif word.text is None and not (lenient and (ended or not word.may_be_option())):
            hazards.append(_dynamic(name, word, f"and `git {command}` is not known to take "
                                                "it harmlessly"))
    return hazards


def _git_options(name: str, rest: Sequence[Word], table: Mapping[str, Entry],
                 hazards: list[Hazard]) -> None:
    count = len(rest)
    for index in range(count):
        text = rest[index].text
        if text is None or len(text) < 2 or text[0] != "-":
            continue
        if text == "--":
            return
        following = rest[index + 1] if index + 1 < count else None
        if text[1] == "-":
            given, eq, value = text[2:].partition("=")
            if not given:
                continue
            for key, entry in table.items():
                if key.startswith("--" + given):
                    taken = None if key in _GIT_FLAGS else following
                    _entry_hazard(name, key, entry, Word(value) if eq else taken, hazards)
                    break
            continue
        for position in range(1, len(text)):
            key = "-" + text[position]
            short = table.get(key)
            if short is not None:
                glued = text[position + 1:]
                _entry_hazard(name, key, short, Word(glued) if glued else following, hazards)
                break


def _entry_hazard(name: str, key: str, entry: Entry, value: Word | None,
                  hazards: list[Hazard]) -> None:
    kind, what, default = entry
    if kind == WRITES:
        path = value if value is not None else default
        if path is None or path.text != "-":
            hazards.append(Hazard(WRITES, f"{name}: `{key}` {what}", path))
    else:
        hazards.append(Hazard(kind, f"{name}: `{key}` {what}"))


def _git_operands(rest: Sequence[Word], takes_value: frozenset[str] = frozenset()
                  ) -> list[Word]:
    """The non-option words; ``takes_value`` lists the options whose value is
    the next word (without it an option value would count as an operand)."""
    operands: list[Word] = []
    skip = False
    for index, word in enumerate(rest):
        if skip:
            skip = False
            continue
        text = word.text
        if text == "--":
            return operands + list(rest[index + 1:])
        if text is None or not text.startswith("-") or text == "-":
            operands.append(word)
        else:
            skip = text in takes_value
    return operands


def _git_config(name: str, rest: Sequence[Word], hazards: list[Hazard]) -> None:
    writes = reads = False
    operands: list[Word] = []
    skip = False
    for word in rest:
        text = word.text
        if skip:
            skip = False
            continue
        if text is None or not text.startswith("-") or text == "-":
            operands.append(word)
            continue
        if text.startswith("--"):
            given = text[2:].partition("=")[0]
            if given and any(option.startswith(given) for option in _GIT_CONFIG_WRITES):
                writes = True
            elif given and any(option.startswith(given) for option in _GIT_CONFIG_READS):
                reads = True
            skip = "=" not in text and text in _GIT_CONFIG_VALUE
        else:
            letters = text[1:]
            writes = writes or "e" in letters
            reads = reads or "l" in letters
            skip = text in _GIT_CONFIG_VALUE
    verb = operands[0].text if operands else ""
    if writes or verb in ("set", "unset", "edit", "rename-section", "remove-section") or (
            not reads and verb not in ("get", "list") and len(operands) > 1):
        hazards.append(_runs(name, "`config` changes configuration, which can name programs "
                                   "to run later"))


def _git_subcommand(word: str, what: str) -> Callable[[str, Sequence[Word], list[Hazard]], None]:
    def check(name: str, rest: Sequence[Word], hazards: list[Hazard]) -> None:
        if any(operand.text == word for operand in _git_operands(rest)):
            hazards.append(_runs(name, f"`{word}` {what}"))
    return check


def _git_clone(name: str, rest: Sequence[Word], hazards: list[Hazard]) -> None:
    operands = _git_operands(rest, _GIT_CLONE_VALUE)
    if operands and (operands[0].text is None or operands[0].text.startswith("ext::")):
        hazards.append(_runs(name, "an `ext::` URL runs a command"))
    target = operands[1] if len(operands) > 1 else CWD
    hazards.append(_write(name, f"`clone` writes `{_show(target)}`", target))


def _git_init(name: str, rest: Sequence[Word], hazards: list[Hazard]) -> None:
    operands = _git_operands(rest, _GIT_INIT_VALUE)
    target = operands[0] if operands else CWD
    hazards.append(_write(name, f"`init` writes `{_show(target)}`", target))


def _git_format_patch(name: str, rest: Sequence[Word], hazards: list[Hazard]) -> None:
    # Without --stdout or an output option the patches land here.
    for word in rest:
        text = word.text or ""
        if text == "--":
            break
        if text == "--stdout" or text.startswith(("-o", "--o")):
            return
    hazards.append(_write(name, "`format-patch` writes patch files here", CWD))


def _git_after(verb: str, what: str, takes_value: frozenset[str] = frozenset()
               ) -> Callable[[str, Sequence[Word], list[Hazard]], None]:
    """Writes the operands after ``verb`` (``worktree add PATH``, ``bundle create FILE``)."""
    def check(name: str, rest: Sequence[Word], hazards: list[Hazard]) -> None:
        operands = _git_operands(rest, takes_value)
        if operands and operands[0].text == verb:
            for operand in operands[1:]:
                hazards.append(_write(name, f"`{verb}` {what} `{_show(operand)}`", operand))
    return check


def _git_maintenance(name: str, rest: Sequence[Word], hazards: list[Hazard]) -> None:
    operands = _git_operands(rest)
    if operands and operands[0].text in ("start", "register", "unregister", "stop"):
        hazards.append(_runs(name, "`maintenance` schedules git to run later"))


_GIT_COMMAND_CHECKS: dict[str, Callable[[str, Sequence[Word], list[Hazard]], None]] = {
    "config": _git_config,
    "submodule": _git_subcommand("foreach", "runs a command in every submodule"),
    "bisect": _git_subcommand("run", "runs a command on each commit"),
    "clone": _git_clone,
    "init": _git_init,
    "format-patch": _git_format_patch,
    "worktree": _git_after("add", "writes a work tree at",
                           frozenset({"-b", "-B", "--reason", "--orphan"})),
    "bundle": _git_after("create", "writes"),
    "maintenance": _git_maintenance,
}


# -- tar -------------------------------------------------------------------------------

_TAR = _Grammar(
    "AaBb:cC:dF:f:g:GhH:iI:jJkK:lL:mMnN:oOpPrRsStT:uUvV:wWxX:zZ",
    "absolute-names acls after-date: anchored append atime-preserve:: auto-compress backup:: "
    "block-number blocking-factor: bzip2 catenate check-device check-links checkpoint:: "
    "checkpoint-action: clamp-mtime compare concatenate confirmation create "
    "delay-directory-restore delete dereference diff directory: exclude: exclude-backups "
    "exclude-caches exclude-caches-all exclude-caches-under exclude-ignore: "
    "exclude-ignore-recursive: exclude-tag: exclude-tag-all: exclude-tag-under: exclude-vcs "
    "exclude-vcs-ignores extract file: files-from: force-local format: full-time get group: "
    "group-map: gunzip gzip hard-dereference help hole-detection: ignore-case "
    "ignore-command-error ignore-failed-read ignore-zeros incremental index-file: "
    "info-script: interactive keep-directory-symlink keep-newer-files keep-old-files label: "
    "level: list listed-incremental: lzip lzma lzop mode: mtime: multi-volume "
    "new-volume-script: newer: newer-mtime: no-acls no-anchored no-auto-compress "
    "no-check-device no-delay-directory-restore no-ignore-case no-ignore-command-error "
    "no-null no-overwrite-dir no-recursion no-same-owner no-same-permissions no-seek "
    "no-selinux no-unquote no-wildcards no-wildcards-match-slash no-xattrs null "
    "numeric-owner occurrence:: old-archive one-file-system one-top-level:: overwrite "
    "overwrite-dir owner: owner-map: pax-option: portability posix preserve preserve-order "
    "preserve-permissions quote-chars: quoting-style: read-full-records record-size: "
    "recursion recursive-unlink remove-files rmt-command: rsh-command: same-order same-owner "
    "same-permissions seek selinux show-defaults show-omitted-dirs "
    "show-snapshot-field-ranges show-stored-names show-transformed-names skip-old-files "
    "sort: sparse sparse-version: starting-file: strip-components: suffix: tape-length: "
    "test-label to-command: to-stdout totals:: touch transform: xform: uncompress ungzip "
    "unlink-first unquote update usage use-compress-program: utc verbose verify version "
    "volno-file: warning: wildcards wildcards-match-slash xattrs xattrs-exclude: "
    "xattrs-include: zstd",
    _table({
        "--to-command": (RUNS, "runs a command for each extracted file"),
        "--checkpoint-action": (RUNS, "can run a command at checkpoints"),
        "-I --use-compress-program": (RUNS, "runs a compression program"),
        "--rsh-command --rmt-command": (RUNS, "runs a remote shell program"),
        "-F --info-script --new-volume-script": (RUNS, "runs a script at each volume"),
        "--index-file": (WRITES, "writes its listing to a file"),
        "-g --listed-incremental": (WRITES, "writes the snapshot file"),
        "--volno-file": (WRITES, "writes the volume number to a file"),
    }),
    risky="extract create append update catenate concatenate delete directory file "
          "remove-files absolute-names transform xform",
)
_TAR_ARCHIVE_WRITES = frozenset({"-c", "--create", "-r", "--append", "-u", "--update", "-A",
                                 "--catenate", "--concatenate", "--delete"})
_TAR_EXTRACT = frozenset({"-x", "--extract", "--get"})
# Extraction that writes no files here (--to-command has its own hazard).
_TAR_NOT_TO_DISK = frozenset({"-O", "--to-stdout", "--to-command"})
# Member names may then leave the target directory.
_TAR_ANY_NAME = frozenset({"-P", "--absolute-names", "--transform", "--xform"})


def _tar(name: str, args: Sequence[Word]) -> list[Hazard]:
    old_style: list[tuple[str, Word | None]] = []
    hazards: list[Hazard] = []
    if args and args[0].text is None and not args[0].prefix.startswith("-"):
        hazards.append(_dynamic(name, args[0], "and may be the operation letters"))
        args = args[1:]
    elif args and args[0].text and not args[0].text.startswith("-"):
        # Old style: `tar xzf a.tgz` = `tar -x -z -f a.tgz`; each letter that
        # takes a value takes the next word, in order.
        rest = args[1:]
        taken = 0
        for letter in args[0].text:
            value = None
            if _TAR.shorts.get(letter, 0) == 1:
                value = rest[taken] if taken < len(rest) else None
                taken += 1
            old_style.append(("-" + letter, value))
        args = rest[taken:]
    parsed = _TAR.parse(name, args)
    for key, value in old_style:
        if key in _TAR.table:
            _TAR._option_hazard(name, key, value, parsed)
    hazards.extend(parsed.hazards)
    archives: list[Word] = []
    directories: list[Word] = []
    tops: list[Word] = []
    writes_archive = extract = to_stdout = anywhere = force_local = removes = False
    for key, value in old_style + parsed.opts:
        if key == "-f" or key == "--file":
            if value is not None:
                archives.append(value)
        elif key == "-C" or key == "--directory":
            if value is not None:
                directories.append(value)
        elif key in _TAR_ARCHIVE_WRITES:
            writes_archive = True
        elif key in _TAR_EXTRACT:
            extract = True
        elif key in _TAR_NOT_TO_DISK:
            to_stdout = True
        elif key in _TAR_ANY_NAME:
            anywhere = True
        elif key == "--force-local":
            force_local = True
        elif key == "--remove-files":
            removes = True
        elif key == "--one-top-level" and value is not None:
            tops.append(value)
    if not force_local:
        for archive in archives:
            _tar_remote_archive(name, archive, hazards)
    if writes_archive:
        if not archives:
            hazards.append(_write(name, "writes the default archive", None))
        for archive in archives:
            if archive.text != "-":
                hazards.append(_write(name, f"writes the archive `{_show(archive)}`", archive))
    if extract and not to_stdout:
        if anywhere:
            hazards.append(_write(name, "extracts to names the archive chooses", None))
        for directory in directories or [CWD]:
            hazards.append(_write(name, f"extracts into `{_show(directory)}`", directory))
        for top in tops:
            if top.text is None or top.text.startswith("/"):
                hazards.append(_write(name, f"extracts into `{_show(top)}`", top))
    if removes:
        _writes_each(name, parsed.operands, "`--remove-files` deletes", hazards)
    return hazards


def _tar_remote_archive(name: str, archive: Word, hazards: list[Hazard]) -> None:
    # GNU tar reads `host:file` as a remote archive and runs rsh/ssh for it.
    if archive.text is None:
        prefix = archive.prefix
        if not _is_local_path(prefix):
            hazards.append(_runs(name, "a `host:file` archive runs a remote shell"))
        elif "/" not in prefix:
            hazards.append(_dynamic(name, archive, "and may name a remote archive "
                                                   "(`host:file`), which runs a shell"))
    elif not _is_local_path(archive.text):
        hazards.append(_runs(name, f"the archive `{archive.text}` is remote, which runs a "
                                   "remote shell"))


# -- xargs, env, command runners -----------------------------------------------------------

_XARGS = _Grammar(
    "0a:d:E:e::I:i::L:l::n:opP:rs:tx",
    "arg-file: delimiter: eof:: replace:: max-lines:: max-args: max-procs: max-chars: "
    "interactive verbose exit no-run-if-empty null open-tty process-slot-var: show-limits "
    "help version",
    permute=False,
)


def _xargs(name: str, args: Sequence[Word]) -> list[Hazard]:
    parsed = _XARGS.parse(name, args)
    if parsed.operands:
        parsed.hazards.append(_runs(name, f"runs `{_show(parsed.operands[0])}` on its input"))
    return parsed.hazards


_ENV = _Grammar(
    "0C:iS:u:v",
    "argv0: block-signal:: chdir: debug default-signal:: ignore-environment ignore-signal:: "
    "list-signal-handling null split-string: unset: help version",
    _table({"-S --split-string": (RUNS, "splits a string into a command and runs it")}),
    permute=False,
)


def _env(name: str, args: Sequence[Word]) -> list[Hazard]:
    parsed = _ENV.parse(name, args)
    for word in parsed.operands:
        if word.text is not None:
            if "=" not in word.text:
                parsed.hazards.append(_runs(name, f"runs `{word.text}`"))
                break
        elif "=" not in word.prefix or not word.single:
            parsed.hazards.append(_dynamic(name, word, "and may be a command to run"))
            break
    return parsed.hazards


def _always_runs(name: str, args: Sequence[Word]) -> list[Hazard]:
    return [_runs(name, "runs another program or a shell")]


def _runs_operand(name: str, args: Sequence[Word]) -> list[Hazard]:
    # Option values (`timeout 5 cmd`, `nice -n 5 cmd`) look like operands;
    # calling them the command only adds a hazard to a command that has one.
    if name == "command" and args and args[0].text in ("-v", "-V"):
        return []
    for word in args:
        if word.text is None or not word.text.startswith("-") or word.text == "--":
            return [_runs(name, "runs the command it is given")]
    return []


def _busybox(name: str, args: Sequence[Word]) -> list[Hazard]:
    if not args or (args[0].text is not None and args[0].text.startswith("-")):
        return []
    if args[0].text is None:
        return [_dynamic(name, args[0], "and is the applet to run")]
    applet = args[0].text.rstrip("/").rpartition("/")[2]
    if applet == "busybox" or not (applet in ANY_ARGUMENTS or applet in _CHECKS):
        # An applet we have no entry for may be a shell (`busybox sh -c ...`).
        return [_runs(name, f"runs the applet `{applet}`, which is not known to be harmless")]
    return argument_hazards(args)


def _crontab(name: str, args: Sequence[Word]) -> list[Hazard]:
    # Only `crontab [-u USER] -l` just lists.
    texts = [word.text for word in args]
    if texts and texts[0] == "-u" and len(texts) > 1 and texts[1] is not None:
        texts = texts[2:]
    if texts == ["-l"]:
        return []
    return [_runs(name, "installs or edits a crontab, which runs programs later")]


# -- text tools with output files ----------------------------------------------------------

_SORT = _Grammar(
    "bcCdfghik:mMno:rRsS:t:T:uVy:z",
    "batch-size: buffer-size: check:: compress-program: debug dictionary-order "
    "field-separator: files0-from: general-numeric-sort human-numeric-sort ignore-case "
    "ignore-leading-blanks ignore-nonprinting key: merge month-sort numeric-sort output: "
    "parallel: random-sort random-source: reverse sort: stable temporary-directory: unique "
    "version-sort zero-terminated help version",
    _table({
        "-o --output": (WRITES, "writes the output to a file"),
        "--compress-program": (RUNS, "runs a compression program for temporary files"),
        "-T --temporary-directory": (WRITES, "writes temporary files into a directory"),
    }),
)

_UNIQ = _Grammar(
    "cdDf:is:uw:z",
    "all-repeated:: check-chars: count group:: help ignore-case repeated skip-chars: "
    "skip-fields: unique version zero-terminated",
)


def _uniq_operands(name: str, parsed: _Args) -> None:
    output = _nth_operand(parsed.operands, 1)
    if output is not None and output.text != "-":
        parsed.hazards.append(_write(name, f"writes its output to `{_show(output)}`", output))


_TEE = _Grammar("aip", "append ignore-interrupts output-error:: help version")


def _each_operand_written(what: str) -> Callable[[str, _Args], None]:
    def operands(name: str, parsed: _Args) -> None:
        _writes_each(name, parsed.operands, what, parsed.hazards)
    return operands


_BASE64 = _Grammar(
    "b:Ddi:o:w:", "decode ignore-garbage wrap: input: output: break: help version",
    _table({"-o --output": (WRITES, "writes the output to a file")}),
)

_FILE = _Grammar(
    "bcCdEhiklLNnprsSvzZ0e:f:F:m:P:",
    "brief checking-printout compile debug exclude: exclude-quiet: extension files-from: "
    "separator: help mime mime-type mime-encoding keep-going list dereference "
    "no-dereference magic-file: no-buffer no-pad print0 preserve-date parameter: raw "
    "special-files uncompress uncompress-noreport version",
    _table({"-C --compile": (WRITES, "writes a compiled magic file here", CWD)}),
)

_SPLIT = _Grammar(
    "0123456789a:b:C:del:n:t:ux",
    "additional-suffix: bytes: line-bytes: elide-empty-files filter: hex-suffixes:: lines: "
    "number: numeric-suffixes:: separator: suffix-length: unbuffered verbose help version",
    _table({"--filter": (RUNS, "runs a shell command for each piece")}),
)


def _split_operands(name: str, parsed: _Args) -> None:
    prefix = _nth_operand(parsed.operands, 1) or CWD
    parsed.hazards.append(_write(name, f"writes pieces named `{_show(prefix)}...`", prefix))


_CSPLIT = _Grammar(
    "b:f:kn:sz",
    "suffix-format: prefix: keep-files suppress-matched digits: quiet silent "
    "elide-empty-files help version",
)


def _csplit_operands(name: str, parsed: _Args) -> None:
    prefixes = [value for value in parsed.values("-f", "--prefix") if value is not None]
    for prefix in prefixes or [CWD]:
        parsed.hazards.append(_write(name, f"writes pieces named `{_show(prefix)}...`", prefix))


_COMPRESS = _Grammar(
    "0123456789acdfhklLnNqrtvVzZ#B:C:D:F:M:o:S:T:",
    "stdout to-stdout decompress uncompress force help keep list license no-name name quiet "
    "recursive rsyncable suffix: test verbose version fast best synchronous output-dir-flat: "
    "output-dir-mirror: rm format: check: memlimit: threads:",
    _table({
        "-o": (WRITES, "writes the output to a file"),
        "--output-dir-flat --output-dir-mirror": (WRITES, "writes into a directory"),
    }),
)
_COMPRESS_NO_WRITE = frozenset({"-c", "--stdout", "--to-stdout", "-t", "--test", "-l",
                                "--list"})


def _compress_operands(name: str, parsed: _Args) -> None:
    if parsed.has(*_COMPRESS_NO_WRITE) or parsed.has("-o"):
        if parsed.has("--rm"):
            _writes_each(name, parsed.operands, "`--rm` deletes", parsed.hazards)
        return
    files = [word for word in parsed.operands if word.text != "-"]
    _writes_each(name, files, "replaces", parsed.hazards)


_PATCH = _Grammar(
    "bB:cd:D:eEfF:g:i:lnNo:p:r:RsStTuvV:xY:z:Z",
    "backup backup-if-mismatch basename-prefix: batch binary context directory: "
    "dry-run ed follow-symlinks force forward fuzz: get: help ifdef: ignore-whitespace "
    "input: merge:: no-backup-if-mismatch normal output: posix prefix: quiet "
    "read-only: reject-file: reject-format: remove-empty-files reverse set-time set-utc "
    "silent strip: suffix: unified verbose version version-control:",
    _table({
        "-e --ed": (RUNS, "runs ed on the patch"),
        "-o --output": (WRITES, "writes the result to a file"),
        "-r --reject-file": (WRITES, "writes rejected hunks to a file"),
        "-B --prefix -Y --basename-prefix": (WRITES, "writes backups under a prefix"),
    }),
)


def _patch_operands(name: str, parsed: _Args) -> None:
    if parsed.has("--dry-run") or parsed.has("-o", "--output"):
        return
    if parsed.operands:
        target = parsed.operands[0]
    else:
        directories = [value for value in parsed.values("-d", "--directory") if value]
        target = directories[-1] if directories else CWD
    parsed.hazards.append(_write(name, f"patches files in `{_show(target)}`", target))


_MKTEMP = _Grammar("dp:qtuV", "directory dry-run quiet suffix: tmpdir:: help version")


def _mktemp_operands(name: str, parsed: _Args) -> None:
    if parsed.has("-u", "--dry-run"):
        return
    for key, value in parsed.opts:
        if key in ("-p", "--tmpdir"):
            parsed.hazards.append(_write(name, "creates a file in a directory", value))
            return
    template = parsed.operands[0] if parsed.operands else None
    if template is not None and not parsed.has("-t") and (
            template.text is None or "/" in template.text):
        parsed.hazards.append(_write(name, f"creates `{_show(template)}`", template))
    else:
        parsed.hazards.append(_write(name, "creates a file in $TMPDIR", None))


# -- file management ---------------------------------------------------------------------

_CP = _Grammar(
    "abdfHilLnprst:uvxPRS:TZ",
    "archive attributes-only backup:: copy-contents debug dereference force interactive "
    "link no-clobber no-dereference preserve:: no-preserve: parents recursive reflink:: "
    "remove-destination sparse: strip-trailing-slashes suffix: symbolic-link "
    "target-directory: no-target-directory update:: verbose keep-directory-symlink "
    "one-file-system context:: help version",
)
_MV = _Grammar(
    "bfint:uvS:TZ",
    "backup:: debug exchange force interactive no-clobber no-copy strip-trailing-slashes "
    "suffix: target-directory: no-target-directory update:: verbose context help version",
)
_INSTALL = _Grammar(
    "bcCdDg:m:o:pPsS:t:TvZ",
    "backup:: compare debug directory group: mode: owner: preserve-timestamps "
    "preserve-context strip strip-program: suffix: target-directory: no-target-directory "
    "verbose context:: help version",
    _table({"--strip-program": (RUNS, "runs a program on the installed files")}),
)
_LN = _Grammar(
    "bdfinrsS:t:TvLP",
    "backup:: directory force interactive logical no-dereference no-target-directory "
    "physical relative symbolic suffix: target-directory: verbose help version",
)


def _destination(moves: bool, here_by_default: bool = False) -> Callable[[str, _Args], None]:
    """cp/mv/install/ln: the destination is written; mv also removes its sources."""
    def operands(name: str, parsed: _Args) -> None:
        hazards = parsed.hazards
        files = parsed.operands
        targets = [value for value in parsed.values("-t", "--target-directory")
                   if value is not None]
        if name == "install" and parsed.has("-d", "--directory"):
            _writes_each(name, files, "creates", hazards)
            return
        sources = files
        if not targets:
            if len(files) >= 2 or (files and not files[-1].single):
                targets, sources = [files[-1]], files[:-1]
            elif files and here_by_default:
                targets = [CWD]
        for target in targets:
            hazards.append(_write(name, f"writes `{_show(target)}`", target))
        if moves:
            _writes_each(name, sources, "removes", hazards)
    return operands


_RM = _Grammar(
    "dfiIrRv",
    "dir force interactive:: one-file-system no-preserve-root preserve-root:: recursive "
    "verbose help version",
)
_RMDIR = _Grammar("pv", "ignore-fail-on-non-empty parents verbose help version")
_TOUCH = _Grammar("acd:fhmr:t:", "date: reference: time: no-create no-dereference help version")
_MKDIR = _Grammar("m:pvZ", "mode: parents verbose context:: help version")
_TRUNCATE = _Grammar("cor:s:", "no-create io-blocks reference: size: help version")
_SHRED = _Grammar("fn:s:uvxz",
                  "force iterations: random-source: size: remove:: verbose exact zero help "
                  "version")
_CHOWN = _Grammar(
    "cfhvRHLP",
    "changes dereference from: no-dereference no-preserve-root preserve-root quiet silent "
    "recursive reference: verbose help version",
)
_CHMOD = _Grammar(
    "cfvR",
    "changes quiet silent verbose recursive reference: preserve-root no-preserve-root help "
    "version",
)
_CHMOD_MODE_LETTERS = frozenset("rwxXstugoa+-=,01234567")


def _after_first_operand(what: str) -> Callable[[str, _Args], None]:
    """chown/chgrp: the first operand is the owner, unless --reference names it."""
    def operands(name: str, parsed: _Args) -> None:
        files = parsed.operands if parsed.has("--reference") else parsed.operands[1:]
        _writes_each(name, files, what, parsed.hazards)
    return operands


def _chmod(name: str, args: Sequence[Word]) -> list[Hazard]:
    parsed = _CHMOD.parse(name, args)
    # `chmod -w FILE`: a mode that looks like options leaves no mode operand.
    mode_as_option = False
    for word in args:
        if word.text == "--":
            break
        text = word.text
        if text is not None and len(text) > 1 and text[0] == "-" and text[1] != "-" and all(
                char in _CHMOD_MODE_LETTERS for char in text[1:]):
            mode_as_option = True
    files = parsed.operands
    if not (mode_as_option or parsed.has("--reference")):
        files = files[1:]
    _writes_each(name, files, "changes the mode of", parsed.hazards)
    return parsed.hazards


def _dd(name: str, args: Sequence[Word]) -> list[Hazard]:
    hazards: list[Hazard] = []
    for word in args:
        text = word.text if word.text is not None else word.prefix
        if text.startswith("of="):
            path = Word(text[3:]) if word.text is not None else Word.dynamic(
                word.source, prefix=text[3:], single=word.single)
            hazards.append(_write(name, f"`of=` writes `{_show(path)}`", path))
        elif word.text is None and "of=".startswith(text):
            hazards.append(_dynamic(name, word, "and may be `of=FILE`"))
    return hazards


# -- network -------------------------------------------------------------------------

_CURL = _Grammar(
    "A:b:c:C:d:D:e:E:F:H:K:m:o:P:Q:r:T:t:u:U:w:x:X:y:Y:z:"
    "aBfgGhiIjJklLMnNOpqRsSvVZ#0123456:",
    "abstract-unix-socket: alt-svc: aws-sigv4: cacert: capath: cert: cert-type: ciphers: "
    "config: connect-timeout: connect-to: continue-at: cookie: cookie-jar: "
    "create-file-mode: crlfile: curves: data: data-ascii: data-binary: data-raw: "
    "data-urlencode: delegation: dns-interface: dns-ipv4-addr: dns-ipv6-addr: dns-servers: "
    "doh-url: dump-header: ech: egd-file: engine: etag-compare: etag-save: "
    "expect100-timeout: form: form-string: ftp-account: ftp-alternative-to-user: "
    "ftp-method: ftp-port: ftp-ssl-ccc-mode: happy-eyeballs-timeout-ms: haproxy-clientip: "
    "header: hostpubmd5: hostpubsha256: hsts: interface: ip-tos: ipfs-gateway: json: "
    "keepalive-time: keepalive-cnt: key: key-type: krb: libcurl: limit-rate: local-port: "
    "login-options: mail-auth: mail-from: mail-rcpt: max-filesize: max-redirs: max-time: "
    "netrc-file: noproxy: oauth2-bearer: output: output-dir: parallel-max: pass: "
    "pinnedpubkey: preproxy: proto: proto-default: proto-redir: proxy: proxy-cacert: "
    "proxy-capath: proxy-cert: proxy-cert-type: proxy-ciphers: proxy-crlfile: "
    "proxy-header: proxy-key: proxy-key-type: proxy-pass: proxy-pinnedpubkey: "
    "proxy-service-name: proxy-tls13-ciphers: proxy-tlsauthtype: proxy-tlspassword: "
    "proxy-tlsuser: proxy-user: proxy1.0: pubkey: quote: random-file: range: rate: referer: "
    "request: request-target: resolve: retry: retry-delay: retry-max-time: sasl-authzid: "
    "service-name: socks4: socks4a: socks5: socks5-gssapi-service: socks5-hostname: "
    "speed-limit: speed-time: ssl-sessions: stderr: telnet-option: tftp-blksize: time-cond: "
    "tls-max: tls13-ciphers: tlsauthtype: tlspassword: tlsuser: trace: trace-ascii: "
    "trace-config: unix-socket: upload-file: url: url-query: user: user-agent: variable: "
    "write-out: "
    "remote-name remote-name-all remote-header-name create-dirs silent show-error "
    "location fail include insecure verbose progress-bar parallel next compressed "
    "fail-with-body head get globoff http1.1 http2 ipv4 ipv6 list-only no-buffer "
    "no-keepalive remote-time",
    _table({
        "-o --output": (WRITES, "writes the download to a file"),
        "-O --remote-name --remote-name-all": (WRITES, "writes the download here", CWD),
        "--output-dir": (WRITES, "writes downloads into a directory"),
        "-K --config": (RUNS, "reads options from a file, which can do anything"),
        "-D --dump-header": (WRITES, "writes the headers to a file"),
        "-c --cookie-jar": (WRITES, "writes cookies to a file"),
        "--trace --trace-ascii": (WRITES, "writes a trace to a file"),
        "--etag-save": (WRITES, "writes the ETag to a file"),
        "--stderr": (WRITES, "writes errors to a file"),
        "--libcurl": (WRITES, "writes C source to a file"),
        "--hsts --alt-svc --ssl-sessions": (WRITES, "updates a cache file"),
        "--engine": (RUNS, "loads a crypto engine"),
    }),
)


def _curl_operands(name: str, parsed: _Args) -> None:
    for value in parsed.values("-w", "--write-out"):
        if value is not None and (value.text is None or "%output{" in value.text):
            parsed.hazards.append(_write(name, "`-w %output{}` writes a file", None))
    if parsed.has("-T", "--upload-file"):
        urls = parsed.operands + [v for v in parsed.values("--url") if v is not None]
        for url in urls:
            scheme = (url.text if url.text is not None else url.prefix)[:5].lower()
            if (url.text is None and "file:".startswith(scheme)) or scheme == "file:":
                parsed.hazards.append(_write(name, "uploading to a `file:` URL writes a file",
                                             None))
                break


_WGET = _Grammar(
    "a:A:B:D:e:i:I:l:n:o:O:P:Q:R:t:T:U:w:X:46bcdEFhHkKLmNpqrSvVx",
    "accept: append-output: base: body-data: body-file: ca-certificate: ca-directory: "
    "certificate: config: cut-dirs: default-page: directory-prefix: domains: "
    "exclude-directories: exclude-domains: execute: header: hsts-file: http-password: "
    "http-user: include-directories: input-file: level: load-cookies: local-encoding: "
    "max-redirect: method: output-document: output-file: password: post-data: post-file: "
    "private-key: quota: read-timeout: referer: reject: rejected-log: remote-encoding: "
    "restrict-file-names: save-cookies: timeout: tries: use-askpass: user: user-agent: "
    "wait: waitretry: warc-file: spider continue mirror recursive no-clobber no-config "
    "no-verbose quiet server-response timestamping no-check-certificate",
    _table({
        "-O --output-document": (WRITES, "writes the download to a file"),
        "-P --directory-prefix": (WRITES, "writes downloads into a directory"),
        "-e --execute": (RUNS, "runs a wgetrc command, which can change anything"),
        "--config": (RUNS, "reads a wgetrc file, which can change anything"),
        "--use-askpass": (RUNS, "runs a password program"),
        "-o --output-file -a --append-output": (WRITES, "writes its log to a file"),
        "--save-cookies": (WRITES, "writes cookies to a file"),
        "--warc-file": (WRITES, "writes a WARC file"),
        "--rejected-log": (WRITES, "writes a log of rejected URLs"),
        "--hsts-file": (WRITES, "updates an HSTS file"),
    }),
)


def _wget_operands(name: str, parsed: _Args) -> None:
    if parsed.has("--spider") or parsed.has("-O", "--output-document", "-P",
                                            "--directory-prefix"):
        return
    parsed.hazards.append(_write(name, "writes downloads here", CWD))


_SSH = _Grammar(
    "B:b:c:D:E:e:F:I:i:J:L:l:m:O:o:P:p:Q:R:S:W:w:46AaCfGgKkMNnqsTtVvXxYy",
    table=_table({
        "-F": (RUNS, "reads a configuration file, which can run commands"),
        "-S": (RUNS, "uses a control socket, whose master may run anything"),
        "-I": (RUNS, "loads a PKCS#11 library"),
        "-E": (WRITES, "writes its log to a file"),
    }),
)
_SCP = _Grammar(
    "3ABCdfF:i:J:l:o:OP:pqRrS:stTvX:D:c:46",
    table=_table({
        "-F": (RUNS, "reads a configuration file, which can run commands"),
        "-S": (RUNS, "runs another program for the connection"),
        "-D": (RUNS, "runs a local SFTP server program"),
    }),
)
_SFTP = _Grammar(
    "aB:b:c:CD:F:fhi:J:l:NO:o:P:pqR:rS:s:vX:46",
    table=_table({
        "-F": (RUNS, "reads a configuration file, which can run commands"),
        "-S": (RUNS, "runs another program for the connection"),
        "-D": (RUNS, "runs a local SFTP server program"),
        "-b": (RUNS, "runs a batch file, which can run local commands"),
    }),
)
# ssh -o keys (lower case) that load code or run programs, beyond "*command".
_SSH_RUNNING_KEYS = frozenset({"include", "securitykeyprovider", "pkcs11provider",
                               "xauthlocation", "knownhostscommand"})
_SSH_WRITING_KEYS = frozenset({"userknownhostsfile", "controlpath"})


def _ssh_options(name: str, parsed: _Args) -> None:
    for value in parsed.values("-o"):
        if value is None:
            continue
        if value.text is None:
            parsed.hazards.append(_dynamic(name, value, "and is an `-o` option"))
            continue
        key, _, setting = value.text.strip().replace("=", " ", 1).partition(" ")
        lowered = key.lower()
        if "command" in lowered or lowered in _SSH_RUNNING_KEYS:
            parsed.hazards.append(_runs(name, f"`-o {key}` can run a program"))
        elif lowered in _SSH_WRITING_KEYS:
            setting = setting.strip()
            path = Word(setting) if setting and " " not in setting and "%" not in setting \
                else None
            parsed.hazards.append(_write(name, f"`-o {key}` writes a file", path))


def _scp_operands(name: str, parsed: _Args) -> None:
    _ssh_options(name, parsed)
    files = parsed.operands
    if len(files) >= 2 or (files and not files[-1].single):
        target = files[-1]
        text = target.text if target.text is not None else target.prefix
        if target.text is None and "/" not in text and ":" not in text:
            parsed.hazards.append(_dynamic(name, target, "and may be a local destination"))
        elif _is_local_path(text) and not text.startswith("scp://"):
            parsed.hazards.append(_write(name, f"writes `{_show(target)}`", target))


def _sftp_operands(name: str, parsed: _Args) -> None:
    _ssh_options(name, parsed)
    parsed.hazards.append(_write(name, "downloads files wherever its session says", None))


_RSYNC = _Grammar(
    "e:B:T:f:M:@:0468aAbcCdDEgHhiIklLmnoOpPqrRsStuUvWxXyz",
    "rsh: rsync-path: temp-dir: log-file: log-file-format: write-batch: only-write-batch: "
    "read-batch: backup-dir: partial-dir: compare-dest: copy-dest: link-dest: files-from: "
    "exclude: exclude-from: include: include-from: filter: password-file: port: sockopts: "
    "timeout: contimeout: bwlimit: block-size: max-size: min-size: max-delete: max-alloc: "
    "modify-window: suffix: chmod: chown: usermap: groupmap: compress-choice: zc: "
    "compress-level: zl: skip-compress: checksum-choice: cc: info: debug: stderr: "
    "out-format: iconv: protocol: address: config: dparam: remote-option: outbuf: copy-as: "
    "stop-after: stop-at: early-input: "
    "remove-source-files daemon archive recursive verbose delete dry-run mkpath partial "
    "progress checksum compress",
    _table({
        "-e --rsh": (RUNS, "runs another program as the remote shell"),
        "--rsync-path": (RUNS, "runs another program as rsync"),
        "-M --remote-option": (RUNS, "passes options to the other rsync, which may be local"),
        "--daemon": (RUNS, "runs a server"),
        "--log-file": (WRITES, "writes its log to a file"),
        "--write-batch --only-write-batch": (WRITES, "writes a batch file"),
        "--backup-dir": (WRITES, "writes backups into a directory"),
        "-T --temp-dir": (WRITES, "writes temporary files into a directory"),
        "--partial-dir": (WRITES, "writes partial files into a directory"),
    }),
)


def _rsync_operands(name: str, parsed: _Args) -> None:
    files = parsed.operands
    if parsed.has("--remove-source-files"):
        _writes_each(name, files[:-1], "`--remove-source-files` deletes", parsed.hazards)
    if len(files) >= 2 or (files and not files[-1].single):
        target = files[-1]
        text = target.text if target.text is not None else target.prefix
        if target.text is None and "/" not in text and ":" not in text:
            parsed.hazards.append(_dynamic(name, target, "and may be a local destination"))
        elif _is_local_path(text) and not text.startswith("rsync://"):
            parsed.hazards.append(_write(name, f"writes `{_show(target)}`", target))


# -- archives ----------------------------------------------------------------------------

# zip's options are words, not getopt clusters (`-TT cmd`, `-lf file`).
_ZIP_VALUE = frozenset({"-b", "-n", "-t", "-tt", "-O", "-Z", "-P", "-s", "-ds", "-lf", "-TT",
                        "-sp", "-x", "-i"})
_ZIP_LONG = _Grammar(
    longs="unzip-command: output-file: logfile-path: temp-path: exclude: include: test move "
          "password: suffixes: split-size: compression-method: recurse-paths quiet verbose "
          "delete",
    table=_table({
        "--unzip-command": (RUNS, "runs another program to test the archive"),
        "--output-file": (WRITES, "writes the archive to a file"),
        "--logfile-path": (WRITES, "writes its log to a file"),
        "--temp-path": (WRITES, "writes temporary files into a directory"),
    }),
)


def _zip(name: str, args: Sequence[Word]) -> list[Hazard]:
    hazards: list[Hazard] = []
    operands: list[Word] = []
    moves = False
    count = len(args)
    index = 0
    while index < count:
        word = args[index]
        index += 1
        text = word.text
        if text is None:
            if word.may_be_option():
                hazards.append(_dynamic(name, word))
            operands.append(word)
            continue
        if text == "--" or len(text) < 2 or text[0] != "-":
            operands.append(word)
            continue
        value = args[index] if index < count else None
        if text.startswith("--"):
            given, eq, glued = text[2:].partition("=")
            key, arity = _ZIP_LONG.resolve(given)
            if arity == 1 and not eq:
                index += 1
            if "--" + key in _ZIP_LONG.table:
                _ZIP_LONG._option_hazard(name, "--" + key, Word(glued) if eq else value,
                                         _Args.collecting(hazards))
            moves = moves or key == "move"
            continue
        if text.startswith("-TT"):
            hazards.append(_runs(name, "`-TT` runs another program to test the archive"))
        elif text in ("-lf", "-O"):
            if value is not None:
                hazards.append(_write(name, f"`{text}` writes `{_show(value)}`", value))
        elif text == "-b":
            hazards.append(_write(name, "`-b` writes temporary files into a directory", value))
        moves = moves or (text not in _ZIP_VALUE and "m" in text)
        if text in ("-x", "-i"):
            # A list of patterns, up to the next option.
            while index < count and not (args[index].text or "-").startswith("-"):
                index += 1
        elif text in _ZIP_VALUE:
            index += 1
    if operands:
        archive = operands[0]
        if archive.text != "-":
            hazards.append(_write(name, f"writes the archive `{_show(archive)}`", archive))
        if moves:
            _writes_each(name, operands[1:], "`-m` deletes", hazards)
    return hazards


# unzip reads options anywhere on the line (`unzip a.zip -d out`).
_UNZIP_NO_WRITE = frozenset("lvtpcz")


def _unzip(name: str, args: Sequence[Word]) -> list[Hazard]:
    hazards: list[Hazard] = []
    directories: list[Word | None] = []
    listing = anywhere = False
    count = len(args)
    index = 0
    if args and args[0].text is not None and args[0].text.startswith("-Z"):
        return []  # zipinfo mode
    while index < count:
        word = args[index]
        index += 1
        text = word.text
        if text is None:
            if word.may_be_option():
                hazards.append(_dynamic(name, word))
            continue
        if len(text) < 2 or text[0] != "-" or text == "--":
            continue
        for position in range(1, len(text)):
            letter = text[position]
            rest = text[position + 1:]
            if letter in "dPIO":
                value = Word(rest) if rest else (args[index] if index < count else None)
                if not rest:
                    index += 1
                if letter == "d":
                    directories.append(value)
                break
            if letter == "x":
                break
            listing = listing or letter in _UNZIP_NO_WRITE
            anywhere = anywhere or letter == ":"
    if listing:
        return hazards
    if anywhere:
        hazards.append(_write(name, "`-:` extracts to any path the archive names", None))
    for directory in directories or [CWD]:
        hazards.append(_write(name, f"extracts into `{_show(directory) if directory else ''}`",
                              directory))
    return hazards


# -- viewers and editors -------------------------------------------------------------------

_XXD_VALUE = frozenset({"-c", "-cols", "-g", "-groupsize", "-l", "-len", "-o", "-offset",
                        "-s", "-seek", "-n", "-name", "-R"})


def _xxd(name: str, args: Sequence[Word]) -> list[Hazard]:
    hazards: list[Hazard] = []
    operands: list[Word] = []
    count = len(args)
    index = 0
    ended = False
    while index < count:
        word = args[index]
        index += 1
        text = word.text
        if ended or text is None or text == "-" or not text.startswith("-"):
            if text is None and not ended and word.may_be_option():
                hazards.append(_dynamic(name, word))
            operands.append(word)
        elif text == "--":
            ended = True
        elif text in _XXD_VALUE:
            index += 1
    # The second operand is the output; xxd refuses more, but take each.
    for output in operands[1:]:
        if output.text != "-":
            hazards.append(_write(name, f"writes its output to `{_show(output)}`", output))
    if len(operands) == 1 and not operands[0].single:
        hazards.append(_write(name, f"`{_show(operands[0])}` may name an output file",
                              operands[0]))
    return hazards


_TREE_VALUE_LETTERS = "LPIoHT"
_TREE_VALUE_LONGS = frozenset({"--filelimit", "--timefmt", "--sort", "--charset", "--gitfile",
                               "--infofile", "--hintro", "--houtro"})


def _tree(name: str, args: Sequence[Word]) -> list[Hazard]:
    # tree's own parser: each value letter of a cluster takes the next word.
    hazards: list[Hazard] = []
    count = len(args)
    index = 0
    while index < count:
        word = args[index]
        index += 1
        text = word.text
        if text is None:
            if word.may_be_option():
                hazards.append(_dynamic(name, word))
            continue
        if text == "--":
            break
        if text.startswith("--"):
            if text in _TREE_VALUE_LONGS:
                index += 1
            continue
        if not text.startswith("-"):
            continue
        for letter in text[1:]:
            if letter in _TREE_VALUE_LETTERS:
                value = args[index] if index < count else None
                index += 1
                if letter == "o" and (value is None or value.text != "-"):
                    hazards.append(_write(name, "`-o` writes the listing to a file", value))
    return hazards


# vim and friends: letters of a `-` word that run code or write, and the
# letters that take the next word.
_VIM_RUNS = frozenset("cSsuUl")
_VIM_WRITES = frozenset("wWi")
_VIM_VALUE = frozenset("cSsuUwWiTtq")
_VIM_LONG_RUNS = ("--cmd", "--remote", "--listen")
_VIM_LONG_WRITES = frozenset({"--startuptime", "--log"})
_VIM_NO_RC = frozenset({"NONE", "NORC", "DEFAULTS"})  # `-u NONE`: no startup file at all


def _vim(name: str, args: Sequence[Word]) -> list[Hazard]:
    hazards: list[Hazard] = []
    count = len(args)
    index = 0
    while index < count:
        word = args[index]
        index += 1
        text = word.text
        if text is None:
            if _may_start_with(word, "-+"):
                hazards.append(_dynamic(name, word, "and may be an option or a `+command`"))
            continue
        if text == "--":
            break
        if text.startswith("+"):
            if not text[1:].isdigit() and text != "+":
                hazards.append(_runs(name, f"`{text}` runs an editor command"))
            continue
        if text.startswith("--"):
            option = text.partition("=")[0]
            if option.startswith(_VIM_LONG_RUNS):
                hazards.append(_runs(name, f"`{option}` runs editor commands"))
            elif option in _VIM_LONG_WRITES:
                value = args[index] if index < count else None
                hazards.append(_write(name, f"`{option}` writes a file", value))
            if option in ("--cmd", "--startuptime", "--log", "--listen", "--servername") \
                    and "=" not in text:
                index += 1
            continue
        if len(text) < 2 or not text.startswith("-"):
            continue
        for position in range(1, len(text)):
            letter = text[position]
            rest = text[position + 1:]
            if letter == "V":
                while rest[:1].isdigit():
                    rest = rest[1:]
                if rest:
                    hazards.append(_write(name, "`-V` writes verbose messages to a file",
                                          Word(rest)))
                break
            value = Word(rest) if rest else (args[index] if index < count else None)
            if letter in "uU" and value is not None and value.text in _VIM_NO_RC:
                pass
            elif letter in _VIM_RUNS:
                hazards.append(_runs(name, f"`-{letter}` runs editor commands or a script"))
            elif letter in _VIM_WRITES and not rest.isdigit():
                hazards.append(_write(name, f"`-{letter}` writes a file", value))
            if letter in _VIM_VALUE:
                if not rest:
                    index += 1
                break
    return hazards


_EMACS_RUNS = ("eval", "load", "funcall", "batch", "script", "execute", "init-directory",
               "dump-file", "daemon", "bg-daemon", "fg-daemon", "user")
_EMACS_SHORT_RUNS = frozenset({"-l", "-f", "-x", "-u"})


def _emacs(name: str, args: Sequence[Word]) -> list[Hazard]:
    hazards: list[Hazard] = []
    for word in args:
        text = word.text
        if text is None:
            if word.may_be_option():
                hazards.append(_dynamic(name, word))
            continue
        if text == "--":
            break
        if text in _EMACS_SHORT_RUNS:
            hazards.append(_runs(name, f"`{text}` runs Lisp code"))
        elif text.startswith("-") and len(text) > 2:
            # Long options take one or two dashes and unique prefixes.
            given = text.lstrip("-").partition("=")[0]
            if len(given) >= 2 and any(option.startswith(given) for option in _EMACS_RUNS):
                hazards.append(_runs(name, f"`{text}` runs Lisp code"))
    return hazards


_LESS = _Grammar(
    "b:D:h:j:k:o:O:p:P:t:T:x:y:z:#:aABcCdeEfFgGiIJKLmMnNqQrRsSuUVwWX~",
    "lesskey-file: lesskey-src: lesskey-content: log-file: LOG-FILE: pattern: prompt: tag: "
    "tag-file: tabs: window: shift: buffers: max-back-scroll: jump-target: header: "
    "quit-at-eof QUIT-AT-EOF quit-if-one-screen no-init RAW-CONTROL-CHARS chop-long-lines "
    "ignore-case IGNORE-CASE LINE-NUMBERS help version",
    _table({
        "-k --lesskey-file --lesskey-src --lesskey-content": (
            RUNS, "reads key bindings, which can set an input preprocessor"),
        "-o -O --log-file --LOG-FILE": (WRITES, "copies its input to a file"),
    }),
)


def _less(name: str, args: Sequence[Word]) -> list[Hazard]:
    hazards: list[Hazard] = []
    plain = []
    for word in args:
        text = word.text
        if text is None and _may_start_with(word, "+"):
            hazards.append(_dynamic(name, word, "and may be a `+command`"))
        elif text is not None and text.startswith("+"):
            if text[1:] not in ("", "G", "F", "g") and not text[1:].isdigit():
                hazards.append(_runs(name, f"`{text}` runs a less command, which can run a "
                                           "shell"))
        else:
            plain.append(word)
    return hazards + _LESS.parse(name, plain).hazards


_MAN = _Grammar(
    "C:dDe:E:fhH::iIkKlL:m:M:p:P:r:R:s:S:tT::uwWX::Z7a",
    "config-file: debug default whatis apropos global-apropos local-file location "
    "location-cat systems: manpath: sections: extension: ignore-case match-case regex "
    "wildcard names-only all update no-subpages pager: prompt: ascii encoding: recode: "
    "no-hyphenation no-justification preprocessor: troff troff-device:: html:: gxditview:: "
    "ditroff help usage version",
    _table({
        "-P --pager": (RUNS, "runs another program as the pager"),
        "-H --html": (RUNS, "runs a web browser"),
        "-X --gxditview": (RUNS, "runs a display program"),
        "-C --config-file": (RUNS, "reads a configuration file, which names programs"),
    }),
)


_PRINTF = _Grammar("v:", permute=False)


def _printf(name: str, args: Sequence[Word]) -> list[Hazard]:
    # Only the shell builtin has -v; it sets a variable that later commands read.
    parsed = _PRINTF.parse(name, args)
    if parsed.has("-v"):
        parsed.hazards.append(_runs(name, "`-v` sets a shell variable, which later commands "
                                          "may run"))
    return parsed.hazards


# -- developer tools (dynamic operands allowed) --------------------------------------------

_PYTEST = _Grammar(
    "c:k:m:n:o:p:r:W:hlqsvVx",
    "basetemp: junitxml: junit-xml: junit-prefix: result-log: resultlog: report-log: "
    "debug:: override-ini: rootdir: confcutdir: html: cov-report: cov: capture: tb: "
    "maxfail: durations: deselect: ignore: ignore-glob: log-file: import-mode: "
    "lf ff nf sw last-failed failed-first new-first stepwise exitfirst verbose quiet "
    "collect-only co pdb showlocals cache-clear strict-markers no-header",
    _table({
        "--basetemp": (WRITES, "replaces a temporary directory"),
        "--junitxml --junit-xml --result-log --resultlog --report-log --html --log-file": (
            WRITES, "writes a report file"),
        "--debug": (WRITES, "writes a debug log", Word("pytestdebug.log")),
        "--rootdir": (WRITES, "writes its cache under this directory"),
    }),
    strict=True,
)


def _pytest(name: str, args: Sequence[Word]) -> list[Hazard]:
    parsed = _PYTEST.parse(name, args)
    for key, value in parsed.opts:
        text = value.text if value is not None else None
        if text is None:
            continue
        # `-o cache_dir=PATH` moves the cache; `--cov-report=html:PATH` (plugin) writes.
        separator = ":" if key == "--cov-report" else "="
        setting, found, path = text.partition(separator)
        if key in ("-o", "--override-ini") and setting.strip() != "cache_dir":
            continue
        if key in ("-o", "--override-ini", "--cov-report") and found and path.strip():
            parsed.hazards.append(_write(name, f"`{key} {text}` writes files",
                                         Word(path.strip())))
    return parsed.hazards


_MYPY_REPORTS = (
    "--cache-dir --junit-xml --any-exprs-report --cobertura-xml-report --html-report "
    "--linecount-report --linecoverage-report --lineprecision-report --txt-report "
    "--xml-report --xslt-html-report --xslt-txt-report")
_MYPY = _Grammar(
    "c:m:p:hV",
    " ".join(option[2:] + ":" for option in _MYPY_REPORTS.split())
    + " python-executable: config-file: python-version: platform: exclude: always-true: "
      "always-false: follow-imports: custom-typeshed-dir: package: module: command: "
      "install-types non-interactive strict verbose pretty no-incremental show-error-codes",
    _table({
        _MYPY_REPORTS: (WRITES, "writes files under this path"),
        "--install-types": (RUNS, "runs pip to install packages"),
        "--python-executable": (RUNS, "runs another Python"),
    }),
    strict=True,
)

_RUFF = _Grammar(
    "o:ehnqsVw",
    "output-file: cache-dir: config: select: ignore: extend-select: extend-ignore: "
    "target-version: line-length: output-format: stdin-filename: exclude: extend-exclude: "
    "fix no-fix fix-only unsafe-fixes no-unsafe-fixes add-noqa diff check watch "
    "statistics show-files show-settings show-fixes no-cache preview quiet exit-zero",
    _table({
        "-o --output-file": (WRITES, "writes its report to a file"),
        "--cache-dir": (WRITES, "writes its cache into a directory"),
    }),
    strict=True,
)
_RUFF_SUBCOMMANDS = frozenset({"check", "format", "clean", "rule", "config", "linter",
                               "version", "help", "server", "analyze"})


def _ruff(name: str, args: Sequence[Word]) -> list[Hazard]:
    parsed = _RUFF.parse(name, args)
    hazards = parsed.hazards
    for value in parsed.values("--config"):
        if value is not None and (value.text is None or "cache-dir" in value.text):
            hazards.append(_write(name, "`--config` may move the cache", None))
    operands = parsed.operands
    command = operands[0].text if operands else None
    if command in _RUFF_SUBCOMMANDS:
        operands = operands[1:]
    else:
        command = "check"  # `ruff PATH` is the old spelling of `ruff check PATH`
    if command == "clean":
        hazards.append(_write(name, "`clean` deletes caches here", CWD))
    elif command == "check" and not parsed.has("--no-fix", "--diff", "--watch",
                                               "--show-files", "--show-settings"):
        # `fix = true` in the configuration makes a plain check rewrite files.
        _writes_each(name, operands or [CWD], "may fix", hazards)
    elif command == "format" and not parsed.has("--check", "--diff"):
        _writes_each(name, operands or [CWD], "formats", hazards)
    return hazards


def _formatter(grammar: _Grammar, *, write_flags: Iterable[str] = (),
               read_flags: Iterable[str] = ()) -> Checker:
    """A tool that rewrites its operands: always, or only with ``write_flags``."""
    writes, reads = tuple(write_flags), tuple(read_flags)

    def check(name: str, args: Sequence[Word]) -> list[Hazard]:
        parsed = grammar.parse(name, args)
        if (not writes or parsed.has(*writes)) and not parsed.has(*reads):
            files = [word for word in parsed.operands if word.text != "-"]
            _writes_each(name, files, "rewrites", parsed.hazards)
        return parsed.hazards
    return check


_BLACK = _Grammar(
    "c:l:t:S:W:hqv",
    "code: line-length: target-version: config: include: exclude: extend-exclude: "
    "force-exclude: stdin-filename: workers: required-version: python-cell-magics: check "
    "diff color fast safe preview quiet verbose skip-string-normalization",
    strict=True,
)
_ISORT = _Grammar(
    "cdl:m:p:hqv",
    "check-only check diff stdout settings-path: settings-file: sp: line-length: "
    "profile: multi-line: skip: skip-glob: filter-files atomic quiet verbose",
    strict=True,
)
_PRETTIER = _Grammar(
    "cluw",
    "write check list-different cache cache-location: cache-strategy: config: ignore-path: "
    "plugin: parser: log-level: stdin-filepath: no-config no-editorconfig",
    _table({"--cache-location": (WRITES, "writes its cache to a file")}),
    strict=True,
)
_ESLINT = _Grammar(
    "c:f:o:hv",
    "fix fix-dry-run fix-type: config: format: output-file: cache cache-location: "
    "ext: rulesdir: plugin: rule: ignore-path: ignore-pattern: max-warnings: quiet "
    "no-eslintrc no-ignore",
    _table({
        "-o --output-file": (WRITES, "writes its report to a file"),
        "--cache-location": (WRITES, "writes its cache to a file"),
    }),
    strict=True,
)
_GOFMT = _Grammar("r:delsw", strict=True)
_RUSTFMT = _Grammar(
    "hqvV",
    "check emit: backup config: config-path: edition: color: print-config: files-with-diff "
    "quiet verbose",
    strict=True,
)
_CLANG_FORMAT = _Grammar("in", strict=True)
_SHFMT = _Grammar("i:lwdfsnkp", strict=True)


# -- the table -------------------------------------------------------------------------------

_CHECKS: dict[str, Checker] = {
    "sed": _sed, "gsed": _sed,
    "awk": _awk, "gawk": _awk, "mawk": _awk, "nawk": _awk,
    "find": _find, "gfind": _find,
    "rg": _table_checker(_RG),
    "fd": _table_checker(_FD), "fdfind": _table_checker(_FD),
    "git": _git,
    "tar": _tar, "gtar": _tar, "bsdtar": _tar,
    "xargs": _xargs,
    "env": _env,
    "busybox": _busybox,
    "crontab": _crontab,
    "sort": _table_checker(_SORT),
    "uniq": _table_checker(_UNIQ, _uniq_operands),
    "tee": _table_checker(_TEE, _each_operand_written("writes")),
    "base64": _table_checker(_BASE64),
    "file": _table_checker(_FILE),
    "split": _table_checker(_SPLIT, _split_operands),
    "csplit": _table_checker(_CSPLIT, _csplit_operands),
    "patch": _table_checker(_PATCH, _patch_operands),
    "mktemp": _table_checker(_MKTEMP, _mktemp_operands),
    "cp": _table_checker(_CP, _destination(moves=False)),
    "mv": _table_checker(_MV, _destination(moves=True)),
    "install": _table_checker(_INSTALL, _destination(moves=False)),
    "ln": _table_checker(_LN, _destination(moves=False, here_by_default=True)),
    "rm": _table_checker(_RM, _each_operand_written("removes")),
    "rmdir": _table_checker(_RMDIR, _each_operand_written("removes")),
    "touch": _table_checker(_TOUCH, _each_operand_written("touches")),
    "mkdir": _table_checker(_MKDIR, _each_operand_written("creates")),
    "truncate": _table_checker(_TRUNCATE, _each_operand_written("truncates")),
    "shred": _table_checker(_SHRED, _each_operand_written("overwrites")),
    "chmod": _chmod,
    "chown": _table_checker(_CHOWN, _after_first_operand("changes the owner of")),
    "chgrp": _table_checker(_CHOWN, _after_first_operand("changes the group of")),
    "dd": _dd,
    "curl": _table_checker(_CURL, _curl_operands),
    "wget": _table_checker(_WGET, _wget_operands),
    "ssh": _table_checker(_SSH, _ssh_options),
    "scp": _table_checker(_SCP, _scp_operands),
    "sftp": _table_checker(_SFTP, _sftp_operands),
    "rsync": _table_checker(_RSYNC, _rsync_operands),
    "zip": _zip,
    "unzip": _unzip,
    "xxd": _xxd,
    "tree": _tree,
    "vim": _vim, "vi": _vim, "nvim": _vim, "view": _vim, "ex": _vim, "vimdiff": _vim,
    "gvim": _vim, "rvim": _vim,
    "emacs": _emacs,
    "less": _less,
    "man": _table_checker(_MAN),
    "printf": _printf,
    "pytest": _pytest, "py.test": _pytest,
    "mypy": _table_checker(_MYPY),
    "ruff": _ruff,
    "black": _formatter(_BLACK, read_flags=("--check", "--diff", "-c", "--code")),
    "isort": _formatter(_ISORT, read_flags=("--check-only", "-c", "--check", "--diff", "-d",
                                            "--stdout")),
    "prettier": _formatter(_PRETTIER, write_flags=("--write", "-w")),
    "eslint": _formatter(_ESLINT, write_flags=("--fix",)),
    "gofmt": _formatter(_GOFMT, write_flags=("-w",)),
    "rustfmt": _formatter(_RUSTFMT, read_flags=("--check",)),
    "clang-format": _formatter(_CLANG_FORMAT, write_flags=("-i",)),
    "shfmt": _formatter(_SHFMT, write_flags=("-w",)),
}


# Python options before `-m` that take a value (`-W default`, `-X dev`).
_PYTHON_VALUE_OPTIONS = frozenset({"-W", "-X", "--check-hash-based-pycs"})


def _python(name: str, args: Sequence[Word]) -> list[Hazard]:
    """``python -m MODULE ARGS``: the module's grammar when it has one (a
    rule for ``python -m pytest`` means pytest's arguments). Otherwise, like
    any interpreter, literal arguments are the rule's business."""
    index = 0
    while index < len(args):
        text = args[index].text
        if text is None:
            break
        if text == "-m" and index + 1 < len(args):
            module = args[index + 1].text
            check = _CHECKS.get(module) if module is not None else None
            if module is not None and module in ANY_ARGUMENTS:
                return []
            if check is not None and module in _PYTHON_MODULES:
                return check(f"{name} -m {module}", args[index + 2 :])
            break
        if not text.startswith("-") or text in ("-c", "-"):
            break
        index += 2 if text in _PYTHON_VALUE_OPTIONS else 1
    return _unknown_program(name, args)


# Modules run with `python -m` whose command-line grammar we know.
_PYTHON_MODULES = frozenset({"pytest", "mypy", "ruff", "black", "isort"})
for _python_name in ("python", "python3", "python3.8", "python3.9", "python3.10", "python3.11",
                     "python3.12", "python3.13", "python3.14"):
    _CHECKS[_python_name] = _python
for _compressor in ("gzip", "gunzip", "bzip2", "bunzip2", "xz", "unxz", "lzma", "unlzma",
                    "zstd", "unzstd"):
    _CHECKS[_compressor] = _table_checker(_COMPRESS, _compress_operands)
for _program in ALWAYS_RUNS:
    _CHECKS[_program] = _always_runs
for _program in RUNS_OPERAND:
    _CHECKS[_program] = _runs_operand

# Programs with an entry of their own (every other program's dynamic words
# are hazards; its literal arguments are the rule's business).
PROGRAMS = frozenset(_CHECKS) | ANY_ARGUMENTS
