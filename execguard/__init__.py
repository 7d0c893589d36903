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

__all__ = [
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
    "__version__",
    "load_discovered_policy",
    "load_policy",
    "load_policy_from_strings",
]


# Everything public but the version comes from the execpolicy component.
_FROM_EXECPOLICY = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> object:
    if name in _FROM_EXECPOLICY:
        from . import execpolicy

        value = getattr(execpolicy, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
