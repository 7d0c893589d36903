"""What every sandbox backend gives the runtime: a :class:`Confinement`.

A backend (bubblewrap, Landlock, Seatbelt) turns a command and a policy into
what to spawn instead: an argv and a complete environment, plus what the
spawn needs beyond that (fds to pass, code to run in the child before
``exec``) and what to undo once the command is over (close the seccomp
memfd, remove mount points bubblewrap had to create). The runtime knows
nothing else of sandboxes, and backends nothing of processes beyond this.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .policy import SandboxPolicy

__all__ = ["Confinement", "ProxyEndpoint", "SandboxBackend", "SandboxUnavailable"]


class SandboxUnavailable(Exception):
    """The policy cannot be enforced here; the command must not run. The
    message says why and what would help."""


@dataclass
class Confinement:
    """How to start one command under a sandbox (or none).

    ``backend`` is ``None`` when nothing confines the command
    (``dangerFullAccess``, ``externalSandbox``). ``preexec`` runs in the
    child between fork and exec and may only make system calls.
    ``after_spawn``, when set, must be called with the spawned process's pid
    right after the spawn returns: the command does not start before (a
    proxy-routed sandbox is connected to the network proxy there). If it
    raises, the process has been killed (reap it) and the command did not run.
    :meth:`close` must be called once the command has ended (also when it
    could not start); it is idempotent.
    """

    argv: list[str]
    env: dict[str, str]
    backend: str | None
    pass_fds: tuple[int, ...] = ()
    preexec: Callable[[], None] | None = None
    explanation: list[str] = field(default_factory=list)
    after_spawn: Callable[[int], None] | None = None
    _cleanups: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def on_close(self, cleanup: Callable[[], None]) -> None:
        self._cleanups.append(cleanup)

    def close(self) -> None:
        cleanups, self._cleanups = self._cleanups, []
        for cleanup in reversed(cleanups):
            with contextlib.suppress(Exception):
                cleanup()

    def __enter__(self) -> Confinement:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class ProxyEndpoint(Protocol):
    """The managed network proxy that a network-restricted command may
    reach, its only way out. On Linux a
    :class:`~execguard.sandbox.proxy_routing.ProxyRouter` (the sandbox has a
    network namespace of its own, so the proxy has to be brought into it);
    elsewhere anything with the proxy's loopback ports."""

    @property
    def http_port(self) -> int: ...

    @property
    def socks_port(self) -> int: ...

    def environment(self) -> dict[str, str]:
        """The proxy variables the command gets (``HTTP_PROXY``, ...)."""
        ...


class SandboxBackend(Protocol):
    """One way of confining commands on this machine."""

    name: str

    def unavailable_reason(self) -> str | None:
        """Why this backend cannot work here (probed once), or None."""
        ...

    def confine(self, argv: Sequence[str], policy: SandboxPolicy, cwd: str,
                env: Mapping[str, str], *, tty: bool = False,
                proxy: ProxyEndpoint | None = None,
                proxy_context: object = None, exec_bridge: bool = False) -> Confinement:
        """The command under ``policy`` (readOnly or workspaceWrite);
        raises :class:`SandboxUnavailable` if it cannot be enforced.
        ``tty``: the command runs on a PTY of its own (as its session's
        controlling terminal). ``proxy``: when the policy restricts the
        network, the command may reach that proxy and nothing else (a
        backend that cannot do this keeps the network closed);
        ``proxy_context`` is attached to the proxy's requests from this
        command where the backend can tell them apart. ``exec_bridge``:
        the command is a shell using the zsh exec bridge; it may create
        ``AF_UNIX`` socketpairs and pass fds (``SCM_RIGHTS``) over the Unix
        sockets it inherited (the escalation socket, whose fd the caller
        passes itself), and nothing more: no socket path, ``bind`` or
        ``connect``."""
        ...


class ProbeOnce:
    """A backend's availability, probed on first use and remembered (a
    probe may start a process: bwrap's or sandbox-exec's test run).
    Thread-safe: concurrent first callers wait for the one probe."""

    def __init__(self, probe: Callable[[], str | None]) -> None:
        self._probe = probe
        self._lock = threading.Lock()
        self._probed = False
        self._reason: str | None = None

    def __call__(self) -> str | None:
        with self._lock:
            if not self._probed:
                self._reason = self._probe()
                self._probed = True
            return self._reason
