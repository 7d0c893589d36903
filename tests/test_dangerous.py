"""Dangerous commands (decision_engine spec §8).

Rows come from the spec and the reference's tests (codex-rs
`command_safety/is_dangerous_command.rs` in its legacy, classic and latest
revisions). Each row says which detectors flag it; rows marked *hardening* go
beyond the reference (see the `execpolicy.dangerous` docstring) and only ever
flag more.
"""

from __future__ import annotations

import pytest

from execguard.execpolicy import dangerous
from execguard.execpolicy.dangerous import (
    FORCED_RM,
    FORCED_RM_REASON,
    OTHER,
    command_might_be_dangerous,
    dangerous_command_match,
    forced_rm_reason,
    is_forced_rm,
    shell_wrapper_script,
)
from execguard.execpolicy.shell import parse_plain_commands

TYPE_CHECKING = False
if TYPE_CHECKING:
    from execguard.execpolicy.dangerous import Detector

ALL: tuple[Detector, ...] = ("classic", "legacy", "latest")


def split_plain(script: str) -> list[list[str]] | None:
    """The Codex-compatible plain-command splitter (spec §3.2)."""
    return parse_plain_commands(script, literal_words=False)


def flagged_by(argv: list[str]) -> tuple[str, ...]:
    """The detectors that call ``argv`` dangerous (with the plain splitter)."""
    return tuple(d for d in ALL
                 if command_might_be_dangerous(argv, detector=d, split_script=split_plain))


CLASSIC_AND_LEGACY: tuple[Detector, ...] = ("classic", "legacy")
LATEST = ("latest",)
NONE: tuple[str, ...] = ()


# -- rm ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "detectors"),
    [
        # argv[1] is the force flag: every variant
        (["rm", "-f", "/"], ALL),
        (["rm", "-rf", "/"], ALL),
        (["rm", "-Rf", "x"], ALL),
        (["rm", "-fr", "x"], ALL),
        (["rm", "-fR", "x"], ALL),
        (["rm", "--force", "x"], ALL),
        # classic compares argv[0] literally and looks at argv[1] only
        (["/bin/rm", "-rf", "/tmp/example"], LATEST),
        (["/bin/rm", "-fr", "/tmp/example"], LATEST),
        (["./rm", "-f", "x"], LATEST),
        (["rm", "-r", "-f", "/tmp/example"], LATEST),
        (["rm", "/tmp/example", "-f"], LATEST),
        (["rm", "-rfv", "x"], LATEST),
        (["rm", "-vf", "x"], LATEST),
        (["rm", "-Rvf", "x"], LATEST),
        (["rm", "-if", "x"], LATEST),
        (["rm", "-v", "--force", "x"], LATEST),
        # hardening (latest): --force abbreviated as GNU rm accepts it
        (["rm", "--forc", "x"], LATEST),
        (["rm", "--f", "x"], LATEST),
        # not forced
        (["rm", "x"], NONE),
        (["rm"], NONE),
        (["rm", "-r", "/tmp/example"], NONE),
        (["rm", "-i", "x"], NONE),
        (["rm", "--recursive", "x"], NONE),
        (["rm", "--interactive", "x"], NONE),
        (["rm", "--", "-f"], NONE),  # a file named -f
        (["rm", "-r", "--", "-rf"], NONE),
        (["rm", "-"], NONE),
        (["rm", "--forward", "x"], NONE),  # not an abbreviation of --force
        (["RM", "-rf", "x"], NONE),
        (["rmdir", "-f", "x"], NONE),
        (["echo", "rm", "-rf", "/"], NONE),
        (["trash", "-f", "x"], NONE),
    ],
)
def test_rm(argv: list[str], detectors: tuple[str, ...]) -> None:
    assert flagged_by(argv) == detectors


def test_forced_rm_is_the_match_kind() -> None:
    for detector in ALL:
        assert dangerous_command_match(["rm", "-rf", "/"], detector=detector) == FORCED_RM


# -- sudo -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "detectors"),
    [
        (["sudo", "rm", "-rf", "/tmp/example"], ALL),
        (["sudo", "rm", "-f", "x"], ALL),
        (["sudo", "sudo", "rm", "-f", "x"], ALL),
        (["sudo", "/bin/rm", "-rf", "x"], LATEST),
        (["sudo", "rm", "-r", "-f", "x"], LATEST),
        (["/usr/bin/sudo", "rm", "-rf", "x"], LATEST),  # latest: sudo by program name
        # hardening: sudo's own options and VAR=value words are skipped
        (["sudo", "-u", "x", "rm", "-f", "y"], ALL),
        (["sudo", "-ux", "rm", "-f", "y"], ALL),
        (["sudo", "-nu", "x", "rm", "-f", "y"], ALL),
        (["sudo", "--user", "x", "rm", "-f", "y"], ALL),
        (["sudo", "--user=x", "rm", "-f", "y"], ALL),
        (["sudo", "--us", "x", "rm", "-f", "y"], ALL),  # abbreviated --user
        (["sudo", "-g", "wheel", "-D", "/", "rm", "-rf", "y"], ALL),
        (["sudo", "-E", "rm", "-f", "y"], ALL),
        (["sudo", "--preserve-env=PATH", "rm", "-f", "y"], ALL),
        (["sudo", "--login", "rm", "-f", "y"], ALL),  # exact name beats --login-class
        (["sudo", "-s", "rm", "-f", "y"], ALL),
        (["sudo", "--", "rm", "-f", "y"], ALL),
        (["sudo", "FOO=bar", "rm", "-rf", "y"], ALL),
        (["sudo", "-u", "x", "A=1", "B_2=", "rm", "-f", "y"], ALL),
        # hardening: the command under sudo is searched like any other
        (["sudo", "bash", "-lc", "rm -rf /"], ALL),
        # not dangerous
        (["sudo", "ls", "-f"], NONE),
        (["sudo"], NONE),
        (["sudo", "-u", "rm", "ls", "-f"], NONE),  # the user is named rm
        (["sudo", "rm", "x"], NONE),
        (["sudo", "1A=x", "ls"], NONE),
        (["sudo", "git", "status"], NONE),
    ],
)
def test_sudo(argv: list[str], detectors: tuple[str, ...]) -> None:
    assert flagged_by(argv) == detectors


# -- git: legacy only -------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["git", "reset"],
        ["git", "reset", "--hard"],
        ["git", "reset", "--soft", "HEAD~1"],
        ["git", "rm", "file"],
        ["git", "rm", "--cached", "file"],
        ["sudo", "git", "reset", "--hard"],
        ["/usr/bin/git", "reset", "--hard"],
        ["git", "-C", ".", "reset"],
        ["git", "--git-dir=.git", "rm", "x"],
        ["git", "-c", "a=b", "reset"],
        ["git", "--force"],  # the Dec 2025 argv[1] form
        # branch deletion
        ["git", "branch", "-d", "feature"],
        ["git", "branch", "-D", "feature"],
        ["git", "branch", "--delete", "feature"],
        ["git", "branch", "--delete=feature"],
        ["git", "branch", "-dv", "feature"],
        ["git", "branch", "-vD", "feature"],
        ["git", "-C", ".", "branch", "-d", "feature"],
        # forced or deleting pushes
        ["git", "push", "--force", "origin", "main"],
        ["git", "push", "-f", "origin", "main"],
        ["git", "push", "origin", "main", "--force"],
        ["git", "push", "--force-with-lease"],
        ["git", "push", "--force-with-lease=main:abc123"],
        ["git", "push", "--force-if-includes"],
        ["git", "push", "--force-if-includes=x"],
        ["git", "push", "--delete", "origin", "feature"],
        ["git", "push", "--delete=feature"],
        ["git", "push", "-d", "origin", "feature"],
        ["git", "push", "-uf", "origin", "feature"],
        ["git", "push", "-fu", "origin", "feature"],
        ["git", "push", "-ud", "origin", "feature"],
        ["git", "push", "origin", "+main"],
        ["git", "push", "origin", "+main:main"],
        ["git", "push", "origin", ":feature"],
        # forced clean
        ["git", "clean", "-f"],
        ["git", "clean", "--force"],
        ["git", "clean", "--force=x"],
        ["git", "clean", "-fdx"],
        ["git", "clean", "-xdf"],
        ["git", "clean", "-d", "-f"],
    ],
)
def test_destructive_git_is_dangerous_in_legacy_only(argv: list[str]) -> None:
    # Git left the list on 2026-02-12 (PR #11510).
    assert flagged_by(argv) == ("legacy",)
    assert dangerous_command_match(argv, detector="legacy") == OTHER


@pytest.mark.parametrize(
    "argv",
    [
        ["git", "status"],
        ["git", "log", "-p"],
        ["git", "checkout", "reset"],  # the first operand is the subcommand
        ["git", "show", "rm"],
        ["git", "branch"],
        ["git", "branch", "--list"],
        ["git", "branch", "new-feature"],
        ["git", "branch", "--format=%(refname)"],
        ["git", "push", "origin", "main"],
        ["git", "push", "-u", "origin", "main"],
        ["git", "push", "origin", "+"],
        ["git", "push", "origin", ":"],
        ["git", "push", "--follow-tags"],
        ["git", "clean", "-n"],
        ["git", "clean", "-nd"],
        ["git", "clean", "--dry-run"],
        ["git", "fetch", "--force"],
        ["git", "-C", "reset", "status"],  # `reset` is -C's value
        ["git"],
    ],
)
def test_other_git_is_not_dangerous(argv: list[str]) -> None:
    assert flagged_by(argv) == NONE


def test_legacy_git_name_is_a_suffix_match() -> None:
    # The reference tested `argv[0].ends_with("git")`.
    assert command_might_be_dangerous(["/opt/git/bin/git", "reset"], detector="legacy")
    assert not command_might_be_dangerous(["gitk", "reset"], detector="legacy")


# -- shell wrappers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "detectors"),
    [
        (["bash", "-lc", "rm -rf /"], ALL),
        (["zsh", "-lc", "rm -f x"], ALL),
        (["sh", "-c", "ls && rm -rf /"], ALL),
        (["bash", "-lc", "ls | rm -f x"], ALL),
        (["bash", "-lc", "sudo rm -rf /"], ALL),
        (["bash", "-lc", "rm -r -f x"], LATEST),
        (["bash", "-lc", "/bin/rm -rf x"], LATEST),
        (["bash", "-lc", "git reset --hard"], ("legacy",)),
        (["zsh", "-lc", "git reset --hard"], ("legacy",)),
        (["bash", "-lc", "git status"], NONE),
        (["bash", "-lc", "echo 'rm -rf x'"], NONE),  # quoted data
        (["bash", "-lc", "rm -rf x > out"], NONE),  # not plain; see complex scripts
        (["bash", "-lc", "rm -rf"], ALL),
        # hardening: generous wrapper recognition
        (["/tmp/bash", "-lc", "rm -rf x"], ALL),
        (["./bash", "-c", "rm -rf x"], ALL),
        (["bash.exe", "-c", "rm -rf x"], ALL),
        (["/usr/local/bin/zsh", "-c", "rm -rf x"], ALL),
        (["bash", "-l", "-c", "rm -rf x"], ALL),
        (["bash", "-ic", "rm -rf x"], ALL),
        (["bash", "-e", "-o", "pipefail", "-c", "rm -rf x"], ALL),
        (["bash", "--norc", "-c", "rm -rf x"], ALL),
        (["bash", "--rcfile", "rc", "-c", "rm -rf x"], ALL),
        (["bash", "-c", "rm -rf \"$1\"", "_", "dir"], NONE),  # `$1`: not plain
        (["sh", "-c", "rm -rf x", "arg0"], ALL),
        (["sh", "-c", "--", "rm -rf x"], ALL),
        # hardening: nested wrappers
        (["bash", "-lc", "sh -c 'rm -rf x'"], ALL),
        (["bash", "-lc", "sudo bash -c 'rm -f x'"], ALL),
        # not wrappers
        (["bash", "script.sh", "-c"], NONE),
        (["bash", "-lc"], NONE),
        (["bash", "rm -rf x"], NONE),
        (["fish", "-c", "rm -rf x"], NONE),
        (["python3", "-c", "rm -rf x"], NONE),
    ],
)
def test_wrapper_scripts(argv: list[str], detectors: tuple[str, ...]) -> None:
    assert flagged_by(argv) == detectors


def test_wrapper_scripts_need_a_splitter() -> None:
    for detector in ALL:
        assert not command_might_be_dangerous(["bash", "-lc", "rm -rf /"], detector=detector)


# The commands a complex-script finder reports: every command node with its
# statically known words (dynamic words and redirects left out); nothing for
# a script that does not parse or whose command name is dynamic.
COMPLEX = {
    "printf x | rm -rf /tmp/example": [["printf", "x"], ["rm", "-rf", "/tmp/example"]],
    "if test -d /tmp/example; then rm --force /tmp/example; fi": [
        ["test", "-d", "/tmp/example"], ["rm", "--force", "/tmp/example"]],
    'rm -rf "$TARGET" >/dev/null': [["rm", "-rf"]],
    'for target in /tmp/a /tmp/b; do rm -r -f "$target"; done': [["rm", "-r", "-f"]],
    'echo "$(rm -rf /tmp/example)"': [["echo"], ["rm", "-rf", "/tmp/example"]],
    ("for a in '-C5a25KeRr' '--' '--json' '--bogus'; do HOME=$(mktemp -d) "
     "MDE_URL=http://127.0.0.1:1 MDE_TOKEN=x node cli/mde.cjs ls \"$a\" "
     ">/tmp/mde-review-out 2>/tmp/mde-review-err; code=$?; printf '%s\\t%s\\t%s\\n' "
     "\"$a\" \"$code\" \"$(tr '\\n' ' ' </tmp/mde-review-err)\"; rm -rf \"$HOME\"; done"): [
        ["mktemp", "-d"], ["node", "cli/mde.cjs", "ls"], ["printf", "%s\\t%s\\t%s\\n"],
        ["tr", "\\n", " "], ["rm", "-rf"]],
    "echo 'rm -rf /tmp/example'": [["echo", "rm -rf /tmp/example"]],
    "cmd=rm; $cmd -rf /tmp/example": [],
    "if then rm -rf /tmp/example": [],
    "(cd /tmp && git reset --hard) > log": [["cd", "/tmp"], ["git", "reset", "--hard"]],
}


def find_commands(script: str) -> list[list[str]]:
    return COMPLEX[script]


@pytest.mark.parametrize(
    ("script", "plain"),
    [
        ("printf x | rm -rf /tmp/example", True),
        ("if test -d /tmp/example; then rm --force /tmp/example; fi", False),
        ('rm -rf "$TARGET" >/dev/null', False),
        ('for target in /tmp/a /tmp/b; do rm -r -f "$target"; done', False),
        ('echo "$(rm -rf /tmp/example)"', False),
        (next(s for s in COMPLEX if s.startswith("for a in")), False),
    ],
)
def test_latest_finds_forced_rm_in_complex_scripts(script: str, plain: bool) -> None:
    argv = ["bash", "-lc", script]
    assert dangerous_command_match(argv, detector="latest", split_script=split_plain,
                                   find_commands=find_commands) == FORCED_RM
    assert forced_rm_reason(argv, find_commands=find_commands) == FORCED_RM_REASON
    # classic and legacy only ever look at plain scripts
    for detector in CLASSIC_AND_LEGACY:
        assert command_might_be_dangerous(argv, detector=detector,
                                          split_script=split_plain,
                                          find_commands=find_commands) is plain


@pytest.mark.parametrize(
    "script",
    [
        "echo 'rm -rf /tmp/example'",  # quoted data
        "cmd=rm; $cmd -rf /tmp/example",  # dynamic command name
        "if then rm -rf /tmp/example",  # parse error
    ],
)
def test_latest_ignores_data_dynamic_names_and_parse_errors(script: str) -> None:
    assert not command_might_be_dangerous(["bash", "-lc", script],
                                          find_commands=find_commands)


def test_latest_complex_scripts_are_searched_for_forced_rm_only() -> None:
    argv = ["bash", "-lc", "(cd /tmp && git reset --hard) > log"]
    assert not command_might_be_dangerous(argv, find_commands=find_commands)


def test_latest_falls_back_to_the_plain_splitter() -> None:
    assert command_might_be_dangerous(["bash", "-lc", "ls && rm -rf x"],
                                      split_script=split_plain)


def test_latest_prefers_the_complex_finder() -> None:
    calls: list[str] = []

    def splitter(script: str) -> list[list[str]] | None:
        calls.append(script)
        return [["rm", "-rf", "x"]]

    assert not command_might_be_dangerous(["bash", "-lc", "cmd=rm; $cmd -rf /tmp/example"],
                                          split_script=splitter,
                                          find_commands=find_commands)
    assert calls == []


def test_runaway_nesting_is_reported_as_danger() -> None:
    def forever(script: str) -> list[list[str]]:
        return [["bash", "-c", script]]

    assert dangerous_command_match(["bash", "-c", "x"], find_commands=forever) == OTHER


@pytest.mark.parametrize(
    ("argv", "script"),
    [
        (["bash", "-lc", "ls"], "ls"),
        (["bash", "-c", "ls"], "ls"),
        (["/bin/sh", "-c", "ls", "arg0", "arg1"], "ls"),
        (["zsh", "-l", "-c", "ls"], "ls"),
        (["bash", "-x", "-o", "pipefail", "-c", "ls"], "ls"),
        (["bash", "+O", "extglob", "-c", "ls"], "ls"),
        (["bash", "--init-file", "f", "-c", "ls"], "ls"),
        (["bash", "-c", "-", "ls"], "ls"),
        (["bash", "-c"], None),
        (["bash", "-c", "--"], None),
        (["bash", "script.sh"], None),
        (["bash", "script.sh", "-c", "ls"], None),
        (["bash", "-o", "-c", "ls"], None),  # `-c` is -o's value; `ls` is a file
        (["bash", "-x", "ls"], None),
        (["bash.evil.x", "-c", "ls"], "ls"),
        ([".bash", "-c", "ls"], None),
        (["nu", "-c", "ls"], None),
        ([], None),
    ],
)
def test_shell_wrapper_script(argv: list[str], script: str | None) -> None:
    assert shell_wrapper_script(argv) == script


# -- API --------------------------------------------------------------------------


def test_default_detector_is_latest() -> None:
    assert command_might_be_dangerous(["rm", "-r", "-f", "x"])
    assert not command_might_be_dangerous(["git", "reset", "--hard"])


def test_unknown_detector_is_an_error() -> None:
    with pytest.raises(ValueError, match="current"):
        command_might_be_dangerous(["rm", "-rf", "/"], detector="current")  # type: ignore[arg-type]


@pytest.mark.parametrize("detector", ALL)
def test_empty_argv_is_not_dangerous(detector: Detector) -> None:
    assert dangerous_command_match([], detector=detector) is None
    assert dangerous_command_match([""], detector=detector) is None


def test_forced_rm_reason_text() -> None:
    # Quoted from spec §6.1/§12 (latest).
    assert FORCED_RM_REASON == "rm -f style commands are not permitted. Use a safer approach"


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["rm", "-rf", "/"], FORCED_RM_REASON),
        (["/bin/rm", "x", "-f"], FORCED_RM_REASON),
        (["sudo", "rm", "--force", "x"], FORCED_RM_REASON),
        (["bash", "-lc", "ls && rm -rf x"], FORCED_RM_REASON),
        (["rm", "-r", "x"], None),
        (["git", "reset", "--hard"], None),  # legacy danger, not a forced rm
        (["ls"], None),
    ],
)
def test_forced_rm_reason(argv: list[str], reason: str | None) -> None:
    assert forced_rm_reason(argv, split_script=split_plain) == reason
    assert is_forced_rm(argv, split_plain) is (reason is not None)


def test_tables() -> None:
    assert dangerous.DETECTORS == ("classic", "legacy", "latest")
    assert {"-f", "-rf", "-Rf", "-fr", "-fR", "--force"} == dangerous.CLASSIC_FORCED_RM_FLAGS
    assert {"reset", "rm"} == dangerous.LEGACY_GIT_DANGEROUS_SUBCOMMANDS
    assert set(dangerous.LEGACY_GIT_UNSAFE_OPTIONS) == {"branch", "push", "clean"}
    assert set(dangerous.LEGACY_GIT_UNSAFE_OPTION_PREFIXES) == {"branch", "push", "clean"}
    assert set(dangerous.LEGACY_GIT_UNSAFE_SHORT_LETTERS) == {"branch", "push", "clean"}
    assert {"bash", "zsh", "sh"} == dangerous.SHELL_NAMES
