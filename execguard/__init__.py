"""execguard: sandboxed command execution and a policy engine for AI coding agents.

The public API is re-exported here; everything else is private.
"""

from __future__ import annotations

from .execpolicy import (
    Decision,
    NetworkProtocol,
    NetworkRule,
    Policy,
    PolicyError,
    PolicyParseError,
    PolicyParser,
    PolicyReadError,
    PrefixRule,
    RuleMatch,
    load_policy,
    load_policy_from_strings,
)

__version__ = "0.1.0"

__all__ = [
    "Decision",
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
    "load_policy",
    "load_policy_from_strings",
]
