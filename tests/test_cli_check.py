"""`execguard execpolicy check` end to end, as a user runs it."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from execguard.execpolicy.cli import check_main


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = check_main(argv, out, err)
    return code, out.getvalue(), err.getvalue()


def test_strictest_decision_and_every_match_in_order(tmp_path: Path) -> None:
    rules = tmp_path / "a.rules"
    rules.write_text('prefix_rule(["git", ["a", "b"]], justification="j")\n'
                     'prefix_rule(["git"], "prompt")\n')
    code, out, err = run(["--rules", str(rules), "git", "a", "x"])
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "matchedRules": [
            {"prefixRuleMatch": {"matchedPrefix": ["git", "a"], "decision": "allow",
                                 "justification": "j"}},
            {"prefixRuleMatch": {"matchedPrefix": ["git"], "decision": "prompt"}},
        ],
        "decision": "prompt",
    }


def test_console_script_runs_as_a_process(tmp_path: Path) -> None:
    rules = tmp_path / "a.rules"
    rules.write_text('prefix_rule(["rm", "-rf"], "forbidden")\n')
    exe = Path(sys.executable).parent / "execguard"
    done = subprocess.run([str(exe), "execpolicy", "check", "-r", str(rules), "rm", "-rf", "/"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert json.loads(done.stdout)["decision"] == "forbidden"


def test_the_installed_command_does_not_import_what_a_check_does_not_need(
        tmp_path: Path) -> None:
    """Startup is most of a check: keep heavy modules out of the cached path."""
    rules = tmp_path / "a.rules"
    rules.write_text('prefix_rule(["git"], "prompt")\n')
    exe = Path(sys.executable).parent / "execguard"
    argv = [sys.executable, "-X", "importtime", str(exe), "execpolicy", "check", "-r",
            str(rules), "git"]
    subprocess.run(argv, capture_output=True, check=True)  # fills the policy cache
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["decision"] == "prompt"
    loaded = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
              if line.startswith("import time:") and "|" in line}
    heavy = {"re", "enum", "typing", "json", "dataclasses", "inspect", "hashlib",
             "pydantic", "starlark", "pathlib", "tempfile"}
    assert "execguard.execpolicy.cache" in loaded
    assert loaded.isdisjoint(heavy), sorted(loaded & heavy)


def execguard(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("XDG_CONFIG_HOME", "EXECGUARD_HOME", "CODEX_HOME")}
    env["HOME"] = str(home)
    exe = Path(sys.executable).parent / "execguard"
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          check=False)


def test_discover_loads_shipped_user_and_trusted_project_rules(tmp_path: Path) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    (project / ".execguard" / "rules").mkdir(parents=True)
    (project / ".execguard" / "rules" / "p.rules").write_text(
        'prefix_rule(["make", "deploy"], "forbidden")\n')
    (home / ".config" / "execguard" / "rules").mkdir(parents=True)
    (home / ".config" / "execguard" / "rules" / "u.rules").write_text(
        'prefix_rule(["cargo", "test"])\n')

    listed = execguard(["execpolicy", "rules"], project, home)
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == ["default", "user"]
    assert "is not trusted" in listed.stderr

    def decision(*command: str) -> str | None:
        done = execguard(["execpolicy", "check", "--discover", *command], project, home)
        assert done.returncode == 0, done.stderr
        result: dict[str, str] = json.loads(done.stdout)
        return result.get("decision")

    assert decision("rm", "-rf", "/") == "forbidden"  # the shipped policy
    assert decision("cargo", "test") == "allow"  # the user's rules
    assert decision("make", "deploy") is None  # an untrusted project's rules are ignored
    trusted = execguard(["execpolicy", "trust"], project / ".execguard", home)
    assert trusted.stdout.startswith(f"trusted {project.resolve()}")
    assert decision("make", "deploy") == "forbidden"
    listed = execguard(["execpolicy", "rules"], project, home)
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == [
        "default", "user", "project"]


def test_discover_reports_a_broken_user_file_with_its_location(tmp_path: Path) -> None:
    home = tmp_path / "home"
    rules = home / ".config" / "execguard" / "rules" / "bad.rules"
    rules.parent.mkdir(parents=True)
    rules.write_text('\nprefix_rule(["git"], "deny")\n')
    done = execguard(["execpolicy", "check", "--discover", "git"], tmp_path, home)
    assert done.returncode == 1
    assert f"failed to parse policy at {rules}" in done.stderr
    assert f"--> {rules}:2:1" in done.stderr
    assert "invalid decision: deny" in done.stderr


@settings(max_examples=300, deadline=None)
@given(st.recursive(
    st.text(), lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(), inner, max_size=3), max_leaves=12),
    st.booleans())
def test_json_output_is_exactly_what_the_reference_prints(value: object, pretty: bool) -> None:
    """serde_json's output equals Python's json.dumps(ensure_ascii=False)."""
    from execguard.execpolicy.cli import to_json

    expected = (json.dumps(value, ensure_ascii=False, indent=2) if pretty
                else json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    assert to_json(value, indent=2 if pretty else None) == expected
