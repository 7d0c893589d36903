"""Drop every Linux capability in the forked child before ``exec``.

The Landlock + seccomp backend runs commands in the caller's own
namespaces; when the caller is root (a container's usual user) the command
would otherwise keep root's capabilities: mounting over the workspace,
``chroot``, loading modules, ptrace of anything. Landlock already denies
mount topology changes, but capabilities reach far beyond the filesystem,
so they are dropped entirely.

Why the bounding set, and not only ``capset``: on ``execve`` a process
whose uid is 0 (and a setuid-root binary) is treated as if the file had
every capability, so its new permitted set is ``inheritable | bounding``
(plus ambient). Clearing effective/permitted in the child would be undone
by the very ``exec`` that starts the command; emptying the bounding set
(and the inheritable and ambient sets) is what keeps root's command
without capabilities, and no process can add to its bounding set again.
``PR_SET_NO_NEW_PRIVS`` is a second lock on the same door: with it,
``execve`` never grants capabilities the process did not already have
(setuid bits and file capabilities are ignored).

Dropping from the bounding set needs ``CAP_SETPCAP``. A process without it
(an ordinary user, or a root without that capability) cannot change its
bounding set; then the bounding drop is skipped and no-new-privs plus an
empty permitted set is what keeps ``exec`` from granting capabilities.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from typing import Final

__all__ = ["prepare_drop_capabilities"]

_PR_CAPBSET_READ: Final = 23
_PR_CAPBSET_DROP: Final = 24
_PR_SET_NO_NEW_PRIVS: Final = 38
_PR_CAP_AMBIENT: Final = 47
_PR_CAP_AMBIENT_CLEAR_ALL: Final = 4
_CAP_SETPCAP: Final = 8
_LINUX_CAPABILITY_VERSION_3: Final = 0x20080522
# The highest capability number of kernels old enough to lack
# /proc/sys/kernel/cap_last_cap (3.2); newer ones are probed below.
_FALLBACK_LAST_CAP: Final = 40


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


# Version 3 sets hold 64 capabilities in two 32-bit halves.
_CapDataV3 = _CapData * 2

_libc = ctypes.CDLL(None, use_errno=True)
# prctl is variadic in C: every argument is passed as an explicit ctypes
# object (a bare Python int would be passed as a 32-bit int).
_prctl = _libc.prctl
_prctl.restype = ctypes.c_int
_capset = _libc.capset
_capset.restype = ctypes.c_int


# The unused trailing arguments of prctl, which the kernel checks are zero.
_ZEROS: Final = (ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
            return int(f.read())
    except (OSError, ValueError):
        last = _FALLBACK_LAST_CAP
        # PR_CAPBSET_READ says EINVAL for capabilities the kernel does not know.
        while int(_prctl(ctypes.c_int(_PR_CAPBSET_READ), ctypes.c_ulong(last + 1))) >= 0:
            last += 1
        return last


def _effective_capabilities() -> int:
    # /proc/thread-self: capabilities are per thread, and it is this thread
    # that forks.
    for path in ("/proc/thread-self/status", "/proc/self/status"):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith("CapEff:"):
                        return int(line.split()[1], 16)
        except OSError:
            continue
    return 0


def _in_bounding_set(cap: int) -> bool:
    return int(_prctl(ctypes.c_int(_PR_CAPBSET_READ), ctypes.c_ulong(cap))) == 1


def _fail(what: str) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, f"{what}: {os.strerror(code)}")


def prepare_drop_capabilities() -> Callable[[], None]:
    """Prepare, in the parent, a function for the forked child (a
    ``preexec_fn`` or part of one) that drops every capability for good.

    The returned function only makes syscalls with arguments built here. In
    order: ``PR_SET_NO_NEW_PRIVS``; clear the ambient set; drop every
    capability still in the bounding set (needs ``CAP_SETPCAP``, so before
    ``capset`` removes it; skipped when this process lacks it, see the
    module docstring); then ``capset`` with empty effective, permitted and
    inheritable sets. It raises ``OSError`` if any step fails, so the spawn
    fails rather than running the command with capabilities.
    """
    last_cap = _last_cap()
    can_drop_bounding = bool(_effective_capabilities() & (1 << _CAP_SETPCAP))
    # Only those still in the bounding set: fewer syscalls in the child.
    bounding = [
        (ctypes.c_int(_PR_CAPBSET_DROP), ctypes.c_ulong(cap), *_ZEROS)
        for cap in range(last_cap + 1)
        if can_drop_bounding and _in_bounding_set(cap)
    ]
    no_new_privs = (ctypes.c_int(_PR_SET_NO_NEW_PRIVS), ctypes.c_ulong(1), *_ZEROS)
    clear_ambient = (
        ctypes.c_int(_PR_CAP_AMBIENT),
        ctypes.c_ulong(_PR_CAP_AMBIENT_CLEAR_ALL),
        *_ZEROS,
    )
    header = _CapHeader(version=_LINUX_CAPABILITY_VERSION_3, pid=0)
    empty_sets = _CapDataV3()  # zero-initialized
    # byref keeps its object alive, and the closure keeps the references.
    header_ref, sets_ref = ctypes.byref(header), ctypes.byref(empty_sets)

    def drop_capabilities() -> None:
        if int(_prctl(*no_new_privs)) != 0:
            raise _fail("prctl(PR_SET_NO_NEW_PRIVS)")
        if int(_prctl(*clear_ambient)) != 0:
            raise _fail("prctl(PR_CAP_AMBIENT_CLEAR_ALL)")
        for args in bounding:
            if int(_prctl(*args)) != 0:
                raise _fail(f"prctl(PR_CAPBSET_DROP, {args[1].value})")
        if int(_capset(header_ref, sets_ref)) != 0:
            raise _fail("capset")

    return drop_capabilities
