"""The vocabulary of approval decisions (decision_engine spec §1).

Approval policies, sandbox kinds, per-call sandbox requests, and the
requirement the engine produces for one tool call: run (in or out of the
sandbox), ask a person, or refuse.
"""

from __future__ import annotations

from .choice import Choice
from .value import Value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ClassVar

_set = object.__setattr__


class ApprovalPolicy(Choice):
    """When a person is asked (wire names as in Codex's ``approval_policy``)."""

    __slots__ = ()
    UNTRUSTED: ClassVar[ApprovalPolicy]
    ON_FAILURE: ClassVar[ApprovalPolicy]
    ON_REQUEST: ClassVar[ApprovalPolicy]
    NEVER: ClassVar[ApprovalPolicy]
    GRANULAR: ClassVar[ApprovalPolicy]

    def debug_name(self) -> str:
        """The Rust ``Debug`` name Codex prints in its messages."""
        return _DEBUG_NAMES[self]


ApprovalPolicy.UNTRUSTED = ApprovalPolicy._define("untrusted")
ApprovalPolicy.ON_FAILURE = ApprovalPolicy._define("on-failure")
ApprovalPolicy.ON_REQUEST = ApprovalPolicy._define("on-request")
ApprovalPolicy.NEVER = ApprovalPolicy._define("never")
ApprovalPolicy.GRANULAR = ApprovalPolicy._define("granular")
_DEBUG_NAMES = {
    ApprovalPolicy.UNTRUSTED: "UnlessTrusted",
    ApprovalPolicy.ON_FAILURE: "OnFailure",
    ApprovalPolicy.ON_REQUEST: "OnRequest",
    ApprovalPolicy.NEVER: "Never",
    ApprovalPolicy.GRANULAR: "Granular",
}


class GranularApproval(Value):
    """Which prompt categories ``granular`` may show (``True`` = may prompt);
    a category that may not prompt turns its prompts into refusals."""

    __slots__ = ("sandbox_approval", "rules")
    sandbox_approval: bool
    rules: bool

    def __init__(self, sandbox_approval: bool = True, rules: bool = True) -> None:
        _set(self, "sandbox_approval", sandbox_approval)
        _set(self, "rules", rules)


class SandboxKind(Choice):
    """What the decision engine needs to know of a sandbox policy."""

    __slots__ = ()
    RESTRICTED: ClassVar[SandboxKind]  # read-only, workspace-write
    UNRESTRICTED: ClassVar[SandboxKind]  # danger-full-access
    EXTERNAL: ClassVar[SandboxKind]  # external-sandbox: someone else's sandbox

    @classmethod
    def of_policy(cls, name: str) -> SandboxKind:
        """The kind of a sandbox policy named as on the wire or in the CLI
        (``read-only``, ``workspace-write``, ``danger-full-access``,
        ``external-sandbox``, or the camelCase forms)."""
        kind = _POLICY_KINDS.get(name.replace("_", "-"))
        if kind is None:
            raise ValueError(f"unknown sandbox policy: {name}")
        return kind


SandboxKind.RESTRICTED = SandboxKind._define("restricted")
SandboxKind.UNRESTRICTED = SandboxKind._define("unrestricted")
SandboxKind.EXTERNAL = SandboxKind._define("external")
_POLICY_KINDS = {
    "read-only": SandboxKind.RESTRICTED, "readOnly": SandboxKind.RESTRICTED,
    "workspace-write": SandboxKind.RESTRICTED, "workspaceWrite": SandboxKind.RESTRICTED,
    "danger-full-access": SandboxKind.UNRESTRICTED,
    "dangerFullAccess": SandboxKind.UNRESTRICTED,
    "external-sandbox": SandboxKind.EXTERNAL, "externalSandbox": SandboxKind.EXTERNAL,
}


class SandboxPermissions(Choice):
    """What one tool call asks of the sandbox."""

    __slots__ = ()
    USE_DEFAULT: ClassVar[SandboxPermissions]
    REQUIRE_ESCALATED: ClassVar[SandboxPermissions]
    WITH_ADDITIONAL_PERMISSIONS: ClassVar[SandboxPermissions]

    @property
    def requests_override(self) -> bool:
        return self is not SandboxPermissions.USE_DEFAULT


SandboxPermissions.USE_DEFAULT = SandboxPermissions._define("use_default")
SandboxPermissions.REQUIRE_ESCALATED = SandboxPermissions._define("require_escalated")
SandboxPermissions.WITH_ADDITIONAL_PERMISSIONS = SandboxPermissions._define(
    "with_additional_permissions")


class Requirement(Value):
    """What must happen before a command runs (Codex's ``ExecApprovalRequirement``)."""

    __slots__ = ()
    kind: ClassVar[str]

    def to_json(self) -> dict[str, object]:
        raise NotImplementedError


class Skip(Requirement):
    """Run without asking; outside the sandbox when ``bypass_sandbox``.
    ``proposed_amendment`` is offered only if a sandbox denial leads to a
    retry prompt."""

    __slots__ = ("bypass_sandbox", "proposed_amendment")
    kind = "skip"
    bypass_sandbox: bool
    proposed_amendment: list[str] | None

    def __init__(self, bypass_sandbox: bool, proposed_amendment: list[str] | None = None
                 ) -> None:
        _set(self, "bypass_sandbox", bypass_sandbox)
        _set(self, "proposed_amendment", proposed_amendment)

    def to_json(self) -> dict[str, object]:
        return {"type": "skip", "bypassSandbox": self.bypass_sandbox,
                "proposedExecpolicyAmendment": self.proposed_amendment}


class NeedsApproval(Requirement):
    """Ask a person; ``reason`` is set when a prompt rule asked for it."""

    __slots__ = ("reason", "proposed_amendment")
    kind = "needsApproval"
    reason: str | None
    proposed_amendment: list[str] | None

    def __init__(self, reason: str | None, proposed_amendment: list[str] | None = None
                 ) -> None:
        _set(self, "reason", reason)
        _set(self, "proposed_amendment", proposed_amendment)

    def to_json(self) -> dict[str, object]:
        return {"type": "needsApproval", "reason": self.reason,
                "proposedExecpolicyAmendment": self.proposed_amendment}


class Forbidden(Requirement):
    """Do not run; ``reason`` goes back to the model as the tool error."""

    __slots__ = ("reason",)
    kind = "forbidden"
    reason: str

    def __init__(self, reason: str) -> None:
        _set(self, "reason", reason)

    def to_json(self) -> dict[str, object]:
        return {"type": "forbidden", "reason": self.reason}


def escalation_refusal(approval_policy: ApprovalPolicy | str,
                       sandbox_permissions: SandboxPermissions | str) -> str | None:
    """The tool handler's guard (spec §1.3): asking to leave or widen the
    sandbox is only meaningful under ``on-request``; under any other policy
    the call fails with this message before any policy evaluation."""
    approval_policy = ApprovalPolicy(approval_policy)
    if (not SandboxPermissions(sandbox_permissions).requests_override
            or approval_policy is ApprovalPolicy.ON_REQUEST):
        return None
    name = approval_policy.debug_name()
    return (f"approval policy is {name}; reject command — you should not ask for escalated "
            f"permissions if the approval policy is {name}")
