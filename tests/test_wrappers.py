"""Wrappers: what `timeout`, `env`, `xargs`, `find -exec`, `sudo`, `bash -c`...
run (`execpolicy.wrappers`).

Commands are written as shell words (`shlex`), with three notations for
dynamic words (`execpolicy.words.Word`): ``$X`` is an unquoted expansion
(may become any number of words), ``"$X"`` a quoted one (one word), and
``pre*`` a glob (several words, each starting with ``pre``). A dynamic word
in the expected results is shown as ``PREFIX…`` when it is one word and
``PREFIX…*`` when it may be several.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from execguard.execpolicy import wrappers
from execguard.execpolicy.words import Word
from execguard.execpolicy.wrappers import Unwrapped, unwrap
from tests.shell_stubs import run_group, words_match


def words(line: str) -> list[Word]:
    """The words of ``line``: blanks split, '...' quotes literally, and a
    word with a ``$`` outside single quotes (or an unquoted ``*``) is dynamic:
    one word when its first ``$`` is inside double quotes."""
    result: list[Word] = []
    index = 0
    while index < len(line):
        if line[index] == " ":
            index += 1
            continue
        source_start = index
        text: list[str] = []
        prefix: str | None = None  # the known text before the first expansion
        single = True
        quote = ""
        while index < len(line) and (quote or line[index] != " "):
            char = line[index]
            index += 1
            if char in "'\"" and (not quote or quote == char):
                quote = "" if quote else char
                continue
            if prefix is None and quote != "'" and (char == "$" or (char == "*" and not quote)):
                prefix = "".join(text)
                single = quote == '"' and char == "$"
            text.append(char)
        source = line[source_start:index]
        result.append(Word("".join(text)) if prefix is None
                      else Word.dynamic(source, prefix=prefix, single=single))
    return result


def show(item: Word) -> str:
    if item.text is not None:
        return item.text
    return item.prefix + ("…" if item.single else "…*")


def run(line: str) -> Unwrapped:
    result = unwrap(words(line))
    assert result is not None, line
    return result


def inner(line: str) -> list[list[str]]:
    result = run(line)
    assert result.problem is None, result.problem
    return [[show(item) for item in command] for command in result.inner]


# -- the table ------------------------------------------------------------------------

# (command, inner commands, inner_offset); every row runs without a problem.
RUNS: list[tuple[str, list[list[str]], int | None]] = [
    # env
    ("env CI=1 npm test", [["npm", "test"]], 2),
    ("env -i -u X -C /tmp -- ls -l", [["ls", "-l"]], 7),
    ("env -u X -- rm", [["rm"]], 4),
    ("env PATH=/tmp/x ls", [["ls"]], 2),
    ("env - A=1 cmd", [["cmd"]], 3),
    ("env --unset=X --chdir /x ls", [["ls"]], 4),
    ("env --ignore-env ls", [["ls"]], 2),  # an abbreviation of --ignore-environment
    ("env -0v --argv0 name cmd", [["cmd"]], 4),
    ("env A=1 -i cmd", [["-i", "cmd"]], 2),  # after NAME=VALUE, env runs `-i`
    ("env -- -i", [["-i"]], 2),
    ("env", [], None),
    ("env A=1", [], None),
    ("env --help ls", [], None),
    ("/usr/bin/env X=1 make", [["make"]], 2),
    ('env "A=$X" cmd', [["cmd"]], 2),
    # timeout
    ("timeout -s KILL 5 rm -rf /", [["rm", "-rf", "/"]], 4),
    ("timeout 60 pytest", [["pytest"]], 2),
    ("timeout -k 5 --preserve-status 60 make", [["make"]], 5),
    ("timeout --signal=TERM 1m cmd", [["cmd"]], 3),
    ("timeout -sKILL -fpv 5 cmd", [["cmd"]], 4),
    ("timeout --kill 5 1 cmd", [["cmd"]], 4),  # --kill-after, abbreviated
    ("timeout --foreground -- 5 cmd", [["cmd"]], 4),
    ('timeout -s "$SIG" 5 cmd', [["cmd"]], 4),
    ('timeout -- "$T" cmd', [["cmd"]], 3),
    ('timeout "5$X" cmd', [["cmd"]], 2),
    ('timeout --signal="$S" 5 cmd', [["cmd"]], 3),
    ('timeout -sK"$S" 5 cmd', [["cmd"]], 3),
    ("timeout 5 $CMD -x", [["…*", "-x"]], 2),
    ("timeout 5", [], None),
    ("timeout --version", [], None),
    ("gtimeout 5 rm", [["rm"]], 2),
    # nice
    ("nice -n 5 -- rm", [["rm"]], 4),
    ("nice -10 make", [["make"]], 2),
    ("nice --10 make", [["make"]], 2),
    ("nice -n 5 -3 make", [["make"]], 4),
    ("nice -n5 make", [["make"]], 2),
    ("nice --adjustment=5 make", [["make"]], 2),
    ("nice", [], None),
    # nohup, stdbuf, setsid, nocache, unbuffer, xvfb-run
    ("nohup python server.py", [["python", "server.py"]], 1),
    ("nohup -- cmd", [["cmd"]], 2),
    ("nohup --help", [], None),
    ("stdbuf -oL -e0 grep x", [["grep", "x"]], 3),
    ("stdbuf -o L grep x", [["grep", "x"]], 3),
    ("stdbuf --output=L grep", [["grep"]], 2),
    ("setsid -f cmd", [["cmd"]], 2),
    ("setsid --wait -c cmd", [["cmd"]], 3),
    ("nocache cp a b", [["cp", "a", "b"]], 1),
    ("nocache -n 2 cp a b", [["cp", "a", "b"]], 3),
    ("unbuffer make", [["make"]], 1),
    ("unbuffer -p grep x", [["grep", "x"]], 2),
    ("xvfb-run -a pytest", [["pytest"]], 2),
    ("xvfb-run -s '-screen 0 1024x768x24' pytest", [["pytest"]], 3),
    ("xvfb-run --server-args=x -e /tmp/err cmd", [["cmd"]], 4),
    # ionice, chrt, taskset
    ("ionice -c 3 make", [["make"]], 3),
    ("ionice -c2 -n7 make", [["make"]], 3),
    ("ionice -p 123 456", [], None),
    ("ionice", [], None),
    ("chrt -f 10 cmd", [["cmd"]], 3),
    ("chrt --rr 5 cmd x", [["cmd", "x"]], 3),
    ("chrt -p 10 123", [], None),
    ("chrt -m", [], None),
    ("taskset 0x3 make -j2", [["make", "-j2"]], 2),
    ("taskset -c 0-3 make", [["make"]], 3),
    ("taskset -p 0x3 123", [], None),
    # time, command, builtin, exec
    ("time -o /etc/x ls", [["ls"]], 3),
    ("time -p make", [["make"]], 2),
    ("time -f '%e %M' cmd", [["cmd"]], 3),
    ("time", [], None),
    ("command ls", [["ls"]], 1),
    ("command -p ls", [["ls"]], 2),
    ("command -v rm", [], None),
    ("command -pV ls", [], None),
    ("builtin cd /tmp", [["cd", "/tmp"]], 1),
    ("builtin -- echo x", [["echo", "x"]], 2),
    ("exec -a name cmd", [["cmd"]], 3),
    ("exec -cl cmd", [["cmd"]], 2),
    ("exec -la name cmd", [["cmd"]], 3),
    ("exec", [], None),
    # flock
    ("flock /tmp/lock make", [["make"]], 2),
    ("flock -w 5 /tmp/l cmd", [["cmd"]], 4),
    ("flock --timeout=5 -x /tmp/l cmd", [["cmd"]], 4),
    ("flock 9", [], None),
    # sudo, doas, pkexec, run0
    ("sudo -u root rm", [["rm"]], 3),
    ("sudo apt install x", [["apt", "install", "x"]], 1),
    ("sudo A=1 -u root cmd", [["cmd"]], 4),
    ("sudo -- A=1 cmd", [["A=1", "cmd"]], 2),
    ("sudo /usr/bin/a=b", [["/usr/bin/a=b"]], 1),  # a path: not VAR=value
    ("sudo -k ls", [["ls"]], 2),
    ("sudo -h host ls", [["ls"]], 3),
    ("sudo --preserve-env=PATH -E ls", [["ls"]], 3),
    ("sudo -nH -g wheel -D /srv cmd", [["cmd"]], 6),
    ("sudo -l rm", [], None),
    ("sudo -e /etc/hosts", [], None),
    ("sudoedit /etc/hosts", [], None),
    ("sudo -v", [], None),
    ("sudo -k", [], None),
    ("sudo -K", [], None),
    ("sudo -V", [], None),
    ("doas -u www cmd", [["cmd"]], 3),
    ("doas -n cmd", [["cmd"]], 2),
    ("doas -C /etc/doas.conf cmd", [], None),
    ("doas -L", [], None),
    ("pkexec cmd", [["cmd"]], 1),
    ("pkexec --user root cmd", [["cmd"]], 3),
    ("pkexec --keep-cwd make", [["make"]], 2),
    ("pkexec --help", [], None),
    ("run0 make", [["make"]], 1),
    ("run0 -u root --setenv=FOO=bar make", [["make"]], 4),
    # xargs: the input is appended, or replaces the -I string
    ("xargs grep foo", [["grep", "foo", "…*"]], None),
    ("xargs -0 -n 1 rm", [["rm", "…*"]], None),
    ("xargs -I{} cp {} /tmp/{}", [["cp", "…", "/tmp/…"]], None),
    ("xargs -I X sh -c 'echo X'", [["sh", "-c", "echo …"]], None),
    ("xargs -i cp {} x", [["cp", "…", "x"]], None),
    ("xargs --replace=@ mv @ @.bak", [["mv", "…", "…"]], None),
    ("xargs -J % mv % dest", [["mv", "…*", "dest"]], None),
    ("xargs -P 4 -L 1 sh -c 'x' _", [["sh", "-c", "x", "_", "…*"]], None),
    ("xargs -d '\\n' -a files.txt rm", [["rm", "…*"]], None),
    ("xargs", [["echo", "…*"]], None),
    ("xargs -r -t -- ls", [["ls", "…*"]], None),
    ('xargs -I{} cp "p{$X" {}', [["cp", "p…", "…"]], None),
    # find: each -exec clause; {} is a path starting with the starting point
    ("find . -exec rm {} ;", [["rm", ".…"]], None),
    ("find . -execdir sh -c x ;", [["sh", "-c", "x"]], None),
    ("find src -name '*.py' -exec grep -l x {} +", [["grep", "-l", "x", "src…*"]], None),
    ("find . -exec mv {} {}.bak ;", [["mv", ".…", ".…"]], None),
    ("find -name x -exec rm {} ;", [["rm", ".…"]], None),  # GNU starts at .
    ("find a b -exec rm {} ;", [["rm", "…"]], None),
    ("find ./x ./y -exec rm {} ;", [["rm", "./…"]], None),
    ("find -L /etc -exec cat {} ;", [["cat", "/etc…"]], None),
    ("find . -ok rm {} ;", [["rm", ".…"]], None),
    ("find . -exec echo {} ; -exec rm {} +", [["echo", ".…"], ["rm", ".…*"]], None),
    ("find src/* -exec rm {} ;", [["rm", "src/…"]], None),
    ("find . -files0-from list -exec rm {} ;", [["rm", "…"]], None),
    ("find -f -dir -exec rm {} ;", [["rm", "-dir…"]], None),  # BSD -f PATH
    ('find . -exec grep "$PAT" {} +', [["grep", "…", ".…*"]], None),
    ('find "$DIR" -type f -exec rm {} +', [["rm", "…*"]], None),
    ("find . -exec cmd x{} + ;", [["cmd", "x.…", "+"]], None),  # BSD reads on past `x{} +`
    ("find . -fprintf out '%p' -exec rm {} ;", [["rm", ".…"]], None),
    ("find . -exec {} ;", [[".…"]], None),
]


@pytest.mark.parametrize(("line", "expected", "offset"), RUNS, ids=[row[0] for row in RUNS])
def test_runs(line: str, expected: list[list[str]], offset: int | None) -> None:
    result = run(line)
    assert result.problem is None, result.problem
    assert [[show(item) for item in command] for command in result.inner] == expected
    assert result.inner_offset == offset
    if offset is not None:
        assert result.inner == [words(line)[offset:]]
        assert result.outer == words(line)[:offset]


# Commands whose arguments cannot be read exactly: the caller must ask.
PROBLEMS: list[tuple[str, str]] = [
    ("env -S 'a b' c", "-S"),
    ("env --split-string=x", "-S"),
    ("env -iS x", "-S"),
    ("env -P /tmp ls", "-P"),
    ("env -L x", "unknown option -L"),
    ("env =x ls", "sets no variable"),
    ("env --ignore ls", "ambiguous"),  # --ignore-environment or --ignore-signal
    ("env $X rm", "may be an option"),
    ("env A=$X rm", "several words"),
    ("timeout -x 5 cmd", "unknown option -x"),
    ('timeout "$OPT" cmd', "may be an option"),
    ("timeout -- $T cmd", "several words"),
    ('timeout -s"$S" 5 cmd', "may be an option"),
    ("timeout -s", "needs a value"),
    ("timeout --foreground=1 5 cmd", "takes no value"),
    ("nice -x make", "unknown option"),
    ("nohup -p cmd", "unknown option"),
    ("chrt -o cmd args", "priority or the command"),
    ('chrt -f -- "$P" cmd', "priority or the command"),
    ('chrt -f "$P" cmd', "may be an option"),
    ("command -x ls", "unknown option"),
    ("builtin -x", "unknown option"),
    ("unbuffer -ignore INT cmd", "spawn"),
    ("flock /tmp/l -c a b", "exactly one"),
    ("sudo -s ls", "shell"),
    ("sudo -i", "shell"),
    ("sudo", "interactive shell"),
    ("sudo -u root", "interactive shell"),
    ("sudo -Z ls", "unknown option"),
    ("doas -s", "shell"),
    ("su root", "interactive shell"),
    ("su -s /bin/zsh -c x", "-s"),
    ("su root -- -c x", "user's shell"),
    ("su -x", "unknown option"),
    ("pkexec", "interactive shell"),
    ("pkexec -x cmd", "may be an option"),
    ("run0", "interactive shell"),
    ("run0 --property=ExecStartPre=/x cmd", "--property"),
    ('run0 --setenv="$X" cmd', "unknown variable"),
    ("xargs -I {} -n 2 cp {} x", "GNU and BSD"),
    ('xargs -I "$R" cp', "empty or not known"),
    ("xargs -I '' cp", "empty or not known"),
    ("xargs --process-slot-var=LD_PRELOAD cmd", "LD_PRELOAD"),
    ('xargs -J % mv "$A" %', "-J string"),
    ("xargs -n $N cmd", "several words"),
    ("find . -exec rm {}", "terminating"),
    ("find . -exec ;", "empty command"),
    ('find . -exec echo "$X" -exec rm -rf {} +', "end the -exec command early"),
    ('find . -exec echo "$X" + -o -exec rm {} ;', "end the -exec command early"),
    ('find . "$X" rm -rf / ;', "may be -exec"),
    ("find $DIRS -name x", "-exec clause"),
    ("find . -name $N -o -print", "-exec clause"),
    ("bash -O expand_aliases -c x", "-O"),
    ("bash +O x -c y", "+O"),
    ("bash -i -c x", "-i"),
    ("bash -ic x", "-i"),
    ("bash --rcfile f -c x", "--rcfile"),
    ("bash --init-file f -c x", "--init-file"),
    ("bash --debugger -c x", "--debugger"),
    ("bash -x --norc -c x", "--norc"),
    ("bash -Z -c x", "-Z"),
    ("bash +c x", "+c"),
    ("bash $OPTS -c x", "may be an option"),
    ("bash -o", "needs a value"),
    ('bash "$X" x', "may be an option"),
]


@pytest.mark.parametrize(("line", "reason"), PROBLEMS, ids=[row[0] for row in PROBLEMS])
def test_problems(line: str, reason: str) -> None:
    result = run(line)
    assert result.problem is not None
    assert reason in result.problem, result.problem
    assert result.inner == [] and result.scripts == []
    assert result.outer == words(line)


# Shell scripts run by the wrapper: (command, scripts, outer).
SCRIPTS: list[tuple[str, list[str], str]] = [
    ("bash -euxc 'echo hi' _ a b", ["echo hi"], "bash -euxc _ a b"),
    ("bash -c 'x'", ["x"], "bash -c"),
    ("sh -c x", ["x"], "sh -c"),
    ("/bin/sh -c x", ["x"], "/bin/sh -c"),
    ("zsh -lc x", ["x"], "zsh -lc"),
    ("dash -c x", ["x"], "dash -c"),
    ("/usr/bin/dash -ec x", ["x"], "/usr/bin/dash -ec"),
    ("bash -o pipefail -ec x", ["x"], "bash -o pipefail -ec"),
    ("bash -eo pipefail -c x", ["x"], "bash -eo pipefail -c"),
    ("bash +o posix -c x", ["x"], "bash +o posix -c"),
    ("bash --norc --noprofile -l -c x", ["x"], "bash --norc --noprofile -l -c"),
    ("bash -c -- x", ["x"], "bash -c --"),
    ("bash -c -x 'echo'", ["echo"], "bash -c -x"),
    ('bash -c "$CMD"', ["…"], "bash -c"),
    ("bash -c $CMD x", ["…*"], "bash -c x"),
    ("flock -n /tmp/lock -c 'make all'", ["make all"], "flock -n /tmp/lock -c"),
    ("watch -n 1 'ls; rm -rf x'", ["ls; rm -rf x"], "watch -n 1"),
    ("watch ls -l", ["ls -l"], "watch"),
    ("watch -d ls $DIR", ["ls…"], "watch -d"),
    ('watch ls "$DIR" x', ["ls …"], "watch"),
    ("su - root -c id", ["id"], "su - root -c"),
    ("su -c 'make install'", ["make install"], "su -c"),
    ("su root -c x", ["x"], "su root -c"),
    ("su --command=x -l user", ["x"], "su -l user"),
    ("su -cx", ["x"], "su"),
]


@pytest.mark.parametrize(("line", "scripts", "outer"), SCRIPTS, ids=[row[0] for row in SCRIPTS])
def test_scripts(line: str, scripts: list[str], outer: str) -> None:
    result = run(line)
    assert result.problem is None, result.problem
    assert [show(item) for item in result.scripts] == scripts
    assert result.inner == []
    assert result.outer == words(outer)


NOT_WRAPPERS = [
    "ls -l", "git status", "bash script.sh", "bash -s", "bash", "sh -x script.sh",
    "bash --version", "./bash -c x", "/tmp/bash -c x", "/usr/local/bin/sh -c x",
    "find . -name x", "find . -name -exec -print", "rm -rf /", "$X rm", "timeout/ 5 rm",
]


@pytest.mark.parametrize("line", NOT_WRAPPERS)
def test_not_wrappers(line: str) -> None:
    assert unwrap(words(line)) is None


def test_empty_argv() -> None:
    assert unwrap([]) is None


# -- details of single wrappers ---------------------------------------------------------


def test_wrapper_names() -> None:
    assert run("timeout 5 x").wrapper == "timeout"
    assert run("/usr/bin/env x").wrapper == "env"
    assert run("find . -exec x ;").wrapper == "find -exec"
    assert run("bash -c x").wrapper == "bash -c"
    assert run("zsh -c x").wrapper == "zsh -c"
    assert run("sudo x").wrapper == "sudo"


def test_env_assignments() -> None:
    result = run("env -u X PATH=/tmp/x A=1=2 ls")
    assert result.assignments == [("PATH", Word("/tmp/x")), ("A", Word("1=2"))]
    dynamic = run('env "A=$X" cmd').assignments
    assert [(name, show(value)) for name, value in dynamic] == [("A", "…")]


def test_sudo_elevates_and_assigns() -> None:
    result = run("sudo LD_PRELOAD=/x.so -u root ls")
    assert result.elevates
    assert result.assignments == [("LD_PRELOAD", Word("/x.so"))]
    for line in ("sudo -l", "sudoedit f", "doas x", "su -c x", "pkexec x", "run0 x", "sudo",
                 "sudo --help"):
        assert run(line).elevates, line
    for line in ("timeout 5 x", "env x", "bash -c x", "xargs x"):
        assert not run(line).elevates, line


def test_run0_setenv() -> None:
    result = run("run0 --setenv=FOO=bar --setenv BAR ls")
    assert [(name, show(value)) for name, value in result.assignments] == [
        ("FOO", "bar"), ("BAR", "…")]


def test_xargs_process_slot_var() -> None:
    result = run("xargs --process-slot-var=SLOT cmd")
    assert [(name, show(value)) for name, value in result.assignments] == [("SLOT", "…")]


def test_xargs_outer_is_its_options() -> None:
    assert run("xargs -0 -n 1 rm -f").outer == words("xargs -0 -n 1")


def test_find_outer_drops_the_clauses() -> None:
    result = run("find src -name '*.py' -exec grep -l x {} + -print")
    assert result.outer == words("find src -name '*.py' -print")


@pytest.mark.parametrize(("gnu", "line", "expected"), [
    (True, "find -L /etc -execdir cat {} ;", [["cat", "./…"]]),
    (True, "find . -execdir rm {} +", [["rm", "./…*"]]),
    (True, "find / -execdir ls {} ;", [["ls", "…"]]),  # the root's name is `/`
    (True, 'find "$D" -execdir ls {} ;', [["ls", "…"]]),
    (True, "find a -files0-from f -execdir ls {} ;", [["ls", "…"]]),
    (False, "find . -execdir cat {} ;", [["cat", "…"]]),  # BSD: the bare name
])
def test_find_execdir(monkeypatch: pytest.MonkeyPatch, gnu: bool, line: str,
                      expected: list[list[str]]) -> None:
    monkeypatch.setattr(wrappers, "GNU_FIND", gnu)
    assert inner(line) == expected


def test_find_placeholders_are_dynamic_paths() -> None:
    result = run("find . -exec mv {} {}.bak ;")
    target = result.inner[0][2]
    assert target.text is None and target.single and target.prefix == "."
    plus = run("find src -exec rm {} +").inner[0][-1]
    assert plus.text is None and not plus.single and plus.prefix == "src"
    # `--` ends find's options: `sub` is the starting point (found by the
    # differential test against the real find).
    after = run("find -- sub -exec rm {} +").inner[0][-1]
    assert after.prefix == "sub"


def test_xargs_replacement_prefixes() -> None:
    command = run("xargs -I{} cp {} /tmp/{}").inner[0]
    assert [(item.text, item.prefix, item.single) for item in command] == [
        ("cp", "cp", True), (None, "", True), (None, "/tmp/", True)]
    appended = run("xargs grep foo").inner[0][-1]
    assert appended == Word.dynamic(wrappers.XARGS_INPUT, single=False)


def test_dynamic_program_stays_in_the_inner_command() -> None:
    result = run("timeout 5 $CMD -x")
    assert result.inner[0][0].text is None
    assert run('sudo -- "$X" rm').inner == [words('"$X" rm')]


def test_nested_wrappers_unwrap_one_level_at_a_time() -> None:
    first = run("sudo timeout 5 env X=1 bash -c 'rm -rf /'")
    second = unwrap(first.inner[0])
    assert second is not None and second.wrapper == "timeout"
    third = unwrap(second.inner[0])
    assert third is not None and third.assignments == [("X", Word("1"))]
    fourth = unwrap(third.inner[0])
    assert fourth is not None and fourth.scripts == [Word("rm -rf /")]


def test_help_runs_nothing() -> None:
    for line in ("env --help", "timeout --help 5 rm", "flock -h", "watch -v", "xargs --version",
                 "ionice -h", "setsid -V", "time -V", "sudo -V"):
        result = run(line)
        assert result.inner == [] and result.problem is None, line


def test_an_exception_becomes_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str, argv: Sequence[Word]) -> Unwrapped:
        raise IndexError(name)

    monkeypatch.setitem(wrappers._PARSERS, "timeout", broken)
    result = run("timeout 5 rm")
    assert result.problem is not None and "timeout" in result.problem
    assert result.inner == []


def test_every_wrapper_has_a_row() -> None:
    lines = [row[0] for row in RUNS] + [row[0] for row in PROBLEMS] + [
        row[0] for row in SCRIPTS]
    covered = {line.split()[0].rpartition("/")[2] for line in lines}
    assert wrappers.WRAPPERS - {"g" + name for name in (
        "env", "nice", "nohup", "stdbuf", "time", "xargs", "find")} <= covered


# -- property: nothing is invented, nothing raises ----------------------------------------

TOKENS = [
    "-", "--", "-c", "-e", "-i", "-n", "-o", "-p", "-s", "-u", "-x", "-I", "-J", "-k", "-l",
    "-v", "-h", "-0", "-exec", "-execdir", "-ok", "-name", "-O", "-S", "-euxc", "-lc", "+O",
    "--help", "--signal=KILL", "--user", "--setenv=A=1", "--replace", "--command",
    "{}", "x{}", ";", "+", "=", "A=1", "PATH=/x", "5", "rm", "-rf", "/", "root", "cmd",
    "sh", "bash", "env", "echo hi", "", "%", "@",
]


@st.composite
def dynamic_words(draw: st.DrawFn) -> Word:
    prefix = draw(st.sampled_from(["", "-", "--", "-e", "x", "{", "/tmp/", ";", "--signal="]))
    return Word.dynamic("$" + prefix, prefix=prefix, single=draw(st.booleans()))


argvs = st.tuples(
    st.sampled_from([*sorted(wrappers.WRAPPERS), "/bin/bash", "/usr/bin/env", "sudoedit"]),
    st.lists(st.one_of(st.sampled_from(TOKENS).map(Word), dynamic_words(),
                       st.text(max_size=4).map(Word)), max_size=10),
).map(lambda pair: [Word(pair[0]), *pair[1]])


@settings(max_examples=1000, deadline=None)
@given(argvs)
def test_unwrap_invents_nothing(argv: list[Word]) -> None:
    result = unwrap(argv)
    if result is None:
        return
    assert isinstance(result, Unwrapped)
    for item in result.outer:
        assert item in argv
    for command in result.inner:
        for item in command:
            # A word of the input, a placeholder for what the wrapper fills
            # in (dynamic), or the echo xargs runs without a command.
            assert item in argv or item.text is None or (
                result.wrapper.endswith("xargs") and item == Word("echo")), item
    for script in result.scripts:
        assert script in argv or result.wrapper.endswith("watch"), script
    for _, value in result.assignments:
        assert isinstance(value, Word)
    if result.problem is not None:
        assert result.inner == [] and result.scripts == [] and result.outer == argv
    if result.inner_offset is not None:
        assert result.inner == [argv[result.inner_offset:]]
        assert result.outer == argv[:result.inner_offset]


def _fields(result: Unwrapped) -> dict[str, Any]:
    return {name: getattr(result, name) for name in Unwrapped.__slots__}


def test_unwrapped_is_a_value() -> None:
    result = run("timeout 5 rm")
    assert _fields(result)["wrapper"] == "timeout"
    assert result == run("timeout 5 rm")
    with pytest.raises(AttributeError):
        result.wrapper = "x"


# -- property: the real programs run what unwrap says ---------------------------------
#
# Each wrapper installed here is run with words drawn from a pool of its
# options and values and a stub program that records its argv. Whenever the
# stub ran, unwrap must have said so: a problem (the caller asks), an inner
# command matching the recorded argv (dynamic words matching what find and
# xargs filled in), or a script that is exactly `stub ARGS`. Options that
# touch other processes (-p PID) or wait for input are left out of the pools.

STUB = "stubcmd"
COMMON = [STUB, STUB, "x", "5", "--", "-", "A=1", f"{STUB} s1", f"{STUB} s2"]
POOLS: dict[str, list[str]] = {
    "env": ["-i", "-u", "X", "-0", "-C", "/", "--unset=Y", "--chdir=/", "-v", "--debug",
            "--ignore-environment", "-S", "--block-signal", "INT", "--default-signal=INT",
            "-a", "name", "-iu", "--un", "B=2=3"],
    "timeout": ["-s", "KILL", "-k", "1", "--preserve-status", "--foreground", "-v",
                "--signal=TERM", "-sTERM", "--kill-after", "--kill=1", "-f", "-p", "-vs",
                "--sig", "TERM"],
    "nice": ["-n", "-5", "--5", "-+5", "--adjustment=3", "-n5", "--adj", "3", "-n-1"],
    "nohup": ["--help", "-n"],
    "stdbuf": ["-o", "L", "-oL", "-e0", "-i", "0", "--output=L", "--err", "0", "-eL"],
    "xargs": ["-n", "1", "2", "-I", "{}", "-i", "-iX", "X", "-L", "-r", "-t", "-P", "-d", ",",
              "-E", "EOF", "-e", "-x", "-s", "100", "--max-args=1", "--replace", "a{}", "-0",
              "--null", "-l", "-a", "/dev/null", "--delimiter", " "],
    "find": [".", ".", "sub", "sub/", "-name", "*", "f1", "-exec", "-execdir", "{}", "x{}",
             ";", "+", "-print", "-o", "-type", "f", "-maxdepth", "1", "!", "-L", "-true",
             "-prune", "/dev/null"],
    "flock": ["-n", "-x", "-s", "-w", "1", "-E", "3", "--timeout=1", "LOCK", "LOCK", "-c",
              "-o", "--nb", "-u"],
    "taskset": ["0x1", "1", "-c", "0", "-a", "--cpu-list", "0-0"],
    "ionice": ["-c", "2", "3", "-n", "7", "-c2", "-t", "--class", "best-effort"],
    "chrt": ["-o", "-b", "-i", "0", "1", "-r", "-v", "-R", "-a", "--other", "--idle"],
    "bash": ["-c", "-e", "-u", "-x", "-o", "pipefail", "-l", "--norc", "--noprofile", "-ec",
             "-lc", "+e", "_", "-cx", "-oc", "errexit"],
    "dash": ["-c", "-e", "-u", "-x", "-ec", "+u", "_", "-o", "errexit"],
}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # Not a skip: the project's CI is Debian; elsewhere this must fail loudly.
    assert sys.platform.startswith("linux"), (
        "the pools are written for GNU coreutils, findutils and util-linux")
    root = tmp_path_factory.mktemp("wrappers")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    record = root / "record"
    stub = bin_dir / STUB
    stub.write_text(f"#!/bin/sh\nfor a in \"$@\"; do printf '%s\\037' \"$a\"; done >> {record}\n"
                    f"printf '\\036' >> {record}\n")
    stub.chmod(0o755)
    work = root / "work"
    (work / "sub").mkdir(parents=True)
    (work / "f1").write_text("")
    (work / "sub" / "f2").write_text("")
    yield root


def explained(result: Unwrapped, ran: list[str]) -> bool:
    if any(words_match(command, [STUB, *ran]) for command in result.inner):
        return True
    return any(script.text == " ".join([STUB, *ran]) for script in result.scripts)


# Words that often sit between a wrapper's options and its command.
GLUE: dict[str, list[str]] = {
    "timeout": ["5", "5", ""],
    "chrt": ["0", ""],
    "taskset": ["0x1", ""],
    "flock": ["LOCK", "LOCK -c", ""],
    "find": ["-exec", "-execdir", ". -exec", "sub -execdir", "-o -exec", "-name f1 -exec"],
    "bash": ["-c", "-ec", ""],
    "dash": ["-c", ""],
}
# Words that often end the command: find's terminators.
ENDS: dict[str, list[str]] = {"find": [";", "{} +", "{} ;", "x{} ;", "", "{} + -print"]}


@st.composite
def real_cases(draw: st.DrawFn) -> list[str]:
    """A wrapper, its options, then (mostly) the stub and its arguments."""
    program = draw(st.sampled_from(sorted(POOLS)))
    pool = POOLS[program] + COMMON
    if draw(st.integers(0, 3)) == 0:
        return [program, *draw(st.lists(st.sampled_from(pool), max_size=8))]
    head = draw(st.lists(st.sampled_from([*POOLS[program], "5", "--"]), max_size=5))
    glue = draw(st.sampled_from(GLUE.get(program, [""]))).split()
    command = f"{STUB} s1" if program in ("bash", "dash") else STUB
    tail = draw(st.lists(st.sampled_from(pool), max_size=4))
    end = draw(st.sampled_from(ENDS.get(program, [""]))).split()
    return [program, *head, *glue, command, *tail, *end]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(real_cases())
def test_real_programs_run_what_unwrap_says(sandbox: Path, case: list[str]) -> None:
    program = case[0]
    assume(shutil.which(program) is not None)
    lock = str(sandbox / "lockfile")
    argv = [lock if token == "LOCK" else token for token in case]
    record = sandbox / "record"
    record.unlink(missing_ok=True)
    environ = {"PATH": f"{sandbox / 'bin'}:/usr/bin:/bin", "LC_ALL": "C"}
    assume(run_group(argv, cwd=sandbox / "work", env=environ, input=b"a b\nc\n", timeout=5))
    runs = record.read_text().split("\036")[:-1] if record.exists() else []
    result = unwrap([Word(item) for item in argv])
    if result is None:
        # Only find without -exec and a shell without -c are no wrappers:
        # find then runs nothing, and a shell is judged as a program.
        assert program in ("bash", "dash") or not runs, (argv, runs)
        return
    if result.problem is not None:
        return
    for run_ in runs:
        ran = run_.split("\037")[:-1]
        assert explained(result, ran), (argv, ran, result)


def test_words_match() -> None:
    pattern = [Word("rm"), Word.dynamic("{}", prefix="./", single=False), Word("x")]
    assert words_match(pattern, ["rm", "./a", "./b", "x"])
    assert words_match(pattern, ["rm", "x"])
    assert not words_match(pattern, ["rm", "a", "x"])
    assert not words_match([Word.dynamic("$x", prefix="", single=True)], [])
    assert os.sep == "/"
