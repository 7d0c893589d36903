"""`execguard run` driven through a real PTY (pexpect), as a person uses it:
the decision shown, the questions answered, output live, the summary line,
exit statuses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import psutil  # type: ignore[import-untyped]
import pytest

EXECGUARD = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "execguard"
PROMPT_RULES = ('prefix_rule(pattern=["git", "push"], decision="prompt", '
                'justification="talks to the remote")\n')
RM_FORBIDDEN = 'prefix_rule(pattern=["rm"], decision="forbidden", justification="no deleting")\n'


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty execguard home: the user rules land in home/rules/default.rules."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory no workspace-write sandbox of `work` may write (not under
    the workspace, /tmp or $TMPDIR)."""
    path = Path(tempfile.mkdtemp(prefix="execguard-run-cli-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXECGUARD")}
    # A plain environment: no login-profile noise from the host's shell setup.
    env.update(EXECGUARD_HOME=str(home), HOME=str(home), TERM="dumb")
    return env


def _spawn(args: list[str], cwd: Path, home: Path) -> pexpect.spawn[str]:
    child = pexpect.spawn(str(EXECGUARD), ["run", *args], cwd=str(cwd), env=_env(home),
                          encoding="utf-8", timeout=30, dimensions=(40, 200))
    return child


def _finish(child: pexpect.spawn[str]) -> tuple[str, int]:
    """The rest of the session's text and the exit status."""
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus is not None, child.signalstatus
    return str(child.before), int(child.exitstatus)


def test_a_rule_allowed_command_runs_outside_the_sandbox(work: Path, home: Path) -> None:
    child = _spawn(["--", "ls", "-d", "."], work, home)
    rest, status = _finish(child)
    assert "allowed, runs outside the sandbox (rule `ls` → allow)" in rest
    assert "completed · exit 0 · " in rest
    assert "no sandbox" in rest
    assert status == 0


def test_an_unmatched_command_runs_in_the_sandbox_with_output_live(work: Path,
                                                                  home: Path) -> None:
    child = _spawn(["printf 'first\\n'; sleep 1; printf 'second\\n'; exit 3"], work, home)
    child.expect("running in the sandbox \\(workspace-write, ")
    child.expect("first")
    # Seen while the command still sleeps: the output is not held back.
    assert child.isalive()
    child.expect("second")
    rest, status = _finish(child)
    assert "failed · exit 3 · " in rest
    assert "(workspace-write)" in rest
    assert status == 3


def test_yes_runs_a_prompted_command_in_the_sandbox(work: Path, home: Path) -> None:
    (home / "rules").mkdir()
    (home / "rules" / "test.rules").write_text(PROMPT_RULES)
    child = _spawn(["--", "git", "push", "origin"], work, home)
    child.expect("needs approval \\(rule `git push` → prompt\\)")
    child.expect("reason:  `git push origin` requires approval: talks to the remote")
    child.expect("runs:    in the sandbox")
    # A prompt rule matched: no allow rule is offered (it would not stop the prompt).
    child.expect("Run it\\? \\[y\\]es / \\[n\\]o: ")
    child.sendline("y")
    child.expect("running in the sandbox")
    rest, status = _finish(child)
    assert "not a git repository" in rest  # git's own error: it did run
    assert "failed · exit 128" in rest
    assert status == 128


def test_no_declines_and_the_command_never_runs(work: Path, home: Path) -> None:
    child = _spawn(["-a", "untrusted", "--", "touch", "made"], work, home)
    child.expect("Run it\\? \\[y\\]es / \\[a\\]lways / \\[n\\]o: ")
    child.sendline("n")
    rest, status = _finish(child)
    assert "declined: rejected by user" in rest
    assert status == 126
    assert not (work / "made").exists()


def test_an_unknown_answer_asks_again(work: Path, home: Path) -> None:
    child = _spawn(["-a", "untrusted", "--", "touch", "made"], work, home)
    child.expect("Run it\\? ")
    child.sendline("maybe")
    child.expect("please answer \\[y\\]es, \\[a\\]lways, \\[n\\]o")
    child.expect("Run it\\? ")
    child.sendline("y")
    _, status = _finish(child)
    assert status == 0
    assert (work / "made").exists()


def test_always_persists_the_rule_and_the_next_run_is_not_asked(work: Path,
                                                                home: Path) -> None:
    child = _spawn(["-a", "untrusted", "--", "touch", "made"], work, home)
    child.expect('always:  adds prefix_rule\\(\\["touch", "made"\\], decision="allow"\\)')
    child.expect("Run it\\? ")
    child.sendline("a")
    child.expect("added to .*default.rules")
    _, status = _finish(child)
    assert status == 0
    rules = (home / "rules" / "default.rules").read_text()
    assert 'prefix_rule(pattern=["touch", "made"], decision="allow")' in rules
    (work / "made").unlink()

    again = _spawn(["-a", "untrusted", "--", "touch", "made"], work, home)
    rest, status = _finish(again)
    assert "Run it?" not in rest
    assert "allowed, runs outside the sandbox (rule `touch made` → allow)" in rest
    assert status == 0
    assert (work / "made").exists()


def test_a_sandbox_denial_offers_a_retry_outside(work: Path, home: Path,
                                                 outside: Path) -> None:
    target = outside / "written"
    child = _spawn(["-a", "on-failure", "--", "touch", str(target)], work, home)
    child.expect_exact(f"the sandbox denied writing {target} (read-only file system)")
    child.expect("the command failed in the sandbox")
    child.expect("reason:  command failed; retry without sandbox\\?")
    child.expect("Retry without the sandbox\\? ")
    child.sendline("y")
    child.expect("retrying outside the sandbox")
    rest, status = _finish(child)
    assert "completed · exit 0 · " in rest
    assert "no sandbox" in rest
    assert status == 0
    assert target.exists()


def test_a_declined_retry_keeps_the_sandboxed_failure(work: Path, home: Path,
                                                      outside: Path) -> None:
    target = outside / "written"
    child = _spawn(["-a", "on-failure", "--", "touch", str(target)], work, home)
    child.expect("Retry without the sandbox\\? ")
    child.sendline("n")
    rest, status = _finish(child)
    assert "declined · exit 1 · " in rest
    assert status == 126
    assert not target.exists()


def test_on_request_reports_a_denial_without_retrying(work: Path, home: Path,
                                                      outside: Path) -> None:
    child = _spawn(["--", "touch", str(outside / "written")], work, home)
    rest, status = _finish(child)
    assert "Retry" not in rest
    assert "the sandbox most likely blocked this command" in rest
    assert "--escalate" in rest
    assert status == 1


def test_escalate_asks_and_runs_outside_the_sandbox(work: Path, home: Path,
                                                    outside: Path) -> None:
    target = outside / "written"
    child = _spawn(["--escalate", "--justification", "needs to write the cache", "--",
                    "touch", str(target)], work, home)
    child.expect("reason:  needs to write the cache")
    child.expect("runs:    OUTSIDE the sandbox")
    child.expect("Run it\\? ")
    child.sendline("y")
    child.expect("running outside the sandbox")
    _, status = _finish(child)
    assert status == 0
    assert target.exists()


def test_forbidden_commands_never_start(work: Path, home: Path) -> None:
    rules = work / "forbid.rules"
    rules.write_text(RM_FORBIDDEN)
    (work / "victim").mkdir()
    child = _spawn(["-r", str(rules), "touch marker && rm -rf victim"], work, home)
    rest, status = _finish(child)
    assert "forbidden (" in rest
    assert "rejected: no deleting" in rest
    assert "running" not in rest
    assert status == 126
    assert (work / "victim").is_dir()
    assert not (work / "marker").exists()


def test_ctrl_c_cancels_a_running_command(work: Path, home: Path) -> None:
    child = _spawn(["echo $$ > pid; exec sleep 30"], work, home)
    child.expect("running in the sandbox")
    deadline = time.monotonic() + 10
    while not (work / "pid").exists() or not (work / "pid").read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    started = time.monotonic()
    child.sendintr()
    rest, status = _finish(child)
    assert time.monotonic() - started < 5
    assert "cancelled while running" in rest
    assert status == 130
    # The pid is the sandbox's view (its own PID namespace): check no sleep 30
    # of this test is left anywhere.
    leftovers = [p for p in psutil.process_iter(["cmdline", "cwd"])
                 if p.info["cmdline"] == ["sleep", "30"] and p.info["cwd"] == str(work)]
    assert leftovers == []


def test_ctrl_c_at_the_prompt_declines(work: Path, home: Path) -> None:
    child = _spawn(["-a", "untrusted", "--", "touch", "made"], work, home)
    child.expect("Run it\\? ")
    child.sendintr()
    rest, status = _finish(child)
    assert "declined" in rest
    assert status == 130
    assert not (work / "made").exists()


def test_without_a_terminal_prompts_are_declined(work: Path, home: Path) -> None:
    done = subprocess.run([str(EXECGUARD), "run", "-a", "untrusted", "--", "touch", "made"],
                          cwd=work, env=_env(home), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 126
    assert "nobody can be asked (stdin is not a terminal)" in done.stderr
    assert not (work / "made").exists()


def test_the_audit_log_records_the_call_without_output(work: Path, home: Path) -> None:
    log = work / "audit.jsonl"
    (work / "secret.txt").write_text("s3cret\n")
    child = _spawn(["--audit-log", str(log), "-a", "untrusted", "touch made; cat secret.txt"],
                   work, home)
    child.expect("Run it\\? ")
    child.sendline("y")
    rest, status = _finish(child)
    assert "s3cret" in rest
    assert status == 0
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["type"] for r in records] == ["decision", "approvalRequested", "approval",
                                            "runStarted", "runEnded", "result"]
    assert records[2]["answer"] == "accept"
    assert all("ts" in r for r in records)
    assert "s3cret" not in log.read_text()


def test_usage_errors(work: Path, home: Path) -> None:
    for args in ([], ["-a", "sometimes", "--", "true"], ["--audit-output", "--", "true"],
                 ["-s", "danger-full-access", "--network", "--", "true"]):
        done = subprocess.run([str(EXECGUARD), "run", *args], cwd=work, env=_env(home),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=30)
        assert done.returncode == 2, (args, done.stderr)
        assert "usage: execguard run" in done.stderr


def test_a_broken_rules_file_is_named(work: Path, home: Path) -> None:
    rules = work / "bad.rules"
    rules.write_text('prefix_rule(pattern=["git"], decision="deny")\n')
    done = subprocess.run([str(EXECGUARD), "run", "-r", str(rules), "--", "true"], cwd=work,
                          env=_env(home), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 1
    assert "bad.rules" in done.stderr
    assert "invalid decision: deny" in done.stderr
