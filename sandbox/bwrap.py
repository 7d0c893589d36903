"""The bubblewrap backend: namespaces, a read-only view of the filesystem with
the writable roots bound back, and the seccomp filter handed to bwrap.

One ``bwrap`` process per command, no second stage: bwrap itself loads the
seccomp program from a memfd (``--seccomp FD``) right before it executes
the command, after building the mounts (it sets no_new_privs first), so no
interpreter or helper binary has to start inside the sandbox. The
reference runs bwrap twice (a preflight, then the real run) and re-executes
its own binary inside to install seccomp; we probe once per process and
cache the answer.

The argv, in order (later mounts go on top of earlier ones)::

    bwrap --new-session --die-with-parent
          --unshare-user --unshare-pid --unshare-ipc [--unshare-net]
          --ro-bind / /  --dev /dev  --proc /proc
          --ro-bind /proc/sys /proc/sys  --ro-bind-try /proc/sysrq-trigger ...
          --bind ROOT ROOT ...            writable roots, parents first
          --ro-bind P P ...               protected paths, after every root
          --cap-drop ALL --seccomp FD --chdir CWD -- COMMAND...

Protected paths that do not exist yet get an empty directory on the host as
their mount point (bwrap needs one), so that inside the sandbox they are an
empty read-only directory, as in the reference (``mkdir .codex``: *File
exists*); we create those directories ourselves and remove them after the
run if they are still empty and no other run uses them (in this process or
another: see ``_Placeholders``).
A protected name that is a symbolic link cannot be covered by a mount (bwrap
mounts on its target, and the link could be replaced): confine refuses it.

The fresh ``/proc`` gets ``/proc/sys`` (and ``/proc/sysrq-trigger``) bound
read-only on top. bwrap only covers them when they look writable to it, and
``/proc/sys`` is a ``0555`` directory; but its files check the caller's uid,
not capabilities, and run by root the sandbox's uid 0 *is* the host's root:
without the cover a command could rewrite host sysctls
(``kernel/core_pattern``: a program the kernel runs as root on the host).

``--new-session`` stops a command from pushing keystrokes (``TIOCSTI``) into
a terminal it inherited; it is left out for a command on its own PTY
(``tty=True``), whose job control needs the session.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import os
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from functools import partial

from .backend import Confinement, ProbeOnce, ProxyEndpoint, SandboxUnavailable
from .policy import (
    NETWORK_DISABLED_ENV,
    DangerFullAccess,
    ExternalSandbox,
    SandboxPolicy,
    WorkspaceWrite,
    with_network_marker,
)
from .policy import network_restricted as _network_restricted
from .roots import WritableRoot, resolve_writable_roots
from .seccomp import NetworkSeccomp, SeccompUnsupported, describe, filter_program

__all__ = ["NETWORK_DISABLED_ENV", "BwrapBackend", "find_bwrap"]

_PROBE_TIMEOUT_S = 10
# bwrap's own messages when /proc cannot be mounted (containers): the
# sandbox then runs without a fresh /proc, as the reference's --no-proc.
_PROC_FAILURES = ("Can't mount proc", "/newroot/proc")
# A placeholder nobody uses any more stays this long before it is removed:
# an agent's commands come in bursts, and creating and removing a dozen
# directories costs a few milliseconds per command.
PLACEHOLDER_LINGER_S = 2.0
# Kept read-only on top of the fresh /proc (see the module docstring).
_PROC_COVERS = ("--ro-bind", "/proc/sys", "/proc/sys",
                "--ro-bind-try", "/proc/sysrq-trigger", "/proc/sysrq-trigger")


def find_bwrap() -> str | None:
    """The system's bubblewrap (Debian's package installs /usr/bin/bwrap)."""
    for candidate in ("/usr/bin/bwrap", shutil.which("bwrap")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class _Placeholders:
    """Empty directories created as mount points for missing protected
    paths, shared by concurrent runs and removed by the last one.

    Within this process, a count per path. Across processes (two servers,
    a server and the CLI: all use ``/tmp`` and may share a workspace), a
    registry of lock files, one per placeholder, in a private directory
    under ``/dev/shm`` (no sandbox sees it: each has a ``/dev`` of its
    own). A process using a placeholder holds a shared POSIX record lock
    on its record (a process's, not inherited by the children it forks);
    the one that releases it last (an exclusive lock then succeeds)
    removes the directory. A placeholder left behind by a process that
    died is adopted and removed by the next run that needs it, and each
    process sweeps such leftovers once when it first uses the registry
    (records nobody holds: their placeholder, if still empty, and the
    record are removed). Without a usable
    registry, placeholders are only shared within this process (another
    process's placeholder is bound as it is, and may go away under it)."""

    def __init__(self, registry: str | None = None, linger: float = PLACEHOLDER_LINGER_S
                 ) -> None:
        self._lock = threading.Lock()
        self._users: dict[str, int] = {}
        self._holds: dict[str, int] = {}  # path -> its record, locked shared
        # Unused placeholders kept until their deadline (see PLACEHOLDER_LINGER_S).
        self._idle: dict[str, float] = {}
        self._linger = linger
        self._wake = threading.Condition(self._lock)
        self._reaper: threading.Thread | None = None
        self._swept = False
        self._registry = registry if registry is not None else (
            f"/dev/shm/execguard-placeholders-{os.getuid()}")

    def acquire(self, path: str) -> bool:
        """Make sure ``path`` exists as a mount point; True if we hold a
        count on it (to give back with :meth:`release`)."""
        with self._lock:
            if path in self._users:
                self._users[path] += 1
                return True
            if self._idle.pop(path, None) is not None:
                if os.path.isdir(path):
                    self._users[path] = 1
                    return True
                self._remove(path)  # gone meanwhile: start afresh
            with self._registry_locked() as registry:
                record = _record(registry, path)
                if os.path.lexists(path):
                    if record is None or not _names(record, path):
                        return False  # real metadata, or a mount point we cannot share
                else:
                    try:
                        os.mkdir(path, 0o555)
                    except FileExistsError:
                        return False
                    except OSError as error:
                        raise SandboxUnavailable(
                            f"cannot create the mount point that keeps {path} read-only: "
                            f"{error.strerror}") from None
                    if record is not None and not _write_record(record, path):
                        record = None
                if record is not None:
                    hold = os.open(record, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
                    fcntl.lockf(hold, fcntl.LOCK_SH)
                    self._holds[path] = hold
            self._users[path] = 1
            return True

    def release(self, path: str) -> None:
        with self._lock:
            count = self._users.get(path, 0) - 1
            if count > 0:
                self._users[path] = count
                return
            self._users.pop(path, None)
            if self._linger > 0:
                self._idle[path] = time.monotonic() + self._linger
                self._start_reaper()
                self._wake.notify()
                return
            self._remove(path)

    def flush(self) -> None:
        """Remove every lingering placeholder now (at exit)."""
        with self._lock:
            for path in list(self._idle):
                del self._idle[path]
                self._remove(path)

    def _start_reaper(self) -> None:
        if self._reaper is None or not self._reaper.is_alive():
            self._reaper = threading.Thread(target=self._reap, name="execguard-placeholders",
                                            daemon=True)
            self._reaper.start()

    def _reap(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                for path, deadline in list(self._idle.items()):
                    if deadline <= now:
                        del self._idle[path]
                        with contextlib.suppress(OSError):
                            self._remove(path)
                if not self._idle:
                    self._reaper = None
                    return
                self._wake.wait(max(min(self._idle.values()) - now, 0.01))

    def _remove(self, path: str) -> None:
        """Give up ``path`` (lock held): the last user removes it."""
        hold = self._holds.pop(path, None)
        with self._registry_locked() as registry:
            if hold is not None:
                os.close(hold)  # gives up our shared lock
                record = _record(registry, path)
                if record is None or not _unused(record):
                    return  # another process still uses it
                with contextlib.suppress(OSError):
                    os.unlink(record)
            with contextlib.suppress(OSError):  # not empty any more, or gone: keep it
                os.rmdir(path)

    @contextlib.contextmanager
    def _registry_locked(self) -> Iterator[str | None]:
        """The registry directory, locked against other processes; None if
        there is no usable one."""
        fd = _open_registry_lock(self._registry)
        if fd is None:
            yield None
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if not self._swept:  # before this process holds any record
                self._swept = True
                _sweep(self._registry)
            yield self._registry
        finally:
            os.close(fd)  # unlocks


def _open_registry_lock(directory: str) -> int | None:
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, 0o700)
        info = os.lstat(directory)
        if (not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid()
                or info.st_mode & 0o077):
            return None  # not ours alone: do without
        return os.open(os.path.join(directory, "lock"),
                       os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError:
        return None


def _sweep(registry: str) -> None:
    """Remove the records (and still-empty placeholders) of processes that
    died while they held them."""
    with contextlib.suppress(OSError):
        for name in os.listdir(registry):
            record = os.path.join(registry, name)
            if len(name) != 64 or not _unused(record):
                continue
            with contextlib.suppress(OSError):
                with open(record, "rb") as handle:
                    path = os.fsdecode(handle.read())
                if os.path.isabs(path):
                    with contextlib.suppress(OSError):
                        os.rmdir(path)
                os.unlink(record)


def _record(registry: str | None, path: str) -> str | None:
    if registry is None:
        return None
    return os.path.join(registry, hashlib.sha256(os.fsencode(path)).hexdigest())


def _write_record(record: str, path: str) -> bool:
    try:
        fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
                     | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, os.fsencode(path))
        finally:
            os.close(fd)
    except OSError:
        return False
    return True


def _names(record: str, path: str) -> bool:
    """Whether ``record`` says ``path`` is a placeholder."""
    try:
        with open(record, "rb") as handle:
            return handle.read() == os.fsencode(path)
    except OSError:
        return False


def _unused(record: str) -> bool:
    """Whether no other process holds ``record`` (shared) any more."""
    try:
        fd = os.open(record, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # EAGAIN/EACCES: held
        return False
    finally:
        os.close(fd)
    return True


_PLACEHOLDERS = _Placeholders()
atexit.register(_PLACEHOLDERS.flush)


class BwrapBackend:
    """Confinement by bubblewrap; see the module docstring."""

    name = "bubblewrap"

    def __init__(self, executable: str | None = None) -> None:
        self._executable = executable
        self._availability = ProbeOnce(self._probe)
        self._mount_proc = True

    @property
    def executable(self) -> str | None:
        return self._executable if self._executable is not None else find_bwrap()

    def unavailable_reason(self) -> str | None:
        return self._availability()

    def _probe(self) -> str | None:
        bwrap = self.executable
        if bwrap is None:
            return ("bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap; "
                    "execguard's scripts/setup installs it)")
        try:
            filter_program(NetworkSeccomp.RESTRICTED)
        except SeccompUnsupported as error:
            return str(error)
        base = [bwrap, "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-net",
                "--ro-bind", "/", "/", "--dev", "/dev"]
        for proc in (["--proc", "/proc"], []):
            try:
                probe = subprocess.run([*base, *proc, "--cap-drop", "ALL", "--", "true"],
                                       capture_output=True, timeout=_PROBE_TIMEOUT_S,
                                       check=False, stdin=subprocess.DEVNULL)
            except (OSError, subprocess.TimeoutExpired) as error:
                return f"bubblewrap could not be run: {error}"
            if probe.returncode == 0:
                self._mount_proc = bool(proc)
                return None
            message = probe.stderr.decode("utf-8", "replace").strip().splitlines()
            first = message[0] if message else f"exit code {probe.returncode}"
            if not (proc and any(marker in first for marker in _PROC_FAILURES)):
                return f"bubblewrap cannot create its namespaces here ({first})"
        return "bubblewrap cannot mount /proc here"

    def confine(self, argv: Sequence[str], policy: SandboxPolicy, cwd: str,
                env: Mapping[str, str], *, tty: bool = False,
                proxy: ProxyEndpoint | None = None,
                proxy_context: object = None, exec_bridge: bool = False) -> Confinement:
        """See :meth:`SandboxBackend.confine`. ``proxy`` (a
        :class:`~execguard.sandbox.proxy_routing.ProxyRouter`): with a
        restricted network, the only way out is that proxy: seccomp
        ``PROXY_ROUTED``, the proxy's variables in the environment, and
        ``after_spawn`` on the confinement, which the spawner must call; the
        proxy tags this sandbox's requests with ``proxy_context``. Ignored
        when the policy gives full network access. ``exec_bridge`` changes
        no enforcement: bwrap passes inherited fds through unchanged, and
        every seccomp mode allows ``socketpair(AF_UNIX)`` and
        ``sendmsg``/``recvmsg`` (``SCM_RIGHTS`` included); it only adds a
        line to the explanation."""
        if isinstance(policy, DangerFullAccess | ExternalSandbox):
            raise SandboxUnavailable(f"bubblewrap does not enforce {policy.type}")
        reason = self.unavailable_reason()
        bwrap = self.executable
        if reason is not None or bwrap is None:
            raise SandboxUnavailable(reason or "bubblewrap is not installed")
        restricted = _network_restricted(policy)
        roots = (resolve_writable_roots(policy, cwd) if isinstance(policy, WorkspaceWrite)
                 else [])
        _refuse_symlinked_protected_paths(roots)
        routed = proxy if restricted else None
        if routed is not None:
            # Imported here: only callers with a proxy need asyncio (not the CLI).
            from .proxy_routing import ProxyRouter

            if not isinstance(routed, ProxyRouter):
                # Fail closed: the sandbox's own network namespace cannot reach
                # a host port; dropping the caller's proxy would hide a bug.
                raise SandboxUnavailable(
                    f"bubblewrap reaches a proxy only through a ProxyRouter, not {routed!r}")
        mode = NetworkSeccomp.RESTRICTED if restricted else NetworkSeccomp.VSOCK_ONLY
        if routed is not None:
            mode = NetworkSeccomp.PROXY_ROUTED
        program = filter_program(mode)

        args = [bwrap]
        if not tty:
            args.append("--new-session")
        args += ["--die-with-parent", "--unshare-user", "--unshare-pid", "--unshare-ipc"]
        if restricted:
            args.append("--unshare-net")
        args += ["--ro-bind", "/", "/", "--dev", "/dev"]
        if self._mount_proc:
            args += ["--proc", "/proc", *_PROC_COVERS]
        mounts, placeholders = _root_mounts(roots)
        confinement_env = with_network_marker(policy, env)
        seccomp_fd = os.memfd_create("execguard-seccomp", os.MFD_CLOEXEC)
        confinement = Confinement(argv=[], env=confinement_env, backend=self.name,
                                  pass_fds=(seccomp_fd,))
        confinement.on_close(lambda: os.close(seccomp_fd))
        try:
            for path in placeholders:
                if _PLACEHOLDERS.acquire(path):
                    confinement.on_close(partial(_PLACEHOLDERS.release, path))
            os.write(seccomp_fd, program)
            os.lseek(seccomp_fd, 0, os.SEEK_SET)
            route_args: list[str] = []
            if routed is not None:
                hook = routed.bwrap_hook(context=proxy_context)
                confinement.on_close(hook.close)
                route_args = hook.args
                confinement.pass_fds += hook.pass_fds
                confinement_env.update(hook.environment())
                confinement.after_spawn = hook.after_spawn
        except BaseException:
            confinement.close()
            raise
        args += mounts
        args += ["--cap-drop", "ALL", "--seccomp", str(seccomp_fd), *route_args,
                 "--chdir", cwd, "--", *argv]
        confinement.argv = args
        confinement.explanation = _explain(policy, roots, args, mode, self._mount_proc,
                                           exec_bridge)
        if routed is not None:
            confinement.explanation = [
                (f"network: only through the proxy (new network namespace; 127.0.0.1:"
                 f"{routed.http_port} (HTTP) and :{routed.socks_port} (SOCKS5) in it lead to "
                 "the host proxy)") if line.startswith("network: ") else line
                for line in confinement.explanation]
        return confinement


def _refuse_symlinked_protected_paths(roots: Sequence[WritableRoot]) -> None:
    """Fail closed on a protected name that is a symbolic link: a mount
    cannot cover a link (bwrap mounts on its target, or fails when the
    target is absolute and outside the sandbox's root), so the link itself
    would stay in the writable root, where the command could replace it
    with a directory of its own (``rm .codex; mkdir .codex``)."""
    for root in roots:
        for path in root.read_only:
            if os.path.islink(path):
                raise SandboxUnavailable(
                    f"bubblewrap cannot keep {path} read-only: it is a symbolic link "
                    f"(to {os.readlink(path)}), which a mount cannot cover; replace it "
                    "with a real directory or file")


def _root_mounts(roots: Sequence[WritableRoot]) -> tuple[list[str], list[str]]:
    """The mount arguments for the writable roots and their protected
    paths, and the protected paths that may need a placeholder."""
    args: list[str] = []
    # Parents before children: a later bind of /tmp would hide the mounts
    # made earlier under /tmp/ws.
    for root in sorted(roots, key=lambda root: root.path.count("/")):
        args += ["--bind", root.path, root.path]
    protected = sorted({path for root in roots for path in root.read_only},
                       key=lambda path: path.count("/"))
    for path in protected:
        args += ["--ro-bind", path, path]
    # Every protected path is a candidate: one that exists now may be the
    # placeholder of a concurrent run, which must count this run as a user
    # too (or it would remove it, and the protection, when it ends first).
    return args, protected


def _explain(policy: SandboxPolicy, roots: Sequence[WritableRoot], args: Sequence[str],
             mode: NetworkSeccomp, mount_proc: bool, exec_bridge: bool = False) -> list[str]:
    lines = [f"backend: bubblewrap ({args[0]})", f"policy: {policy.type}"]
    lines.append("filesystem: everything read-only (--ro-bind / /), fresh /dev"
                 + (", fresh /proc" if mount_proc else ", host /proc (cannot mount /proc here)"))
    for root in roots:
        lines.append(f"writable: {root.path}")
        lines += [f"  read-only: {path}" for path in root.read_only]
    network = "off (new network namespace)" if "--unshare-net" in args else "on"
    lines.append(f"network: {network}")
    lines.append("namespaces: user, pid, ipc" + (", net" if "--unshare-net" in args else "")
                 + "; capabilities dropped; no new privileges")
    lines += [f"seccomp: {line}" for line in describe(mode)]
    if exec_bridge:
        lines.append(
            "exec bridge: the shell's inherited escalation socket (an AF_UNIX socketpair end) "
            "is passed through unchanged; socketpair(AF_UNIX) and sendmsg/recvmsg with "
            f"SCM_RIGHTS stay allowed (seccomp {mode.value}); no socket path, bind or connect "
            "is involved")
    lines.append("argv: " + " ".join(args))
    return lines
