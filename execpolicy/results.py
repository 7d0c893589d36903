"""Typed results with the reference's JSON shape (pydantic wire types).

Imported lazily: the `execguard execpolicy check` process never loads
pydantic, which would cost more than the whole check.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .decision import Decision, strictest
from .rule import RuleMatch


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)

    def to_json(self) -> dict[str, Any]:
        """The reference's JSON object (camelCase keys, unset fields omitted)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class PrefixRuleMatch(_Wire):
    matched_prefix: list[str] = Field(alias="matchedPrefix")
    decision: Decision
    resolved_program: str | None = Field(default=None, alias="resolvedProgram")
    justification: str | None = None


class MatchedRule(_Wire):
    prefix_rule_match: PrefixRuleMatch = Field(alias="prefixRuleMatch")


class Evaluation(_Wire):
    """The result of checking one command: every matching rule in order and
    the strictest decision (absent when nothing matched)."""

    matched_rules: list[MatchedRule] = Field(alias="matchedRules")
    decision: Decision | None = None

    @classmethod
    def from_matches(cls, matches: list[RuleMatch]) -> Evaluation:
        return cls(
            matched_rules=[
                MatchedRule(prefix_rule_match=PrefixRuleMatch(
                    matched_prefix=m.matched_prefix,
                    decision=m.decision,
                    resolved_program=m.resolved_program,
                    justification=m.justification,
                ))
                for m in matches
            ],
            decision=strictest([m.decision for m in matches]),
        )
