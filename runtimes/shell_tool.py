"""The shell tool flow: what an agent's core does with every shell tool call
(decision_engine spec §9).

    session = ShellToolSession(policy, approve=ask_the_user, rules_file=path)
    result = await session.run(ToolCall(["cargo", "build"], cwd="/work"))
    result.status        # "completed" | "failed" | "declined" | "forbidden"

One call goes:

1. **decide**: the execpolicy engine judges the command under the call's
   approval and sandbox policies (a call asking to leave the sandbox under
   any approval policy but ``on-request`` is refused first, spec §1.3);
2. **forbidden** → the command never starts;
3. **needs approval** → unless this session already approved the same
   command here (``acceptForSession``), the approver is asked, with the
   reason, a summary of what the command does and the allow rule that would
   stop such prompts. ``decline``/``cancel`` → it never starts; an accepted
   amendment is written to the rules file and applies at once;
4. **run**: in the call's sandbox, or outside it when the call asked for
   escalation (and was approved) or rules allow every part of the command;
   output streams to the caller as it comes. If no sandbox can enforce the
   policy here, the command does not run (fail closed);
5. **retry**: when the sandbox most likely caused a failure and the approval
   policy lets a person lift it (``untrusted``, ``on-failure``, ``granular``
   with sandbox approvals), the approver is asked "command failed; retry
   without sandbox?" (not again when this call was already approved), and an
   accepted retry runs unsandboxed. Under ``on-request`` the failure goes back
   to the caller, who may re-issue the call with ``require_escalated``.

Every step is reported as an event (a JSON-able dict) to the caller's
``on_event`` and to the :class:`AuditLog`, which never records the command's
output unless told to.

Cancelling: set the ``cancel`` event passed to :meth:`ShellToolSession.run`;
a pending question is dropped (declined) and a running command is killed
with its whole process group, and the call returns with ``cancelled`` set.
Cancelling the task that awaits ``run`` also kills the command (the
``CancelledError`` propagates).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from ..execpolicy import (
    ApprovalPolicy,
    Assessment,
    CommandAction,
    Forbidden,
    GranularApproval,
    NeedsApproval,
    Policy,
    SandboxPermissions,
    Skip,
    assess,
    escalation_refusal,
    summarize_command,
)
from ..execpolicy.decision import Decision
from ..execpolicy.shell import extract_shell_script, parse_plain_commands
from ..sandbox import classify_violation
from ..sandbox.denial import explain
from .api import (
    DEFAULT_OUTPUT_CAP,
    DEFAULT_TIMEOUT_MS,
    ExecResult,
    ExecSpec,
    SandboxRequest,
    SpawnError,
)
from .approvals import ApprovalAnswer, Approver, ask
from .audit import AuditLog
from .process import spawn
from .sandboxing import (
    SandboxUnavailable,
    confined,
    normalize_policy,
    prepare,
    writable_roots,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .network_session import NetworkSession

__all__ = [
    "REJECTED_BY_USER",
    "RETRY_REASON",
    "ApprovalRequest",
    "Attempt",
    "ShellToolSession",
    "ToolCall",
    "ToolCallError",
    "ToolResult",
    "approval_key",
]

log = logging.getLogger(__name__)

RETRY_REASON = "command failed; retry without sandbox?"
REJECTED_BY_USER = "rejected by user"
NOBODY_TO_ASK = "approval required, but no approver is configured"
SANDBOX_DENIED_HINT = ("the sandbox most likely blocked this command, and the approval "
                       "policy offers no retry outside it")
RETAINED_WITHOUT_CAP = DEFAULT_OUTPUT_CAP
DEFAULT_SANDBOX: dict[str, object] = {"type": "workspaceWrite"}
_UNSANDBOXED: dict[str, object] = {"type": "dangerFullAccess"}

Status: TypeAlias = Literal["completed", "failed", "declined", "forbidden"]
# Output to the caller as it comes: (stream "stdout"|"stderr", bytes).
OutputListener: TypeAlias = Callable[[str, bytes], Awaitable[None] | None]
EventListener: TypeAlias = Callable[[dict[str, Any]], None]


class ToolCallError(ValueError):
    """The call itself is malformed; the message names the field."""


@dataclass(frozen=True)
class ToolCall:
    """One shell tool call.

    ``command``: the argv, or a script string (run as ``[shell, "-lc",
    script]``). ``sandbox_policy``: Codex's JSON shape (``{"type":
    "workspaceWrite", ...}``), default workspace-write in ``cwd``.
    ``sandbox_permissions``: ``use_default`` or ``require_escalated`` (run
    outside the sandbox, after approval; only under ``on-request``).
    ``justification``: shown to the person when the rules give no reason.
    ``prefix_rule``: the model's suggested allow rule. ``env``: the complete
    environment (default: this process's). ``output_cap``: bytes per stream
    streamed and kept (``None``: everything streams, the result keeps the
    first MiB of each stream).
    """

    command: Sequence[str] | str
    cwd: str
    approval_policy: str = "on-request"
    sandbox_policy: Mapping[str, object] | None = None
    sandbox_permissions: str = "use_default"
    justification: str | None = None
    prefix_rule: Sequence[str] | None = None
    granular: GranularApproval | None = None
    env: Mapping[str, str] | None = None
    timeout_ms: int | None = DEFAULT_TIMEOUT_MS
    output_cap: int | None = DEFAULT_OUTPUT_CAP
    shell: str = "bash"


@dataclass(frozen=True)
class ApprovalRequest:
    """What the approver is asked. ``kind`` is ``"command"`` (may it run?)
    or ``"retry"`` (it failed in the sandbox: run it again outside?).
    ``reason`` is the rules' reason, else the call's justification (for a
    retry, :data:`RETRY_REASON`); ``actions`` what the command does, for
    display; ``proposed_amendment`` the allow rule (tokens) that would stop
    such prompts; ``sandboxed`` whether an accepted run stays in the sandbox."""

    kind: Literal["command", "retry"]
    command: list[str]
    cwd: str
    reason: str | None
    actions: list[CommandAction]
    proposed_amendment: list[str] | None
    sandboxed: bool
    call_id: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "command": self.command, "cwd": self.cwd,
                "reason": self.reason, "commandActions": [a.to_json() for a in self.actions],
                "proposedExecpolicyAmendment": self.proposed_amendment,
                "sandboxed": self.sandboxed}


@dataclass(frozen=True)
class Attempt:
    """One run of the command. ``sandbox`` is the backend that confined it
    (``None``: none); ``denial`` says what the sandbox most likely denied."""

    sandbox: str | None
    exit_code: int
    duration_ms: int
    timed_out: bool = False
    terminated: bool = False
    denial: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"sandbox": self.sandbox, "exitCode": self.exit_code,
                "durationMs": self.duration_ms, "timedOut": self.timed_out,
                "terminated": self.terminated, "denial": self.denial}


@dataclass(frozen=True)
class ToolResult:
    """How a tool call ended.

    ``status``: ``completed`` (ran, exit 0), ``failed`` (ran and failed, timed
    out or was cancelled, or could not start), ``declined`` (a person said no
    or cancelled), ``forbidden`` (the policy refused it; it never started).
    ``exit_code``, ``stdout``, ``stderr`` are the last attempt's (``None`` /
    empty when nothing ran); ``duration_ms`` the time spent running.
    ``assessment`` is the decision and why (every segment's rule or
    heuristic); ``reason`` says why it did not run or failed when the
    output cannot; ``denials`` lists what the sandbox (and the network proxy)
    blocked; ``approvals`` every question's answer in order;
    ``amendment`` the rule added by this call; ``cancelled``: the caller or
    the person cancelled (stop the turn).
    """

    call_id: str
    status: Status
    command: list[str]
    exit_code: int | None
    stdout: bytes
    stderr: bytes
    duration_ms: int
    assessment: Assessment | None
    reason: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    denials: list[str] = field(default_factory=list)
    approvals: list[tuple[str, ApprovalAnswer | Literal["cached"]]] = field(default_factory=list)
    amendment: list[str] | None = None
    cancelled: bool = False

    @property
    def sandbox(self) -> str | None:
        """The backend of the last attempt (``None``: unsandboxed or none ran)."""
        return self.attempts[-1].sandbox if self.attempts else None

    @property
    def output(self) -> str:
        """stdout then stderr as text (invalid UTF-8 replaced)."""
        return (self.stdout + self.stderr).decode("utf-8", "replace")

    def to_json(self, *, include_output: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "callId": self.call_id, "status": self.status, "command": self.command,
            "exitCode": self.exit_code, "durationMs": self.duration_ms,
            "reason": self.reason, "sandbox": self.sandbox, "cancelled": self.cancelled,
            "decision": self.assessment.to_json() if self.assessment is not None else None,
            "attempts": [a.to_json() for a in self.attempts],
            "denials": self.denials,
            "approvals": [{"kind": kind, "answer": _answer_json(answer)}
                          for kind, answer in self.approvals],
            "amendment": self.amendment,
        }
        if include_output:
            body["stdout"] = self.stdout.decode("utf-8", "replace")
            body["stderr"] = self.stderr.decode("utf-8", "replace")
        return body


def _answer_json(answer: ApprovalAnswer | Literal["cached"]) -> object:
    if isinstance(answer, tuple):
        return {"acceptWithExecpolicyAmendment": {"execpolicy_amendment": answer[1]}}
    return answer


def _refusal(answer: ApprovalAnswer | None) -> str | None:
    """Why the command must not run after ``answer`` (``None``: nobody could
    be asked), or ``None`` when the answer accepts."""
    if answer is None:
        return NOBODY_TO_ASK
    if answer in ("decline", "cancel"):
        return REJECTED_BY_USER
    return None


def approval_key(command: Sequence[str], cwd: str, sandbox_permissions: str
                 ) -> tuple[object, ...]:
    """What an ``acceptForSession`` approves (spec §9 item 3): the command,
    where it runs and what it asked of the sandbox. A shell wrapper whose
    script is one plain command is keyed by that command (``bash -lc "npm
    test"`` and ``/bin/bash -lc "npm test"`` are the same approval); any
    other script by the shell, flag and script text, so an approval of one
    shell's script never covers another program posing as a shell."""
    argv = list(command)
    script = extract_shell_script(argv, exact_wrappers=True)
    if script is not None:
        commands = parse_plain_commands(script, literal_words=True)
        if commands is not None and len(commands) == 1:
            canonical: tuple[str, ...] = tuple(commands[0])
        else:
            canonical = ("__shell_script__", *argv)
    else:
        canonical = tuple(argv)
    return (canonical, os.path.normpath(cwd), sandbox_permissions)


def wants_retry_approval(approval_policy: ApprovalPolicy, granular: GranularApproval) -> bool:
    """Whether a person may lift the sandbox after a denial (spec §9 item 6)."""
    if approval_policy is ApprovalPolicy.GRANULAR:
        return granular.sandbox_approval
    return approval_policy in (ApprovalPolicy.UNTRUSTED, ApprovalPolicy.ON_FAILURE)


@dataclass
class _Checked:
    """A call whose fields passed the checks, with the defaults applied."""

    argv: list[str]
    cwd: str
    approval_policy: ApprovalPolicy
    sandbox_policy: dict[str, object]
    permissions: SandboxPermissions
    granular: GranularApproval
    env: dict[str, str]


def _check(call: ToolCall) -> _Checked:
    command = call.command
    if isinstance(command, str):
        if not command.strip():
            raise ToolCallError("command: must not be empty")
        if not isinstance(call.shell, str) or not call.shell:
            raise ToolCallError("shell: expected a program name or path")
        argv = [call.shell, "-lc", command]
    else:
        argv = list(command)
        if not argv:
            raise ToolCallError("command: must not be empty")
        for index, word in enumerate(argv):
            if not isinstance(word, str):
                raise ToolCallError(f"command[{index}]: expected a string")
            if "\0" in word:
                raise ToolCallError(f"command[{index}]: contains a NUL byte")
    if not isinstance(call.cwd, str) or not os.path.isabs(call.cwd):
        raise ToolCallError(f"cwd: expected an absolute path (got {call.cwd!r})")
    if not os.path.isdir(call.cwd):
        raise ToolCallError(f"cwd: not a directory: {call.cwd}")
    try:
        approval_policy = ApprovalPolicy(call.approval_policy)
    except ValueError:
        raise ToolCallError(f"approvalPolicy: unknown policy {call.approval_policy!r}; "
                            "expected untrusted, on-failure, on-request, never or "
                            "granular") from None
    try:
        permissions = SandboxPermissions(call.sandbox_permissions)
    except ValueError:
        raise ToolCallError(f"sandboxPermissions: unknown value {call.sandbox_permissions!r}; "
                            "expected use_default or require_escalated") from None
    if permissions is SandboxPermissions.WITH_ADDITIONAL_PERMISSIONS:
        # A second, wider sandbox per call is not supported: refuse rather
        # than run with other permissions than asked.
        raise ToolCallError("sandboxPermissions: with_additional_permissions is not supported; "
                            "use require_escalated")
    policy = DEFAULT_SANDBOX if call.sandbox_policy is None else dict(call.sandbox_policy)
    try:
        sandbox_policy = normalize_policy(policy, call.cwd)
    except SandboxUnavailable as error:
        raise ToolCallError(f"sandboxPolicy: {error}") from None
    if call.prefix_rule is not None and (
            isinstance(call.prefix_rule, str)
            or not all(isinstance(t, str) for t in call.prefix_rule)):
        raise ToolCallError("prefixRule: expected an array of strings")
    if call.timeout_ms is not None and call.timeout_ms < 0:
        raise ToolCallError("timeoutMs: must not be negative")
    if call.output_cap is not None and call.output_cap < 0:
        raise ToolCallError("outputCap: must not be negative")
    roots = sandbox_policy.get("writableRoots")
    for root in roots if isinstance(roots, list) else []:
        if "\0" in str(root):
            raise ToolCallError("sandboxPolicy.writableRoots: a path contains a NUL byte")
    env = dict(os.environ) if call.env is None else dict(call.env)
    for name, value in env.items():
        if not name or "=" in name or "\0" in name:
            raise ToolCallError(f"env: invalid variable name {name!r}")
        if "\0" in value:
            raise ToolCallError(f"env.{name}: the value contains a NUL byte")
    return _Checked(argv, os.path.normpath(call.cwd), approval_policy, sandbox_policy,
                    permissions, call.granular or GranularApproval(), env)


_CALL_IDS = itertools.count(1)


class ShellToolSession:
    """Runs tool calls for one session (one agent conversation): the rules,
    the approver, the approvals given ``acceptForSession``, and the audit log.

    ``policy``: the execpolicy rules; accepted amendments are added to a
    copy, or to ``policy`` itself with ``shared_policy`` (sessions sharing
    one policy then all see them at once). ``approve``: asked whenever a
    person must decide (``None``: every such call is declined).
    ``rules_file``: where accepted amendments are written (``None``: they
    last for the session only). ``backend`` forces a sandbox backend.
    ``network``: a managed network proxy session for network-restricted
    sandboxes (else they get no network).
    """

    def __init__(self, policy: Policy | None = None, *,
                 approve: Approver[ApprovalRequest] | None = None,
                 rules_file: str | os.PathLike[str] | None = None,
                 audit_log: AuditLog | None = None, backend: str | None = None,
                 network: NetworkSession | None = None, shared_policy: bool = False) -> None:
        if shared_policy and policy is not None:
            self.policy = policy
        else:
            self.policy = Policy()
            if policy is not None:
                self.policy.merge_overlay(policy)
        self.approve = approve
        self.rules_file = os.fspath(rules_file) if rules_file is not None else None
        self.audit_log = audit_log
        self.backend = backend
        self.network = network
        self._approved: set[tuple[object, ...]] = set()

    # -- the flow ------------------------------------------------------------------

    async def run(self, call: ToolCall, *, on_output: OutputListener | None = None,
                  on_event: EventListener | None = None, cancel: asyncio.Event | None = None,
                  call_id: str | None = None) -> ToolResult:
        """Run one tool call through the whole flow (see the module doc).
        Raises :class:`ToolCallError` for a malformed call, before anything
        is decided or run."""
        checked = _check(call)
        call_id = call_id or f"call-{os.getpid()}-{next(_CALL_IDS)}"
        flow = _Flow(self, call, checked, call_id, on_output, on_event,
                     cancel or asyncio.Event())
        try:
            return await flow.run()
        finally:
            if self.network is not None:
                self.network.forget(call_id)

    def approved_for_session(self, key: tuple[object, ...]) -> bool:
        """Whether ``key`` (:func:`approval_key`) was accepted for the session."""
        return key in self._approved

    def approve_for_session(self, key: tuple[object, ...]) -> None:
        self._approved.add(key)

    async def add_amendment(self, tokens: list[str]) -> str | None:
        """Allow commands starting with ``tokens`` from now on: in memory at
        once, and in the rules file when one is set. Returns the error text
        when the file could not be written (the rule still applies here)."""
        matches = self.policy.matches(tokens)
        if not (matches and all(m.decision is Decision.ALLOW for m in matches)):
            self.policy.add_prefix_rule(tokens, Decision.ALLOW)
        if self.rules_file is None:
            return None
        from ..execpolicy import append_prefix_rule

        try:
            await asyncio.to_thread(append_prefix_rule, self.rules_file, tokens)
        except Exception as error:
            log.warning("shell tool: cannot write the amendment to %s: %s",
                        self.rules_file, error)
            return str(error)
        return None


class _Flow:
    """One call's way through decide → approve → run → retry."""

    def __init__(self, session: ShellToolSession, call: ToolCall, checked: _Checked,
                 call_id: str, on_output: OutputListener | None,
                 on_event: EventListener | None, cancel: asyncio.Event) -> None:
        self.session = session
        self.call = call
        self.checked = checked
        self.call_id = call_id
        self.on_output = on_output
        self.on_event = on_event
        self.cancel = cancel
        self.assessment: Assessment | None = None
        self.approvals: list[tuple[str, ApprovalAnswer | Literal["cached"]]] = []
        self.attempts: list[Attempt] = []
        self.denials: list[str] = []
        self.network_denials_seen = 0
        self.amendment: list[str] | None = None
        self.already_approved = False
        self.cancelled = False
        self.last: ExecResult | None = None
        self.stdout = bytearray()
        self.stderr = bytearray()
        # Without a cap everything streams, but the result keeps only so much.
        cap = call.output_cap
        self.retained = cap if cap is not None else RETAINED_WITHOUT_CAP

    # -- events --------------------------------------------------------------------

    def emit(self, event_type: str, /, **fields: Any) -> None:
        event = {"type": event_type, "callId": self.call_id, **fields}
        audit = self.session.audit_log
        if audit is not None:
            audit.write(event)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:
                log.exception("shell tool: the event listener failed")

    def result(self, status: Status, reason: str | None = None) -> ToolResult:
        last = self.last
        result = ToolResult(
            call_id=self.call_id, status=status, command=self.checked.argv,
            exit_code=last.exit_code if last is not None else None,
            stdout=bytes(self.stdout), stderr=bytes(self.stderr),
            duration_ms=sum(a.duration_ms for a in self.attempts),
            assessment=self.assessment, reason=reason, attempts=list(self.attempts),
            denials=list(self.denials), approvals=list(self.approvals),
            amendment=self.amendment, cancelled=self.cancelled)
        self.emit("result", **result.to_json(include_output=False))
        return result

    # -- the steps -----------------------------------------------------------------

    async def run(self) -> ToolResult:
        checked = self.checked
        refusal = escalation_refusal(checked.approval_policy, checked.permissions)
        if refusal is not None:
            self.emit("decision", **self._call_fields(), requirement={
                "type": "forbidden", "reason": refusal}, decision="forbidden", segments=[])
            return self.result("forbidden", refusal)
        assessment = assess(
            self.session.policy, checked.argv, approval_policy=checked.approval_policy,
            sandbox=str(checked.sandbox_policy["type"]),
            sandbox_permissions=checked.permissions,
            prefix_rule=list(self.call.prefix_rule) if self.call.prefix_rule else None,
            granular=checked.granular, cwd=checked.cwd,
            writable_roots=writable_roots(checked.sandbox_policy, checked.cwd))
        self.assessment = assessment
        self.emit("decision", **self._call_fields(), **assessment.to_json())
        requirement = assessment.requirement
        if isinstance(requirement, Forbidden):
            return self.result("forbidden", requirement.reason)
        escalated = checked.permissions is SandboxPermissions.REQUIRE_ESCALATED
        if isinstance(requirement, NeedsApproval):
            refused = await self._approve_first(requirement, sandboxed=not escalated)
            if refused is not None:
                return refused
            sandboxed = not escalated
        else:
            assert isinstance(requirement, Skip)
            sandboxed = not (escalated or requirement.bypass_sandbox)
        policy = checked.sandbox_policy if sandboxed else _UNSANDBOXED
        outcome = await self._attempt(policy)
        if isinstance(outcome, ToolResult):
            return outcome
        if not outcome or self.cancelled:
            return self._finished()
        # The sandbox most likely caused the failure.
        if not wants_retry_approval(checked.approval_policy, checked.granular):
            return self._finished(SANDBOX_DENIED_HINT)
        if not self.already_approved:
            refused = await self._ask_retry(requirement)
            if refused is not None:
                return refused
        self.emit("retry", reason=RETRY_REASON)
        outcome = await self._attempt(_UNSANDBOXED)
        if isinstance(outcome, ToolResult):
            return outcome
        return self._finished()

    def _call_fields(self) -> dict[str, Any]:
        checked = self.checked
        return {"command": checked.argv, "cwd": checked.cwd,
                "approvalPolicy": checked.approval_policy.value,
                "sandboxPolicy": checked.sandbox_policy,
                "sandboxPermissions": checked.permissions.value,
                "justification": self.call.justification}

    def _finished(self, hint: str | None = None) -> ToolResult:
        last = self.last
        assert last is not None
        if self.cancelled:
            return self.result("failed", "cancelled while running")
        if last.timed_out:
            return self.result("failed", "timed out")
        if last.exit_code == 0:
            return self.result("completed")
        denied = self.attempts[-1].denial is not None
        return self.result("failed", hint if denied else None)

    async def _approve_first(self, requirement: NeedsApproval, *, sandboxed: bool
                             ) -> ToolResult | None:
        """Ask about a command that needs approval; the refusal's result, or
        ``None`` when it may run."""
        checked = self.checked
        if self.session.approved_for_session(self._approval_key()):
            self.approvals.append(("command", "cached"))
            self.already_approved = True
            self.emit("approval", kind="command", answer="cached", source="session")
            return None
        request = ApprovalRequest(
            kind="command", command=checked.argv, cwd=checked.cwd,
            reason=requirement.reason or self.call.justification,
            actions=summarize_command(checked.argv),
            proposed_amendment=requirement.proposed_amendment, sandboxed=sandboxed,
            call_id=self.call_id)
        answer = await self._ask(request)
        refusal = _refusal(answer)
        if refusal is not None:
            return self.result("declined", refusal)
        self.already_approved = True
        await self._accepted(answer)
        return None

    async def _ask_retry(self, requirement: Skip | NeedsApproval) -> ToolResult | None:
        checked = self.checked
        request = ApprovalRequest(
            kind="retry", command=checked.argv, cwd=checked.cwd, reason=RETRY_REASON,
            actions=summarize_command(checked.argv),
            proposed_amendment=requirement.proposed_amendment,
            sandboxed=False, call_id=self.call_id)
        answer = await self._ask(request)
        refusal = _refusal(answer)
        if refusal is not None:
            last_denial = self.attempts[-1].denial
            # The sandboxed attempt's output and exit code stay in the result.
            return self.result("declined", refusal if last_denial is None
                               else f"{refusal} ({last_denial})")
        await self._accepted(answer)
        return None

    def _approval_key(self) -> tuple[object, ...]:
        checked = self.checked
        return approval_key(checked.argv, checked.cwd, checked.permissions.value)

    async def _accepted(self, answer: ApprovalAnswer | None) -> None:
        """What an accepting answer does besides letting the command run."""
        if answer == "acceptForSession":
            self.session.approve_for_session(self._approval_key())
        elif isinstance(answer, tuple):
            await self._amend(answer[1])

    async def _ask(self, request: ApprovalRequest) -> ApprovalAnswer | None:
        """The approver's answer (``None``: nobody to ask); a cancel of the
        call while waiting is a ``cancel``."""
        approve = self.session.approve
        self.emit("approvalRequested", **request.to_json())
        if approve is None:
            self.emit("approval", kind=request.kind, answer="decline", source="none")
            return None
        asking = asyncio.ensure_future(ask(approve, request, who="shell tool"))
        cancelled = asyncio.ensure_future(self.cancel.wait())
        try:
            await asyncio.wait({asking, cancelled}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            cancelled.cancel()
            if not asking.done():
                asking.cancel()
        answer = asking.result() if asking.done() and not asking.cancelled() else "cancel"
        if answer == "cancel":
            self.cancelled = True
        self.approvals.append((request.kind, answer))
        self.emit("approval", kind=request.kind, answer=_answer_json(answer),
                  source="approver")
        return answer

    async def _amend(self, tokens: list[str]) -> None:
        error = await self.session.add_amendment(tokens)
        self.amendment = list(tokens)
        self.emit("amendment", tokens=list(tokens), rulesFile=self.session.rules_file,
                  error=error)

    async def _attempt(self, policy: dict[str, object]) -> ToolResult | bool:
        """Run once under ``policy``. Returns a final result when it could not
        start, else whether a sandbox most likely caused a failure."""
        checked = self.checked
        number = len(self.attempts) + 1
        if self.cancel.is_set():  # cancelled while deciding: never start
            self.cancelled = True
            return self.result("declined", "cancelled before it started")
        network = self.session.network
        proxy = context = None
        if network is not None and not network.closed:
            proxy = network.endpoint
            context = network.context(checked.argv, cwd=checked.cwd, item_id=self.call_id,
                                      sandbox_type=str(policy["type"]))
        try:
            confinement = prepare(checked.argv, SandboxRequest(
                policy, checked.cwd, checked.env, backend=self.session.backend,
                proxy=proxy, proxy_context=context))
        except SandboxUnavailable as error:
            # Fail closed: never run unsandboxed what asked for a sandbox.
            self.emit("runFailed", attempt=number, error=str(error))
            return self.result("failed", str(error))
        self.stdout.clear()
        self.stderr.clear()
        self.emit("runStarted", attempt=number, sandbox=confinement.backend,
                  sandboxPolicy=policy)
        started = time.monotonic()
        try:
            spec = confined(ExecSpec(argv=checked.argv, cwd=checked.cwd, env=checked.env,
                                     stream_output=True, output_cap=self.call.output_cap,
                                     timeout_ms=self.call.timeout_ms), confinement)
            try:
                process = await spawn(spec, self._sink)
            except SpawnError as error:
                self.emit("runFailed", attempt=number, error=str(error))
                return self.result("failed", str(error))
            stop = asyncio.ensure_future(self.cancel.wait())
            stop.add_done_callback(lambda _: process.terminate())
            try:
                result = await process.wait()
            finally:
                stop.cancel()
        finally:
            confinement.close()
        if self.cancel.is_set():
            self.cancelled = True
        duration = int((time.monotonic() - started) * 1000)
        self.last = result
        denial = None
        if confinement.backend is not None and not result.timed_out and not self.cancelled:
            violation = classify_violation(confinement.backend, result.exit_code,
                                           bytes(self.stdout), bytes(self.stderr))
            if violation is not None:
                denial = explain(violation)
                self.denials.append(denial)
        if network is not None and context is not None:
            # The proxy records denials per call, across its attempts.
            blocked = network.denials(self.call_id)
            for denied in blocked[self.network_denials_seen:]:
                self.denials.append(f"network: {denied.host}:{denied.port} blocked "
                                    f"({denied.reason})")
            self.network_denials_seen = len(blocked)
        attempt = Attempt(confinement.backend, result.exit_code, duration, result.timed_out,
                          result.terminated, denial)
        self.attempts.append(attempt)
        ended = attempt.to_json()
        ended["stdout"] = bytes(self.stdout).decode("utf-8", "replace")
        ended["stderr"] = bytes(self.stderr).decode("utf-8", "replace")
        self.emit("runEnded", attempt=number, **ended)
        return denial is not None

    async def _sink(self, stream: str, data: bytes, cap_reached: bool) -> None:
        kept = self.stdout if stream == "stdout" else self.stderr
        room = self.retained - len(kept)
        if room > 0:
            kept.extend(data[:room])
        listener = self.on_output
        if listener is not None and data:
            try:
                outcome = listener(stream, data)
                if outcome is not None:
                    await outcome
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("shell tool: the output listener failed")
