"""Landlock confinement and capability dropping, checked on real processes.

Every test spawns a child (``subprocess`` with a ``preexec_fn``, or a plain
``fork`` where nothing could be ``exec``'d) and looks at what the kernel
lets it do. Expectations that depend on the kernel's Landlock ABI are
computed from :func:`abi_version`, so the suite is exact on any kernel with
Landlock. Tests that mount or ``chroot`` first move the child into a
private mount namespace, so nothing can leak onto the host even if an
assertion fails.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from execguard.sandbox.landlock import (
    DEVICE_DEFAULTS,
    AccessFs,
    AccessNet,
    LandlockUnavailable,
    Restriction,
    Scope,
    abi_version,
    describe,
    fs_rights,
    net_rights,
    scope_rights,
)
from execguard.sandbox.privileges import prepare_drop_capabilities

ABI = abi_version()
_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18
_CAP_SETPCAP = 8


def _expect(min_abi: int, denied: str) -> str:
    """`denied` where the kernel's ABI can deny it, else "ok"."""
    return denied if min_abi <= ABI else "ok"


# -- spawning probes -----------------------------------------------------------------

# Runs in the restricted child: each attempt records "ok" or the errno name.
_PRELUDE = """
import ctypes, errno, json, os, signal, socket, subprocess, sys
P = json.loads(sys.argv[1])
results = {}
libc = ctypes.CDLL(None, use_errno=True)

def attempt(name, fn, *args):
    try:
        fn(*args)
    except OSError as err:
        results[name] = errno.errorcode.get(err.errno, str(err.errno))
    else:
        results[name] = "ok"

def write(path):
    with open(path, "wb") as f:
        f.write(b"new")

def append(path):
    with open(path, "ab") as f:
        f.write(b"+")

def read(path):
    with open(path, "rb") as f:
        f.read(1)

def checked(result):
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))

def mount_tmpfs(target):
    checked(libc.mount(b"tmpfs", target.encode(), b"tmpfs", ctypes.c_ulong(0), None))

def umount(target):
    checked(libc.umount2(target.encode(), 2))  # MNT_DETACH

def unshare(flags):
    checked(libc.unshare(flags))

def connect(family, address):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.connect(address)

def bind_tcp():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
"""


def probe(preexec: Callable[[], None] | None, body: str, **params: object) -> dict[str, str]:
    """Run `body` (Python, after `_PRELUDE`) in a child restricted by
    `preexec`; the child's results. `params` reach it as ``P``."""
    code = _PRELUDE + textwrap.dedent(body) + "\nprint(json.dumps(results))\n"
    args = json.dumps({key: str(value) for key, value in params.items()})
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, args],
        preexec_fn=preexec,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, str] = json.loads(proc.stdout)
    return result


def in_forked_child(prepare: Callable[[], None], body: Callable[[], str]) -> str:
    """Fork; in the child run `prepare` then `body`; `body`'s result (or the
    errno name of the OSError it raised). For restrictions under which no
    program could be exec'd."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.close(read_end)
            try:
                prepare()
                result = body()
            except OSError as err:
                result = errno.errorcode.get(err.errno or 0, str(err))
            except BaseException as err:
                result = f"unexpected: {err!r}"
            os.write(write_end, result.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        output = reader.read().decode()
    os.waitpid(pid, 0)
    return output


def chain(*steps: Callable[[], None]) -> Callable[[], None]:
    def run_all() -> None:
        for step in steps:
            step()

    return run_all


def private_mount_namespace() -> None:
    """In the child: a mount namespace of its own, with propagation to the
    host cut, so a mount that should be denied but is not stays there. An
    unprivileged test run gets it through a user namespace."""
    flags = _CLONE_NEWNS if os.geteuid() == 0 else _CLONE_NEWNS | _CLONE_NEWUSER
    if _libc.unshare(flags) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    if _libc.mount(b"none", b"/", None, ctypes.c_ulong(_MS_REC | _MS_PRIVATE), None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")


@dataclass
class Tree:
    work: Path  # the writable directory
    outside: Path  # a sibling that is only readable
    home: Path  # a $HOME-like directory, only readable
    var_tmp: Path  # a file name in /var/tmp that must never be created


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    work, outside, home = tmp_path / "work", tmp_path / "outside", tmp_path / "home"
    for directory in (work, outside, home, work / "sub"):
        directory.mkdir()
    (outside / "existing.txt").write_text("keep")
    (work / "existing.txt").write_text("mine")
    (work / "to-move.txt").write_text("mine")
    (work / "escape").symlink_to(outside)
    var_tmp = Path("/var/tmp") / f"execguard-landlock-{uuid.uuid4().hex}"
    yield Tree(work, outside, home, var_tmp)
    var_tmp.unlink(missing_ok=True)


# -- the ABI -------------------------------------------------------------------------


def test_abi_version_is_the_raw_syscall_result() -> None:
    raw = _libc.syscall(ctypes.c_long(444), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    assert abi_version() == raw
    assert raw >= 1, "these tests need a kernel with Landlock enabled"


def test_rights_per_abi() -> None:
    v1 = AccessFs(0x1FFF)  # EXECUTE .. MAKE_SYM
    assert fs_rights(0) == AccessFs(0)
    assert fs_rights(1) == v1
    assert fs_rights(2) == v1 | AccessFs.REFER
    assert fs_rights(3) == fs_rights(4) == v1 | AccessFs.REFER | AccessFs.TRUNCATE
    assert fs_rights(5) == fs_rights(99) == AccessFs(0xFFFF)
    assert net_rights(3) == AccessNet(0)
    assert net_rights(4) == AccessNet.BIND_TCP | AccessNet.CONNECT_TCP
    assert scope_rights(5) == Scope(0)
    assert scope_rights(6) == Scope.ABSTRACT_UNIX_SOCKET | Scope.SIGNAL


def test_ruleset_handles_every_right_the_kernel_knows(tree: Tree) -> None:
    with Restriction.build(["/"], [tree.work], scope_signals=ABI >= 6) as restriction:
        assert restriction.abi == ABI
        assert restriction.handled_fs == fs_rights(ABI)
        work_rule = next(rule for rule in restriction.rules if rule.path == str(tree.work))
        assert work_rule.is_dir and work_rule.writable
        assert work_rule.access == fs_rights(ABI)
        root_rule = restriction.rules[0]
        assert root_rule.access == AccessFs.EXECUTE | AccessFs.READ_FILE | AccessFs.READ_DIR


# -- the filesystem ------------------------------------------------------------------

_WORKDIR_PROBE = """
work, out, home = P["work"], P["outside"], P["home"]
attempt("write_inside", write, f"{work}/new.txt")
attempt("rename_inside", os.rename, f"{work}/new.txt", f"{work}/renamed.txt")
attempt("symlink_inside", os.symlink, "renamed.txt", f"{work}/link")
attempt("remove_inside", os.unlink, f"{work}/renamed.txt")
attempt("mkdir_inside", os.mkdir, f"{work}/d")
attempt("rmdir_inside", os.rmdir, f"{work}/d")
attempt("move_into_subdir", os.rename, f"{work}/existing.txt", f"{work}/sub/existing.txt")
mine = f"{work}/sub/existing.txt" if results["move_into_subdir"] == "ok" else f"{work}/existing.txt"
attempt("truncate_inside", os.truncate, mine, 0)
attempt("fifo_inside", os.mkfifo, f"{work}/fifo")

attempt("read_outside", read, f"{out}/existing.txt")
attempt("list_outside", os.listdir, out)
attempt("read_etc", read, "/etc/passwd")
attempt("write_outside", write, f"{out}/new.txt")
attempt("append_outside", append, f"{out}/existing.txt")
attempt("write_home", write, f"{home}/.bashrc")
attempt("write_var_tmp", write, P["var_tmp"])
attempt("mkdir_outside", os.mkdir, f"{out}/d")
attempt("remove_outside", os.unlink, f"{out}/existing.txt")
attempt("truncate_outside", os.truncate, f"{out}/existing.txt", 0)

attempt("dotdot", write, f"{work}/../outside/dotdot.txt")
attempt("through_symlink", write, f"{work}/escape/through.txt")
attempt("existing_through_symlink", append, f"{work}/escape/existing.txt")
attempt("own_symlink", os.symlink, out, f"{work}/own-escape")
attempt("through_own_symlink", append, f"{work}/own-escape/existing.txt")
attempt("hard_link_in", os.link, f"{out}/existing.txt", f"{work}/hard-link")
attempt("rename_out", os.rename, f"{work}/to-move.txt", f"{out}/moved.txt")
attempt("rename_in", os.rename, f"{out}/existing.txt", f"{work}/stolen.txt")

attempt("dev_null", append, "/dev/null")
attempt("dev_zero", read, "/dev/zero")
attempt("dev_urandom", read, "/dev/urandom")
attempt("dev_urandom_write", append, "/dev/urandom")
"""


def test_workdir_is_writable_and_nothing_else(tree: Tree) -> None:
    with Restriction.build(["/"], [tree.work], scope_signals=False) as restriction:
        results = probe(
            restriction.apply,
            _WORKDIR_PROBE,
            work=tree.work,
            outside=tree.outside,
            home=tree.home,
            var_tmp=tree.var_tmp,
        )
    denied = "EACCES"
    # ABI 1 kernels refuse every rename or link that changes directory.
    reparent_denied = denied if ABI >= 2 else "EXDEV"
    assert results == {
        "write_inside": "ok",
        "rename_inside": "ok",
        "symlink_inside": "ok",
        "remove_inside": "ok",
        "mkdir_inside": "ok",
        "rmdir_inside": "ok",
        "move_into_subdir": "ok" if ABI >= 2 else "EXDEV",
        "truncate_inside": "ok",
        "fifo_inside": "ok",
        "read_outside": "ok",
        "list_outside": "ok",
        "read_etc": "ok",
        "write_outside": denied,
        "append_outside": denied,
        "write_home": denied,
        "write_var_tmp": denied,
        "mkdir_outside": denied,
        "remove_outside": denied,
        "truncate_outside": _expect(3, denied),
        "dotdot": denied,
        "through_symlink": denied,
        "existing_through_symlink": denied,
        "own_symlink": "ok",  # creating it is fine; it opens no door
        "through_own_symlink": denied,
        # Linking an outside file in would make it writable under an inside
        # name; REFER is missing on the source side, so EXDEV (ABI 1: always).
        "hard_link_in": "EXDEV",
        # The destination lacks MAKE_REG: EACCES wins over EXDEV.
        "rename_out": reparent_denied,
        # The source lacks REMOVE_FILE.
        "rename_in": reparent_denied,
        "dev_null": "ok",
        "dev_zero": "ok",
        "dev_urandom": "ok",
        "dev_urandom_write": denied,
    }
    # Nothing outside changed.
    assert sorted(p.name for p in tree.outside.iterdir()) == ["existing.txt"]
    assert (tree.outside / "existing.txt").read_text() == "keep"
    assert list(tree.home.iterdir()) == []
    assert not tree.var_tmp.exists()
    assert (tree.work / "to-move.txt").exists()


def test_programs_run_and_write_only_inside(tree: Tree) -> None:
    script = 'echo hi > f && cat f && ls / > /dev/null && echo no > "$1/f"'
    with Restriction.build(["/"], [tree.work], scope_signals=False) as restriction:
        proc = subprocess.run(
            ["/bin/sh", "-c", script, "sh", str(tree.outside)],
            cwd=tree.work,
            preexec_fn=restriction.apply,
            capture_output=True,
            text=True,
            timeout=10,
        )
    assert proc.stdout == "hi\n"
    assert proc.returncode != 0
    assert "Permission denied" in proc.stderr
    assert (tree.work / "f").read_text() == "hi\n"
    assert not (tree.outside / "f").exists()


def test_a_single_writable_file(tree: Tree) -> None:
    allowed = tree.outside / "allowed.txt"
    allowed.write_text("v1")
    with Restriction.build(["/"], [allowed], scope_signals=False) as restriction:
        rule = next(rule for rule in restriction.rules if rule.path == str(allowed))
        file_rights = (
            AccessFs.EXECUTE
            | AccessFs.WRITE_FILE
            | AccessFs.READ_FILE
            | AccessFs.TRUNCATE
            | AccessFs.IOCTL_DEV
        )
        assert not rule.is_dir
        assert rule.access == file_rights & fs_rights(ABI)
        results = probe(
            restriction.apply,
            """
            file, out = P["file"], P["outside"]
            attempt("append", append, file)
            attempt("truncate", os.truncate, file, 0)
            attempt("overwrite", write, file)
            attempt("sibling", write, f"{out}/sibling.txt")
            attempt("other_file", append, f"{out}/existing.txt")
            attempt("unlink", os.unlink, file)
            attempt("rename", os.rename, file, f"{out}/renamed.txt")
            """,
            file=allowed,
            outside=tree.outside,
        )
    assert results == {
        "append": "ok",
        "truncate": "ok",
        "overwrite": "ok",
        "sibling": "EACCES",
        "other_file": "EACCES",
        # Removing and renaming are rights on the directory, not the file.
        "unlink": "EACCES",
        "rename": "EACCES",
    }
    assert allowed.read_text() == "new"
    assert (tree.outside / "existing.txt").read_text() == "keep"


def test_nothing_readable_but_the_device_defaults() -> None:
    with Restriction.build([], [], scope_signals=False) as restriction:
        assert {rule.path for rule in restriction.rules} <= set(DEVICE_DEFAULTS)

        def read_passwd() -> str:
            with open("/etc/passwd", "rb") as f:
                f.read(1)
            return "ok"

        def list_root() -> str:
            os.listdir("/")
            return "ok"

        def run_program() -> str:
            subprocess.run(["/bin/true"], check=True)
            return "ok"

        def devices() -> str:
            with open("/dev/null", "wb") as null, open("/dev/urandom", "rb") as random:
                null.write(random.read(8))
            return "ok"

        def stat_passwd() -> str:
            os.stat("/etc/passwd")
            return "ok"

        assert in_forked_child(restriction.apply, read_passwd) == "EACCES"
        assert in_forked_child(restriction.apply, list_root) == "EACCES"
        assert in_forked_child(restriction.apply, run_program) == "EACCES"
        assert in_forked_child(restriction.apply, devices) == "ok"
        # Landlock restricts opening, not looking: metadata stays visible.
        assert in_forked_child(restriction.apply, stat_passwd) == "ok"


def test_missing_paths_are_skipped_and_reported(tmp_path: Path, tree: Tree) -> None:
    missing_read, missing_write = tmp_path / "nope", tmp_path / "gone" / "deeper"
    with Restriction.build(
        ["/", missing_read], [tree.work, missing_write], scope_signals=False
    ) as restriction:
        assert restriction.skipped == {
            str(missing_read): "does not exist",
            str(missing_write): "does not exist",
        }
        assert str(missing_write) not in {rule.path for rule in restriction.rules}
        lines = restriction.describe()
        results = probe(restriction.apply, 'attempt("w", write, P["f"])', f=tree.work / "x")
    assert results == {"w": "ok"}
    assert f"skipped     {missing_read}: does not exist" in lines
    assert describe(["/", missing_read], [tree.work, missing_write], scope_signals=False) == lines


def test_writable_symlink_grants_its_target(tmp_path: Path, tree: Tree) -> None:
    """A writable path that is a symlink: the rule is on the directory it
    points to (open follows it), not on the directory holding the link."""
    link = tmp_path / "link-to-outside"
    link.symlink_to(tree.outside)
    with Restriction.build(["/"], [link], scope_signals=False) as restriction:
        rule = next(rule for rule in restriction.rules if rule.path == str(link))
        assert rule.target == str(tree.outside)
        assert any(f"{link} -> {tree.outside}" in line for line in restriction.describe())
        results = probe(
            restriction.apply,
            """
            attempt("via_link", write, P["link"] + "/a.txt")
            attempt("via_target", write, P["outside"] + "/b.txt")
            attempt("beside_link", write, P["beside"])
            """,
            link=link,
            outside=tree.outside,
            beside=tmp_path / "beside.txt",
        )
    assert results == {"via_link": "ok", "via_target": "ok", "beside_link": "EACCES"}


def test_swapping_a_writable_dir_for_a_symlink_after_build(tree: Tree) -> None:
    """Rules are bound to inodes when built. Renaming the writable directory
    away and putting a symlink to an outside directory in its place moves
    the rule with the inode; the new path leads outside and stays denied."""
    sub = tree.work / "sub"
    with Restriction.build(["/"], [sub], scope_signals=False) as restriction:
        sub.rename(tree.work / "sub.orig")
        sub.symlink_to(tree.outside)
        results = probe(
            restriction.apply,
            """
            attempt("through_swapped_path", write, P["sub"] + "/x.txt")
            attempt("original_inode", write, P["orig"] + "/x.txt")
            """,
            sub=sub,
            orig=tree.work / "sub.orig",
        )
    assert results == {"through_swapped_path": "EACCES", "original_inode": "ok"}
    assert not (tree.outside / "x.txt").exists()


def test_closed_restriction_cannot_be_applied(tree: Tree) -> None:
    restriction = Restriction.build(["/"], [tree.work], scope_signals=False)
    restriction.close()
    restriction.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        restriction.apply()  # raises before any syscall: safe in the test process


# -- scopes and network --------------------------------------------------------------

_SIGNAL_PROBE = """
attempt("parent", os.kill, os.getppid(), 0)
attempt("outside", os.kill, int(P["sleeper"]), 0)
child = subprocess.Popen(["sleep", "30"])
attempt("own_child", os.kill, child.pid, signal.SIGTERM)
results["own_child_status"] = str(child.wait())
"""


def test_scoped_signals_reach_only_the_sandbox(tree: Tree) -> None:
    if ABI < 6:
        with pytest.raises(LandlockUnavailable, match="ABI 6"):
            Restriction.build(["/"], [tree.work], scope_signals=True)
        return
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        with Restriction.build(["/"], [tree.work], scope_signals=True) as scoped:
            results = probe(scoped.apply, _SIGNAL_PROBE, sleeper=sleeper.pid)
        with Restriction.build(["/"], [tree.work], scope_signals=False) as unscoped:
            unscoped_results = probe(unscoped.apply, _SIGNAL_PROBE, sleeper=sleeper.pid)
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()
    assert results == {
        "parent": "EPERM",
        "outside": "EPERM",
        "own_child": "ok",
        "own_child_status": str(-signal.SIGTERM),
    }
    assert unscoped_results["parent"] == unscoped_results["outside"] == "ok"


def test_scoped_abstract_unix_sockets(tree: Tree) -> None:
    if ABI < 6:
        with pytest.raises(LandlockUnavailable):
            Restriction.build(["/"], [], scope_signals=False, scope_abstract_unix=True)
        return
    name = f"\0execguard-test-{uuid.uuid4().hex}"
    body = 'attempt("connect", connect, socket.AF_UNIX, P["name"])'
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(name)
        server.listen(4)
        with Restriction.build(
            ["/"], [tree.work], scope_signals=False, scope_abstract_unix=True
        ) as scoped:
            assert scoped.scopes == Scope.ABSTRACT_UNIX_SOCKET
            assert probe(scoped.apply, body, name=name) == {"connect": "EPERM"}
        with Restriction.build(["/"], [tree.work], scope_signals=False) as unscoped:
            assert probe(unscoped.apply, body, name=name) == {"connect": "ok"}


def test_tcp_connect_ports(tree: Tree) -> None:
    if ABI < 4:
        with pytest.raises(LandlockUnavailable, match="ABI 4"):
            Restriction.build(["/"], [], scope_signals=False, tcp_connect_ports=[80])
        return
    with socket.socket() as allowed, socket.socket() as other:
        for server in (allowed, other):
            server.bind(("127.0.0.1", 0))
            server.listen(4)
        allowed_port, other_port = allowed.getsockname()[1], other.getsockname()[1]
        with Restriction.build(
            ["/"], [tree.work], scope_signals=False, tcp_connect_ports=[allowed_port]
        ) as restriction:
            assert restriction.tcp_connect_ports == (allowed_port,)
            results = probe(
                restriction.apply,
                """
                attempt("allowed", connect, socket.AF_INET, ("127.0.0.1", int(P["allowed"])))
                attempt("other", connect, socket.AF_INET, ("127.0.0.1", int(P["other"])))
                attempt("bind", bind_tcp)
                """,
                allowed=allowed_port,
                other=other_port,
            )
    assert results == {"allowed": "ok", "other": "EACCES", "bind": "EACCES"}


# -- mounts, chroot and capabilities -------------------------------------------------


def _status_fields(text: str) -> dict[str, str]:
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Cap") or key == "NoNewPrivs":
            fields[key] = value.strip()
    return fields


def _holds_cap_setpcap() -> bool:
    with open("/proc/self/status") as f:
        eff = next(line for line in f if line.startswith("CapEff:"))
    return bool(int(eff.split()[1], 16) & (1 << _CAP_SETPCAP))


def test_dropped_capabilities_show_in_proc_status() -> None:
    proc = subprocess.run(
        ["/bin/cat", "/proc/self/status"],
        preexec_fn=prepare_drop_capabilities(),
        capture_output=True,
        text=True,
        check=True,
    )
    zero = "0000000000000000"
    expected_bounding = (
        zero
        if _holds_cap_setpcap()
        else _status_fields(Path("/proc/self/status").read_text())["CapBnd"]
    )
    assert _status_fields(proc.stdout) == {
        "CapInh": zero,
        "CapPrm": zero,
        "CapEff": zero,
        "CapBnd": expected_bounding,
        "CapAmb": zero,
        "NoNewPrivs": "1",
    }


def test_without_cap_setpcap_no_new_privs_still_keeps_root_powerless() -> None:
    """A process that cannot empty its bounding set (no CAP_SETPCAP): the
    bounding drop is skipped, and no-new-privs plus empty sets keep exec
    from giving a uid-0 command capabilities anyway."""

    def lose_setpcap() -> None:
        # What a root without CAP_SETPCAP looks like (some containers).
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)
        sets = (ctypes.c_uint32 * 6)()
        if _libc.capget(header, sets) != 0:
            raise OSError(ctypes.get_errno(), "capget")
        sets[0] &= ~(1 << _CAP_SETPCAP)  # effective, low half
        sets[1] &= ~(1 << _CAP_SETPCAP)  # permitted, low half
        if _libc.capset(header, sets) != 0:
            raise OSError(ctypes.get_errno(), "capset")

    def spawn_status() -> str:
        return subprocess.run(
            ["/bin/cat", "/proc/self/status"],
            preexec_fn=prepare_drop_capabilities(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    fields = _status_fields(in_forked_child(lose_setpcap, spawn_status))
    assert fields["CapPrm"] == fields["CapEff"] == fields["CapAmb"] == "0000000000000000"
    assert fields["NoNewPrivs"] == "1"


_MOUNT_PROBE = """
attempt("mount", mount_tmpfs, P["work"])
attempt("umount", umount, "/proc")
attempt("chroot", os.chroot, P["work"])
"""

_USERNS_PROBE = """
attempt("userns", unshare, 0x10000000 | 0x00020000)  # CLONE_NEWUSER | CLONE_NEWNS
attempt("mount_in_userns", mount_tmpfs, P["work"])
attempt("chroot_in_userns", os.chroot, P["work"])
"""


def test_landlocked_root_cannot_change_mounts(tree: Tree) -> None:
    with Restriction.build(["/"], [tree.work], scope_signals=False) as restriction:
        # The control: the same child without Landlock may mount.
        control = probe(private_mount_namespace, _MOUNT_PROBE, work=tree.work)
        landlocked = probe(
            chain(private_mount_namespace, restriction.apply), _MOUNT_PROBE, work=tree.work
        )
        in_userns = probe(
            chain(private_mount_namespace, restriction.apply), _USERNS_PROBE, work=tree.work
        )
    assert control == {"mount": "ok", "umount": "ok", "chroot": "ok"}
    # Mount topology is frozen for a Landlock domain; chroot is not.
    assert landlocked == {"mount": "EPERM", "umount": "EPERM", "chroot": "ok"}
    # Not even in a fresh user namespace, where the process holds every
    # capability.
    assert in_userns == {"userns": "ok", "mount_in_userns": "EPERM", "chroot_in_userns": "ok"}
    # The control's tmpfs stayed in its own namespace.
    assert not os.path.ismount(tree.work)


def test_landlocked_root_without_capabilities(tree: Tree) -> None:
    with Restriction.build(["/"], [tree.work], scope_signals=False) as restriction:
        results = probe(
            chain(private_mount_namespace, prepare_drop_capabilities(), restriction.apply),
            _MOUNT_PROBE
            + """
attempt("unshare_mount_ns", unshare, 0x00020000)
with open("/proc/self/status") as f:
    for line in f:
        key, _, value = line.partition(":")
        if key in ("CapEff", "CapPrm", "CapBnd", "CapAmb", "NoNewPrivs"):
            results[key] = value.strip()
""",
            work=tree.work,
        )
    zero = "0000000000000000"
    assert results["mount"] == results["umount"] == "EPERM"
    assert results["chroot"] == "EPERM"  # CAP_SYS_CHROOT is gone
    assert results["unshare_mount_ns"] == "EPERM"
    assert results["CapEff"] == results["CapPrm"] == results["CapAmb"] == zero
    assert results["NoNewPrivs"] == "1"
    if _holds_cap_setpcap():
        assert results["CapBnd"] == zero
