"""Sandbox policies and the backends that enforce them.

    from execguard.sandbox import confine, parse_policy

    with confine(["make"], {"type": "workspaceWrite"}, cwd, env) as how:
        subprocess.run(how.argv, env=how.env, pass_fds=how.pass_fds,
                       preexec_fn=how.preexec)
"""

from .backend import Confinement, SandboxBackend, SandboxUnavailable
from .denial import SandboxViolation, classify_violation, is_likely_sandbox_denied
from .policy import (
    DangerFullAccess,
    ExternalSandbox,
    PolicyError,
    ReadOnly,
    SandboxPolicy,
    WorkspaceWrite,
    network_restricted,
    parse_policy,
    policy_json,
)
from .roots import PROTECTED_NAMES, WritableRoot, resolve_writable_roots
from .selection import BackendStatus, backend_names, backend_status, confine, get_backend

__all__ = [
    "PROTECTED_NAMES",
    "BackendStatus",
    "Confinement",
    "DangerFullAccess",
    "ExternalSandbox",
    "PolicyError",
    "ReadOnly",
    "SandboxBackend",
    "SandboxPolicy",
    "SandboxUnavailable",
    "SandboxViolation",
    "WorkspaceWrite",
    "WritableRoot",
    "backend_names",
    "backend_status",
    "classify_violation",
    "confine",
    "get_backend",
    "is_likely_sandbox_denied",
    "network_restricted",
    "parse_policy",
    "policy_json",
    "resolve_writable_roots",
]
