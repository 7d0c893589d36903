"""`execguard run`: one shell tool call from a terminal.

Shows the decision and why, asks when a person must decide, streams the
command's output live and ends with a one-line summary:

    $ execguard run -- git push origin main
    execguard: needs approval: `git push origin main` requires approval: ...
    ...
    Run it? [y]es / [a]lways (add the rule) / [n]o: y
    ...
    execguard: completed · exit 0 · 0.42 s · sandbox: bubblewrap (workspace-write)

Exit status: the command's own when it ran; 126 when it was forbidden or
declined; 1 when execguard could not set up (bad rules, no sandbox); 2 for
usage errors; 130 when interrupted (Ctrl-C) while running.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import sys
from typing import IO, Any

from ..execpolicy.render import render_command
from .approvals import ApprovalAnswer
from .shell_tool import ApprovalRequest, ShellToolSession, ToolCall, ToolCallError, ToolResult

__all__ = ["main"]

APPROVAL_POLICIES = ("untrusted", "on-failure", "on-request", "never")
SANDBOXES = ("read-only", "workspace-write", "danger-full-access")
NOT_RUN_EXIT = 126
INTERRUPTED_EXIT = 130
_SHELL_CHARACTERS = frozenset(" \t\n|&;<>()$`\\\"'*?[]#~=%{}")

DESCRIPTION = """\
Run COMMAND the way an agent's shell tool call runs: decided by the execpolicy rules
(default: the shipped policy plus your user and trusted project rules), approved by you
when a rule or the approval policy asks, run in the sandbox, with a retry outside it
offered after a sandbox denial when the approval policy allows one.

A single argument that contains spaces or shell syntax is a script, run with `bash -lc`:
  execguard run 'cargo build && cargo test'
"""

EPILOG = """\
answers: y = run it this once; a = always: run it and add the proposed allow rule to
the rules file (offered when there is one); n = do not run it. Ctrl-C cancels.
exit status: the command's own; 126 forbidden or declined; 1 setup error; 2 usage;
130 interrupted.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="execguard run", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-a", "--approval-policy", choices=APPROVAL_POLICIES,
                        default="on-request",
                        help="when to ask (default: on-request: only for rules that say "
                             "prompt and for --escalate)")
    parser.add_argument("-s", "--sandbox", choices=SANDBOXES, default="workspace-write",
                        help="default: workspace-write (the working directory and /tmp "
                             "are writable, no network)")
    parser.add_argument("--network", action="store_true",
                        help="let the sandboxed command use the network")
    parser.add_argument("--writable-root", action="append", default=[], metavar="DIR",
                        help="another writable directory (workspace-write; repeatable)")
    parser.add_argument("--escalate", action="store_true",
                        help="ask to run outside the sandbox (on-request only)")
    parser.add_argument("--justification", metavar="TEXT",
                        help="why the command is needed (shown when asking)")
    parser.add_argument("--prefix-rule", metavar="TOKENS",
                        help="a suggested allow rule, as words (\"cargo install\")")
    parser.add_argument("-r", "--rules", action="append", default=[], metavar="PATH",
                        help="decide by these rules files instead of the discovered ones "
                             "(repeatable)")
    parser.add_argument("--rules-file", metavar="PATH",
                        help="where 'always' writes the allow rule (default: the user "
                             "rules file)")
    parser.add_argument("-C", "--cd", metavar="DIR", help="run in DIR (default: here)")
    parser.add_argument("--timeout-ms", type=int, metavar="MS",
                        help="kill the command after MS milliseconds (default: none)")
    parser.add_argument("--audit-log", metavar="PATH",
                        help="append every decision, approval and run as JSON lines")
    parser.add_argument("--audit-output", action="store_true",
                        help="with --audit-log: also record the command's output")
    parser.add_argument("--backend", metavar="NAME",
                        help="force a sandbox backend (bwrap, landlock)")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="the command and its arguments (after --), or one script")
    return parser


def _command(words: list[str]) -> list[str] | str:
    """The argv, or a script when one argument holds shell syntax."""
    if words[:1] == ["--"]:
        words = words[1:]
    if len(words) == 1 and any(c in _SHELL_CHARACTERS for c in words[0]):
        return words[0]
    return words


def _sandbox_policy(options: argparse.Namespace, cwd: str) -> dict[str, object]:
    if options.sandbox == "danger-full-access":
        return {"type": "dangerFullAccess"}
    if options.sandbox == "read-only":
        return {"type": "readOnly", "networkAccess": options.network}
    roots = [os.path.abspath(os.path.join(cwd, root)) for root in options.writable_root]
    return {"type": "workspaceWrite", "writableRoots": roots,
            "networkAccess": options.network}


def main(argv: list[str]) -> int:
    parser = _parser()
    options = parser.parse_args(argv)
    command = _command(options.command)
    if not command:
        parser.error("a COMMAND to run is required")
    if options.sandbox == "danger-full-access" and (options.network or options.writable_root):
        parser.error("--network and --writable-root do not apply to danger-full-access")
    if options.audit_output and not options.audit_log:
        parser.error("--audit-output only applies with --audit-log")
    if options.timeout_ms is not None and options.timeout_ms < 0:
        parser.error("--timeout-ms must not be negative")
    try:
        return asyncio.run(_run(options, command))
    except KeyboardInterrupt:
        return INTERRUPTED_EXIT


def _say(line: str) -> None:
    sys.stderr.write(f"execguard: {line}\n")
    sys.stderr.flush()


async def _run(options: argparse.Namespace, command: list[str] | str) -> int:
    from ..execpolicy import PolicyError
    from ..execpolicy.discovery import load_discovered_policy, user_rules_file
    from ..execpolicy.load import load_policy
    from .audit import AuditLog, AuditLogError

    cwd = os.path.abspath(options.cd) if options.cd else os.getcwd()
    try:
        policy = (load_policy(options.rules) if options.rules
                  else load_discovered_policy(cwd))
    except PolicyError as error:
        _say(f"error: {error}")
        return 1
    audit_log = None
    if options.audit_log:
        try:
            audit_log = AuditLog(options.audit_log, include_output=options.audit_output)
        except AuditLogError as error:
            _say(f"error: {error}")
            return 1
    terminal = _Terminal(sys.stdin if sys.stdin.isatty() else None)
    session = ShellToolSession(
        policy, approve=terminal.ask if terminal.interactive else None,
        rules_file=options.rules_file or str(user_rules_file()), audit_log=audit_log,
        backend=options.backend)
    call = ToolCall(
        command=command, cwd=cwd, approval_policy=options.approval_policy,
        sandbox_policy=_sandbox_policy(options, cwd),
        sandbox_permissions="require_escalated" if options.escalate else "use_default",
        justification=options.justification,
        prefix_rule=shlex.split(options.prefix_rule) if options.prefix_rule else None,
        timeout_ms=options.timeout_ms, output_cap=None)
    loop = asyncio.get_running_loop()
    cancel = asyncio.Event()
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        cancel.set()

    loop.add_signal_handler(signal.SIGINT, interrupt)
    loop.add_signal_handler(signal.SIGTERM, interrupt)
    try:
        result = await session.run(call, on_output=_write_output, on_event=terminal.show,
                                   cancel=cancel)
    except ToolCallError as error:
        _say(f"error: {error}")
        return 2
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)
        if audit_log is not None:
            audit_log.close()
    _say(summary(result, call))
    if result.status == "failed" and result.attempts and result.attempts[-1].denial \
            and options.approval_policy in ("on-request", "never") and not options.escalate:
        _say("to run it outside the sandbox: --escalate (asks first), or -a on-failure "
             "to be offered a retry")
    if result.exit_code is None or result.status in ("declined", "forbidden"):
        return INTERRUPTED_EXIT if interrupted else NOT_RUN_EXIT
    if interrupted:
        return INTERRUPTED_EXIT
    return result.exit_code if result.exit_code is not None else 1


def _write_output(stream: str, data: bytes) -> None:
    target: IO[bytes] = sys.stdout.buffer if stream == "stdout" else sys.stderr.buffer
    target.write(data)
    target.flush()


# -- what the person sees -------------------------------------------------------------


def _why(event: dict[str, Any]) -> str:
    """Which rules or heuristics decided, e.g. ``rule `git push` → prompt``."""
    parts = []
    for segment in event.get("segments", []):
        shown = render_command(segment["argv"])
        rules = segment.get("matchedRules") or []
        if rules and segment.get("heuristic") is None:
            for match in rules:
                body = match.get("prefixRuleMatch") or {}
                prefix = render_command(body.get("matchedPrefix", []))
                parts.append(f"rule `{prefix}` → {body.get('decision')}")
        elif segment.get("kind", "command") != "command":
            reason = segment.get("reason") or segment["kind"]
            parts.append(f"{reason} → {segment['decision']}")
        else:
            heuristic = segment.get("heuristic")
            label = _HEURISTICS.get(heuristic or "", heuristic or "no rule")
            parts.append(f"`{shown}`: {label} → {segment['decision']}")
    return "; ".join(dict.fromkeys(parts))


# How the engine's heuristics read in a sentence.
_HEURISTICS = {"known-safe": "known safe", "approval-policy": "no rule",
               "forced-rm": "forced rm", "argument-limit": "outside the rule's arguments",
               "dynamic": "words known only at run time"}


def _where(sandbox: str | None, policy: dict[str, Any]) -> str:
    if sandbox is None:
        return "outside the sandbox"
    return f"in the sandbox ({_policy_name(policy)}, {sandbox})"


def _policy_name(policy: dict[str, Any]) -> str:
    return {"workspaceWrite": "workspace-write", "readOnly": "read-only",
            "dangerFullAccess": "danger-full-access",
            "externalSandbox": "external-sandbox"}.get(str(policy.get("type")), "?")


def summary(result: ToolResult, call: ToolCall) -> str:
    """The closing line: status, exit code, duration, sandbox."""
    parts: list[str] = [result.status]
    if result.exit_code is not None:
        parts.append(f"exit {result.exit_code}")
    if result.attempts:
        parts.append(f"{result.duration_ms / 1000:.2f} s")
        last = result.attempts[-1]
        policy = _policy_name(dict(call.sandbox_policy or {}))
        parts.append(f"sandbox: {last.sandbox} ({policy})" if last.sandbox
                     else "no sandbox")
    line = " · ".join(parts)
    if result.reason:
        line += f": {result.reason}"
    return line


class _Terminal:
    """Prints the flow's steps and asks questions on the controlling terminal."""

    def __init__(self, stdin: IO[str] | None) -> None:
        self._stdin = stdin

    @property
    def interactive(self) -> bool:
        return self._stdin is not None

    def show(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "decision":
            requirement = event["requirement"]
            why = _why(event)
            if requirement["type"] == "forbidden":
                _say("forbidden" + (f" ({why})" if why else ""))
            elif requirement["type"] == "needsApproval":
                _say("needs approval" + (f" ({why})" if why else ""))
            else:
                where = ("outside the sandbox" if requirement["bypassSandbox"]
                         else "in the sandbox")
                _say(f"allowed, runs {where}" + (f" ({why})" if why else ""))
        elif kind == "approval" and event.get("source") == "session":
            _say("approved earlier in this session")
        elif kind == "approval" and event.get("source") == "none":
            _say("approval needed, but nobody can be asked (stdin is not a terminal): "
                 "declined")
        elif kind == "amendment":
            where = event.get("rulesFile") or "this session"
            if event.get("error"):
                _say(f"could not write the rule to {where}: {event['error']}")
            else:
                _say(f"added to {where}: prefix_rule({_tokens(event['tokens'])}, "
                     "decision=\"allow\")")
        elif kind == "runStarted":
            _say(f"running {_where(event['sandbox'], event['sandboxPolicy'])}")
        elif kind == "runEnded" and event.get("denial"):
            _say(f"{event['denial']}")
        elif kind == "retry":
            _say("retrying outside the sandbox")

    async def ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        amendment = request.proposed_amendment
        if request.kind == "retry":
            _say("the command failed in the sandbox")
        lines = [f"  command: {render_command(request.command)}", f"  cwd:     {request.cwd}"]
        if request.reason:
            lines.insert(0, f"  reason:  {request.reason}")
        actions = [a.to_json() for a in request.actions]
        if actions and any(a["type"] != "unknown" for a in actions):
            lines.append("  does:    " + "; ".join(
                f"{a['type']} {a.get('path') or a.get('query') or a['command']}"
                for a in actions))
        lines.append("  runs:    " + ("in the sandbox" if request.sandboxed
                                      else "OUTSIDE the sandbox"))
        if amendment:
            lines.append(f"  always:  adds prefix_rule({_tokens(amendment)}, "
                         "decision=\"allow\")")
        sys.stderr.write("\n".join(lines) + "\n")
        question = "Retry without the sandbox?" if request.kind == "retry" else "Run it?"
        choices = "[y]es / [a]lways / [n]o" if amendment else "[y]es / [n]o"
        while True:
            sys.stderr.write(f"{question} {choices}: ")
            sys.stderr.flush()
            line = await self._read_line()
            if line is None:
                sys.stderr.write("\n")
                return "decline"
            answer = line.strip().lower()
            if answer in ("y", "yes"):
                return "accept"
            if answer in ("a", "always") and amendment:
                return ("amend", list(amendment))
            if answer in ("n", "no", ""):
                return "decline"
            sys.stderr.write(f"please answer {choices.replace(' / ', ', ')}\n")

    async def _read_line(self) -> str | None:
        """One line from the terminal without blocking the event loop (so
        Ctrl-C still cancels); ``None`` at end of input."""
        assert self._stdin is not None
        fd = self._stdin.fileno()
        loop = asyncio.get_running_loop()
        chunks: list[bytes] = []
        while True:
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _resolve, ready)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
            data = os.read(fd, 1024)
            if not data:
                return None
            chunks.append(data)
            if data.endswith(b"\n"):
                return b"".join(chunks).decode("utf-8", "replace")


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _tokens(tokens: list[str]) -> str:
    import json

    return json.dumps(tokens, ensure_ascii=False)
