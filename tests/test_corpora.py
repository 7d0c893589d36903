"""The two corpora of tests/corpus (see its README): commands agents really
run, which a well-configured policy must let through, and tricks that use
innocent-looking allowed programs to run anything or write anywhere, which
must never run without approval."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from execguard.execpolicy import load_policy
from execguard.execpolicy.approval import NeedsApproval, Skip
from execguard.execpolicy.decision import Decision
from execguard.execpolicy.engine import CURRENT, DEFAULT, assess

CORPUS = Path(__file__).parent / "corpus"
# A fixed workspace: results must not depend on where the tests run.
WORKSPACE = "/workspace/project"


def cases(name: str) -> list[dict[str, object]]:
    lines = (CORPUS / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip() and not line.startswith("#")]


def command(case: dict[str, object]) -> list[str]:
    if "command" in case:
        value = case["command"]
        assert isinstance(value, list)
        return [str(item) for item in value]
    return ["bash", "-lc", str(case["script"])]


AGENT = cases("agent_commands.jsonl")
BYPASS = cases("bypass.jsonl")


@pytest.fixture(scope="module")
def agent_policy():
    return load_policy([CORPUS / "agent.rules"])


@pytest.fixture(scope="module")
def bypass_policy():
    return load_policy([CORPUS / "bypass.rules"])


def run_free(policy, case, options=DEFAULT) -> bool:
    result = assess(policy, command(case), approval_policy="untrusted",
                    sandbox="workspace-write", cwd=WORKSPACE, options=options)
    return isinstance(result.requirement, Skip)


def test_the_agent_corpus_is_big_and_varied() -> None:
    assert len(AGENT) >= 100
    scripts = [str(c.get("script", "")) for c in AGENT]
    for shape in ("|", "2>&1", "cd ", "<<", "for ", "$(", "> ", "=1 "):
        assert sum(shape in s for s in scripts) >= 3, shape


@pytest.mark.parametrize("case", AGENT, ids=lambda c: str(c.get("script", c.get("command"))))
def test_agent_commands_get_their_expected_decision(agent_policy, case) -> None:
    assert run_free(agent_policy, case) == (case["expect"] == "allow"), case.get("why")


def test_at_least_95_percent_of_agent_commands_run_without_a_prompt(agent_policy) -> None:
    free = sum(run_free(agent_policy, case) for case in AGENT)
    assert free / len(AGENT) >= 0.95
    # Codex's own splitting gives up on most of them (redirects, `VAR=x`,
    # substitutions, loops): the reason for full analysis.
    codex = sum(run_free(agent_policy, case, CURRENT) for case in AGENT)
    assert codex < free


@pytest.mark.parametrize("case", BYPASS, ids=lambda c: str(c.get("script", c.get("command"))))
def test_no_bypass_trick_runs_without_approval(bypass_policy, case) -> None:
    for approval in ("untrusted", "on-request"):
        result = assess(bypass_policy, command(case), approval_policy=approval,
                        sandbox="workspace-write", cwd=WORKSPACE)
        if approval == "untrusted":
            assert result.decision is not Decision.ALLOW, case.get("why")
            assert isinstance(result.requirement, NeedsApproval | type(None)) or (
                result.decision is Decision.FORBIDDEN)
        # Under on-request it may run, but never outside the sandbox.
        assert not (isinstance(result.requirement, Skip) and result.requirement.bypass_sandbox)
