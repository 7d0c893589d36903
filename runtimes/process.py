"""Start one command (pipes or a PTY) and follow it to the end: output
streaming and caps, stdin, window size, timeout, kill, and cleanup.

This is the reference's process layer (Codex ``utils/pty`` and the
``command/exec`` run loop), kept free of JSON-RPC: the server turns
requests into an :class:`~.api.ExecSpec` and results into responses.

How the pieces fit, and why:

* The child is started with :class:`subprocess.Popen` (fork and exec in C,
  errors from ``chdir``/``exec`` come back as ``OSError``), with our own
  ``os.pipe()`` ends so no file objects wrap them, in a new session, with
  default signal dispositions and an empty signal mask as the reference's
  ``pre_exec`` gives; in tty mode the PTY is the controlling terminal.
  ``close_fds`` leaves the child only fds 0, 1 and 2. A ``preexec_fn`` is
  used only where it is needed (tty mode; signals ignored or blocked in this
  process): it costs ~2 ms a spawn (no vfork, Python code in the child).
* Instead of the reference's ``PR_SET_PDEATHSIG`` (which also needs code in
  the child and reaches only the direct child), a watchdog process
  (:data:`WATCHDOG`) kills every running command's process group if this
  process dies, even by SIGKILL.
* Exit is noticed through a pidfd in the event loop, *without reaping*: the
  zombie keeps the pid and so the process-group id reserved, so the final
  ``killpg`` (which kills background jobs left in the group) can never hit
  an unrelated group that reused the number. The child is reaped only after
  that kill. (Kernels without ``pidfd_open`` get a watcher thread that
  blocks in ``waitid(WNOWAIT)``.)
* One reader task per stream reads non-blocking fds (up to `READ_SIZE` per read)
  and awaits the sink before reading again, so a slow consumer stops the
  reading and the child blocks on a full pipe: memory stays bounded. After a
  stream's cap is reached the task keeps reading and discarding, so the
  child is neither blocked nor ``SIGPIPE``'d.
* In tty mode two ``cat`` processes stand between the PTY and the loop (see
  `_start_pty_copiers`): a PTY buffers only ~4 KiB, so the program would
  stall whenever the loop is busy sending; the copier keeps it drained into
  a 1 MiB pipe.
* stdin writes go through a bounded queue to a writer task, as in the
  reference (128 chunks), so one slow reader cannot make the caller hold
  unbounded data, and writes stay in order.
* Every way out (normal end, timeout, terminate, an exception from the sink,
  cancellation of :meth:`RunningProcess.wait`) kills the process group,
  closes every fd and reaps the child.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import fcntl
import logging
import os
import pwd
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from ..execpolicy.render import rust_debug_str
from .api import (
    DEFAULT_OUTPUT_CAP,
    DEFAULT_TIMEOUT_MS,
    IO_DRAIN_TIMEOUT_MS,
    TIMEOUT_EXIT_CODE,
    ControlError,
    ExecResult,
    ExecSpec,
    OutputSink,
    SpawnError,
)

__all__ = ["OutputCap", "RunningProcess", "run", "spawn"]

# The largest single read, and the most a PTY reader gathers into one chunk:
# one output delta. The reference's deltas are at most ~72 KiB; 256 KiB
# costs fewer messages per megabyte and stays well below the 1 MiB message
# limit common WebSocket clients apply (base64 adds a third).
READ_SIZE = 256 * 1024
PIPE_BYTES = 1024 * 1024
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
# Queued stdin chunks before `write` waits (the reference's channel size).
WRITE_QUEUE_CHUNKS = 128
DEFAULT_TTY_SIZE = (24, 80)

_SPAWN_FAILED = "failed to spawn command: "
_STDIN_NOT_ENABLED = "stdin streaming is not enabled for this command/exec"
_STDIN_CLOSED = "stdin is already closed"
_NOT_A_PTY = "failed to resize PTY: process is not attached to a PTY"



# -- the output cap ----------------------------------------------------------------


class OutputCap:
    """Counts one stream's bytes against its cap (``None``: no cap).

    :meth:`accept` returns the part of a chunk to keep and whether this is
    the chunk that reached the cap. The caller forwards a result when it has
    bytes *or* reports the cap, so a cap of 0 yields one empty chunk with
    ``cap_reached`` for a stream that produced output, and nothing after.
    """

    __slots__ = ("limit", "total", "reached")

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.total = 0
        self.reached = False

    def accept(self, chunk: bytes) -> tuple[bytes, bool]:
        if self.reached or not chunk:
            return b"", False
        if self.limit is None:
            self.total += len(chunk)
            return chunk, False
        room = self.limit - self.total
        if len(chunk) < room:
            self.total += len(chunk)
            return chunk, False
        self.total = self.limit
        self.reached = True
        return chunk[:room], True


# -- errors in the reference's words -------------------------------------------------


def _rust_io_error(err: OSError) -> str:
    """Rust's ``io::Error`` display: ``<strerror> (os error N)``."""
    if err.errno:
        return f"{os.strerror(err.errno)} (os error {err.errno})"
    return str(err.strerror or err)


def _nix_errno(code: int) -> str:
    """``nix::Errno``'s display (``ENOENT: No such file or directory``)."""
    return f"{errno.errorcode.get(code, 'UnknownErrno')}: {os.strerror(code)}"



# -- what runs in the child between fork and exec ------------------------------------


def _load_libc_signal() -> Callable[..., object] | None:
    try:
        set_signal = ctypes.CDLL(None, use_errno=True).signal
    except (OSError, AttributeError):  # pragma: no cover - not glibc/musl Linux
        return None
    set_signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
    set_signal.restype = ctypes.c_void_p
    return set_signal


# Resolved once in the parent: the child only calls it.
_libc_signal = _load_libc_signal()
_RESETTABLE_SIGNALS = tuple(
    signo for signo in range(1, signal.NSIG) if signo not in (signal.SIGKILL, signal.SIGSTOP)
)


def _reset_signals() -> None:
    """Default dispositions and an empty mask. ``exec`` resets caught
    signals but keeps ignored ones (Python ignores ``SIGPIPE``; a server
    started under ``nohup`` ignores ``SIGHUP``) and the mask."""
    if _libc_signal is not None:
        for signo in _RESETTABLE_SIGNALS:
            _libc_signal(signo, None)  # SIG_DFL; glibc refuses its own RT signals
    else:  # pragma: no cover
        for signo in _RESETTABLE_SIGNALS:
            with contextlib.suppress(OSError, ValueError):
                if signal.getsignal(signo) == signal.SIG_IGN:
                    signal.signal(signo, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


def _pipe_preexec() -> None:
    _reset_signals()
    try:
        os.setsid()
    except PermissionError:
        os.setpgid(0, 0)


# Ignored signals `restore_signals` already resets in the child.
_RESTORED_BY_POPEN = frozenset(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, name))


def _needs_signal_reset() -> bool:
    """Whether the child needs `_reset_signals` (a `preexec_fn`, which costs
    ~2 ms a spawn: no vfork, Python code in the child): only when this
    process ignores a signal `restore_signals` does not reset (a server
    started under ``nohup``) or blocks signals in this thread."""
    if signal.pthread_sigmask(signal.SIG_BLOCK, ()):
        return True
    return any(signal.getsignal(signo) == signal.SIG_IGN for signo in _RESETTABLE_SIGNALS
               if signo not in _RESTORED_BY_POPEN and signo < signal.SIGRTMIN)


def _tty_preexec() -> None:
    _reset_signals()
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


# -- the watchdog --------------------------------------------------------------------

_WATCHDOG_CODE = """
import os, signal
groups = set()
pending = b""
while True:
    try:
        data = os.read(0, 65536)
    except InterruptedError:
        continue
    except OSError:
        data = b""
    if not data:
        break
    pending += data
    *lines, pending = pending.split(b"\\n")
    for line in lines:
        if line[:1] == b"+":
            groups.add(int(line[1:]))
        elif line[:1] == b"-":
            groups.discard(int(line[1:]))
for group in groups:
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass
"""


class _Watchdog:
    """A small process that kills every running command's process group
    when this process dies, however it dies (SIGKILL included).

    It replaces the reference's ``PR_SET_PDEATHSIG`` (which needs code
    between fork and exec, ~2 ms a spawn, and reaches only the direct child:
    the reference's grandchildren survive a crashed server). It reads
    ``+PGID`` / ``-PGID`` lines on a pipe from us; end of file means we are
    gone. A group is forgotten when its command has been reaped and killed,
    before its id could be reused. Started on first use, in its own session
    (a terminal's Ctrl-C does not reach it), again after a fork.
    """

    def __init__(self) -> None:
        self._fd: int | None = None
        self._popen: subprocess.Popen[bytes] | None = None
        self._owner = 0
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    @property
    def fd(self) -> int | None:
        return self._fd

    def start(self) -> None:
        with self._lock:
            self._ensure()

    def _ensure(self) -> int | None:
        if self._fd is not None and self._owner == os.getpid() and (
                self._popen is not None and self._popen.poll() is None):
            return self._fd
        if self._fd is not None and self._owner == os.getpid():
            os.close(self._fd)  # the old watchdog died: start another
        self._fd = None
        read, write = os.pipe()
        try:
            self._popen = subprocess.Popen(
                [sys.executable, "-S", "-E", "-c", _WATCHDOG_CODE], stdin=read,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True,
                start_new_session=True)
        except OSError:
            os.close(write)
            return None
        finally:
            os.close(read)
        self._fd, self._owner = write, os.getpid()
        return write

    def _send(self, line: bytes) -> None:
        with self._lock:
            fd = self._ensure()
            if fd is None:
                return
            with contextlib.suppress(OSError):
                os.write(fd, line)

    def watch(self, pgid: int) -> None:
        self._send(b"+%d\n" % pgid)

    def forget(self, pgid: int) -> None:
        self._send(b"-%d\n" % pgid)


WATCHDOG = _Watchdog()


# -- spawning ------------------------------------------------------------------------


@dataclass
class _Launch:
    popen: subprocess.Popen[bytes]
    stdin_fd: int | None  # where writes go (the PTY master in tty mode)
    outputs: list[tuple[str, int]]  # (stream name, fd to read)
    master_fd: int | None
    fds: list[int]  # every fd the parent keeps
    helpers: list[subprocess.Popen[bytes]] = field(default_factory=list)  # see `_start_pty_copier`


def _popen(
    argv: Sequence[str],
    executable: str | None,
    *,
    cwd: str,
    env: Mapping[str, str],
    stdin: int,
    stdout: int,
    stderr: int,
    preexec: Callable[[], None] | None,
    sandbox_preexec: Callable[[], None] | None = None,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen[bytes]:
    if sandbox_preexec is not None:
        # The sandbox's part runs last, after the session is made (Popen
        # makes it before any preexec_fn when we do not).
        preexec = _chain(preexec, sandbox_preexec)
        start_new_session = preexec is sandbox_preexec
    else:
        start_new_session = preexec is None
    try:
        return subprocess.Popen(
            list(argv),
            executable=executable,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            cwd=cwd,
            env=dict(env),
            close_fds=True,
            restore_signals=True,
            # Without a preexec_fn of ours, Popen makes the new session itself.
            start_new_session=start_new_session,
            preexec_fn=preexec,
            pass_fds=tuple(pass_fds),
        )
    except OSError as err:
        raise SpawnError(_SPAWN_FAILED + _rust_io_error(err)) from err
    except ValueError as err:
        text = str(err)
        if "null byte" in text:
            text = "nul byte found in provided data"
        raise SpawnError(_SPAWN_FAILED + text) from err
    except subprocess.SubprocessError as err:
        raise SpawnError(_SPAWN_FAILED + str(err)) from err


def _close_all(fds: Sequence[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _grow_pipe(fd: int) -> None:
    """Give a pipe PIPE_BYTES of buffer (the kernel default is 64 KiB): the
    child keeps writing while we encode and send what we read, and one read
    takes more at once. Unprivileged users are limited by
    /proc/sys/fs/pipe-max-size (1 MiB by default); failure is harmless."""
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_BYTES)


def _chain(first: Callable[[], None] | None,
           then: Callable[[], None]) -> Callable[[], None]:
    if first is None:
        return then

    def both() -> None:
        first()
        then()

    return both


def _launch_pipes(spec: ExecSpec) -> _Launch:
    parent_ends: list[int] = []
    child_ends: list[int] = []
    try:
        stdin_fd: int | None = None
        child_stdin: int = subprocess.DEVNULL
        if spec.stream_stdin:
            child_stdin, stdin_fd = os.pipe()
            child_ends.append(child_stdin)
            parent_ends.append(stdin_fd)
        out_read, out_write = os.pipe()
        parent_ends.append(out_read)
        child_ends.append(out_write)
        err_read, err_write = os.pipe()
        parent_ends.append(err_read)
        child_ends.append(err_write)
        _grow_pipe(out_read)
        _grow_pipe(err_read)
        popen = _popen(
            spec.argv,
            None,  # Popen searches the child's PATH (os.defpath without one), as execvp does
            cwd=spec.cwd,
            env=spec.env,
            stdin=child_stdin,
            stdout=out_write,
            stderr=err_write,
            preexec=_pipe_preexec if _needs_signal_reset() else None,
            sandbox_preexec=spec.preexec,
            pass_fds=spec.pass_fds,
        )
    except BaseException:
        _close_all(parent_ends)
        raise
    finally:
        _close_all(child_ends)
    for fd in parent_ends:
        os.set_blocking(fd, False)
    return _Launch(popen, stdin_fd, [("stdout", out_read), ("stderr", err_read)], None, parent_ends)


def _passwd_entry() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwuid(os.getuid())
    except KeyError:
        return None


def _pty_home(env: Mapping[str, str]) -> str:
    if "HOME" in env:
        return env["HOME"]
    entry = _passwd_entry()
    return entry.pw_dir if entry is not None else "/"


def _pty_search_path(exe: str, cwd: str, env: Mapping[str, str]) -> str:
    """The PTY library's program lookup (portable-pty ``search_path``),
    with its error texts: the reference reports these, not errno."""

    def fail(reason: str) -> SpawnError:
        return SpawnError(f"{_SPAWN_FAILED}Unable to spawn {reason}")

    if not os.path.isabs(exe):
        if exe.split("/", 1)[0] in (".", ".."):  # explicitly relative to cwd: only there
            candidate = os.path.join(cwd, exe)
            if os.path.isdir(candidate):
                raise fail(f"{candidate} because it is a directory")
            if os.access(candidate, os.X_OK):
                return candidate
            if os.access(candidate, os.F_OK):
                raise fail(f"{candidate} because it is not executable")
            raise fail(f"{candidate} because it does not exist")
        errors: list[str] = []
        if "PATH" in env:
            path = env["PATH"]
            for entry in path.split(":"):
                candidate = os.path.join(cwd, entry, exe)
                if os.path.isdir(candidate):
                    errors.append(f"{candidate} exists but is a directory")
                elif os.access(candidate, os.X_OK):
                    return candidate
                elif os.access(candidate, os.F_OK):
                    errors.append(f"{candidate} exists but is not executable")
            errors.append(f"No viable candidates found in PATH {rust_debug_str(path)}")
        else:
            errors.append("Unable to resolve the PATH")
        raise fail(f"{exe} because:\n" + ".\n".join(errors))
    if os.path.isdir(exe):
        raise fail(f"{exe} because it is a directory")
    if not os.access(exe, os.X_OK):
        code = errno.EACCES if os.access(exe, os.F_OK) else errno.ENOENT
        if code == errno.EACCES:
            raise fail(f"{exe} because it is not executable ({_nix_errno(code)})")
        raise fail(f"{exe} because it doesn't exist on the filesystem ({_nix_errno(code)})")
    return exe


def _set_window_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _launch_pty(spec: ExecSpec) -> _Launch:
    env = dict(spec.env)
    # The PTY library's quirks: a cwd that is not a directory means $HOME
    # (the command's, else the user's), and SHELL is always set.
    cwd = spec.cwd if os.path.isdir(spec.cwd) else _pty_home(env)
    if "SHELL" not in env:
        entry = _passwd_entry()
        env["SHELL"] = entry.pw_shell if entry is not None and entry.pw_shell else "/bin/sh"
    executable = _pty_search_path(spec.argv[0], cwd, env)
    rows, cols = spec.size or DEFAULT_TTY_SIZE
    master, slave = os.openpty()
    try:
        _set_window_size(slave, rows, cols)
        popen = _popen(
            spec.argv,
            executable,
            cwd=cwd,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            preexec=_tty_preexec,
            sandbox_preexec=spec.preexec,
            pass_fds=spec.pass_fds,
        )
    except BaseException:
        _close_all([master])
        raise
    finally:
        _close_all([slave])
    copiers = _start_pty_copiers(master)
    if copiers is None:
        os.set_blocking(master, False)
        return _Launch(popen, master, [("stdout", master)], master, [master])
    helpers, stdin_write, output_read = copiers
    return _Launch(popen, stdin_write, [("stdout", output_read)], master,
                   [master, stdin_write, output_read], helpers)


# A PTY holds only about 4 KiB between the program and its reader: whenever
# the reader stops reading (to encode and send a delta), the program stops
# writing. So two small processes (`cat`) stand between the PTY and the
# event loop: one copies the PTY's output into a pipe of PIPE_BYTES, which
# the loop drains in large reads while the copier keeps the PTY empty; the
# other copies our stdin writes in. Both read and write the master in
# blocking mode (the mode belongs to the master's one open file, shared
# with every copy of the fd, so the loop cannot have it non-blocking);
# we keep the master only for the window size and the EOF character.
# A thread in this process cannot do the copier's job: it waits for the
# GIL after every 4 KiB read (measured: less than reading in the loop).
_CAT = shutil.which("cat") or ""


def _start_pty_copiers(master: int
                       ) -> tuple[list[subprocess.Popen[bytes]], int, int] | None:
    """The two copiers, the write end of the stdin pipe and the read end of
    the output pipe; None when `cat` is missing or cannot start (the loop
    then reads and writes the PTY itself)."""
    if not _CAT:
        return None
    fds: list[int] = []
    helpers: list[subprocess.Popen[bytes]] = []
    try:
        output_read, output_write = os.pipe2(os.O_CLOEXEC)
        fds += [output_read, output_write]
        stdin_read, stdin_write = os.pipe2(os.O_CLOEXEC)
        fds += [stdin_read, stdin_write]
        _grow_pipe(output_read)
        for source, sink in ((master, output_write), (stdin_read, master)):
            helpers.append(subprocess.Popen(
                [_CAT], executable=_CAT, stdin=source, stdout=sink,
                stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True))
            # If this process dies, the watchdog kills the copiers too.
            WATCHDOG.watch(helpers[-1].pid)
    except OSError:
        for helper in helpers:
            helper.kill()
            helper.wait()
            WATCHDOG.forget(helper.pid)
        _close_all(fds)
        return None
    _close_all([output_write, stdin_read])
    os.set_blocking(output_read, False)
    os.set_blocking(stdin_write, False)
    return helpers, stdin_write, output_read


async def spawn(spec: ExecSpec, on_output: OutputSink | None = None) -> RunningProcess:
    """Start ``spec``; raises :class:`~.api.SpawnError` with the reference's
    message when it cannot. Output goes to ``on_output`` when
    ``spec.stream_output`` is set (then ``on_output`` is required), else it
    is buffered into the result. Always finish with :meth:`RunningProcess.wait`.
    """
    if not spec.argv:
        raise SpawnError(_SPAWN_FAILED + "command must not be empty")
    if spec.stream_output and on_output is None:
        raise ValueError("stream_output needs an on_output sink")
    loop = asyncio.get_running_loop()
    launch = _launch_pty(spec) if spec.tty else _launch_pipes(spec)
    process = RunningProcess(loop, spec, on_output if spec.stream_output else None, launch)
    if spec.after_spawn is not None:
        await _finish_start(process, spec.after_spawn)
    return process


# Cleanups of starts that were cancelled (strong references: the loop keeps
# only weak ones to tasks).
_DISCARDS: set[asyncio.Task[None]] = set()


async def _finish_start(process: RunningProcess, after_spawn: Callable[[int], None]) -> None:
    """Run the sandbox's after-spawn step, off the event loop (it waits for
    the sandbox to come up). If it fails, the command never ran: release the
    process and raise :class:`SpawnError`."""
    step = asyncio.ensure_future(asyncio.to_thread(after_spawn, process.pid))
    try:
        await asyncio.shield(step)
    except asyncio.CancelledError:
        # Nobody will ever wait for this process: kill it now and release it
        # once the step (bounded by its own timeout) has let go of it.
        process.terminate()
        cleanup = asyncio.ensure_future(_discard(process, step))
        _DISCARDS.add(cleanup)
        cleanup.add_done_callback(_DISCARDS.discard)
        raise
    except Exception as error:
        process.terminate()
        with contextlib.suppress(Exception):
            await process.wait()
        raise SpawnError(_SPAWN_FAILED + str(error)) from error


async def _discard(process: RunningProcess, step: asyncio.Future[None]) -> None:
    with contextlib.suppress(BaseException):
        await step
    with contextlib.suppress(Exception):
        await process.wait()


# -- a running command ---------------------------------------------------------------


def _resolve_true(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(True)


class RunningProcess:
    """A started command. Control it with :meth:`write`,
    :meth:`close_stdin`, :meth:`resize` and :meth:`terminate`; collect it
    with :meth:`wait`, which must be called (cancelling it kills the
    command and releases everything)."""

    pid: int
    tty: bool

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        spec: ExecSpec,
        sink: OutputSink | None,
        launch: _Launch,
    ) -> None:
        self.pid = launch.popen.pid
        WATCHDOG.watch(self.pid)
        self.tty = spec.tty
        self._loop = loop
        self._spec = spec
        self._sink = sink
        self._popen = launch.popen
        self._stdin_fd = launch.stdin_fd
        self._master_fd = launch.master_fd
        self._fds = list(launch.fds)
        self._helpers = list(launch.helpers)
        self._stdin_enabled = spec.tty or spec.stream_stdin
        self._stdin_closed = False
        self._stdin_broken = False
        self._exit_seen = False
        self._exited = asyncio.Event()
        self._timed_out = False
        self._terminated = False
        self._stop_reading = False
        self._closed = False  # our fds are closed: never touch their numbers again
        self._closed_event = asyncio.Event()
        self._reaped = False
        self._sink_error: Exception | None = None
        self._result: ExecResult | None = None
        self._waiter: asyncio.Future[ExecResult] | None = None
        self._read_waiters: dict[int, asyncio.Future[bool]] = {}
        self._write_waiters: dict[int, asyncio.Future[bool]] = {}
        self._buffers: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}

        self._pidfd: int | None = None
        self._watch_exit()
        self._pumps = [loop.create_task(self._pump(name, fd)) for name, fd in launch.outputs]
        self._write_queue: asyncio.Queue[bytes | None] = asyncio.Queue(WRITE_QUEUE_CHUNKS)
        self._writer: asyncio.Task[None] | None = None
        if self._stdin_enabled:
            self._writer = loop.create_task(self._write_loop())
        self._timer: asyncio.TimerHandle | None = None
        self._timeout_holds = 0
        self._held_remaining: float | None = None
        if spec.timeout_ms is not None:
            self._timer = loop.call_later(max(spec.timeout_ms, 0) / 1000, self._on_timeout)

    # -- public controls -----------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the command itself has not exited yet (its output may
        still be draining)."""
        return not self._exit_seen

    async def write(self, data: bytes) -> None:
        """Queue bytes for the child's stdin (the PTY in tty mode)."""
        self._require_stdin()
        if self._stdin_closed:
            raise ControlError(_STDIN_CLOSED)
        if data:
            await self._enqueue(bytes(data))

    async def close_stdin(self) -> None:
        """Close stdin after the queued writes; in a PTY, send a newline and
        the EOF character instead (the reference's PTY writer does, so a
        ``cat`` exits). Closing twice is fine."""
        self._require_stdin()
        if self._stdin_closed:
            return
        self._stdin_closed = True
        await self._enqueue(None)

    def resize(self, rows: int, cols: int) -> None:
        """Set the PTY's window size; the kernel sends SIGWINCH to the
        foreground group."""
        if not self.tty or self._master_fd is None:
            raise ControlError(_NOT_A_PTY)
        if self._closed:
            raise ControlError("failed to resize PTY: process is no longer running")
        try:
            _set_window_size(self._master_fd, rows, cols)
        except (OSError, struct.error) as err:
            text = _rust_io_error(err) if isinstance(err, OSError) else str(err)
            raise ControlError(f"failed to resize PTY: {text}") from err

    @contextlib.contextmanager
    def hold_timeout(self) -> Iterator[None]:
        """Stop the timeout's clock for the duration (a person is being
        asked about one of the command's execs); nestable."""
        self._timeout_holds += 1
        if self._timeout_holds == 1 and self._timer is not None:
            self._held_remaining = max(self._timer.when() - self._loop.time(), 0.0)
            self._timer.cancel()
            self._timer = None
        try:
            yield
        finally:
            self._timeout_holds -= 1
            remaining, self._held_remaining = self._held_remaining, None
            if (self._timeout_holds == 0 and remaining is not None and not self._exit_seen
                    and not self._closed):
                self._timer = self._loop.call_later(remaining, self._on_timeout)
            elif self._timeout_holds:
                self._held_remaining = remaining

    def terminate(self) -> None:
        """SIGKILL the process group (no grace period, like the reference).
        The result then reports ``terminated`` and 137 (pipe) or 1 (tty)."""
        if not self._exit_seen:
            self._terminated = True
        self._kill_group()

    async def wait(self) -> ExecResult:
        """The result, once the command exited, its output was drained (at
        most ``IO_DRAIN_TIMEOUT_MS`` after the exit) and every sink call
        completed. Background jobs left in the group are then killed.
        Re-raises an exception raised by the sink (after cleaning up)."""
        if self._result is not None:
            return self._result
        if self._waiter is not None:
            return await asyncio.shield(self._waiter)
        waiter: asyncio.Future[ExecResult] = self._loop.create_future()
        self._waiter = waiter
        try:
            result = await self._finish()
        except BaseException:
            self._abort()
            waiter.cancel()
            raise
        self._result = result
        waiter.set_result(result)
        return result

    # -- the run loop --------------------------------------------------------------

    async def _finish(self) -> ExecResult:
        await self._exited.wait()
        pending = [task for task in self._pumps if not task.done()]
        if pending:
            _, still = await asyncio.wait(pending, timeout=IO_DRAIN_TIMEOUT_MS / 1000)
            if still:
                # Output held open by a descendant: stop reading, but let a
                # sink call in progress complete.
                self._halt_reading()
                await asyncio.wait(still)
        for task in self._pumps:  # a bug in a reader (sink errors are kept apart)
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error
        self._kill_group()
        self._release()
        returncode = self._popen.poll()
        while returncode is None:  # only without a pidfd, if waitid raced
            await asyncio.sleep(0.002)
            returncode = self._popen.poll()
        self._reaped = True
        if self._sink_error is not None:
            raise self._sink_error
        if self._timed_out:
            exit_code = TIMEOUT_EXIT_CODE
        elif returncode >= 0:
            exit_code = returncode
        else:
            exit_code = 1 if self.tty else 128 - returncode
        streamed = self._sink is not None
        return ExecResult(
            exit_code=exit_code,
            stdout=b"" if streamed else bytes(self._buffers["stdout"]),
            stderr=b"" if streamed else bytes(self._buffers["stderr"]),
            timed_out=self._timed_out,
            terminated=self._terminated,
        )

    def _abort(self) -> None:
        """Cancelled or failed: kill, release and reap without waiting for
        output."""
        self._kill_group()
        self._release()
        current = asyncio.current_task()
        for task in self._pumps:
            if task is not current:
                task.cancel()
        if self._reaped:
            return
        try:
            self._popen.wait(timeout=1.0)  # SIGKILLed: normally gone within a millisecond
        except subprocess.TimeoutExpired:  # pragma: no cover - stuck in the kernel
            threading.Thread(target=self._popen.wait, daemon=True).start()
        self._reaped = True

    def _release(self) -> None:
        """Close our fds and stop every task that could touch them."""
        if self._closed:
            return
        self._halt_reading()
        if self._timer is not None:
            self._timer.cancel()
        for fd, future in list(self._write_waiters.items()):
            self._loop.remove_writer(fd)
            _resolve_false(future)
        self._write_waiters.clear()
        if self._writer is not None and self._writer is not asyncio.current_task():
            self._writer.cancel()
        self._close_pidfd()
        WATCHDOG.forget(self.pid)
        for helper in self._helpers:
            # Normally gone already: it ends when the PTY's last user does.
            with contextlib.suppress(OSError):
                helper.kill()
            helper.wait()
            WATCHDOG.forget(helper.pid)
        self._helpers.clear()
        self._closed = True
        self._closed_event.set()
        _close_all(self._fds)
        self._fds.clear()

    def _halt_reading(self) -> None:
        self._stop_reading = True
        for fd, future in list(self._read_waiters.items()):
            self._loop.remove_reader(fd)
            _resolve_false(future)
        self._read_waiters.clear()

    def _kill_group(self) -> None:
        if self._spec.on_kill is not None:
            try:
                self._spec.on_kill()
            except Exception:  # a bug there must not keep the group alive
                logging.getLogger(__name__).exception("on_kill failed")
        # Never after reaping: the number could name someone else's group by then.
        if self._reaped:
            return
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)
        if not self._exit_seen:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)

    def _on_timeout(self) -> None:
        self._timer = None
        if not self._exit_seen:
            self._timed_out = True
            self._kill_group()

    # -- exit watching -------------------------------------------------------------

    def _watch_exit(self) -> None:
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (OSError, AttributeError):
            self._pidfd = None
            threading.Thread(target=self._watch_exit_thread, daemon=True).start()
            return
        self._loop.add_reader(self._pidfd, self._on_exit)

    def _watch_exit_thread(self) -> None:  # pragma: no cover - kernels before 5.3
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._on_exit)

    def _on_exit(self) -> None:
        self._close_pidfd()
        if self._exit_seen:
            return
        self._exit_seen = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._exited.set()

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            _close_all([self._pidfd])
            self._pidfd = None

    # -- output --------------------------------------------------------------------

    async def _wait_readable(self, fd: int) -> bool:
        """Wait until ``fd`` is readable; False when reading was stopped."""
        future: asyncio.Future[bool] = self._loop.create_future()
        self._read_waiters[fd] = future
        self._loop.add_reader(fd, _resolve_true, future)
        try:
            return await future
        finally:
            if self._read_waiters.get(fd) is future:
                del self._read_waiters[fd]
                self._loop.remove_reader(fd)

    def _read_more(self, fd: int, first: bytes) -> bytes:
        """Gather what a PTY already has (it hands out a few KiB per read)."""
        parts = [first]
        size = len(first)
        while size < READ_SIZE:
            try:
                more = os.read(fd, READ_SIZE - size)
            except OSError:  # EAGAIN: nothing more now; EIO: seen by the next read
                break
            if not more:
                break
            parts.append(more)
            size += len(more)
        return first if len(parts) == 1 else b"".join(parts)

    async def _pump(self, name: str, fd: int) -> None:
        cap = OutputCap(self._spec.output_cap)
        buffer = self._buffers[name]
        sink = self._sink
        while True:
            if self._stop_reading:  # checked right before every read of fd
                return
            try:
                data = os.read(fd, READ_SIZE)
            except BlockingIOError:
                if not await self._wait_readable(fd):
                    return
                continue
            except OSError:  # EIO: every PTY slave fd is closed
                return
            if not data:
                return
            if self.tty:
                data = self._read_more(fd, data)
            piece, reached = cap.accept(data)
            if piece or reached:
                if sink is None:
                    buffer += piece
                else:
                    try:
                        await sink(name, piece, reached)
                    except Exception as err:
                        self._sink_failed(err)
                        return
            # Let timers and other commands run while a producer keeps the pipe full.
            await asyncio.sleep(0)

    def _sink_failed(self, err: Exception) -> None:
        if self._sink_error is None:
            self._sink_error = err
        self._halt_reading()
        self._kill_group()

    # -- stdin ---------------------------------------------------------------------

    def _require_stdin(self) -> None:
        if not self._stdin_enabled:
            raise ControlError(_STDIN_NOT_ENABLED)

    async def _enqueue(self, item: bytes | None) -> None:
        if self._closed:
            return  # finished: the reference's writer would drop it as well
        queue = self._write_queue
        if not queue.full():
            queue.put_nowait(item)
            return
        put = self._loop.create_task(queue.put(item))
        closed = self._loop.create_task(self._closed_event.wait())
        try:
            await asyncio.wait({put, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            put.cancel()
            closed.cancel()

    async def _write_loop(self) -> None:
        queue = self._write_queue
        fd = self._stdin_fd
        assert fd is not None
        while True:
            item = await queue.get()
            if item is None:
                break
            await self._write_all(fd, item)
        if self._closed:
            return
        if self.tty and self._master_fd is not None:
            with contextlib.suppress(OSError, termios.error):
                # The master: stdin may be a copier's pipe (`_start_pty_copiers`).
                eof = termios.tcgetattr(self._master_fd)[6][termios.VEOF]
                eof_byte = bytes([eof]) if isinstance(eof, int) else eof
                if eof_byte and eof_byte != b"\0":
                    await self._write_all(fd, b"\n" + eof_byte)
        elif not self._closed:
            self._fds.remove(fd)
            _close_all([fd])

    async def _wait_writable(self, fd: int) -> bool:
        future: asyncio.Future[bool] = self._loop.create_future()
        self._write_waiters[fd] = future
        self._loop.add_writer(fd, _resolve_true, future)
        try:
            return await future
        finally:
            if self._write_waiters.get(fd) is future:
                del self._write_waiters[fd]
                self._loop.remove_writer(fd)

    async def _write_all(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._closed or self._stdin_broken:  # checked right before every write
                return
            try:
                written = os.write(fd, view)
            except BlockingIOError:
                if not await self._wait_writable(fd):
                    return
                continue
            except OSError:  # EPIPE / EIO: nobody reads stdin any more; drop the rest
                self._stdin_broken = True
                return
            view = view[written:]


def _resolve_false(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(False)


# -- a synchronous convenience -------------------------------------------------------


def run(
    argv: Sequence[str],
    *,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout_ms: int | None = DEFAULT_TIMEOUT_MS,
    output_cap: int | None = DEFAULT_OUTPUT_CAP,
    tty: bool = False,
) -> ExecResult:
    """Run a command to the end in a fresh event loop, output buffered.
    ``env`` defaults to this process's environment, ``cwd`` to its cwd."""
    spec = ExecSpec(
        argv=list(argv),
        cwd=os.getcwd() if cwd is None else cwd,
        env=dict(os.environ if env is None else env),
        tty=tty,
        output_cap=output_cap,
        timeout_ms=timeout_ms,
    )

    async def main() -> ExecResult:
        process = await spawn(spec)
        return await process.wait()

    return asyncio.run(main())
