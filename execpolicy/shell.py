r"""Split a command into the segments policy rules are matched against (spec §3).

A shell wrapper such as ``["bash", "-lc", "git status && cargo test"]`` is
checked as the commands its script runs (``git status``, ``cargo test``) when
the script is provably a sequence of plain commands; anything else stays one
segment, the original argv, so a rule for the inner program does not match
it. The script is parsed with tree-sitter-bash and walked against the
reference's whitelist, so the same scripts split the same way.

Three switches select the variant (spec §0); the defaults are the safer ones:

* ``exact_wrappers`` (latest): only well-known shell paths count as wrappers.
  Off (classic), anything whose file stem is bash/zsh/sh counts, ``/tmp/bash``
  and ``./bash`` included.
* ``literal_words`` (latest): reject words the shell rewrites before the
  program sees them (globs, braces, ``~``, escapes, ...). Beyond the
  reference, it also rejects scripts that bash tokenizes differently from
  tree-sitter: a line continuation glued between two words
  (``r\<newline>m`` is ``rm`` to bash, two words to tree-sitter) and any
  other character between words that bash does not treat as a blank (after
  ``echo\<CR><LF>`` bash starts a new command; tree-sitter reads one
  ``echo``).
* ``heredoc_fallback`` (classic/current): a single command fed by a heredoc is
  matched by its literal words (``python3 <<'PY' ... PY`` → ``python3``).
  Stricter than the reference, which can hide commands from the prefix (see
  `parse_heredoc_prefix`).

Nothing here raises on any input, and no input takes long: unparseable,
oversized (`MAX_SCRIPT_BYTES`) or potentially slow to parse
(`SCREEN_ABOVE_CHARS`) scripts are simply not split.
"""

from __future__ import annotations

from itertools import islice

from .value import Value

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Iterator, Sequence

    from tree_sitter import Node, Parser, Tree

_set = object.__setattr__

# Bigger scripts are never split (they stay one segment): no OS accepts them
# as an argument (Linux: 128 KiB per argument; macOS: 1 MiB for all).
MAX_SCRIPT_BYTES = 1024 * 1024
# tree-sitter-bash is quadratic in the number of tokens on some inputs, even
# valid ones (32 KiB of `a|a|...a|` take 5 s, of `` `<'`<'... `` 25 s), and its
# cancellation hook is not consulted during the slowest part (error recovery
# at the end of input). So a script longer than SCREEN_ABOVE_CHARS is parsed
# only if a linear scan finds it may be accepted (`_may_be_plain`,
# `_may_be_heredoc`) and, as a plain script, has at most MAX_PLAIN_TOKENS
# operators and word parts. The worst inputs found parse in ~0.1 s at these
# sizes.
SCREEN_ABOVE_CHARS = 2048
MAX_PLAIN_TOKENS = 2048

_WRAPPER_FLAGS = frozenset({"-lc", "-c"})
_SHELL_NAMES = frozenset({"bash", "zsh", "sh"})
# latest: repo-local files named like shells must not inherit wrapper trust.
EXACT_SHELL_PATHS = frozenset({
    "zsh", "/bin/zsh", "/usr/bin/zsh", "/usr/local/bin/zsh", "/opt/homebrew/bin/zsh",
    "sh", "/bin/sh", "/usr/bin/sh",
    "bash", "/bin/bash", "/usr/bin/bash", "/usr/local/bin/bash", "/opt/homebrew/bin/bash",
})

# The reference's whitelist (`try_parse_word_only_commands_sequence`).
_PLAIN_NAMED_KINDS = frozenset({
    "program", "list", "pipeline", "command", "command_name", "word", "string",
    "string_content", "raw_string", "number", "concatenation",
})
_PLAIN_TOKENS = frozenset({"&&", "||", ";", "|", '"', "'"})
_OPERATORS = frozenset({"&&", "||", ";", "|"})
_HEREDOC_ATTACHMENTS = frozenset({
    "heredoc_body", "simple_heredoc_body", "heredoc_redirect", "herestring_redirect",
    "redirected_statement",
})

# latest: a bare word containing one of these, or starting with `=`, is
# expanded by bash or zsh (glob, brace, tilde, zsh `^`/`#` globs and `=cmd`,
# escape removal, parameters, command substitution). Blanks are ours:
# tree-sitter reads `] {` as one word, which bash splits.
_EXPANDING = frozenset("{}*?[]\\~^#$` \t\n")
# latest: inside double quotes a backslash before these is removed.
_DQ_ESCAPED = frozenset('$`"\\\n')
# Scripts made only of these bytes cannot tokenize differently in bash and
# tree-sitter, so the gap check is skipped for them.
_PLAIN_BYTES = bytes(b for b in range(0x20, 0x7F) if b != ord("\\")) + b"\t\n"
_BLANKS = b" \t\n"


class Split(Value):
    """The segments a command is checked as, each an argv, and whether they
    came from the lossy heredoc fallback (which disables the known-safe
    shortcut and amendments)."""

    __slots__ = ("segments", "used_complex_parsing")
    segments: list[list[str]]
    used_complex_parsing: bool

    def __init__(self, segments: list[list[str]], used_complex_parsing: bool = False) -> None:
        _set(self, "segments", segments)
        _set(self, "used_complex_parsing", used_complex_parsing)


def split_for_policy(argv: Sequence[str], *, exact_wrappers: bool = True,
                     literal_words: bool = True, heredoc_fallback: bool = False) -> Split:
    """The segments of ``argv`` (spec §3 steps 1, 3, 4; no PowerShell).

    Classic Codex is ``exact_wrappers=False, literal_words=False,
    heredoc_fallback=True``. Never raises: anything unexpected leaves the
    whole argv as the single segment.
    """
    try:
        script = extract_shell_script(argv, exact_wrappers=exact_wrappers)
        parsed = None if script is None else _parse(script, True, heredoc_fallback)
        if parsed is not None:
            commands = _plain_commands(*parsed, literal_words)
            # An empty script yields no commands and falls back like any other.
            if commands:
                return Split(commands, False)
            if heredoc_fallback:
                prefix = _heredoc_prefix(*parsed, literal_words)
                if prefix is not None:
                    return Split([prefix], True)
    except Exception:
        pass
    return Split([list(argv)], False)


def extract_shell_script(argv: Sequence[str], *, exact_wrappers: bool) -> str | None:
    """The script of ``[shell, "-lc" | "-c", script]`` when ``shell`` is bash,
    zsh or sh (spec §3.1), else ``None``.

    Exactly three elements and exactly those flags: ``-l -c``, ``-ic`` or a
    fourth argument are not unwrapped.
    """
    if len(argv) != 3:
        return None
    shell, flag, script = argv
    if not (isinstance(shell, str) and isinstance(flag, str) and isinstance(script, str)):
        return None
    if flag not in _WRAPPER_FLAGS:
        return None
    trusted = shell in EXACT_SHELL_PATHS if exact_wrappers else _named_like_shell(shell)
    return script if trusted else None


def _named_like_shell(path: str) -> bool:
    """Classic detection: the name itself, else its file stem, recursively
    (Rust ``Path::file_stem``), so ``/tmp/bash.evil`` is bash."""
    while path not in _SHELL_NAMES:
        stem = _file_stem(path)
        # Rust compares paths by components: `bash/` has stem `bash`, the same
        # path, so the recursion stops there without a match.
        if stem is None or _components(stem) == _components(path):
            return False
        path = stem
    return True


def _components(path: str) -> list[str]:
    """Rust's ``Path::components`` on Unix, as strings: ``/`` for the root,
    ``.`` only in first place, empty parts and inner ``.`` dropped."""
    parts = [p for p in path.split("/") if p and p != "."]
    if path.startswith("/"):
        return ["/", *parts]
    if path == "." or path.startswith("./"):
        return [".", *parts]
    return parts


def _file_stem(path: str) -> str | None:
    """Rust's ``Path::file_stem``: the last normal component without its last
    extension (a leading dot is not an extension)."""
    parts = _components(path)
    if not parts or parts[-1] in ("/", ".", ".."):
        return None
    name = parts[-1]
    dot = name.rfind(".")
    return name if dot <= 0 else name[:dot]


def parse_plain_commands(script: str, *, literal_words: bool) -> list[list[str]] | None:
    """The commands of a word-only script in source order (spec §3.2), or
    ``None`` when the script is anything more.

    Accepted: simple commands joined by ``&&``, ``||``, ``;``, ``|`` or
    newlines, whose words are bare words, numbers, quoted strings without
    expansions, or concatenations of those. Values are the source spelling:
    quotes are removed but double-quoted escapes are not decoded (``"\\n"`` is
    backslash, n). The command name must be a bare word. ``literal_words``
    additionally rejects words the shell would rewrite (see the module doc).
    An empty script gives ``[]``.
    """
    try:
        parsed = _parse(script, True, False)
        return None if parsed is None else _plain_commands(*parsed, literal_words)
    except Exception:
        return None


def parse_heredoc_prefix(script: str, *, literal_words: bool = False) -> list[str] | None:
    """The words of the single command in a heredoc script (spec §3.3), e.g.
    ``["python3"]`` for ``python3 <<'PY' ... PY``, or ``None``.

    As the reference: requires a heredoc (a herestring alone is not enough),
    no file redirect, exactly one command node in the whole tree, and only
    literal bare words or numbers in that command.

    Stricter than the reference, which lets bash run code the prefix does
    not show: the script must be that one heredoc-fed command and nothing
    else (no `x=...;` or `export ...;` statement, no `&`, no wrapping
    `if`/`while`/function), and an unquoted heredoc body must not contain
    backticks, ``$(`` or ``$[`` (tree-sitter leaves backticks in a body
    unparsed, so ``cat <<EOF`` + `` `rm -rf ~` `` had one command node).

    ``literal_words`` (no reference variant combines it with the heredoc
    fallback) also applies latest's word check and requires the words to be
    separated by spaces or tabs only.
    """
    try:
        parsed = _parse(script, False, True)
        return None if parsed is None else _heredoc_prefix(*parsed, literal_words)
    except Exception:
        return None


class _Bash:
    """The grammar and the node-kind ids the walks test (ids are cheaper than
    kind names, and one name can have several ids)."""

    __slots__ = ("parser", "plain_ok", "operator", "command", "command_name", "word",
                 "bare", "string", "string_content", "raw_string", "concatenation",
                 "heredoc_redirect", "file_redirect", "heredoc_skip", "comment",
                 "semicolon", "redirected_statement", "stdin_redirect", "heredoc_part",
                 "heredoc_start", "heredoc_body")

    def __init__(self) -> None:
        from tree_sitter import Language, Parser
        from tree_sitter_bash import language

        lang = Language(language())
        named: dict[str, set[int]] = {}
        anonymous: dict[str, set[int]] = {}
        for kind_id in range(lang.node_kind_count):
            name = lang.node_kind_for_id(kind_id)
            if name is not None:
                table = named if lang.node_kind_is_named(kind_id) else anonymous
                table.setdefault(name, set()).add(kind_id)

        def ids(table: dict[str, set[int]], names: frozenset[str]) -> frozenset[int]:
            return frozenset(i for name in names for i in table.get(name, ()))

        def kind(name: str) -> frozenset[int]:
            return ids(named, frozenset({name}))

        # Parsing bytes holds the GIL throughout, so one parser serves every
        # thread (a free-threaded build would need one per thread).
        self.parser: Parser = Parser(lang)
        # The reference rejects every anonymous token except the allowed
        # operators and quotes, and whitespace-only tokens.
        self.plain_ok = ids(named, _PLAIN_NAMED_KINDS) | ids(anonymous, _PLAIN_TOKENS) | ids(
            anonymous, frozenset(n for n in anonymous if not n.strip()))
        self.operator = ids(anonymous, _OPERATORS)
        self.command = kind("command")
        self.command_name = kind("command_name")
        self.word = kind("word")
        self.bare = self.word | kind("number")
        self.string = kind("string")
        self.string_content = kind("string_content")
        self.raw_string = kind("raw_string")
        self.concatenation = kind("concatenation")
        self.heredoc_redirect = kind("heredoc_redirect")
        self.file_redirect = kind("file_redirect")
        self.comment = kind("comment")
        self.heredoc_skip = ids(named, _HEREDOC_ATTACHMENTS) | self.comment
        self.semicolon = ids(anonymous, frozenset({";"}))
        self.redirected_statement = kind("redirected_statement")
        self.stdin_redirect = self.heredoc_redirect | kind("herestring_redirect")
        self.heredoc_start = kind("heredoc_start")
        self.heredoc_body = ids(named, frozenset({"heredoc_body", "simple_heredoc_body"}))
        self.heredoc_part = (self.heredoc_start | self.heredoc_body | kind("heredoc_end")
                             | kind("herestring_redirect") | self.comment
                             | ids(anonymous, frozenset({"<<", "<<-"})))


_bash_state: _Bash | None = None


def _bash() -> _Bash:
    global _bash_state
    if _bash_state is None:
        _bash_state = _Bash()
    return _bash_state


def _parse(script: str, plain: bool, heredoc: bool) -> tuple[bytes, Node] | None:
    """The script's bytes and syntax tree, or ``None`` when it has a parse
    error or is not parsed: see `_source`, and `SCREEN_ABOVE_CHARS` (a big
    script is parsed only if it may be a plain script, when ``plain``, or a
    heredoc script, when ``heredoc``)."""
    src = _source(script)
    if src is None:
        return None
    if len(script) > SCREEN_ABOVE_CHARS and not (
            (plain and _may_be_plain(script)) or (heredoc and _may_be_heredoc(script))):
        return None
    root = parse_tree(src).root_node
    # has_error also covers MISSING nodes (`ls &&`).
    return None if root.has_error else (src, root)


# Every non-ASCII byte becomes `x` before parsing (same length, so node
# offsets still index the real script). tree-sitter-bash's scanner calls
# `isalpha` on code points beyond 255, which reads past the C library's
# table: undefined behaviour, and a segfault for some characters
# (tree-sitter-bash#337). It also asks `iswspace`, which splits words at
# U+3000 and friends in some locales, while bash splits only at ASCII blanks;
# bash reads every non-ASCII byte as part of a word, as it reads `x`.
_ASCII_ONLY = bytes(range(128)) + b"x" * 128


def parse_tree(src: bytes) -> Tree:
    """Parse a script with tree-sitter-bash (see `_ASCII_ONLY`). Not the
    callback form of `parse` (the only one with a cancellation hook):
    py-tree-sitter 0.26 leaks every object the callback returns."""
    return _bash().parser.parse(src if src.isascii() else src.translate(_ASCII_ONLY))


def _preorder(root: Node) -> Iterator[Node]:
    """Every node under ``root`` (itself included), parents before children,
    left to right. A cursor walk: no recursion, whatever the tree's depth."""
    cursor = root.walk()
    while True:
        node = cursor.node
        if node is None:  # never, per tree-sitter; but never skip a subtree silently
            raise RuntimeError("tree cursor lost its node")
        yield node
        if cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return


def _source(script: str) -> bytes | None:
    """The script as UTF-8, or ``None`` when it cannot be a shell argument or
    is too big to split: a NUL byte (no argv can carry one), a lone surrogate
    (not UTF-8; a Rust string could not hold it either)."""
    if not isinstance(script, str) or "\0" in script:
        return None
    try:
        src = script.encode()
    except UnicodeEncodeError:
        return None
    return src if len(src) <= MAX_SCRIPT_BYTES else None


def _plain_commands(src: bytes, root: Node, literal: bool) -> list[list[str]] | None:
    bash = _bash()
    # Spans of every word and operator, to check what lies between them.
    spans: list[tuple[int, int]] | None = None
    if literal and src.translate(None, _PLAIN_BYTES):
        spans = []
    plain_ok, command_ids, operator_ids = bash.plain_ok, bash.command, bash.operator
    commands: list[Node] = []
    # Pre-order: commands come out in source order (none nests in another,
    # substitutions being rejected), so no sort by offset is needed.
    for node in _preorder(root):
        kind_id = node.kind_id
        if kind_id not in plain_ok:
            return None
        if kind_id in command_ids:
            commands.append(node)
        elif spans is not None and kind_id in operator_ids:
            spans.append((node.start_byte, node.end_byte))
    result = []
    for command in commands:
        words = _command_words(src, command, bash, literal, spans)
        if words is None:
            return None
        result.append(words)
    if spans is not None and not _blank_gaps(src, spans):
        return None
    return result


def _command_words(src: bytes, command: Node, bash: _Bash, literal: bool,
                   spans: list[tuple[int, int]] | None) -> list[str] | None:
    words = []
    for child in command.named_children:
        kind_id = child.kind_id
        if kind_id in bash.command_name:
            name = child.named_children
            # A quoted or concatenated command name rejects.
            if not name or name[0].kind_id not in bash.word:
                return None
            word = _bare_word(src, name[0], literal)
        elif kind_id in bash.bare:
            word = _bare_word(src, child, literal)
        elif kind_id in bash.concatenation:
            parts = []
            for part in child.named_children:
                part_id = part.kind_id
                if part_id in bash.bare:
                    text = _bare_word(src, part, literal)
                elif part_id in bash.string or part_id in bash.raw_string:
                    text = _quoted(src, part, bash, literal)
                else:
                    return None
                if text is None:
                    return None
                parts.append(text)
            word = "".join(parts) or None
        else:
            word = _quoted(src, child, bash, literal)
        if word is None:
            return None
        words.append(word)
        if spans is not None:
            spans.append((child.start_byte, child.end_byte))
    return words


def _bare_word(src: bytes, node: Node, literal: bool) -> str | None:
    text = _text(src, node)
    if literal and (text.startswith("=") or not _EXPANDING.isdisjoint(text)):
        return None
    return text


def _text(src: bytes, node: Node) -> str:
    # Cheaper than `node.text`, which goes through a memoryview of the source.
    return src[node.start_byte : node.end_byte].decode()


def _quoted(src: bytes, node: Node, bash: _Bash, literal: bool) -> str | None:
    """The raw text between the quotes of a ``"..."`` or ``'...'`` node."""
    kind_id = node.kind_id
    if kind_id in bash.raw_string:
        quote = "'"
    elif kind_id in bash.string:
        quote = '"'
        if any(part.kind_id not in bash.string_content for part in node.named_children):
            return None
    else:
        return None
    text = _text(src, node)
    if len(text) < 2 or text[0] != quote or text[-1] != quote:
        return None
    text = text[1:-1]
    if literal and quote == '"' and "\\" in text:
        at = text.find("\\")
        while at >= 0:
            if text[at + 1 : at + 2] in _DQ_ESCAPED:  # "" past the end is not in the set
                return None
            at = text.find("\\", at + 2)
    return text


def _blank_gaps(src: bytes, spans: list[tuple[int, int]]) -> bool:
    """Whether bash sees the same word boundaries as tree-sitter: between
    the words and operators there are only blanks (space, tab, newline) and
    line continuations, and no continuation directly joins two of them."""
    spans.sort()
    end = 0
    for start, next_end in [*spans, (len(src), len(src))]:
        gap = src[end:start]
        if gap:
            unjoined = gap.replace(b"\\\n", b"")
            # tree-sitter skips `\r`, `\v`, `\f` and escaped blanks between
            # words; bash reads them as word characters.
            if unjoined.strip(_BLANKS):
                return False
            # bash deletes `\<newline>` before splitting, gluing its neighbours.
            if not unjoined and end > 0 and start < len(src):
                return False
        end = next_end
    return True


def _heredoc_prefix(src: bytes, root: Node, literal: bool) -> list[str] | None:
    bash = _bash()
    heredocs = []
    command: Node | None = None
    for node in _preorder(root):
        kind_id = node.kind_id
        if kind_id in bash.heredoc_redirect:
            heredocs.append(node)
        elif kind_id in bash.file_redirect:
            return None
        elif kind_id in bash.command:
            if command is not None:
                return None
            command = node
    if not heredocs or command is None:
        return None
    statement = _heredoc_statement(root, command, bash)
    if statement is None or any(_runs_code(src, heredoc, bash) for heredoc in heredocs):
        return None
    words = []
    previous_end = -1
    for child in command.named_children:
        kind_id = child.kind_id
        if kind_id in bash.command_name:
            name = child.named_children
            if not name:
                return None
            child = name[0]
            kind_id = child.kind_id
        elif kind_id in bash.heredoc_skip:
            continue
        if kind_id not in bash.bare or child.named_child_count:
            return None
        word = _bare_word(src, child, literal)
        if word is None:
            return None
        # Only spaces and tabs may separate the words: bash joins words across
        # a line continuation, and tree-sitter skips characters bash keeps.
        if literal and previous_end >= 0 and src[previous_end : child.start_byte].strip(b" \t"):
            return None
        previous_end = child.end_byte
        words.append(word)
    # tree-sitter drops a `-` right before `<<` (`python3 -u - <<PY`) without
    # an error; the words must run up to the first redirect.
    if literal and src[previous_end : statement.children[1].start_byte].strip(b" \t"):
        return None
    return words or None


def _heredoc_statement(root: Node, command: Node, bash: _Bash) -> Node | None:
    """The statement that is ``command`` with its stdin redirects, when the
    script is that and nothing else: then it sets no variable a body
    expansion could evaluate, and runs nothing the prefix does not show."""
    statement = None
    for child in root.children:
        kind_id = child.kind_id
        if kind_id in bash.redirected_statement and statement is None:
            statement = child
        elif kind_id not in bash.comment and kind_id not in bash.semicolon:
            return None
    if statement is None:
        return None
    parts = statement.children
    if len(parts) < 2 or parts[0] != command:
        return None
    for redirect in parts[1:]:
        if redirect.kind_id not in bash.stdin_redirect:
            return None
        if redirect.kind_id in bash.heredoc_redirect and any(
                part.kind_id not in bash.heredoc_part for part in redirect.children):
            return None  # e.g. `cat <<EOF | sh` continues the line inside the redirect
    return statement


def _runs_code(src: bytes, heredoc: Node, bash: _Bash) -> bool:
    """Whether bash may run a command while expanding this heredoc's body:
    the delimiter is unquoted and the body has a command substitution or
    arithmetic (which evaluates array subscripts)."""
    for part in heredoc.children:
        kind_id = part.kind_id
        if kind_id in bash.heredoc_start:
            delimiter = src[part.start_byte : part.end_byte]
            if b"'" in delimiter or b'"' in delimiter or b"\\" in delimiter:
                return False  # a quoted delimiter leaves the body unexpanded
        elif kind_id in bash.heredoc_body:
            body = src[part.start_byte : part.end_byte]
            if b"`" in body or b"$(" in body or b"$[" in body:
                return True
    return False


# --- Screening big scripts --------------------------------------------------
#
# Necessary conditions, checked in linear time, for the parser walks above to
# accept a script. They may pass scripts the walks reject, never the reverse
# (tests/test_shell_split_properties.py checks this on generated scripts).

# Words tree-sitter never accepts as a plain command name (they open compound
# commands or declarations); `then`, `fi`, `}`, `time` ... are accepted.
_NEVER_COMMAND_NAMES = frozenset({
    "if", "case", "while", "until", "for", "select", "function", "{", "!", "[[", "]]", "[",
    "declare", "export", "local", "readonly", "typeset", "unset", "unsetenv",
})
_plain_pattern: re.Pattern[str] | None = None
_plain_token: re.Pattern[str] | None = None


def _may_be_plain(script: str) -> bool:
    """Whether ``script`` is words, quotes and ``&&``/``||``/``|``/``;``/newline
    operators with no empty position, no unquoted ``$`` `` ` `` ``(`` ``)`` ``<``
    ``>`` or lone ``&``, no expansion in double quotes, no unterminated quote,
    and no assignment or compound keyword as a command name; and has at most
    `MAX_PLAIN_TOKENS` operators and word parts (quoted strings, unquoted runs)."""
    global _plain_pattern, _plain_token
    if _plain_pattern is None or _plain_token is None:
        import re

        # Possessive and atomic: no backtracking, linear on any input.
        word = r"""(?>(?:[^ \t\n\r\v\f|&;()<>$`'"\\]|\\.|'[^']*'|"(?:[^"\\$`]|\\.)*+")++)"""
        blank = r"(?:[ \t\r\v\f]|\\\n)"
        space = r"(?:[ \t\r\v\f\n]|\\\n)"
        keyword = "|".join(re.escape(name) for name in sorted(_NEVER_COMMAND_NAMES))
        name = (rf"(?!(?:{keyword})(?=[ \t\n\r\v\f;|&]|\\\n|\Z))"
                # `_=x` is a command to tree-sitter, not an assignment.
                r"(?!(?:[A-Za-z][A-Za-z0-9_]*|_[A-Za-z0-9_]+)\+?=)")
        command = rf"{name}{word}(?:{blank}++{word})*+"
        # After `&&`, `||`, `|` a command must follow (newlines may come
        # first); after `;` or a newline, a command or the end.
        joined = rf"{blank}*+(?:(?:&&|\|\||\|)|[;\n]){space}*+{command}"
        sequence = rf"{command}(?:{joined})*+{blank}*+(?:[;\n]{space}*+)?"
        _plain_pattern = re.compile(rf"{space}*+(?:{sequence})?", re.DOTALL)
        # Each quoted part counts: tree-sitter makes a node of each.
        _plain_token = re.compile(
            r"""(?:[^ \t\n\r\v\f|&;()<>$`'"\\]|\\.)++|'[^']*'|"(?:[^"\\$`]|\\.)*+"|&&|\|\||[|;]""",
            re.DOTALL)
    if _plain_pattern.fullmatch(script) is None:
        return False
    beyond_limit = islice(_plain_token.finditer(script), MAX_PLAIN_TOKENS, None)
    return next(beyond_limit, None) is None


def _may_be_heredoc(script: str) -> bool:
    """Whether ``script`` has the shape of a heredoc script: comment or blank
    lines, then ``words <<[-]DELIM [# comment]``, the body, the line that ends
    it for tree-sitter (the first one that starts with ``DELIM`` after
    leading blanks), and only a comment or blanks after that. A body that
    tree-sitter parses (unquoted delimiter) must be free of ``$``, backticks
    and backslashes. Stricter than `_heredoc_prefix` in one way: a herestring
    or a second heredoc on the command line fails (the screen only sees
    scripts longer than `SCREEN_ABOVE_CHARS`)."""
    lines = script.split("\n")
    index = 0
    while index < len(lines) and _blank_or_comment(lines[index]):
        index += 1
    if index == len(lines):
        return False
    command, _, redirect = lines[index].partition("<<")
    if not command.strip() or any(c in command for c in "|&;()<>$`'\""):
        return False
    if redirect.startswith(("<", "-<")):
        return False  # `<<<` or `<<-<`
    delimiter = _heredoc_delimiter(redirect.removeprefix("-"))
    if delimiter is None or not _blank_or_comment(delimiter[2]):
        return False
    word, raw, _ = delimiter
    for end in range(index + 1, len(lines)):
        line = lines[end].lstrip()
        if line.startswith(word):
            body = lines[index + 1 : end]
            if not raw and any(c in part for part in body for c in "$`\\"):
                return False
            return _blank_or_comment(line[len(word):]) and all(
                _blank_or_comment(line) for line in lines[end + 1 :])
    return False


def _heredoc_delimiter(text: str) -> tuple[str, bool, str] | None:
    """tree-sitter-bash's reading of a heredoc delimiter at the start of
    ``text`` (after ``<<`` or ``<<-``): the word it waits for, whether the
    body is raw (the delimiter starts with a quote or a backslash), and the
    rest of the line. Only a leading quote counts: ``E"O"F`` waits for
    ``E"O"F`` (bash: for ``EOF``)."""
    text = text.lstrip()
    quote = text[:1] if text[:1] in ("'", '"') else ""
    raw = bool(quote) or text[:1] == "\\"
    position, word = len(quote), []
    while position < len(text):
        c = text[position]
        if (c in (quote, "\r") if quote else c.isspace()):
            break
        if c == "\\":
            position += 1
            if position == len(text):
                return None
            c = text[position]
        word.append(c)
        position += 1
    if quote and text[position : position + 1] == quote:
        position += 1
    return ("".join(word), raw, text[position:]) if word else None


def _blank_or_comment(line: str) -> bool:
    line = line.strip(" \t")
    return not line or line.startswith("#")
