"""The `.rules` policy language (compatible with Codex execpolicy).

Load rules files, check an argv, read typed results::

    from execguard.execpolicy import load_policy
    policy = load_policy(["policies/default.rules"])
    policy.check(["git", "push", "--force"]).decision   # Decision.PROMPT

Names are imported on first use (PEP 562): a short `execguard execpolicy
check` process loads only what a cache hit needs, not Starlark, pydantic or
the amendment and discovery code.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .amend import (
        AmendError,
        append_network_rule,
        append_prefix_rule,
        network_rule_line,
        prefix_rule_line,
    )
    from .approval import (
        ApprovalPolicy,
        Forbidden,
        GranularApproval,
        NeedsApproval,
        Requirement,
        SandboxKind,
        SandboxPermissions,
        Skip,
        escalation_refusal,
    )
    from .decision import Decision
    from .discovery import (
        RuleLayer,
        RulesDiscoveryError,
        discover_rule_files,
        load_discovered_policy,
        trust_project,
        user_rules_file,
    )
    from .engine import Assessment, EngineOptions, SegmentVerdict, assess
    from .error import Location, PolicyError, PolicyParseError, PolicyReadError
    from .load import load_policy, load_policy_from_strings
    from .parser import PolicyParser
    from .policy import Policy, Resolution
    from .results import Evaluation, MatchedRule, PrefixRuleMatch
    from .rule import NetworkProtocol, NetworkRule, PrefixRule, RuleMatch
    from .script import Analysis, Effect, FoundCommand, analyse_command
    from .summary import CommandAction, summarize_command
    from .words import Word

# public name -> the module that defines it
_EXPORTS = {
    "ApprovalPolicy": "approval",
    "GranularApproval": "approval",
    "SandboxKind": "approval",
    "SandboxPermissions": "approval",
    "Requirement": "approval",
    "Skip": "approval",
    "NeedsApproval": "approval",
    "Forbidden": "approval",
    "escalation_refusal": "approval",
    "Assessment": "engine",
    "EngineOptions": "engine",
    "SegmentVerdict": "engine",
    "assess": "engine",
    "summarize_command": "summary",
    "Analysis": "script",
    "Effect": "script",
    "FoundCommand": "script",
    "analyse_command": "script",
    "Word": "words",
    "CommandAction": "summary",
    "AmendError": "amend",
    "append_network_rule": "amend",
    "append_prefix_rule": "amend",
    "network_rule_line": "amend",
    "prefix_rule_line": "amend",
    "Decision": "decision",
    "RuleLayer": "discovery",
    "RulesDiscoveryError": "discovery",
    "discover_rule_files": "discovery",
    "load_discovered_policy": "discovery",
    "trust_project": "discovery",
    "user_rules_file": "discovery",
    "Location": "error",
    "PolicyError": "error",
    "PolicyParseError": "error",
    "PolicyReadError": "error",
    "load_policy": "load",
    "load_policy_from_strings": "load",
    "PolicyParser": "parser",
    "Policy": "policy",
    "Resolution": "policy",
    "Evaluation": "results",
    "MatchedRule": "results",
    "PrefixRuleMatch": "results",
    "NetworkProtocol": "rule",
    "NetworkRule": "rule",
    "PrefixRule": "rule",
    "RuleMatch": "rule",
}

__all__ = [
    "AmendError",
    "Analysis",
    "ApprovalPolicy",
    "Assessment",
    "CommandAction",
    "Decision",
    "Effect",
    "EngineOptions",
    "Evaluation",
    "Forbidden",
    "FoundCommand",
    "GranularApproval",
    "Location",
    "MatchedRule",
    "NeedsApproval",
    "NetworkProtocol",
    "NetworkRule",
    "Policy",
    "PolicyError",
    "PolicyParseError",
    "PolicyParser",
    "PolicyReadError",
    "PrefixRule",
    "PrefixRuleMatch",
    "Requirement",
    "Resolution",
    "RuleLayer",
    "RuleMatch",
    "RulesDiscoveryError",
    "SandboxKind",
    "SandboxPermissions",
    "SegmentVerdict",
    "Skip",
    "Word",
    "analyse_command",
    "append_network_rule",
    "append_prefix_rule",
    "assess",
    "discover_rule_files",
    "escalation_refusal",
    "load_discovered_policy",
    "load_policy",
    "load_policy_from_strings",
    "network_rule_line",
    "prefix_rule_line",
    "summarize_command",
    "trust_project",
    "user_rules_file",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
