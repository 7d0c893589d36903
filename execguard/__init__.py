"""execguard: sandboxed command execution and a policy engine for AI coding agents.

The public API is re-exported here (imported on first use, so the command
line stays fast); everything else is private.
"""

from __future__ import annotations

__version__ = "0.1.0"

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .execpolicy import (
        Decision,
        Evaluation,
        NetworkProtocol,
        NetworkRule,
        Policy,
        PolicyError,
        PolicyParseError,
        PolicyParser,
        PolicyReadError,
        PrefixRule,
        RuleMatch,
        load_discovered_policy,
        load_policy,
        load_policy_from_strings,
    )
    from .runtimes.audit import AuditLog
    from .runtimes.shell_tool import (
        ApprovalRequest,
        ShellToolSession,
        ToolCall,
        ToolCallError,
        ToolResult,
    )

__all__ = [
    "ApprovalRequest",
    "AuditLog",
    "Decision",
    "Evaluation",
    "NetworkProtocol",
    "NetworkRule",
    "Policy",
    "PolicyError",
    "PolicyParseError",
    "PolicyParser",
    "PolicyReadError",
    "PrefixRule",
    "RuleMatch",
    "ShellToolSession",
    "ToolCall",
    "ToolCallError",
    "ToolResult",
    "__version__",
    "load_discovered_policy",
    "load_policy",
    "load_policy_from_strings",
]


# Where each public name lives (the rest come from the execpolicy component).
_FROM_RUNTIMES = {
    "AuditLog": "runtimes.audit",
    "ApprovalRequest": "runtimes.shell_tool",
    "ShellToolSession": "runtimes.shell_tool",
    "ToolCall": "runtimes.shell_tool",
    "ToolCallError": "runtimes.shell_tool",
    "ToolResult": "runtimes.shell_tool",
}
_FROM_EXECPOLICY = frozenset(__all__) - {"__version__"} - set(_FROM_RUNTIMES)


def __getattr__(name: str) -> object:
    if name in _FROM_EXECPOLICY or name in _FROM_RUNTIMES:
        from importlib import import_module

        module = import_module(f"{__name__}.{_FROM_RUNTIMES.get(name, 'execpolicy')}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
