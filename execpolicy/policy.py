"""A loaded policy: prefix rules indexed by program, host-executable entries
and network rules, and the lookup that checks a command against them."""

from __future__ import annotations

import os

from .decision import Decision, strictest
from .error import PolicyError
from .rule import NetworkProtocol, NetworkRule, PrefixRule, RuleMatch, canonical_form
from .value import Value

# Not `typing.TYPE_CHECKING`: importing `typing` would cost the short-lived
# `execguard execpolicy check` process more than its whole check.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from .results import Evaluation


class Resolution(Value):
    """How host-executable resolution turns a command's program into a path.

    The reference resolves ``~`` against ``$HOME`` and relative paths against
    the process's working directory; callers that evaluate commands for
    another directory pass it explicitly.
    """

    __slots__ = ("cwd", "home")
    cwd: str | None
    home: str | None

    def __init__(self, cwd: str | None = None, home: str | None = None) -> None:
        object.__setattr__(self, "cwd", cwd)
        object.__setattr__(self, "home", home)

    def absolute(self, program: str) -> str:
        if program == "~" or program.startswith("~/"):
            home = self.home if self.home is not None else os.environ.get("HOME", "/")
            program = home + program[1:]
        if not program.startswith("/"):
            program = (self.cwd if self.cwd is not None else os.getcwd()) + "/" + program
        return normalize_lexically(program)


def resolution_can_match(program: str) -> bool:
    """Whether host-executable resolution can find a match that looking
    ``program`` up as written did not.

    A bare name (``git``) resolves to ``<cwd>/git``, whose basename is the name
    again: the same rules, with host-executable gates that can only drop
    matches. Paths, ``~`` forms and the empty, ``.`` and ``..`` names (whose
    basename comes from the cwd or ``$HOME``) can match other rules.
    """
    return not program or "/" in program or program in (".", "..", "~")


def normalize_lexically(path: str) -> str:
    """Resolve ``//``, ``.``, ``..`` and a trailing ``/`` without touching the
    filesystem (``..`` at the root stays at the root)."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
        else:
            parts.append(part)
    return "/" + "/".join(parts)


class Policy:
    """Prefix rules, host-executable entries and network rules.

    Build one with :func:`execguard.execpolicy.load_policy` (rules files) or
    programmatically with :meth:`add_prefix_rule` / :meth:`add_network_rule`.
    """

    __slots__ = ("_canonical_programs", "_decode_group", "_groups", "host_executables",
                 "network_rules")

    def __init__(self, *, host_executables: dict[str, tuple[str, ...]] | None = None) -> None:
        # program spelling -> its rules in definition order; a group read from
        # the policy cache stays encoded until a command names its program.
        self._groups: dict[str, list[PrefixRule] | bytes] = {}
        self._decode_group: Callable[[str, bytes], list[PrefixRule]] | None = None
        # bare name -> the only absolute paths that may stand for it
        self.host_executables: dict[str, tuple[str, ...]] = dict(host_executables or {})
        self.network_rules: list[NetworkRule] = []
        # canonical form -> program spellings that have canonical rules
        self._canonical_programs: dict[str, list[str]] = {}

    @classmethod
    def _with_encoded_groups(
        cls,
        groups: dict[str, bytes],
        canonical_programs: dict[str, list[str]],
        decode_group: Callable[[str, bytes], list[PrefixRule]],
    ) -> Policy:
        """A policy whose rule groups are decoded on first use (the cache's
        fast path: a check touches one program of thousands)."""
        policy = cls()
        policy._groups.update(groups)
        policy._canonical_programs.update(canonical_programs)
        policy._decode_group = decode_group
        return policy

    @property
    def rules_by_program(self) -> dict[str, list[PrefixRule]]:
        """Program spelling → its rules in definition order."""
        for program, group in self._groups.items():
            if isinstance(group, bytes):
                self._groups[program] = self._decoded(program, group)
        return self._groups  # type: ignore[return-value]  # every group decoded above

    def _group(self, program: str) -> list[PrefixRule] | None:
        group = self._groups.get(program)
        if isinstance(group, bytes):
            group = self._groups[program] = self._decoded(program, group)
        return group

    def _decoded(self, program: str, group: bytes) -> list[PrefixRule]:
        assert self._decode_group is not None
        return self._decode_group(program, group)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Policy):
            return NotImplemented
        return (self.rules_by_program, self.host_executables, self.network_rules) == (
            other.rules_by_program, other.host_executables, other.network_rules)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (f"Policy(rules={len(self.rules)}, "
                f"host_executables={len(self.host_executables)}, "
                f"network_rules={len(self.network_rules)})")

    # -- building --------------------------------------------------------------

    def add_rule(self, rule: PrefixRule) -> None:
        """Append a rule after every existing rule for its program."""
        group = self._group(rule.program)
        if group is None:
            self._groups[rule.program] = [rule]
        else:
            group.append(rule)
        if rule.canonical_matching:
            spellings = self._canonical_programs.setdefault(canonical_form(rule.program), [])
            if rule.program not in spellings:
                spellings.append(rule.program)

    def add_prefix_rule(
        self, tokens: Sequence[str], decision: Decision | str = Decision.ALLOW
    ) -> PrefixRule:
        """Append a rule whose tokens are single literals (no justification)."""
        if not tokens:
            raise PolicyError("invalid pattern element: prefix cannot be empty")
        parsed = decision if isinstance(decision, Decision) else Decision.parse(decision)
        rule = PrefixRule(tokens[0], tuple(tokens[1:]), parsed)
        self.add_rule(rule)
        return rule

    def set_host_executable(self, name: str, paths: Iterable[str]) -> None:
        """Record which absolute paths may stand for ``name`` (replacing any
        earlier entry). Paths must already be absolute and normalised."""
        self.host_executables[name] = tuple(dict.fromkeys(paths))

    def add_network_rule(
        self,
        host: str,
        protocol: NetworkProtocol | str,
        decision: Decision | str,
        justification: str | None = None,
    ) -> NetworkRule:
        """Validate and append a network rule, as the `network_rule` builtin does."""
        rule = NetworkRule.parse(host, protocol, decision, justification)
        self.network_rules.append(rule)
        return rule

    def merge_overlay(self, other: Policy) -> None:
        """Append ``other``'s rules after this policy's; its host-executable
        entries replace same-named ones."""
        for rule in other.rules:  # a snapshot: `other` may be this policy
            self.add_rule(rule)
        self.network_rules.extend(other.network_rules)
        self.host_executables.update(other.host_executables)

    # -- reading ---------------------------------------------------------------

    @property
    def rules(self) -> list[PrefixRule]:
        """Every prefix rule, grouped by program in first-definition order."""
        return [rule for rules in self.rules_by_program.values() for rule in rules]

    def allowed_prefixes(self) -> list[list[str]]:
        """``[program, *rest]`` of every ``allow`` rule, alternatives rendered as
        ``[a|b]``; sorted and de-duplicated."""
        seen = {
            (rule.program, *(t if isinstance(t, str) else "[" + "|".join(t) + "]"
                             for t in rule.rest))
            for rule in self.rules
            if rule.decision is Decision.ALLOW
        }
        return [list(p) for p in sorted(seen)]

    def compiled_network_domains(self) -> tuple[list[str], list[str]]:
        """``(allowed, denied)`` hosts for the network proxy: the last
        non-prompt rule for a host decides it (protocol is ignored)."""
        last: dict[str, Decision] = {}
        for rule in self.network_rules:
            if rule.decision is Decision.PROMPT:
                continue
            last.pop(rule.host, None)  # re-insert so order follows the last rule
            last[rule.host] = rule.decision
        allowed = [h for h, d in last.items() if d is Decision.ALLOW]
        denied = [h for h, d in last.items() if d is Decision.FORBIDDEN]
        return allowed, denied

    # -- checking --------------------------------------------------------------

    def matches(
        self,
        command: Sequence[str],
        *,
        resolve_host_executables: bool = False,
        resolution: Resolution | None = None,
    ) -> list[RuleMatch]:
        """Every rule matching ``command``, in the reference's order.

        With ``resolve_host_executables``, a command whose program is a path
        (``/usr/bin/git``) and that matched nothing is looked up again by its
        basename, subject to the `host_executable` entries.
        """
        if not command:
            return []
        argv = command if isinstance(command, list) else list(command)
        found = [
            RuleMatch(argv[: len(rule.rest) + 1], rule.decision, None, rule.justification)
            for rule in self._candidates(argv[0])
            if rule.matches_rest(argv)
        ]
        if found or not resolve_host_executables or not resolution_can_match(argv[0]):
            return found
        return self._resolved_matches(argv, resolution or Resolution())

    def decision(
        self,
        command: Sequence[str],
        *,
        resolve_host_executables: bool = False,
        resolution: Resolution | None = None,
    ) -> Decision | None:
        """The strictest decision of the matching rules, ``None`` if none match."""
        return strictest([m.decision for m in self.matches(
            command, resolve_host_executables=resolve_host_executables, resolution=resolution)])

    def check(
        self,
        command: Sequence[str],
        *,
        resolve_host_executables: bool = False,
        resolution: Resolution | None = None,
    ) -> Evaluation:
        """Check a command and return the reference's typed result."""
        from .results import Evaluation

        return Evaluation.from_matches(
            self.matches(
                command,
                resolve_host_executables=resolve_host_executables,
                resolution=resolution,
            )
        )

    def rules_for(self, program: str) -> list[PrefixRule]:
        """The rules that can match a command whose first word is ``program``
        (its spelling, or canonical equivalents for canonical rules)."""
        return self._candidates(program)

    def _candidates(self, program: str) -> list[PrefixRule]:
        exact = self._group(program) or []
        if not self._canonical_programs:
            return exact
        spellings = self._canonical_programs.get(canonical_form(program))
        if not spellings:
            return exact
        cross = [
            rule
            for spelling in spellings
            if spelling != program
            for rule in self._group(spelling) or ()
            if rule.canonical_matching
        ]
        return exact + cross if cross else exact

    def _resolved_matches(self, argv: list[str], resolution: Resolution) -> list[RuleMatch]:
        path = resolution.absolute(argv[0])
        basename = path.rsplit("/", 1)[1]
        if not basename:
            return []
        allowed_paths = self.host_executables.get(basename)
        if allowed_paths is not None and path not in allowed_paths:
            return []
        renamed = [basename, *argv[1:]]
        found = []
        for rule in self._candidates(basename):
            rule_paths = self.host_executables.get(rule.program)
            if rule_paths is not None and path not in rule_paths:
                continue
            if rule.matches_rest(renamed):
                found.append(
                    RuleMatch(renamed[: len(rule.rest) + 1], rule.decision, path,
                              rule.justification)
                )
        return found
