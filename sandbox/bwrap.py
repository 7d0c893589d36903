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
          --bind ROOT ROOT ...            writable roots, parents first
          --ro-bind P P ...               protected paths, after every root
          --cap-drop ALL --seccomp FD --chdir CWD -- COMMAND...

Protected paths that do not exist yet get an empty directory on the host as
their mount point (bwrap needs one), so that inside the sandbox they are an
empty read-only directory, as in the reference (``mkdir .codex``: *File
exists*); we create those directories ourselves and remove them after the
run if they are still empty and no other run of this process uses them.

``--new-session`` stops a command from pushing keystrokes (``TIOCSTI``) into
a terminal it inherited; it is left out for a command on its own PTY
(``tty=True``), whose job control needs the session.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from functools import partial

from .backend import Confinement, SandboxUnavailable
from .policy import DangerFullAccess, ExternalSandbox, SandboxPolicy, WorkspaceWrite
from .policy import network_restricted as _network_restricted
from .roots import WritableRoot, resolve_writable_roots
from .seccomp import NetworkSeccomp, SeccompUnsupported, describe, filter_program

__all__ = ["NETWORK_DISABLED_ENV", "BwrapBackend", "find_bwrap"]

NETWORK_DISABLED_ENV = "CODEX_SANDBOX_NETWORK_DISABLED"
_PROBE_TIMEOUT_S = 10
# bwrap's own messages when /proc cannot be mounted (containers): the
# sandbox then runs without a fresh /proc, as the reference's --no-proc.
_PROC_FAILURES = ("Can't mount proc", "/newroot/proc")


def find_bwrap() -> str | None:
    """The system's bubblewrap (Debian's package installs /usr/bin/bwrap)."""
    for candidate in ("/usr/bin/bwrap", shutil.which("bwrap")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


class _Placeholders:
    """Empty directories created as mount points for missing protected
    paths, counted per path so that concurrent runs share them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[str, int] = {}

    def acquire(self, path: str) -> bool:
        """Make sure ``path`` exists as a mount point; True if we own a
        count on it (it is ours to remove later)."""
        with self._lock:
            if path in self._users:
                self._users[path] += 1
                return True
            try:
                os.mkdir(path, 0o555)
            except FileExistsError:
                return False  # someone else's (or a race): bound as it is
            except OSError as error:
                raise SandboxUnavailable(
                    f"cannot create the mount point that keeps {path} read-only: "
                    f"{error.strerror}") from None
            self._users[path] = 1
            return True

    def release(self, path: str) -> None:
        with self._lock:
            count = self._users.get(path, 0) - 1
            if count > 0:
                self._users[path] = count
                return
            self._users.pop(path, None)
            with contextlib.suppress(OSError):  # not empty any more, or gone: keep it
                os.rmdir(path)


_PLACEHOLDERS = _Placeholders()


class BwrapBackend:
    """Confinement by bubblewrap; see the module docstring."""

    name = "bubblewrap"

    def __init__(self, executable: str | None = None) -> None:
        self._executable = executable
        self._lock = threading.Lock()
        self._probed = False
        self._reason: str | None = None
        self._mount_proc = True

    @property
    def executable(self) -> str | None:
        return self._executable if self._executable is not None else find_bwrap()

    def unavailable_reason(self) -> str | None:
        with self._lock:
            if not self._probed:
                self._reason = self._probe()
                self._probed = True
            return self._reason

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
                env: Mapping[str, str], *, tty: bool = False) -> Confinement:
        if isinstance(policy, DangerFullAccess | ExternalSandbox):
            raise SandboxUnavailable(f"bubblewrap does not enforce {policy.type}")
        reason = self.unavailable_reason()
        bwrap = self.executable
        if reason is not None or bwrap is None:
            raise SandboxUnavailable(reason or "bubblewrap is not installed")
        restricted = _network_restricted(policy)
        roots = (resolve_writable_roots(policy, cwd) if isinstance(policy, WorkspaceWrite)
                 else [])
        mode = NetworkSeccomp.RESTRICTED if restricted else NetworkSeccomp.VSOCK_ONLY
        program = filter_program(mode)

        args = [bwrap]
        if not tty:
            args.append("--new-session")
        args += ["--die-with-parent", "--unshare-user", "--unshare-pid", "--unshare-ipc"]
        if restricted:
            args.append("--unshare-net")
        args += ["--ro-bind", "/", "/", "--dev", "/dev"]
        if self._mount_proc:
            args += ["--proc", "/proc"]
        mounts, placeholders = _root_mounts(roots)
        confinement_env = dict(env)
        if restricted:
            confinement_env[NETWORK_DISABLED_ENV] = "1"
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
        except BaseException:
            confinement.close()
            raise
        args += mounts
        args += ["--cap-drop", "ALL", "--seccomp", str(seccomp_fd), "--chdir", cwd, "--", *argv]
        confinement.argv = args
        confinement.explanation = _explain(policy, roots, args, mode, self._mount_proc)
        return confinement


def _root_mounts(roots: Sequence[WritableRoot]) -> tuple[list[str], list[str]]:
    """The mount arguments for the writable roots and their protected
    paths, and the protected paths that need a placeholder."""
    args: list[str] = []
    # Parents before children: a later bind of /tmp would hide the mounts
    # made earlier under /tmp/ws.
    for root in sorted(roots, key=lambda root: root.path.count("/")):
        args += ["--bind", root.path, root.path]
    placeholders: list[str] = []
    protected = sorted({path for root in roots for path in root.read_only},
                       key=lambda path: path.count("/"))
    for path in protected:
        if not os.path.lexists(path):
            placeholders.append(path)
        args += ["--ro-bind", path, path]
    return args, placeholders


def _explain(policy: SandboxPolicy, roots: Sequence[WritableRoot], args: Sequence[str],
             mode: NetworkSeccomp, mount_proc: bool) -> list[str]:
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
    lines.append("argv: " + " ".join(args))
    return lines
