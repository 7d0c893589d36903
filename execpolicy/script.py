r"""Full analysis of a shell command: every program it can run, every file it
can write, everything that makes it unknowable.

Codex's splitter (`execpolicy.shell`) gives up on anything but plain words
joined by ``&&``, ``||``, ``;`` and ``|``; then the whole script is one
segment that no rule matches, so a redirect, a ``VAR=x`` or a ``cd`` makes a
well-configured policy ask. This module walks the whole tree-sitter-bash
syntax tree instead and reports:

* :class:`FoundCommand`: each command that can run, wherever it is
  (pipelines, lists, subshells, ``$(...)``, backticks, process
  substitution, ``if``/``for``/``while``/``case`` bodies, function bodies,
  the commands run by wrappers such as ``xargs``, ``find -exec``,
  ``timeout``, ``sudo``, and nested ``sh -c`` scripts), with its words as
  :class:`~execpolicy.words.Word` (known value, or dynamic with what is
  known of it) and the working directories it may run in;
* :class:`Effect`: what else the script does that a rule about programs
  does not cover: a file write (redirection), a variable assignment that
  changes how programs load or run (``LD_PRELOAD``, ``PATH``, ...), and
  *opaque* parts whose effect only shows at run time (``eval``, ``source``,
  aliases, arithmetic on unknown values, constructs we do not model).

Everything unknown is reported, never guessed: the engine never lets a
dynamic or opaque part be allowed by a rule. Nothing here raises; a script
that cannot be parsed is one opaque effect.
"""

from __future__ import annotations

import posixpath

from .environment import sensitive_variable
from .shell import _source, extract_shell_script, parse_tree
from .value import Value
from .words import Word
from .wrappers import unwrap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from tree_sitter import Node

_set = object.__setattr__

# Nested scripts (`sh -c '... sh -c ...'`) deeper than this are opaque.
MAX_DEPTH = 8
# Scripts above SCREEN_ABOVE_CHARS are parsed only when they cannot hit
# tree-sitter-bash's quadratic cases (long pipelines on one line, many
# backticks or `${`); realistic scripts, heredocs of code included, parse in
# milliseconds. Bigger than MAX_SCRIPT_BYTES: never parsed.
SCREEN_ABOVE_CHARS = 2048
MAX_PIPES_PER_LINE = 64
MAX_BACKTICKS = 128
MAX_BRACE_EXPANSIONS = 256
MAX_NODES = 200_000

# Builtins that run nothing, write nothing and change nothing later words
# mean (the variable-setting ones are checked for the names they set).
HARMLESS_BUILTINS = frozenset({
    ":", "true", "false", "break", "continue", "return", "exit", "shift", "wait",
    "test", "[", "echo", "printf", "pwd", "dirs", "jobs", "umask", "ulimit", "times",
    "type", "unset", "read", "mapfile", "readarray", "getopts", "set", "shopt",
    "cd", "pushd", "popd", "caller", "help", "logout", "suspend", "disown",
})
# Builtins whose effect only shows at run time: never allowed by a rule.
OPAQUE_BUILTINS = {
    "eval": "eval runs a string as shell code",
    "source": "source runs a file's shell code",
    ".": ". runs a file's shell code",
    "alias": "alias changes what later command words mean",
    "enable": "enable can load builtins from shared libraries",
    "fc": "fc runs commands from the history",
    "bind": "bind can attach commands to keys",
    "coproc": "coproc runs a command we do not analyse",
    "let": "let evaluates arithmetic, which can run code through array subscripts",
    "complete": "complete can attach commands to completion",
}
# Redirection operators that create or change the target file.
_WRITE_REDIRECTS = frozenset({">", ">>", "&>", "&>>", ">|", "<>"})
_DUP_REDIRECTS = frozenset({">&", "<&", ">&-", "<&-"})
# Targets that are not files a write could harm.
HARMLESS_TARGETS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"})
# Test operators that evaluate their operands as arithmetic (in `[[`, and in
# zsh's `[` too): `x='a[$(id)]'; [[ $x -eq 1 ]]` runs `id`.
_ARITHMETIC_TESTS = frozenset({"-eq", "-ne", "-lt", "-le", "-gt", "-ge"})
_GLOB = frozenset("*?[")
# A bare word without these is its own value.
_PLAIN_WORD = frozenset("\\*?[]{}~@!+()$`'\"")
# Statement-level tokens that carry no meaning of their own.
_PUNCTUATION = frozenset({
    ";", ";;", "&", "&&", "||", "|", "|&", "\n", "(", ")", "{", "}", "do", "done", "then",
    "fi", "else", "elif", "if", "while", "until", "for", "select", "in", "case", "esac",
    "function", "!", ";&", ";;&",
})


class FoundCommand(Value):
    """A command the script can run.

    ``words`` is its argv as bash builds it; ``assignments`` the variables
    set for it alone (``NAME=value cmd``); ``context`` where it was found
    (``""`` at the top, else e.g. ``"$(...)"``, ``"function f"``, ``"via
    timeout"``); ``cwds`` the directories it may run in (``None``: unknown).
    ``wrapper`` names the wrapper when this command runs others (they are
    found commands of their own, with ``parent`` the index of this one and
    ``offset`` where their words start in this one's when they are a tail of
    it), and ``outer`` its own words without the commands it runs;
    ``elevates`` when it runs them as another user; ``role`` is
    ``"command"``, ``"builtin"`` (harmless shell builtin), ``"function"``
    (a call of a function defined in the script, whose body is analysed).
    """

    __slots__ = ("words", "assignments", "context", "cwds", "role", "wrapper", "elevates",
                 "parent", "offset", "outer")
    words: list[Word]
    assignments: list[tuple[str, Word]]
    context: str
    cwds: tuple[str | None, ...]
    role: str
    wrapper: str | None
    elevates: bool
    parent: int | None
    offset: int | None
    outer: list[Word] | None

    def __init__(self, words: list[Word], *, assignments: list[tuple[str, Word]] | None = None,
                 context: str = "", cwds: tuple[str | None, ...] = (None,),
                 role: str = "command", wrapper: str | None = None, elevates: bool = False,
                 parent: int | None = None, offset: int | None = None,
                 outer: list[Word] | None = None) -> None:
        _set(self, "words", words)
        _set(self, "assignments", assignments or [])
        _set(self, "context", context)
        _set(self, "cwds", cwds)
        _set(self, "role", role)
        _set(self, "wrapper", wrapper)
        _set(self, "elevates", elevates)
        _set(self, "parent", parent)
        _set(self, "offset", offset)
        _set(self, "outer", outer)

    @property
    def argv(self) -> list[str]:
        """The words as shown to people: values, or the source of dynamic ones."""
        return [w.text if w.text is not None else w.source for w in self.words]


class Effect(Value):
    """Something the script does besides running its commands.

    ``kind``: ``"write"`` (a file is created or changed: ``path`` is the
    target, ``cwds`` where a relative one is resolved), ``"environment"``
    (a variable that changes how programs run), ``"opaque"`` (only known at
    run time). ``reason`` says it in words.
    """

    __slots__ = ("kind", "reason", "path", "cwds", "context")
    kind: str
    reason: str
    path: Word | None
    cwds: tuple[str | None, ...]
    context: str

    def __init__(self, kind: str, reason: str, *, path: Word | None = None,
                 cwds: tuple[str | None, ...] = (None,), context: str = "") -> None:
        _set(self, "kind", kind)
        _set(self, "reason", reason)
        _set(self, "path", path)
        _set(self, "cwds", cwds)
        _set(self, "context", context)


class Analysis(Value):
    __slots__ = ("commands", "effects")
    commands: list[FoundCommand]
    effects: list[Effect]

    def __init__(self, commands: list[FoundCommand], effects: list[Effect]) -> None:
        _set(self, "commands", commands)
        _set(self, "effects", effects)


def analyse_command(argv: Sequence[str], *, cwd: str | None = None) -> Analysis:
    """Analyse ``argv``: a trusted shell wrapper's script (spec §3.1), or a
    plain argv whose wrappers (``timeout``, ``xargs``, ``sh -c``...) are
    followed."""
    walker = _Walker(cwd)
    try:
        script = extract_shell_script(argv, exact_wrappers=True)
        if script is not None:
            walker.script(script, "zsh" if argv[0].endswith("zsh") else "bash", "")
        else:
            walker.run([Word(a) for a in argv], [], "", None, None)
    except _TooBig:
        walker.opaque("the script is too large to analyse", "")
    except Exception as error:  # never let a parser surprise become an allow
        walker.opaque(f"the script could not be analysed ({type(error).__name__})", "")
    return Analysis(walker.commands, walker.effects)


def analyse_script(script: str, *, shell: str = "bash", cwd: str | None = None) -> Analysis:
    """Analyse a script as ``shell -c script`` would run it."""
    return analyse_command([shell, "-c", script], cwd=cwd)


class _TooBig(Exception):
    pass


def _script_screen(script: str) -> str | None:
    """Why a big script is not parsed, or ``None`` (see SCREEN_ABOVE_CHARS)."""
    if len(script) <= SCREEN_ABOVE_CHARS:
        return None
    if script.count("`") > MAX_BACKTICKS or script.count("${") > MAX_BRACE_EXPANSIONS:
        return "the script is too large to analyse"
    if script.count("|") > MAX_PIPES_PER_LINE:
        for line in script.split("\n"):
            if line.count("|") > MAX_PIPES_PER_LINE:
                return "the script has a line too long to analyse"
    return None


class _Walker:
    """One walk over a command and everything nested in it."""

    def __init__(self, cwd: str | None) -> None:
        self.commands: list[FoundCommand] = []
        self.effects: list[Effect] = []
        self.cwds: tuple[str | None, ...] = (posixpath.normpath(cwd) if cwd else None,)
        self.functions: set[str] = set()
        # Variables whose value is known to be a number literal (arithmetic on
        # them cannot run code) and variables with a known literal value.
        self.numeric: set[str] = set()
        self.values: dict[str, str] = {}
        # Loop variables: what every value they take starts with.
        self.loop_prefixes: dict[str, str] = {}
        # Functions whose body changes the working directory.
        self.changing_functions: set[str] = set()
        self.depth = 0
        self.nodes = 0
        self.arithmetic_tests = False
        self.shell = "bash"
        self.src = b""

    # -- results -------------------------------------------------------------

    def opaque(self, reason: str, context: str) -> None:
        self.effects.append(Effect("opaque", reason, cwds=self.cwds, context=context))

    def _environment(self, name: str, context: str, how: str) -> None:
        why = sensitive_variable(name)
        if why is not None:
            self.effects.append(Effect("environment", f"{how} {name}: {why}",
                                       cwds=self.cwds, context=context))

    # -- scripts -------------------------------------------------------------

    def script(self, script: str, shell: str, context: str) -> None:
        if self.depth >= MAX_DEPTH:
            self.opaque("shell scripts are nested too deeply", context)
            return
        src = _source(script)
        if src is None:
            self.opaque("the script cannot be a shell argument or is too large", context)
            return
        screen = _script_screen(script)
        if screen is not None:
            self.opaque(screen, context)
            return
        # Bytes tree-sitter and bash may tokenize differently.
        if b"\r" in src or b"\v" in src or b"\f" in src:
            self.opaque("the script contains carriage returns or form feeds", context)
            return
        root = parse_tree(src).root_node
        if root.has_error:
            self.opaque("the script does not parse", context)
            return
        saved = (self.src, self.shell)
        self.src, self.shell = src, "zsh" if shell == "zsh" else "bash"
        self.depth += 1
        try:
            if not self._gaps_are_blank(root):
                self.opaque("the script joins words with line continuations", context)
                return
            self.statement(root, context)
        finally:
            self.depth -= 1
            self.src, self.shell = saved

    def _gaps_are_blank(self, root: Node) -> bool:
        """Whether bash splits words where tree-sitter does. Bash deletes
        every ``\\<newline>`` before reading words, so one glued between two
        tokens (``r\\<newline>m`` is ``rm`` to bash, two words to
        tree-sitter) or after a ``$`` (``$\\<newline>(id)`` is a command
        substitution) changes the command; and between tokens there may
        only be blanks."""
        src = self.src
        if b"\\\n" not in src:
            return True
        if b"$\\\n" in src:
            return False
        end = 0
        cursor = root.walk()
        while True:
            node = cursor.node
            assert node is not None
            if node.child_count == 0:
                gap = src[end : node.start_byte]
                if b"\\\n" in gap:
                    joined = gap.replace(b"\\\n", b"")
                    if joined.strip(b" \t\n") or (not joined and end > 0):
                        return False
                end = max(end, node.end_byte)
            elif cursor.goto_first_child():
                continue
            while not cursor.goto_next_sibling():
                if not cursor.goto_parent():
                    return True

    def text(self, node: Node) -> str:
        return self.src[node.start_byte : node.end_byte].decode()

    def _count(self) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooBig

    # -- statements ------------------------------------------------------------

    def statement(self, node: Node, context: str) -> None:
        self._count()
        kind = node.type
        if not node.is_named:
            if kind not in _PUNCTUATION:
                self.opaque(f"unexpected `{kind}` in the script", context)
            return
        handler = _STATEMENTS.get(kind)
        if handler is None:
            self.opaque(f"`{self.text(node)[:40]}` ({kind}) is not analysed", context)
            return
        handler(self, node, context)

    def _block(self, node: Node, context: str) -> None:
        for child in node.children:
            self.statement(child, context)

    def _subshell(self, node: Node, context: str) -> None:
        saved = self.cwds, dict(self.values), set(self.numeric)
        self._block(node, context)
        self.cwds, self.values, self.numeric = saved

    def _pipeline(self, node: Node, context: str) -> None:
        # Every element runs in a subshell: a `cd` in one is lost.
        saved = self.cwds, self.values, self.numeric
        for child in node.children:
            self.cwds, self.values, self.numeric = saved[0], dict(saved[1]), set(saved[2])
            self.statement(child, context)
        self.cwds, self.values, self.numeric = saved

    def _branching(self, node: Node, context: str) -> None:
        """if/while/for/case: bodies may run or not, so afterwards the working
        directory is any of the ones before or after, and values set inside
        are unknown."""
        before, known = self.cwds, dict(self.values)
        if node.type in ("for_statement", "while_statement"):
            # A later iteration sees values the body sets after their use.
            self.values = {}
            known = {}
        if node.type == "for_statement":
            self._for_header(node, context)
        for child in node.children:
            if node.type == "for_statement" and child.type != "do_group":
                continue
            if child.type == "case_item":
                self._case_item(child, context)
            elif node.type == "case_statement" and child.is_named and child.type != "comment":
                self.word(child, context)  # the case subject
            else:
                self.statement(child, context)
        self.cwds = _union(before, self.cwds)
        self.values = {k: v for k, v in known.items() if self.values.get(k) == v}

    def _for_header(self, node: Node, context: str) -> None:
        name: str | None = None
        values: list[Word] = []
        after_in = False
        for child in node.children:
            kind = child.type
            if kind == "variable_name" and name is None:
                name = self.text(child)
            elif kind == "in":
                after_in = True
            elif after_in and child.is_named and kind not in ("do_group", "comment"):
                values.append(self.word(child, context))
        if name is None:
            self.opaque("a loop without a variable", context)
            return
        self._environment(name, context, "the loop sets")
        self.numeric.discard(name)
        self.values.pop(name, None)
        # Without `in`, the loop runs over the positional parameters.
        if after_in and values:
            self.loop_prefixes[name] = posixpath.commonprefix([w.prefix for w in values])
        else:
            self.loop_prefixes.pop(name, None)

    def _case_item(self, node: Node, context: str) -> None:
        for child in node.children:
            kind = child.type
            if not child.is_named:
                if kind not in _PUNCTUATION and kind not in ("|", ")", "("):
                    self.opaque(f"unexpected `{kind}` in a case pattern", context)
            elif kind in ("extglob_pattern", "word", "string", "raw_string", "concatenation",
                          "simple_expansion", "expansion", "command_substitution", "number"):
                # Patterns run nothing, but expansions in them do.
                if kind != "extglob_pattern":
                    self.word(child, context)
                elif "$(" in self.text(child) or "`" in self.text(child):
                    self.opaque("a case pattern with a command substitution", context)
            else:
                self.statement(child, context)

    def _redirected(self, node: Node, context: str) -> None:
        # tree-sitter may attach a redirect to a whole list
        # (`cd /etc && echo > y`): its target is resolved in any directory
        # the body was in.
        before = self.cwds
        redirects = []
        for child in node.children:
            if child.type in ("file_redirect", "heredoc_redirect", "herestring_redirect"):
                redirects.append(child)
            else:
                self.statement(child, context)
        after = self.cwds
        self.cwds = _union(before, after)
        for redirect in redirects:
            self.redirect(redirect, context)
        self.cwds = after

    def redirect(self, node: Node, context: str) -> None:
        kind = node.type
        if kind == "heredoc_redirect":
            self._heredoc(node, context)
            return
        if kind == "herestring_redirect":
            for child in node.named_children:
                self.word(child, context)
            return
        operator = None
        target = None
        for child in node.children:
            if child.type == "file_descriptor":
                continue
            if not child.is_named:
                operator = child.type
            elif target is None:
                target = self.word(child, context)
            else:
                self.opaque("a redirection with several targets", context)
        if operator is None or target is None:
            if operator in ("<&-", ">&-"):
                return
            self.opaque("a redirection we do not understand", context)
            return
        if operator in _DUP_REDIRECTS:
            # `>&2`, `2>&1`; `>&file` (a word that is not a number or `-`) is a write.
            value = target.text
            if value is not None and (value.isdigit() or value == "-"):
                return
            if operator.startswith("<"):
                return
        elif operator not in _WRITE_REDIRECTS:
            return  # reads
        if target.text is not None and target.text in HARMLESS_TARGETS:
            return
        self.effects.append(Effect("write", f"`{operator} {target.source}` writes a file",
                                   path=target, cwds=self.cwds, context=context))

    def _heredoc(self, node: Node, context: str) -> None:
        quoted = False
        for child in node.children:
            kind = child.type
            if kind == "heredoc_start":
                delimiter = self.text(child)
                quoted = any(c in delimiter for c in "'\"\\")
            elif kind == "heredoc_body":
                if quoted:
                    continue
                body = self.text(child)
                # tree-sitter leaves backticks in a body unparsed.
                if "`" in body or "$[" in body:
                    self.opaque("a heredoc body with backticks", context)
                for part in child.named_children:
                    if part.type != "heredoc_content":
                        self.word(part, context)
            elif kind in ("heredoc_end", "<<", "<<-", "comment"):
                continue
            elif kind in ("file_redirect", "herestring_redirect", "heredoc_redirect"):
                self.redirect(child, context)
            else:
                # `cat <<EOF | sh`: the rest of the line sits in the redirect.
                self.statement(child, context)

    def _assignment_statement(self, node: Node, context: str) -> None:
        if node.type == "variable_assignments":
            for child in node.named_children:
                self._assign(child, context, persistent=True)
        else:
            self._assign(node, context, persistent=True)

    def _assign(self, node: Node, context: str, *, persistent: bool,
                how: str = "sets") -> tuple[str, Word] | None:
        """A ``NAME=value`` (or ``NAME+=value``, ``NAME[i]=value``)."""
        name_node = node.child(0)
        if name_node is None:
            self.opaque("an assignment we do not understand", context)
            return None
        if name_node.type == "subscript":
            self.opaque("an assignment to an array element (its subscript is arithmetic)",
                        context)
            return None
        name = self.text(name_node)
        value = Word("")
        appended = False
        for child in node.children[1:]:
            if not child.is_named:
                appended = appended or child.type == "+="
                continue
            if child.type == "array":
                for item in child.named_children:
                    self.word(item, context)
                value = Word.dynamic(self.text(child))
            else:
                value = self.word(child, context)
        self._environment(name, context, how)
        if persistent:
            if value.text is not None and not appended:
                self.values[name] = value.text
                if value.text.isdigit():
                    self.numeric.add(name)
                else:
                    self.numeric.discard(name)
            else:
                self.values.pop(name, None)
                self.numeric.discard(name)
        return name, value

    def _declaration(self, node: Node, context: str) -> None:
        keyword = node.child(0)
        word = keyword.type if keyword is not None else "declare"
        for child in node.children[1:]:
            kind = child.type
            if kind == "variable_assignment":
                self._assign(child, context, persistent=True, how=f"{word} sets")
            elif kind == "variable_name":
                self._environment(self.text(child), context, word)
            elif child.is_named:
                value = self.word(child, context)
                text = value.text
                if text is None:
                    self.opaque(f"`{word}` with a word only known at run time", context)
                elif text.startswith(("-", "+")):
                    # -n (nameref), -i (arithmetic on assignment), -f/-F
                    # (functions) change what later words mean.
                    if set(text[1:]) - set("xrgaAlut"):
                        self.opaque(f"`{word} {text}` changes how later words are read",
                                    context)
                else:
                    self._environment(text.partition("=")[0], context, word)

    def _unset(self, node: Node, context: str) -> None:
        for child in node.named_children:
            name = self.word(child, context).text or ""
            self.values.pop(name, None)
            self.numeric.discard(name)

    def _function(self, node: Node, context: str) -> None:
        name = None
        body = []
        for child in node.children:
            if child.type == "word" and name is None:
                name = self.text(child)
            elif child.is_named:
                body.append(child)
        if name is None:
            self.opaque("a function without a name", context)
            return
        self.functions.add(name)
        saved = self.cwds, dict(self.values), set(self.numeric)
        inner = f"function {name}"
        for child in body:
            if child.type in ("file_redirect", "heredoc_redirect", "herestring_redirect"):
                self.redirect(child, inner)
            else:
                self.statement(child, inner)
        changed = self.cwds != saved[0]
        self.cwds, self.values, self.numeric = saved
        if changed:
            # A call may leave the caller anywhere.
            self.changing_functions.add(name)

    def _test(self, node: Node, context: str) -> None:
        """``[ ... ]`` / ``[[ ... ]]``: runs nothing itself; its words expand,
        and arithmetic comparisons evaluate their operands (in ``[[``; in
        zsh's ``[`` too; bash's ``[`` only reads integers)."""
        first = node.child(0)
        self.arithmetic_tests = self.shell == "zsh" or (first is not None
                                                         and first.type == "[[")
        for child in node.named_children:
            self._test_expression(child, context)

    def _test_expression(self, node: Node, context: str) -> None:
        kind = node.type
        if kind in ("binary_expression", "unary_expression", "parenthesized_expression"):
            operator = next((self.text(c) for c in node.children
                             if c.type == "test_operator" or not c.is_named), "")
            operands = [c for c in node.named_children if c.type != "test_operator"]
            if (operator in _ARITHMETIC_TESTS and self.arithmetic_tests) or operator == "-v":
                for operand in operands:
                    value = self.word(operand, context) if operand.type not in (
                        "binary_expression", "unary_expression") else None
                    if value is None or (value.text is None and not self._numeric_word(operand)):
                        self.opaque(f"`{operator}` evaluates a value only known at run time "
                                    "as arithmetic, which can run code", context)
                        return
                    if operator == "-v" and value.text is not None and "[" in value.text and (
                            not _plain_subscript(value.text)):
                        self.opaque("-v evaluates an array subscript as arithmetic", context)
                        return
                    if value.text is not None and operator != "-v" and not _is_number(
                            value.text):
                        self.opaque(f"`{operator}` evaluates `{value.text}` as arithmetic",
                                    context)
                        return
                return
            for operand in operands:
                self._test_expression(operand, context)
        elif kind == "test_operator":
            return
        elif kind in ("regex", "extglob_pattern"):
            text = self.text(node)
            if "$(" in text or "`" in text:
                self.opaque("a pattern with a command substitution", context)
        else:
            self.word(node, context)

    def _numeric_word(self, node: Node) -> bool:
        if node.type in ("simple_expansion", "expansion"):
            names = [c for c in node.named_children if c.type == "variable_name"]
            return len(node.named_children) == 1 and bool(names) and self.text(
                names[0]) in self.numeric
        if node.type == "string":
            parts = node.named_children
            return len(parts) == 1 and self._numeric_word(parts[0])
        return False

    def _compound(self, node: Node, context: str) -> None:
        first = node.child(0)
        if first is not None and first.type == "((":
            self._arithmetic(node, context)
            return
        self._block(node, context)

    def _c_for(self, node: Node, context: str) -> None:
        for child in node.children:
            if child.type == "variable_assignment":
                name = child.child(0)
                if name is not None:
                    self.numeric.add(self.text(name))
        before = self.cwds
        for child in node.children:
            if child.type == "do_group" or child.type == "compound_statement":
                self.statement(child, context)
            elif child.is_named:
                self._arithmetic(child, context)
        self.cwds = _union(before, self.cwds)

    def _arithmetic(self, node: Node, context: str) -> bool:
        """Check arithmetic: numbers, operators and variables known to hold
        numbers are fine; any other variable may hold ``a[$(cmd)]``, which
        arithmetic evaluation runs. Returns whether it is fine."""
        cursor = node.walk()
        while True:
            current = cursor.node
            assert current is not None
            kind = current.type
            descend = True
            if kind in ("variable_name", "word"):
                name = self.text(current)
                if not (_is_number(name) or name in self.numeric):
                    self.opaque(f"arithmetic on `{name}`, whose value may run code", context)
                    return False
            elif kind in ("command_substitution", "process_substitution", "string",
                          "expansion", "simple_expansion"):
                if kind == "simple_expansion" and self._numeric_word(current):
                    descend = False
                else:
                    self.opaque("arithmetic on a value only known at run time", context)
                    return False
            elif kind == "subscript":
                self.opaque("arithmetic on an array element", context)
                return False
            if descend and cursor.goto_first_child():
                continue
            while not cursor.goto_next_sibling():
                if not cursor.goto_parent() or cursor.node == node:
                    return True

    # -- commands ----------------------------------------------------------------

    def _command(self, node: Node, context: str) -> None:
        assignments: list[tuple[str, Word]] = []
        words: list[Word] = []
        redirects = []
        for child in node.children:
            kind = child.type
            if kind == "variable_assignment":
                found = self._assign(child, context, persistent=False, how="the command sets")
                if found is not None:
                    assignments.append(found)
            elif kind == "command_name":
                name = child.named_children
                if len(name) != 1:
                    self.opaque("a command name we do not understand", context)
                    return
                words.append(self.word(name[0], context))
            elif kind in ("file_redirect", "heredoc_redirect", "herestring_redirect"):
                redirects.append(child)
            elif child.is_named:
                words.append(self.word(child, context))
            else:
                # `$"..."` and other tokens tree-sitter leaves loose.
                self.opaque(f"`{self.text(child)}` in a command is not analysed", context)
        for redirect in redirects:
            self.redirect(redirect, context)
        if not words:
            return
        self.run(words, assignments, context, None, None)

    def run(self, words: list[Word], assignments: list[tuple[str, Word]], context: str,
            parent: int | None, offset: int | None) -> None:
        """Record a command and follow what it runs."""
        self._count()
        # An unquoted expansion may vanish: the program is whatever word comes first.
        program = words[0]
        name = program.text
        cwds = self.cwds
        # Builtins and functions exist only inside a shell: a plain argv
        # (`["echo", "hi"]`) runs the program of that name.
        in_shell = self.depth > 0
        if name is not None and in_shell:
            if name in self.functions:
                self._record(words, assignments, context, cwds, "function", parent, offset)
                if name in self.changing_functions:
                    self.cwds = _union(self.cwds, (None,))
                self.values = {}  # the body may have set any of them
                return
            opaque = OPAQUE_BUILTINS.get(name)
            if opaque is not None:
                self._record(words, assignments, context, cwds, "command", parent, offset)
                self.opaque(opaque, context)
                return
            if name in HARMLESS_BUILTINS:
                self._check_builtin(name, words, context)
                self._record(words, assignments, context, cwds, "builtin", parent, offset)
                return
            if name == "hash":
                if any(w.text is None or (w.text.startswith("-") and "p" in w.text)
                       for w in words[1:]):
                    self.opaque("hash -p changes which program a name runs", context)
                self._record(words, assignments, context, cwds, "builtin", parent, offset)
                return
            if name == "trap":
                self._record(words, assignments, context, cwds, "builtin", parent, offset)
                self._trap(words, context)
                return
        if name is not None:
            unwrapped = unwrap(words)
            if unwrapped is not None:
                index = self._record(words, assignments, context, cwds, "command", parent,
                                     offset, wrapper=unwrapped.wrapper,
                                     elevates=unwrapped.elevates, outer=unwrapped.outer)
                if unwrapped.problem is not None:
                    self.opaque(unwrapped.problem, context)
                inner_context = f"{context} > {unwrapped.wrapper}" if context else (
                    f"via {unwrapped.wrapper}")
                for variable, _ in unwrapped.assignments:
                    self._environment(variable, inner_context, f"{unwrapped.wrapper} sets")
                for script in unwrapped.scripts:
                    if script.text is None:
                        self.opaque(f"{unwrapped.wrapper} runs a script only known at run time",
                                    inner_context)
                    else:
                        shell = "zsh" if "zsh" in unwrapped.wrapper else "bash"
                        saved = self.cwds, dict(self.values), set(self.numeric), set(
                            self.functions)
                        self.script(script.text, shell, inner_context)
                        self.cwds, self.values, self.numeric, self.functions = saved
                inner_offset = unwrapped.inner_offset
                for inner in unwrapped.inner:
                    if inner:
                        self.run(inner, list(unwrapped.assignments), inner_context, index,
                                 inner_offset if len(unwrapped.inner) == 1 else None)
                return
        self._record(words, assignments, context, cwds, "command", parent, offset)

    def _record(self, words: list[Word], assignments: list[tuple[str, Word]], context: str,
                cwds: tuple[str | None, ...], role: str, parent: int | None,
                offset: int | None, *, wrapper: str | None = None,
                elevates: bool = False, outer: list[Word] | None = None) -> int:
        self.commands.append(FoundCommand(words, assignments=assignments, context=context,
                                          cwds=cwds, role=role, wrapper=wrapper,
                                          elevates=elevates, parent=parent, offset=offset,
                                          outer=outer))
        return len(self.commands) - 1

    def _check_builtin(self, name: str, words: list[Word], context: str) -> None:
        """Report what a harmless builtin's arguments change (``set -k``,
        ``printf -v PATH``, ...) and track ``cd``."""
        args = words[1:]
        if name in ("cd", "pushd", "popd"):
            self._change_directory(name, args)
            return
        if name == "set":
            for word in args:
                text = word.text
                if text is None:
                    self.opaque("set with a word only known at run time", context)
                elif ((text.startswith("-") and not text.startswith("--") and "k" in text)
                      or text == "keyword"):
                    # -k puts later NAME=value words into the environment.
                    self.opaque("set -k turns arguments into assignments", context)
            return
        if name == "shopt":
            texts = [w.text for w in args]
            if None in texts or "expand_aliases" in texts or "extdebug" in texts:
                self.opaque("shopt changes how later commands are read", context)
            return
        if name == "printf":
            for position, word in enumerate(args):
                if word.text is None or not word.text.startswith("-v"):
                    continue
                target = word.text[2:] or (args[position + 1].text if position + 1 < len(
                    args) else None)
                if target is None:
                    self.opaque("printf -v sets a variable only known at run time", context)
                else:
                    self._environment(target.partition("[")[0], context, "printf -v sets")
                    self.values.pop(target, None)
                    self.numeric.discard(target)
            if args and args[0].text is None:
                self.opaque("printf with a format only known at run time (it may be -v)",
                            context)
            return
        if name in ("read", "mapfile", "readarray", "getopts", "unset"):
            # They set (or unset) the variables they name.
            for word in args:
                self.values.pop(word.text or "", None)
                self.numeric.discard(word.text or "")
            if name != "unset":
                self._variable_sinks(name, args, context)
            return
        if name in ("test", "["):
            self._test_words(args, context)

    def _test_words(self, args: list[Word], context: str) -> None:
        for position, word in enumerate(args):
            if word.text == "-v" and position + 1 < len(args):
                # `test -v 'a[$(id)]'` evaluates the subscript as arithmetic.
                name = args[position + 1]
                if name.text is None or ("[" in name.text and not _plain_subscript(name.text)):
                    self.opaque("test -v evaluates an array subscript as arithmetic", context)
            if word.text in _ARITHMETIC_TESTS and self.shell == "zsh":
                for operand in (args[position - 1 : position] + args[position + 1 : position + 2]):
                    if operand.text is None or not _is_number(operand.text):
                        self.opaque("zsh evaluates test's numeric operands as arithmetic",
                                    context)

    def _variable_sinks(self, name: str, args: list[Word], context: str) -> None:
        """read/mapfile/getopts set variables from input: a sensitive name
        (``read PATH``) changes what later commands run."""
        value_letters = {"read": "adinNptu", "getopts": ""}.get(name, "dnOsuCc")
        targets: list[Word] = []
        expect_value = ""
        for word in args:
            text = word.text
            if text is None:
                self.opaque(f"{name} sets a variable only known at run time", context)
                return
            if expect_value:
                if expect_value == "a":
                    targets.append(word)  # read -a NAME
                expect_value = ""
            elif text.startswith("-") and len(text) > 1 and not targets:
                for position, letter in enumerate(text[1:], 1):
                    if letter == "C" and name != "read":
                        self.opaque(f"{name} -C runs a callback as shell code", context)
                    if letter in value_letters:
                        rest = text[position + 1 :]
                        if not rest:
                            expect_value = letter
                        elif letter == "a":
                            targets.append(Word(rest))
                        break
            else:
                targets.append(word)
        if name == "getopts":
            targets = targets[1:2]
        elif name != "read":
            targets = targets[-1:]
        for word in targets:
            if word.text is not None:
                self._environment(word.text, context, f"{name} sets")

    def _change_directory(self, name: str, args: list[Word]) -> None:
        operands = [w for w in args if not (w.text is not None and w.text.startswith("-")
                                            and w.text != "-")]
        target = operands[0] if operands else None
        if name == "popd" or target is None or target.text is None or target.text == "-":
            new: tuple[str | None, ...] = (None,)
        else:
            new = tuple(_resolve(cwd, target.text) for cwd in self.cwds)
        # The change may fail, leaving the old directory.
        self.cwds = _union(self.cwds, new)

    def _trap(self, words: list[Word], context: str) -> None:
        args = [w for w in words[1:] if w.text not in ("--",)]
        if not args or (args[0].text is not None and args[0].text.startswith("-")):
            return  # `trap`, `trap -l`, `trap -p`
        action = args[0]
        if action.text is None:
            self.opaque("trap runs code only known at run time", context)
        elif action.text and action.text != "-":
            saved = self.cwds
            self.script(action.text, self.shell, f"{context} > trap" if context else "trap")
            self.cwds = _union(saved, self.cwds)

    # -- words ---------------------------------------------------------------------

    def word(self, node: Node, context: str) -> Word:
        """The value of a word node; nested commands are found on the way."""
        self._count()
        kind = node.type
        if kind == "word" or kind == "number":
            # Most words: nothing to expand or unescape.
            text = self.src[node.start_byte : node.end_byte].decode()
            if _PLAIN_WORD.isdisjoint(text) and (self.shell != "zsh" or text[:1] != "="):
                return Word(text)
        elif kind == "raw_string":
            return Word(self.src[node.start_byte + 1 : node.end_byte - 1].decode(),
                        source=self.text(node))
        parts: list[tuple[str, bool] | Word] = []
        self._parts(node, context, parts, quoted=False)
        return self._compose(parts, self.text(node))

    def _compose(self, parts: list[tuple[str, bool] | Word], source: str) -> Word:
        text: list[str] = []
        prefix: str | None = None  # set at the first dynamic element
        single = True
        split = False
        unquoted_text = []
        for part in parts:
            if isinstance(part, Word):
                if prefix is None:
                    prefix = "".join(text) + part.prefix
                if not part.single:
                    # Split into words, only the first keeps the text before.
                    single = False
                    split = True
                continue
            value, quoted = part
            if not quoted:
                unquoted_text.append(value)
                glob = _first_glob(value)
                if glob >= 0:
                    if prefix is None:
                        prefix = "".join(text) + value[:glob]
                    single = False
            text.append(value)
        joined = "".join(text)
        first = parts[0] if parts else None
        if isinstance(first, tuple) and not first[1] and first[0].startswith("~") and (
                prefix is None):
            prefix = ""  # the home directory: known only at run time
        if self.shell == "zsh" and isinstance(first, tuple) and not first[1] and first[
                0].startswith("="):
            prefix = ""
        raw_unquoted = "".join(unquoted_text)
        if "{" in raw_unquoted and ("," in source or ".." in source) and "}" in source:
            brace = source.find("{")
            if prefix is None or len(prefix) > brace:
                prefix = joined[: max(brace, 0)] if prefix is None else prefix[: max(brace, 0)]
            single = False
        if prefix is None:
            return Word(joined, source=source)
        return Word.dynamic(source, prefix="" if split else prefix, single=single)

    def _parts(self, node: Node, context: str, parts: list[tuple[str, bool] | Word],
               quoted: bool) -> None:
        kind = node.type
        if kind == "word":
            text = self.text(node)
            if "\\" in text:
                # Escaped characters are literal: mark them quoted.
                index = 0
                plain: list[str] = []
                while index < len(text):
                    char = text[index]
                    if char == "\\" and index + 1 < len(text):
                        if plain:
                            parts.append(("".join(plain), quoted))
                            plain = []
                        if text[index + 1] != "\n":
                            parts.append((text[index + 1], True))
                        index += 2
                        continue
                    plain.append(char)
                    index += 1
                if plain:
                    parts.append(("".join(plain), quoted))
            else:
                parts.append((text, quoted))
        elif kind == "number":
            parts.append((self.text(node), quoted))
        elif kind == "raw_string":
            parts.append((self.text(node)[1:-1], True))
        elif kind == "string":
            for child in node.children:
                if child.is_named:
                    self._parts(child, context, parts, quoted=True)
                elif child.type != '"':
                    # `$` before a closing quote is literal to bash.
                    parts.append((child.type, True))
        elif kind == "string_content":
            parts.append((_unescape_double_quoted(self.text(node)), True))
        elif kind == "concatenation":
            for child in node.children:
                if child.is_named:
                    self._parts(child, context, parts, quoted)
                else:
                    parts.append((child.type, quoted))
        elif kind in ("simple_expansion", "expansion"):
            value = self._expansion(node, context, quoted)
            parts.append((value.text, True) if value.text is not None else value)
        elif kind == "command_substitution":
            text = self.text(node)
            if text.startswith("`") and ("`" in text[1:-1] or "\\" in text):
                # Backticks do not nest, and bash unescapes `\$`, `\\` and
                # `` \` `` inside them before parsing; tree-sitter does neither.
                self.opaque("a backtick substitution with backticks or backslashes inside",
                            context)
            self._substitution(node, context, "$(...)")
            parts.append(Word.dynamic(text, single=quoted))
        elif kind == "process_substitution":
            self._substitution(node, context, "<(...)")
            parts.append(Word.dynamic(self.text(node), prefix="/dev/fd/", single=True))
        elif kind == "arithmetic_expansion":
            self._arithmetic(node, context)
            parts.append(Word.dynamic(self.text(node), single=True))
        elif kind in ("ansi_c_string", "translated_string", "brace_expression"):
            parts.append(Word.dynamic(self.text(node), single=kind != "brace_expression"))
        elif kind in ("variable_name", "test_operator", "regex", "extglob_pattern",
                      "special_variable_name"):
            parts.append((self.text(node), quoted))
        else:
            self.opaque(f"`{self.text(node)[:40]}` ({kind}) is not analysed", context)
            parts.append(Word.dynamic(self.text(node)))

    def _substitution(self, node: Node, context: str, label: str) -> None:
        saved = self.cwds, dict(self.values), set(self.numeric)
        inner = f"{context} > {label}" if context else label
        for child in node.children:
            if child.is_named:
                self.statement(child, inner)
        self.cwds, self.values, self.numeric = saved

    def _expansion(self, node: Node, context: str, quoted: bool) -> Word:
        """``$x`` / ``${...}``: dynamic. Forms that evaluate code are opaque:
        indirection (``${!x}``), transformations (``${x@P}``), and
        subscripts or substring offsets (arithmetic)."""
        source = self.text(node)
        name = None
        children = node.children
        previous = None
        for child in children:
            kind = child.type
            if kind in ("variable_name", "special_variable_name"):
                if name is None:
                    name = self.text(child)
            elif kind == "subscript":
                index = child.named_children[1:] if child.named_child_count > 1 else []
                if not all(c.type == "number" or self.text(c) in ("@", "*") for c in index):
                    self.opaque(f"`{source}` evaluates an array subscript as arithmetic",
                                context)
                if name is None and child.named_children:
                    name = self.text(child.named_children[0])
            elif not child.is_named:
                if kind == "!" and previous == "${":
                    self.opaque(f"`{source}` is an indirect expansion", context)
                elif kind == "@":
                    self.opaque(f"`{source}` transforms a value (it may run code)", context)
                elif kind == ":" and any(c.is_named and c.type not in ("number",) for c in
                                         children[children.index(child) + 1 :]
                                         if c.type != "}"):
                    self.opaque(f"`{source}`: substring offsets are arithmetic", context)
            elif kind in ("number",):
                pass
            else:
                # `${x:-word}`, `${x/pattern/word}`: the words expand too.
                if kind in ("regex",):
                    text = self.text(child)
                    if "$(" in text or "`" in text:
                        self.opaque(f"`{source}` has a command substitution in a pattern",
                                    context)
                else:
                    self.word(child, context)
            previous = kind
        plain = name is not None and source in (f"${name}", f"${{{name}}}")
        if plain and name is not None:
            known = self.values.get(name)
            # A value set earlier in the script (tracked conservatively: see
            # `values`) is the word's value; unquoted, only if splitting and
            # globbing leave it alone.
            if known is not None and (quoted or self.shell == "zsh" or (
                    known and not any(c in known for c in " \t\n*?[]{}~"))):
                return Word(known, source=source)
            if quoted:
                return Word.dynamic(source, prefix=self.loop_prefixes.get(name, ""),
                                    single=True)
        return Word.dynamic(source, single=quoted or self.shell == "zsh")


def _first_glob(text: str) -> int:
    """Index of the first glob character in unquoted text, or -1."""
    best = -1
    for char in _GLOB:
        at = text.find(char)
        if at >= 0 and (best < 0 or at < best):
            best = at
    # extglob `@(...)`, `!(...)`, `+(...)`
    for opener in ("@(", "!(", "+("):
        at = text.find(opener)
        if at >= 0 and (best < 0 or at < best):
            best = at
    return best


def _unescape_double_quoted(text: str) -> str:
    if "\\" not in text:
        return text
    out = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in '$`"\\\n':
            if text[index + 1] != "\n":
                out.append(text[index + 1])
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def _plain_subscript(name: str) -> bool:
    """Whether ``name[...]`` has a subscript arithmetic cannot run code in."""
    rest = name.partition("[")[2]
    index = rest[:-1] if rest.endswith("]") else None
    return index is not None and (index.isdigit() or index in ("@", "*"))


def _is_number(text: str) -> bool:
    return text.isdigit() or (text[:1] == "-" and text[1:].isdigit())


def _resolve(cwd: str | None, path: str) -> str | None:
    if path.startswith("/"):
        return posixpath.normpath(path)
    if cwd is None or path.startswith("~"):
        return None
    return posixpath.normpath(posixpath.join(cwd, path))


def _union(a: tuple[str | None, ...], b: tuple[str | None, ...]) -> tuple[str | None, ...]:
    if a == b:
        return a
    return tuple(dict.fromkeys((*a, *b)))


_STATEMENTS = {
    "program": _Walker._block,
    "list": _Walker._block,
    "do_group": _Walker._block,
    "negated_command": _Walker._block,
    "compound_statement": _Walker._compound,
    "subshell": _Walker._subshell,
    "pipeline": _Walker._pipeline,
    "redirected_statement": _Walker._redirected,
    "command": _Walker._command,
    "variable_assignment": _Walker._assignment_statement,
    "variable_assignments": _Walker._assignment_statement,
    "declaration_command": _Walker._declaration,
    "unset_command": _Walker._unset,
    "function_definition": _Walker._function,
    "if_statement": _Walker._branching,
    "elif_clause": _Walker._block,
    "else_clause": _Walker._block,
    "while_statement": _Walker._branching,
    "for_statement": _Walker._branching,
    "case_statement": _Walker._branching,
    "c_style_for_statement": _Walker._c_for,
    "test_command": _Walker._test,
    "comment": lambda self, node, context: None,
    "file_redirect": _Walker.redirect,
    "heredoc_redirect": _Walker.redirect,
    "herestring_redirect": _Walker.redirect,
}
