"""Choosing a backend for a policy, failing closed.

``dangerFullAccess`` runs the command as it is (the caller asked for no
sandbox); ``externalSandbox`` too, with the network marker when its network
is restricted (someone else confines the command; the reference enforces
nothing then either). ``readOnly`` and ``workspaceWrite`` need a backend
that works on this machine: on Linux bubblewrap first, then Landlock +
seccomp (containers and hardened hosts where bwrap cannot create
namespaces); on macOS Seatbelt (``sandbox-exec``). If
none works, :class:`SandboxUnavailable` says why for each, and the command
does not run.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from .backend import Confinement, ProxyEndpoint, SandboxBackend, SandboxUnavailable
from .bwrap import BwrapBackend
from .policy import (
    DangerFullAccess,
    ExternalSandbox,
    SandboxPolicy,
    parse_policy,
    with_network_marker,
)

__all__ = ["BackendStatus", "backend_names", "backend_status", "confine", "get_backend"]


@cache
def _backends() -> dict[str, SandboxBackend]:
    if sys.platform == "darwin":
        from ..seatbelt import SeatbeltBackend

        return {"seatbelt": SeatbeltBackend()}
    if sys.platform != "linux":
        return {}
    from .landlock_backend import LandlockBackend

    return {"bubblewrap": BwrapBackend(), "landlock": LandlockBackend()}


def backend_names() -> list[str]:
    """The backends of this platform, in the order they are tried."""
    return list(_backends())


_ALIASES = {"bwrap": "bubblewrap"}


def get_backend(name: str) -> SandboxBackend:
    backends = _backends()
    key = _ALIASES.get(name, name)
    if key not in backends:
        known = ", ".join(backends) or "none on this platform"
        raise SandboxUnavailable(f"unknown sandbox backend {name!r} (known: {known})")
    return backends[key]


@dataclass(frozen=True)
class BackendStatus:
    name: str
    reason: str | None  # None: works here

    @property
    def works(self) -> bool:
        return self.reason is None


def backend_status() -> list[BackendStatus]:
    """Whether each backend works on this machine, and why not."""
    return [BackendStatus(name, backend.unavailable_reason())
            for name, backend in _backends().items()]


def confine(argv: Sequence[str], policy: SandboxPolicy | Mapping[str, object], cwd: str,
            env: Mapping[str, str], *, backend: str | None = None,
            tty: bool = False, proxy: ProxyEndpoint | None = None,
            proxy_context: object = None, exec_bridge: bool = False) -> Confinement:
    """What to spawn to run ``argv`` under ``policy`` (a model or its wire
    JSON); ``backend`` forces one; ``proxy``: the managed network proxy, the
    only network a network-restricted command then reaches; ``exec_bridge``:
    ``argv`` is a shell using the zsh exec bridge (see
    :meth:`SandboxBackend.confine`). Raises :class:`SandboxUnavailable`."""
    policy = parse_policy(policy)
    if isinstance(policy, DangerFullAccess | ExternalSandbox):
        return Confinement(list(argv), with_network_marker(policy, env), None)
    candidates = [get_backend(backend)] if backend else list(_backends().values())
    reasons = []
    for candidate in candidates:
        reason = candidate.unavailable_reason()
        if reason is None:
            return candidate.confine(argv, policy, cwd, env, tty=tty, proxy=proxy,
                                     proxy_context=proxy_context, exec_bridge=exec_bridge)
        reasons.append(f"{candidate.name}: {reason}")
    if not candidates:
        reasons.append(f"no sandbox backend exists for {sys.platform}")
    raise SandboxUnavailable(f"no sandbox can enforce {policy.type} on this machine ("
                             + "; ".join(reasons) + ")")
