"""Deterministic `.rules` files for the benchmarks.

:func:`generate` writes ``count`` prefix rules spread over a fixed set of
programs, with the variety real policies have: alternatives, several
tokens, all three decisions, justifications, a few `canonical_matching`
rules, `host_executable` entries for some programs, some network rules and
a few `match` / `not_match` examples (which the loader checks, so they cost
time at load as they do in the reference). The output depends only on
``count``: no randomness, no clock, no environment.
"""

from __future__ import annotations

import json
from pathlib import Path

# Real programs first (some with host_executable entries), then synthetic
# ones, so that a policy of N rules has about N / len(PROGRAMS) rules per
# program: the index by program keeps lookups short, as in real policies.
REAL_PROGRAMS = (
    "git", "cargo", "npm", "pnpm", "yarn", "docker", "kubectl", "make", "go", "python3",
    "pip", "uv", "rustup", "gh", "terraform", "helm", "aws", "gcloud", "az", "bazel",
    "cmake", "ninja", "node", "deno", "bun", "rm", "cp", "mv", "chmod", "chown",
    "curl", "wget", "ssh", "scp", "rsync", "tar", "zip", "unzip", "sed", "awk",
    "find", "xargs", "sudo", "systemctl", "journalctl", "brew", "apt-get", "dnf", "pacman",
    "mvn",
)
SYNTHETIC_PROGRAMS = tuple(f"tool-{i:03d}" for i in range(150))
PROGRAMS = REAL_PROGRAMS + SYNTHETIC_PROGRAMS
# Programs restricted to known absolute paths (every 5th real program).
HOST_EXECUTABLES = REAL_PROGRAMS[::5]

_DECISIONS = ("allow", "prompt", "forbidden")


def _q(value: object) -> str:
    """A Starlark literal (JSON strings and lists are valid Starlark)."""
    return json.dumps(value)


def rule_tokens(i: int, programs: tuple[str, ...] = PROGRAMS) -> list[str | list[str]]:
    """The pattern of rule ``i`` (program first)."""
    program = programs[i % len(programs)]
    pattern: list[str | list[str]] = [program, f"sub{i}"]
    if i % 3 == 1:
        pattern.append([f"--flag{i}", f"-f{i}"])
    elif i % 3 == 2:
        pattern.append(["status", "show", "list", f"item{i}"])
    if i % 7 == 0:
        pattern.append(f"arg{i % 11}")
    return pattern


def generate(count: int, programs: tuple[str, ...] = PROGRAMS) -> str:
    """The text of a rules file with ``count`` prefix rules, spread over
    ``programs`` in turn."""
    lines = [
        f"# {count} generated rules (execguard benchmarks/rules.py); deterministic.",
        "",
    ]
    for name in HOST_EXECUTABLES:
        paths = [f"/usr/bin/{name}", f"/usr/local/bin/{name}", f"/opt/homebrew/bin/{name}"]
        lines.append(f"host_executable(name={_q(name)}, paths={_q(paths)})")
    for n in range(min(20, max(1, count // 500))):
        decision = ("allow", "deny", "prompt")[n % 3]
        lines.append(
            f"network_rule(host={_q(f'host{n}.example.com')}, protocol=\"https\", "
            f"decision={_q(decision)})"
        )
    lines.append("")
    for i in range(count):
        pattern = rule_tokens(i, programs)
        args = [f"pattern={_q(pattern)}", f"decision={_q(_DECISIONS[i % 3])}"]
        if i % 4 == 0:
            args.append(f"justification={_q(f'rule {i}: generated justification text')}")
        if i % 97 == 0:
            args.append("canonical_matching=True")
        if i % 500 == 0:
            example = [t if isinstance(t, str) else t[0] for t in pattern]
            args.append(f"match={_q([' '.join(example), [*example, 'extra']])}")
            args.append(f"not_match={_q([f'{pattern[0]} nothing-{i}'])}")
        lines.append(f"prefix_rule({', '.join(args)})")
    return "\n".join(lines) + "\n"


def write(directory: Path, count: int, programs: tuple[str, ...] = PROGRAMS,
          name: str | None = None) -> Path:
    path = directory / (name or f"rules-{count}.rules")
    path.write_text(generate(count, programs), encoding="utf-8")
    return path


# A command that matches rules in every generated policy with at least 12
# rules: rule 0 (``git sub0 arg0``) is the first `git` rule.
CHECK_COMMAND = ["git", "sub0", "arg0", "--verbose"]
# Rule 200 is also `git`: ``git sub200 [status|show|list|item200]``.
NO_MATCH_COMMAND = ["git", "sub201", "status"]
