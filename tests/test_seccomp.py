"""Network seccomp filters (execguard.sandbox.seccomp).

Two independent checks of the same table, which this file writes down a
second time (`DENIED_ALWAYS`, `socket_allowed`) from the specification
rather than importing it:

* The generated programs are run by a classic-BPF interpreter written here
  over synthetic ``struct seccomp_data`` (every table cell, then random
  syscall numbers, arguments and ABIs with hypothesis), with the syscall
  numbers read from the installed kernel headers. This checks the assembler
  (jump offsets), the layout and the syscall tables without the kernel.
* Real child processes with the filter installed (``preexec_fn``, in-process,
  through ``bwrap --seccomp``) try every row against the kernel; each probe
  is also run without a filter, so "denied" means EPERM *from the filter*
  (the unfiltered call did not fail with EPERM) and "allowed" means exactly
  what the unfiltered call did.

The foreign-ABI test compiles a small x86_64 C program (gcc, at test time)
that calls socket() through ``int $0x80`` (i386: socket = 359 and
socketcall = 102) and through the x32 ABI (41 | 0x40000000).
"""

from __future__ import annotations

import errno
import functools
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execguard.sandbox.seccomp import (
    NetworkSeccomp,
    SeccompUnsupported,
    describe,
    filter_program,
    native_arch,
    prepare_install,
)

# --- the table, written down again ---------------------------------------------

AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, AF_VSOCK = 1, 2, 10, 16, 17, 40

PROCESS_ACCESS = frozenset({"ptrace", "process_vm_readv", "process_vm_writev"})
IO_URING = frozenset({"io_uring_setup", "io_uring_enter", "io_uring_register"})
NETWORK = frozenset(
    {
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
    }
)
# Never in any rule: a filter touching them would be a bug.
ALWAYS_ALLOWED = frozenset(
    {"recvfrom", "sendmsg", "recvmsg", "read", "write", "prctl", "seccomp", "execve"}
)


@dataclass(frozen=True)
class Config:
    mode: NetworkSeccomp
    allow_unix_sockets: bool = False


CONFIGS: dict[str, Config] = {
    "restricted": Config(NetworkSeccomp.RESTRICTED),
    "proxy": Config(NetworkSeccomp.PROXY_ROUTED),
    "proxy+unix": Config(NetworkSeccomp.PROXY_ROUTED, allow_unix_sockets=True),
    "vsock": Config(NetworkSeccomp.VSOCK_ONLY),
}
ALL = frozenset(CONFIGS)
NOT_VSOCK = ALL - {"vsock"}

DENIED_ALWAYS: dict[NetworkSeccomp, frozenset[str]] = {
    NetworkSeccomp.RESTRICTED: PROCESS_ACCESS | IO_URING | NETWORK,
    NetworkSeccomp.PROXY_ROUTED: PROCESS_ACCESS | IO_URING,
    NetworkSeccomp.VSOCK_ONLY: IO_URING,
}


def socket_allowed(config: Config, syscall: str, domain: int) -> bool:
    """Whether socket/socketpair(domain, ...) passes; `domain` is the int the
    kernel sees (the low 32 bits of the register)."""
    if config.mode is NetworkSeccomp.VSOCK_ONLY:
        return domain != AF_VSOCK
    if syscall == "socketpair" or config.mode is NetworkSeccomp.RESTRICTED:
        return domain == AF_UNIX
    return domain in {AF_INET, AF_INET6} or (config.allow_unix_sockets and domain == AF_UNIX)


AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_ARM = 0x40000028
X32_SYSCALL_BIT = 0x40000000
RET_ALLOW = 0x7FFF0000
RET_EPERM = 0x00050000 | errno.EPERM

# Where the kernel's own numbers are: x86_64's generated table, and the
# generic table that aarch64 uses.
SYSCALL_HEADERS = {
    "x86_64": (
        Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"),
        Path("/usr/include/asm/unistd_64.h"),
    ),
    "aarch64": (Path("/usr/include/asm-generic/unistd.h"),),
}


@functools.cache
def kernel_numbers(arch: str) -> dict[str, int]:
    for path in SYSCALL_HEADERS[arch]:
        if path.exists():
            text = path.read_text()
            return {
                name: int(number)
                for name, number in re.findall(r"^#define __NR_(\w+)\s+(\d+)\s*$", text, re.M)
            }
    pytest.fail(
        f"no {arch} syscall header ({', '.join(map(str, SYSCALL_HEADERS[arch]))}): "
        "install the kernel headers (Debian: linux-libc-dev)"
    )


def expected_action(config: Config, arch: str, data_arch: int, nr: int, arg0: int) -> int:
    if data_arch != AUDIT_ARCH[arch]:
        return RET_EPERM
    if arch == "x86_64" and nr >= X32_SYSCALL_BIT:
        return RET_EPERM
    numbers = kernel_numbers(arch)
    if any(nr == numbers[name] for name in DENIED_ALWAYS[config.mode]):
        return RET_EPERM
    for syscall in ("socket", "socketpair"):
        if nr == numbers[syscall]:
            allowed = socket_allowed(config, syscall, arg0 & 0xFFFFFFFF)
            return RET_ALLOW if allowed else RET_EPERM
    return RET_ALLOW


# --- a classic-BPF interpreter -------------------------------------------------

BPF_LD_W_ABS, BPF_JA = 0x20, 0x05
BPF_JEQ_K, BPF_JGT_K, BPF_JGE_K, BPF_JSET_K = 0x15, 0x25, 0x35, 0x45
BPF_RET_K = 0x06
SECCOMP_DATA_SIZE = 64


def seccomp_data(nr: int, arch: int, arg0: int) -> bytes:
    return struct.pack("<IIQ6Q", nr, arch, 0x7F00_DEAD_BEEF, arg0, 0, 0, 0, 0, 0)


def run_bpf(program: bytes, data: bytes) -> int:
    """Run a seccomp program the way the kernel does (forward jumps only, so
    it terminates), refusing anything the programs here should never hold."""
    assert len(program) % 8 == 0
    insns: list[tuple[int, int, int, int]] = [
        struct.unpack_from("<HBBI", program, offset) for offset in range(0, len(program), 8)
    ]
    assert 0 < len(insns) <= 4096
    pc, acc = 0, 0
    while True:
        assert 0 <= pc < len(insns), f"pc {pc} outside a {len(insns)}-instruction program"
        code, jt, jf, k = insns[pc]
        if code == BPF_LD_W_ABS:
            assert k % 4 == 0 and k + 4 <= SECCOMP_DATA_SIZE, f"misaligned load at {k}"
            acc = int.from_bytes(data[k : k + 4], "little")
            pc += 1
        elif code in (BPF_JEQ_K, BPF_JGT_K, BPF_JGE_K, BPF_JSET_K):
            taken = {
                BPF_JEQ_K: acc == k,
                BPF_JGT_K: acc > k,
                BPF_JGE_K: acc >= k,
                BPF_JSET_K: acc & k != 0,
            }[code]
            pc += 1 + (jt if taken else jf)
        elif code == BPF_JA:
            pc += 1 + k
        elif code == BPF_RET_K:
            return k
        else:
            raise AssertionError(f"unexpected BPF opcode {code:#x} at {pc}")


@functools.cache
def program_for(config_name: str, arch: str) -> bytes:
    config = CONFIGS[config_name]
    return filter_program(config.mode, arch=arch, allow_unix_sockets=config.allow_unix_sockets)


INTERESTING_FAMILIES = (
    0,
    AF_UNIX,
    AF_INET,
    AF_INET6,
    AF_NETLINK,
    AF_PACKET,
    AF_VSOCK,
    AF_VSOCK | 1 << 32,
    AF_UNIX | 0xFFFF_FFFF << 32,
    AF_INET6 | 1 << 63,
    2**32 - 1,
    2**64 - 1,
)


@pytest.mark.parametrize("arch", sorted(AUDIT_ARCH))
@pytest.mark.parametrize("config_name", sorted(CONFIGS))
def test_every_table_cell_in_the_interpreter(config_name: str, arch: str) -> None:
    config = CONFIGS[config_name]
    program = program_for(config_name, arch)
    numbers = kernel_numbers(arch)
    names = PROCESS_ACCESS | IO_URING | NETWORK | ALWAYS_ALLOWED | {"socket", "socketpair"}
    data_arches = (AUDIT_ARCH_I386, AUDIT_ARCH_ARM, *AUDIT_ARCH.values())
    mismatches = []
    for name in sorted(names):
        for arg0 in INTERESTING_FAMILIES:
            for data_arch in data_arches:
                for nr in (numbers[name], numbers[name] | X32_SYSCALL_BIT):
                    got = run_bpf(program, seccomp_data(nr, data_arch, arg0))
                    want = expected_action(config, arch, data_arch, nr, arg0)
                    if got != want:
                        mismatches.append((name, hex(nr), hex(data_arch), hex(arg0), got, want))
    assert not mismatches


def seccomp_inputs() -> st.SearchStrategy[tuple[str, str, int, int, int]]:
    @st.composite
    def build(draw: st.DrawFn) -> tuple[str, str, int, int, int]:
        config_name = draw(st.sampled_from(sorted(CONFIGS)))
        arch = draw(st.sampled_from(sorted(AUDIT_ARCH)))
        numbers = kernel_numbers(arch)
        table_nrs = sorted(
            numbers[name] for name in PROCESS_ACCESS | IO_URING | NETWORK | {"socket", "socketpair"}
        )
        nr = draw(
            st.one_of(
                st.sampled_from(table_nrs),
                st.sampled_from(table_nrs).map(lambda n: n | X32_SYSCALL_BIT),
                st.integers(0, 500),
                st.integers(0, 2**32 - 1),
            )
        )
        data_arch = draw(
            st.one_of(
                st.just(AUDIT_ARCH[arch]),
                st.sampled_from([AUDIT_ARCH_I386, AUDIT_ARCH_ARM, *AUDIT_ARCH.values()]),
                st.integers(0, 2**32 - 1),
            )
        )
        arg0 = draw(
            st.one_of(
                st.sampled_from(INTERESTING_FAMILIES),
                st.integers(0, 64),
                st.tuples(st.integers(0, 64), st.integers(1, 2**32 - 1)).map(
                    lambda pair: pair[0] | pair[1] << 32
                ),
                st.integers(0, 2**64 - 1),
            )
        )
        return config_name, arch, nr, data_arch, arg0

    return build()


@settings(max_examples=400, deadline=None)
@given(seccomp_inputs())
def test_programs_follow_the_table(case: tuple[str, str, int, int, int]) -> None:
    config_name, arch, nr, data_arch, arg0 = case
    got = run_bpf(program_for(config_name, arch), seccomp_data(nr, data_arch, arg0))
    assert got == expected_action(CONFIGS[config_name], arch, data_arch, nr, arg0)


def test_programs_are_small_and_whole_instructions() -> None:
    for config_name in CONFIGS:
        for arch in AUDIT_ARCH:
            program = program_for(config_name, arch)
            assert len(program) % 8 == 0
            assert 0 < len(program) // 8 < 256  # every jump fits whatever the layout
    assert program_for("restricted", native_arch()) == filter_program(NetworkSeccomp.RESTRICTED)


def test_unsupported_architectures_are_refused() -> None:
    with pytest.raises(SeccompUnsupported, match="riscv64"):
        filter_program(NetworkSeccomp.RESTRICTED, arch="riscv64")
    other = "aarch64" if native_arch() == "x86_64" else "x86_64"
    with pytest.raises(SeccompUnsupported, match="cannot install"):
        prepare_install(NetworkSeccomp.RESTRICTED, arch=other)


def test_describe() -> None:
    restricted = describe(NetworkSeccomp.RESTRICTED, arch="x86_64")
    assert restricted[0].startswith("syscall ABI other than x86_64")
    assert "x32 syscalls (nr >= 0x40000000): EPERM" in restricted
    assert "socket: only AF_UNIX (others: EPERM)" in restricted
    assert "socketpair: only AF_UNIX (others: EPERM)" in restricted
    assert {f"{name}: EPERM" for name in PROCESS_ACCESS | IO_URING | NETWORK} <= set(restricted)
    assert not any(line.startswith(("recvfrom", "sendmsg", "recvmsg")) for line in restricted)
    assert restricted[-1] == "every other syscall: allowed"

    proxy = describe(NetworkSeccomp.PROXY_ROUTED, arch="aarch64", allow_unix_sockets=True)
    assert not any(line.startswith("x32") for line in proxy)
    assert "socket: only AF_INET/AF_INET6/AF_UNIX (others: EPERM)" in proxy
    assert "connect: EPERM" not in proxy

    vsock = describe(NetworkSeccomp.VSOCK_ONLY)
    assert "socket: every domain except AF_VSOCK (AF_VSOCK: EPERM)" in vsock
    assert {line for line in vsock if line.endswith(": EPERM")} == {
        f"{name}: EPERM" for name in IO_URING
    } | {"x32 syscalls (nr >= 0x40000000): EPERM"}


# --- real processes --------------------------------------------------------------

# Runs in the child: tries every operation and prints {probe: "ok" | errno}.
# argv: syscall numbers (JSON), TCP port and unix socket path of listeners in
# the test, and two unconnected AF_INET sockets inherited from the test (so
# connect/bind/listen are tried even where socket(AF_INET) is denied).
PROBE = r"""
import ctypes, json, os, signal, socket, sys, time

numbers = json.loads(sys.argv[1])
port, unix_path = int(sys.argv[2]), sys.argv[3]
connect_fd, bind_fd = int(sys.argv[4]), int(sys.argv[5])
raw_names = json.loads(sys.argv[6])

SOL_SOCKET = socket.SOL_SOCKET
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.syscall.argtypes = [ctypes.c_long] * 7
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long] * 4
results = {}


def attempt(name, operation, *args):
    try:
        operation(*args)
    except OSError as exc:
        results[name] = exc.errno
    else:
        results[name] = "ok"


def raw(name, *args):
    ret = libc.syscall(numbers[name], *(list(args) + [0] * 6)[:6])
    if ret == -1:
        raise OSError(ctypes.get_errno(), name)
    return ret


def new_socket(family, kind):
    socket.socket(family, kind).close()


def raw_socket(domain):
    os.close(raw("socket", domain, socket.SOCK_STREAM, 0))


def socketpair_rw():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    os.write(a.fileno(), b"ping")
    assert os.read(b.fileno(), 4) == b"ping"


def with_pair(operation):
    def run():
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with a, b:
            operation(a, b)
    return run


def recvfrom(a, b):
    os.write(a.fileno(), b"r")
    assert b.recvfrom(1)[0] == b"r"


def recv(a, b):
    os.write(a.fileno(), b"r")
    assert b.recv(1) == b"r"


def sendmsg_recvmsg(a, b):
    a.sendmsg([b"m"])
    assert b.recvmsg(1)[0] == b"m"


def ptrace_attach():
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    try:
        if libc.ptrace(16, pid, 0, 0) == -1:  # PTRACE_ATTACH
            raise OSError(ctypes.get_errno(), "ptrace")
        os.waitpid(pid, 0)  # the attach stop
        libc.ptrace(17, pid, 0, 0)  # PTRACE_DETACH
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def process_vm(name):
    source = ctypes.create_string_buffer(b"secret", 6)
    target = ctypes.create_string_buffer(6)
    if name == "process_vm_readv":  # local <- remote
        local, remote = iovec(ctypes.addressof(target), 6), iovec(ctypes.addressof(source), 6)
    else:  # local -> remote
        local, remote = iovec(ctypes.addressof(source), 6), iovec(ctypes.addressof(target), 6)
    raw(name, os.getpid(), ctypes.addressof(local), 1, ctypes.addressof(remote), 1, 0)
    assert target.raw == b"secret"


def io_uring_setup():
    params = (ctypes.c_ubyte * 120)()  # struct io_uring_params, zeroed
    os.close(raw("io_uring_setup", 4, ctypes.addressof(params)))


families = {
    "inet_stream": (socket.AF_INET, socket.SOCK_STREAM),
    "inet_dgram": (socket.AF_INET, socket.SOCK_DGRAM),
    "inet6": (socket.AF_INET6, socket.SOCK_STREAM),
    "unix": (socket.AF_UNIX, socket.SOCK_STREAM),
    "netlink": (socket.AF_NETLINK, socket.SOCK_RAW),
    "packet": (socket.AF_PACKET, socket.SOCK_DGRAM),
    "vsock": (40, socket.SOCK_STREAM),
}
for label, (family, kind) in families.items():
    attempt("socket_" + label, new_socket, family, kind)
# The kernel reads the domain as an int: the high half of the register is ignored.
attempt("socket_unix_high_bits", raw_socket, socket.AF_UNIX | 1 << 32)
attempt("socket_inet_high_bits", raw_socket, socket.AF_INET | 1 << 32)
attempt("socket_vsock_high_bits", raw_socket, 40 | 1 << 32)

attempt("socketpair_unix_rw", socketpair_rw)
attempt("socketpair_inet", socket.socketpair, socket.AF_INET, socket.SOCK_STREAM)
attempt("socketpair_vsock", socket.socketpair, 40, socket.SOCK_STREAM)
attempt("send", with_pair(lambda a, b: a.send(b"s")))  # sendto(2)
attempt("recvfrom", with_pair(recvfrom))
attempt("recv", with_pair(recv))  # recvfrom(2) too, through glibc
attempt("sendmsg_recvmsg", with_pair(sendmsg_recvmsg))
attempt("getsockname", with_pair(lambda a, b: a.getsockname()))
attempt("getpeername", with_pair(lambda a, b: a.getpeername()))
attempt("shutdown", with_pair(lambda a, b: a.shutdown(socket.SHUT_WR)))
attempt("getsockopt", with_pair(lambda a, b: a.getsockopt(SOL_SOCKET, socket.SO_TYPE)))
attempt("setsockopt", with_pair(lambda a, b: a.setsockopt(SOL_SOCKET, socket.SO_SNDBUF, 65536)))

# family, type and proto given: wrapping the fd makes no syscall.
inherited_connect = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 6, fileno=connect_fd)
inherited_bind = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 6, fileno=bind_fd)
attempt("connect_tcp_inherited", inherited_connect.connect, ("127.0.0.1", port))
attempt("connect_tcp_fresh", lambda: socket.create_connection(("127.0.0.1", port)).close())
attempt("connect_unix", lambda: socket.socket(socket.AF_UNIX).connect(unix_path))
attempt("bind_unix", lambda: socket.socket(socket.AF_UNIX).bind(f"\0execguard-{os.getpid()}"))
attempt("bind_tcp_inherited", inherited_bind.bind, ("127.0.0.1", 0))
attempt("listen_tcp_inherited", inherited_bind.listen, 1)

attempt("ptrace_attach", ptrace_attach)
attempt("process_vm_readv_self", process_vm, "process_vm_readv")
attempt("process_vm_writev_self", process_vm, "process_vm_writev")
attempt("io_uring_setup", io_uring_setup)
# Every syscall of the table with a bad fd (-1) and null pointers: without a
# filter they fail with EBADF, EFAULT, EINVAL, ESRCH..., never EPERM.
for name in raw_names:
    attempt("raw_" + name, raw, name, -1)

status = dict(
    line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line
)
print(json.dumps({
    "results": results,
    "status": {key: status[key].strip() for key in ("NoNewPrivs", "Seccomp", "Seccomp_filters")},
}))
"""

RAW_NAMES = sorted(PROCESS_ACCESS | IO_URING | NETWORK | {"recvfrom", "sendmsg", "recvmsg"})


def denied_where(predicate: Callable[[Config], bool]) -> frozenset[str]:
    return frozenset(name for name, config in CONFIGS.items() if predicate(config))


def socket_denied(domain: int, syscall: str = "socket") -> frozenset[str]:
    return denied_where(lambda config: not socket_allowed(config, syscall, domain))


def always_denied(name: str) -> frozenset[str]:
    return denied_where(lambda config: name in DENIED_ALWAYS[config.mode])


# Probe -> the configurations in which it must fail with EPERM.
EXPECTED_DENIALS: dict[str, frozenset[str]] = {
    "socket_inet_stream": socket_denied(AF_INET),
    "socket_inet_dgram": socket_denied(AF_INET),
    "socket_inet6": socket_denied(AF_INET6),
    "socket_unix": socket_denied(AF_UNIX),
    "socket_netlink": socket_denied(AF_NETLINK),
    "socket_packet": socket_denied(AF_PACKET),
    "socket_vsock": socket_denied(AF_VSOCK),
    "socket_unix_high_bits": socket_denied(AF_UNIX),
    "socket_inet_high_bits": socket_denied(AF_INET),
    "socket_vsock_high_bits": socket_denied(AF_VSOCK),
    "socketpair_unix_rw": socket_denied(AF_UNIX, "socketpair"),
    "socketpair_inet": socket_denied(AF_INET, "socketpair"),
    "socketpair_vsock": socket_denied(AF_VSOCK, "socketpair"),
    "send": always_denied("sendto"),
    "recvfrom": frozenset(),
    "recv": frozenset(),
    "sendmsg_recvmsg": frozenset(),
    "getsockname": always_denied("getsockname"),
    "getpeername": always_denied("getpeername"),
    "shutdown": always_denied("shutdown"),
    "getsockopt": always_denied("getsockopt"),
    "setsockopt": always_denied("setsockopt"),
    "connect_tcp_inherited": always_denied("connect"),
    "connect_tcp_fresh": socket_denied(AF_INET) | always_denied("connect"),
    "connect_unix": socket_denied(AF_UNIX) | always_denied("connect"),
    "bind_unix": socket_denied(AF_UNIX) | always_denied("bind"),
    "bind_tcp_inherited": always_denied("bind"),
    "listen_tcp_inherited": always_denied("listen"),
    "ptrace_attach": always_denied("ptrace"),
    "process_vm_readv_self": always_denied("process_vm_readv"),
    "process_vm_writev_self": always_denied("process_vm_writev"),
    "io_uring_setup": always_denied("io_uring_setup"),
    **{f"raw_{name}": always_denied(name) for name in RAW_NAMES},
}

# Without a filter these must work here, so "allowed" is a real success.
MUST_WORK_UNFILTERED = {
    "socket_inet_stream",
    "socket_inet_dgram",
    "socket_inet6",
    "socket_unix",
    "socket_netlink",
    "socket_packet",
    "socket_unix_high_bits",
    "socket_inet_high_bits",
    "socketpair_unix_rw",
    "send",
    "recvfrom",
    "recv",
    "sendmsg_recvmsg",
    "getsockname",
    "getpeername",
    "shutdown",
    "getsockopt",
    "setsockopt",
    "connect_tcp_inherited",
    "connect_tcp_fresh",
    "connect_unix",
    "bind_unix",
    "bind_tcp_inherited",
    "listen_tcp_inherited",
    "ptrace_attach",
    "process_vm_readv_self",
    "process_vm_writev_self",
    "io_uring_setup",
}


@dataclass(frozen=True)
class Listeners:
    port: int
    unix_path: str


@pytest.fixture(scope="module")
def listeners(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listeners]:
    """A TCP and a unix listener on the host; connections wait in the backlog."""
    unix_path = str(tmp_path_factory.mktemp("seccomp") / "listener.sock")
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
        socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix,
    ):
        tcp.bind(("127.0.0.1", 0))
        tcp.listen(64)
        unix.bind(unix_path)
        unix.listen(64)
        yield Listeners(tcp.getsockname()[1], unix_path)


def native_numbers() -> dict[str, int]:
    return kernel_numbers(native_arch())


def run_probes(listeners: Listeners, config: Config | None) -> dict[str, Any]:
    install = (
        None
        if config is None
        else prepare_install(config.mode, allow_unix_sockets=config.allow_unix_sockets)
    )
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as for_connect,
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as for_bind,
    ):
        argv = [
            sys.executable,
            "-I",
            "-c",
            PROBE,
            json.dumps(native_numbers()),
            str(listeners.port),
            listeners.unix_path,
            str(for_connect.fileno()),
            str(for_bind.fileno()),
            json.dumps(RAW_NAMES),
        ]
        done = subprocess.run(
            argv,
            preexec_fn=install,
            pass_fds=(for_connect.fileno(), for_bind.fileno()),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@pytest.fixture(scope="module")
def unfiltered(listeners: Listeners) -> dict[str, Any]:
    return run_probes(listeners, None)


def test_probes_work_without_a_filter(unfiltered: dict[str, Any]) -> None:
    results = unfiltered["results"]
    assert set(results) == set(EXPECTED_DENIALS)
    assert {name: results[name] for name in MUST_WORK_UNFILTERED} == dict.fromkeys(
        MUST_WORK_UNFILTERED, "ok"
    )
    assert [name for name, result in results.items() if result == errno.EPERM] == []
    assert unfiltered["status"] == {"NoNewPrivs": "0", "Seccomp": "0", "Seccomp_filters": "0"}


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
def test_kernel_enforces_the_table(
    config_name: str, listeners: Listeners, unfiltered: dict[str, Any]
) -> None:
    report = run_probes(listeners, CONFIGS[config_name])
    baseline, results = unfiltered["results"], report["results"]
    wrong = {}
    for probe, denied_in in EXPECTED_DENIALS.items():
        want = errno.EPERM if config_name in denied_in else baseline[probe]
        if results[probe] != want:
            wrong[probe] = f"got {results[probe]!r}, want {want!r}"
    assert wrong == {}
    # The filter came through exec (preexec_fn runs before the exec).
    assert report["status"] == {"NoNewPrivs": "1", "Seccomp": "2", "Seccomp_filters": "1"}


SOCKET_AND_STATUS = r"""
import socket
for family in (socket.AF_INET, socket.AF_UNIX):
    try:
        socket.socket(family, socket.SOCK_STREAM).close()
    except OSError as exc:
        print(family, exc.errno)
    else:
        print(family, "ok")
for line in open("/proc/self/status"):
    if line.startswith(("NoNewPrivs:", "Seccomp:")):
        print(" ".join(line.split()))
"""

RESTRICTED_VERDICT = [
    f"{AF_INET} {errno.EPERM}",
    f"{AF_UNIX} ok",
    "NoNewPrivs: 1",
    "Seccomp: 2",
]


def test_filter_survives_further_execs() -> None:
    # The filtered child is sh, which execs python: two execs after install.
    done = subprocess.run(
        ["/bin/sh", "-c", 'exec "$0" -I -c "$1"', sys.executable, SOCKET_AND_STATUS],
        preexec_fn=prepare_install(NetworkSeccomp.RESTRICTED),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout.splitlines() == RESTRICTED_VERDICT


def test_install_in_the_current_thread() -> None:
    code = (
        "from execguard.sandbox.seccomp import NetworkSeccomp, prepare_install\n"
        "prepare_install(NetworkSeccomp.RESTRICTED)()\n" + SOCKET_AND_STATUS
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout.splitlines() == RESTRICTED_VERDICT


# In the child: a first filter (hand-assembled) makes seccomp(2) fail with a
# chosen errno and, optionally, prctl(PR_SET_SECCOMP) with another; then
# prepare_install(...)() runs and we report what it raised and what socket()
# does afterwards.
INSTALL_ERRORS = r"""
import ctypes, json, socket, struct, sys
from execguard.sandbox.seccomp import NetworkSeccomp, prepare_install

seccomp_nr, prctl_nr, seccomp_errno, prctl_errno = map(int, sys.argv[1:5])

def insn(code, k, jt=0, jf=0):
    return struct.pack("=HBBI", code, jt, jf, k)

ERRNO, ALLOW = 0x50000, 0x7FFF0000
program = insn(0x20, 0) + insn(0x15, seccomp_nr, 0, 1) + insn(0x06, ERRNO | seccomp_errno)
if prctl_errno:
    program += (
        insn(0x15, prctl_nr, 0, 3) + insn(0x20, 16)
        + insn(0x15, 22, 0, 1) + insn(0x06, ERRNO | prctl_errno)  # PR_SET_SECCOMP
    )
program += insn(0x06, ALLOW)

class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

libc = ctypes.CDLL(None, use_errno=True)
buffer = ctypes.create_string_buffer(program, len(program))
fprog = Fprog(len(program) // 8, ctypes.addressof(buffer))
assert libc.prctl(38, 1, 0, 0, 0) == 0
assert libc.syscall(ctypes.c_long(seccomp_nr), 1, 0, ctypes.byref(fprog)) == 0

try:
    prepare_install(NetworkSeccomp.RESTRICTED)()
except OSError as exc:
    installed = exc.errno
else:
    installed = "ok"
try:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
except OSError as exc:
    inet = exc.errno
else:
    inet = "ok"
print(json.dumps([installed, inet]))
"""


@pytest.mark.parametrize(
    ("seccomp_errno", "prctl_errno", "outcome"),
    [
        # seccomp(2) missing: the prctl interface installs the same filter.
        (errno.ENOSYS, 0, ["ok", errno.EPERM]),
        # ... and a refusal there is reported with its errno.
        (errno.ENOSYS, errno.EACCES, [errno.EACCES, "ok"]),
        # Any other seccomp(2) error is final: no fallback.
        (errno.EINVAL, errno.EACCES, [errno.EINVAL, "ok"]),
    ],
)
def test_install_fallback_and_errors(
    seccomp_errno: int, prctl_errno: int, outcome: list[object]
) -> None:
    numbers = native_numbers()
    argv = [str(numbers["seccomp"]), str(numbers["prctl"]), str(seccomp_errno), str(prctl_errno)]
    done = subprocess.run(
        [sys.executable, "-c", INSTALL_ERRORS, *argv],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert json.loads(done.stdout) == outcome


# --- other syscall ABIs (x86_64) -----------------------------------------------

FOREIGN_ABI_PROGRAM = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The i386 entry point, usable from a 64-bit process when the kernel has
   IA32 emulation. Returns -errno or the result. */
static int int80(int nr, int a, int b, int c) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return (int)ret;
}

static int native(long nr, long a, long b, long c) {
    long ret = syscall(nr, a, b, c);
    return ret < 0 ? -errno : (int)ret;
}

int main(void) {
    /* socketcall takes a pointer to its arguments: it must fit in 32 bits. */
    unsigned int *args = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (args == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    args[0] = AF_INET;
    args[1] = SOCK_STREAM;
    args[2] = 0;
    printf("i386_socket %d\n", int80(359, AF_INET, SOCK_STREAM, 0));
    printf("i386_socketcall %d\n", int80(102, 1 /* SYS_SOCKET */, (int)(long)args, 0));
    printf("x32_socket %d\n", native(41 | 0x40000000, AF_INET, SOCK_STREAM, 0));
    printf("x86_64_socket %d\n", native(SYS_socket, AF_INET, SOCK_STREAM, 0));
    return 0;
}
"""


@pytest.fixture(scope="module")
def foreign_abi_program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if native_arch() != "x86_64":
        pytest.fail(f"the foreign-ABI program is x86_64 code; port it to {native_arch()}")
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is needed to build the foreign-ABI test program (apt-get install gcc)")
    directory = tmp_path_factory.mktemp("foreign-abi")
    source = directory / "foreign_abi.c"
    source.write_text(FOREIGN_ABI_PROGRAM)
    binary = directory / "foreign_abi"
    subprocess.run([gcc, "-O1", "-o", str(binary), str(source)], check=True, timeout=60)
    return binary


def run_foreign_abi(binary: Path, install: Callable[[], None] | None) -> dict[str, int]:
    done = subprocess.run(
        [str(binary)], preexec_fn=install, capture_output=True, text=True, timeout=30, check=True
    )
    return {name: int(value) for name, value in (line.split() for line in done.stdout.splitlines())}


def test_other_syscall_abis_are_denied(foreign_abi_program: Path) -> None:
    unfiltered = run_foreign_abi(foreign_abi_program, None)
    filtered = run_foreign_abi(foreign_abi_program, prepare_install(NetworkSeccomp.RESTRICTED))
    # Control: the native call is denied by the socket rule.
    assert unfiltered["x86_64_socket"] >= 0
    assert filtered["x86_64_socket"] == -errno.EPERM
    # The filter sees x32 numbers before the kernel looks them up, so the
    # answer is EPERM whether or not the kernel has x32 (unfiltered: ENOSYS
    # without x32, a socket with it).
    assert filtered["x32_socket"] == -errno.EPERM
    # int $0x80: without IA32 emulation (CONFIG_IA32_EMULATION off, or
    # ia32_emulation=0 at boot) the kernel answers ENOSYS before any filter;
    # what matters is that no socket comes back. Where the unfiltered call
    # gives a socket, the filter itself must answer EPERM.
    for name in ("i386_socket", "i386_socketcall"):
        assert filtered[name] < 0, f"{name} returned a socket under the filter"
        if unfiltered[name] >= 0:
            assert filtered[name] == -errno.EPERM, name


# --- bubblewrap --------------------------------------------------------------------

BWRAP = Path("/usr/bin/bwrap")


@pytest.mark.parametrize("mode", [NetworkSeccomp.RESTRICTED, NetworkSeccomp.PROXY_ROUTED])
def test_bwrap_reads_the_program_from_an_fd(mode: NetworkSeccomp) -> None:
    assert BWRAP.exists(), "bubblewrap is installed by scripts/setup; /usr/bin/bwrap is missing"
    fd = os.memfd_create("execguard-seccomp")
    try:
        os.write(fd, filter_program(mode))
        os.lseek(fd, 0, os.SEEK_SET)
        command = [
            str(BWRAP),
            "--ro-bind", "/", "/",
            "--dev", "/dev",
            "--unshare-user",
            "--unshare-pid",
            "--unshare-net",
            "--proc", "/proc",
            "--seccomp", str(fd),
            "--",
            sys.executable, "-I", "-c", SOCKET_AND_STATUS,
        ]  # fmt: skip
        done = subprocess.run(
            command, pass_fds=(fd,), capture_output=True, text=True, timeout=30, check=False
        )
    finally:
        os.close(fd)
    assert done.returncode == 0, done.stderr
    inet, unix = (
        (f"{AF_INET} {errno.EPERM}", f"{AF_UNIX} ok")
        if mode is NetworkSeccomp.RESTRICTED
        else (f"{AF_INET} ok", f"{AF_UNIX} {errno.EPERM}")
    )
    lines = done.stdout.splitlines()
    assert lines[:2] == [inet, unix]
    assert "NoNewPrivs: 1" in lines
    assert "Seccomp: 2" in lines
