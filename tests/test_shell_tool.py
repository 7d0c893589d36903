"""The shell tool flow end to end (decision_engine spec §9, §9.1): real
processes in the real bubblewrap sandbox, rules from execpolicy, and an
approver that records what it is asked and answers from a script.

Nothing is mocked: a command that "ran" left a file behind, a command that
"never started" left none. Writes outside the sandbox's writable roots go to
a directory under /var/tmp (read-only inside the workspace-write sandbox,
writable outside it), removed after each test.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from execguard.execpolicy import (
    ApprovalPolicy,
    Policy,
    SandboxPermissions,
    Skip,
    escalation_refusal,
    load_policy,
    load_policy_from_strings,
)
from execguard.runtimes.approvals import ApprovalAnswer
from execguard.runtimes.audit import AuditLog
from execguard.runtimes.shell_tool import (
    NOBODY_TO_ASK,
    REJECTED_BY_USER,
    RETRY_REASON,
    SANDBOX_DENIED_HINT,
    ApprovalRequest,
    ShellToolSession,
    ToolCall,
    ToolCallError,
    ToolResult,
    approval_key,
)

BWRAP = "bubblewrap"
MKDIR_PROMPT = ('prefix_rule(pattern=["mkdir"], decision="prompt", '
                'justification="creates directories")\n')


@pytest.fixture(autouse=True, scope="module")
def _bubblewrap_present() -> None:
    if shutil.which("bwrap") is None:
        pytest.fail("bubblewrap (bwrap) is required for the shell tool tests")


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory outside every writable root of the sandbox."""
    path = Path(tempfile.mkdtemp(prefix="execguard-test-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Approver:
    """Records every request; answers from ``answers`` in order (then declines)."""

    def __init__(self, *answers: ApprovalAnswer) -> None:
        self.answers = list(answers)
        self.requests: list[ApprovalRequest] = []

    def __call__(self, request: ApprovalRequest) -> ApprovalAnswer:
        self.requests.append(request)
        return self.answers.pop(0) if self.answers else "decline"

    @property
    def kinds(self) -> list[str]:
        return [request.kind for request in self.requests]


class AsyncApprover(Approver):
    """The same, as a coroutine function (a person behind a UI)."""

    async def __call__(self, request: ApprovalRequest) -> ApprovalAnswer:  # type: ignore[override]
        await asyncio.sleep(0)
        return super().__call__(request)


def rules(text: str = "") -> Policy:
    return load_policy_from_strings([("test.rules", text)])


def session(text: str = "", approve: Any = None, **kwargs: Any) -> ShellToolSession:
    return ShellToolSession(rules(text), approve=approve, backend=BWRAP, **kwargs)


def call(command: list[str] | str, cwd: Path, **kwargs: Any) -> ToolCall:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8"}
    return ToolCall(command, cwd=str(cwd), env=env, **kwargs)


def run(tool: ShellToolSession, command: list[str] | str, cwd: Path, **kwargs: Any
        ) -> ToolResult:
    return asyncio.run(tool.run(call(command, cwd, **kwargs)))


def assert_never_ran(result: ToolResult) -> None:
    assert result.attempts == []
    assert result.exit_code is None and result.sandbox is None
    assert result.stdout == b"" and result.stderr == b""


# -- 1, 2: refused before anything starts -----------------------------------------------


@pytest.mark.parametrize("command", [["rm", "-rf", "victim"], "touch marker && rm -rf victim"])
@pytest.mark.parametrize("approval_policy", ["untrusted", "on-request", "never"])
def test_forbidden_commands_never_start(tmp_path: Path, command: list[str] | str,
                                        approval_policy: str) -> None:
    (tmp_path / "victim").mkdir()
    approver = Approver("accept")
    tool = session('prefix_rule(pattern=["rm"], decision="forbidden")', approver)
    result = run(tool, command, tmp_path, approval_policy=approval_policy)
    assert result.status == "forbidden"
    assert result.reason is not None
    assert "rejected: policy forbids commands starting with `rm`" in result.reason
    assert_never_ran(result)
    assert approver.requests == [] and result.approvals == []
    assert not (tmp_path / "marker").exists()
    assert (tmp_path / "victim").is_dir()


@pytest.mark.parametrize(("approval_policy", "name"),
                         [("untrusted", "UnlessTrusted"), ("never", "Never"),
                          ("on-failure", "OnFailure")])
def test_escalation_is_refused_outside_on_request(tmp_path: Path, approval_policy: str,
                                                  name: str) -> None:
    approver = Approver("accept")
    result = run(session("", approver), ["mkdir", "escaped"], tmp_path,
                 approval_policy=approval_policy, sandbox_permissions="require_escalated",
                 justification="please")
    assert result.status == "forbidden"
    assert result.reason == (f"approval policy is {name}; reject command — you should not ask "
                             f"for escalated permissions if the approval policy is {name}")
    assert result.reason == escalation_refusal(ApprovalPolicy(approval_policy),
                                               SandboxPermissions.REQUIRE_ESCALATED)
    assert result.assessment is None
    assert_never_ran(result)
    assert approver.requests == []
    assert not (tmp_path / "escaped").exists()


# -- 3: every answer to a rule prompt ---------------------------------------------------


@pytest.mark.parametrize("approver_type", [Approver, AsyncApprover])
def test_accepted_rule_prompt_runs_in_the_sandbox(tmp_path: Path,
                                                  approver_type: type[Approver]) -> None:
    approver = approver_type("accept")
    result = run(session(MKDIR_PROMPT, approver), ["mkdir", "made"], tmp_path)
    assert result.status == "completed" and result.exit_code == 0, result.output
    assert (tmp_path / "made").is_dir()
    # An approved NeedsApproval without escalation stays in the sandbox.
    assert result.sandbox == BWRAP and len(result.attempts) == 1
    assert result.approvals == [("command", "accept")]
    [request] = approver.requests
    assert request.kind == "command" and request.command == ["mkdir", "made"]
    assert request.cwd == str(tmp_path)
    assert request.reason == "`mkdir made` requires approval: creates directories"
    assert request.proposed_amendment is None  # rule prompts never propose one
    assert request.sandboxed is True
    assert [action.to_json() for action in request.actions] == [
        {"type": "unknown", "command": "mkdir made"}]
    assert request.call_id == result.call_id


@pytest.mark.parametrize(("answer", "reason", "cancelled"), [
    ("decline", REJECTED_BY_USER, False),
    ("cancel", REJECTED_BY_USER, True),
    (None, NOBODY_TO_ASK, False),
])
def test_refused_rule_prompt_never_runs(tmp_path: Path, answer: ApprovalAnswer | None,
                                        reason: str, cancelled: bool) -> None:
    approver = Approver(answer) if answer is not None else None
    result = run(session(MKDIR_PROMPT, approver), ["mkdir", "made"], tmp_path)
    assert result.status == "declined"
    assert result.reason == reason
    assert result.cancelled is cancelled
    assert_never_ran(result)
    assert not (tmp_path / "made").exists()
    if approver is not None:
        assert approver.kinds == ["command"]
        assert result.approvals == [("command", answer)]
    else:
        assert result.approvals == []


def test_cancel_while_the_approver_is_thinking(tmp_path: Path) -> None:
    asked: list[ApprovalRequest] = []

    async def never_answers(request: ApprovalRequest) -> ApprovalAnswer:
        asked.append(request)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def main() -> ToolResult:
        cancel = asyncio.Event()
        asyncio.get_running_loop().call_later(0.2, cancel.set)
        tool = session(MKDIR_PROMPT, never_answers)
        return await tool.run(call(["mkdir", "made"], tmp_path), cancel=cancel)

    started = time.monotonic()
    result = asyncio.run(main())
    assert time.monotonic() - started < 5
    assert len(asked) == 1
    assert result.status == "declined" and result.cancelled
    assert result.approvals == [("command", "cancel")]
    assert_never_ran(result)
    assert not (tmp_path / "made").exists()


# -- 4: acceptForSession ----------------------------------------------------------------


def test_accept_for_session_covers_the_same_command_in_the_same_place(tmp_path: Path) -> None:
    approver = Approver("acceptForSession", "accept", "accept", "accept", "accept")
    tool = session(MKDIR_PROMPT, approver)
    first = run(tool, ["mkdir", "-p", "d"], tmp_path)
    assert first.status == "completed" and first.approvals == [("command", "acceptForSession")]
    assert len(approver.requests) == 1

    for same in (["mkdir", "-p", "d"], ["bash", "-lc", "mkdir -p d"],
                 ["/bin/bash", "-lc", "mkdir -p d"]):
        again = run(tool, same, tmp_path)
        assert again.status == "completed", (same, again.output)
        assert again.approvals == [("command", "cached")], same
        assert again.sandbox == BWRAP and len(again.attempts) == 1
    assert len(approver.requests) == 1
    assert (approval_key(["bash", "-lc", "mkdir -p d"], str(tmp_path), "use_default")
            == approval_key(["/bin/bash", "-lc", "mkdir -p d"], str(tmp_path), "use_default"))

    (tmp_path / "sub").mkdir()
    elsewhere = run(tool, ["mkdir", "-p", "d"], tmp_path / "sub")
    other = run(tool, ["mkdir", "-p", "e"], tmp_path)
    escalated = run(tool, ["mkdir", "-p", "d"], tmp_path, sandbox_permissions="require_escalated")
    for result in (elsewhere, other, escalated):
        assert result.approvals == [("command", "accept")]
        assert result.status == "completed"
    assert [r.cwd for r in approver.requests[1:3]] == [str(tmp_path / "sub"), str(tmp_path)]
    assert approver.requests[2].command == ["mkdir", "-p", "e"]
    assert approver.requests[3].sandboxed is False and escalated.sandbox is None

    fresh = session(MKDIR_PROMPT, approver)
    assert run(fresh, ["mkdir", "-p", "d"], tmp_path).approvals == [("command", "accept")]
    assert len(approver.requests) == 5


# -- 5: amendments ----------------------------------------------------------------------


def test_amendment_is_written_and_applies_at_once_and_later(tmp_path: Path) -> None:
    rules_file = tmp_path / "rules" / "user.rules"
    rules_file.parent.mkdir()
    rules_file.write_text("# user rules\n")
    work = tmp_path / "ws"
    work.mkdir()
    approver = Approver(("amend", ["touch", "f"]))
    tool = ShellToolSession(load_policy([rules_file]), approve=approver, rules_file=rules_file,
                            backend=BWRAP)

    first = run(tool, ["touch", "f"], work, approval_policy="untrusted")
    [request] = approver.requests
    assert request.kind == "command" and request.reason is None
    assert request.proposed_amendment == ["touch", "f"] and request.sandboxed is True
    assert first.status == "completed", first.output
    assert first.approvals == [("command", ("amend", ["touch", "f"]))]
    assert first.amendment == ["touch", "f"]
    # This call was judged before the amendment: it stays in the sandbox, once.
    assert first.sandbox == BWRAP and len(first.attempts) == 1
    assert (work / "f").exists()
    text = rules_file.read_text()
    assert text.startswith("# user rules\n")
    assert re.search(r'prefix_rule\(\s*pattern\s*=\s*\["touch",\s*"f"\],\s*'
                     r'decision\s*=\s*"allow"\s*\)', text), text

    second = run(tool, ["touch", "f"], work, approval_policy="untrusted")
    assert len(approver.requests) == 1 and second.approvals == []
    assert second.status == "completed" and second.amendment is None
    # An allow rule now matches every segment: it runs outside the sandbox.
    assert second.sandbox is None and len(second.attempts) == 1
    assert second.assessment is not None
    assert second.assessment.requirement == Skip(bypass_sandbox=True, proposed_amendment=None)

    other = Approver()
    fresh = ShellToolSession(load_policy([rules_file]), approve=other, backend=BWRAP)
    later = run(fresh, ["touch", "f"], work, approval_policy="untrusted")
    assert later.status == "completed" and later.sandbox is None
    assert other.requests == []
    # The rule is for `touch f`, not for every touch.
    assert run(fresh, ["touch", "g"], work, approval_policy="untrusted").status == "declined"
    assert other.kinds == ["command"] and not (work / "g").exists()


# -- 6: require_escalated under on-request ----------------------------------------------


def test_escalation_under_on_request_asks_with_the_justification(tmp_path: Path,
                                                                 outside: Path) -> None:
    approver = Approver("accept")
    target = outside / "escalated"
    result = run(session("", approver), ["mkdir", str(target)], tmp_path,
                 sandbox_permissions="require_escalated",
                 justification="needs to write outside the workspace")
    [request] = approver.requests
    assert request.kind == "command"
    assert request.reason == "needs to write outside the workspace"
    assert request.sandboxed is False
    assert result.status == "completed", result.output
    assert result.sandbox is None and len(result.attempts) == 1
    assert target.is_dir()

    # A rule's reason wins over the justification.
    ruled = Approver("decline")
    refused = run(session(MKDIR_PROMPT, ruled), ["mkdir", str(target / "x")], tmp_path,
                  sandbox_permissions="require_escalated", justification="ignored")
    assert ruled.requests[0].reason is not None
    assert ruled.requests[0].reason.endswith("requires approval: creates directories")
    assert refused.status == "declined" and not (target / "x").exists()


# -- 7: retry after a sandbox denial ----------------------------------------------------


def test_denial_under_on_failure_asks_to_retry_and_runs_unsandboxed(tmp_path: Path,
                                                                    outside: Path) -> None:
    approver = Approver("accept")
    target = outside / "written"
    result = run(session("", approver), ["touch", str(target)], tmp_path,
                 approval_policy="on-failure")
    [request] = approver.requests
    assert request.kind == "retry" and request.reason == RETRY_REASON
    assert request.sandboxed is False and request.command == ["touch", str(target)]
    assert result.approvals == [("retry", "accept")]
    assert result.status == "completed" and result.exit_code == 0 and result.reason is None
    first, second = result.attempts
    assert first.sandbox == BWRAP and first.exit_code != 0
    assert first.denial is not None and str(target) in first.denial
    assert second.sandbox is None and second.exit_code == 0 and second.denial is None
    assert result.sandbox is None
    assert result.denials == [first.denial]
    assert target.exists()


def test_declined_retry_keeps_the_sandboxed_output(tmp_path: Path, outside: Path) -> None:
    approver = Approver("decline")
    target = outside / "written"
    result = run(session("", approver), ["sh", "-c", f"echo before; touch {target}"],
                 tmp_path, approval_policy="on-failure")
    assert approver.kinds == ["retry"]
    assert result.status == "declined"
    assert result.reason is not None and result.reason.startswith(REJECTED_BY_USER)
    assert len(result.attempts) == 1 and result.sandbox == BWRAP
    assert result.stdout == b"before\n" and b"Read-only file system" in result.stderr
    assert result.exit_code == 1 and not result.cancelled
    assert not target.exists()


def test_untrusted_retries_an_approved_command_without_a_second_prompt(
        tmp_path: Path, outside: Path) -> None:
    approver = Approver("accept")
    target = outside / "written"
    result = run(session("", approver), ["touch", str(target)], tmp_path,
                 approval_policy="untrusted")
    assert approver.kinds == ["command"] and approver.requests[0].sandboxed is True
    assert result.approvals == [("command", "accept")]
    assert [a.sandbox for a in result.attempts] == [BWRAP, None]
    assert result.attempts[0].denial is not None
    assert result.status == "completed" and target.exists()


@pytest.mark.parametrize("approval_policy", ["on-request", "never"])
def test_no_retry_where_the_policy_offers_none(tmp_path: Path, outside: Path,
                                               approval_policy: str) -> None:
    approver = Approver("accept")
    target = outside / "written"
    result = run(session("", approver), ["touch", str(target)], tmp_path,
                 approval_policy=approval_policy)
    assert approver.requests == [] and result.approvals == []
    assert result.status == "failed" and result.reason == SANDBOX_DENIED_HINT
    assert len(result.attempts) == 1 and result.sandbox == BWRAP
    assert result.denials and str(target) in result.denials[0]
    assert not target.exists()


@pytest.mark.parametrize(("approval_policy", "answer", "command", "timeout_ms"), [
    pytest.param("on-failure", "accept", ["mkdir", "made"], None, id="on-failure-success"),
    pytest.param("on-failure", "accept", ["sh", "-c", "mkdir made; exit 3"], None,
                 id="on-failure-plain-failure"),
    pytest.param("on-failure", "accept", ["sh", "-c", "mkdir made; sleep 5"], 300,
                 id="on-failure-timeout"),
    pytest.param("untrusted", "accept", ["mkdir", "made"], None, id="untrusted-approved-success"),
    pytest.param("untrusted", "accept", ["ls"], None, id="untrusted-known-safe-success"),
])
def test_only_a_sandbox_denial_leads_to_a_retry(tmp_path: Path, approval_policy: str,
                                                answer: ApprovalAnswer, command: list[str],
                                                timeout_ms: int | None) -> None:
    """Spec §9 items 5-6: a retry outside the sandbox follows a likely
    sandbox denial only; a success, an ordinary failure or a timeout is final
    after one (sandboxed) run, and nobody is asked "retry without sandbox?"."""
    approver = Approver(answer, answer)
    result = run(session("", approver), command, tmp_path, approval_policy=approval_policy,
                 timeout_ms=timeout_ms)
    assert "retry" not in approver.kinds, (result.approvals, result.attempts)
    assert len(result.attempts) == 1, result.attempts
    assert result.sandbox == BWRAP
    assert result.status == ("completed" if command in (["mkdir", "made"], ["ls"])
                             else "failed"), result.output


# -- 8, 9: cancel and timeout -----------------------------------------------------------


def _processes_with(token: str) -> list[int]:
    return [p.pid for p in psutil.process_iter(["cmdline", "status"])
            if p.info["status"] != psutil.STATUS_ZOMBIE
            and token in " ".join(p.info["cmdline"] or [])]


def test_cancel_kills_the_running_command(tmp_path: Path) -> None:
    token = f"30.{os.getpid()}{time.monotonic_ns() % 1000}"

    async def main() -> ToolResult:
        cancel = asyncio.Event()
        asyncio.get_running_loop().call_later(0.3, cancel.set)
        return await session().run(call(["sleep", token], tmp_path), cancel=cancel)

    started = time.monotonic()
    result = asyncio.run(main())
    assert time.monotonic() - started < 5
    assert result.status == "failed" and result.cancelled
    assert result.reason == "cancelled while running"
    assert result.attempts[0].terminated and result.sandbox == BWRAP
    deadline = time.monotonic() + 2
    while _processes_with(f"sleep {token}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_with(f"sleep {token}") == []


def test_timeout(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run(session(), ["sleep", "5"], tmp_path, timeout_ms=300)
    assert time.monotonic() - started < 4
    assert result.status == "failed" and result.reason == "timed out"
    assert result.exit_code == 124 and result.attempts[0].timed_out
    assert not result.cancelled and result.denials == []


# -- 10: streaming ----------------------------------------------------------------------


def test_output_streams_while_the_command_runs(tmp_path: Path) -> None:
    chunks: list[tuple[float, str, bytes]] = []

    async def listener(stream: str, data: bytes) -> None:
        chunks.append((time.monotonic(), stream, data))

    async def main() -> tuple[ToolResult, float]:
        result = await session().run(
            call("printf a; sleep 0.4; printf b; printf err >&2", tmp_path), on_output=listener)
        return result, time.monotonic()

    result, finished = asyncio.run(main())
    assert result.status == "completed", result.output
    assert result.stdout == b"ab" and result.stderr == b"err"
    stdout = [data for _, stream, data in chunks if stream == "stdout"]
    assert b"".join(stdout) == b"ab"
    assert b"".join(d for _, s, d in chunks if s == "stderr") == b"err"
    first_at, _, first = chunks[0]
    assert first == b"a"
    assert finished - first_at > 0.2  # seen well before the command ended


# -- 11: audit log ----------------------------------------------------------------------


@pytest.mark.parametrize("include_output", [False, True])
def test_audit_log_records_the_flow_but_not_the_output(tmp_path: Path,
                                                       include_output: bool) -> None:
    secret = "s3cr3t-" + os.urandom(6).hex()
    (tmp_path / "secret.txt").write_text(secret + "\n")
    path = tmp_path / "logs" / "audit.jsonl"
    with AuditLog(path, include_output=include_output) as audit:
        tool = session('prefix_rule(pattern=["cat"], decision="prompt")', Approver("accept"),
                       audit_log=audit)
        result = asyncio.run(tool.run(call(["cat", "secret.txt"], tmp_path), call_id="audit-1"))
    assert result.status == "completed" and result.stdout == (secret + "\n").encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert [r["type"] for r in records] == [
        "decision", "approvalRequested", "approval", "runStarted", "runEnded", "result"]
    for record in records:
        assert next(iter(record)) == "ts"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["ts"])
        assert record["callId"] == "audit-1"
    assert records[2]["answer"] == "accept"
    assert records[4]["sandbox"] == BWRAP and records[4]["exitCode"] == 0
    assert records[5]["status"] == "completed"
    if include_output:
        assert secret in text and records[4]["stdout"] == secret + "\n"
    else:
        assert secret not in text
        assert all("stdout" not in r and "stderr" not in r for r in records)


# -- 12: malformed calls ----------------------------------------------------------------


@pytest.mark.parametrize(("fields", "named"), [
    ({"command": []}, "command"),
    ({"command": "   "}, "command"),
    ({"command": ["echo", "a\0b"]}, "command[1]"),
    ({"cwd": "relative/dir"}, "cwd"),
    ({"cwd": "/nonexistent/execguard-test"}, "cwd"),
    ({"approval_policy": "sometimes"}, "approvalPolicy"),
    ({"sandbox_policy": {"type": "bogus"}}, "sandboxPolicy"),
    ({"sandbox_permissions": "with_additional_permissions"}, "sandboxPermissions"),
    ({"sandbox_permissions": "root"}, "sandboxPermissions"),
    ({"timeout_ms": -1}, "timeoutMs"),
])
def test_malformed_calls_raise_naming_the_field(tmp_path: Path, fields: dict[str, Any],
                                                named: str) -> None:
    approver = Approver("accept")
    events: list[dict[str, Any]] = []
    values: dict[str, Any] = {"command": ["mkdir", "made"], "cwd": str(tmp_path), **fields}
    tool = session("", approver)
    with pytest.raises(ToolCallError) as raised:
        asyncio.run(tool.run(ToolCall(**values), on_event=events.append))
    assert str(raised.value).startswith(named + ":"), str(raised.value)
    assert approver.requests == [] and events == []
    assert not (tmp_path / "made").exists()


# -- 13: a decline means it never ran ---------------------------------------------------

WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_./", min_size=1, max_size=8)
# Known-safe programs run (in the sandbox, under Skip); the others must be asked about.
PROGRAMS = st.one_of(st.sampled_from(["echo", "true", "pwd", "ls"]),
                     st.sampled_from(["touch", "mkdir", "rm", "cp"]), WORDS)


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=st.tuples(PROGRAMS, st.lists(WORDS, max_size=3)).map(lambda t: [t[0], *t[1]]))
def test_property_untrusted_with_a_declining_approver(tmp_path: Path, argv: list[str]) -> None:
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    approver = Approver()  # declines everything
    result = run(session("", approver), argv, work, approval_policy="untrusted", timeout_ms=5000)
    asked = approver.kinds
    event(f"asked={asked} status={result.status}")
    if asked and asked[0] == "command":
        # A declined command question: it never started.
        assert asked == ["command"]
        assert result.status == "declined" and result.reason == REJECTED_BY_USER
        assert result.attempts == [] and result.exit_code is None
        assert list(work.iterdir()) == []
    elif asked:
        # "Retry without sandbox?" only after the sandbox denied something.
        assert asked == ["retry"]
        assert len(result.attempts) == 1 and result.attempts[0].denial is not None, (
            argv, result.attempts)
        assert result.status == "declined"
    else:
        assert result.status in ("completed", "failed") and len(result.attempts) == 1
        assert result.sandbox == BWRAP
