"""The contract between the process runtime (`runtimes.process`) and its
callers (the `command/exec` server, the shell-tool flow, agent code).

Everything a caller needs to start a command and follow it; the runtime
fills it in. Kept in one small module so the server and the runtime can be
built and tested separately.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..sandbox.backend import ProxyEndpoint

DEFAULT_OUTPUT_CAP = 1024 * 1024
DEFAULT_TIMEOUT_MS = 10_000
# After the child exits, its output pipes get this long to reach EOF (a
# background job may hold them open).
IO_DRAIN_TIMEOUT_MS = 2_000
TIMEOUT_EXIT_CODE = 124
TERMINATED_EXIT_CODE_PIPE = 137
TERMINATED_EXIT_CODE_TTY = 1


@dataclass(frozen=True)
class ExecSpec:
    """One command to run.

    ``env`` is the complete environment of the child (the caller merges
    overrides). ``output_cap``: per-stream byte cap, ``None`` = no cap.
    ``timeout_ms``: ``None`` = no timeout; ``0`` times out at once.
    ``size`` is ``(rows, cols)`` for a PTY (default 24×80).
    """

    argv: list[str]
    cwd: str
    env: dict[str, str]
    tty: bool = False
    stream_stdin: bool = False
    stream_output: bool = False
    output_cap: int | None = DEFAULT_OUTPUT_CAP
    timeout_ms: int | None = DEFAULT_TIMEOUT_MS
    size: tuple[int, int] | None = None
    # From the sandbox (`execguard.sandbox.Confinement`): fds the child
    # inherits, and code run in the child right before exec (system calls only).
    pass_fds: tuple[int, ...] = ()
    preexec: Callable[[], None] | None = None
    # Called with the child's pid right after the spawn, before the command
    # proper may start (a proxy-routed sandbox is connected there); blocking,
    # so it runs on a worker thread. If it raises, the child has been killed
    # and the spawn fails.
    after_spawn: Callable[[int], None] | None = None
    # Called whenever the runtime kills the command's process group (timeout,
    # terminate, the end of the run): processes the run owns outside that
    # group (the exec bridge's escalated programs) die with it.
    on_kill: Callable[[], None] | None = None


@dataclass(frozen=True)
class ExecResult:
    """How a command ended. ``stdout``/``stderr`` hold the buffered bytes
    (empty when the output was streamed); in a PTY everything is stdout."""

    exit_code: int
    stdout: bytes
    stderr: bytes
    timed_out: bool = False
    terminated: bool = False


# Called for each output chunk when ``stream_output`` is set, in order per
# stream: (stream "stdout"|"stderr", bytes, cap_reached). Awaited before the
# next chunk of that stream is read: a slow consumer slows the reader, and
# the result is returned only after every call has completed.
OutputSink = Callable[[str, bytes, bool], Awaitable[None]]


class SpawnError(Exception):
    """The command could not be started; the message is the reference's
    text (``failed to spawn command: No such file or directory (os error 2)``)."""


class ControlError(Exception):
    """A write, resize or terminate that cannot be done; the message is the
    reference's text (``stdin streaming is not enabled for this
    command/exec``, ``stdin is already closed``, ``failed to resize PTY:
    process is not attached to a PTY``, ...)."""


@dataclass
class SandboxRequest:
    """What the sandbox layer needs to wrap a command: the policy as the
    client sent it (Codex JSON shape) or ``None`` for the server's default,
    the command's cwd, its env, whether it gets a PTY, and optionally
    which backend to use. ``proxy``: the session's managed network proxy
    the only network a network-restricted command then
    reaches; ``proxy_context`` tags that command's requests to it."""

    policy: dict[str, object] | None
    cwd: str
    env: dict[str, str] = field(default_factory=dict)
    tty: bool = False
    backend: str | None = None
    proxy: ProxyEndpoint | None = None
    proxy_context: object = None
    exec_bridge: bool = False
