"""The Landlock + seccomp backend, checked on real processes.

Every test confines a real child (``subprocess.run`` with the
confinement's ``preexec_fn``, as the runtime spawns it) and looks at what
the kernel lets it do: no mocks. The main table mirrors the behaviour
table of the reference (spec sandbox.md section 4) for readOnly and
workspaceWrite, with and without network and with both temporary roots
excluded, plus this backend's documented divergence: nothing can be
created directly in a writable root that holds protected names.

The fixture lives under ``/var/tmp`` rather than pytest's ``tmp_path``
(itself under ``/tmp``): with ``/tmp`` a writable root, a sibling
"outside" directory under ``/tmp`` would be writable too, which is
correct but not what "outside" is meant to show. A test of its own covers
a workspace nested inside the ``/tmp`` root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from execguard.sandbox.backend import Confinement, SandboxBackend, SandboxUnavailable
from execguard.sandbox.landlock import abi_version
from execguard.sandbox.landlock_backend import MAX_RULES, LandlockBackend, plan_writable
from execguard.sandbox.policy import (
    DangerFullAccess,
    ExternalSandbox,
    ReadOnly,
    SandboxPolicy,
    WorkspaceWrite,
)
from execguard.sandbox.roots import resolve_writable_roots

ABI = abi_version()
MARKER = "CODEX_SANDBOX_NETWORK_DISABLED"
BACKEND = LandlockBackend()
_CAP_SETPCAP = 8
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


# -- spawning ------------------------------------------------------------------------


def run(conf: Confinement, cwd: Path, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Spawn a confinement the way the runtime does, then release it."""
    try:
        return subprocess.run(conf.argv, env=conf.env, cwd=cwd, preexec_fn=conf.preexec,
                              pass_fds=conf.pass_fds, capture_output=True, text=True,
                              timeout=timeout)
    finally:
        conf.close()


# Runs inside the sandbox: each operation records "ok", its value, or the
# errno name of the OSError it raised.
_PROBE = textwrap.dedent("""
    import ctypes, errno, json, os, socket, sys
    libc = ctypes.CDLL(None, use_errno=True)

    def checked(result):
        if result != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))

    def write(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, b"new")
        os.close(fd)

    def append(path):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"+")
        os.close(fd)

    def mkdir_then_write(path):
        os.mkdir(path)
        write(os.path.join(path, "f"))

    def inet():
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()

    def unix_pair():
        left, right = socket.socketpair(socket.AF_UNIX)
        os.write(left.fileno(), b"x")
        assert os.read(right.fileno(), 1) == b"x"

    def kill_parent():
        os.kill(os.getppid(), 0)

    def mount_tmpfs(target):
        checked(libc.mount(b"tmpfs", target.encode(), b"tmpfs", ctypes.c_ulong(0), None))
        libc.umount2(target.encode(), 2)  # never leave it behind

    def status():
        fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
        return {key: fields[key].strip() for key in ("CapEff", "CapBnd", "NoNewPrivs", "Seccomp")}

    def env(name):
        return os.environ.get(name, "unset")

    def session_leader():
        return os.getsid(0) == os.getpid()

    operations = {"write": write, "append": append, "mkdir": os.mkdir,
                  "makedirs": os.makedirs, "mkdir_then_write": mkdir_then_write,
                  "remove": os.unlink, "inet": inet, "unix_pair": unix_pair,
                  "kill_parent": kill_parent, "mount_tmpfs": mount_tmpfs,
                  "status": status, "env": env, "session_leader": session_leader}
    results = {}
    for name, operation, *args in json.loads(sys.argv[1]):
        try:
            value = operations[operation](*args)
        except OSError as err:
            results[name] = errno.errorcode.get(err.errno, str(err.errno))
        else:
            results[name] = "ok" if value is None else value
    print(json.dumps(results))
""")

Op = tuple[str, ...]


def probe(policy: SandboxPolicy, cwd: Path, ops: Sequence[Op], *,
          backend: LandlockBackend = BACKEND, tty: bool = False) -> dict[str, object]:
    """Run the operations ``ops`` (``(name, operation, *args)``) in one
    sandboxed Python; name -> result."""
    argv = [sys.executable, "-I", "-S", "-c", _PROBE, json.dumps(ops)]
    conf = backend.confine(argv, policy, str(cwd), dict(os.environ), tty=tty)
    proc = run(conf, cwd)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout)
    return result


# -- the fixture ---------------------------------------------------------------------


def git(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **_GIT_ENV},
                          capture_output=True, text=True, check=True, timeout=20)


@dataclass
class Layout:
    base: Path  # under /var/tmp, holds everything below but the /tmp scratch
    ws: Path  # the cwd: a git repository
    extra: Path  # an extra writable root with .codex/config.toml
    outside: Path  # only readable
    tmpdir: Path  # $TMPDIR
    scratch: Path  # an existing directory in /tmp with no protected path in it
    var_tmp_new: Path  # a name directly in /var/tmp that must never be created
    slash_tmp_new: Path  # a name directly in /tmp (creation denied: the limitation)


@pytest.fixture
def layout(monkeypatch: pytest.MonkeyPatch) -> Iterator[Layout]:
    base = Path(tempfile.mkdtemp(prefix="execguard-llb-", dir="/var/tmp"))
    scratch = Path(tempfile.mkdtemp(prefix="execguard-llb-", dir="/tmp"))
    ws, extra, outside, tmpdir = (base / name for name in ("ws", "extra", "outside", "tmpdir"))
    for directory in (ws / "src", extra / ".codex", extra / "sub", outside, tmpdir / "sub",
                      ws / "mnt"):
        directory.mkdir(parents=True)
    (ws / "existing.txt").write_text("mine")
    (ws / "src" / "existing.txt").write_text("mine")
    (extra / ".codex" / "config.toml").write_text("model = 'x'\n")
    (outside / "existing.txt").write_text("keep")
    (ws / "link").symlink_to(outside)
    (ws / "linkfile").symlink_to(outside / "existing.txt")
    git("init", "-q", cwd=ws)
    git("add", "existing.txt", "src", cwd=ws)
    git("commit", "-q", "-m", "first", cwd=ws)
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    unique = uuid.uuid4().hex
    found = Layout(base, ws, extra, outside, tmpdir, scratch,
                   Path("/var/tmp") / f"execguard-llb-{unique}",
                   Path("/tmp") / f"execguard-llb-{unique}")
    yield found
    for path in (found.var_tmp_new, found.slash_tmp_new):
        path.unlink(missing_ok=True)
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)


# -- the behaviour table -------------------------------------------------------------

POLICIES = ["RO", "RO+net", "WW", "WW+net", "WW-tmp"]


def make_policy(column: str, layout: Layout) -> SandboxPolicy:
    if column.startswith("RO"):
        return ReadOnly(network_access=column == "RO+net")
    return WorkspaceWrite(writable_roots=(str(layout.extra),),
                          network_access=column == "WW+net",
                          exclude_slash_tmp=column == "WW-tmp",
                          exclude_tmpdir_env_var=column == "WW-tmp")


A, P = "EACCES", "EPERM"
SIGNAL = P if ABI >= 6 else "ok"
# operation -> expected result per column, in POLICIES order.
TABLE: dict[str, tuple[object, ...]] = {
    # the workspace: existing files and subdirectories writable; nothing new
    # directly in it (the documented limitation)
    "write new file in existing subdir": (A, A, "ok", "ok", "ok"),
    "overwrite existing top-level file": (A, A, "ok", "ok", "ok"),
    "mkdir in subdir, write inside": (A, A, "ok", "ok", "ok"),
    "remove file in subdir": (A, A, "ok", "ok", "ok"),
    "create top-level file (limitation)": (A, A, A, A, A),
    "remove top-level file (limitation)": (A, A, A, A, A),
    # elsewhere
    "write outside": (A, A, A, A, A),
    "overwrite outside file": (A, A, A, A, A),
    "write in /var/tmp": (A, A, A, A, A),
    "write in extra root's subdir": (A, A, "ok", "ok", "ok"),
    "write in $TMPDIR subdir": (A, A, "ok", "ok", A),
    "create directly in $TMPDIR": (A, A, "ok", "ok", A),
    "write in /tmp subdir": (A, A, "ok", "ok", A),
    "create directly in /tmp": (A, A, "ok", "ok", A),
    "write /dev/null": ("ok",) * 5,
    # protected metadata
    "write .git/x": (A, A, A, A, A),
    "create .git/index.lock": (A, A, A, A, A),
    "write .git/hooks/x": (A, A, A, A, A),
    "mkdir .codex": (A, A, A, A, A),
    "mkdir -p .agents/skills": (A, A, A, A, A),
    "mkdir .aws": (A, A, A, A, A),
    "append extra/.codex/config.toml": (A, A, A, A, A),
    "mkdir extra/.git": (A, A, A, A, A),
    # symlinks pointing outside
    "write through dir symlink": (A, A, A, A, A),
    "write through file symlink": (A, A, A, A, A),
    # network, processes, privileges
    "socket(AF_INET)": (P, "ok", P, "ok", P),
    "socketpair(AF_UNIX) write/read": ("ok",) * 5,
    "kill(host pid, 0)": (SIGNAL,) * 5,
    "mount tmpfs": (P, P, P, P, P),
    "network marker": ("1", "unset", "1", "unset", "1"),
    "new session": (True,) * 5,
}


def table_ops(layout: Layout) -> list[Op]:
    ws, extra = str(layout.ws), str(layout.extra)
    return [
        ("write new file in existing subdir", "write", f"{ws}/src/new.txt"),
        ("overwrite existing top-level file", "write", f"{ws}/existing.txt"),
        ("mkdir in subdir, write inside", "mkdir_then_write", f"{ws}/src/d"),
        ("remove file in subdir", "remove", f"{ws}/src/existing.txt"),
        ("create top-level file (limitation)", "write", f"{ws}/new.txt"),
        ("remove top-level file (limitation)", "remove", f"{ws}/existing.txt"),
        ("write outside", "write", f"{layout.outside}/new.txt"),
        ("overwrite outside file", "write", f"{layout.outside}/existing.txt"),
        ("write in /var/tmp", "write", str(layout.var_tmp_new)),
        ("write in extra root's subdir", "write", f"{extra}/sub/new.txt"),
        ("write in $TMPDIR subdir", "write", f"{layout.tmpdir}/sub/new.txt"),
        ("create directly in $TMPDIR", "write", f"{layout.tmpdir}/new.txt"),
        ("write in /tmp subdir", "write", f"{layout.scratch}/new.txt"),
        ("create directly in /tmp", "write", str(layout.slash_tmp_new)),
        ("write /dev/null", "write", "/dev/null"),
        ("write .git/x", "write", f"{ws}/.git/x"),
        ("create .git/index.lock", "write", f"{ws}/.git/index.lock"),
        ("write .git/hooks/x", "write", f"{ws}/.git/hooks/x"),
        ("mkdir .codex", "mkdir", f"{ws}/.codex"),
        ("mkdir -p .agents/skills", "makedirs", f"{ws}/.agents/skills"),
        ("mkdir .aws", "mkdir", f"{ws}/.aws"),
        ("append extra/.codex/config.toml", "append", f"{extra}/.codex/config.toml"),
        ("mkdir extra/.git", "mkdir", f"{extra}/.git"),
        ("write through dir symlink", "write", f"{ws}/link/new.txt"),
        ("write through file symlink", "write", f"{ws}/linkfile"),
        ("socket(AF_INET)", "inet"),
        ("socketpair(AF_UNIX) write/read", "unix_pair"),
        ("kill(host pid, 0)", "kill_parent"),
        ("mount tmpfs", "mount_tmpfs", f"{ws}/mnt"),
        ("network marker", "env", MARKER),
        ("new session", "session_leader"),
    ]


@pytest.mark.parametrize("column", POLICIES)
def test_behaviour_table(layout: Layout, column: str) -> None:
    ops = table_ops(layout)
    assert [op[0] for op in ops] == list(TABLE)
    results = probe(make_policy(column, layout), layout.ws, ops)
    index = POLICIES.index(column)
    expected = {name: row[index] for name, row in TABLE.items()}
    assert results == expected
    # Nothing denied left a trace on the host.
    assert (layout.outside / "existing.txt").read_text() == "keep"
    assert (layout.extra / ".codex" / "config.toml").read_text() == "model = 'x'\n"
    for absent in (layout.var_tmp_new, layout.ws / ".codex",
                   layout.ws / ".agents", layout.ws / ".git" / "index.lock",
                   layout.outside / "new.txt"):
        assert not absent.exists(), absent
    assert layout.slash_tmp_new.exists() == (expected["create directly in /tmp"] == "ok")
    layout.slash_tmp_new.unlink(missing_ok=True)


def test_capabilities_are_gone(layout: Layout) -> None:
    results = probe(ReadOnly(), layout.ws, [("status", "status")])
    holds_setpcap = bool(int(_status_field("CapEff"), 16) & (1 << _CAP_SETPCAP))
    assert results["status"] == {
        "CapEff": "0000000000000000",
        # Emptying the bounding set needs CAP_SETPCAP (privileges.py).
        "CapBnd": "0000000000000000" if holds_setpcap else _status_field("CapBnd"),
        "NoNewPrivs": "1",
        "Seccomp": "2",
    }


def _status_field(name: str) -> str:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(name)


# -- git -----------------------------------------------------------------------------


def _git_conf(args: Sequence[str], policy: SandboxPolicy, cwd: Path) -> Confinement:
    env: Mapping[str, str] = {**os.environ, **_GIT_ENV, "HOME": str(cwd)}
    return BACKEND.confine(["git", *args], policy, str(cwd), env)


def test_git_commit_fails_on_the_index_lock(layout: Layout) -> None:
    (layout.ws / "existing.txt").write_text("changed")
    policy = make_policy("WW", layout)
    status = run(_git_conf(["status", "--short"], policy, layout.ws), layout.ws)
    assert status.returncode == 0, status.stderr
    assert "existing.txt" in status.stdout
    commit = run(_git_conf(["commit", "-qam", "x"], policy, layout.ws), layout.ws)
    assert commit.returncode == 128
    assert f"fatal: Unable to create '{layout.ws}/.git/index.lock'" in commit.stderr
    assert git("rev-list", "--count", "HEAD", cwd=layout.ws).stdout.strip() == "1"


def test_linked_worktree_gitdir_is_not_writable(layout: Layout) -> None:
    main, tree = layout.ws, layout.base / "wt"
    git("worktree", "add", "-q", str(tree), cwd=main)
    gitdir = main / ".git" / "worktrees" / "wt"
    assert gitdir.is_dir()
    (tree / "existing.txt").write_text("changed")
    # The main repository is a writable root too: only protection keeps its
    # .git, and the worktree's gitdir inside it, read-only.
    policy = WorkspaceWrite(writable_roots=(str(main),), exclude_slash_tmp=True,
                            exclude_tmpdir_env_var=True)
    results = probe(policy, tree, [
        ("gitdir", "write", f"{gitdir}/x"),
        ("gitdir HEAD", "append", f"{gitdir}/HEAD"),
        ("tree file", "write", f"{tree}/existing.txt"),
        ("tree subdir", "write", f"{tree}/src/new.txt"),
        ("main subdir", "write", f"{main}/src/new.txt"),
    ])
    assert results == {"gitdir": "EACCES", "gitdir HEAD": "EACCES", "tree file": "ok",
                       "tree subdir": "ok", "main subdir": "ok"}
    commit = run(_git_conf(["commit", "-qam", "x"], policy, tree), tree)
    assert commit.returncode == 128
    assert f"fatal: Unable to create '{gitdir}/index.lock'" in commit.stderr


def test_granting_dot_git_explicitly_still_cannot_create_in_it(layout: Layout) -> None:
    """``writableRoots: [".git"]`` lifts the protection of ``.git``, but
    ``.git`` is then a writable root with protected names of its own
    (``.git/.git``...), so this backend splits it too: its existing
    subdirectories become writable, new entries directly in it (the index
    lock) cannot be made. A known gap against bubblewrap."""
    policy = WorkspaceWrite(writable_roots=(".git",), exclude_slash_tmp=True,
                            exclude_tmpdir_env_var=True)
    results = probe(policy, layout.ws, [
        ("hooks", "write", f"{layout.ws}/.git/hooks/x"),
        ("index.lock", "write", f"{layout.ws}/.git/index.lock"),
        ("HEAD", "append", f"{layout.ws}/.git/HEAD"),
    ])
    assert results == {"hooks": "ok", "index.lock": "EACCES", "HEAD": "ok"}


# -- the splitting strategy ----------------------------------------------------------


def test_workspace_nested_in_the_tmp_root(layout: Layout) -> None:
    """A workspace inside ``/tmp`` (pytest's own layout): the ``/tmp`` root
    is split down to the workspace, whose protected names stay protected;
    its siblings are writable through ``/tmp``."""
    ws, sibling = layout.scratch / "ws", layout.scratch / "sibling"
    (ws / "src").mkdir(parents=True)
    sibling.mkdir()
    git("init", "-q", cwd=ws)
    results = probe(WorkspaceWrite(), ws, [
        ("ws subdir", "write", f"{ws}/src/new.txt"),
        ("ws .git", "write", f"{ws}/.git/x"),
        ("ws .codex", "mkdir", f"{ws}/.codex"),
        ("sibling", "write", f"{sibling}/new.txt"),
        ("scratch top", "write", f"{layout.scratch}/new.txt"),
    ])
    assert results == {"ws subdir": "ok", "ws .git": "EACCES", "ws .codex": "EACCES",
                       "sibling": "ok", "scratch top": "EACCES"}


def test_plan_skips_protected_paths_and_symlinks(layout: Layout) -> None:
    (layout.ws / "etc").symlink_to("/etc")
    policy = WorkspaceWrite(writable_roots=(str(layout.extra),), exclude_slash_tmp=True,
                            exclude_tmpdir_env_var=True)
    writable, split, unlisted = plan_writable(resolve_writable_roots(policy, str(layout.ws)))
    ws, extra = layout.ws, layout.extra
    assert sorted(writable) == sorted(
        [f"{ws}/existing.txt", f"{ws}/mnt", f"{ws}/src", f"{extra}/sub"])
    assert split == [str(ws), str(extra)]
    assert unlisted == []


def test_rule_cap(layout: Layout) -> None:
    policy = WorkspaceWrite(exclude_slash_tmp=True, exclude_tmpdir_env_var=True)
    for index in range(40):
        (layout.ws / f"entry-{index}").write_text("")
    small = LandlockBackend(max_rules=50)
    assert run(small.confine(["true"], policy, str(layout.ws), {}), layout.ws).returncode == 0
    for index in range(40, 60):
        (layout.ws / f"entry-{index}").write_text("")
    with pytest.raises(SandboxUnavailable, match="more than 50 writable rules"):
        small.confine(["true"], policy, str(layout.ws), {})
    assert MAX_RULES == 10_000
    assert BACKEND.max_rules == MAX_RULES


# -- the confinement itself ----------------------------------------------------------


def test_argv_env_and_explanation(layout: Layout) -> None:
    env = {"PATH": "/usr/bin:/bin", "KEEP": "me"}
    argv = ["echo", "hi"]
    with BACKEND.confine(argv, make_policy("WW", layout), str(layout.ws), env) as conf:
        assert conf.argv == argv and conf.argv is not argv
        assert conf.env == {**env, MARKER: "1"}
        assert "CODEX_SANDBOX" not in conf.env
        assert conf.backend == "landlock" and conf.pass_fds == ()
        text = "\n".join(conf.explanation)
        assert conf.explanation[0].startswith(f"Landlock ABI {ABI}")
        assert f"read-write  {layout.ws}/src (directory and everything beneath)" in text
        assert "seccomp (restricted): socket: only AF_UNIX" in text
        assert "capabilities: all dropped" in text
        assert (f"Landlock limitation: nothing can be created, deleted or renamed directly "
                f"in {layout.ws}") in text
        assert f"directly in {layout.extra}" in text
        assert ("signals to processes outside the sandbox: denied" in text) == (ABI >= 6)
    with BACKEND.confine(argv, ReadOnly(network_access=True), str(layout.ws), env) as conf:
        assert conf.env == env
        assert not any("limitation" in line for line in conf.explanation)
        assert any(line.startswith("seccomp (vsock-only)") for line in conf.explanation)


def test_close_releases_the_ruleset(layout: Layout) -> None:
    before = set(os.listdir("/proc/self/fd"))
    conf = BACKEND.confine(["true"], make_policy("WW", layout), str(layout.ws), {})
    assert set(os.listdir("/proc/self/fd")) != before
    conf.close()
    conf.close()
    assert set(os.listdir("/proc/self/fd")) == before


def test_tty_leaves_the_session_to_the_spawner(layout: Layout) -> None:
    results = probe(ReadOnly(), layout.ws, [("leader", "session_leader")], tty=True)
    assert results == {"leader": False}


def test_available_here() -> None:
    backend: SandboxBackend = BACKEND
    assert backend.name == "landlock"
    assert backend.unavailable_reason() is None
    assert ABI >= 1


@pytest.mark.parametrize("policy", [DangerFullAccess(), ExternalSandbox(),
                                    ExternalSandbox(network_access="enabled")])
def test_unsandboxed_policies_are_not_its_job(policy: SandboxPolicy) -> None:
    with pytest.raises(SandboxUnavailable, match="only enforces readOnly and workspaceWrite"):
        BACKEND.confine(["true"], policy, "/", {})


def test_a_failing_step_stops_the_spawn(layout: Layout) -> None:
    """The child must never run unconfined: a preexec step that fails
    (here: Landlock applied after its ruleset was closed) fails the
    spawn."""
    conf = BACKEND.confine(["true"], ReadOnly(), str(layout.ws), {})
    conf.close()
    assert conf.preexec is not None
    with pytest.raises(subprocess.SubprocessError):
        subprocess.run(conf.argv, preexec_fn=conf.preexec, timeout=20, check=False)

