"""`execguard execpolicy decide` and `execguard execpolicy test`: the decision
engine from a terminal, and a corpus check for policy authors' CI."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .approval import escalation_refusal
from .engine import VARIANTS, Assessment, assess
from .error import PolicyError
from .policy import Policy

APPROVAL_POLICIES = ("untrusted", "on-failure", "on-request", "never", "granular")
SANDBOXES = ("read-only", "workspace-write", "danger-full-access", "external-sandbox")


def _policy_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-r", "--rules", action="append", default=[], metavar="PATH",
                        help="rules file (repeatable; loaded after any discovered rules)")
    parser.add_argument("--discover", action="store_true",
                        help="load the discovered rules (shipped, user, trusted project)")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="default",
                        help="engine behaviour: execguard's default, or a Codex variant")
    parser.add_argument("--cwd", default=None, metavar="DIR",
                        help="where the command runs (default: the current directory); "
                             "with workspace-write, it and /tmp are writable")


def _cwd(options: argparse.Namespace) -> str:
    import os

    return os.path.abspath(options.cwd) if options.cwd else os.getcwd()


def _load(options: argparse.Namespace) -> Policy:
    from .load import load_policy

    files = list(options.rules)
    if options.discover:
        from .discovery import discovered_files

        files = [*discovered_files(), *files]
    return load_policy(files)


def decide_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="execguard execpolicy decide",
        description="Decide whether a command may run, needs approval, or is forbidden.")
    _policy_options(parser)
    parser.add_argument("-a", "--approval-policy", choices=APPROVAL_POLICIES,
                        default="on-request")
    parser.add_argument("-s", "--sandbox", choices=SANDBOXES, default="workspace-write")
    parser.add_argument("--escalate", action="store_true",
                        help="the call asks to run outside the sandbox (require_escalated)")
    parser.add_argument("--prefix-rule", nargs="+", metavar="TOKEN",
                        help="the model's suggested allow rule")
    parser.add_argument("--explain", action="store_true", help="print a readable explanation")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command (after --)")
    options = parser.parse_args(argv)
    command = options.command[1:] if options.command[:1] == ["--"] else options.command
    if not command:
        parser.error("a command is required")
    permissions = "require_escalated" if options.escalate else "use_default"
    refusal = escalation_refusal(options.approval_policy, permissions)
    if refusal is not None:
        sys.stderr.write(f"error: {refusal}\n")
        return 2
    try:
        policy = _load(options)
    except PolicyError as error:
        sys.stderr.write(f"Error: {error}\n")
        return 1
    result = assess(policy, command, approval_policy=options.approval_policy,
                    sandbox=options.sandbox, sandbox_permissions=permissions,
                    prefix_rule=options.prefix_rule, options=VARIANTS[options.variant],
                    cwd=_cwd(options))
    if options.explain:
        sys.stdout.write(explain(result))
    else:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
    return 0


def explain(result: Assessment) -> str:
    """A readable account of an assessment: the outcome, then each segment."""
    from .render import render_command

    requirement = result.requirement.to_json()
    lines = []
    if requirement["type"] == "forbidden":
        lines.append(f"forbidden: {requirement['reason']}")
    elif requirement["type"] == "needsApproval":
        lines.append("needs approval" + (f": {requirement['reason']}"
                                         if requirement["reason"] else ""))
    else:
        where = "outside the sandbox" if requirement["bypassSandbox"] else "in the sandbox"
        lines.append(f"runs without asking, {where}")
    amendment = requirement.get("proposedExecpolicyAmendment")
    if amendment:
        lines.append(f"proposed rule: prefix_rule({json.dumps(amendment)}, \"allow\")")
    if result.used_complex_parsing:
        lines.append("note: judged by the command before a heredoc (heredoc fallback)")
    for number, segment in enumerate(result.segments, 1):
        shown = render_command(segment.argv)
        lines.append(f"segment {number}: {shown}")
        if segment.matches:
            for match in segment.matches:
                rule = render_command(match.matched_prefix)
                why = f" ({match.justification})" if match.justification else ""
                lines.append(f"  rule `{rule}` -> {match.decision.value}{why}")
        elif segment.kind != "command":
            lines.append(f"  {segment.kind} -> {segment.decision.value}")
        else:
            lines.append(f"  no rule; heuristic {segment.heuristic} -> {segment.decision.value}")
        if segment.matches and segment.heuristic is not None:
            lines.append(f"  but {segment.heuristic} -> {segment.decision.value}")
        if segment.reason:
            lines.append(f"  why: {segment.reason}")
        if segment.context:
            lines.append(f"  found in: {segment.context}")
    return "\n".join(lines) + "\n"


def test_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="execguard execpolicy test",
        description="Check a corpus of commands against expected decisions. Each line of the "
                    "JSONL corpus: {\"command\": [...] or \"script\": \"...\", \"expect\": "
                    "\"allow\"|\"prompt\"|\"forbidden\"|\"skip\"|\"needsApproval\", optional "
                    "\"approvalPolicy\", \"sandbox\", \"escalate\"}. Exits 1 on any mismatch.")
    _policy_options(parser)
    parser.add_argument("-a", "--approval-policy", choices=APPROVAL_POLICIES,
                        default="on-request", help="default for lines that set none")
    parser.add_argument("-s", "--sandbox", choices=SANDBOXES, default="workspace-write",
                        help="default for lines that set none")
    parser.add_argument("corpus")
    options = parser.parse_args(argv)
    try:
        policy = _load(options)
    except PolicyError as error:
        sys.stderr.write(f"Error: {error}\n")
        return 1
    try:
        with open(options.corpus, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        sys.stderr.write(f"Error: cannot read {options.corpus}: {error}\n")
        return 1
    failures = checked = 0
    cwd = _cwd(options)
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            case = _corpus_case(json.loads(line))
        except (ValueError, TypeError) as error:
            sys.stderr.write(f"{options.corpus}:{number}: invalid case: {error}\n")
            return 1
        command, expect, approval, sandbox, escalate = case
        result = assess(policy, command, approval_policy=approval or options.approval_policy,
                        sandbox=sandbox or options.sandbox,
                        sandbox_permissions="require_escalated" if escalate else "use_default",
                        options=VARIANTS[options.variant], cwd=cwd)
        got = (result.decision.value if expect in ("allow", "prompt", "forbidden")
               else result.requirement.kind)
        checked += 1
        if got != expect:
            failures += 1
            shown = json.dumps(command, ensure_ascii=False)
            sys.stdout.write(f"{options.corpus}:{number}: {shown}: expected {expect}, got {got}\n")
            sys.stdout.write("".join("    " + x + "\n" for x in explain(result).splitlines()))
    sys.stdout.write(f"{checked - failures} passed, {failures} failed\n")
    return 1 if failures else 0


def _corpus_case(case: object) -> tuple[list[str], str, str | None, str | None, bool]:
    if not isinstance(case, dict):
        raise TypeError("a case is a JSON object")
    if "command" in case:
        command = case["command"]
        if not (isinstance(command, list) and command and all(isinstance(t, str)
                                                              for t in command)):
            raise TypeError("command must be a non-empty list of strings")
    elif isinstance(case.get("script"), str):
        command = ["bash", "-lc", case["script"]]
    else:
        raise TypeError("a case needs command (list) or script (string)")
    expect = case.get("expect")
    if expect not in ("allow", "prompt", "forbidden", "skip", "needsApproval"):
        raise ValueError(f"expect must be allow, prompt, forbidden, skip or needsApproval: "
                         f"{expect!r}")
    approval = _optional(case, "approvalPolicy", APPROVAL_POLICIES)
    sandbox = _optional(case, "sandbox", SANDBOXES)
    escalate = case.get("escalate", False)
    if not isinstance(escalate, bool):
        raise TypeError("escalate must be true or false")
    return command, expect, approval, sandbox, escalate


def _optional(case: dict[str, object], key: str, allowed: Sequence[str]) -> str | None:
    value = case.get(key)
    if value is None:
        return None
    if value not in allowed:
        raise ValueError(f"{key} must be one of {', '.join(allowed)}: {value!r}")
    return str(value)
