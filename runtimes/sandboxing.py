"""Confine a command as the client's ``sandboxPolicy`` asks.

:func:`prepare` validates the policy with the reference's error texts
(Codex's JSON shapes, see ``CommandExecParams.json``), then asks
:mod:`execguard.sandbox` for a :class:`~execguard.sandbox.Confinement`:
what to spawn instead of the command (``bwrap ... -- argv``, or the argv
with code to run before exec), which the runtime closes once the command
has ended.

Fail closed: only ``dangerFullAccess`` (the client asked for no sandbox)
and ``externalSandbox`` (someone else's sandbox; Codex enforces nothing
then) run the command as is. ``readOnly``, ``workspaceWrite`` and no
policy at all (the server's default, read-only) need a backend that works
on this machine, or the request fails with :class:`SandboxUnavailable`,
whose message is the server's error text (``invalid sandbox policy: ...``).
"""

from __future__ import annotations

import dataclasses
import os

from .. import sandbox
from ..sandbox import Confinement, confine, parse_policy
from .api import ExecSpec, SandboxRequest
from .protocol import describe_unexpected

__all__ = ["SandboxUnavailable", "confined", "normalize_policy", "prepare", "writable_roots"]

# Declaration order of Codex's `SandboxPolicy` enum (serde lists it so).
_VARIANTS = ("dangerFullAccess", "readOnly", "externalSandbox", "workspaceWrite")
_PREFIX = "invalid sandbox policy: "


class SandboxUnavailable(Exception):
    """The policy is malformed or cannot be enforced here; ``str()`` is the
    error message the server returns (``invalid sandbox policy: ...``)."""


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


def writable_roots(policy: dict[str, object], cwd: str) -> list[str] | None:
    """Where a command under ``policy`` (normalized) may write: the resolved
    roots of workspace-write, none for read-only, and ``None`` (anywhere: no
    sandbox to stay in or escalate out of) for the unsandboxed kinds."""
    if policy["type"] in ("dangerFullAccess", "externalSandbox"):
        return None
    parsed = parse_policy(policy)
    if isinstance(parsed, sandbox.WorkspaceWrite):
        return [root.path for root in sandbox.resolve_writable_roots(parsed, cwd)]
    return []


# -- choosing ------------------------------------------------------------------------


def prepare(argv: list[str], request: SandboxRequest) -> Confinement:
    """What to spawn for ``argv`` under ``request.policy``; raises
    :class:`SandboxUnavailable` rather than run unconfined a command that
    asked for a sandbox."""
    policy = normalize_policy(request.policy, request.cwd)
    try:
        return confine(argv, parse_policy(policy), request.cwd, request.env,
                       backend=request.backend, tty=request.tty,
                       proxy=request.proxy,
                       proxy_context=request.proxy_context,
                       exec_bridge=request.exec_bridge)
    except sandbox.SandboxUnavailable as error:
        raise _invalid(f"{error}; use dangerFullAccess to run without a sandbox") from None


def confined(spec: ExecSpec, confinement: Confinement) -> ExecSpec:
    """``spec`` run as ``confinement`` says: its argv and environment, the
    fds it passes, its pre-exec code and its after-spawn step (which the
    command waits for; leaving it out would keep a routed sandbox blocked).
    The spec's own inherited fds (the exec bridge's socket) are kept."""
    pass_fds = tuple(dict.fromkeys((*spec.pass_fds, *confinement.pass_fds)))
    return dataclasses.replace(spec, argv=confinement.argv, env=confinement.env,
                               pass_fds=pass_fds, preexec=confinement.preexec,
                               after_spawn=confinement.after_spawn)
