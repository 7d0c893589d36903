"""The decision engine: rules plus heuristics plus approval and sandbox
policies give the requirement for one command (decision_engine spec §3-§6).

For every segment of the command (a shell wrapper's script split into its
commands), the rules decide; a segment no rule matches gets a heuristic
verdict (known-safe, dangerous, or what the approval policy implies). The
strictest verdict decides, and is turned into a :class:`Requirement` with the
reference's reasons and proposed amendments.

Codex changed this layer several times; :class:`EngineOptions` names each
behaviour that changed, with presets for the reference's variants and a
default that takes the safer side of every change.
"""

from __future__ import annotations

from .approval import (
    ApprovalPolicy,
    Forbidden,
    GranularApproval,
    NeedsApproval,
    Requirement,
    SandboxKind,
    SandboxPermissions,
    Skip,
)
from .dangerous import command_might_be_dangerous, is_forced_rm
from .decision import Decision, strictest
from .known_safe import is_known_safe_command
from .policy import Policy
from .render import render_command
from .shell import extract_shell_script, parse_plain_commands, split_for_policy
from .value import Value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .rule import RuleMatch

_set = object.__setattr__


class EngineOptions(Value):
    """The behaviours that differ between Codex variants (spec §0, §13).

    * ``exact_shell_wrappers``: only trusted shell paths are unwrapped (latest),
      not anything named like a shell (``./bash``; classic).
    * ``literal_words``: words the shell would expand (globs, braces, ``~``,
      escapes) make a script unsplittable (latest).
    * ``heredoc_fallback``: ``python3 <<EOF ...`` is judged as ``python3``
      (classic, current).
    * ``known_safe``: when the known-safe list auto-allows an unmatched
      segment: ``"always"`` (classic), ``"untrusted-only"`` (current: never
      when the call asks for escalation), ``"never"`` (latest).
    * ``known_safe_git``: ``git status``-style commands count as known-safe
      (classic, current; git can run repository helpers).
    * ``dangerous``: the dangerous-command detector (``classic``, ``legacy``,
      ``latest`` = any forced ``rm``).
    * ``bypass_every_segment``: allow rules bypass the sandbox only when they
      allow every segment (current), not when one segment is allowed (classic).
    * ``latest_banned_prefixes``: the longer list of prefixes never proposed
      as amendments.
    * ``full_analysis`` (execguard): analyse the whole script
      (`execpolicy.script`) instead of Codex's split, and hold rules to the
      argument grammars (`execpolicy.arg_limits`). The switches about
      splitting (``exact_shell_wrappers``, ``literal_words``,
      ``heredoc_fallback``) then do not apply.
    """

    __slots__ = ("exact_shell_wrappers", "literal_words", "heredoc_fallback", "known_safe",
                 "known_safe_git", "dangerous", "bypass_every_segment",
                 "latest_banned_prefixes", "full_analysis")
    exact_shell_wrappers: bool
    literal_words: bool
    heredoc_fallback: bool
    known_safe: str
    known_safe_git: bool
    dangerous: str
    bypass_every_segment: bool
    latest_banned_prefixes: bool
    full_analysis: bool

    def __init__(self, *, exact_shell_wrappers: bool = True, literal_words: bool = True,
                 heredoc_fallback: bool = False, known_safe: str = "untrusted-only",
                 known_safe_git: bool = False, dangerous: str = "latest",
                 bypass_every_segment: bool = True, latest_banned_prefixes: bool = True,
                 full_analysis: bool = True) -> None:
        if known_safe not in ("always", "untrusted-only", "never"):
            raise ValueError(f"known_safe must be always, untrusted-only or never: {known_safe}")
        if dangerous not in ("classic", "legacy", "latest"):
            raise ValueError(f"dangerous must be classic, legacy or latest: {dangerous}")
        for name, value in (("exact_shell_wrappers", exact_shell_wrappers),
                            ("literal_words", literal_words),
                            ("heredoc_fallback", heredoc_fallback),
                            ("known_safe", known_safe), ("known_safe_git", known_safe_git),
                            ("dangerous", dangerous),
                            ("bypass_every_segment", bypass_every_segment),
                            ("latest_banned_prefixes", latest_banned_prefixes),
                            ("full_analysis", full_analysis)):
            _set(self, name, value)


# Codex's variants, and ours: the safer side of every change. Known-safe stays
# on for `untrusted` (as in current Codex), without git.
CLASSIC = EngineOptions(exact_shell_wrappers=False, literal_words=False, heredoc_fallback=True,
                        known_safe="always", known_safe_git=True, dangerous="classic",
                        bypass_every_segment=False, latest_banned_prefixes=False,
                        full_analysis=False)
CURRENT = EngineOptions(exact_shell_wrappers=False, literal_words=False, heredoc_fallback=True,
                        known_safe="untrusted-only", known_safe_git=True, dangerous="classic",
                        bypass_every_segment=True, latest_banned_prefixes=False,
                        full_analysis=False)
LATEST = EngineOptions(known_safe="never", heredoc_fallback=False, full_analysis=False)
DEFAULT = EngineOptions()
VARIANTS = {"classic": CLASSIC, "current": CURRENT, "latest": LATEST, "default": DEFAULT}


# Heuristic verdicts, as named in explanations.
KNOWN_SAFE = "known-safe"
DANGEROUS = "dangerous"
FORCED_RM = "forced-rm"
APPROVAL_POLICY = "approval-policy"

FORCED_RM_REASON = "rm -f style commands are not permitted. Use a safer approach"

_BANNED_CLASSIC = frozenset(tuple(p.split(" ")) for p in (
    "python3", "python3 -", "python3 -c", "python", "python -", "python -c", "py", "py -3",
    "pythonw", "pyw", "pypy", "pypy3", "git", "bash", "bash -lc", "sh", "sh -c", "sh -lc",
    "zsh", "zsh -lc", "/bin/zsh", "/bin/zsh -lc", "/bin/bash", "/bin/bash -lc", "pwsh",
    "pwsh -Command", "pwsh -c", "powershell", "powershell -Command", "powershell -c",
    "powershell.exe", "powershell.exe -Command", "powershell.exe -c", "env", "sudo", "node",
    "node -e", "perl", "perl -e", "ruby", "ruby -e", "php", "php -r", "lua", "lua -e",
    "osascript",
))
_BANNED_LATEST = _BANNED_CLASSIC | frozenset(tuple(p.split(" ")) for p in (
    "bash -c", "zsh -c", "/bin/bash -c", "/bin/sh", "/bin/sh -c", "/bin/sh -lc",
    "/bin/zsh -c", "Rscript", "bun", "bun -e", "bun run", "cmd", "cmd /c", "cmd /k",
    "cmd.exe", "cmd.exe /c", "cmd.exe /k", "dash", "dash -c", "deno", "deno eval", "fish",
    "fish -c", "julia", "julia -e", "ksh", "ksh -c", "nodejs", "nodejs -e", "npm run",
    "pnpm run", "yarn run", "rm",
    "pwsh -EncodedCommand", "pwsh -File", "pwsh -e", "pwsh -ec", "pwsh -f",
    "powershell -EncodedCommand", "powershell -File", "powershell -e", "powershell -ec",
    "powershell -f", "powershell.exe -EncodedCommand", "powershell.exe -File",
    "powershell.exe -e", "powershell.exe -ec", "powershell.exe -f",
))


def banned_prefix(tokens: Sequence[str], *, latest: bool = True) -> bool:
    """Whether ``tokens`` is exactly a prefix never offered as an allow rule
    (an interpreter or shell: allowing it would allow anything)."""
    return tuple(tokens) in (_BANNED_LATEST if latest else _BANNED_CLASSIC)


class SegmentVerdict(Value):
    """How one segment was judged: by rules (``matches``) or, when none
    matched, by a heuristic (``heuristic`` names it). A rule match with a
    heuristic means the heuristic overrode the rule (``argument-limit``,
    ``dynamic``).

    In full analysis a segment is a command (``kind="command"``; ``literal``
    when every word is known, else ``argv`` shows dynamic words as written)
    or an effect (``"write"``, ``"environment"``, ``"opaque"``); ``reason``
    says why, ``context`` where in the script it was found.
    """

    __slots__ = ("argv", "decision", "matches", "heuristic", "kind", "reason", "context",
                 "literal")
    argv: list[str]
    decision: Decision
    matches: list[RuleMatch]
    heuristic: str | None
    kind: str
    reason: str | None
    context: str
    literal: bool

    def __init__(self, argv: list[str], decision: Decision, matches: list[RuleMatch],
                 heuristic: str | None, *, kind: str = "command", reason: str | None = None,
                 context: str = "", literal: bool = True) -> None:
        _set(self, "argv", argv)
        _set(self, "decision", decision)
        _set(self, "matches", matches)
        _set(self, "heuristic", heuristic)
        _set(self, "kind", kind)
        _set(self, "reason", reason)
        _set(self, "context", context)
        _set(self, "literal", literal)

    @property
    def rule_decided(self) -> bool:
        """Whether rules alone decided this segment."""
        return bool(self.matches) and self.heuristic is None

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {"argv": self.argv, "decision": self.decision.value,
                                   "matchedRules": [m.to_json() for m in self.matches],
                                   "heuristic": self.heuristic}
        if self.kind != "command" or self.reason is not None or self.context:
            body.update(kind=self.kind, reason=self.reason, context=self.context)
        return body


class Assessment(Value):
    """The requirement for a command, and why: every segment's verdict."""

    __slots__ = ("requirement", "decision", "segments", "used_complex_parsing")
    requirement: Requirement
    decision: Decision
    segments: list[SegmentVerdict]
    used_complex_parsing: bool

    def __init__(self, requirement: Requirement, decision: Decision,
                 segments: list[SegmentVerdict], used_complex_parsing: bool) -> None:
        _set(self, "requirement", requirement)
        _set(self, "decision", decision)
        _set(self, "segments", segments)
        _set(self, "used_complex_parsing", used_complex_parsing)

    def to_json(self) -> dict[str, object]:
        return {"requirement": self.requirement.to_json(), "decision": self.decision.value,
                "segments": [s.to_json() for s in self.segments],
                "usedComplexParsing": self.used_complex_parsing}


class _Call(Value):
    """The per-call inputs the heuristics read."""

    __slots__ = ("approval_policy", "sandbox", "sandbox_permissions", "options")
    approval_policy: ApprovalPolicy
    sandbox: SandboxKind
    sandbox_permissions: SandboxPermissions
    options: EngineOptions

    def __init__(self, approval_policy: ApprovalPolicy, sandbox: SandboxKind,
                 sandbox_permissions: SandboxPermissions, options: EngineOptions) -> None:
        _set(self, "approval_policy", approval_policy)
        _set(self, "sandbox", sandbox)
        _set(self, "sandbox_permissions", sandbox_permissions)
        _set(self, "options", options)


def assess(
    policy: Policy,
    command: Sequence[str],
    *,
    approval_policy: ApprovalPolicy | str,
    sandbox: SandboxKind | str,
    sandbox_permissions: SandboxPermissions | str = SandboxPermissions.USE_DEFAULT,
    prefix_rule: Sequence[str] | None = None,
    granular: GranularApproval | None = None,
    options: EngineOptions = DEFAULT,
    cwd: str | None = None,
    writable_roots: Sequence[str] | None = None,
) -> Assessment:
    """Decide what must happen before ``command`` runs.

    ``prefix_rule`` is the model's suggested allow rule (only offered when it
    would allow every segment); ``granular`` configures the ``granular``
    approval policy (default: every category may prompt).

    Full analysis (the default) also needs to know where the command runs
    (``cwd``; without it relative writes count as unknown) and where the
    sandbox lets it write (``writable_roots``; by default from ``sandbox``:
    ``workspace-write`` → ``cwd`` and ``/tmp``, ``read-only`` → nowhere,
    no sandbox → everywhere).
    """
    argv = list(command)
    if not argv:
        raise ValueError("cannot assess an empty command")
    call = _Call(ApprovalPolicy(approval_policy), _sandbox_kind(sandbox),
                 SandboxPermissions(sandbox_permissions), options)
    if options.full_analysis:
        from .script import analyse_command
        from .verdicts import judge_analysis

        complex_parsing = False
        roots = _writable_roots(sandbox, cwd) if writable_roots is None else list(writable_roots)
        segments = judge_analysis(policy, analyse_command(argv, cwd=cwd), call, roots)
    else:
        split = split_for_policy(argv, exact_wrappers=options.exact_shell_wrappers,
                                 literal_words=options.literal_words,
                                 heredoc_fallback=options.heredoc_fallback)
        complex_parsing = split.used_complex_parsing
        segments = [_judge(policy, segment, call, complex_parsing)
                    for segment in split.segments]
    decision = strictest([s.decision for s in segments]) or Decision.PROMPT
    if decision is Decision.FORBIDDEN:
        requirement: Requirement = Forbidden(_forbidden_reason(argv, segments))
    elif decision is Decision.PROMPT:
        requirement = _prompt_requirement(policy, argv, segments, call, complex_parsing,
                                          prefix_rule, granular or GranularApproval())
    else:
        requirement = _allow_requirement(segments, options, complex_parsing)
    return Assessment(requirement, decision, segments, complex_parsing)


def _writable_roots(sandbox: SandboxKind | str, cwd: str | None) -> list[str]:
    if sandbox in ("read-only", "readOnly"):
        return []
    kind = _sandbox_kind(sandbox)
    if kind is not SandboxKind.RESTRICTED:
        return ["/"]
    return [cwd, "/tmp"] if cwd else ["/tmp"]


def _sandbox_kind(sandbox: SandboxKind | str) -> SandboxKind:
    if isinstance(sandbox, SandboxKind):
        return sandbox
    if sandbox in SandboxKind.members():
        return SandboxKind(sandbox)
    return SandboxKind.of_policy(sandbox)


def _judge(policy: Policy, segment: list[str], call: _Call,
           complex_parsing: bool) -> SegmentVerdict:
    matches = policy.matches(segment, resolve_host_executables=True)
    decision = strictest([m.decision for m in matches])
    if decision is not None:
        return SegmentVerdict(segment, decision, matches, None)
    decision, heuristic = _heuristic(segment, call, complex_parsing)
    return SegmentVerdict(segment, decision, [], heuristic)


def _heuristic(segment: list[str], call: _Call, complex_parsing: bool) -> tuple[Decision, str]:
    """The verdict for a segment no rule matched (spec §5)."""
    options = call.options

    def split_script(script: str) -> list[list[str]] | None:
        return parse_plain_commands(script, literal_words=options.literal_words)

    def extract_script(argv: Sequence[str]) -> str | None:
        # One notion of "a shell wrapper" for splitting and known-safe alike.
        return extract_shell_script(argv, exact_wrappers=options.exact_shell_wrappers)

    return heuristic_verdict(segment, call, known_safe=not complex_parsing,
                             split_script=split_script, extract_script=extract_script)


def heuristic_verdict(segment: list[str], call: _Call, *, known_safe: bool,
                      split_script: Callable[[str], list[list[str]] | None],
                      extract_script: Callable[[Sequence[str]], str | None],
                      ) -> tuple[Decision, str]:
    """Known-safe (when ``known_safe`` and the options allow it), then the
    dangerous-command detector, then what the approval policy implies."""
    options, approval = call.options, call.approval_policy
    if known_safe and known_safe_applies(call) and is_known_safe_command(
            segment, include_git=options.known_safe_git, split_script=split_script,
            extract_script=extract_script):
        return Decision.ALLOW, KNOWN_SAFE
    if command_might_be_dangerous(segment, detector=options.dangerous,  # type: ignore[arg-type]
                                  split_script=split_script):
        forced = options.dangerous == "latest" and is_forced_rm(segment, split_script)
        verdict = Decision.FORBIDDEN if approval is ApprovalPolicy.NEVER else Decision.PROMPT
        return verdict, FORCED_RM if forced else DANGEROUS
    return unmatched_verdict(call), APPROVAL_POLICY


def known_safe_applies(call: _Call) -> bool:
    """Whether the known-safe list may allow a command in this call."""
    mode = call.options.known_safe
    return mode == "always" or (mode == "untrusted-only"
                                and call.approval_policy is ApprovalPolicy.UNTRUSTED)


def unmatched_verdict(call: _Call) -> Decision:
    """What the approval policy implies for something no rule matched and
    no shortcut settled (spec §5)."""
    approval = call.approval_policy
    if approval in (ApprovalPolicy.NEVER, ApprovalPolicy.ON_FAILURE):
        return Decision.ALLOW
    if approval is ApprovalPolicy.UNTRUSTED:
        return Decision.PROMPT
    # on-request and granular: the sandbox protects, unless the call leaves it.
    if call.sandbox is SandboxKind.RESTRICTED and call.sandbox_permissions.requests_override:
        return Decision.PROMPT
    return Decision.ALLOW


def _longest(matches: list[RuleMatch]) -> RuleMatch:
    """The match with the longest prefix; on ties the last one (as Codex)."""
    best = matches[0]
    for match in matches[1:]:
        if len(match.matched_prefix) >= len(best.matched_prefix):
            best = match
    return best


def _rule_matches(segments: list[SegmentVerdict], decision: Decision) -> list[RuleMatch]:
    return [m for s in segments for m in s.matches if m.decision is decision]


def _forbidden_reason(argv: list[str], segments: list[SegmentVerdict]) -> str:
    orig = render_command(argv)
    rules = _rule_matches(segments, Decision.FORBIDDEN)
    if rules:
        match = _longest(rules)
        if match.justification is not None:
            return f"`{orig}` rejected: {match.justification}"
        return (f"`{orig}` rejected: policy forbids commands starting with "
                f"`{render_command(match.matched_prefix)}`")
    if any(s.heuristic == FORCED_RM for s in segments):
        return f"`{orig}` rejected: {FORCED_RM_REASON}"
    return f"`{orig}` rejected: blocked by policy"


def _prompt_requirement(policy: Policy, argv: list[str], segments: list[SegmentVerdict],
                        call: _Call, complex_parsing: bool, prefix_rule: Sequence[str] | None,
                        granular: GranularApproval) -> Requirement:
    rule_prompts = _rule_matches(segments, Decision.PROMPT)
    approval = call.approval_policy
    if approval is ApprovalPolicy.NEVER:
        return Forbidden("approval required by policy, but AskForApproval is set to Never")
    if approval is ApprovalPolicy.GRANULAR:
        # A rule prompt is judged by the `rules` flag alone, even if another
        # segment prompted for sandbox reasons.
        if rule_prompts and not granular.rules:
            return Forbidden("approval required by policy rule, but "
                             "AskForApproval::Granular.rules is false")
        if not rule_prompts and not granular.sandbox_approval:
            if any(s.heuristic == FORCED_RM for s in segments):
                return Forbidden(FORCED_RM_REASON)
            return Forbidden("approval required by policy, but "
                             "AskForApproval::Granular.sandbox_approval is false")
    reason = None
    if rule_prompts:
        match = _longest(rule_prompts)
        orig = render_command(argv)
        reason = (f"`{orig}` requires approval: {match.justification}"
                  if match.justification is not None else f"`{orig}` requires approval by policy")
    elif call.options.full_analysis:
        why = next((s for s in segments if s.decision is Decision.PROMPT and s.reason), None)
        if why is not None and why.kind == "command":
            reason = f"`{render_command(why.argv)}` requires approval: {why.reason}"
        elif why is not None:
            reason = why.reason
    amendment = _requested_amendment(policy, segments, prefix_rule, call.options,
                                     complex_parsing)
    if amendment is None and not rule_prompts and not complex_parsing:
        prompting = [s for s in segments if s.decision is not Decision.ALLOW]
        # Propose a rule only when allowing a command would settle the prompt.
        if not call.options.full_analysis or all(_amendable(s) for s in prompting):
            amendment = next((s.argv for s in prompting if s.heuristic is not None), None)
    return NeedsApproval(reason, amendment)


def _amendable(segment: SegmentVerdict) -> bool:
    """Whether an allow rule for this segment's words would allow it."""
    return (segment.kind == "command" and segment.literal and not segment.matches
            and segment.heuristic in (APPROVAL_POLICY, KNOWN_SAFE, DANGEROUS, FORCED_RM))


def _requested_amendment(policy: Policy, segments: list[SegmentVerdict],
                         prefix_rule: Sequence[str] | None, options: EngineOptions,
                         complex_parsing: bool) -> list[str] | None:
    """The model's suggested allow rule, if it is acceptable (spec §6.3): not
    empty, not a banned prefix, no rule matched already, the heredoc fallback
    not used, and with it every segment would be allowed."""
    if not prefix_rule or complex_parsing:
        return None
    tokens = list(prefix_rule)
    if banned_prefix(tokens, latest=options.latest_banned_prefixes):
        return None
    if any(s.matches for s in segments):
        return None
    if options.full_analysis and not all(_amendable(s) for s in segments
                                         if s.decision is not Decision.ALLOW):
        return None
    candidate = Policy(host_executables=policy.host_executables)
    candidate.add_prefix_rule(tokens, Decision.ALLOW)
    for segment in segments:
        if segment.decision is Decision.ALLOW:
            continue
        if not candidate.matches(segment.argv, resolve_host_executables=True):
            return None
    return tokens


def _allow_requirement(segments: list[SegmentVerdict], options: EngineOptions,
                       complex_parsing: bool) -> Skip:
    if options.bypass_every_segment:
        bypass = all(s.rule_decided for s in segments)
    else:
        bypass = any(s.rule_decided for s in segments)
    amendment = None
    if not complex_parsing and not any(s.matches for s in segments):
        amendment = next((s.argv for s in segments if s.heuristic is not None
                          and (not options.full_analysis or _amendable(s))), None)
    return Skip(bypass, amendment)
