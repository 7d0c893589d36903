"""Landlock filesystem confinement for the non-namespace sandbox backend.

Where bubblewrap cannot create namespaces (inside containers, on distros
that forbid unprivileged user namespaces) commands are confined by Landlock
(filesystem, here) and seccomp (network, ``seccomp.py``), both applied in
the forked child just before ``exec``. Landlock needs no privilege, no
namespace and no helper binary: a process restricts itself, irrevocably,
and everything it starts inherits the restriction.

How it is used, and why it is split in two:

* :meth:`Restriction.build` runs in the parent. It creates the ruleset and
  adds one rule per path; everything that can fail for an ordinary reason
  (a missing path, an old kernel, Landlock disabled) fails here, with a
  Python exception the caller can report, not in the child where CPython
  only says "Exception occurred in preexec_fn".
* :meth:`Restriction.apply` is the ``preexec_fn`` (or part of one). It only
  makes two syscalls: ``prctl(PR_SET_NO_NEW_PRIVS)`` (required by
  ``landlock_restrict_self`` for a process without ``CAP_SYS_ADMIN``) and
  ``landlock_restrict_self(ruleset_fd)``. The ruleset fd is ``O_CLOEXEC``
  (the kernel creates it so) and reaches the child through ``fork``:
  CPython's ``_posixsubprocess`` runs ``preexec_fn`` *before* it closes
  fds for ``close_fds``, and ``exec`` closes it afterwards.

Best available ABI: the ruleset handles every filesystem right the running
kernel knows (:func:`fs_rights`), so nothing it could deny is silently
allowed, and never a right it does not know (that is ``EINVAL``). What an
older kernel cannot restrict (truncate before ABI 3, device ioctls before
ABI 5) is listed by :meth:`Restriction.describe`. Scopes (signals, abstract
unix sockets) and TCP port rules are asked for explicitly, and asking on a
kernel that lacks them raises :class:`LandlockUnavailable` rather than
running the command less confined than requested.

Landlock's semantics, which the caller must plan around:

* Rules only *allow*, and a rule on a directory covers everything beneath
  it. So a read-only subpath inside a writable directory (``.git`` inside
  the workspace) cannot be expressed; protected paths must be handled
  another way (the caller's job).
* Rules are bound to inodes when the ruleset is built, not to path
  strings: renaming or replacing a path afterwards does not move a rule,
  and a path given as a symlink yields a rule on the symlink's *target*
  (``open`` follows it).
* Moving a file between directories (rename, hard link) needs ``REFER`` on
  both sides and a destination at least as restricted as the source;
  otherwise the kernel answers ``EXDEV`` (so ``mv`` falls back to copying)
  or ``EACCES``. This is what stops a hard link from making an outside file
  writable through an inside name.
* A restricted process cannot change the mount topology (``mount``,
  ``umount``, ``pivot_root``, ``move_mount`` fail with ``EPERM``), even as
  root or in a fresh user namespace, since that would bypass path rules.
  ``chroot`` is *not* denied; it needs ``CAP_SYS_CHROOT``, which
  ``privileges.py`` drops, and the rules still apply inside a chroot.
* Checks happen when a file is opened: fds inherited from the parent
  (stdout to a log file, a PTY) keep working whatever the rules say.
"""

from __future__ import annotations

import ctypes
import enum
import errno
import functools
import os
import stat
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self

__all__ = [
    "DEVICE_DEFAULTS",
    "AccessFs",
    "AccessNet",
    "LandlockUnavailable",
    "Restriction",
    "Rule",
    "Scope",
    "abi_version",
    "describe",
    "fs_rights",
    "net_rights",
    "scope_rights",
]


class AccessFs(enum.IntFlag):
    """Filesystem access rights (``LANDLOCK_ACCESS_FS_*``)."""

    EXECUTE = 1 << 0
    WRITE_FILE = 1 << 1
    READ_FILE = 1 << 2
    READ_DIR = 1 << 3
    REMOVE_DIR = 1 << 4
    REMOVE_FILE = 1 << 5
    MAKE_CHAR = 1 << 6
    MAKE_DIR = 1 << 7
    MAKE_REG = 1 << 8
    MAKE_SOCK = 1 << 9
    MAKE_FIFO = 1 << 10
    MAKE_BLOCK = 1 << 11
    MAKE_SYM = 1 << 12
    REFER = 1 << 13  # ABI 2
    TRUNCATE = 1 << 14  # ABI 3
    IOCTL_DEV = 1 << 15  # ABI 5


class AccessNet(enum.IntFlag):
    """Network access rights (``LANDLOCK_ACCESS_NET_*``, ABI 4)."""

    BIND_TCP = 1 << 0
    CONNECT_TCP = 1 << 1


class Scope(enum.IntFlag):
    """IPC scopes (``LANDLOCK_SCOPE_*``, ABI 6): deny reaching processes
    outside the restricted domain."""

    ABSTRACT_UNIX_SOCKET = 1 << 0
    SIGNAL = 1 << 1


class LandlockUnavailable(RuntimeError):
    """Landlock cannot enforce what was asked (no Landlock in the kernel,
    disabled at boot, blocked, or an ABI too old for a requested feature).
    Raised instead of running the command unconfined."""


# The first ABI that knows each feature.
_ABI_REFER: Final = 2
_ABI_TRUNCATE: Final = 3
_ABI_NET: Final = 4
_ABI_IOCTL_DEV: Final = 5
_ABI_SCOPE: Final = 6

# The rights a rule on a non-directory may carry; directory rights on a file
# rule are EINVAL.
_FILE_RIGHTS: Final = (
    AccessFs.EXECUTE
    | AccessFs.WRITE_FILE
    | AccessFs.READ_FILE
    | AccessFs.TRUNCATE
    | AccessFs.IOCTL_DEV
)
_READ_RIGHTS: Final = AccessFs.EXECUTE | AccessFs.READ_FILE | AccessFs.READ_DIR


_FS_SINCE: Final[Mapping[AccessFs, int]] = {
    AccessFs.REFER: _ABI_REFER,
    AccessFs.TRUNCATE: _ABI_TRUNCATE,
    AccessFs.IOCTL_DEV: _ABI_IOCTL_DEV,
}


def fs_rights(abi: int) -> AccessFs:
    """Every filesystem right known to Landlock ABI `abi` (none for 0)."""
    if abi < 1:
        return AccessFs(0)
    rights = AccessFs(0)
    for right in AccessFs:
        if abi >= _FS_SINCE.get(right, 1):
            rights |= right
    return rights


def net_rights(abi: int) -> AccessNet:
    """Every network right known to ABI `abi`."""
    return AccessNet.BIND_TCP | AccessNet.CONNECT_TCP if abi >= _ABI_NET else AccessNet(0)


def scope_rights(abi: int) -> Scope:
    """Every scope known to ABI `abi`."""
    return Scope.ABSTRACT_UNIX_SOCKET | Scope.SIGNAL if abi >= _ABI_SCOPE else Scope(0)


DEVICE_DEFAULTS: Final[Mapping[str, bool]] = {
    "/dev/null": True,
    "/dev/zero": True,
    "/dev/full": True,
    "/dev/tty": True,
    "/dev/ptmx": True,
    "/dev/pts": True,
    "/dev/urandom": False,
    "/dev/random": False,
}
"""Device paths every restriction adds (path -> writable), because ordinary
programs need them whatever the policy: ``>/dev/null`` redirections, the
controlling terminal, new PTYs (``script``, ``ssh``, ``tmux``) and
randomness. Writable devices get the file rights including ``IOCTL_DEV``
(terminal ioctls). Missing ones are left out silently. ``/dev/shm`` is
deliberately absent: it is a filesystem shared with every other process."""


# -- the syscalls --------------------------------------------------------------------

# Landlock's syscall numbers are the same on every architecture (allocated
# after the per-architecture tables were unified); glibc has no wrappers.
_SYS_CREATE_RULESET: Final = 444
_SYS_ADD_RULE: Final = 445
_SYS_RESTRICT_SELF: Final = 446
_CREATE_RULESET_VERSION: Final = 1 << 0
_RULE_PATH_BENEATH: Final = 1
_RULE_NET_PORT: Final = 2
_PR_SET_NO_NEW_PRIVS: Final = 38


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),  # ABI 4
        ("scoped", ctypes.c_uint64),  # ABI 6
    )


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # __attribute__((packed)) in the uapi header: 12 bytes
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


class _NetPortAttr(ctypes.Structure):
    _fields_ = (("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64))


def _ruleset_attr_size(abi: int) -> int:
    """The size of the part of the attribute struct this ABI knows: older
    kernels reject a larger struct (E2BIG) unless the unknown tail is
    zero, so passing exactly the known size never depends on that rule."""
    if abi >= _ABI_SCOPE:
        return ctypes.sizeof(_RulesetAttr)
    if abi >= _ABI_NET:
        return _RulesetAttr.scoped.offset
    return _RulesetAttr.handled_access_net.offset


_libc = ctypes.CDLL(None, use_errno=True)
# Both are variadic in C: every argument is passed as an explicit ctypes
# object (a bare Python int would be passed as a 32-bit int).
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_prctl = _libc.prctl
_prctl.restype = ctypes.c_int


def _raw_syscall(number: int, *args: object) -> int:
    """``syscall(number, args...)``: the result, or ``-errno``."""
    result = int(_syscall(ctypes.c_long(number), *args))
    return -ctypes.get_errno() if result == -1 else result


@functools.cache
def _probe() -> tuple[int, int]:
    """(ABI, errno of the probe); errno is 0 when Landlock is usable."""
    if sys.platform != "linux":
        return 0, errno.ENOSYS
    result = _raw_syscall(
        _SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION)
    )
    return (result, 0) if result > 0 else (0, -result)


def abi_version() -> int:
    """The running kernel's Landlock ABI version; 0 when Landlock is
    missing, disabled at boot or blocked. Probed once."""
    return _probe()[0]


def _unavailable_reason() -> str:
    code = _probe()[1]
    if sys.platform != "linux":
        return "Landlock is a Linux feature"
    if code == errno.ENOSYS:
        return (
            "this kernel has no Landlock (it needs Linux 5.13+ built with CONFIG_SECURITY_LANDLOCK)"
        )
    if code == errno.EOPNOTSUPP:
        return (
            "Landlock is built in but disabled at boot (add landlock to the lsm= kernel parameter)"
        )
    if code == errno.EPERM:
        return "the Landlock syscalls are blocked (a seccomp filter, e.g. a container runtime's)"
    return f"probing Landlock failed: {os.strerror(code)}"


# -- building ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One path-beneath rule as added: the path as given, what it resolved
    to (symlinks followed), and the rights it grants."""

    path: str
    target: str
    is_dir: bool
    writable: bool
    access: AccessFs
    device_default: bool


def _names(flags: enum.IntFlag) -> str:
    return (flags.name or str(int(flags))) if flags else "none"


def _rule_rights(*, is_dir: bool, writable: bool, handled: AccessFs) -> AccessFs:
    if writable:
        rights = handled if is_dir else _FILE_RIGHTS & handled
    else:
        rights = _READ_RIGHTS if is_dir else AccessFs.EXECUTE | AccessFs.READ_FILE
    return rights & handled


def _check(result: int, what: str) -> int:
    if result < 0:
        raise OSError(-result, f"{what}: {os.strerror(-result)}")
    return result


class Restriction:
    """A built Landlock ruleset, ready to be applied in a child.

    Build it in the parent with :meth:`build`, pass :meth:`apply` as (part
    of) the ``preexec_fn`` of as many spawns as wanted, then :meth:`close`
    it (or use it as a context manager).
    """

    __slots__ = (
        "_fd",
        "abi",
        "handled_fs",
        "rules",
        "scopes",
        "skipped",
        "tcp_connect_ports",
    )

    def __init__(
        self,
        fd: int,
        *,
        abi: int,
        handled_fs: AccessFs,
        rules: tuple[Rule, ...],
        skipped: dict[str, str],
        scopes: Scope,
        tcp_connect_ports: tuple[int, ...] | None,
    ) -> None:
        self._fd = fd
        self.abi = abi
        self.handled_fs = handled_fs
        self.rules = rules
        #: Caller paths no rule could be added for: path -> reason.
        self.skipped = skipped
        self.scopes = scopes
        #: None: TCP is not restricted by Landlock; else the only ports
        #: that may be connected to (binding is denied).
        self.tcp_connect_ports = tcp_connect_ports

    @classmethod
    def build(
        cls,
        readable: Iterable[str | os.PathLike[str]],
        writable: Iterable[str | os.PathLike[str]],
        *,
        scope_signals: bool = True,
        scope_abstract_unix: bool = False,
        tcp_connect_ports: Sequence[int] | None = None,
    ) -> Self:
        """Create the ruleset: `readable` paths get EXECUTE, READ_FILE and
        READ_DIR; `writable` paths every filesystem right of the ABI (only
        the file rights when the path is not a directory); the
        :data:`DEVICE_DEFAULTS` are added. Everything else is denied.

        `scope_signals` stops the command from signalling processes outside
        the sandbox (the agent, other commands); `scope_abstract_unix` from
        connecting to abstract unix sockets created outside it (both ABI 6).
        `tcp_connect_ports`, when given, restricts TCP to connecting to
        those ports and denies binding (ABI 4; TCP only and port-based, a
        second line behind seccomp, not a network policy on its own).

        Paths that cannot be opened (missing, not accessible) are skipped
        and listed in :attr:`skipped`. Raises :class:`LandlockUnavailable`
        when the kernel cannot enforce what was asked, including the default
        signal scoping on kernels before ABI 6: pass ``scope_signals=False``
        there (``abi_version() >= 6``) to knowingly go without it.
        """
        abi = abi_version()
        if abi == 0:
            raise LandlockUnavailable(_unavailable_reason())
        scopes = Scope(0)
        if scope_signals:
            scopes |= Scope.SIGNAL
        if scope_abstract_unix:
            scopes |= Scope.ABSTRACT_UNIX_SOCKET
        if scopes and abi < _ABI_SCOPE:
            raise LandlockUnavailable(
                f"scoping {_names(scopes)} needs Landlock ABI {_ABI_SCOPE} (Linux 6.12); "
                f"this kernel has ABI {abi}"
            )
        ports = None if tcp_connect_ports is None else tuple(tcp_connect_ports)
        if ports is not None:
            if abi < _ABI_NET:
                raise LandlockUnavailable(
                    f"TCP port rules need Landlock ABI {_ABI_NET} (Linux 6.7); "
                    f"this kernel has ABI {abi}"
                )
            bad = [port for port in ports if not 0 <= port <= 0xFFFF]
            if bad:
                raise ValueError(f"not TCP ports: {bad}")

        handled = fs_rights(abi)
        attr = _RulesetAttr(
            handled_access_fs=handled,
            handled_access_net=net_rights(abi) if ports is not None else 0,
            scoped=scopes,
        )
        fd = _check(
            _raw_syscall(
                _SYS_CREATE_RULESET,
                ctypes.byref(attr),
                ctypes.c_size_t(_ruleset_attr_size(abi)),
                ctypes.c_uint32(0),
            ),
            "landlock_create_ruleset",
        )
        try:
            rules: list[Rule] = []
            skipped: dict[str, str] = {}
            requested = [(os.fspath(p), False, False) for p in readable]
            requested += [(os.fspath(p), True, False) for p in writable]
            requested += [(p, w, True) for p, w in DEVICE_DEFAULTS.items()]
            for path, is_writable, device in requested:
                rule = _add_path_rule(
                    fd, path, writable=is_writable, handled=handled, device_default=device
                )
                if isinstance(rule, Rule):
                    rules.append(rule)
                elif not device:
                    skipped[path] = rule
            for port in ports or ():
                port_attr = _NetPortAttr(allowed_access=AccessNet.CONNECT_TCP, port=port)
                _check(
                    _raw_syscall(
                        _SYS_ADD_RULE,
                        ctypes.c_long(fd),
                        ctypes.c_long(_RULE_NET_PORT),
                        ctypes.byref(port_attr),
                        ctypes.c_uint32(0),
                    ),
                    f"landlock_add_rule(TCP port {port})",
                )
        except BaseException:
            os.close(fd)
            raise
        return cls(
            fd,
            abi=abi,
            handled_fs=handled,
            rules=tuple(rules),
            skipped=skipped,
            scopes=scopes,
            tcp_connect_ports=ports,
        )

    def apply(self) -> None:
        """Restrict the calling process, irrevocably. Meant for the forked
        child (a ``preexec_fn``): it only makes syscalls. Sets
        ``PR_SET_NO_NEW_PRIVS`` first, which ``landlock_restrict_self``
        requires of a process without ``CAP_SYS_ADMIN`` (and which keeps
        setuid binaries from escaping anyway).

        Raises (so the spawn fails, never runs unconfined) when the
        restriction is not enforced, e.g. ``E2BIG`` when the process is
        already nested in the kernel's maximum of 16 Landlock layers.
        """
        fd = self._fd
        if fd < 0:
            raise ValueError("the Landlock ruleset is closed")
        if int(_prctl(ctypes.c_int(_PR_SET_NO_NEW_PRIVS), *_ONE_ZERO_ZERO_ZERO)) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(code)}")
        result = _raw_syscall(_SYS_RESTRICT_SELF, ctypes.c_long(fd), ctypes.c_uint32(0))
        if result != 0:
            raise LandlockUnavailable(
                f"landlock_restrict_self failed, the ruleset is not enforced: "
                f"{os.strerror(-result)}"
            )

    def close(self) -> None:
        """Close the ruleset fd (in the parent). Idempotent."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # A forgotten close must not leak the fd into every later fork.
        if getattr(self, "_fd", -1) >= 0:
            self.close()

    def describe(self) -> list[str]:
        """Human-readable lines: the ABI, each rule, what was skipped, the
        scopes, and what this kernel cannot restrict."""
        lines = [
            f"Landlock ABI {self.abi}; handled filesystem rights: "
            f"all {len(list(self.handled_fs))} this ABI knows"
        ]
        for rule in self.rules:
            mode = "read-write" if rule.writable else "read"
            where = rule.path if rule.target == rule.path else f"{rule.path} -> {rule.target}"
            kind = "directory and everything beneath" if rule.is_dir else "file"
            origin = ", device default" if rule.device_default else ""
            rights = "all" if rule.access == self.handled_fs else _names(rule.access)
            lines.append(f"{mode:<10}  {where} ({kind}{origin}): {rights}")
        for path, reason in self.skipped.items():
            lines.append(f"{'skipped':<10}  {path}: {reason}")
        lines.append("everything else: denied (no rule)")
        lines.append(
            "signals to processes outside the sandbox: "
            + ("denied" if Scope.SIGNAL in self.scopes else "allowed")
        )
        lines.append(
            "abstract unix sockets outside the sandbox: "
            + ("denied" if Scope.ABSTRACT_UNIX_SOCKET in self.scopes else "allowed")
        )
        if self.tcp_connect_ports is None:
            lines.append("TCP: not restricted by Landlock")
        else:
            ports = ", ".join(map(str, self.tcp_connect_ports)) or "none"
            lines.append(f"TCP: connect only to ports {ports}; bind denied")
        missing = {
            _ABI_REFER: "links and renames across directories are always denied",
            _ABI_TRUNCATE: "truncate(2) of readable files is not restricted",
            _ABI_IOCTL_DEV: "ioctl(2) on devices is not restricted",
        }
        for needed, gap in missing.items():
            if self.abi < needed:
                lines.append(f"kernel limit (ABI {self.abi} < {needed}): {gap}")
        return lines


# Prebuilt arguments for prctl(option, 1, 0, 0, 0), so apply() builds little.
_ONE_ZERO_ZERO_ZERO: Final = (
    ctypes.c_ulong(1),
    ctypes.c_ulong(0),
    ctypes.c_ulong(0),
    ctypes.c_ulong(0),
)


def _add_path_rule(
    fd: int, path: str, *, writable: bool, handled: AccessFs, device_default: bool
) -> Rule | str:
    """Add one path-beneath rule; the rule, or why it was skipped."""
    try:
        # O_PATH: no read permission needed, no side effects on devices
        # (opening /dev/tty or a FIFO for real could block or fail).
        path_fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return "does not exist"
    except OSError as err:
        return err.strerror or str(err)
    try:
        # fstat on the fd, not stat on the path: the type is the type of
        # what the rule is attached to even if the path changes meanwhile.
        is_dir = stat.S_ISDIR(os.fstat(path_fd).st_mode)
        access = _rule_rights(is_dir=is_dir, writable=writable, handled=handled)
        attr = _PathBeneathAttr(allowed_access=access, parent_fd=path_fd)
        _check(
            _raw_syscall(
                _SYS_ADD_RULE,
                ctypes.c_long(fd),
                ctypes.c_long(_RULE_PATH_BENEATH),
                ctypes.byref(attr),
                ctypes.c_uint32(0),
            ),
            f"landlock_add_rule({path})",
        )
        try:
            target = os.readlink(f"/proc/self/fd/{path_fd}")
        except OSError:  # pragma: no cover - /proc not mounted
            target = path
    finally:
        os.close(path_fd)
    return Rule(
        path,
        target,
        is_dir=is_dir,
        writable=writable,
        access=access,
        device_default=device_default,
    )


def describe(
    readable: Iterable[str | os.PathLike[str]],
    writable: Iterable[str | os.PathLike[str]],
    *,
    scope_signals: bool = True,
    scope_abstract_unix: bool = False,
    tcp_connect_ports: Sequence[int] | None = None,
) -> list[str]:
    """What :meth:`Restriction.build` with these arguments would enforce on
    this machine, as human-readable lines (``execguard debug sandbox
    --explain``). Builds the ruleset (cheap) so the lines are exactly what
    a spawn would get, or says why Landlock is unavailable."""
    try:
        with Restriction.build(
            readable,
            writable,
            scope_signals=scope_signals,
            scope_abstract_unix=scope_abstract_unix,
            tcp_connect_ports=tcp_connect_ports,
        ) as restriction:
            return restriction.describe()
    except LandlockUnavailable as err:
        return [f"Landlock unavailable: {err}"]
