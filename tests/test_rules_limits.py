"""Hostile rules files fail cleanly instead of crashing the process.

Each case runs in a child process: a regression here is a SIGSEGV, which
would otherwise take the whole test run down with it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

CHILD = """
import sys
from execguard.execpolicy import PolicyParseError, load_policy_from_strings
source = sys.stdin.read()
try:
    load_policy_from_strings([("deep.rules", source)])
    print("loaded")
except PolicyParseError as error:
    print("error", error.location.line if error.location else "-", error.message)
"""

NESTED = {
    "brackets": lambda n: "x = " + "[" * n + "]" * n,
    "calls": lambda n: "x = " + "str(" * n + "1" + ")" * n,
    "dicts": lambda n: "x = " + "{1: " * n + "1" + "}" * n,
    "unary minus": lambda n: "x = " + "- " * n + "1",
    "not": lambda n: "x = " + "not " * n + "True",
    "lambdas": lambda n: "x = " + "lambda: " * n + "1",
    "comprehensions": lambda n: "x = " + "[y for y in " * n + "[1]" + "]" * n,
    "brackets and minus": lambda n: "x = " + "[-" * n + "1" + "]" * n,
}


def load_in_child(source: str) -> str:
    done = subprocess.run([sys.executable, "-c", CHILD], input=source, capture_output=True,
                          text=True, check=False, timeout=120)
    assert done.returncode == 0, f"loader crashed (exit {done.returncode}): {done.stderr[-500:]}"
    return done.stdout.strip()


@pytest.mark.parametrize("construct", sorted(NESTED))
def test_nesting_that_overflows_a_normal_stack_is_evaluated(construct: str) -> None:
    # 5,000 levels kill an 8 MiB main-thread stack; the reference accepts them.
    outcome = load_in_child("\n" + NESTED[construct](5000) + "\n")
    assert outcome == "loaded" or outcome.startswith("error 2 "), outcome


@pytest.mark.parametrize("construct", sorted(NESTED))
def test_absurd_nesting_is_rejected_with_a_location(construct: str) -> None:
    outcome = load_in_child("\n" + NESTED[construct](200_000) + "\n")
    assert outcome.startswith("error 2 "), outcome


def test_deep_values_handed_to_a_builtin_are_an_error() -> None:
    outcome = load_in_child(
        "x = 'a'\nfor i in range(100000):\n    x = [x]\nprefix_rule(['a', x])\n")
    assert outcome.startswith("error 4 "), outcome
    assert "Maximum depth" in outcome


def test_an_oversized_file_is_rejected_before_evaluation() -> None:
    from execguard.execpolicy import PolicyParseError, load_policy_from_strings
    from execguard.execpolicy.limits import MAX_SOURCE_BYTES

    with pytest.raises(PolicyParseError, match="rules file is too large"):
        load_policy_from_strings([("big.rules", "#" * (MAX_SOURCE_BYTES + 1))])


def test_brackets_inside_an_ordinary_large_policy_are_fine() -> None:
    from execguard.execpolicy import load_policy_from_strings

    source = "".join(f'prefix_rule(["tool{i}", ["a", "b"]], "prompt")\n' for i in range(5000))
    policy = load_policy_from_strings([("many.rules", source)])
    assert len(policy.rules) == 5000
