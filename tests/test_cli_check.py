"""`execguard execpolicy check` end to end, as a user runs it."""

import io
import json
import subprocess
import sys
from pathlib import Path

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
