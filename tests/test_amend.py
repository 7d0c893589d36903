"""Appending rules to rules files (execpolicy/amend.py, spec §8)."""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from execguard.execpolicy import (
    AmendError,
    Decision,
    NetworkProtocol,
    append_network_rule,
    append_prefix_rule,
    load_policy,
    network_rule_line,
    prefix_rule_line,
)

ECHO = 'prefix_rule(pattern=["echo", "Hello, world!"], decision="allow")'
LS = 'prefix_rule(pattern=["ls"], decision="allow")'


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXECGUARD_CACHE_DIR", str(tmp_path / "cache"))


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# -- line formats ------------------------------------------------------------------


def test_creates_the_directory_and_writes_the_reference_line(tmp_path: Path) -> None:
    path = tmp_path / "rules" / "default.rules"
    assert append_prefix_rule(path, ["echo", "Hello, world!"]) is True
    assert path.read_bytes() == (ECHO + "\n").encode()


def test_appends_after_a_file_ending_in_newline(tmp_path: Path) -> None:
    path = tmp_path / "default.rules"
    path.write_text(LS + "\n")
    assert append_prefix_rule(path, ["echo", "Hello, world!"])
    assert path.read_text() == f"{LS}\n{ECHO}\n"


def test_adds_the_missing_final_newline_first(tmp_path: Path) -> None:
    path = tmp_path / "default.rules"
    path.write_text(LS)
    assert append_prefix_rule(path, ["echo", "Hello, world!"])
    assert path.read_text() == f"{LS}\n{ECHO}\n"


def test_string_escaping_matches_serde_json(tmp_path: Path) -> None:
    tokens = ['say "hi"', "C:\\dir\\", "\x00\x01\b\f\x1f", "\n\r\t", "\x7f", "é 😀 \u2028 /", ""]
    line = prefix_rule_line(tokens)
    assert line == (
        r'prefix_rule(pattern=["say \"hi\"", "C:\\dir\\", "\u0000\u0001\b\f\u001f", '
        '"\\n\\r\\t", "\x7f", "é 😀 \u2028 /", ""], decision="allow")'
    )
    path = tmp_path / "default.rules"
    assert append_prefix_rule(path, tokens)
    assert path.read_text(encoding="utf-8") == line + "\n"
    rule = load_policy([path]).rules[0]
    assert [rule.program, *rule.rest] == tokens
    assert load_policy([path]).check(tokens).decision is Decision.ALLOW


def test_tokens_may_be_any_sequence(tmp_path: Path) -> None:
    path = tmp_path / "default.rules"
    assert append_prefix_rule(path, ("git", "status"))
    assert path.read_text() == 'prefix_rule(pattern=["git", "status"], decision="allow")\n'


def test_network_rule_line_normalises_like_the_builtin(tmp_path: Path) -> None:
    path = tmp_path / "rules" / "default.rules"
    assert append_network_rule(path, "Api.GitHub.com", NetworkProtocol.HTTPS, Decision.ALLOW,
                               "Allow https_connect access to api.github.com")
    assert append_prefix_rule(path, ["curl"])
    assert path.read_text() == (
        'network_rule(host="api.github.com", protocol="https", decision="allow", '
        'justification="Allow https_connect access to api.github.com")\n'
        'prefix_rule(pattern=["curl"], decision="allow")\n'
    )


@pytest.mark.parametrize(
    ("host", "protocol", "decision", "justification", "line"),
    [
        ("Example.COM:443", "https_connect", "forbidden", None,
         'network_rule(host="example.com", protocol="https", decision="deny")'),
        ("[::1]:8080", "http-connect", "deny", None,
         'network_rule(host="::1", protocol="https", decision="deny")'),
        ("  host.example.  ", "socks5_udp", "prompt", 'say "why"\n',
         'network_rule(host="host.example", protocol="socks5_udp", decision="prompt", '
         'justification="say \\"why\\"\\n")'),
        ("h", NetworkProtocol.SOCKS5_TCP, Decision.FORBIDDEN, "é\x1f",
         'network_rule(host="h", protocol="socks5_tcp", decision="deny", '
         'justification="é\\u001f")'),
        ("h", "http", "allow", None, 'network_rule(host="h", protocol="http", decision="allow")'),
    ],
)
def test_network_rule_formats(tmp_path: Path, host: str, protocol: str, decision: str,
                              justification: str | None, line: str) -> None:
    assert network_rule_line(host, protocol, decision, justification) == line
    path = tmp_path / "default.rules"
    assert append_network_rule(path, host, protocol, decision, justification)
    assert path.read_text(encoding="utf-8") == line + "\n"
    rule = load_policy([path]).network_rules[0]
    assert rule.justification == justification


# -- deduplication -----------------------------------------------------------------


def test_an_existing_identical_line_is_not_written_again(tmp_path: Path) -> None:
    path = tmp_path / "default.rules"
    path.write_text(f"# mine\n{ECHO}\n{LS}")  # no final newline either
    before = path.stat()
    assert append_prefix_rule(path, ["echo", "Hello, world!"]) is False
    assert append_prefix_rule(path, ["ls"]) is False  # the last line, without "\n"
    after = path.stat()
    assert path.read_text() == f"# mine\n{ECHO}\n{LS}"
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_only_exact_lines_count_as_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "default.rules"
    original = f"# {ECHO}\n  {ECHO}\n{ECHO} \nprefix_rule(pattern=['echo'], decision='allow')\n"
    path.write_text(original)
    assert append_prefix_rule(path, ["echo", "Hello, world!"]) is True
    assert append_prefix_rule(path, ["echo"]) is True
    assert path.read_text() == (
        original + ECHO + "\n" + 'prefix_rule(pattern=["echo"], decision="allow")\n')


def test_crlf_files(tmp_path: Path) -> None:
    path = tmp_path / "default.rules"
    path.write_bytes(f"{LS}\r\n# comment\r\n".encode())
    assert append_prefix_rule(path, ["ls"]) is False  # "\r" stripped as Rust `lines()` does
    assert append_prefix_rule(path, ["echo", "Hello, world!"]) is True
    assert path.read_bytes() == f"{LS}\r\n# comment\r\n{ECHO}\n".encode()
    assert load_policy([path]).check(["ls"]).decision is Decision.ALLOW


def test_crlf_file_without_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "default.rules"
    path.write_bytes(f"# c\r\n{LS}".encode())
    assert append_prefix_rule(path, ["ls"]) is False
    assert append_prefix_rule(path, ["echo", "Hello, world!"])
    assert path.read_bytes() == f"# c\r\n{LS}\n{ECHO}\n".encode()


def test_a_bare_carriage_return_ending_the_file_stays_part_of_the_line(tmp_path: Path) -> None:
    # Rust's `lines()` drops "\r" only before "\n": `ls\r` is not `ls`.
    path = tmp_path / "default.rules"
    path.write_bytes(f"{LS}\r".encode())
    assert append_prefix_rule(path, ["ls"]) is True
    assert path.read_bytes() == f"{LS}\r\n{LS}\n".encode()


def test_a_network_duplicate_that_is_the_last_word_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "default.rules"
    assert append_network_rule(path, "a.example", "https", "deny")
    assert append_network_rule(path, "b.example", "https", "allow")
    assert append_network_rule(path, "A.example:443", "https", "forbidden") is False
    assert path.read_text().count("\n") == 2


def test_a_network_duplicate_that_was_overridden_is_written_again(tmp_path: Path) -> None:
    # For a host the last allow/deny rule wins: re-allowing must take effect.
    path = tmp_path / "default.rules"
    assert append_network_rule(path, "a.example", "https", "allow")
    assert append_network_rule(path, "a.example", "http", "deny")
    assert load_policy([path]).compiled_network_domains() == ([], ["a.example"])
    assert append_network_rule(path, "a.example", "https", "allow") is True
    assert load_policy([path]).compiled_network_domains() == (["a.example"], [])
    assert append_network_rule(path, "a.example", "https", "allow") is False
    assert path.read_text().count("\n") == 3


# -- validation and error messages -------------------------------------------------


def test_empty_prefix_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(AmendError, match=r"^prefix rule requires at least one token$"):
        append_prefix_rule(tmp_path / "default.rules", [])
    assert listing(tmp_path) == []


def test_a_bare_string_is_not_a_token_list(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        append_prefix_rule(tmp_path / "default.rules", "git")


def test_unencodable_tokens_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(AmendError, match=r"^failed to format prefix tokens: .*lone surrogate"):
        append_prefix_rule(tmp_path / "default.rules", ["git", "\udcff"])
    with pytest.raises(AmendError, match=r"^failed to format prefix tokens: .*\(got int\)"):
        append_prefix_rule(tmp_path / "default.rules", ["git", 1])  # type: ignore[list-item]
    with pytest.raises(AmendError, match=r"^failed to serialize network rule field: "):
        append_network_rule(tmp_path / "default.rules", "h", "http", "allow", "\ud800")
    assert listing(tmp_path) == []


@pytest.mark.parametrize(
    ("host", "protocol", "decision", "justification", "message"),
    [
        (" ", "https", "allow", None,
         "invalid network rule: invalid rule: network_rule host cannot be empty"),
        ("*.example.com", "https", "allow", None,
         "invalid network rule: invalid rule: network_rule host must be a specific host; "
         "wildcards are not allowed"),
        ("https://example.com", "https", "allow", None,
         "invalid network rule: invalid rule: network_rule host must be a hostname or IP "
         "literal (without scheme or path)"),
        ("[::1", "https", "allow", None,
         "invalid network rule: invalid rule: network_rule host has an invalid bracketed "
         "IPv6 literal"),
        ("[::1]x ", "https", "allow", None,
         "invalid network rule: invalid rule: network_rule host contains an unsupported "
         "suffix: [::1]x "),
        ("a b", "https", "allow", None,
         "invalid network rule: invalid rule: network_rule host cannot contain whitespace"),
        ("h", "https", "allow", " \u3000\n",
         "invalid network rule: justification cannot be empty"),
        ("h", "socks5", "allow", None,
         "invalid network rule: invalid rule: network_rule protocol must be one of http, "
         "https, socks5_tcp, socks5_udp (got socks5)"),
        ("h", "https", "ask", None, "invalid network rule: invalid decision: ask"),
        # host first, then justification, as the reference validates
        ("", "bad", "bad", "", "invalid network rule: invalid rule: network_rule host "
         "cannot be empty"),
        ("h", "bad", "bad", "", "invalid network rule: justification cannot be empty"),
    ],
)
def test_network_rule_errors(tmp_path: Path, host: str, protocol: str, decision: str,
                             justification: str | None, message: str) -> None:
    with pytest.raises(AmendError) as caught:
        append_network_rule(tmp_path / "r" / "default.rules", host, protocol, decision,
                            justification)
    assert str(caught.value) == message
    assert listing(tmp_path) == []


def test_missing_grandparent_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "default.rules"
    with pytest.raises(AmendError) as caught:
        append_prefix_rule(path, ["ls"])
    assert str(caught.value) == (
        f"failed to create policy directory {tmp_path / 'a' / 'b'}: "
        "No such file or directory (os error 2)")
    assert listing(tmp_path) == []


@pytest.mark.parametrize("path", ["", "/", "//"])
def test_path_without_parent(path: str) -> None:
    with pytest.raises(AmendError, match=f"^policy path has no parent: {path}$"):
        append_prefix_rule(path, ["ls"])


def test_a_relative_file_name_uses_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert append_prefix_rule("default.rules", ["ls"])
    assert listing(tmp_path) == ["default.rules", "default.rules.lock"]


def test_a_directory_is_not_a_policy_file(tmp_path: Path) -> None:
    (tmp_path / "x.rules").mkdir()
    with pytest.raises(AmendError) as caught:
        append_prefix_rule(tmp_path / "x.rules", ["ls"])
    assert str(caught.value) == (
        f"failed to open policy file {tmp_path / 'x.rules'}: Is a directory (os error 21)")


def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "x.rules"
    os.mkfifo(fifo)
    with pytest.raises(AmendError, match=r"^failed to open policy file .*: not a regular file$"):
        append_prefix_rule(fifo, ["ls"])


def test_invalid_utf8_is_a_read_error_and_the_file_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "default.rules"
    path.write_bytes(b"# \xff\n")
    with pytest.raises(AmendError) as caught:
        append_prefix_rule(path, ["ls"])
    assert str(caught.value) == (
        f"failed to read policy file {path}: stream did not contain valid UTF-8")
    assert path.read_bytes() == b"# \xff\n"


def test_a_line_that_would_break_a_loading_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "default.rules"
    original = 'def prefix_rule(**kwargs):\n    fail("rules are frozen")\n'
    path.write_text(original)
    with pytest.raises(AmendError, match=(
            r"^refusing to write to policy file .*: the amended file would not load: "
            r".*rules are frozen")):
        append_prefix_rule(path, ["ls"])
    assert path.read_text() == original
    assert load_policy([path]).rules == []


def test_an_already_broken_file_is_still_appended_to(tmp_path: Path) -> None:
    # As the reference does: the new line cannot make it worse.
    path = tmp_path / "default.rules"
    path.write_text('prefix_rule(["git"], "maybe")\n')
    assert append_prefix_rule(path, ["ls"])
    assert path.read_text() == f'prefix_rule(["git"], "maybe")\n{LS}\n'


def test_a_failed_write_leaves_the_original_and_no_temporary_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "default.rules"
    path.write_text(LS + "\n")

    def full_disk(src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(AmendError) as caught:
        append_prefix_rule(path, ["echo"])
    assert str(caught.value) == (
        f"failed to write to policy file {path}: No space left on device (os error 28)")
    assert path.read_text() == LS + "\n"
    assert listing(tmp_path) == ["default.rules", "default.rules.lock"]


def test_temporary_files_of_crashed_writers_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "default.rules"
    path.write_text(LS + "\n")
    (tmp_path / ".default.rules.0123456789ab.tmp").write_text("half a li")
    (tmp_path / ".default.rules.someone-else.tmp").write_text("not ours")
    assert append_prefix_rule(path, ["echo"])
    assert listing(tmp_path) == [
        ".default.rules.someone-else.tmp", "default.rules", "default.rules.lock"]


# -- file metadata and links -------------------------------------------------------


def test_the_file_mode_is_preserved(tmp_path: Path) -> None:
    path = tmp_path / "default.rules"
    path.write_text(LS + "\n")
    path.chmod(0o640)
    assert append_prefix_rule(path, ["echo"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    path.chmod(0o604)
    assert append_network_rule(path, "h", "http", "allow")
    assert stat.S_IMODE(path.stat().st_mode) == 0o604


def test_a_new_file_gets_the_umask_default_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        assert append_prefix_rule(tmp_path / "default.rules", ["ls"])
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "default.rules").stat().st_mode) == 0o640


def test_the_file_is_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "default.rules"
    path.write_text(LS + "\n")
    reader = path.open()  # a reader holding the old file keeps seeing it whole
    inode = path.stat().st_ino
    assert append_prefix_rule(path, ["echo"])
    assert path.stat().st_ino != inode
    assert reader.read() == LS + "\n"
    reader.close()


def test_a_symlinked_file_stays_a_symlink_and_its_target_is_amended(tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "execguard.rules"
    real.write_text(LS + "\n")
    real.chmod(0o600)
    rules = tmp_path / "rules"
    rules.mkdir()
    hop = rules / "hop.rules"
    hop.symlink_to(real)
    link = rules / "default.rules"
    link.symlink_to("hop.rules")  # relative, and a chain of two links

    assert append_prefix_rule(link, ["echo"])
    assert link.is_symlink() and os.readlink(link) == "hop.rules"
    assert hop.is_symlink()
    assert real.read_text() == LS + "\n" + 'prefix_rule(pattern=["echo"], decision="allow")\n'
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    # the lock lives beside the real file, so writers using either name share it
    assert listing(dotfiles) == ["execguard.rules", "execguard.rules.lock"]
    assert listing(rules) == ["default.rules", "hop.rules"]
    assert append_prefix_rule(real, ["echo"]) is False


def test_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "default.rules"
    link.symlink_to(tmp_path / "real.rules")
    assert append_prefix_rule(link, ["ls"])
    assert link.is_symlink()
    assert (tmp_path / "real.rules").read_text() == LS + "\n"


def test_a_symlinked_directory_is_followed(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "rules").symlink_to(real)
    assert append_prefix_rule(tmp_path / "rules" / "default.rules", ["ls"])
    assert (tmp_path / "rules").is_symlink()
    assert listing(real) == ["default.rules", "default.rules.lock"]


def test_a_symlink_loop_is_an_open_error(tmp_path: Path) -> None:
    (tmp_path / "a.rules").symlink_to("b.rules")
    (tmp_path / "b.rules").symlink_to("a.rules")
    with pytest.raises(AmendError) as caught:
        append_prefix_rule(tmp_path / "a.rules", ["ls"])
    assert str(caught.value) == (f"failed to open policy file {tmp_path / 'a.rules'}: "
                                 "Too many levels of symbolic links (os error 40)")


def test_hard_links_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "default.rules"
    path.write_text(LS)
    other = tmp_path / "other.rules"
    os.link(path, other)
    assert append_prefix_rule(path, ["echo"])
    assert path.stat().st_ino == other.stat().st_ino
    assert other.read_text() == f'{LS}\nprefix_rule(pattern=["echo"], decision="allow")\n'


# -- locking -----------------------------------------------------------------------


def _append_in_thread(path: Path) -> threading.Thread:
    thread = threading.Thread(target=append_prefix_rule, args=(path, ["echo"]), daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("lock", ["lock file", "rules file"])
def test_writers_wait_for_the_lock(tmp_path: Path, lock: str) -> None:
    # "rules file": what a Codex process appending in place holds.
    path = tmp_path / "default.rules"
    path.write_text(LS + "\n")
    held = path.with_name("default.rules.lock") if lock == "lock file" else path
    with open(held, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        thread = _append_in_thread(path)
        time.sleep(0.3)
        assert thread.is_alive()
        assert path.read_text() == LS + "\n"
        fcntl.flock(handle, fcntl.LOCK_UN)
        thread.join(10)
    assert not thread.is_alive()
    assert path.read_text().endswith('prefix_rule(pattern=["echo"], decision="allow")\n')


WRITER = textwrap.dedent("""
    import os, sys, time
    from execguard.execpolicy import append_network_rule, append_prefix_rule
    path, me, start = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    while not os.path.exists(start):
        time.sleep(0.001)
    written = 0
    for i in range(50):
        written += append_prefix_rule(path, ["tool", f"w{me}", f"r{i}", 'q"\\\\ é'])
        if i % 10 == me % 10:
            written += append_prefix_rule(path, ["shared", str(i % 5)])
            written += append_network_rule(path, "Shared.Example:443", "https", "deny")
        if i % 7 == 0:
            written += append_network_rule(path, f"w{me}-{i}.example", "http", "allow")
    print(written)
""")

READER = textwrap.dedent("""
    import os, sys
    from execguard.execpolicy import PolicyError, load_policy
    path, stop = sys.argv[1], sys.argv[2]
    loads, last = 0, 0
    while not os.path.exists(stop) or loads < 5:
        try:
            policy = load_policy([path], use_cache=False)
        except PolicyError as error:
            print("PARSE ERROR", error)
            sys.exit(1)
        count = len(policy.rules) + len(policy.network_rules)
        if count < last:
            print("SHRANK", last, count)
            sys.exit(1)
        last = count
        loads += 1
    print(loads)
""")


def test_concurrent_writer_processes(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    path = rules / "default.rules"
    path.write_text("# seed\n" + LS)  # no final newline: the first writer adds it
    start, stop = tmp_path / "start", tmp_path / "stop"
    env = {**os.environ, "EXECGUARD_CACHE_DIR": str(tmp_path / "cache")}
    reader = subprocess.Popen([sys.executable, "-c", READER, str(path), str(stop)],
                              stdout=subprocess.PIPE, text=True, env=env)
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(me), str(start)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for me in range(8)
    ]
    start.touch()
    outputs = [w.communicate(timeout=300) for w in writers]
    stop.touch()
    reader_out, _ = reader.communicate(timeout=60)
    for writer, (_out, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err
    assert reader.returncode == 0, reader_out
    assert int(reader_out) >= 5

    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""
    lines = lines[:-1]
    expected = [prefix_rule_line(["tool", f"w{me}", f"r{i}", 'q"\\ é'])
                for me in range(8) for i in range(50)]
    expected += [prefix_rule_line(["shared", str(k)]) for k in range(5)]
    expected += [network_rule_line("shared.example", "https", "deny")]
    expected += [network_rule_line(f"w{me}-{i}.example", "http", "allow")
                 for me in range(8) for i in range(0, 50, 7)]
    assert sorted(lines) == sorted(["# seed", LS, *expected])  # each exactly once
    assert sum(int(out) for out, _ in outputs) == len(expected)
    policy = load_policy([path], use_cache=False)
    assert len(policy.rules) == 8 * 50 + 5 + 1
    assert len(policy.network_rules) == 1 + 8 * 8
    assert listing(rules) == ["default.rules", "default.rules.lock"]
