"""The full script analysis (execpolicy/script.py): every command that can run
is found, every write and every unknowable part is reported.

The strongest check is against real bash: generated scripts made of stub
programs that record their argv are run, and every argv bash ran must be one
the analysis found (dynamic words matching anything), unless the analysis
declared part of the script opaque.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import bashlex  # GPLv3: tests only
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from execguard.execpolicy.script import Analysis, FoundCommand, analyse_command, analyse_script
from execguard.execpolicy.words import Word
from tests.shell_stubs import bash_argvs, words_match, write_stubs

CWD = "/work/repo"


def analyse(script: str, shell: str = "bash") -> Analysis:
    return analyse_script(script, shell=shell, cwd=CWD)


def argvs(script: str) -> list[list[str]]:
    return [c.argv for c in analyse(script).commands]


def opaque(script: str, shell: str = "bash") -> list[str]:
    return [e.reason for e in analyse(script, shell).effects if e.kind == "opaque"]


def writes(script: str) -> list[tuple[str | None, tuple[str | None, ...]]]:
    return [(e.path.text if e.path else None, e.cwds) for e in analyse(script).effects
            if e.kind == "write"]


def environment(script: str) -> list[str]:
    return [e.reason for e in analyse(script).effects if e.kind == "environment"]


# -- every command is found ---------------------------------------------------------


@pytest.mark.parametrize(("script", "expected"), [
    ("ls -la | grep x && wc -l f; pwd", [["ls", "-la"], ["grep", "x"], ["wc", "-l", "f"],
                                         ["pwd"]]),
    ("echo $(id -u) `whoami`", [["id", "-u"], ["whoami"], ["echo", "$(id -u)", "`whoami`"]]),
    ("cat <(ls) >(wc -l)", [["ls"], ["wc", "-l"], ["cat", "<(ls)", ">(wc -l)"]]),
    ("(cd a && make) || { b; c; }", [["cd", "a"], ["make"], ["b"], ["c"]]),
    ("if a; then b; elif c; then d; else e; fi", [["a"], ["b"], ["c"], ["d"], ["e"]]),
    ("for f in x y; do a \"$f\"; done", [["a", '"$f"']]),
    ("while a; do b; done; until c; do d; done", [["a"], ["b"], ["c"], ["d"]]),
    ("case $x in y) a;; *) b;; esac", [["a"], ["b"]]),
    ("f() { a; }; f", [["a"], ["f"]]),
    ("x=$(a) y=`b`", [["a"], ["b"]]),
    ("echo \"${x:-$(a)}\"", [["a"], ["echo", '"${x:-$(a)}"']]),
    ("cat <<EOF\n$(a)\nEOF", [["a"], ["cat"]]),
    ("cat <<'EOF'\n$(a)\nEOF", [["cat"]]),
    ("cat <<EOF | b\nx\nEOF", [["cat"], ["b"]]),
    ("a >out 2>&1 <in", [["a"]]),
    ("! a & b", [["a"], ["b"]]),
    ("[ -f x ] && [[ -d y ]] && test -f z && a", [["test", "-f", "z"], ["a"]]),
])
def test_commands_everywhere_are_found(script: str, expected: list[list[str]]) -> None:
    assert sorted(argvs(script)) == sorted(expected)
    assert opaque(script) == []


@pytest.mark.parametrize(("argv", "inner"), [
    (["timeout", "5", "rm", "-rf", "/"], ["rm", "-rf", "/"]),
    (["env", "A=1", "rm", "x"], ["rm", "x"]),
    (["nice", "-n", "5", "rm"], ["rm"]),
    (["sudo", "-u", "root", "rm", "x"], ["rm", "x"]),
    (["bash", "-c", "rm x; ls"], ["rm", "x"]),
    (["sh", "-c", "sh -c 'rm x'"], ["rm", "x"]),
])
def test_wrappers_and_nested_shells_are_followed(argv: list[str], inner: list[str]) -> None:
    found = analyse_command(argv, cwd=CWD).commands
    assert inner in [c.argv for c in found]


def test_xargs_and_find_exec_commands_get_their_input_as_dynamic_words() -> None:
    found = analyse("find . -name '*.py' -exec grep -l x {} + | xargs rm").commands
    grep = next(c for c in found if c.argv[0] == "grep")
    # `find .` yields `.` and `./...`: never an option.
    assert grep.words[-1].text is None and grep.words[-1].prefix == "."
    rm = next(c for c in found if c.argv[0] == "rm")
    assert rm.words[-1].text is None and rm.words[-1].may_be_option()
    assert rm.context == "via xargs"


def test_nesting_is_bounded() -> None:
    script = "a"
    for _ in range(12):
        script = f"sh -c {shell_quote(script)}"
    assert "shell scripts are nested too deeply" in opaque(script)


def shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


# -- words ---------------------------------------------------------------------


@pytest.mark.parametrize(("word", "text", "prefix", "single"), [
    ("plain", "plain", "plain", True),
    ("'a b'\"c\"d", "a bcd", "a bcd", True),
    ("\\-rf", "-rf", "-rf", True),
    ("r\\m", "rm", "rm", True),
    ('"a\\$b"', "a$b", "a$b", True),
    ("tests/*.py", None, "tests/", False),
    ("'tests/'*.py", None, "tests/", False),
    ("'*.py'", "*.py", "*.py", True),
    ("src/{a,b}", None, "src/", False),
    ("{}", "{}", "{}", True),
    ('"$x"', None, "", True),
    ('"src/$x"', None, "src/", True),
    ("$x", None, "", False),
    ("a$x", None, "", False),
    ("~/x", None, "", True),
    ("$'\\x72m'", None, "", True),
])
def test_word_values(word: str, text: str | None, prefix: str, single: bool) -> None:
    found = analyse(f"a {word}").commands[-1].words[1]
    assert (found.text, found.prefix, found.single) == (text, prefix, single)


def test_known_values_of_variables_are_used_only_where_certain() -> None:
    assert analyse('out=/tmp/x.log; a > "$out"').effects[0].path == Word(
        "/tmp/x.log", source='"$out"')
    # Set in a branch, a loop body or a function: unknown afterwards.
    for script in ('out=/tmp/x; if c; then out=/etc/x; fi; a > "$out"',
                   'out=/tmp/x; while c; do a > "$out"; out=/etc/x; done',
                   'out=/tmp/x; f() { out=/etc/x; }; f; a > "$out"',
                   'out=/tmp/x; read out; a > "$out"',
                   'out=/tmp/x; printf -v out /etc/x; a > "$out"'):
        path = analyse(script).effects[-1].path
        assert path is not None and path.text is None, script
    # Unquoted, a value that splitting or globbing would change stays dynamic.
    assert analyse("d='a b'; a $d").commands[-1].words[1].text is None
    assert analyse("d=ab; a $d").commands[-1].words[1].text == "ab"


def test_loop_variables_keep_what_every_value_starts_with() -> None:
    word = analyse('for f in tests/test_*.py tests/x.py; do a "$f"; done').commands[0].words[1]
    assert word.text is None and word.prefix == "tests/" and not word.may_be_option()
    word = analyse('for f in tests/*.py; do a $f; done').commands[0].words[1]
    assert word.may_be_option()  # unquoted: a name with a space splits


# -- writes -------------------------------------------------------------------


def test_redirections_are_writes_resolved_in_every_possible_directory() -> None:
    assert writes("a > out") == [("out", (CWD,))]
    assert writes("a >> o 2> e &> b >| c &>> d") == [
        ("o", (CWD,)), ("e", (CWD,)), ("b", (CWD,)), ("c", (CWD,)), ("d", (CWD,))]
    # tree-sitter-bash does not know `<>`: such a script is opaque.
    assert opaque("a <> d")
    assert writes("a < in 2>&1 >&2 2>&- >/dev/null 2>/dev/stderr") == []
    assert writes("a >&out") == [("out", (CWD,))]
    # `cd` may fail: both directories stay possible.
    assert writes("cd sub; a > x") == [("x", (CWD, f"{CWD}/sub"))]
    assert writes("cd /etc && a > y") == [("y", (CWD, "/etc"))]
    # A subshell's `cd` is undone; an unknown one makes the directory unknown.
    assert writes("(cd /etc); a > x") == [("x", (CWD,))]
    assert writes('cd "$d"; a > x') == [("x", (CWD, None))]
    assert writes("a > \"$f\"")[0][0] is None


# -- environment and opaque parts -------------------------------------------------


@pytest.mark.parametrize("script", [
    "PATH=/tmp ls", "export LD_PRELOAD=/tmp/x.so", "declare -x BASH_ENV=/tmp/x",
    "read PATH < f", "printf -v PATH /tmp", "mapfile -t PATH < f", "for PATH in /tmp; do :; done",
    "GIT_PAGER=x git log",
])
def test_sensitive_variables_are_reported(script: str) -> None:
    assert environment(script), script


@pytest.mark.parametrize("script", ["CI=1 npm test", "x=1; echo $x", "IFS= read -r line",
                                    "export NODE_ENV=test"])
def test_harmless_variables_are_not(script: str) -> None:
    assert environment(script) == []


@pytest.mark.parametrize("script", [
    "eval x", "source f", ". f", "alias ls='rm -rf ~'", "enable -f x.so x", "hash -p /tmp/x ls",
    "let x=y", "coproc a", "echo ${!x}", "echo ${x@P}", "echo ${a[$i]}", "echo ${x:$n}",
    "echo $((x + 1))", "((n++))", "[[ $x -eq 1 ]]", "[[ 1 -eq x ]]", "test -v 'a[$(id)]'",
    "[[ -v $x ]]",
    "declare -n y=PATH", "declare -i n", "set -k", "shopt -s expand_aliases",
    "mapfile -C 'rm x' -c 1 a", "trap \"$x\" EXIT", "sh -c \"$script\"",
    "cat <<EOF\n`id`\nEOF", "a $\"x\"", "r\\\nm -rf x", "echo $\\\n(id)", "a\rb",
    "a[$(id)]=1", "select x in a; do b; done &&", "x=1 ; ;", "if",
])
def test_what_only_shows_at_run_time_is_opaque(script: str) -> None:
    assert opaque(script), script


@pytest.mark.parametrize("script", [
    "i=0; echo $((i + 1))", "for ((i=0; i<3; i++)); do a $i; done",
    "[[ -f x && $y == z ]]", "set -euo pipefail", "[ \"$x\" -eq 1 ] && test $y -lt 2",
    "shopt -s nullglob", "trap 'rm -f t' EXIT",
    "echo ${x:-d} ${#x} ${x%.py} ${x//a/b} ${a[@]} ${a[0]}", "a \\\n  -b",
])
def test_ordinary_scripts_are_not_opaque(script: str) -> None:
    assert opaque(script) == [], script


def test_trap_actions_are_analysed() -> None:
    assert ["rm", "-f", "t"] in argvs("trap 'rm -f t' EXIT")


def test_zsh_test_evaluates_arithmetic() -> None:
    assert opaque('[ "$x" -eq 1 ]', shell="zsh")
    assert opaque('test "$x" -eq 1', shell="zsh")
    assert not opaque('[ "$x" -eq 1 ]')


def test_zsh_expands_equals_words() -> None:
    word = analyse("a =ls", shell="zsh").commands[0].words[1]
    assert word.text is None


def test_functions_shadowing_programs_run_their_body() -> None:
    found = analyse("ls() { rm -rf ~; }; ls").commands
    assert [c.argv for c in found] == [["rm", "-rf", "~"], ["ls"]]
    assert found[1].role == "function"
    # Before the definition, the name is the program.
    assert analyse("ls; ls() { :; }").commands[0].role == "command"


def test_builtins_exist_only_inside_a_shell() -> None:
    assert analyse_command(["echo", "hi"], cwd=CWD).commands[0].role == "command"
    assert analyse("echo hi").commands[0].role == "builtin"


# -- robustness ---------------------------------------------------------------------


SHELLY = " \t\n\\'\"$`|&;()<>{}[]#~*?=!-abx0é"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(), st.text(alphabet=SHELLY, max_size=60)))
def test_no_text_raises(text: str) -> None:
    result = analyse(text)
    assert all(isinstance(c, FoundCommand) and c.words for c in result.commands)


def test_huge_and_pathological_scripts_are_opaque_quickly() -> None:
    for script in ("a|" * 20000 + "a", "`<'" * 3000, "${" * 5000, "x" * 2_000_000):
        assert opaque(script)


# -- against real bash -------------------------------------------------------------

NAMES = ["a", "b", "run-x"]
REAL = ["sh", "bash", "xargs", "timeout", "env", "cat", "true", "false"]

simple_word = st.sampled_from(["x", "-f", "'q w'", '"d q"', "1", "--opt=v", "é", "''"])


@st.composite
def commands(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(st.sampled_from(NAMES))
    words = draw(st.lists(simple_word, max_size=3))
    command = " ".join([name, *words])
    if depth >= 2:
        return command
    inner = draw(commands(depth=depth + 1))
    shape = draw(st.integers(0, 17))
    return [
        command,
        command,
        f"{command} $({inner})",
        f"{command} \"`{inner}`\"",
        f"{command} <({inner})",
        f"( {inner} ) && {command}",
        f"{{ {inner}; }} | {command}",
        f"if {inner}; then {command}; else {command} y; fi",
        f"for v in 1 2; do {inner}; done; {command}",
        f"case z in z) {inner};; esac",
        f"fn() {{ {inner}; }}; fn; {command}",
        f"x=$({inner}) {command}",
        f"{command} > /dev/null 2>&1 || {inner}",
        f"cat <<EOF\n$({inner})\nEOF\n{command}",
        f"sh -c {shell_quote(inner)}",
        f"echo q | xargs {inner}",
        f"timeout 5 {inner}",
        f"env Z=1 {inner}; {command} \"$(echo \"$({inner})\")\"",
    ][shape]


@pytest.fixture(scope="module")
def stubs() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        bin_dir = Path(tmp)
        write_stubs(bin_dir, NAMES)
        for name in [*REAL, "echo"]:
            path = shutil.which(name)
            assert path is not None, f"{name} is required"
            (bin_dir / name).symlink_to(path)
        yield bin_dir


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands())
def test_every_command_bash_runs_is_found(stubs: Path, script: str) -> None:
    analysis = analyse(script)
    assume(not any(e.kind == "opaque" for e in analysis.effects))
    found = [c.words for c in analysis.commands]
    for argv in bash_argvs(script, stubs):
        assert any(words_match(words, argv) for words in found), (argv, [c.argv for c in
                                                                    analysis.commands])


def test_bash_comparison_is_not_vacuous(stubs: Path) -> None:
    script = "a x $(b -f) && sh -c 'run-x \"q w\"' | cat"
    ran = bash_argvs(script, stubs)
    assert sorted(ran) == [["a", "x"], ["b", "-f"], ["run-x", "q w"]]
    assert all(any(words_match(c.words, argv) for c in analyse(script).commands) for argv in ran)
    assert not words_match([Word("a")], ["b"])


# -- against bashlex ------------------------------------------------------------------


def bashlex_simple_commands(script: str) -> list[list[str]] | None:
    """Word-only simple commands bashlex finds anywhere in the script."""
    try:
        trees = bashlex.parse(script)
    except Exception:
        return None
    found: list[list[str]] = []

    class Visitor(bashlex.ast.nodevisitor):  # type: ignore[misc]
        def visitcommand(self, node: object, parts: list[object]) -> None:
            words = [str(getattr(p, "word", "")) for p in parts
                     if getattr(p, "kind", "") == "word"]
            if words and all(getattr(p, "kind", "") == "word" and not getattr(p, "parts", [])
                             for p in parts):
                found.append(words)

    for tree in trees:
        Visitor().visit(tree)
    return found


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands())
def test_literal_commands_agree_with_bashlex(script: str) -> None:
    analysis = analyse(script)
    assume(not any(e.kind == "opaque" for e in analysis.effects))
    theirs = bashlex_simple_commands(script)
    assume(theirs is not None)
    assert theirs is not None
    ours = [c.argv for c in analysis.commands if all(w.text is not None for w in c.words)
            and c.parent is None]
    for argv in theirs:
        if argv[0] in ("sh", "xargs", "timeout", "env"):
            continue
        assert argv in ours or argv[0] in ("fn",), (argv, ours)


# -- tree-sitter-bash reads past a C table on non-ASCII input ------------------------

CRASH_HUNT = """
import sys
from {module} import {function}
contexts = ["{{%s", "[ -%s ]", "[[ -%s x ]]", "cat <<E\\n$%s\\nE\\n", "a -%s", "echo $%s",
            "x=%s", "%s"]
for cp in range(0x10000, 0x110000, 0x101):
    if not 0xD800 <= cp < 0xE000:
        for context in contexts:
            {function}((context % chr(cp)){encode})
print("survived")
"""


def crash_hunt(module: str, function: str, encode: str) -> subprocess.CompletedProcess[str]:
    code = CRASH_HUNT.format(module=module, function=function, encode=encode)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)


def test_non_ascii_input_cannot_crash_the_parser() -> None:
    # The scanner calls `isalpha` on code points above 255 (tree-sitter-bash
    # #337): fed to the grammar's parser as they are, these inputs end in
    # SIGSEGV in about half the runs (it depends on the address layout);
    # through `parse_tree`, which hands tree-sitter ASCII placeholders, never.
    ours = crash_hunt("execguard.execpolicy.shell", "parse_tree", ".encode()")
    assert ours.returncode == 0 and ours.stdout.strip() == "survived", ours.stderr[-2000:]
    assert analyse("echo é $'x' \U0009c7bf").commands[0].argv == [
        "echo", "é", "$'x'", "\U0009c7bf"]


def test_backticks_that_bash_reads_differently_are_opaque() -> None:
    # Found by the real-bash property: bash ended the first substitution at
    # the second backtick and ran `a 'a d' q`, which tree-sitter never showed.
    assert opaque('a "`a "`a "d q"`"`"')
    assert opaque("a `b \\`c\\``")
    assert not opaque("a `b c` \"`d`\"")
