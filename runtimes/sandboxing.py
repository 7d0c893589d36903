"""Choose how a command is confined, from the client's ``sandboxPolicy``.

The sandbox itself is pluggable: a :class:`SandboxBackend` turns an argv
into a wrapped argv (``bwrap ... -- argv``) and env; backends register
with :func:`register_backend` (the Linux backend comes with the sandbox
issue). :func:`prepare` validates the policy (Codex's JSON shapes, see
``CommandExecParams.json``) and picks what to run.

Fail closed: only ``dangerFullAccess`` (the client asked for no sandbox)
and ``externalSandbox`` (someone else's sandbox; Codex enforces nothing
then) run the command as is. ``readOnly``, ``workspaceWrite`` and no
policy at all (the server's default, read-only) need a backend that
supports the policy, or the request fails with
:class:`SandboxUnavailable`, whose message is the server's error text
(``invalid sandbox policy: ...``).

Environment marker, as the reference sets it: ``externalSandbox`` with
restricted network (its default) adds ``CODEX_SANDBOX_NETWORK_DISABLED=1``
(observed on 0.169.0 even though nothing is enforced); backends set it for
their own restricted policies.
"""

from __future__ import annotations

import os
from typing import Protocol

from .api import SandboxRequest
from .protocol import describe_unexpected

__all__ = [
    "NETWORK_DISABLED_ENV",
    "SandboxBackend",
    "SandboxUnavailable",
    "normalize_policy",
    "prepare",
    "register_backend",
    "registered_backends",
    "unregister_backend",
]

NETWORK_DISABLED_ENV = "CODEX_SANDBOX_NETWORK_DISABLED"

# Declaration order of Codex's `SandboxPolicy` enum (serde lists it so).
_VARIANTS = ("dangerFullAccess", "readOnly", "externalSandbox", "workspaceWrite")
_PREFIX = "invalid sandbox policy: "


class SandboxUnavailable(Exception):
    """The policy is malformed or cannot be enforced here; ``str()`` is the
    error message the server returns (``invalid sandbox policy: ...``)."""


class SandboxBackend(Protocol):
    """Something that can confine a command (bubblewrap, Seatbelt, ...)."""

    name: str

    def supports(self, policy: dict[str, object]) -> bool:
        """Whether this backend can enforce ``policy`` (normalized: every
        field present) on this machine."""
        ...

    def wrap(self, argv: list[str], request: SandboxRequest) -> tuple[list[str], dict[str, str]]:
        """The argv and complete env to spawn instead of ``argv``;
        ``request.policy`` is normalized."""
        ...


_backends: list[SandboxBackend] = []


def register_backend(backend: SandboxBackend) -> None:
    """Add a backend; one with the same name is replaced in place. The
    first registered backend that supports a policy is used."""
    for index, existing in enumerate(_backends):
        if existing.name == backend.name:
            _backends[index] = backend
            return
    _backends.append(backend)


def unregister_backend(name: str) -> None:
    _backends[:] = [backend for backend in _backends if backend.name != name]


def registered_backends() -> list[SandboxBackend]:
    return list(_backends)


# -- validation ----------------------------------------------------------------------


def _invalid(message: str) -> SandboxUnavailable:
    return SandboxUnavailable(_PREFIX + message)


def _bool_field(policy: dict[str, object], key: str) -> bool:
    value = policy.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _invalid(f"invalid type: {describe_unexpected(value)}, expected a boolean")
    return value


def normalize_policy(policy: dict[str, object] | None, cwd: str | None = None) -> dict[str, object]:
    """Validate a ``sandboxPolicy`` and fill in its defaults; ``None`` is
    the server default (read-only, no network). Unknown fields are dropped
    (Codex ignores them). Relative ``writableRoots`` are joined onto ``cwd``
    (Codex resolves them against a base path) and refused without one."""
    if policy is None:
        return {"type": "readOnly", "networkAccess": False}
    if not isinstance(policy, dict):
        raise _invalid(f"invalid type: {describe_unexpected(policy)}, "
                       "expected internally tagged enum SandboxPolicy")
    kind = policy.get("type")
    if kind is None:
        raise _invalid("missing field `type`")
    if not isinstance(kind, str) or kind not in _VARIANTS:
        expected = ", ".join(f"`{name}`" for name in _VARIANTS)
        shown = kind if isinstance(kind, str) else describe_unexpected(kind)
        raise _invalid(f"unknown variant `{shown}`, expected one of {expected}")
    if kind == "dangerFullAccess":
        return {"type": kind}
    if kind == "readOnly":
        return {"type": kind, "networkAccess": _bool_field(policy, "networkAccess")}
    if kind == "externalSandbox":
        network = policy.get("networkAccess")
        if network is None:
            network = "restricted"
        if network not in ("restricted", "enabled"):
            if isinstance(network, str):
                raise _invalid(f"unknown variant `{network}`, expected `restricted` or `enabled`")
            raise _invalid(f"invalid type: {describe_unexpected(network)}, expected a string")
        return {"type": kind, "networkAccess": network}
    roots = policy.get("writableRoots")
    if roots is None:
        roots = []
    if not isinstance(roots, list):
        raise _invalid(f"invalid type: {describe_unexpected(roots)}, expected a sequence")
    for root in roots:
        if not isinstance(root, str):
            raise _invalid(f"invalid type: {describe_unexpected(root)}, expected a string")
        if not os.path.isabs(root) and cwd is None:
            raise _invalid(f"AbsolutePathBuf deserialized without a base path: {root}")
    return {
        "type": kind,
        "writableRoots": [os.path.normpath(os.path.join(cwd or "/", root)) for root in roots],
        "networkAccess": _bool_field(policy, "networkAccess"),
        "excludeTmpdirEnvVar": _bool_field(policy, "excludeTmpdirEnvVar"),
        "excludeSlashTmp": _bool_field(policy, "excludeSlashTmp"),
    }


# -- choosing ------------------------------------------------------------------------


def prepare(argv: list[str], request: SandboxRequest) -> tuple[list[str], dict[str, str]]:
    """The argv and complete env to spawn for ``argv`` under
    ``request.policy``; raises :class:`SandboxUnavailable` rather than run
    unconfined a command that asked for a sandbox."""
    policy = normalize_policy(request.policy, request.cwd)
    kind = policy["type"]
    if kind == "dangerFullAccess":
        return list(argv), dict(request.env)
    if kind == "externalSandbox":
        env = dict(request.env)
        if policy["networkAccess"] == "restricted":
            env[NETWORK_DISABLED_ENV] = "1"
        return list(argv), env
    for backend in _backends:
        if backend.supports(policy):
            normalized = SandboxRequest(policy=policy, cwd=request.cwd, env=dict(request.env))
            return backend.wrap(list(argv), normalized)
    reason = (
        "execguard's Linux sandbox is not installed"
        if not _backends
        else "no registered backend supports it"
    )
    raise _invalid(
        f"no sandbox backend is available for {kind} on this machine ({reason}); "
        "use dangerFullAccess to run without a sandbox"
    )
