"""Known-safe commands (decision_engine spec §7).

Rows come from the spec's tables and the reference's tests
(codex-rs `command_safety/is_safe_command.rs`); expected lists are written
out here rather than read from the module, so a table edit shows up as a
failing row. Rows marked *hardening* go beyond the reference (see the
`execpolicy.known_safe` docstring); each is a command the reference would
auto-allow although it writes or executes.
"""

from __future__ import annotations

import pytest

from execguard.execpolicy import known_safe
from execguard.execpolicy.known_safe import (
    find_git_subcommand,
    getopt_operands,
    is_known_safe_command,
    is_safe_to_call_with_exec,
    program_name,
    trusted_shell_script,
)
from execguard.execpolicy.shell import parse_plain_commands


def split_plain(script: str) -> list[list[str]] | None:
    """The Codex-compatible plain-command splitter (spec §3.2)."""
    return parse_plain_commands(script, literal_words=False)


def safe(argv: list[str], *, include_git: bool = False, linux: bool = True) -> bool:
    return is_known_safe_command(argv, include_git=include_git, split_script=split_plain,
                                 linux=linux)


# -- the program lists ------------------------------------------------------------

SPEC_ALWAYS_SAFE = [
    "cat", "cd", "cut", "echo", "expr", "false", "grep", "head", "id", "ls", "nl",
    "paste", "pwd", "rev", "seq", "stat", "tail", "tr", "true", "uname", "uniq", "wc",
    "which", "whoami",
]


def test_tables_match_the_spec() -> None:
    # uniq is in the spec's always-safe list; it is checked here (hardening).
    assert known_safe.ALWAYS_SAFE_PROGRAMS | {"uniq"} == set(SPEC_ALWAYS_SAFE)
    assert {"numfmt", "tac"} == known_safe.LINUX_ONLY_SAFE_PROGRAMS
    assert {"base64", "find", "rg", "sed", "uniq"} == known_safe.CHECKED_PROGRAMS
    assert {
        "-exec", "-execdir", "-ok", "-okdir", "-delete", "-fls", "-fprint", "-fprint0",
        "-fprintf"} == known_safe.UNSAFE_FIND_OPTIONS
    assert {"status", "log", "diff", "show", "branch"} == known_safe.SAFE_GIT_SUBCOMMANDS
    assert len(known_safe.TRUSTED_SHELLS) == 13


@pytest.mark.parametrize("program", SPEC_ALWAYS_SAFE)
def test_always_safe_program(program: str) -> None:
    assert safe([program])
    assert safe([program, "Cargo.toml"])
    assert safe([program], include_git=True)


@pytest.mark.parametrize("program", SPEC_ALWAYS_SAFE)
def test_program_is_recognised_by_its_last_path_component(program: str) -> None:
    # `./cat` counts as `cat` too (spec §13.7): the name, not the file, decides.
    assert safe([f"/usr/bin/{program}", "x"])
    assert safe([f"./{program}", "x"])


@pytest.mark.parametrize("program", ["numfmt", "tac"])
def test_linux_only_programs(program: str) -> None:
    assert safe([program, "1000"], linux=True)
    assert not safe([program, "1000"], linux=False)


def test_linux_default_follows_the_platform() -> None:
    import sys

    assert is_safe_to_call_with_exec(["tac", "f"]) == sys.platform.startswith("linux")


@pytest.mark.parametrize(
    "argv",
    [
        [],
        [""],
        ["/"],
        ["."],
        [".."],
        ["foo"],
        ["cargo", "check"],
        ["git", "fetch"],
        ["sudo", "ls"],
        ["rm", "x"],
        ["python3", "-c", "print(1)"],
        ["sort", "-o", "out", "in"],
        ["tee", "out"],
        ["xargs", "cat"],
        ["env", "ls"],
        ["LS"],  # names are case-sensitive off Windows
        ["cat.exe", "x"],  # Windows executable names are out of scope
        ["bash"],
        ["bash", "-lc"],
        ["zsh"],
    ],
)
def test_unknown_or_empty_is_not_safe(argv: list[str]) -> None:
    assert not safe(argv)
    assert not safe(argv, include_git=True)


# -- base64 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["base64"],
        ["base64", "file.bin"],
        ["base64", "-d", "file.b64"],
        ["base64", "--decode", "file.b64"],
        ["base64", "-w", "0", "file.bin"],
        ["base64", "-i", "in.txt"],  # macOS: input file
        ["base64", "-iout.txt"],  # the `o` belongs to -i's value
        ["base64", "-b76", "f"],
        ["base64", "--input=out.txt"],
        ["base64", "-"],
    ],
)
def test_base64_safe(argv: list[str]) -> None:
    assert safe(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["base64", "-o", "out.bin"],
        ["base64", "--output", "out.bin"],
        ["base64", "--output=out.bin"],
        ["base64", "-ob64.txt"],
        ["base64", "in.bin", "-o", "out.bin"],
        # hardening: the same option in other getopt spellings
        ["base64", "-Do", "out.bin"],
        ["base64", "-do", "out.bin"],
        ["base64", "-Dob64.txt"],
        ["base64", "--out=x"],
        ["base64", "--o", "x"],
        ["base64", "--outp", "x"],
    ],
)
def test_base64_output_options_are_unsafe(argv: list[str]) -> None:
    assert not safe(argv)


# -- find -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["find", ".", "-name", "file.txt"],
        ["find", ".", "-type", "f", "-print"],
        ["find", ".", "-print0"],
        ["find", ".", "-ls"],
        ["find", ".", "-maxdepth", "2", "-newer", "x"],
        ["find"],
    ],
)
def test_find_safe(argv: list[str]) -> None:
    assert safe(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["find", ".", "-name", "file.txt", "-exec", "rm", "{}", ";"],
        ["find", ".", "-name", "*.py", "-execdir", "python3", "{}", ";"],
        ["find", ".", "-name", "file.txt", "-ok", "rm", "{}", ";"],
        ["find", ".", "-name", "*.py", "-okdir", "python3", "{}", ";"],
        ["find", ".", "-delete", "-name", "file.txt"],
        ["find", ".", "-fls", "/etc/passwd"],
        ["find", ".", "-fprint", "/etc/passwd"],
        ["find", ".", "-fprint0", "/etc/passwd"],
        ["find", ".", "-fprintf", "/root/suid.txt", "%#m %u %p\n"],
        ["/usr/bin/find", ".", "-delete"],
    ],
)
def test_find_unsafe_options(argv: list[str]) -> None:
    assert not safe(argv)


# -- rg ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["rg", "Cargo.toml", "-n"],
        ["rg", "--context", "1", "--heading", "foo"],
        ["rg", "--pre-glob", "*.pdf", "foo"],  # only narrows --pre, runs nothing
        ["rg", "--no-search-zip", "foo"],
        ["rg", "-g*.gz", "foo"],  # `z` in -g's value
        ["rg", "-ez"],  # the pattern is `z`
        ["rg", "-tzig", "foo"],
        ["rg", "-nA3", "foo"],
        ["rg", "--files"],
    ],
)
def test_rg_safe(argv: list[str]) -> None:
    assert safe(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["rg", "--search-zip", "files"],
        ["rg", "-z", "files"],
        ["rg", "--pre", "pwned", "files"],
        ["rg", "--pre=pwned", "files"],
        ["rg", "--hostname-bin", "pwned", "files"],
        ["rg", "--hostname-bin=pwned", "files"],
        ["rg", "needle", ".", "--pre", "sh"],
        # hardening: -z inside a short cluster
        ["rg", "-nz", "needle"],
        ["rg", "-zn", "needle"],
        ["rg", "-inz", "needle"],
    ],
)
def test_rg_unsafe_options(argv: list[str]) -> None:
    assert not safe(argv)


# -- sed --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["sed", "-n", "1p"],
        ["sed", "-n", "10p", "file.txt"],
        ["sed", "-n", "1,5p", "file.txt"],
        ["sed", "-n", "120,240p", "src/main.rs"],
        ["sed", "-n", "1,5p", "-"],  # stdin
        ["/usr/bin/sed", "-n", "3p", "f"],
    ],
)
def test_sed_print_ranges_are_safe(argv: list[str]) -> None:
    assert safe(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["sed", "-n", "xp", "file.txt"],
        ["sed", "-n", "1,5", "file.txt"],  # no p
        ["sed", "-n", "p", "file.txt"],  # no line number
        ["sed", "-n", ",5p", "file.txt"],
        ["sed", "-n", "1,p", "file.txt"],
        ["sed", "-n", "1,2,3p", "file.txt"],
        ["sed", "-n", "1 p", "file.txt"],
        ["sed", "-n", "$p", "file.txt"],
        ["sed", "-n", "1p;w out", "file.txt"],
        ["sed", "-n", "١p", "file.txt"],  # digits are ASCII digits
        ["sed", "-n", "1pp", "file.txt"],
        ["sed", "-n", "1p", "a.txt", "b.txt"],  # more than 4 words
        ["sed", "-n"],
        ["sed", "-n", "1,5p", "file.txt", "-i"],
        ["sed", "1p", "file.txt"],  # no -n
        ["sed", "--quiet", "1p", "file.txt"],
        ["sed", "-i", "1p", "file.txt"],
        ["sed", "-n", "-i", "1p"],
        # hardening: GNU sed permutes, so an option in the FILE slot takes over
        ["sed", "-n", "1p", "-ew/tmp/x"],
        ["sed", "-n", "1p", "-fscript.sed"],
        ["sed", "-n", "1p", "--expression=w /tmp/x"],
        ["sed", "-n", "1p", "-i"],
    ],
)
def test_sed_other_forms_are_unsafe(argv: list[str]) -> None:
    assert not safe(argv)


# -- uniq (hardening: the second operand is an output file) ----------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["uniq"],
        ["uniq", "file"],
        ["uniq", "-c", "file"],
        ["uniq", "-f", "1", "file"],
        ["uniq", "-f1", "file"],
        ["uniq", "-cf", "1", "file"],
        ["uniq", "--skip-fields", "2", "file"],
        ["uniq", "--skip-fields=2", "file"],
        ["uniq", "--check", "3", "file"],  # abbreviates --check-chars
        ["uniq", "-D", "file"],
        ["uniq", "--all-repeated=separate", "file"],
        ["uniq", "-"],
    ],
)
def test_uniq_with_one_operand_is_safe(argv: list[str]) -> None:
    assert safe(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["uniq", "in.txt", "out.txt"],
        ["uniq", "-", "out.txt"],
        ["uniq", "-c", "in.txt", "out.txt"],
        ["uniq", "in.txt", "-c", "out.txt"],
        ["uniq", "-f", "1", "in.txt", "out.txt"],
        ["uniq", "--", "in.txt", "-out.txt"],
        ["uniq", "--group", "in.txt", "out.txt"],  # optional values only after `=`
    ],
)
def test_uniq_with_an_output_operand_is_unsafe(argv: list[str]) -> None:
    assert not safe(argv)


# -- git (classic / current only) -------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["git", "status"],
        ["git", "status", "--short"],
        ["git", "log"],
        ["git", "log", "-p", "-1"],
        ["git", "log", "--oneline", "-n", "5"],
        ["git", "diff"],
        ["git", "diff", "--stat", "HEAD~1"],
        ["git", "diff", "--cached"],
        ["git", "show", "-p", "HEAD"],
        ["git", "branch"],
        ["git", "branch", "--show-current"],
        ["git", "branch", "--list"],
        ["git", "branch", "-l"],
        ["git", "branch", "-a"],
        ["git", "branch", "--all"],
        ["git", "branch", "-r"],
        ["git", "branch", "--remotes"],
        ["git", "branch", "-v"],
        ["git", "branch", "-vv"],
        ["git", "branch", "--verbose"],
        ["git", "branch", "--format=%(refname:short)"],
        ["git", "branch", "-a", "-v"],
        ["/usr/bin/git", "status"],
        # global options before the subcommand are skipped
        ["git", "-C", ".", "status"],
        ["git", "-C.", "status"],
        ["git", "-C", ".", "branch", "--show-current"],
        ["git", "--git-dir", ".git", "log"],
        ["git", "--git-dir=.git", "status"],
        ["git", "--work-tree", ".", "diff"],
        ["git", "--work-tree=.", "diff"],
        ["git", "--namespace", "ns", "log"],
        ["git", "--namespace=ns", "log"],
        ["git", "--super-prefix", "p/", "status"],
        ["git", "--exec-path=/usr/lib/git-core", "status"],
        ["git", "--no-pager", "log"],
        ["git", "-P", "log"],
        ["git", "--bare", "log"],
        ["git", "--", "status"],
        ["git", "status", "--", "README.md"],
    ],
)
def test_git_read_only_is_safe_with_git(argv: list[str]) -> None:
    assert safe(argv, include_git=True)
    # latest: git is never known-safe (§7.1)
    assert not safe(argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["git"],
        ["git", "fetch"],
        ["git", "checkout", "status"],  # the first operand is the subcommand
        ["git", "stash", "show"],
        ["git", "-C"],
        ["git", "--exec-path", "status"],  # --exec-path consumes `status`
        ["git", "-C", "status"],
        # config overrides, anywhere
        ["git", "-c", "core.pager=cat", "log", "-n", "1"],
        ["git", "-ccore.pager=cat", "status"],
        ["git", "--config-env", "core.pager=PAGER", "status"],
        ["git", "--config-env=core.pager=PAGER", "status"],
        ["git", "log", "-c"],
        ["git", "log", "-cc"],
        # subcommand options that write or run things
        ["git", "log", "--output=/tmp/git-log-out-test", "-n", "1"],
        ["git", "diff", "--output", "/tmp/git-diff-out-test"],
        ["git", "show", "--output=/tmp/git-show-out-test", "HEAD"],
        ["git", "diff", "--ext-diff"],
        ["git", "log", "-p", "--textconv"],
        ["git", "log", "--exec", "x"],
        ["git", "log", "--exec=x"],
        ["git", "status", "--paginate"],
        ["git", "branch", "--paginate"],
        # hardening (#18694): pager-forcing globals
        ["git", "-p", "status"],
        ["git", "--paginate", "log"],
        ["git", "-C", ".", "-p", "diff"],
        # branch: anything but the listing flags may change branches
        ["git", "branch", "-d", "feature"],
        ["git", "branch", "-D", "feature"],
        ["git", "branch", "--delete", "feature"],
        ["git", "branch", "new-branch"],
        ["git", "branch", "-m", "a", "b"],
        ["git", "branch", "--show-current", "extra"],
        ["git", "branch", "-av"],
        ["git", "branch", "--list", "--set-upstream-to=origin/main"],
        ["git", "branch", "--format", "%(refname)"],
        ["git", "-C", ".", "branch", "-d", "feature"],
    ],
)
def test_git_other_forms_are_unsafe(argv: list[str]) -> None:
    assert not safe(argv, include_git=True)
    assert not safe(argv)


def test_git_default_is_latest() -> None:
    assert not is_known_safe_command(["git", "status"])
    assert is_known_safe_command(["git", "status"], include_git=True)


@pytest.mark.parametrize(
    ("argv", "found"),
    [
        (["git", "status"], (1, "status")),
        (["git", "-C", "dir", "-c", "a=b", "log"], (5, "log")),
        (["git", "--git-dir=x", "-Cdir", "-ca=b", "--", "show"], (5, "show")),
        (["git", "--bare", "checkout", "status"], (2, "checkout")),
        (["git", "--work-tree"], None),
        (["git"], None),
    ],
)
def test_find_git_subcommand(argv: list[str], found: tuple[int, str] | None) -> None:
    assert find_git_subcommand(argv) == found


# -- shell wrappers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["bash", "-lc", "ls"],
        ["bash", "-c", "ls -1"],
        ["zsh", "-lc", "ls"],
        ["sh", "-c", "pwd"],
        ["/bin/bash", "-lc", "ls"],
        ["/bin/zsh", "-lc", "ls"],
        ["/opt/homebrew/bin/zsh", "-lc", "ls"],
        ["bash", "-lc", 'grep -R "Cargo.toml" -n'],
        ["bash", "-lc", "sed -n 1,5p file.txt"],
        ["bash", "-lc", "sed -n '1,5p' file.txt"],
        ["bash", "-lc", "find . -name file.txt"],
        ["bash", "-lc", 'grep -R "Cargo.toml" -n || true'],
        ["bash", "-lc", "ls && pwd"],
        ["bash", "-lc", "echo 'hi' ; ls"],
        ["bash", "-lc", "ls | wc -l"],
        ["bash", "-lc", "cat a | uniq -c | head -n 3"],
    ],
)
def test_wrapper_with_only_safe_commands_is_safe(argv: list[str]) -> None:
    assert safe(argv)


@pytest.mark.parametrize("shell", sorted(known_safe.TRUSTED_SHELLS))
@pytest.mark.parametrize("flag", ["-c", "-lc"])
def test_every_trusted_shell_and_flag(shell: str, flag: str) -> None:
    assert safe([shell, flag, "ls"])


@pytest.mark.parametrize(
    "argv",
    [
        ["bash", "-lc", "git status"],  # latest: git is not safe
        ["bash", "-lc", "git", "status"],  # four words
        ["bash", "-lc", "'git status'"],  # a program named "git status"
        ["bash", "-lc", "find . -name file.txt -delete"],
        ["bash", "-lc", "ls && rm -rf /"],
        ["bash", "-lc", "ls | tee out.txt"],
        ["bash", "-lc", "(ls)"],
        ["bash", "-lc", "ls || (pwd && echo hi)"],
        ["bash", "-lc", "ls > out.txt"],
        ["bash", "-lc", "ls &"],
        ["bash", "-lc", "echo $HOME"],
        ["bash", "-lc", ""],  # no commands proves nothing
        ["bash", "-lc", "   "],
        ["bash", "-lc", "bash -lc ls"],  # a nested wrapper is not a safe program
        ["bash", "-lc", "sed -n 1p -ew/tmp/x"],
        # untrusted shells (latest, PR #22171)
        ["./bash", "-lc", "ls"],
        ["/tmp/bash", "-lc", "ls"],
        ["/tmp/bash.evil", "-lc", "ls"],
        [".poc/bash", "-c", "ls"],
        ["bash.exe", "-c", "ls"],
        ["fish", "-c", "ls"],
        ["dash", "-c", "ls"],
        # flags other than exactly -c / -lc
        ["bash", "-l", "-c", "ls"],
        ["bash", "-ic", "ls"],
        ["bash", "-cl", "ls"],
        ["bash", "--login", "ls"],
        ["bash", "-c", "ls", "arg0"],
    ],
)
def test_wrapper_unsafe(argv: list[str]) -> None:
    assert not safe(argv)


def test_wrapper_git_script_is_safe_with_git() -> None:
    assert safe(["bash", "-lc", "git status && git log -1"], include_git=True)
    assert not safe(["bash", "-lc", "git -C . branch -d feature"], include_git=True)


def test_wrapper_without_a_splitter_is_not_safe() -> None:
    assert not is_known_safe_command(["bash", "-lc", "ls"])
    assert is_known_safe_command(["ls"])


def test_splitter_gets_the_script_of_trusted_wrappers_only() -> None:
    seen: list[str] = []

    def spy(script: str) -> list[list[str]] | None:
        seen.append(script)
        return [["ls"]]

    assert is_known_safe_command(["zsh", "-lc", "anything"], split_script=spy)
    assert not is_known_safe_command(["./zsh", "-lc", "anything"], split_script=spy)
    assert not is_known_safe_command(["python3", "-c", "x"], split_script=spy)
    assert seen == ["anything"]


def test_wrapper_recognition_can_be_replaced() -> None:
    # e.g. the classic file-stem shell match, under which `./bash` is bash
    def stem_match(argv: object) -> str | None:
        return "ls" if argv == ["./bash", "-lc", "ls"] else None

    argv = ["./bash", "-lc", "ls"]
    assert not is_known_safe_command(argv, split_script=split_plain)
    assert is_known_safe_command(argv, split_script=split_plain, extract_script=stem_match)
    assert not is_known_safe_command(["bash", "-lc", "ls"], split_script=split_plain,
                                     extract_script=stem_match)


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (None, False),  # not a plain script
        ([], False),  # no commands
        ([["ls"], []], False),  # an empty command is not a safe one
        ([["ls"], ["pwd"]], True),
        ([["ls"], ["curl", "x"]], False),
    ],
)
def test_splitter_result(result: list[list[str]] | None, expected: bool) -> None:
    assert is_known_safe_command(["bash", "-c", "s"],
                                 split_script=lambda _script: result) is expected


@pytest.mark.parametrize(
    ("argv", "script"),
    [
        (["bash", "-lc", "ls"], "ls"),
        (["/usr/local/bin/bash", "-c", ""], ""),
        (["bash", "-lc"], None),
        (["bash", "-x", "ls"], None),
        (["/tmp/sh", "-c", "ls"], None),
        (["bash", "-lc", "ls", "x"], None),
    ],
)
def test_trusted_shell_script(argv: list[str], script: str | None) -> None:
    assert trusted_shell_script(argv) == script


# -- helpers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("ls", "ls"),
        ("/usr/bin/ls", "ls"),
        ("./ls", "ls"),
        ("bin/ls/", "ls"),
        ("", None),
        ("/", None),
        (".", None),
        ("..", None),
        ("a/..", None),
    ],
)
def test_program_name(raw: str, name: str | None) -> None:
    assert program_name(raw) == name


@pytest.mark.parametrize(
    ("args", "operands"),
    [
        (["a", "b"], ["a", "b"]),
        (["-c", "a", "-f", "1", "b"], ["a", "b"]),
        (["-f1", "a"], ["a"]),
        (["-cf", "1", "a"], ["a"]),
        (["--skip-fields", "1", "a"], ["a"]),
        (["--skip-f", "1", "a"], ["a"]),  # unique abbreviation
        (["--skip", "1", "a"], ["1", "a"]),  # ambiguous: a flag, the program fails
        (["--skip-fields=1", "a"], ["a"]),
        (["--", "-c", "a"], ["-c", "a"]),
        (["-", "a"], ["-", "a"]),
    ],
)
def test_getopt_operands_permuting(args: list[str], operands: list[str]) -> None:
    assert getopt_operands(args, short_with_value="fsw",
                           long_options=known_safe.UNIQ_LONG_OPTIONS) == operands


def test_getopt_operands_stop_at_the_first_operand() -> None:
    assert getopt_operands(["-u", "x", "rm", "-f"], short_with_value="u",
                           permute=False) == ["rm", "-f"]
