"""Network seccomp-BPF filters: generated and installed in pure Python (ctypes).

This reproduces the network seccomp table of the reference (OpenAI Codex
``linux-sandbox``). The default action is ALLOW; a syscall a rule matches
fails with ``EPERM``. Nothing is ever killed: a denied call is an ordinary
error the command can report, which is what the reference does and what the
denial detection downstream expects.

* ``RESTRICTED`` (network off): ``EPERM`` whatever the arguments for
  ptrace, process_vm_readv, process_vm_writev, io_uring_setup,
  io_uring_enter, io_uring_register, connect, accept, accept4, bind, listen,
  getpeername, getsockname, shutdown, sendto, sendmmsg, recvmmsg, getsockopt
  and setsockopt; ``socket`` and ``socketpair`` only for ``AF_UNIX``.
* ``PROXY_ROUTED`` (network only through a local proxy): ptrace,
  process_vm_readv/writev and io_uring_* denied; ``socket`` only for
  ``AF_INET``/``AF_INET6`` (and ``AF_UNIX`` with ``allow_unix_sockets=True``);
  ``socketpair`` only for ``AF_UNIX``.
* ``VSOCK_ONLY`` (network on, filesystem restricted): io_uring_* denied;
  ``socket`` and ``socketpair`` for every domain but ``AF_VSOCK``.

As in the reference, ``recvfrom``, ``sendmsg`` and ``recvmsg`` stay allowed in
``RESTRICTED`` (tools pass data and fds over ``socketpair``s with them; with
``socket`` limited to ``AF_UNIX`` they cannot reach the network). io_uring is
denied in every mode because its submission queue performs socket operations
(``IORING_OP_CONNECT``, ``IORING_OP_SOCKET``, ...) that no syscall filter
sees; ptrace and ``process_vm_*`` are denied where the network is limited
because they let a sandboxed process drive or rewrite another process.

Hardening beyond the reference (deliberate):

* **The syscall ABI is checked first.** A syscall number only means something
  for one ABI: on x86_64, ``int $0x80`` enters the i386 table, where 102 is
  ``socketcall`` and 359 is ``socket``, so a filter that only compares
  numbers can be walked around. Any ``seccomp_data.arch`` other than the
  native one (``AUDIT_ARCH_I386`` on x86_64, ``AUDIT_ARCH_ARM`` on aarch64)
  gets ``EPERM`` for *every* syscall. That also covers ``socketcall(2)``,
  which only exists in those 32-bit tables. EPERM rather than
  ``KILL_PROCESS``: a native program never uses the foreign ABI, so nothing
  legitimate breaks either way, and an error keeps the "never kill" rule
  (a killed process looks like a crash, not like a sandbox denial).
* **x32 is refused on x86_64.** x32 syscalls arrive with
  ``AUDIT_ARCH_X86_64`` and the number or'ed with ``__X32_SYSCALL_BIT``
  (``0x40000000``); every number at or above that bit gets ``EPERM``
  (whether the kernel was built with x32 or not: the filter runs before the
  syscall is dispatched). The native table has no numbers that high.
* **Only the low 32 bits of the socket domain are compared.** The kernel
  declares ``socket(int domain, ...)`` and truncates the 64-bit register, so
  ``AF_VSOCK | 1 << 32`` *is* ``AF_VSOCK``. Comparing all 64 bits would let
  that value past a deny-list (``VSOCK_ONLY``); comparing the low word gives
  the filter exactly the kernel's view. On little-endian the low word of
  ``args[0]`` sits at offset 16 of ``struct seccomp_data``.

Layout of the generated program (classic BPF, ``struct sock_filter[]``)::

    ld  [arch]                       ; struct seccomp_data.arch
    jeq AUDIT_ARCH_<native>, native_abi
    ret ERRNO(EPERM)                 ; foreign ABI: everything denied
  native_abi:
    ld  [nr]
    jge 0x40000000, +0, native_nr    ; x86_64 only: x32 numbers denied
    ret ERRNO(EPERM)
  native_nr:
    ; one block per rule, in table order
    jeq <nr of rule>, +0, after_rule ; not this syscall: skip the block
    <body>                           ; always ends in a ret
  after_rule:
    ...
    ret ALLOW

A body is ``ret ERRNO(EPERM)`` for an unconditional denial, or loads the low
word of ``args[0]`` and compares it with a few address families, returning
ALLOW or ERRNO. Classic BPF jumps are forward-only with 8-bit offsets; in
this layout every conditional jump stays inside its own block (or skips just
that block), so a jump is never longer than one body however many rules
there are. A tiny assembler resolves labels and checks every offset and the
``BPF_MAXINSNS`` limit anyway, so a layout change cannot produce a program
the kernel would reject (or, worse, misread).

Installation (:func:`prepare_install`): every buffer is built up front, so
the returned function only makes two syscalls and is safe in a forked child
(``subprocess``'s ``preexec_fn``). A filter applies to the calling thread
and everything it later forks or execs (it survives ``execve``); other
threads of an already-running process are not affected, so install it in
the child or in a thread that will do the exec. The same bytes
(:func:`filter_program`) can be handed to ``bwrap --seccomp FD``, which reads
the fd to its end and uses ``size / 8`` instructions.

Syscall numbers: x86_64 from ``arch/x86/entry/syscalls/syscall_64.tbl`` as
installed in ``<asm/unistd_64.h>``; aarch64 uses the generic table,
``include/uapi/asm-generic/unistd.h`` (as installed in
``/usr/include/asm-generic/unistd.h``). The tests check both tables against
the installed headers.
"""

from __future__ import annotations

import ctypes
import enum
import errno
import functools
import os
import struct
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "NetworkSeccomp",
    "SeccompUnsupported",
    "describe",
    "filter_program",
    "native_arch",
    "prepare_install",
]


class SeccompUnsupported(RuntimeError):
    """No filter can be built or installed here: not Linux, or an
    architecture (or process ABI) without a syscall table in this module."""


class NetworkSeccomp(enum.Enum):
    """Which network seccomp table to apply (see the module docstring)."""

    RESTRICTED = "restricted"
    PROXY_ROUTED = "proxy-routed"
    VSOCK_ONLY = "vsock-only"


# <linux/socket.h>: the same values on every Linux architecture.
_AF_UNIX = 1
_AF_INET = 2
_AF_INET6 = 10
_AF_VSOCK = 40
_FAMILY_NAMES: Mapping[int, str] = {
    _AF_UNIX: "AF_UNIX",
    _AF_INET: "AF_INET",
    _AF_INET6: "AF_INET6",
    _AF_VSOCK: "AF_VSOCK",
}

# <linux/audit.h>, <linux/elf-em.h>
_AUDIT_ARCH_64BIT = 0x8000_0000
_AUDIT_ARCH_LE = 0x4000_0000
_EM_X86_64 = 62
_EM_AARCH64 = 183
_AUDIT_ARCH_X86_64 = _EM_X86_64 | _AUDIT_ARCH_64BIT | _AUDIT_ARCH_LE
_AUDIT_ARCH_AARCH64 = _EM_AARCH64 | _AUDIT_ARCH_64BIT | _AUDIT_ARCH_LE

# <asm/unistd.h> (x86): x32 syscall numbers carry this bit.
_X32_SYSCALL_BIT = 0x4000_0000

# <linux/seccomp.h>
_SECCOMP_RET_ALLOW = 0x7FFF_0000
_SECCOMP_RET_ERRNO = 0x0005_0000
_SECCOMP_SET_MODE_FILTER = 1
_SECCOMP_MODE_FILTER = 2
# <linux/prctl.h>
_PR_SET_SECCOMP = 22
_PR_SET_NO_NEW_PRIVS = 38

_RET_DENY = _SECCOMP_RET_ERRNO | errno.EPERM

# <linux/filter.h>, <linux/bpf_common.h>
_BPF_MAXINSNS = 4096
_BPF_LD_W_ABS = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
_BPF_JEQ_K = 0x05 | 0x10 | 0x00  # BPF_JMP | BPF_JEQ | BPF_K
_BPF_JGE_K = 0x05 | 0x30 | 0x00  # BPF_JMP | BPF_JGE | BPF_K
_BPF_RET_K = 0x06 | 0x00  # BPF_RET | BPF_K
_MAX_JUMP = 0xFF  # jt and jf are __u8
_SOCK_FILTER_SIZE = 8  # struct sock_filter { __u16 code; __u8 jt, jf; __u32 k; }

# struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
_SECCOMP_DATA_NR = 0
_SECCOMP_DATA_ARCH = 4
_SECCOMP_DATA_ARGS = 16


# x86_64: arch/x86/entry/syscalls/syscall_64.tbl (<asm/unistd_64.h>).
_X86_64_SYSCALLS: Mapping[str, int] = {
    "socket": 41,
    "connect": 42,
    "accept": 43,
    "sendto": 44,
    "shutdown": 48,
    "bind": 49,
    "listen": 50,
    "getsockname": 51,
    "getpeername": 52,
    "socketpair": 53,
    "setsockopt": 54,
    "getsockopt": 55,
    "ptrace": 101,
    "accept4": 288,
    "recvmmsg": 299,
    "sendmmsg": 307,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "seccomp": 317,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
}

# aarch64: the generic table, include/uapi/asm-generic/unistd.h. (recvmmsg is
# the 64-bit-time entry 243; recvmmsg_time64 = 417 exists only on 32-bit.)
_AARCH64_SYSCALLS: Mapping[str, int] = {
    "ptrace": 117,
    "socket": 198,
    "socketpair": 199,
    "bind": 200,
    "listen": 201,
    "accept": 202,
    "connect": 203,
    "getsockname": 204,
    "getpeername": 205,
    "sendto": 206,
    "setsockopt": 208,
    "getsockopt": 209,
    "shutdown": 210,
    "accept4": 242,
    "recvmmsg": 243,
    "sendmmsg": 269,
    "process_vm_readv": 270,
    "process_vm_writev": 271,
    "seccomp": 277,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
}


@dataclass(frozen=True, slots=True)
class _Arch:
    name: str
    audit_arch: int
    byteorder: Literal["little", "big"]
    syscalls: Mapping[str, int]
    # Numbers at or above this belong to another ABI sharing the audit arch
    # (x32 on x86_64); None where there is none.
    foreign_nr_floor: int | None
    # For describe(): what a foreign ABI looks like on this architecture.
    foreign_abis: str


_ARCHES: Mapping[str, _Arch] = {
    "x86_64": _Arch(
        name="x86_64",
        audit_arch=_AUDIT_ARCH_X86_64,
        byteorder="little",
        syscalls=_X86_64_SYSCALLS,
        foreign_nr_floor=_X32_SYSCALL_BIT,
        foreign_abis="i386 via int $0x80, incl. socketcall",
    ),
    "aarch64": _Arch(
        name="aarch64",
        audit_arch=_AUDIT_ARCH_AARCH64,
        byteorder="little",
        syscalls=_AARCH64_SYSCALLS,
        foreign_nr_floor=None,
        foreign_abis="compat arm32, incl. socketcall",
    ),
}

# os.uname().machine spellings of the supported architectures.
_MACHINE_NAMES: Mapping[str, str] = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
}


def native_arch() -> str:
    """The architecture of this process's syscall ABI: "x86_64" or "aarch64".

    Raises :class:`SeccompUnsupported` anywhere else, including a 32-bit
    Python on a 64-bit kernel (whose syscalls use the compat ABI, which these
    filters deny wholesale)."""
    if sys.platform != "linux":
        raise SeccompUnsupported(f"seccomp filters need Linux, not {sys.platform}")
    machine = os.uname().machine
    name = _MACHINE_NAMES.get(machine)
    if name is None:
        raise SeccompUnsupported(
            f"no seccomp syscall table for {machine!r} (supported: {', '.join(_ARCHES)})"
        )
    if sys.maxsize < 2**32 or sys.byteorder != _ARCHES[name].byteorder:
        raise SeccompUnsupported(
            f"this Python is not a native {name} process (32-bit or foreign byte order)"
        )
    return name


def _arch(name: str | None) -> _Arch:
    if name is None:
        name = native_arch()
    try:
        return _ARCHES[name]
    except KeyError:
        raise SeccompUnsupported(
            f"no seccomp syscall table for {name!r} (supported: {', '.join(_ARCHES)})"
        ) from None


# --- the table ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rule:
    syscall: str
    # "deny": EPERM whatever the arguments; "only": arg0 (low word) must be
    # one of `families`; "except": arg0 must not be one of `families`.
    kind: Literal["deny", "only", "except"]
    families: tuple[int, ...] = ()


_PROCESS_ACCESS = ("ptrace", "process_vm_readv", "process_vm_writev")
_IO_URING = ("io_uring_setup", "io_uring_enter", "io_uring_register")
_NETWORK = (
    "connect",
    "accept",
    "accept4",
    "bind",
    "listen",
    "getpeername",
    "getsockname",
    "shutdown",
    "sendto",
    "sendmmsg",
    "recvmmsg",
    "getsockopt",
    "setsockopt",
)


def _rules(mode: NetworkSeccomp, allow_unix_sockets: bool) -> tuple[_Rule, ...]:
    def deny(names: Sequence[str]) -> list[_Rule]:
        return [_Rule(name, "deny") for name in names]

    if mode is NetworkSeccomp.RESTRICTED:
        return (
            *deny(_PROCESS_ACCESS),
            *deny(_IO_URING),
            *deny(_NETWORK),
            _Rule("socket", "only", (_AF_UNIX,)),
            _Rule("socketpair", "only", (_AF_UNIX,)),
        )
    if mode is NetworkSeccomp.PROXY_ROUTED:
        socket_families = (_AF_INET, _AF_INET6, *((_AF_UNIX,) if allow_unix_sockets else ()))
        return (
            *deny(_PROCESS_ACCESS),
            *deny(_IO_URING),
            _Rule("socket", "only", socket_families),
            _Rule("socketpair", "only", (_AF_UNIX,)),
        )
    if mode is NetworkSeccomp.VSOCK_ONLY:
        return (
            *deny(_IO_URING),
            _Rule("socket", "except", (_AF_VSOCK,)),
            _Rule("socketpair", "except", (_AF_VSOCK,)),
        )
    raise TypeError(f"not a NetworkSeccomp mode: {mode!r}")


# --- assembler ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Insn:
    code: int
    k: int
    # Jump targets of a conditional jump, as labels; None is the next
    # instruction (offset 0).
    jt: str | None = None
    jf: str | None = None


@dataclass(frozen=True, slots=True)
class _Label:
    name: str


def _assemble(items: Sequence[_Insn | _Label], byteorder: Literal["little", "big"]) -> bytes:
    """Resolve labels into jump offsets and encode ``struct sock_filter[]``.

    Raises ValueError for anything the kernel would refuse or misread: an
    unknown or duplicate label, a jump backwards, past the end or further
    than 255 instructions, a program without a final ret, or one longer
    than BPF_MAXINSNS."""
    positions: dict[str, int] = {}
    count = 0
    for item in items:
        if isinstance(item, _Label):
            if item.name in positions:
                raise ValueError(f"duplicate BPF label {item.name!r}")
            positions[item.name] = count
        else:
            count += 1
    if not 0 < count <= _BPF_MAXINSNS:
        raise ValueError(f"BPF program of {count} instructions (1..{_BPF_MAXINSNS} allowed)")
    last = next(item for item in reversed(items) if isinstance(item, _Insn))
    if last.code != _BPF_RET_K:
        raise ValueError("a BPF program must end in ret")

    def offset(label: str | None, pc: int) -> int:
        if label is None:
            return 0
        target = positions.get(label)
        if target is None:
            raise ValueError(f"unknown BPF label {label!r}")
        if target >= count:
            raise ValueError(f"BPF label {label!r} is past the last instruction")
        distance = target - (pc + 1)
        if not 0 <= distance <= _MAX_JUMP:
            raise ValueError(f"BPF jump to {label!r} spans {distance} instructions")
        return distance

    layout = "<HBBI" if byteorder == "little" else ">HBBI"
    out = bytearray()
    pc = 0
    for item in items:
        if isinstance(item, _Label):
            continue
        out += struct.pack(layout, item.code, offset(item.jt, pc), offset(item.jf, pc), item.k)
        pc += 1
    return bytes(out)


def _rule_body(rule: _Rule, arch: _Arch) -> list[_Insn | _Label]:
    if rule.kind == "deny":
        return [_Insn(_BPF_RET_K, _RET_DENY)]
    # The kernel reads the domain as an int: compare the low word only.
    low_word = _SECCOMP_DATA_ARGS + (0 if arch.byteorder == "little" else 4)
    matched = f"{rule.syscall}.matched"
    body: list[_Insn | _Label] = [_Insn(_BPF_LD_W_ABS, low_word)]
    body += [_Insn(_BPF_JEQ_K, family, jt=matched) for family in rule.families]
    on_match, otherwise = (
        (_SECCOMP_RET_ALLOW, _RET_DENY) if rule.kind == "only" else (_RET_DENY, _SECCOMP_RET_ALLOW)
    )
    body += [_Insn(_BPF_RET_K, otherwise), _Label(matched), _Insn(_BPF_RET_K, on_match)]
    return body


def _program(arch: _Arch, rules: Sequence[_Rule]) -> bytes:
    items: list[_Insn | _Label] = [
        _Insn(_BPF_LD_W_ABS, _SECCOMP_DATA_ARCH),
        _Insn(_BPF_JEQ_K, arch.audit_arch, jt="native_abi"),
        _Insn(_BPF_RET_K, _RET_DENY),
        _Label("native_abi"),
        _Insn(_BPF_LD_W_ABS, _SECCOMP_DATA_NR),
    ]
    if arch.foreign_nr_floor is not None:
        items += [
            _Insn(_BPF_JGE_K, arch.foreign_nr_floor, jf="native_nr"),
            _Insn(_BPF_RET_K, _RET_DENY),
            _Label("native_nr"),
        ]
    for rule in rules:
        # The accumulator still holds nr here: bodies clobber it, but every
        # body ends in ret, so the next rule is only reached through `jf`.
        after = f"{rule.syscall}.after"
        items.append(_Insn(_BPF_JEQ_K, arch.syscalls[rule.syscall], jf=after))
        items += _rule_body(rule, arch)
        items.append(_Label(after))
    items.append(_Insn(_BPF_RET_K, _SECCOMP_RET_ALLOW))
    return _assemble(items, arch.byteorder)


def filter_program(
    mode: NetworkSeccomp, *, arch: str | None = None, allow_unix_sockets: bool = False
) -> bytes:
    """The raw ``struct sock_filter[]`` for `mode` (8 bytes an instruction,
    in the architecture's byte order), as ``bwrap --seccomp FD`` reads it.

    `arch` defaults to :func:`native_arch`. `allow_unix_sockets` only changes
    PROXY_ROUTED (``socket(AF_UNIX)`` allowed too); the other modes already
    allow AF_UNIX."""
    return _cached_program(mode, arch or native_arch(), allow_unix_sockets)


@functools.cache
def _cached_program(mode: NetworkSeccomp, arch: str, allow_unix_sockets: bool) -> bytes:
    # Assembled once per process and shape: a sandboxed command needs it every time.
    return _program(_arch(arch), _rules(mode, allow_unix_sockets))


# --- installation ------------------------------------------------------------


class _SockFprog(ctypes.Structure):
    # struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


@dataclass(frozen=True, slots=True)
class _Libc:
    prctl: Callable[..., int]
    syscall: Callable[..., int]


@functools.cache
def _libc() -> _Libc:
    # A private CDLL instance: argtypes are set on its function objects, not
    # on ones other modules may share through ctypes.CDLL(None).
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    syscall = libc.syscall
    syscall.argtypes = [ctypes.c_long, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_void_p]
    syscall.restype = ctypes.c_long
    return _Libc(prctl=prctl, syscall=syscall)


class _Installer:
    """Installs one prepared filter on the calling thread. Holds the filter
    buffer and the sock_fprog so they live as long as the callable."""

    __slots__ = ("_fprog", "_fprog_address", "_instructions", "_libc", "_seccomp_nr")

    def __init__(self, program: bytes, seccomp_nr: int) -> None:
        self._instructions = ctypes.create_string_buffer(program, len(program))
        self._fprog = _SockFprog(
            len(program) // _SOCK_FILTER_SIZE, ctypes.addressof(self._instructions)
        )
        self._fprog_address = ctypes.addressof(self._fprog)
        self._seccomp_nr = seccomp_nr
        self._libc = _libc()

    def __call__(self) -> None:
        # Only syscalls from here on: this may run in a freshly forked child.
        libc = self._libc
        # Required to install a filter without CAP_SYS_ADMIN, and it keeps
        # setuid programs from running with a filter they do not expect.
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            _raise_errno("prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(self._seccomp_nr, _SECCOMP_SET_MODE_FILTER, 0, self._fprog_address) == 0:
            return
        if ctypes.get_errno() != errno.ENOSYS:
            _raise_errno("seccomp(SECCOMP_SET_MODE_FILTER)")
        # Kernels before 3.17 have no seccomp(2), only the prctl interface.
        if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, self._fprog_address, 0, 0) != 0:
            _raise_errno("prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)")


def _raise_errno(call: str) -> None:
    code = ctypes.get_errno()
    raise OSError(code, f"{call}: {os.strerror(code)}")


def prepare_install(
    mode: NetworkSeccomp, *, arch: str | None = None, allow_unix_sockets: bool = False
) -> Callable[[], None]:
    """Build the filter for `mode` now; return a function that installs it
    on the thread that calls it (``PR_SET_NO_NEW_PRIVS``, then
    ``seccomp(SECCOMP_SET_MODE_FILTER)``, or ``prctl(PR_SET_SECCOMP)`` where
    seccomp(2) is ENOSYS).

    The function allocates nothing and only makes syscalls, so it can be a
    ``subprocess`` ``preexec_fn``; it raises OSError (with the errno) when
    the kernel refuses. (Under ``preexec_fn`` subprocess replaces that with a
    SubprocessError without the errno.) `arch`, if given, must be the native
    one: a filter for another ABI would deny this process every syscall."""
    spec = _arch(arch)
    native = native_arch()
    if spec.name != native:
        raise SeccompUnsupported(f"cannot install a {spec.name} filter in a {native} process")
    return _Installer(_program(spec, _rules(mode, allow_unix_sockets)), spec.syscalls["seccomp"])


# --- description -------------------------------------------------------------


def describe(
    mode: NetworkSeccomp, *, arch: str | None = None, allow_unix_sockets: bool = False
) -> list[str]:
    """The filter for `mode` in words, one line per rule, in program order."""
    spec = _arch(arch)
    lines = [
        f"syscall ABI other than {spec.name} ({spec.foreign_abis}): every syscall EPERM",
    ]
    if spec.foreign_nr_floor is not None:
        lines.append(f"x32 syscalls (nr >= {spec.foreign_nr_floor:#x}): EPERM")
    for rule in _rules(mode, allow_unix_sockets):
        names = "/".join(_FAMILY_NAMES.get(family, str(family)) for family in rule.families)
        if rule.kind == "deny":
            lines.append(f"{rule.syscall}: EPERM")
        elif rule.kind == "only":
            lines.append(f"{rule.syscall}: only {names} (others: EPERM)")
        else:
            lines.append(f"{rule.syscall}: every domain except {names} ({names}: EPERM)")
    lines.append("every other syscall: allowed")
    return lines
