"""The rules that ship with execguard load (their examples are checked at
load time) and decide the commands they are there for."""

from __future__ import annotations

from pathlib import Path

import pytest

from execguard.execpolicy import Decision, load_policy

POLICIES = Path(__file__).resolve().parent.parent / "policies"
SHIPPED = sorted(POLICIES.rglob("*.rules"))


def test_there_is_a_default_policy_and_examples() -> None:
    assert POLICIES / "default.rules" in SHIPPED
    assert len(SHIPPED) >= 3


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(POLICIES)))
def test_every_shipped_file_loads_with_its_examples(path: Path) -> None:
    load_policy([path], use_cache=False)


@pytest.mark.parametrize(("command", "decision"), [
    ("rm -rf /", Decision.FORBIDDEN),
    ("rm -fr ~", Decision.FORBIDDEN),
    ("mkfs.ext4 /dev/sda1", Decision.FORBIDDEN),
    ("kill -9 -1", Decision.FORBIDDEN),
    ("sudo apt-get install jq", Decision.PROMPT),
    ("git push --force origin main", Decision.PROMPT),
    ("git reset --hard HEAD~3", Decision.PROMPT),
    ("npm publish", Decision.PROMPT),
    ("terraform destroy", Decision.PROMPT),
    ("ls -la", Decision.ALLOW),
    ("pwd", Decision.ALLOW),
    ("rm -rf build", None),
    ("git status", None),
    ("python3 -c pass", None),
])
def test_the_default_policy_decides(command: str, decision: Decision | None) -> None:
    policy = load_policy([POLICIES / "default.rules"])
    assert policy.decision(command.split()) is decision


def test_the_default_policy_allows_only_programs_safe_with_any_arguments() -> None:
    """An allow rule runs a command outside the sandbox: only tools that can
    neither write files nor run other programs, whatever their arguments."""
    policy = load_policy([POLICIES / "default.rules"])
    allowed = {prefix[0] for prefix in policy.allowed_prefixes()}
    assert allowed <= {"pwd", "whoami", "true", "false", "uname", "id", "nproc", "ls", "wc"}
    assert all(len(prefix) == 1 for prefix in policy.allowed_prefixes())
