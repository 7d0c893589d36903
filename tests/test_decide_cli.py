"""`execguard execpolicy decide` and `execguard execpolicy test` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXE = Path(sys.executable).parent / "execguard"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), "execpolicy", *args], cwd=cwd, capture_output=True,
                          text=True, check=False)


def test_decide_prints_the_requirement_and_every_segment(tmp_path: Path) -> None:
    (tmp_path / "a.rules").write_text('prefix_rule(["git", "push"], "prompt", '
                                      'justification="publishes")\n')
    done = run("decide", "-r", "a.rules", "--approval-policy", "untrusted", "--",
               "bash", "-lc", "git push && ls", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["requirement"] == {
        "type": "needsApproval", "proposedExecpolicyAmendment": None,
        "reason": "`bash -lc 'git push && ls'` requires approval: publishes"}
    assert [s["argv"] for s in result["segments"]] == [["git", "push"], ["ls"]]
    assert result["segments"][1]["heuristic"] == "known-safe"


def test_decide_explain_is_readable(tmp_path: Path) -> None:
    done = run("decide", "--explain", "-a", "never", "--", "rm", "-rf", "build", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == (
        "forbidden: `rm -rf build` rejected: rm -f style commands are not permitted. "
        "Use a safer approach")
    assert "heuristic forced-rm -> forbidden" in done.stdout


def test_decide_refuses_escalation_outside_on_request(tmp_path: Path) -> None:
    done = run("decide", "-a", "never", "--escalate", "--", "ls", cwd=tmp_path)
    assert done.returncode == 2
    assert "approval policy is Never; reject command" in done.stderr


def test_corpus_check_reports_mismatches_and_exit_code(tmp_path: Path) -> None:
    (tmp_path / "a.rules").write_text('prefix_rule(["cargo", "test"])\n')
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join([
        "# expected decisions",
        json.dumps({"command": ["cargo", "test"], "expect": "allow"}),
        json.dumps({"script": "cargo test && cargo build", "expect": "prompt",
                    "approvalPolicy": "untrusted"}),
        json.dumps({"command": ["rm", "-rf", "x"], "expect": "forbidden",
                    "approvalPolicy": "never"}),
    ]) + "\n")
    done = run("test", "-r", "a.rules", str(corpus), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("3 passed, 0 failed")
    corpus.write_text(json.dumps({"command": ["cargo", "build"], "expect": "allow",
                                  "approvalPolicy": "untrusted"}) + "\n")
    done = run("test", "-r", "a.rules", str(corpus), cwd=tmp_path)
    assert done.returncode == 1
    assert "expected allow, got prompt" in done.stdout
    corpus.write_text('{"command": "ls", "expect": "allow"}\n')
    done = run("test", str(corpus), cwd=tmp_path)
    assert done.returncode == 1
    assert "corpus.jsonl:1: invalid case" in done.stderr


def test_decide_explains_full_analysis_with_reasons_and_places(tmp_path: Path) -> None:
    (tmp_path / "a.rules").write_text('prefix_rule(["sed"])\nprefix_rule(["cat"])\n')
    done = run("decide", "--explain", "-r", "a.rules", "-a", "untrusted", "--cwd", "/work",
               "--", "bash", "-lc", "cat $(sed -i s/a/b/ /etc/hosts) > out.txt", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == ("needs approval: `sed -i s/a/b/ /etc/hosts` requires approval: "
                        "sed: `-i` rewrites `/etc/hosts`")
    assert "  but argument-limit -> prompt" in lines
    assert "  found in: $(...)" in lines
    # out.txt is inside the working directory, which workspace-write may write.
    assert not any("out.txt" in line for line in lines)
    done = run("decide", "-r", "a.rules", "-a", "untrusted", "-s", "read-only", "--cwd", "/work",
               "--", "bash", "-lc", "cat f > out.txt", cwd=tmp_path)
    result = json.loads(done.stdout)
    assert result["segments"][-1]["kind"] == "write"
    assert "outside the writable roots" in result["requirement"]["reason"]
