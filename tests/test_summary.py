"""Command summaries for the approval UI (execpolicy/summary.py, spec §11).

Rows marked "upstream" are the reference's own `parse_command` tests
(openai/codex, codex-rs/shell-command/src/parse_command.rs) with their
expected values; the others are the spec's rules, one row each.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from execguard.execpolicy.render import split_example
from execguard.execpolicy.summary import (
    CommandAction,
    ListFilesCommand,
    ReadCommand,
    SearchCommand,
    UnknownCommand,
    _is_small_formatting_command,
    _shlex_join,
    _short_display_path,
    summarize_command,
)

# --- a stand-in for the shell module's plain-script splitter (§3.2) ---------
#
# Just enough of the word-only grammar for these tests: words, '…' and "…"
# (content kept raw), concatenations, and the connectors && || | ; and
# newlines. Everything else the real parser rejects (redirects, expansions,
# subshells, assignments, quoted command names, empty positions) gives None.

_REJECTED = frozenset("&<>()`$\\{}")
_WORD_END = frozenset(" \t\n&|;<>()")


def plain_commands(script: str) -> list[list[str]] | None:
    commands: list[list[str]] = []
    current: list[str] = []
    after_operator = False  # `&&`/`||`/`|` need a command after them
    i, n = 0, len(script)
    while i < n:
        c = script[i]
        if c in " \t":
            i += 1
        elif c == "\n" or c == ";" or c == "|" or script.startswith("&&", i):
            op = "&&" if c == "&" else "||" if script.startswith("||", i) else c
            if op == "|" and script.startswith("|&", i):
                return None
            if not current:
                if op == "\n":  # blank line, or a line break after `&&`
                    i += 1
                    continue
                return None  # empty command position (`&& ls`, `ls ;; x`, `| |`)
            commands.append(current)
            current = []
            after_operator = op in ("&&", "||", "|")
            i += len(op)
        elif c in _REJECTED or c == "#":  # `#` starting a word is a comment
            return None
        else:
            word: list[str] = []
            quoted = False
            while i < n and script[i] not in _WORD_END:
                c = script[i]
                if c == "'":
                    end = script.find("'", i + 1)
                    if end < 0:
                        return None
                    word.append(script[i + 1 : end])
                    quoted, i = True, end + 1
                elif c == '"':
                    j = i + 1
                    while j < n and script[j] != '"':
                        j += 2 if script[j] == "\\" else 1
                    if j >= n:
                        return None
                    content = script[i + 1 : j]
                    if "$" in content or "`" in content:
                        return None
                    word.append(content)
                    quoted, i = True, j + 1
                elif c in _REJECTED:
                    return None
                else:
                    word.append(c)
                    i += 1
            if not current and (quoted or "=" in "".join(word)):
                return None  # quoted command name / variable assignment
            current.append("".join(word))
            after_operator = False
    if current:
        commands.append(current)
    elif after_operator:
        return None  # trailing `&&`
    return commands


def test_stand_in_splitter() -> None:
    assert plain_commands("ls && pwd; echo 'hi there' | wc -l") == [
        ["ls"], ["pwd"], ["echo", "hi there"], ["wc", "-l"]]
    assert plain_commands('rg -n "foo" -g"*.py"') == [["rg", "-n", "foo", "-g*.py"]]
    assert plain_commands('echo "\\n"') == [["echo", "\\n"]]
    assert plain_commands("ls\n\ncat x\n") == [["ls"], ["cat", "x"]]
    assert plain_commands("") == []
    for bad in ("ls > out", "echo $HOME", "(ls)", "FOO=1 ls", "'ls' x", "ls &&", "&& ls",
                "ls ;; pwd", "ls | | wc", "a & b", 'echo "$(pwd)"', "ls # c"):
        assert plain_commands(bad) is None, bad


# --- helpers -------------------------------------------------------------------


def R(cmd: str, name: str, path: str) -> ReadCommand:
    return ReadCommand(cmd=cmd, name=name, path=path)


def L(cmd: str, path: str | None = None) -> ListFilesCommand:
    return ListFilesCommand(cmd=cmd, path=path)


def S(cmd: str, query: str | None = None, path: str | None = None) -> SearchCommand:
    return SearchCommand(cmd=cmd, query=query, path=path)


def U(cmd: str) -> UnknownCommand:
    return UnknownCommand(cmd=cmd)


def words(text: str) -> list[str]:
    """The reference tests' ``shlex_split_safe``."""
    split = split_example(text)
    return text.split() if split is None else split


def bash(script: str, shell: str = "bash", flag: str = "-lc") -> list[str]:
    return [shell, flag, script]


def summarize(argv: list[str]) -> list[CommandAction]:
    return summarize_command(argv, split_script=plain_commands)


def check(argv: list[str], expected: list[Any]) -> None:
    assert summarize(argv) == expected


# --- the reference's parse_command tests --------------------------------------

XARGS_PERL = (
    "rg -l QkBindingController presentation/src/main/java | "
    "xargs perl -pi -e 's/QkBindingController/QkController/g'"
)
PRINTF_CAT = 'printf "\\n===== ansi-escape/Cargo.toml =====\\n"; cat -- ansi-escape/Cargo.toml'

UPSTREAM: list[Any] = [
    pytest.param(["git", "status"], [U("git status")], id="git_status_is_unknown"),
    pytest.param(words("git grep TODO src"), [S("git grep TODO src", "TODO", "src")],
                 id="git_grep"),
    pytest.param(words("git grep -l TODO src"), [S("git grep -l TODO src", "TODO", "src")],
                 id="git_grep_l"),
    pytest.param(words("git ls-files"), [L("git ls-files")], id="git_ls_files"),
    pytest.param(words("git ls-files src"), [L("git ls-files src", "src")],
                 id="git_ls_files_path"),
    pytest.param(words("git ls-files --exclude target src"),
                 [L("git ls-files --exclude target src", "src")], id="git_ls_files_exclude"),
    pytest.param(bash("git status | wc -l"), [U("git status | wc -l")], id="handles_git_pipe_wc"),
    pytest.param(bash("echo foo > bar"), [U("echo foo > bar")], id="bash_lc_redirect_not_quoted"),
    pytest.param(
        bash("rg --version && node -v && pnpm -v && rg --files | wc -l && rg --files | head -n 40"),
        [U("rg --version && node -v && pnpm -v && rg --files | wc -l && rg --files | head -n 40")],
        id="handles_complex_bash_command_head"),
    pytest.param(bash('rg -n "navigate-to-route" -S'),
                 [S("rg -n navigate-to-route -S", "navigate-to-route")],
                 id="supports_searching_for_navigate_to_route"),
    pytest.param(bash('rg -n "BUG|FIXME|TODO|XXX|HACK" -S | head -n 200'),
                 [S("rg -n 'BUG|FIXME|TODO|XXX|HACK' -S", "BUG|FIXME|TODO|XXX|HACK")],
                 id="handles_complex_bash_command"),
    pytest.param(bash("rg --files webview/src | sed -n"), [L("rg --files webview/src", "webview")],
                 id="supports_rg_files_with_path_and_pipe"),
    pytest.param(bash("rg --files | head -n 50"), [L("rg --files")],
                 id="supports_rg_files_then_head"),
    pytest.param(bash(XARGS_PERL), [U(XARGS_PERL)], id="keeps_mutating_xargs_pipeline"),
    pytest.param(
        words(XARGS_PERL),
        [U("rg -l QkBindingController presentation/src/main/java '|' "
           "xargs perl -pi -e s/QkBindingController/QkController/g")],
        id="collapses_plain_pipeline_when_any_stage_is_unknown"),
    pytest.param(words("rg --files | nl -ba | foo"), [U("rg --files '|' nl -ba '|' foo")],
                 id="collapses_pipeline_with_helper_when_later_stage_is_unknown"),
    *[
        pytest.param(words(f"{tool} {flag} TODO src"),
                     [S(f"{tool} {flag} TODO src", "TODO", "src")],
                     id=f"files_with_matches_{tool}_{flag}")
        for tool, flag in [
            ("rg", "-l"), ("rg", "--files-with-matches"), ("rg", "-L"),
            ("rg", "--files-without-match"), ("rga", "-l"),
            ("grep", "-l"), ("grep", "--files-with-matches"), ("grep", "-L"),
            ("grep", "--files-without-match"), ("ag", "-l"), ("ack", "-l"), ("pt", "-l"),
            ("egrep", "-R"), ("fgrep", "-l"),
        ]
    ],
    pytest.param(bash("cat webview/README.md"),
                 [R("cat webview/README.md", "README.md", "webview/README.md")], id="supports_cat"),
    pytest.param(bash("cat README.md", "zsh"), [R("cat README.md", "README.md", "README.md")],
                 id="zsh_lc_supports_cat"),
    pytest.param(bash("bat --theme TwoDark README.md"),
                 [R("bat --theme TwoDark README.md", "README.md", "README.md")], id="supports_bat"),
    pytest.param(bash("batcat README.md"), [R("batcat README.md", "README.md", "README.md")],
                 id="supports_batcat"),
    pytest.param(bash("less -p TODO README.md"),
                 [R("less -p TODO README.md", "README.md", "README.md")], id="supports_less"),
    pytest.param(bash("more README.md"), [R("more README.md", "README.md", "README.md")],
                 id="supports_more"),
    pytest.param(words("cd foo && cat foo.txt"), [R("cat foo.txt", "foo.txt", "foo/foo.txt")],
                 id="cd_then_cat_is_single_read"),
    pytest.param(words("cd -- -weird && cat foo.txt"),
                 [R("cat foo.txt", "foo.txt", "-weird/foo.txt")],
                 id="cd_with_double_dash_then_cat_is_read"),
    pytest.param(words("cd dir1 dir2 && cat foo.txt"),
                 [R("cat foo.txt", "foo.txt", "dir2/foo.txt")],
                 id="cd_with_multiple_operands_uses_last"),
    pytest.param(words("bash -lc 'cd foo && bar'"), [U("cd foo && bar")],
                 id="bash_cd_then_bar_is_same_as_bar"),
    pytest.param(words("bash -lc 'cd foo && cat foo.txt'"),
                 [R("cat foo.txt", "foo.txt", "foo/foo.txt")], id="bash_cd_then_cat_is_read"),
    pytest.param(bash("ls -la | sed -n '1,120p'"), [L("ls -la")], id="supports_ls_with_pipe"),
    pytest.param(words("eza --color=always src"), [L("eza '--color=always' src", "src")],
                 id="eza"),
    pytest.param(words("exa -I target ."), [L("exa -I target .", ".")], id="exa"),
    pytest.param(words("tree -L 2 src"), [L("tree -L 2 src", "src")], id="tree"),
    pytest.param(words("du -d 2 ."), [L("du -d 2 .", ".")], id="du"),
    pytest.param(bash("head -n 50 Cargo.toml"),
                 [R("head -n 50 Cargo.toml", "Cargo.toml", "Cargo.toml")], id="supports_head_n"),
    pytest.param(bash("head Cargo.toml"), [R("head Cargo.toml", "Cargo.toml", "Cargo.toml")],
                 id="supports_head_file_only"),
    pytest.param(bash("cat tui/Cargo.toml | sed -n '1,200p'"),
                 [R("cat tui/Cargo.toml | sed -n '1,200p'", "Cargo.toml", "tui/Cargo.toml")],
                 id="supports_cat_sed_n"),
    pytest.param(bash("tail -n +522 README.md"),
                 [R("tail -n +522 README.md", "README.md", "README.md")],
                 id="supports_tail_n_plus"),
    pytest.param(bash("tail -n 30 README.md"),
                 [R("tail -n 30 README.md", "README.md", "README.md")],
                 id="supports_tail_n_last_lines"),
    pytest.param(bash("tail README.md"), [R("tail README.md", "README.md", "README.md")],
                 id="supports_tail_file_only"),
    pytest.param(["npm", "run", "build"], [U("npm run build")],
                 id="supports_npm_run_build_is_unknown"),
    pytest.param(["grep", "-R", "CODEX_SANDBOX_ENV_VAR", "-n", "."],
                 [S("grep -R CODEX_SANDBOX_ENV_VAR -n .", "CODEX_SANDBOX_ENV_VAR", ".")],
                 id="supports_grep_recursive_current_dir"),
    pytest.param(["grep", "-R", "CODEX_SANDBOX_ENV_VAR", "-n", "core/src/spawn.rs"],
                 [S("grep -R CODEX_SANDBOX_ENV_VAR -n core/src/spawn.rs",
                    "CODEX_SANDBOX_ENV_VAR", "spawn.rs")],
                 id="supports_grep_recursive_specific_file"),
    pytest.param(words("grep -R src/main.rs -n ."),
                 [S("grep -R src/main.rs -n .", "src/main.rs", ".")],
                 id="supports_grep_query_with_slashes_not_shortened"),
    pytest.param(words("grep -R COD`EX_SANDBOX -n"),
                 [S("grep -R 'COD`EX_SANDBOX' -n", "COD`EX_SANDBOX")],
                 id="supports_grep_weird_backtick_in_query"),
    pytest.param(words("cd codex-rs && rg --files"), [L("rg --files")],
                 id="supports_cd_and_rg_files"),
    pytest.param(bash('cd /Users/pakrym/code/codex && rg -n "codex_api" codex-rs -S | head -n 50'),
                 [S("rg -n codex_api codex-rs -S", "codex_api", "codex-rs")],
                 id="supports_single_string_script_with_cd_and_pipe"),
    pytest.param(bash("python -c \"import os; print(os.listdir('.'))\""),
                 [L("python -c \"import os; print(os.listdir('.'))\"")],
                 id="supports_python_walks_files"),
    pytest.param(bash("python3 -c \"import glob; print(glob.glob('*.rs'))\""),
                 [L("python3 -c \"import glob; print(glob.glob('*.rs'))\"")],
                 id="supports_python3_walks_files"),
    pytest.param(bash("python -c \"print('hello')\""), [U("python -c \"print('hello')\"")],
                 id="python_without_file_walk_is_unknown"),
    pytest.param(bash("nl -ba core/src/parse_command.rs | sed -n '1200,1720p'"),
                 [R("nl -ba core/src/parse_command.rs | sed -n '1200,1720p'",
                    "parse_command.rs", "core/src/parse_command.rs")],
                 id="supports_nl_then_sed_reading"),
    pytest.param(bash("sed -n '2000,2200p' tui/src/history_cell.rs"),
                 [R("sed -n '2000,2200p' tui/src/history_cell.rs", "history_cell.rs",
                    "tui/src/history_cell.rs")], id="supports_sed_n"),
    pytest.param(bash("awk '{print $1}' Cargo.toml"),
                 [R("awk '{print $1}' Cargo.toml", "Cargo.toml", "Cargo.toml")],
                 id="supports_awk_with_file"),
    pytest.param(bash(PRINTF_CAT),
                 [R("cat -- ansi-escape/Cargo.toml", "Cargo.toml", "ansi-escape/Cargo.toml")],
                 id="filters_out_printf"),
    pytest.param(bash("yes | rg --files"), [L("rg --files")], id="drops_yes_in_pipelines"),
    pytest.param(words("sed -n '260,640p' exec/src/event_processor_with_human_output.rs | nl -ba"),
                 [R("sed -n '260,640p' exec/src/event_processor_with_human_output.rs",
                    "event_processor_with_human_output.rs",
                    "exec/src/event_processor_with_human_output.rs")],
                 id="supports_sed_n_then_nl_as_search"),
    pytest.param(words("yes | rg -n 'foo bar' -S"), [S("rg -n 'foo bar' -S", "foo bar")],
                 id="preserves_rg_with_spaces"),
    pytest.param(words("ls -I '*.test.js'"), [L("ls -I '*.test.js'")], id="ls_with_glob"),
    pytest.param(words("true && rg --files"), [L("rg --files")], id="strips_true_in_sequence"),
    pytest.param(words("rg --files && true"), [L("rg --files")], id="strips_true_in_sequence_2"),
    pytest.param(bash("true && rg --files"), [L("rg --files")], id="strips_true_inside_bash_lc"),
    pytest.param(bash("rg --files || true"), [L("rg --files")],
                 id="strips_true_inside_bash_lc_2"),
    pytest.param(words('cat "pkg\\src\\main.rs"'),
                 [R('cat "pkg\\\\src\\\\main.rs"', "main.rs", "pkg\\src\\main.rs")],
                 id="shorten_path_on_windows"),
    pytest.param(words("bash -lc 'head -n50 Cargo.toml'"),
                 [R("head -n50 Cargo.toml", "Cargo.toml", "Cargo.toml")], id="head_with_no_space"),
    pytest.param(bash("rg --files | head -n 1", flag="-c"), [L("rg --files")],
                 id="bash_dash_c_pipeline_parsing"),
    pytest.param(words("bash -lc 'tail -n+10 README.md'"),
                 [R("tail -n+10 README.md", "README.md", "README.md")], id="tail_with_no_space"),
    pytest.param(words("grep -R TODO src"), [S("grep -R TODO src", "TODO", "src")],
                 id="grep_with_query_and_path"),
    *[
        pytest.param(words(f"{tool} TODO src"), [S(f"{tool} TODO src", "TODO", "src")],
                     id=f"supports_{tool}")
        for tool in ("ag", "ack", "pt", "rga")
    ],
    pytest.param(words("rg --colors=never -n foo src"),
                 [S("rg '--colors=never' -n foo src", "foo", "src")],
                 id="rg_with_equals_style_flags"),
    pytest.param(words("cat -- ./-strange-file-name"),
                 [R("cat -- ./-strange-file-name", "-strange-file-name",
                    "./-strange-file-name")], id="cat_with_double_dash"),
    pytest.param(words("sed -n '12,20p' Cargo.toml"),
                 [R("sed -n '12,20p' Cargo.toml", "Cargo.toml", "Cargo.toml")],
                 id="sed_ranges"),
    pytest.param(words("rg --files | nl -ba"), [L("rg --files")],
                 id="drop_trailing_nl_in_pipeline"),
    pytest.param(words("ls --time-style=long-iso ./dist"),
                 [L("ls '--time-style=long-iso' ./dist", ".")], id="ls_with_time_style_and_path"),
    pytest.param(words("fd -t f src/"), [L("fd -t f src/", "src")], id="fd_path_only"),
    pytest.param(words("fd main src"), [S("fd main src", "main", "src")], id="fd_query_and_path"),
    pytest.param(words("find . -name '*.rs'"), [S("find . -name '*.rs'", "*.rs", ".")],
                 id="find_basic_name_filter"),
    pytest.param(words("find src -type f"), [L("find src -type f", "src")],
                 id="find_type_only_path"),
    pytest.param(words("/bin/bash -lc 'sed -n '1,10p' Cargo.toml'"),
                 [R("sed -n '1,10p' Cargo.toml", "Cargo.toml", "Cargo.toml")],
                 id="bin_bash_lc_sed"),
    pytest.param(words("/bin/zsh -lc 'sed -n '1,10p' Cargo.toml'"),
                 [R("sed -n '1,10p' Cargo.toml", "Cargo.toml", "Cargo.toml")],
                 id="bin_zsh_lc_sed"),
    pytest.param(["powershell", "-Command", "Get-ChildItem"], [U("Get-ChildItem")],
                 id="powershell_command_is_stripped"),
    pytest.param(["pwsh", "-NoProfile", "-c", "Write-Host hi"], [U("Write-Host hi")],
                 id="pwsh_with_noprofile_and_c_alias_is_stripped"),
    pytest.param(["/usr/local/bin/pwsh", "-NoProfile", "-c", "Write-Host hi"],
                 [U("Write-Host hi")], id="powershell_with_path_is_stripped"),
    pytest.param([r"C:\windows\System32\WindowsPowerShell\v1.0\powershell.exe", "-NoProfile",
                  "-c", "Write-Host hi"], [U("Write-Host hi")],
                 id="powershell_with_windows_path_is_stripped"),
    # Older reference tests whose expectations the collapse rule (any unknown
    # -> one unknown, PR #13043) rewrote; kept with the newest expectation.
    pytest.param(words("rg foo ; echo done"), [U("rg foo ';' echo done")], id="trim_on_semicolon"),
    pytest.param(words("rg foo || echo done"), [U("rg foo '||' echo done")],
                 id="split_on_or_connector"),
    pytest.param(
        bash("pwd; ls -la; rg --files -g '!target' | wc -l; "
             "rg -n '^\\[workspace\\]' -n Cargo.toml || true; cargo --version"),
        [U("pwd; ls -la; rg --files -g '!target' | wc -l; "
           "rg -n '^\\[workspace\\]' -n Cargo.toml || true; cargo --version")],
        id="parses_mixed_sequence_with_pipes_semicolons_and_or"),
]


@pytest.mark.parametrize(("argv", "expected"), UPSTREAM)
def test_upstream(argv: list[str], expected: list[Any]) -> None:
    check(argv, expected)


# Upstream `is_small_formatting_command` unit tests.
SMALL_FORMATTING: list[tuple[list[str], bool]] = [
    *[(words(c), True) for c in ("wc", "tr", "cut", "sort", "uniq", "xargs", "tee", "column")],
    *[(words(f"{c} -x"), True)
      for c in ("wc", "tr", "cut", "sort", "uniq", "xargs", "tee", "column")],
    (words("yes"), True),
    (words("printf '%s\\n' x"), True),
    (words("awk '{print $1}'"), True),
    (words("awk '{print $1}' Cargo.toml"), False),
    (words("awk -f script.awk Cargo.toml"), False),
    (["head"], True),
    (words("head -n 40"), True),
    (words("head -n 40 file.txt"), False),
    (["head", "file.txt"], False),
    (words("head -n50"), True),
    (words("head -c 100"), True),
    (["tail"], True),
    (words("tail -n +10"), True),
    (words("tail -n +10 file.txt"), False),
    (words("tail -n 30"), True),
    (words("tail -n 30 file.txt"), False),
    (words("tail -c 30"), True),
    (words("tail -c +10"), True),
    (["tail", "file.txt"], False),
    (["sed"], True),
    (["sed", "-n", "10p"], True),
    (words("sed -n 10p file.txt"), False),
    (words("sed -n -e 10p file.txt"), False),
    (words("sed -n 10p -- file.txt"), False),
    (words("sed -n 1,200p file.txt"), False),
    (words("sed -n p file.txt"), True),
    (words("sed -n +10p file.txt"), True),
    (words("sed 's/a/b/' file.txt"), True),
    ([], False),
    (["cat", "x"], False),
    # xargs stays when it runs an in-place edit (§11 step 6).
    (words("xargs perl -pi -e s/a/b/g"), False),
    (words("xargs ruby -i.bak -pe x"), False),
    (words("xargs sed -i s/a/b/"), False),
    (words("xargs sed --in-place s/a/b/"), False),
    (words("xargs rg --replace x foo"), False),
    (words("xargs -n 1 perl -pi -e x"), False),
    (words("xargs -0 -- sed -i x"), False),
    (words("xargs perl -e x"), True),
    (words("xargs sed s/a/b/"), True),
    (words("xargs rg foo"), True),
    (words("xargs -I"), True),
]


@pytest.mark.parametrize(("tokens", "expected"), SMALL_FORMATTING,
                         ids=[" ".join(t) or "<empty>" for t, _ in SMALL_FORMATTING])
def test_small_formatting(tokens: list[str], expected: bool) -> None:
    assert _is_small_formatting_command(tokens) is expected


# --- §11, rule by rule ---------------------------------------------------------

SPEC: list[Any] = [
    # Step 1: duplicates, then any unknown collapses everything.
    pytest.param(words("rg --files && rg --files"), [L("rg --files")], id="dedupe_plain"),
    pytest.param(bash("rg --files; rg --files"), [L("rg --files")], id="dedupe_script"),
    pytest.param(bash("cat a.txt && cat b.txt"),
                 [R("cat a.txt", "a.txt", "a.txt"), R("cat b.txt", "b.txt", "b.txt")],
                 id="two_reads_in_order"),
    pytest.param(bash("ls && rg foo src"), [L("ls"), S("rg foo src", "foo", "src")],
                 id="list_then_search"),
    pytest.param(bash("cat a.txt && make"), [U("cat a.txt && make")], id="collapse_script"),
    pytest.param(words("cat a.txt && make"), [U("cat a.txt '&&' make")], id="collapse_plain"),
    pytest.param(["foo", "bar baz", "it's"], [U("foo 'bar baz' \"it's\"")],
                 id="unknown_uses_rust_quoting"),
    # Step 2: the wrapper's script.
    pytest.param(bash("cat   'README.md'"), [R("cat README.md", "README.md", "README.md")],
                 id="no_connectors_shows_quoted_tokens"),
    pytest.param(bash("cat x.txt | wc -l"), [R("cat x.txt", "x.txt", "x.txt")],
                 id="pipe_without_sed_keeps_stage_cmd"),
    pytest.param(bash("head -n 5 a.rs | sed -n 1,3p"),
                 [R("head -n 5 a.rs | sed -n 1,3p", "a.rs", "a.rs")],
                 id="pipe_with_sed_n_shows_script"),
    pytest.param(bash("rg --files | wc -l"), [L("rg --files")], id="formatting_dropped"),
    pytest.param(bash("wc -l | sort"), [U("wc -l | sort")], id="only_formatting_is_unknown"),
    pytest.param(bash(""), [U("")], id="empty_script"),
    pytest.param(bash("   "), [U("   ")], id="blank_script"),
    pytest.param(bash("ls > out.txt"), [U("ls > out.txt")], id="redirect_is_unknown"),
    pytest.param(bash("cat x", "sh", "-c"), [R("cat x", "x", "x")], id="sh_c"),
    pytest.param(bash("cat x", "/opt/homebrew/bin/zsh", "-c"), [R("cat x", "x", "x")],
                 id="homebrew_zsh"),
    pytest.param(bash("cat x", "/tmp/bash"), [U("/tmp/bash -lc 'cat x'")],
                 id="repo_local_shell_is_not_a_wrapper"),
    pytest.param(bash("cat x", "bash", "-ic"), [U("bash -ic 'cat x'")], id="ic_is_not_a_wrapper"),
    pytest.param(["bash", "-l", "-c", "cat x"], [U("bash -l -c 'cat x'")],
                 id="four_words_is_not_a_wrapper"),
    # Step 2/3: `cd` tracking.
    pytest.param(bash("cd -P foo && cat x"), [R("cat x", "x", "foo/x")], id="cd_flags_ignored"),
    pytest.param(bash("cd foo && cd bar && cat x"), [R("cat x", "x", "foo/bar/x")],
                 id="cd_joins"),
    pytest.param(bash("cd foo/ && cat x"), [R("cat x", "x", "foo/x")], id="cd_trailing_slash"),
    pytest.param(bash("cd foo && cd /abs && cat x"), [R("cat x", "x", "/abs/x")],
                 id="cd_absolute_replaces"),
    pytest.param(bash("cd foo && cat /etc/hosts"), [R("cat /etc/hosts", "hosts", "/etc/hosts")],
                 id="absolute_read_path_kept"),
    pytest.param(words("cd foo && cat C:\\\\x.txt"),
                 [R('cat "C:\\\\x.txt"', "x.txt", "C:\\x.txt")], id="windows_drive_path_kept"),
    pytest.param(bash("cd foo && ls bar"), [L("ls bar", "bar")], id="cd_only_joins_reads"),
    pytest.param(bash("cd - && cat x"), [R("cat x", "x", "x")], id="cd_dash_has_no_target"),
    pytest.param(bash("cd foo -- && cat x"), [R("cat x", "x", "x")],
                 id="cd_double_dash_without_operand"),
    # A lone `cd` has no summary in the reference (empty list); we show it.
    pytest.param(["cd", "foo"], [U("cd foo")], id="lone_cd_plain"),
    pytest.param(bash("cd foo"), [U("cd foo")], id="lone_cd_script"),
    pytest.param(["|"], [U("'|'")], id="only_a_connector"),
    pytest.param([], [U("")], id="empty_argv"),
    # Step 3: plain argv.
    pytest.param(words("y | rg --files"), [L("rg --files")], id="drop_y"),
    pytest.param(words("no | rg --files"), [L("rg --files")], id="drop_no"),
    pytest.param(words("n | rg --files"), [L("rg --files")], id="drop_n"),
    pytest.param(words("yes | cat x && yes | cat y"), [U("yes '|' cat x '&&' yes '|' cat y")],
                 id="only_a_leading_yes_dropped"),
    pytest.param(words("rg --files | head -n 5"), [U("rg --files '|' head -n 5")],
                 id="plain_argv_keeps_formatting_helpers"),
    pytest.param(["pwsh", "-NoLogo", "-NoProfile", "-Command", "Get-Content x"],
                 [U("Get-Content x")], id="pwsh_nologo"),
    pytest.param(["powershell", "-ExecutionPolicy", "Bypass", "-Command", "x"],
                 [U("powershell -ExecutionPolicy Bypass -Command x")],
                 id="powershell_unknown_flag_not_stripped"),
    pytest.param([r"C:\tmp\powershell.exe", "-Command", "x"],
                 [U('"C:\\\\tmp\\\\powershell.exe" -Command x')],
                 id="powershell_untrusted_path_not_stripped"),
    # Step 4: per-tool summaries.
    pytest.param(words("ls packages/app/node_modules/"),
                 [L("ls packages/app/node_modules/", "app")], id="short_node_modules"),
    pytest.param(words("ls build"), [L("ls build", "build")], id="short_only_skipped_parts"),
    pytest.param(words("ls /"), [L("ls /", "")], id="short_root_is_empty"),
    pytest.param(words("ls -la"), [L("ls -la")], id="ls_no_path"),
    pytest.param(words("ls -w 80 a b"), [L("ls -w 80 a b", "a")], id="ls_value_flag"),
    pytest.param(words("eza --sort name lib"), [L("eza --sort name lib", "lib")],
                 id="eza_value_flag"),
    pytest.param(words("du -sh -- -x"), [L("du -sh -- -x", "-x")], id="du_double_dash"),
    pytest.param(words("rg --files -g '*.rs' crates"), [L("rg --files -g '*.rs' crates", "crates")],
                 id="rg_files_glob_value"),
    pytest.param(words("rg -t rust -C 2 fn crates/core"),
                 [S("rg -t rust -C 2 fn crates/core", "fn", "core")], id="rg_value_flags"),
    # Operands after `--` that look like flags are still dropped (reference).
    pytest.param(words("rg -- -foo src"), [S("rg -- -foo src", "src")],
                 id="rg_double_dash_dash_operand_dropped"),
    pytest.param(words("ripgrep-all foo docs"), [S("ripgrep-all foo docs", "foo", "docs")],
                 id="ripgrep_all"),
    pytest.param(words("git -C repo grep x"), [U("git -C repo grep x")], id="git_option_first"),
    pytest.param(["git"], [U("git")], id="bare_git"),
    pytest.param(words("fd main"), [S("fd main", "main")], id="fd_query_only"),
    pytest.param(words("fd ."), [L("fd .", ".")], id="fd_dot"),
    pytest.param(words("fd -e rs"), [L("fd -e rs")], id="fd_nothing"),
    pytest.param(words("fd -e rs main ../lib"), [S("fd -e rs main ../lib", "main", "lib")],
                 id="fd_value_flag"),
    pytest.param(words("find . ! -name '*.rs'"), [S("find . '!' -name '*.rs'", "*.rs", ".")],
                 id="find_not"),
    pytest.param(words("find ( -iname x ) -o -path y"),
                 [S("find '(' -iname x ')' -o -path y", "x", "x")],
                 id="find_root_skips_operators_not_values"),
    pytest.param(words("find -name '*.rs'"), [S("find -name '*.rs'", "*.rs", "*.rs")],
                 id="find_without_root_takes_the_pattern"),
    pytest.param(words("find src -regex"), [L("find src -regex", "src")],
                 id="find_name_without_value"),
    pytest.param(words("grep -C 3 -e foo src/lib.rs"),
                 [S("grep -C 3 -e foo src/lib.rs", "foo", "lib.rs")], id="grep_e_and_context"),
    pytest.param(words("grep -f pats.txt -A 1 -B 2 lib"),
                 [S("grep -f pats.txt -A 1 -B 2 lib", "pats.txt", "lib")], id="grep_f"),
    pytest.param(words("grep --max-count 1 foo bar"),
                 [S("grep --max-count 1 foo bar", "foo", "bar")], id="grep_long_value_flag"),
    pytest.param(words("grep -e a -e b x"), [S("grep -e a -e b x", "a", "x")],
                 id="grep_first_pattern_wins"),
    pytest.param(words("grep -- -v file"), [S("grep -- -v file", "-v", "file")],
                 id="grep_double_dash"),
    pytest.param(words("grep"), [S("grep")], id="bare_grep"),
    pytest.param(words("ag -G rs foo"), [S("ag -G rs foo", "foo")], id="ag_value_flag"),
    pytest.param(words("cat a b"), [U("cat a b")], id="cat_two_files"),
    pytest.param(words("cat"), [U("cat")], id="cat_no_file"),
    pytest.param(words("cat -n x"), [R("cat -n x", "x", "x")], id="cat_flag"),
    pytest.param(words("bat --style plain -n README.md"),
                 [R("bat --style plain -n README.md", "README.md", "README.md")],
                 id="bat_value_flag"),
    pytest.param(words("head -c 100 file"), [U("head -c 100 file")], id="head_c_unknown"),
    pytest.param(words("head -n 5 a b"), [R("head -n 5 a b", "a", "a")], id="head_first_file"),
    pytest.param(words("head -n -5 a"), [U("head -n -5 a")], id="head_negative_count"),
    pytest.param(words("tail -n +10 file"), [R("tail -n +10 file", "file", "file")],
                 id="tail_plus"),
    pytest.param(words("tail -n+ file"), [U("tail -n+ file")], id="tail_bare_plus"),
    pytest.param(words("tail -f log"), [U("tail -f log")], id="tail_follow"),
    pytest.param(words("awk -f prog.awk data.txt"),
                 [R("awk -f prog.awk data.txt", "data.txt", "data.txt")], id="awk_f"),
    pytest.param(words("awk -F : '{print $1}' /etc/passwd"),
                 [R("awk -F : '{print $1}' /etc/passwd", "passwd", "/etc/passwd")],
                 id="awk_field_separator"),
    pytest.param(words("awk '{print}'"), [U("awk '{print}'")], id="awk_no_file"),
    pytest.param(words("nl -ba -s ': ' src/x.py"),
                 [R("nl -ba -s ': ' src/x.py", "x.py", "src/x.py")], id="nl_file"),
    pytest.param(words("nl -ba"), [U("nl -ba")], id="nl_no_file"),
    pytest.param(words("sed -n -e 5p notes.md"), [R("sed -n -e 5p notes.md", "notes.md",
                                                     "notes.md")], id="sed_e_range"),
    pytest.param(words("sed -n 5p"), [U("sed -n 5p")], id="sed_no_file"),
    pytest.param(words("sed -i 5d notes.md"), [U("sed -i 5d notes.md")], id="sed_not_n"),
    pytest.param(words("python3.11 -c 'import pathlib; print(list(pathlib.Path().rglob(\"*\")))'"),
                 [L("python3.11 -c 'import pathlib; print(list(pathlib.Path().rglob(\"*\")))'")],
                 id="python3_x_walks"),
    pytest.param(words("python2 -c 'import os; os.walk(\".\")'"),
                 [L("python2 -c 'import os; os.walk(\".\")'")], id="python2_walks"),
    pytest.param(words("python -c"), [U("python -c")], id="python_c_without_code"),
    pytest.param(words("python script.py os.walk"), [U("python script.py os.walk")],
                 id="python_without_c"),
    pytest.param(words("pythonx -c os.walk"), [U("pythonx -c os.walk")], id="not_python"),
    # Step 5: simplifications.
    pytest.param(words("echo hi && rg --files"), [L("rg --files")], id="leading_echo_dropped"),
    pytest.param(bash("echo '== x ==' && cat x"), [R("cat x", "x", "x")],
                 id="leading_echo_dropped_in_script"),
    pytest.param(words("rg --files && echo done"), [U("rg --files '&&' echo done")],
                 id="trailing_echo_kept"),
    pytest.param(words("cat x | nl -ba -w 3"), [U("cat x '|' nl -ba -w 3")],
                 id="nl_with_a_value_is_not_all_flags"),
    # NUL bytes cannot be quoted.
    pytest.param(["cat", "a\0b"], [R("<command included NUL byte>", "a\0b", "a\0b")],
                 id="nul_read"),
    pytest.param(["foo", "\0"], [U("<command included NUL byte>")], id="nul_unknown"),
]


@pytest.mark.parametrize(("argv", "expected"), SPEC)
def test_spec(argv: list[str], expected: list[Any]) -> None:
    check(argv, expected)


def _real_splitter() -> Any:
    """The shell module's splitter (written alongside this one), if present."""
    try:
        from execguard.execpolicy.shell import parse_plain_commands
    except ImportError:
        return None
    return parse_plain_commands


@pytest.mark.parametrize("literal_words", [False, True])
def test_rows_with_the_real_splitter(literal_words: bool) -> None:
    """Every row gives the same summary with the tree-sitter splitter, and the
    stand-in splits every wrapper script the way it does."""
    real = _real_splitter()
    assert real is not None

    def split(script: str) -> list[list[str]] | None:
        result: list[list[str]] | None = real(script, literal_words=literal_words)
        return result

    for param in [*UPSTREAM, *SPEC]:
        argv, expected = param.values
        assert summarize_command(argv, split_script=split) == expected, param.id
        if len(argv) == 3 and argv[1] in ("-c", "-lc"):
            assert plain_commands(argv[2]) == split(argv[2]), param.id


def test_wrappers_are_split_by_default_and_unknown_when_unsplittable() -> None:
    assert summarize_command(bash("cat x")) == [R("cat x", "x", "x")]
    assert summarize_command(bash("cat $(ls)")) == [U("cat $(ls)")]
    assert summarize_command(bash("cat x"), split_script=lambda _: None) == [U("cat x")]
    assert summarize_command(bash("cd foo")) == [U("cd foo")]
    assert summarize_command(["cat", "x"]) == [R("cat x", "x", "x")]


def test_a_failing_splitter_gives_unknown() -> None:
    def boom(script: str) -> list[list[str]] | None:
        raise RuntimeError(script)

    def garbage(script: str) -> Any:
        return 42

    assert summarize_command(bash("cat x"), split_script=boom) == [U("cat x")]
    assert summarize_command(bash("cat x"), split_script=garbage) == [U("cat x")]
    assert summarize_command(bash("cat x"), split_script=lambda s: [[]]) == [U("cat x")]


def test_non_string_words_are_shown() -> None:
    assert summarize_command(["cat", 3]) == [R("cat 3", "3", "3")]  # type: ignore[list-item]


def test_section_10_quoting_examples() -> None:
    assert _shlex_join(["sed", "-n", "1,10p", "Cargo.toml"]) == "sed -n '1,10p' Cargo.toml"
    assert _shlex_join(["eza", "--color=always", "src"]) == "eza '--color=always' src"
    assert (_shlex_join(["python", "-c", "import os; print(os.listdir('.'))"])
            == "python -c \"import os; print(os.listdir('.'))\"")
    assert _shlex_join(["cat", "pkg\\src\\main.rs"]) == 'cat "pkg\\\\src\\\\main.rs"'
    assert _shlex_join(["rg", "--files", "|", "nl", "-ba"]) == "rg --files '|' nl -ba"
    assert _shlex_join(["a\0"]) == "<command included NUL byte>"


@pytest.mark.parametrize(("path", "short"), [
    ("webview/src", "webview"), ("./dist", "."), ("foo/src/", "foo"),
    ("packages/app/node_modules/", "app"), ("pkg\\src\\main.rs", "main.rs"),
    ("src", "src"), ("src/build/dist", "src/build/dist"), ("a//", "a"), ("", ""), ("/", ""),
    ("core/src/spawn.rs", "spawn.rs"),
])
def test_short_display_path(path: str, short: str) -> None:
    assert _short_display_path(path) == short


# --- wire shape -----------------------------------------------------------------

# `definitions.CommandAction` of the app-server schema (CommandExecutionRequest-
# ApprovalParams.json, `commandActions`), with its `$ref` resolved; checked
# against the shared copy when it is present.
COMMAND_ACTION_SCHEMA: dict[str, Any] = {"oneOf": [
    {"title": "ReadCommandAction", "type": "object",
     "required": ["command", "name", "path", "type"],
     "properties": {"command": {"type": "string"}, "name": {"type": "string"},
                    "path": {"type": "string"},
                    "type": {"enum": ["read"], "title": "ReadCommandActionType",
                             "type": "string"}}},
    {"title": "ListFilesCommandAction", "type": "object", "required": ["command", "type"],
     "properties": {"command": {"type": "string"}, "path": {"type": ["string", "null"]},
                    "type": {"enum": ["listFiles"], "title": "ListFilesCommandActionType",
                             "type": "string"}}},
    {"title": "SearchCommandAction", "type": "object", "required": ["command", "type"],
     "properties": {"command": {"type": "string"}, "path": {"type": ["string", "null"]},
                    "query": {"type": ["string", "null"]},
                    "type": {"enum": ["search"], "title": "SearchCommandActionType",
                             "type": "string"}}},
    {"title": "UnknownCommandAction", "type": "object", "required": ["command", "type"],
     "properties": {"command": {"type": "string"},
                    "type": {"enum": ["unknown"], "title": "UnknownCommandActionType",
                             "type": "string"}}},
]}
# The reference schemas, committed as data (reference/README.md).
SHARED_SCHEMA = (Path(__file__).resolve().parents[1] / "reference" / "app-server-schema"
                 / "CommandExecutionRequestApprovalParams.json")


def _resolve(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            return _resolve(definitions[ref.removeprefix("#/definitions/")], definitions)
        return {k: _resolve(v, definitions) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, definitions) for v in node]
    return node


def test_embedded_schema_matches_reference() -> None:
    schema = json.loads(SHARED_SCHEMA.read_text())
    definitions = schema["definitions"]
    items = schema["properties"]["commandActions"]["items"]
    assert items == {"$ref": "#/definitions/CommandAction"}
    assert _resolve(definitions["CommandAction"], definitions) == COMMAND_ACTION_SCHEMA


_JSON_TYPES: dict[str, type] = {"string": str, "null": type(None)}


def assert_wire_shape(obj: dict[str, Any]) -> None:
    """`obj` matches exactly one CommandAction variant: tag, required keys,
    no other keys, and the value types."""
    matches = [v for v in COMMAND_ACTION_SCHEMA["oneOf"]
               if obj.get("type") in v["properties"]["type"]["enum"]]
    assert len(matches) == 1, obj
    variant = matches[0]
    assert set(variant["required"]) <= set(obj), obj
    assert set(obj) <= set(variant["properties"]), obj
    for key, value in obj.items():
        allowed = variant["properties"][key]["type"]
        allowed = [allowed] if isinstance(allowed, str) else allowed
        assert isinstance(value, tuple(_JSON_TYPES[t] for t in allowed)), (key, obj)


ADAPTER: TypeAdapter[list[CommandAction]] = TypeAdapter(list[CommandAction])


def test_wire_shape_of_every_row() -> None:
    for param in [*UPSTREAM, *SPEC]:
        argv, _ = param.values
        actions = summarize(argv)
        dumped = [a.to_json() for a in actions]
        for obj in dumped:
            assert_wire_shape(obj)
        assert ADAPTER.validate_python(dumped) == actions
        assert ADAPTER.validate_json(json.dumps(dumped)) == actions


def test_wire_examples() -> None:
    assert R("cat x", "x", "d/x").to_json() == {
        "type": "read", "command": "cat x", "name": "x", "path": "d/x"}
    assert L("ls").to_json() == {"type": "listFiles", "command": "ls", "path": None}
    assert S("rg x", "x").to_json() == {
        "type": "search", "command": "rg x", "query": "x", "path": None}
    assert U("make").to_json() == {"type": "unknown", "command": "make"}
    # serde writes the tag first
    assert list(S("rg x").to_json()) == ["type", "command", "query", "path"]
    # The core protocol's ParsedCommand spelling.
    assert L("ls", ".").to_protocol_json() == {"type": "list_files", "cmd": "ls", "path": "."}
    assert R("cat x", "x", "x").to_protocol_json() == {
        "type": "read", "cmd": "cat x", "name": "x", "path": "x"}
    # Omitted optional fields are accepted when reading.
    assert ADAPTER.validate_python([{"type": "search", "command": "rg"}]) == [S("rg")]
    assert ADAPTER.validate_python([{"type": "listFiles", "command": "ls"}]) == [L("ls")]


@pytest.mark.parametrize("bad", [
    {"type": "read", "command": "cat x", "path": "x"},
    {"type": "list_files", "command": "ls"},
    {"type": "unknown"},
    {"command": "x"},
])
def test_wire_rejects(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ADAPTER.validate_python([bad])


def test_models_are_frozen() -> None:
    with pytest.raises(ValidationError):
        U("x").cmd = "y"  # type: ignore[misc]


# --- properties -------------------------------------------------------------------

_VOCAB = [
    "ls", "eza", "tree", "du", "rg", "rga", "git", "grep", "ls-files", "fd", "find", "ag", "cat",
    "bat", "less", "more", "head", "tail", "awk", "nl", "sed", "python3", "python3.12", "cd",
    "echo", "true", "xargs", "perl", "wc", "yes", "y", "no", "bash", "zsh", "sh", "/bin/bash",
    "pwsh", "powershell", "-lc", "-c", "-Command", "-NoProfile", "&&", "||", "|", ";", "--",
    "-n", "-e", "-f", "-l", "--files", "-name", "-type", "!", "(", ")", "1,10p", "5p", "+3",
    "-n5", ".", "..", "/", "src", "./dist", "C:\\x", "\\\\srv\\s", "a b", "", "\0", "-L", "-P",
    "-i", "-pi", "--replace", "--in-place", "os.walk(x)", "{print $1}", "'", '"',
]
_word = st.one_of(st.sampled_from(_VOCAB), st.text(max_size=8))
_argv = st.one_of(
    st.lists(_word, max_size=10),
    st.builds(lambda shell, flag, words: [shell, flag, " ".join(words)],
              st.sampled_from(["bash", "zsh", "sh", "/bin/zsh", "./bash"]),
              st.sampled_from(["-lc", "-c", "-ic"]), st.lists(_word, max_size=10)),
)


def _boom(script: str) -> list[list[str]] | None:
    raise ValueError(script)


_SPLITTERS: list[Any] = [None, plain_commands, _boom, lambda s: [s.split(" ")],
                         lambda s: [[]], lambda s: []]
if _real_splitter() is not None:
    _SPLITTERS.append(lambda s: _real_splitter()(s, literal_words=False))
_splitters = st.sampled_from(_SPLITTERS)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_argv, _splitters)
def test_never_raises_and_always_summarises(argv: list[str], splitter: Any) -> None:
    actions = summarize_command(argv, split_script=splitter)
    assert len(actions) >= 1
    assert all(isinstance(a, ReadCommand | ListFilesCommand | SearchCommand | UnknownCommand)
               for a in actions)
    if any(isinstance(a, UnknownCommand) for a in actions):
        assert len(actions) == 1
    assert all(a != b for a, b in pairwise(actions))  # deduplicated
    for a in actions:
        assert_wire_shape(a.to_json())
    assert summarize_command(argv, split_script=splitter) == actions
