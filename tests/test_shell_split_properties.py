"""Properties of the shell splitter, checked on generated scripts.

1. A script the word-only parser accepts is, to bashlex (a second, unrelated
   bash parser; GPL, test-only), the same commands with the same word values.
   Generated scripts keep backslashes out of double quotes and bare words,
   where the reference's raw values differ from the shell's on purpose, and
   out of the quoting bashlex itself gets wrong (noted at the strategies).
2. No text makes any function raise, results are well formed, and latest's
   literal mode only ever removes results (never changes one).
3. An unquoted ``$``, backtick, redirection or ``(`` never yields plain
   commands, nor does an expansion inside double quotes.
4. The linear screens for big scripts (``_may_be_plain``,
   ``_may_be_heredoc``) pass every script the parser accepts.
5. With literal words, the accepted commands are exactly the argvs bash runs
   (each command name is a stub that records its argv).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import bashlex  # GPLv3: tests only
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from execguard.execpolicy.shell import (
    Split,
    _may_be_heredoc,
    _may_be_plain,
    extract_shell_script,
    parse_heredoc_prefix,
    parse_plain_commands,
    split_for_policy,
)
from tests.shell_stubs import bash_argvs, write_stubs

SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
VARIANTS = [
    {"exact_wrappers": False, "literal_words": False, "heredoc_fallback": True},
    {"exact_wrappers": True, "literal_words": True, "heredoc_fallback": False},
]

# --- a small grammar of plain-looking scripts --------------------------------

# Bare-word characters, including ones the shell expands (classic keeps them).
BARE = "abcxyz019-_./,:@%+=~*?{}[]^#!é"
# Anything may sit in single quotes but the quote itself, a backslash
# (bashlex reads `'\'` as an escaped quote) and `"` (bashlex drops it from
# `0'"'`, bash: `0"`); property 5 covers both.
SINGLE = "ab $`;|&()<>#*~{}\n\t=é"
# Double quotes without expansions and without backslashes (whose raw value
# differs from the shell's by design), nor `'`: bashlex drops a `'` inside
# double quotes glued to a word (`a"'"` is `a'` to bash; property 5 covers it).
DOUBLE = "ab ;|&()<>#*~{}\n\t=é!"
KEYWORDS = ["then", "fi", "do", "done", "esac", "in", "if", "case", "{", "}", "!", "[[", "]]",
            "[", "]", "x=1", "a+=b", "--", "-", "0", "-5"]
OPERATORS = [" && ", " || ", "; ", " | ", "\n", ";", "|", "&&", "||", " ;\n", "\n\n", " &&\n",
             " |\n  "]

bare_part = st.text(alphabet=BARE, min_size=1, max_size=5)
# Not empty: bashlex reads `''0''` as `'0'` (bash: `0`); property 5 covers it.
single_part = st.text(alphabet=SINGLE, min_size=1, max_size=5).map(lambda t: f"'{t}'")
double_part = st.text(alphabet=DOUBLE, min_size=1, max_size=5).map(lambda t: f'"{t}"')


def bashlex_reads_right(parts: list[str]) -> bool:
    # bashlex keeps inner quotes of a word that starts quoted and has a later
    # single-quoted part (`'a''b'`, `"a"'b'` are `ab` to bash).
    return parts[0][0] not in "'\"" or not any(p.startswith("'") for p in parts[1:])


word = st.one_of(
    st.lists(st.one_of(bare_part, single_part, double_part), min_size=1, max_size=3)
    .filter(bashlex_reads_right).map("".join),
    st.sampled_from(KEYWORDS),
)
command = st.lists(word, min_size=1, max_size=4).map(" ".join)


@st.composite
def scripts(draw: st.DrawFn, commands: st.SearchStrategy[str] = command) -> str:
    parts = [draw(st.sampled_from(["", "", " ", "\n", "  \n"]))]
    for i in range(draw(st.integers(1, 4))):
        if i:
            parts.append(draw(st.sampled_from(OPERATORS)))
        parts.append(draw(commands))
    parts.append(draw(st.sampled_from(["", "", ";", "\n", " ", ";\n"])))
    return "".join(parts)


# --- 1. agreement with bashlex ----------------------------------------------

class Disagreement(Exception):
    pass


def bashlex_commands(script: str) -> list[list[str]] | None:
    """The simple commands bashlex finds, or None if it cannot parse the
    script. Raises `Disagreement` on any structure but lists, pipelines and
    commands made of words."""
    try:
        trees = bashlex.parse(script)
    except Exception:
        return None
    commands: list[list[str]] = []

    def visit(node: bashlex.ast.node) -> None:
        if node.kind in ("list", "pipeline"):
            for part in node.parts:
                visit(part)
        elif node.kind == "command":
            # Only leading NAME=value words are assignments to bash; bashlex
            # also marks one after a `{` word (`-- { x=1`), where bash reads
            # an ordinary argument.
            kinds = [part.kind for part in node.parts]
            leading_word = kinds[:1] == ["word"]
            if any(kind != "word" and not (kind == "assignment" and leading_word)
                   for kind in kinds):
                raise Disagreement(node.dump())
            commands.append([part.word for part in node.parts])
        elif node.kind not in ("operator", "pipe"):
            raise Disagreement(node.dump())

    for tree in trees:
        visit(tree)
    return commands


# tree-sitter (so the reference, so classic) reads brackets and braces
# separated by blanks as one word: `] {`, `] [[`, and `[ {` before `0` in
# `[ {0` (bash: `[` and `{0`). Literal words reject them.
BRACKET_RUN = re.compile(r"(?:^|[\s;|&])[][{}]+(?:[ \t]+[][{}]+)+")


@SETTINGS
@given(scripts())
@example("-- { x=1")  # bashlex: an assignment; bash: an argument
@example(": [ {0")  # tree-sitter: `[ {` `0`; bash: `[` `{0` (classic keeps the reference's)
def test_accepted_scripts_are_the_same_commands_to_bashlex(script: str) -> None:
    for literal in (False, True):
        ours = parse_plain_commands(script, literal_words=literal)
        if not ours or (not literal and BRACKET_RUN.search(script)):
            continue
        theirs = bashlex_commands(script)
        if theirs is not None:
            assert theirs == ours


def test_bashlex_comparison_is_not_vacuous() -> None:
    script = "echo 'a b'\"c\" x=1 && ls | wc -l\npwd;"
    assert bashlex_commands(script) == parse_plain_commands(script, literal_words=True) == [
        ["echo", "a bc", "x=1"], ["ls"], ["wc", "-l"], ["pwd"]]
    with pytest.raises(Disagreement):
        bashlex_commands("ls > out")


# --- 2. no input raises -------------------------------------------------------

SHELLY = " \t\n\r\\'\"$`|&;()<>{}[]#~*?=!-abx0é\x00"
any_text = st.one_of(
    st.text(),
    st.text(alphabet=SHELLY),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF) | st.sampled_from(
        "ab |'")),
    st.binary().map(lambda b: b.decode("utf-8", "surrogateescape")),
    scripts(),
)


def well_formed(commands: list[list[str]] | None) -> bool:
    return commands is None or (isinstance(commands, list) and all(
        isinstance(c, list) and c and all(isinstance(w, str) for w in c) for c in commands))


@SETTINGS
@given(any_text)
def test_no_text_raises(text: str) -> None:
    classic = parse_plain_commands(text, literal_words=False)
    latest = parse_plain_commands(text, literal_words=True)
    assert well_formed(classic) and well_formed(latest)
    # Literal mode only rejects more; it never changes a value.
    assert latest is None or latest == classic
    for literal in (False, True):
        prefix = parse_heredoc_prefix(text, literal_words=literal)
        assert prefix is None or (prefix and all(isinstance(w, str) for w in prefix))
    for argv in (["bash", "-lc", text], [text, "-c", "ls"], ["sh", text, "ls"], [text]):
        for exact in (False, True):
            script = extract_shell_script(argv, exact_wrappers=exact)
            assert script is None or script == argv[2]
        for variant in VARIANTS:
            result = split_for_policy(argv, **variant)
            assert isinstance(result, Split) and result.segments
            assert well_formed(result.segments) or result.segments == [argv]


# --- 3. expansions, redirections and subshells are never plain --------------

METACHARS = ["$", "$x", "${x}", "$(ls)", "`ls`", "`", ">", ">x", "<", "<x", "2>&1", ">>x", "(",
             "(ls)", "a(", "<<<x", "$((1))", "<(ls)", ">(ls)", "$'x'", '$"x"', "$1", "$@", "&>x",
             "x>", ")"]
QUOTED_EXPANSIONS = ['"$"', '"a$b"', '"${x}"', '"$(ls)"', '"`ls`"', '"a`"', '"$((1))"', '"x$"']


@SETTINGS
@given(scripts(), st.sampled_from(METACHARS + QUOTED_EXPANSIONS), st.sampled_from(["", " "]),
       scripts(), st.sampled_from(["", " ", "; ", " | "]))
def test_expansions_and_redirections_are_never_plain(
        before: str, meta: str, glue: str, after: str, joiner: str) -> None:
    # `before` is a complete script, so `meta` lands outside any quote, glued
    # to the last word or as a word of its own.
    script = before.rstrip(";\n \t|&") + glue + meta + joiner + after
    assert parse_plain_commands(script, literal_words=False) is None
    assert parse_plain_commands(script, literal_words=True) is None
    argv = ["bash", "-lc", script]
    assert split_for_policy(argv) == Split([argv], False)


# --- 4. the big-script screens never reject an accepted script ---------------

@SETTINGS
@given(st.one_of(scripts(), st.text(alphabet=SHELLY, max_size=30)))
def test_plain_screen_passes_every_accepted_script(script: str) -> None:
    if parse_plain_commands(script, literal_words=False) is not None:
        assert _may_be_plain(script)


DELIMITERS = ["EOF", "'EOF'", '"EOF"', "\\EOF", "E'O'F", "PY", "'P Y'", "-x", "E$F", "E#F"]
BODY = st.text(alphabet="ab $`\\'\"()<>|&;{}#\t\nEOFPY", max_size=20)


@st.composite
def heredoc_scripts(draw: st.DrawFn) -> tuple[str, bool]:
    """A heredoc-ish script, and whether the screen may reject it even if
    the parser accepts it (its documented extra strictness)."""
    lead = draw(st.sampled_from(["", "# c\n", "\n", "  # x\n\n"]))
    words = draw(st.lists(st.one_of(bare_part, st.sampled_from(["-", "x=1", "'q'", "a\\ b"])),
                          min_size=1, max_size=3))
    operator = draw(st.sampled_from(["<<", "<< ", "<<-", "<<- ", "<<<", "<<< x <<"]))
    delimiter = draw(st.sampled_from(DELIMITERS))
    trailer = draw(st.sampled_from(["", " # c", " | wc", " > f", ";", " &&", "\t"]))
    word_of = delimiter.replace("'", "").replace('"', "").replace("\\", "")
    end = draw(st.sampled_from([word_of, "\t" + word_of, word_of + " ", "EOF", "PY"]))
    tail = draw(st.sampled_from(["", "\n", "\n# done\n", "\nls", "\n\n"]))
    body = draw(BODY)
    script = f"{lead}{' '.join(words)} {operator}{delimiter}{trailer}\n{body}\n{end}{tail}"
    parsed_body = delimiter[0] not in "'\"\\" and any(c in body for c in "$`\\")
    return script, "<<<" in operator or parsed_body


@SETTINGS
@given(heredoc_scripts())
def test_heredoc_screen_passes_every_accepted_script(case: tuple[str, bool]) -> None:
    script, may_reject = case
    if parse_heredoc_prefix(script) is not None and not may_reject:
        assert _may_be_heredoc(script)


def test_heredoc_generator_is_not_vacuous() -> None:
    assert parse_heredoc_prefix("# c\ncat -x <<'EOF' # c\na $b\nEOF\n# done\n") == ["cat", "-x"]
    assert _may_be_heredoc("# c\ncat -x <<'EOF' # c\na $b\nEOF\n# done\n")


# --- 5. literal words are what bash runs --------------------------------------

NAMES = ["a", "b", "run-x"]
# Everything literal mode may accept, plus characters it must reject.
STUB_BARE = "abxyz019-_./,:@%+=é\r"
STUB_DOUBLE = "ab 'x;|&()<>#*~{}\n\t=é!\\nr"
STUB_SINGLE = "ab $`\"\\;|&()\n\t*~é\r"
stub_word = st.lists(st.one_of(
    st.text(alphabet=STUB_BARE, min_size=1, max_size=4),
    st.text(alphabet=STUB_SINGLE, max_size=4).map(lambda t: f"'{t}'"),
    st.text(alphabet=STUB_DOUBLE, max_size=4).map(lambda t: f'"{t}"'),
), min_size=1, max_size=3).map("".join)
stub_command = st.tuples(
    st.sampled_from(NAMES),
    st.lists(st.tuples(st.sampled_from([" ", "  ", "\t", " \\\n ", "\\\n", " \\\n"]), stub_word),
             max_size=3),
).map(lambda c: c[0] + "".join(sep + w for sep, w in c[1]))
STUB_OPERATORS = [" && ", "; ", " | ", "\n", "&&", ";", "|", " &&\\\n", "\\\n&& "]


@st.composite
def stub_scripts(draw: st.DrawFn) -> str:
    parts = [draw(stub_command)]
    for _ in range(draw(st.integers(0, 3))):
        parts += [draw(st.sampled_from(STUB_OPERATORS)), draw(stub_command)]
    return "".join(parts)


@pytest.fixture(scope="module")
def stubs() -> Iterator[Path]:
    # Debian ships both; the property compares against the real shell.
    assert shutil.which("bash") and Path("/bin/sh").exists(), "bash and /bin/sh are required"
    with tempfile.TemporaryDirectory() as tmp:
        bin_dir = Path(tmp)
        write_stubs(bin_dir, NAMES)
        yield bin_dir


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stub_scripts())
def test_literal_words_are_what_bash_runs(stubs: Path, script: str) -> None:
    ours = parse_plain_commands(script, literal_words=True)
    assume(ours)
    assert ours is not None
    assert sorted(bash_argvs(script, stubs)) == sorted(ours)


def test_bash_comparison_is_not_vacuous(stubs: Path) -> None:
    script = "a 'x y' \"z\\n\" | b -c && run-x é"
    ours = parse_plain_commands(script, literal_words=True)
    assert ours == [["a", "x y", "z\\n"], ["b", "-c"], ["run-x", "é"]]
    assert sorted(bash_argvs(script, stubs)) == sorted(ours)
    # classic's spelling is not what bash runs here; literal mode rejects it.
    glued = "a x\\\ny"
    assert parse_plain_commands(glued, literal_words=False) == [["a", "x", "y"]]
    assert bash_argvs(glued, stubs) == [["a", "xy"]]
    assert parse_plain_commands(glued, literal_words=True) is None


# --- 6. a heredoc prefix is the one command bash runs -------------------------

HEREDOC_DELIMITERS = ["EOF", "'EOF'", '"EOF"', "\\EOF", 'E"O"F', "E'O'F", '"E"OF', "'EOF'x",
                      "'E OF'", "E\\OF"]
BODY_LINES = ["x", "b body", "`b tick`", "$(b dollar)", "${x:-$(b brace)}", "$((1+2))", "EOF",
              "EOF ", " EOF", "\tEOF", "EOF2", "EOF # c", "EOFb x", "E OF", "\\", "'", '"', "#"]


@st.composite
def stub_heredocs(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(["-u", "x", "-", "0", "--", "y.py"]), max_size=2))
    operator = draw(st.sampled_from(["<<", "<< ", "<<-", "<<- "]))
    delimiter = draw(st.sampled_from(HEREDOC_DELIMITERS))
    trailer = draw(st.sampled_from(["", " # c", ";", " &", " | b pipe", "\t"]))
    body = draw(st.lists(st.sampled_from(BODY_LINES), max_size=4))
    end = draw(st.sampled_from(["EOF", "\tEOF", "EOF ", "E OF", "", "EOF\nb after"]))
    tail = draw(st.sampled_from(["", "\n", "\n# c", "\nb tail", "\n\n"]))
    return "\n".join([f"a {' '.join(words)} {operator}{delimiter}{trailer}", *body, end]) + tail


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stub_heredocs())
def test_heredoc_prefix_is_the_only_command_bash_runs(stubs: Path, script: str) -> None:
    prefix = parse_heredoc_prefix(script)
    assume(prefix)
    assert prefix is not None
    runs = bash_argvs(script, stubs)
    assert len(runs) == 1, runs
    assert runs[0][: len(prefix)] == prefix


def test_heredoc_comparison_is_not_vacuous(stubs: Path) -> None:
    assert bash_argvs("a -u <<'EOF'\n`b x`\nEOF", stubs) == [["a", "-u"]]
    # The reference's prefix hid the backticks that bash runs.
    assert sorted(bash_argvs("a -u <<EOF\n`b x`\nEOF", stubs)) == [["a", "-u"], ["b", "x"]]
    assert parse_heredoc_prefix("a -u <<EOF\n`b x`\nEOF") is None
