"""The `.rules` policy language (compatible with Codex execpolicy).

Load rules files, check an argv, read typed results::

    from execguard.execpolicy import load_policy
    policy = load_policy(["policies/default.rules"])
    policy.check(["git", "push", "--force"]).decision   # Decision.PROMPT
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .amend import (
    AmendError,
    append_network_rule,
    append_prefix_rule,
    network_rule_line,
    prefix_rule_line,
)
from .decision import Decision
from .discovery import (
    RuleLayer,
    RulesDiscoveryError,
    discover_rule_files,
    load_discovered_policy,
    user_rules_file,
)
from .error import Location, PolicyError, PolicyParseError, PolicyReadError
from .load import load_policy, load_policy_from_strings
from .parser import PolicyParser
from .policy import Policy, Resolution
from .rule import NetworkProtocol, NetworkRule, PrefixRule, RuleMatch

if TYPE_CHECKING:
    from .results import Evaluation, MatchedRule, PrefixRuleMatch

__all__ = [
    "AmendError",
    "Decision",
    "Evaluation",
    "Location",
    "MatchedRule",
    "NetworkProtocol",
    "NetworkRule",
    "Policy",
    "PolicyError",
    "PolicyParseError",
    "PolicyParser",
    "PolicyReadError",
    "PrefixRule",
    "PrefixRuleMatch",
    "Resolution",
    "RuleLayer",
    "RuleMatch",
    "RulesDiscoveryError",
    "append_network_rule",
    "append_prefix_rule",
    "discover_rule_files",
    "load_discovered_policy",
    "load_policy",
    "load_policy_from_strings",
    "network_rule_line",
    "prefix_rule_line",
    "user_rules_file",
]

_LAZY = {"Evaluation", "MatchedRule", "PrefixRuleMatch"}


def __getattr__(name: str) -> Any:
    # The pydantic wire types load on first use only (see results.py).
    if name in _LAZY:
        from . import results

        return getattr(results, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
