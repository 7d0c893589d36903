"""The Seatbelt backend: confinement by ``/usr/bin/sandbox-exec`` on macOS.

No helper process, no cleanup: the profile and its parameters are the whole
confinement, and ``sandbox-exec`` applies them to itself before it executes
the command. A command that already runs under Seatbelt cannot apply
another profile (``sandbox-exec: sandbox_apply: Operation not permitted``);
that shows as the command's failure, as in the reference.

When the environment says a managed network proxy is active
(``CODEX_NETWORK_PROXY_ACTIVE=1``), the proxy's loopback ports are read
from its variables and become the only network destinations: the marker
can only narrow what the command reaches, never widen it.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence

from ..sandbox.backend import Confinement, ProbeOnce, ProxyEndpoint, SandboxUnavailable
from ..sandbox.policy import DangerFullAccess, ExternalSandbox, SandboxPolicy, network_restricted
from .errors import SeatbeltError
from .explain import describe
from .network import NetworkOptions, proxy_ports_from_env
from .paths import FileSystemView, RealFileSystem
from .profile import SEATBELT_EXECUTABLE, seatbelt_command

__all__ = ["PROXY_ACTIVE_ENV", "SeatbeltBackend"]

PROXY_ACTIVE_ENV = "CODEX_NETWORK_PROXY_ACTIVE"


class SeatbeltBackend:
    """Confinement by Seatbelt; see the module docstring.

    ``network``: proxy ports and Unix sockets for every command (merged
    with an active proxy's ports). ``fs`` and ``tmpdir`` replace the real
    file system and ``$TMPDIR`` (tests). ``platform`` and ``executable``
    replace ``sys.platform`` and the file probed for availability (tests);
    the argv always starts with ``/usr/bin/sandbox-exec``."""

    name = "seatbelt"

    def __init__(self, *, network: NetworkOptions | None = None,
                 fs: FileSystemView | None = None, tmpdir: str | None = None,
                 platform: str | None = None, executable: str = SEATBELT_EXECUTABLE) -> None:
        self._network = network or NetworkOptions()
        self._fs = fs
        self._tmpdir = tmpdir
        self._platform = platform if platform is not None else sys.platform
        self._executable = executable
        self._availability = ProbeOnce(self._probe)

    def unavailable_reason(self) -> str | None:
        return self._availability()

    def _probe(self) -> str | None:
        if self._platform != "darwin":
            return "Seatbelt exists only on macOS"
        if not os.access(self._executable, os.X_OK):
            return f"{self._executable} is missing (it ships with every macOS)"
        return None

    def _network_for(self, env: Mapping[str, str]) -> NetworkOptions:
        if env.get(PROXY_ACTIVE_ENV) != "1":
            return self._network
        ports = tuple(sorted({*self._network.proxy_ports, *proxy_ports_from_env(env)}))
        # Configured even when no port is usable: then nothing is reachable.
        return dataclasses.replace(self._network, proxy_ports=ports, proxy_configured=True)

    def confine(self, argv: Sequence[str], policy: SandboxPolicy, cwd: str,
                env: Mapping[str, str], *, tty: bool = False,
                proxy: ProxyEndpoint | None = None,
                proxy_context: object = None, exec_bridge: bool = False) -> Confinement:
        # tty: nothing to do; the command's terminal is opened before
        # sandbox-exec runs, and base.sbpl allows terminal ioctls on it.
        # proxy: its variables mark the proxy active, and the profile then
        # admits its loopback ports and nothing else (see `_network_for`).
        # proxy_context: connections all come from the host's loopback
        # here, so the proxy cannot tell commands apart; not used.
        # exec_bridge: exec_bridge.sbpl is appended to the profile (AF_UNIX
        # socketpairs; fds already cross sandbox-exec's exec unchanged).
        if isinstance(policy, DangerFullAccess | ExternalSandbox):
            raise SandboxUnavailable(f"Seatbelt does not enforce {policy.type}")
        reason = self.unavailable_reason()
        if reason is not None:
            raise SandboxUnavailable(reason)
        if proxy is not None and network_restricted(policy):
            env = {**env, **proxy.environment()}
        network = self._network_for(env)
        fs = self._fs if self._fs is not None else RealFileSystem()
        try:
            command = seatbelt_command(argv, policy, cwd, env, fs=fs, tmpdir=self._tmpdir,
                                       network=network, exec_bridge=exec_bridge)
        except SeatbeltError as error:
            raise SandboxUnavailable(f"Seatbelt cannot confine this command: {error}") from None
        return Confinement(argv=command.argv, env=command.env, backend=self.name,
                           explanation=describe(command, policy, env))
