"""Running a ``zsh -lc`` command through the exec bridge.

The bridge (:mod:`execguard.zsh_bridge`) asks about every exec of a patched
zsh; this module answers with the execpolicy engine and the caller's
approval callback (spec zsh_bridge.md §5), and sets a run up so that the
bridge lives exactly as long as the command:

    shell = BridgedShell(options, sandbox_policy, cwd)     # options: BridgeOptions
    argv, env = shell.start(argv, env)      # patched zsh, bridge variables
    ... confine under the sandbox (exec_bridge=True), spawn with shell.pass_fds
        and on_kill=shell.kill_escalated; then shell.attach(process) ...
    await shell.close()

Decisions, per intercepted exec ``[program, args...]`` (``program`` made
absolute against the shell's directory; rules match it through
host-executable resolution, so a ``git`` rule covers ``/usr/bin/git``):

* forbidden → deny ``Execution forbidden by policy: <why>``;
* needs approval → deny ``Execution forbidden by policy`` when nobody can be
  asked (approval policy ``never``, no callback), else ask: accepted → run
  (escalated when a rule asked for the prompt or the call wants
  escalation), declined → ``User denied execution``, cancelled → ``User
  cancelled execution`` and the whole run is stopped;
* allowed → escalated when rules allowed it (the engine's bypass-sandbox), else
  run in the sandbox.

Time spent waiting for a person does not count against the run's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from ..execpolicy import (
    ApprovalPolicy,
    Forbidden,
    GranularApproval,
    NeedsApproval,
    Policy,
    SandboxPermissions,
    Skip,
    assess,
)
from ..execpolicy.decision import Decision
from ..zsh_bridge import (
    BridgeInstall,
    ExecBridge,
    ExecRequest,
    GroupWatcher,
    InterceptedExec,
    Verdict,
    locate,
)
from .api import (
    DEFAULT_OUTPUT_CAP,
    DEFAULT_TIMEOUT_MS,
    ExecResult,
    ExecSpec,
    OutputSink,
    SandboxRequest,
)
from .approvals import ApprovalAnswer, ask, parse_exec_decision
from .process import WATCHDOG, spawn
from .sandboxing import confined, normalize_policy, prepare, writable_roots

__all__ = [
    "BridgeOptions",
    "BridgedResult",
    "BridgedShell",
    "ExecApprovalAnswer",
    "ExecApprovalRequest",
    "ExecApprover",
    "PolicyDecider",
    "exec_approval_params",
    "parse_exec_decision",
    "run_bridged",
    "shell_script",
]

log = logging.getLogger(__name__)

FORBIDDEN = "Execution forbidden by policy"
USER_DENIED = "User denied execution"
USER_CANCELLED = "User cancelled execution"
_SHELL_NAMES = frozenset({"zsh", "zsh-5.9"})


@dataclass(frozen=True)
class ExecApprovalRequest:
    """An intercepted exec that needs a person's answer. ``command`` is
    ``[absolute program, args...]``; ``proposed_amendment`` the allow rule
    that would stop such prompts, when the engine has one to offer."""

    command: list[str]
    cwd: str
    reason: str | None
    proposed_amendment: list[str] | None


# The answers of `runtimes.approvals` ("cancel" also stops the whole run).
ExecApprovalAnswer: TypeAlias = ApprovalAnswer
ExecApprover: TypeAlias = Callable[[ExecApprovalRequest], Awaitable[ExecApprovalAnswer]]


@dataclass
class BridgeOptions:
    """How bridged runs decide. ``policy`` is the execpolicy (rules);
    ``approve`` asks a person (``None``: prompts are denied);
    ``rules_file`` receives accepted amendments; ``on_exec`` gets the audit
    record of every intercepted exec; ``install`` is the patched zsh and
    wrapper (default: :func:`execguard.zsh_bridge.locate`)."""

    policy: Policy = field(default_factory=Policy)
    approval_policy: str = "on-request"
    approve: ExecApprover | None = None
    sandbox_permissions: str = "use_default"
    granular: GranularApproval | None = None
    rules_file: str | None = None
    on_exec: Callable[[InterceptedExec], None] | None = None
    install: BridgeInstall | None = None


def exec_approval_params(request: ExecApprovalRequest, *, thread_id: str, turn_id: str,
                         item_id: str, approval_id: str, started_at_ms: int) -> dict[str, Any]:
    """The params of the ``item/commandExecution/requestApproval`` server
    request asking about one intercepted exec
    (``CommandExecutionRequestApprovalParams``)."""
    return {
        "threadId": thread_id,
        "turnId": turn_id,
        "itemId": item_id,
        "approvalId": approval_id,
        "command": shlex.join(request.command),
        "cwd": request.cwd,
        "reason": request.reason,
        "kind": "command",
        "proposedExecpolicyAmendment": request.proposed_amendment,
        "commandActions": None,
        "startedAtMs": started_at_ms,
    }


def shell_script(argv: Sequence[str]) -> tuple[bool, str] | None:
    """``(login, script)`` when ``argv`` is ``[zsh, -lc|-c, script]`` (zsh by
    name or path), the form the bridge runs; ``None`` otherwise."""
    if len(argv) != 3 or os.path.basename(argv[0]) not in _SHELL_NAMES:
        return None
    if argv[1] not in ("-c", "-lc"):
        return None
    return argv[1] == "-lc", argv[2]


class PolicyDecider:
    """The bridge's decider: the engine, then the person when it asks."""

    def __init__(self, options: BridgeOptions, sandbox_policy: dict[str, object],
                 writable_roots: Sequence[str]) -> None:
        self._options = options
        self._sandbox = str(sandbox_policy.get("type", "readOnly"))
        self._writable_roots = list(writable_roots)
        self._approved: set[tuple[str, ...]] = set()
        self._amended = Policy(host_executables=options.policy.host_executables)
        self._hold: Callable[[], contextlib.AbstractContextManager[None]] | None = None
        self._on_cancel: Callable[[], None] | None = None
        self.cancelled = False

    def attach(self, hold_timeout: Callable[[], contextlib.AbstractContextManager[None]],
               on_cancel: Callable[[], None]) -> None:
        """Pause the run's timeout while a person is asked; stop the run
        when they cancel."""
        self._hold, self._on_cancel = hold_timeout, on_cancel

    async def __call__(self, request: ExecRequest) -> Verdict:
        options = self._options
        command = request.command
        assessment = assess(options.policy, command, approval_policy=options.approval_policy,
                            sandbox=self._sandbox,
                            sandbox_permissions=options.sandbox_permissions,
                            granular=options.granular, cwd=request.workdir,
                            writable_roots=self._writable_roots)
        requirement = assessment.requirement
        rule_driven = any(s.rule_decided and s.decision is assessment.decision
                          for s in assessment.segments)
        # "with additional permissions" would need a second, wider sandbox:
        # those execs stay in this one (stricter than asked, never looser).
        wants_escalation = (SandboxPermissions(options.sandbox_permissions)
                            is SandboxPermissions.REQUIRE_ESCALATED)
        if isinstance(requirement, Forbidden):
            return Verdict.deny(f"{FORBIDDEN}: {requirement.reason}")
        if isinstance(requirement, Skip):
            return Verdict.escalate() if requirement.bypass_sandbox or wants_escalation \
                else Verdict.run()
        assert isinstance(requirement, NeedsApproval)
        escalate = rule_driven or wants_escalation
        if self._already_approved(command):
            return Verdict.escalate() if escalate else Verdict.run()
        if (options.approve is None
                or ApprovalPolicy(options.approval_policy) is ApprovalPolicy.NEVER):
            return Verdict.deny(FORBIDDEN)
        answer = await self._ask(ExecApprovalRequest(command, request.workdir, requirement.reason,
                                                     requirement.proposed_amendment))
        if answer == "cancel":
            self.cancelled = True
            if self._on_cancel is not None:
                self._on_cancel()
            return Verdict.deny(USER_CANCELLED)
        if answer == "decline":
            return Verdict.deny(USER_DENIED)
        if answer == "acceptForSession":
            self._approved.add(tuple(command))
        elif isinstance(answer, tuple):
            await self._amend(answer[1])
        return Verdict.escalate() if escalate else Verdict.run()

    def _already_approved(self, command: list[str]) -> bool:
        return tuple(command) in self._approved or bool(
            self._amended.matches(command, resolve_host_executables=True))

    async def _ask(self, request: ExecApprovalRequest) -> ExecApprovalAnswer:
        approve = self._options.approve
        assert approve is not None
        with self._hold() if self._hold is not None else contextlib.nullcontext():
            return await ask(approve, request, who="exec bridge")

    async def _amend(self, tokens: list[str]) -> None:
        self._amended.add_prefix_rule(tokens, Decision.ALLOW)
        path = self._options.rules_file
        if path is None:
            return
        from ..execpolicy import append_prefix_rule

        try:
            await asyncio.to_thread(append_prefix_rule, path, tokens)
        except Exception:
            log.exception("exec bridge: cannot write the amendment to %s", path)


class BridgedShell:
    """One bridged shell run: the bridge, its decider, and the teardown."""

    def __init__(self, options: BridgeOptions, sandbox_policy: dict[str, object] | None,
                 cwd: str, *, watcher: GroupWatcher | None = None) -> None:
        self.install = options.install or locate()
        policy = normalize_policy(sandbox_policy, cwd)
        # None: no sandbox, so nothing to escalate out of.
        writable = writable_roots(policy, cwd)
        roots, sandboxed = writable or [], writable is not None
        self.decider = PolicyDecider(options, policy, roots)
        on_exec = options.on_exec
        self.bridge = ExecBridge(self.decider, wrapper=self.install.wrapper,
                                 writable_roots=roots, sandboxed=sandboxed, on_exec=on_exec,
                                 watcher=watcher)

    @property
    def execs(self) -> list[InterceptedExec]:
        return self.bridge.execs

    def start(self, argv: Sequence[str], env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """Serve the bridge; ``argv`` (``[zsh, -lc|-c, script]``) and ``env``
        as the patched shell needs them. The patched zsh's directory goes
        first on ``PATH``, so a nested ``zsh`` is the patched one too."""
        if shell_script(argv) is None:
            raise ValueError("the exec bridge runs [zsh, -lc|-c, script] commands only")
        self.bridge.start()
        zsh_dir = os.path.dirname(self.install.zsh)
        path = env.get("PATH")
        env = {**env, **self.bridge.environment(),
               "PATH": zsh_dir if not path else f"{zsh_dir}:{path}"}
        return [self.install.zsh, *argv[1:]], env

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return self.bridge.pass_fds

    def kill_escalated(self) -> None:
        self.bridge.kill_escalated()

    def attach(self, hold_timeout: Callable[[], contextlib.AbstractContextManager[None]],
               terminate: Callable[[], None]) -> None:
        self.decider.attach(hold_timeout, terminate)

    async def close(self) -> None:
        await self.bridge.close()



@dataclass(frozen=True)
class BridgedResult:
    """How a bridged run ended, with every intercepted exec in order of
    completion and whether a person cancelled it."""

    result: ExecResult
    execs: list[InterceptedExec]
    cancelled: bool


async def run_bridged(argv: Sequence[str], options: BridgeOptions, *, cwd: str,
                      env: dict[str, str], sandbox_policy: dict[str, object] | None = None,
                      timeout_ms: int | None = DEFAULT_TIMEOUT_MS,
                      output_cap: int | None = DEFAULT_OUTPUT_CAP, backend: str | None = None,
                      on_output: OutputSink | None = None) -> BridgedResult:
    """Run ``[zsh, -lc|-c, script]`` through the bridge under
    ``sandbox_policy`` (default read-only; fails closed like every sandboxed
    run). Raises :class:`~execguard.zsh_bridge.BridgeUnavailable` when the
    patched zsh is not built, :class:`~.sandboxing.SandboxUnavailable` when
    the sandbox cannot be set up, ``ValueError`` for another command form."""
    shell = BridgedShell(options, sandbox_policy, cwd, watcher=WATCHDOG)
    try:
        shell_argv, shell_env = shell.start(argv, env)
        confinement = prepare(shell_argv, SandboxRequest(sandbox_policy, cwd, shell_env,
                                                         backend=backend, exec_bridge=True))
        try:
            spec = confined(ExecSpec(argv=shell_argv, cwd=cwd, env=shell_env,
                                     timeout_ms=timeout_ms, output_cap=output_cap,
                                     stream_output=on_output is not None,
                                     pass_fds=shell.pass_fds, on_kill=shell.kill_escalated),
                            confinement)
            process = await spawn(spec, on_output)
            shell.attach(process.hold_timeout, process.terminate)
            result = await process.wait()
        finally:
            confinement.close()
    finally:
        await shell.close()
    return BridgedResult(result, list(shell.execs), shell.decider.cancelled)
