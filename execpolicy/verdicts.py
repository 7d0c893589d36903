"""Verdicts on a fully analysed command (`execpolicy.script`): rules for
every command found, held to the argument grammars; heuristics where no
rule matched; and the effects no rule about programs covers.

The rules of the game, each closing a way around an allow rule:

* a rule matches only known words. A command with dynamic words is matched
  on the words before the first dynamic one; if a stricter rule could match
  once the dynamic words are known (``git $x`` and a forbidden
  ``git push``), the command needs approval;
* an allow rule covers the program, not arguments that make it run other
  programs or write outside the writable roots (`execpolicy.arg_limits`),
  nor dynamic words where the program's grammar cannot prove them harmless;
* a segment a rule did not decide alone (a heuristic, a limit, an effect)
  keeps the command in the sandbox: only rule-decided segments may bypass it;
* writes are checked against the writable roots after resolving symlinks
  that exist when the decision is made.
"""

from __future__ import annotations

import os
import posixpath

from .approval import ApprovalPolicy, SandboxKind
from .arg_limits import argument_hazards
from .decision import Decision, strictest
from .engine import (
    APPROVAL_POLICY,
    KNOWN_SAFE,
    SegmentVerdict,
    _Call,
    heuristic_verdict,
    known_safe_applies,
    unmatched_verdict,
)
from .known_safe import ALWAYS_SAFE_PROGRAMS, LINUX_ONLY_SAFE_PROGRAMS
from .rule import canonical_form
from .words import literal_argv, literal_prefix

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .policy import Policy
    from .rule import PrefixRule, RuleMatch
    from .script import Analysis, Effect, FoundCommand
    from .words import Word

# Heuristic names of full analysis, as shown in explanations.
ARGUMENT_LIMIT = "argument-limit"
DYNAMIC = "dynamic"
BUILTIN = "builtin"
FUNCTION = "function"
WRAPPER = "wrapper"
ELEVATION = "elevation"

_SAFE_WITH_ANY_ARGUMENTS = ALWAYS_SAFE_PROGRAMS | LINUX_ONLY_SAFE_PROGRAMS


def judge_analysis(policy: Policy, analysis: Analysis, call: _Call,
                   roots: list[str]) -> list[SegmentVerdict]:
    real_roots = _real_roots(roots)
    verdicts: list[SegmentVerdict] = []
    # A wrapper's allow rule that reaches into the command it runs
    # (`timeout 60 pytest` allowed as a whole) covers that command too.
    covering: dict[int, RuleMatch] = {}
    for index, found in enumerate(analysis.commands):
        verdict = _judge_command(policy, found, call, real_roots, covering)
        if verdict.rule_decided and verdict.decision is Decision.ALLOW:
            covering[index] = max(verdict.matches, key=lambda m: len(m.matched_prefix))
        verdicts.append(verdict)
    for effect in analysis.effects:
        judged = _judge_effect(effect, call, real_roots)
        if judged is not None:
            verdicts.append(judged)
    return verdicts


def _harmless(call: _Call) -> Decision:
    """The verdict on a part that does nothing by itself (a builtin, a
    function call, a wrapper): allowed, unless the call asks to leave the
    sandbox, which only rules may grant without asking."""
    if (call.approval_policy in (ApprovalPolicy.ON_REQUEST, ApprovalPolicy.GRANULAR)
            and call.sandbox is SandboxKind.RESTRICTED
            and call.sandbox_permissions.requests_override):
        return Decision.PROMPT
    return Decision.ALLOW


def _judge_command(policy: Policy, found: FoundCommand, call: _Call, roots: list[str],
                   covering: dict[int, RuleMatch]) -> SegmentVerdict:
    words = found.words
    shown = found.argv
    literal = literal_argv(words)
    context = found.context

    def verdict(decision: Decision, matches: list[RuleMatch], heuristic: str | None,
                reason: str | None = None) -> SegmentVerdict:
        return SegmentVerdict(shown, decision, matches, heuristic, reason=reason,
                              context=context, literal=literal is not None)

    program = words[0].text
    if program is None:
        return verdict(unmatched_verdict(call), [], DYNAMIC,
                       f"the program `{words[0].source}` is only known at run time")
    known = literal if literal is not None else literal_prefix(words)
    trusted = _trusted_path(program, found.cwds, roots)
    matches = policy.matches(known, resolve_host_executables=trusted)
    parent = found.parent
    if not matches and parent is not None and found.offset is not None:
        cover = covering.get(parent)
        if cover is not None and len(cover.matched_prefix) > found.offset:
            matches = [cover]
    decision = strictest([m.decision for m in matches])
    if literal is None:
        hidden = _rules_dynamic_words_may_match(policy, known)
        stricter = [r for r in hidden
                    if decision is None or r.decision.strictness > decision.strictness]
        if stricter:
            rule = stricter[0]
            return verdict(Decision.PROMPT, matches, DYNAMIC,
                           f"a word only known at run time may make the rule "
                           f"{_show_pattern(rule)} ({rule.decision.value}) apply")
    if decision is not None:
        if decision is Decision.ALLOW:
            # A wrapper's commands are judged on their own: limit its own
            # words, except for running them.
            if found.outer is not None:
                problem = _limit(found.outer, found.cwds, roots, wrapper=True)
            else:
                problem = _limit(words, found.cwds, roots)
            if problem is not None:
                return verdict(unmatched_verdict(call), matches, ARGUMENT_LIMIT, problem)
        return verdict(decision, matches, None)
    if found.role == "builtin":
        return verdict(_harmless(call), [], BUILTIN)
    if found.role == "function":
        return verdict(_harmless(call), [], FUNCTION)
    if found.wrapper is not None:
        if not trusted:
            return verdict(unmatched_verdict(call), [], APPROVAL_POLICY,
                           f"`{program}` could have been put there by a sandboxed command")
        if found.elevates:
            return verdict(unmatched_verdict(call), [], ELEVATION,
                           f"{found.wrapper} runs a command as another user")
        return verdict(_harmless(call), [], WRAPPER)
    if literal is not None:
        decision, heuristic = _heuristic(literal, call, known_safe=trusted)
        return verdict(decision, [], heuristic)
    # Dynamic arguments: known-safe only for programs safe with any arguments.
    name = posixpath.basename(program)
    if (trusted and name in _SAFE_WITH_ANY_ARGUMENTS
            and not argument_hazards(words) and known_safe_applies(call)):
        return verdict(Decision.ALLOW, [], KNOWN_SAFE)
    decision, heuristic = _heuristic(shown, call, known_safe=False)
    return verdict(decision, [], heuristic)


def _trusted_path(program: str, cwds: tuple[str | None, ...], roots: list[str]) -> bool:
    """Whether a program given by path may be matched by the rules for its
    bare name (spec §5.4). Not when the sandboxed command itself could have
    put it there: a path inside the writable roots (`./ls`, `/tmp/ls`) or
    relative to an unknown directory."""
    if "/" not in program:
        return True
    if roots == ["/"]:
        return True  # no sandbox: nothing is more trusted than anything else
    if not program.startswith("/") and None in cwds:
        return False
    return not any(_under_any(posixpath.normpath(posixpath.join(cwd or "/", program)), roots)
                   for cwd in cwds) and not _under_any(os.path.realpath(
                       posixpath.join(cwds[0] or "/", program)), roots)


def _no_script(_: object) -> None:
    return None


def _heuristic(argv: list[str], call: _Call, *, known_safe: bool) -> tuple[Decision, str]:
    # Nested shells were unwrapped by the analysis: none is split here.
    return heuristic_verdict(argv, call, known_safe=known_safe, split_script=_no_script,
                             extract_script=_no_script)


def _limit(words: list[Word], cwds: tuple[str | None, ...], roots: list[str], *,
           wrapper: bool = False) -> str | None:
    """Why an allow rule does not cover these arguments, or ``None``."""
    for hazard in argument_hazards(words):
        if wrapper and hazard.kind == "runs":
            continue
        if hazard.kind != "writes":
            return hazard.reason
        if hazard.path is None or not _word_inside(hazard.path, cwds, roots):
            return hazard.reason
    return None


def _word_inside(path: Word, cwds: tuple[str | None, ...], roots: list[str]) -> bool:
    """Whether every file ``path`` can name is inside the writable roots. A
    dynamic path qualifies when only globs or braces follow its known
    directory (``src/*.py``, ``src/{a,b}``): they cannot add a ``/`` or
    ``..``, so every match sits in that directory. (Symlinks among the
    matches are not resolved at decision time.)"""
    if path.text is not None:
        return _inside(path.text, cwds, roots)
    source, prefix = path.source, path.prefix
    if "$" in source or "`" in source or "/" not in prefix or source.startswith("~"):
        return False
    if source.count("/") != prefix.count("/") or source.count("..") != prefix.count(".."):
        return False
    directory = prefix[: prefix.rfind("/") + 1]
    return _inside(directory or ".", cwds, roots)


def _judge_effect(effect: Effect, call: _Call, roots: list[str]) -> SegmentVerdict | None:
    if effect.kind == "write":
        path = effect.path
        if path is not None and _word_inside(path, effect.cwds, roots):
            return None
        if path is None or path.text is None:
            where = "whose name is only known at run time"
        elif path.text.startswith("/") or None not in effect.cwds:
            where = "outside the writable roots"
        else:
            where = "in a directory only known at run time"
        reason = f"{effect.reason} {where}"
        shown = [effect.reason.split("`")[1] if "`" in effect.reason else effect.reason]
    else:
        reason = effect.reason
        shown = [effect.reason]
    return SegmentVerdict(shown, unmatched_verdict(call), [], effect.kind, kind=effect.kind,
                          reason=reason, context=effect.context, literal=False)


_REAL_ROOTS: dict[tuple[str, ...], list[str]] = {}


def _real_roots(roots: list[str]) -> list[str]:
    """The roots as given and with their symlinks resolved (cached: the
    roots of a session do not move)."""
    key = tuple(roots)
    cached = _REAL_ROOTS.get(key)
    if cached is None:
        if len(_REAL_ROOTS) > 64:
            _REAL_ROOTS.clear()
        cached = _REAL_ROOTS[key] = _resolve_roots(roots)
    return cached


def _resolve_roots(roots: list[str]) -> list[str]:
    real = []
    for root in roots:
        if root == "/":
            return ["/"]
        real.append(posixpath.normpath(root))
        resolved = os.path.realpath(root)
        if resolved != root:
            real.append(resolved)
    return real


def _inside(path: str, cwds: tuple[str | None, ...], roots: list[str]) -> bool:
    """Whether ``path``, from every directory it may be resolved in, lands
    inside a writable root, following the symlinks that exist now."""
    if roots == ["/"]:
        return True
    if path == "/dev/null":
        return True
    if not roots or path.startswith("~"):
        return False
    for cwd in cwds if not path.startswith("/") else ("/",):
        if cwd is None:
            return False
        absolute = posixpath.normpath(posixpath.join(cwd, path))
        if not _under_any(absolute, roots) or not _under_any(os.path.realpath(absolute),
                                                             roots):
            return False
    return True


def _under_any(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def _rules_dynamic_words_may_match(policy: Policy, known: list[str]) -> list[PrefixRule]:
    """Rules that need more words than are known, and match the known ones:
    the dynamic words may complete them."""
    if not known:
        return []
    found = []
    program = known[0]
    candidates = policy.rules_for(program)
    if "/" in program:
        candidates = candidates + policy.rules_for(posixpath.basename(program))
    for rule in candidates:
        if len(rule.rest) + 1 <= len(known):
            continue
        if _matches_known(rule, known):
            found.append(rule)
    return found


def _matches_known(rule: PrefixRule, known: list[str]) -> bool:
    for index, token in enumerate(rule.rest, 1):
        if index >= len(known):
            return True
        got = known[index]
        if rule.canonical_matching:
            want = {canonical_form(t) for t in ((token,) if isinstance(token, str) else token)}
            if canonical_form(got) not in want:
                return False
        elif got != token if isinstance(token, str) else got not in token:
            return False
    return True


def _show_pattern(rule: PrefixRule) -> str:
    tokens = [rule.program, *(t if isinstance(t, str) else "|".join(t) for t in rule.rest)]
    return "`" + " ".join(tokens) + "`"
