"""Running an escalated exec outside the sandbox.

An escalated program runs as a child of the server, with the wrapper's
stdin/stdout/stderr, in its own process group that the bridge kills when
the shell run ends however it ends (the reference leaves these children
behind). Crossing the sandbox boundary is treated like crossing a setuid
boundary:

* the program must be a file the sandbox cannot have written or swapped:
  its real path lies outside every writable root and outside the kernel's
  pseudo file systems, it has no second hard link on a file system the
  sandbox can write (that name could lie in a writable root), and that real
  path is what runs (a symlink inside a
  writable root cannot be retargeted between the check and the exec);
* variables that let the caller's environment inject code into the program
  (the dynamic loader's, interpreter start-up hooks, git's command and
  configuration overrides) are dropped from the request's environment.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["UNSAFE_VARIABLES", "escalation_environment", "spawn_escalated", "unsafe_location"]

# glibc's list for secure-execution mode (setuid programs, `unsecvars.h`):
# the loader and libc read these to load code or data from a path.
_LOADER = ("GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN",
           "LOCPATH", "MALLOC_TRACE", "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS",
           "TMPDIR", "TZDIR")
# Start-up hooks of shells and interpreters, and git's ways of running
# another program or reconfiguring itself from the environment.
_HOOKS = ("BASH_ENV", "ENV", "ZDOTDIR", "PROMPT_COMMAND", "PYTHONSTARTUP", "PYTHONPATH",
          "PYTHONHOME", "PYTHONINSPECT", "PYTHONUSERBASE", "PERL5OPT", "PERL5LIB", "PERLLIB",
          "PERL5DB", "RUBYOPT", "RUBYLIB", "NODE_OPTIONS", "NODE_PATH", "JAVA_TOOL_OPTIONS",
          "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "GIT_EXEC_PATH", "GIT_SSH", "GIT_SSH_COMMAND",
          "GIT_ASKPASS", "SSH_ASKPASS", "GIT_EXTERNAL_DIFF", "GIT_PAGER", "GIT_EDITOR",
          "GIT_CONFIG", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_PARAMETERS",
          "GIT_CONFIG_COUNT", "GIT_DIR", "GIT_WORK_TREE", "GIT_TEMPLATE_DIR", "GIT_PROXY_COMMAND",
          "PAGER", "EDITOR", "VISUAL", "LESSOPEN", "LESSCLOSE")
UNSAFE_VARIABLES = frozenset(_LOADER + _HOOKS)
_UNSAFE_PREFIXES = ("LD_", "DYLD_", "GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_")

# Never a place an escalated program may come from: their entries name
# things of the *sandboxed* processes or of the server itself
# (/proc/self/fd/N here is the server's fd N).
_PSEUDO_ROOTS = ("/proc", "/dev", "/sys", "/run")


def escalation_environment(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` without the variables that could make an escalated program
    run code chosen inside the sandbox; surrogate-escaped values (bytes that
    are not UTF-8) are passed as the bytes they stand for."""
    return {name: value for name, value in env.items()
            if name not in UNSAFE_VARIABLES and not name.startswith(_UNSAFE_PREFIXES)}


def _inside(path: str, root: str) -> bool:
    root = root.rstrip("/")
    return path == root or path.startswith(root + "/") or root == ""


def unsafe_location(program: str, writable_roots: Iterable[str]) -> tuple[str | None, str | None]:
    """``(real path, None)`` when ``program`` may run outside the sandbox,
    ``(None, why not)`` otherwise."""
    try:
        real = os.path.realpath(program, strict=True)
        info = os.stat(real)
    except OSError as error:
        return None, f"cannot resolve {program}: {error.strerror}"
    except ValueError as error:  # a NUL byte
        return None, f"cannot resolve {program}: {error}"
    if not stat.S_ISREG(info.st_mode):
        return None, f"{real} is not a regular file"
    roots = [os.path.realpath(root) for root in writable_roots]
    for root in _PSEUDO_ROOTS:
        if _inside(real, root):
            return None, f"{real} is under {root}"
    for root in roots:
        if _inside(real, root):
            return None, f"{real} is writable from the sandbox (under {root})"
    if info.st_nlink > 1 and any(_same_device(root, info.st_dev) for root in roots):
        # Another name for the same file may lie in a writable root on that
        # file system, and a write through that name changes this file.
        return None, (f"{real} has {info.st_nlink} hard links on a file system the sandbox "
                      "can write")
    return real, None


def _same_device(path: str, device: int) -> bool:
    try:
        return os.stat(path).st_dev == device
    except OSError:
        return False


def _encode(text: str) -> bytes:
    return os.fsencode(text)


def spawn_escalated(real_program: str, argv: Sequence[str], workdir: str, env: Mapping[str, str],
                    stdio: Mapping[int, int]) -> subprocess.Popen[bytes]:
    """Start ``real_program`` with ``argv`` in its own session; ``stdio``
    maps 0, 1 and 2 to the fds to use (a missing one reads/writes
    ``/dev/null``). Raises ``OSError`` if it cannot start."""
    streams = [stdio.get(n, subprocess.DEVNULL) for n in (0, 1, 2)]
    return subprocess.Popen(
        [_encode(arg) for arg in argv], executable=_encode(real_program),
        stdin=streams[0], stdout=streams[1], stderr=streams[2],
        cwd=_encode(workdir),
        env={_encode(k): _encode(v) for k, v in escalation_environment(env).items()},
        close_fds=True, start_new_session=True, restore_signals=True)


def kill_group(pid: int) -> None:
    """SIGKILL ``pid``'s process group (the child leads it); the caller must
    not have reaped it yet, so the id cannot name anyone else's group."""
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
