"""The two corpora of tests/corpus (see its README): commands agents really
run, which a well-configured policy must let through, and tricks that use
innocent-looking allowed programs to run anything or write anywhere, which
must never run without approval."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execguard.execpolicy import load_policy, load_policy_from_strings
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


# -- generated scripts: an unknown part is never allowed -------------------------------


ALLOWED_RULES = """
prefix_rule(["ls"])
prefix_rule(["cat"])
prefix_rule(["grep"])
prefix_rule(["sed"])
prefix_rule(["find"])
prefix_rule(["xargs"])
prefix_rule(["timeout"])
prefix_rule(["env"])
prefix_rule(["git", "log"])
prefix_rule(["sort"])
"""
KNOWN = ["ls -la", "cat README.md", "grep -n x src/a.py", "sed -n 1,5p f", "git log -3",
         "sort f", "echo hi", "true", "find . -name x"]
# Each is unknown to the policy, or only known at run time.
UNKNOWN = ["zz", "$CMD", "\"$CMD\" x", "eval ls", "source f", "ls > /etc/x", "ls > \"$f\"",
           "PATH=/tmp ls", "LD_PRELOAD=/x ls", "alias ls=zz", "cat $(zz)", "cat <(zz)",
           "echo `zz`", "sed -n 1p $f", "find . -exec zz {} +", "echo x | xargs zz",
           "timeout 5 zz", "env zz", "sh -c zz", "bash -c \"$s\"", "git $x", "git -c a=b log",
           "sed -i s/a/b/ /etc/x", "x='a[$(zz)]'; echo $((x))", "./ls", "/tmp/ls",
           "ls() { zz; }; ls", "cat <<EOF\n$(zz)\nEOF", "trap zz EXIT", "read PATH"]
TEMPLATES = ["{u}", "{k} && {u}", "{u} || {k}", "{k} | {u}", "({u})", "{{ {k}; {u}; }}",
             "if {k}; then {u}; fi", "for f in a b; do {u}; done", "while false; do {u}; done",
             "case x in x) {u};; esac", "{k}; {u} 2>/dev/null", "f() {{ {u}; }}; f",
             "cd sub && {u}", "{k} $({u})"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TEMPLATES), st.sampled_from(KNOWN), st.sampled_from(UNKNOWN),
       st.sampled_from(["bash", "zsh", "sh"]))
def test_a_script_with_an_unknown_part_is_never_allowed(template: str, known: str,
                                                        unknown: str, shell: str) -> None:
    policy = load_policy_from_strings([("t.rules", ALLOWED_RULES)])
    script = template.format(k=known, u=unknown)
    argv = [shell, "-lc", script]
    result = assess(policy, argv, approval_policy="untrusted", sandbox="workspace-write",
                    cwd=WORKSPACE)
    assert result.decision is not Decision.ALLOW, script
    for approval in ("on-request", "never", "on-failure"):
        result = assess(policy, argv, approval_policy=approval, sandbox="workspace-write",
                        cwd=WORKSPACE)
        assert not (isinstance(result.requirement, Skip) and result.requirement.bypass_sandbox)


def test_the_known_parts_alone_are_allowed() -> None:
    policy = load_policy_from_strings([("t.rules", ALLOWED_RULES)])
    for template in TEMPLATES:
        script = template.format(k=KNOWN[0], u=KNOWN[1])
        result = assess(policy, ["bash", "-lc", script], approval_policy="untrusted",
                        sandbox="workspace-write", cwd=WORKSPACE)
        assert result.decision is Decision.ALLOW, script
