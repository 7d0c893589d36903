"""The exec bridge end to end: the real patched zsh inside the real sandbox,
every exec decided by the execpolicy engine (issue 8's proof list).

Runs go through :func:`execguard.runtimes.exec_bridge.run_bridged` (the
runtime's own path: bubblewrap unless a test picks Landlock) and through
``execguard app-server --zsh-bridge`` for the JSON-RPC side.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from execguard.execpolicy import load_policy_from_strings
from execguard.runtimes.exec_bridge import (
    BridgedResult,
    BridgeOptions,
    ExecApprovalAnswer,
    ExecApprovalRequest,
    run_bridged,
    shell_script,
)
from execguard.zsh_bridge import Action, BridgeInstall
from tests.test_app_server import StdioClient

READ_ONLY: dict[str, object] = {"type": "readOnly"}
WORKSPACE: dict[str, object] = {"type": "workspaceWrite"}


def _run(install: BridgeInstall, script: str, rules: str = "", *, cwd: Path,
         sandbox: dict[str, object] | None = None, approve: Any = None,
         approval_policy: str = "on-request", timeout_ms: int | None = 20_000,
         backend: str | None = None, login: bool = True) -> BridgedResult:
    policy = load_policy_from_strings([("test.rules", rules)])
    options = BridgeOptions(policy=policy, approval_policy=approval_policy, approve=approve,
                            install=install)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(cwd), "ZDOTDIR": str(cwd)}
    return asyncio.run(run_bridged(["zsh", "-lc" if login else "-c", script], options,
                                   cwd=str(cwd), env=env,
                                   sandbox_policy=sandbox if sandbox is not None else WORKSPACE,
                                   timeout_ms=timeout_ms, backend=backend))


def _programs(result: BridgedResult) -> list[str]:
    return [os.path.basename(record.command[0]) for record in result.execs]


def _marker_program(directory: Path, name: str, body: str) -> Path:
    """An executable outside the sandbox's writable roots (the tests use a
    read-only sandbox or a workspace elsewhere), so rules may escalate it."""
    directory.mkdir(parents=True, exist_ok=True)
    program = directory / name
    program.write_text("#!/bin/sh\n" + body)
    program.chmod(0o755)
    return program


# -- what is intercepted --------------------------------------------------------------


def test_builtins_are_not_intercepted(bridge_install: BridgeInstall, tmp_path: Path) -> None:
    result = _run(bridge_install, "echo hi; printf '%s\\n' there; cd /; pwd; true; [[ -d / ]]",
                  cwd=tmp_path)
    assert result.result.exit_code == 0, result.result.stderr
    assert result.result.stdout == b"hi\nthere\n/\n"
    assert result.execs == []


def test_every_kind_of_exec_is_intercepted(bridge_install: BridgeInstall,
                                           tmp_path: Path) -> None:
    script = (
        "ls -d / >/dev/null\n"                    # external
        "/bin/echo piped | cat >/dev/null\n"      # both sides of a pipeline
        "(uname >/dev/null)\n"                    # subshell
        "x=$(date +%Y)\n"                         # command substitution
        "f() { id -u >/dev/null; }; f\n"          # a function calling an external
        "zsh -fc 'whoami >/dev/null'\n"           # nested zsh: the patched one (PATH)
        "(exec hostname >/dev/null)\n"            # exec
        "echo done\n"
    )
    result = _run(bridge_install, script, cwd=tmp_path)
    assert result.result.exit_code == 0, result.result.stderr
    assert result.result.stdout == b"done\n"
    assert sorted(_programs(result)) == sorted(
        ["ls", "echo", "cat", "uname", "date", "id", "zsh", "whoami", "hostname"])
    nested = next(r for r in result.execs if os.path.basename(r.command[0]) == "zsh")
    assert nested.command[0] == bridge_install.zsh
    assert all(r.action is Action.RUN for r in result.execs)
    # what the policy judged: absolute program, the shell's directory
    ls = next(r for r in result.execs if r.command[0].endswith("/ls"))
    assert ls.command[1:] == ("-d", "/") and ls.workdir == str(tmp_path)


def test_a_denied_command_fails_and_the_script_goes_on(bridge_install: BridgeInstall,
                                                       tmp_path: Path) -> None:
    rules = 'prefix_rule(pattern=["curl"], decision="forbidden", justification="no network")'
    result = _run(bridge_install, "curl -s http://example.invalid; echo after=$?; echo end",
                  rules, cwd=tmp_path)
    assert result.result.exit_code == 0
    assert result.result.stdout == b"after=1\nend\n"
    assert result.result.stderr.startswith(
        b"Execution denied: Execution forbidden by policy: ")
    assert b"no network" not in result.result.stdout
    [record] = result.execs
    assert record.action is Action.DENY and record.command[0].endswith("/curl")


def test_rules_on_real_execs_allow_one_rm_and_forbid_the_other(bridge_install: BridgeInstall,
                                                                tmp_path: Path) -> None:
    """The script's text has both; only the exec view can split them."""
    (tmp_path / "scratch.txt").write_text("x")
    (tmp_path / "keep.txt").write_text("x")
    rules = 'prefix_rule(pattern=["rm", "keep.txt"], decision="forbidden")'
    result = _run(bridge_install, "rm scratch.txt; rm keep.txt; echo status=$?", rules,
                  cwd=tmp_path)
    assert result.result.stdout == b"status=1\n"
    assert not (tmp_path / "scratch.txt").exists()
    assert (tmp_path / "keep.txt").exists()
    assert [r.action for r in result.execs] == [Action.RUN, Action.DENY]


def test_hidden_execs_are_judged(bridge_install: BridgeInstall, tmp_path: Path) -> None:
    """Spelling tricks that hide a command from the script's text do not hide its exec."""
    rules = 'prefix_rule(pattern=["rm"], decision="forbidden")'
    (tmp_path / "f").write_text("x")
    script = "c=r; c=${c}m; $c f; eval 'r''m f'; echo cm0ZAo= | base64 -d >/dev/null; ls f"
    result = _run(bridge_install, script, rules, cwd=tmp_path)
    assert (tmp_path / "f").exists()
    assert result.result.stdout == b"f\n"
    assert [r.action for r in result.execs if r.command[0].endswith("/rm")] == [
        Action.DENY, Action.DENY]


# -- escalation -----------------------------------------------------------------------


def test_a_rule_allowed_command_runs_outside_the_sandbox(bridge_install: BridgeInstall,
                                                         tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    tools = tmp_path / "tools"
    mark = _marker_program(tools, "mark", f'echo "$1" > "{outside}"; echo marked\n')
    rules = 'prefix_rule(pattern=["mark"], decision="allow")'
    script = f'{mark} escalated; echo direct > "{outside}.2" 2>/dev/null || echo refused'
    result = _run(bridge_install, script, rules, cwd=tmp_path, sandbox=READ_ONLY)
    assert result.result.stdout == b"marked\nrefused\n", result.result.stderr
    assert outside.read_text() == "escalated\n"  # written from outside the sandbox
    assert not Path(f"{outside}.2").exists()  # the sandbox itself is read-only
    [record] = [r for r in result.execs if r.command[0] == str(mark)]
    assert record.action is Action.ESCALATE and record.exit_code == 0


def test_escalated_exit_code_and_stdio(bridge_install: BridgeInstall, tmp_path: Path) -> None:
    tool = _marker_program(tmp_path / "tools", "tool",
                           'read line; echo "got $line"; echo oops >&2; exit 7\n')
    rules = 'prefix_rule(pattern=["tool"], decision="allow")'
    result = _run(bridge_install, f"echo hello | {tool}; echo status=$?", rules, cwd=tmp_path,
                  sandbox=READ_ONLY)
    assert result.result.stdout == b"got hello\nstatus=7\n"
    assert result.result.stderr == b"oops\n"


def test_a_program_the_sandbox_can_write_is_never_escalated(bridge_install: BridgeInstall,
                                                             tmp_path: Path) -> None:
    """An allow rule names a program; a copy of something else under that name
    in a writable root must not run outside the sandbox. (Two layers refuse
    it: the engine does not apply rules to programs in writable roots, and
    the bridge never escalates one; test_zsh_bridge_protocol tests the
    second alone.)"""
    outside = tmp_path / "escaped"  # not writable from the sandbox: /tmp is excluded
    workspace = tmp_path / "ws"
    workspace.mkdir()
    rules = 'prefix_rule(pattern=["deploy"], decision="allow")'
    script = (f"printf '#!/bin/sh\\necho x > {outside}\\n' > deploy; chmod +x deploy; "
              "./deploy; echo status=$?")
    result = _run(bridge_install, script, rules, cwd=workspace, sandbox={
        "type": "workspaceWrite", "excludeSlashTmp": True, "excludeTmpdirEnvVar": True})
    assert not outside.exists()
    assert result.result.stdout == b"status=2\n"  # sandboxed: the write was refused
    deploy = next(r for r in result.execs if r.command[0] == str(workspace / "deploy"))
    assert deploy.action is Action.RUN


def test_escalated_programs_get_no_injected_loader(bridge_install: BridgeInstall,
                                                   tmp_path: Path) -> None:
    tool = _marker_program(tmp_path / "tools", "showenv",
                           'echo "LD=${LD_PRELOAD:-unset} BE=${BASH_ENV:-unset} K=$KEEP"\n')
    rules = 'prefix_rule(pattern=["showenv"], decision="allow")'
    result = _run(bridge_install, f"LD_PRELOAD=/tmp/evil.so BASH_ENV=/tmp/x KEEP=1 {tool}",
                  rules, cwd=tmp_path, sandbox=READ_ONLY)
    assert result.result.stdout == b"LD=unset BE=unset K=1\n"


def test_a_timeout_kills_escalated_children(bridge_install: BridgeInstall,
                                            tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    slow = _marker_program(tmp_path / "tools", "slow", f'echo $$ > "{pidfile}"; exec sleep 60\n')
    rules = 'prefix_rule(pattern=["slow"], decision="allow")'
    started = time.monotonic()
    result = _run(bridge_install, f"{slow}; echo never", rules, cwd=tmp_path,
                  sandbox=READ_ONLY, timeout_ms=1500)
    assert result.result.timed_out and result.result.exit_code == 124
    assert time.monotonic() - started < 15
    assert b"never" not in result.result.stdout
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# -- approvals ------------------------------------------------------------------------


class Approver:
    def __init__(self, *answers: ExecApprovalAnswer, delay: float = 0.0) -> None:
        self.answers = list(answers)
        self.asked: list[ExecApprovalRequest] = []
        self.delay = delay

    async def __call__(self, request: ExecApprovalRequest) -> ExecApprovalAnswer:
        self.asked.append(request)
        await asyncio.sleep(self.delay)
        return self.answers.pop(0)


def test_prompts_ask_the_approval_callback(bridge_install: BridgeInstall,
                                           tmp_path: Path) -> None:
    rules = 'prefix_rule(pattern=["uname"], decision="prompt", justification="asks")'
    approver = Approver("accept", "decline")
    result = _run(bridge_install, "uname; echo a=$?; uname -s; echo b=$?", rules, cwd=tmp_path,
                  approve=approver)
    assert result.result.stdout == b"Linux\na=0\nb=1\n"
    assert b"Execution denied: User denied execution" in result.result.stderr
    first, second = approver.asked
    assert first.command[0].endswith("/uname") and first.cwd == str(tmp_path)
    assert first.reason is not None and "asks" in first.reason
    assert second.command[1:] == ["-s"]


def test_accept_for_session_and_amendments_stop_the_prompts(bridge_install: BridgeInstall,
                                                            tmp_path: Path) -> None:
    approver = Approver("acceptForSession", ("amend", ["hostname"]))
    script = ("hostname >/dev/null; hostname >/dev/null; hostname -s >/dev/null; "
              "hostname -f >/dev/null; echo ok")
    result = _run(bridge_install, script, cwd=tmp_path, approval_policy="untrusted",
                  approve=approver)
    assert result.result.stdout == b"ok\n", result.result.stderr
    # `hostname` once for the session; `hostname -s` is another command, and
    # its answer allows every `hostname ...` from then on (`-f` is not asked).
    assert [r.command[1:] for r in approver.asked] == [[], ["-s"]]
    assert [r.action for r in result.execs] == [Action.RUN] * 4


def test_never_and_no_callback_deny_prompts(bridge_install: BridgeInstall,
                                            tmp_path: Path) -> None:
    rules = 'prefix_rule(pattern=["uname"], decision="prompt")'
    for approval_policy, approve in (("never", Approver("accept")), ("on-request", None)):
        result = _run(bridge_install, "uname; echo rc=$?", rules, cwd=tmp_path,
                      approval_policy=approval_policy, approve=approve)
        assert result.result.stdout == b"rc=1\n"
        assert result.result.stderr.startswith(b"Execution denied: Execution forbidden")
        if approve is not None:
            assert approve.asked == []


def test_cancel_stops_the_whole_run(bridge_install: BridgeInstall, tmp_path: Path) -> None:
    rules = 'prefix_rule(pattern=["uname"], decision="prompt")'
    result = _run(bridge_install, "uname; sleep 30; echo never", rules, cwd=tmp_path,
                  approve=Approver("cancel"))
    assert result.cancelled
    assert b"never" not in result.result.stdout
    assert result.result.terminated


def test_waiting_for_a_person_does_not_count_against_the_timeout(
        bridge_install: BridgeInstall, tmp_path: Path) -> None:
    rules = 'prefix_rule(pattern=["uname"], decision="prompt")'
    result = _run(bridge_install, "uname", rules, cwd=tmp_path, timeout_ms=1000,
                  approve=Approver("accept", delay=1.5))
    assert not result.result.timed_out
    assert result.result.stdout == b"Linux\n"


# -- backends and forms ---------------------------------------------------------------


def test_under_the_landlock_backend(bridge_install: BridgeInstall, tmp_path: Path) -> None:
    tool = _marker_program(tmp_path / "tools", "tool", "echo escalated\n")
    rules = ('prefix_rule(pattern=["tool"], decision="allow")\n'
             'prefix_rule(pattern=["curl"], decision="forbidden")')
    script = f"ls -d /; curl x; echo rc=$?; {tool}; touch /etc/x 2>/dev/null || echo ro"
    result = _run(bridge_install, script, rules, cwd=tmp_path, sandbox=READ_ONLY,
                  backend="landlock")
    assert result.result.stdout == b"/\nrc=1\nescalated\nro\n", result.result.stderr
    assert [r.action for r in result.execs] == [
        Action.RUN, Action.DENY, Action.ESCALATE, Action.RUN]


def test_plain_c_and_command_form(bridge_install: BridgeInstall, tmp_path: Path) -> None:
    result = _run(bridge_install, "/bin/echo plain", cwd=tmp_path, login=False)
    assert result.result.stdout == b"plain\n" and _programs(result) == ["echo"]
    assert shell_script(["zsh", "-lc", "x"]) == (True, "x")
    assert shell_script(["/bin/zsh", "-c", "x"]) == (False, "x")
    for other in (["bash", "-lc", "x"], ["zsh", "-fc", "x"], ["zsh", "-lc"], ["zsh", "x", "y"]):
        assert shell_script(other) is None
    with pytest.raises(ValueError, match="zsh, -lc"):
        asyncio.run(run_bridged(["bash", "-c", "true"], BridgeOptions(install=bridge_install),
                                cwd=str(tmp_path), env={}))


# -- the app server -------------------------------------------------------------------


def test_app_server_runs_zsh_commands_through_the_bridge(bridge_install: BridgeInstall,
                                                         tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "rules").mkdir(parents=True)
    (home / "rules" / "default.rules").write_text(
        'prefix_rule(pattern=["uname"], decision="prompt", justification="ask me")\n'
        'prefix_rule(pattern=["curl"], decision="forbidden")\n')
    env = {**os.environ, "EXECGUARD_HOME": str(home), "HOME": str(tmp_path)}
    client = StdioClient(cwd=tmp_path, env=env, args=("--zsh-bridge",))
    try:
        client.initialize()
        request = client.exec(["zsh", "-lc", "touch f; curl x; uname; echo end"],
                              processId="p1", sandboxPolicy=WORKSPACE, cwd=str(tmp_path))
        [approval] = client.messages("item/commandExecution/requestApproval", 1)
        params = approval["params"]
        assert params["itemId"] == "p1" and params["command"].endswith("/uname")
        assert params["reason"].endswith("ask me") and params["cwd"] == str(tmp_path)
        client.send({"id": approval["id"], "result": {"decision": "accept"}})
        result = client.wait(request)["result"]
        assert result["exitCode"] == 0
        assert result["stdout"] == "Linux\nend\n"
        assert (tmp_path / "f").exists()
        assert "Execution denied: Execution forbidden by policy" in result["stderr"]
        intercepted = [n["params"] for n in
                       client.messages("command/exec/intercepted", 3)]
        assert [(p["processId"], p["action"]) for p in intercepted] == [
            ("p1", "run"), ("p1", "deny"), ("p1", "escalate")]  # uname: rule-driven
        # Other commands are not bridged.
        plain = client.run(["sh", "-c", "echo ${EXEC_WRAPPER:-none}"], sandboxPolicy=WORKSPACE,
                           cwd=str(tmp_path))
        assert plain["result"]["stdout"] == "none\n"
    finally:
        client.kill()


def test_app_server_terminate_kills_escalated_children(bridge_install: BridgeInstall,
                                                       tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "rules").mkdir(parents=True)
    (home / "rules" / "default.rules").write_text(
        'prefix_rule(pattern=["slow"], decision="allow")\n')
    pidfile = tmp_path / "pid"
    slow = _marker_program(tmp_path / "tools", "slow",
                           f'echo $$ > "{pidfile}"; echo started; exec sleep 60\n')
    env = {**os.environ, "EXECGUARD_HOME": str(home), "HOME": str(tmp_path)}
    client = StdioClient(cwd=tmp_path, env=env, args=("--zsh-bridge",))
    try:
        client.initialize()
        request = client.exec(["zsh", "-lc", f"{slow}"], processId="slow", streamStdoutStderr=True,
                              sandboxPolicy=READ_ONLY, cwd=str(tmp_path))
        client.wait_output("slow", b"started")
        pid = int(pidfile.read_text())
        os.kill(pid, 0)  # running, outside the sandbox
        assert client.result("command/exec/terminate", {"processId": "slow"}) == {}
        response = client.wait(request)
        assert response["result"]["exitCode"] == 137
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    finally:
        client.kill()


def test_app_server_without_a_built_bridge_refuses_to_start(tmp_path: Path) -> None:
    env = {**os.environ, "ZSH_BRIDGE_CACHE": str(tmp_path / "empty"),
           "EXECGUARD_HOME": str(tmp_path)}
    client = StdioClient(cwd=tmp_path, env=env, args=("--zsh-bridge",))
    assert client.proc.wait(30) == 1
    assert client.proc.stderr is not None
    assert b"run zsh-bridge/build" in client.proc.stderr.read()
    client.kill()
