"""Replay the reference's `execpolicy check` outputs (tests/reference/fixtures.json)
against our CLI.

Exit code and stdout must be identical. stderr must be identical too, except
where the text comes from a component we cannot be byte-identical with; the
normaliser below states each exception. Every message owned by execpolicy
(spec §7, example-check failures, read errors) is compared byte for byte.

Cases with a documented divergence (tests/reference/cases.py) assert our
documented output instead, and that the reference's still differs from it.

Regenerate the fixtures with `python -m tests.reference.capture` (needs the
reference binary; this test does not).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from execguard.execpolicy.cli import check_main
from tests.reference.capture import FIXTURES, decode_file, encode_file, materialise
from tests.reference.cases import CASES

REFERENCE: dict[str, Any] = json.loads(FIXTURES.read_text(encoding="utf-8"))
CASES_BY_NAME = {case.name: case for case in CASES}

# (1) Parse errors are worded by the Starlark parser (lalrpop). The reference
# embeds a newer starlark-rust that says `unexpected new line, expected symbol
# ')'`; ours says `unexpected new line here, expected one of ")" or ","`. Both
# name the unexpected token first and the location line (`--> file:l:c`) and
# code frame that follow are compared exactly, so only the text up to the
# first `, expected` (minus our trailing ` here`) is compared.
_PARSE_ERROR = re.compile(
    r"^(?P<head>    starlark error: error: Parse error: unexpected .*?)(?: here)?, expected .*$",
    re.M)
# (2) clap usage lines name the binary: `codex execpolicy check` there,
# `execguard execpolicy check` here.
_USAGE_PROGRAM = re.compile(r"^Usage: codex execpolicy check", re.M)
# (3) After `unexpected value '<v>' for '<flag>'`, clap's usage line renders
# the arguments used so far through its argument-group logic (sometimes as
# `<--rules <PATH>|--pretty|...>`); we print the required arguments plus the
# ones used, in order. The error line itself is compared exactly.
_UNEXPECTED_VALUE_USAGE = re.compile(
    r"^(?P<error>error: unexpected value .*\n\n)Usage: .*$", re.M)


def normalise_stderr(text: str) -> str:
    text = _PARSE_ERROR.sub(r"\g<head>, expected <parser-specific>", text)
    text = _USAGE_PROGRAM.sub("Usage: execguard execpolicy check", text)
    return _UNEXPECTED_VALUE_USAGE.sub(r"\g<error>Usage: <clap-specific>", text)


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = check_main(argv, out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("fixture", REFERENCE["cases"], ids=lambda f: f["name"])
def test_replay(fixture: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    materialise({n: decode_file(f) for n, f in fixture["files"].items()}, tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EXECGUARD_POLICY_CACHE", "0")
    code, out, err = run(fixture["argv"])
    expected = (fixture["exit_code"], fixture["stdout"], fixture["stderr"])

    divergence = CASES_BY_NAME[fixture["name"]].divergence
    if divergence is not None:
        assert (code, out, err) == (divergence.exit_code, divergence.stdout, divergence.stderr)
        assert (code, out, err) != expected, "divergence is gone: drop it from cases.py"
        return

    assert code == fixture["exit_code"]
    assert out == fixture["stdout"]
    assert normalise_stderr(err) == normalise_stderr(fixture["stderr"])


def test_fixtures_are_in_sync_with_cases() -> None:
    """fixtures.json was captured from the current cases.py (re-capture otherwise)."""
    captured = [(f["name"], f["files"], f["argv"]) for f in REFERENCE["cases"]]
    defined = [(c.name, {n: encode_file(v) for n, v in c.files.items()}, c.argv)
               for c in CASES]
    assert captured == defined
    assert REFERENCE["reference"] == "codex-cli 0.169.0"


def test_suite_size() -> None:
    errors = [f for f in REFERENCE["cases"] if f["exit_code"] != 0]
    assert len(REFERENCE["cases"]) >= 200
    assert len(errors) >= 80


def test_normaliser_keeps_execpolicy_messages() -> None:
    """The normaliser only touches parser wording and clap usage lines."""
    ours = ("    starlark error: error: Parse error: unexpected new line here, "
            'expected one of ")" or ","\n')
    theirs = "    starlark error: error: Parse error: unexpected new line, expected symbol ')'\n"
    assert normalise_stderr(ours) == normalise_stderr(theirs)
    assert normalise_stderr("    starlark error: error: Parse error: unexpected symbol ')'"
                            ", expected new line\n") != normalise_stderr(theirs)
    for message in ("    error: invalid decision: deny, expected allow\n",
                    "    error: Parse error: cannot use reserved keyword `while`\n",
                    "Usage: execguard execpolicy check --rules <PATH> <COMMAND>...\n"):
        assert normalise_stderr(message) == message
