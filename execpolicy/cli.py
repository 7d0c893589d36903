"""`execguard execpolicy check`: the reference's CLI, same JSON and exit codes.

The argument grammar follows the reference's (clap): options first, then a
trailing command that takes everything after its first token verbatim, so
``check -r a.rules git --pretty`` checks ``git --pretty``.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .rule import RuleMatch

USAGE = "Usage: execguard execpolicy check --rules <PATH> <COMMAND>..."
HELP = """Check execpolicy files against a command

Usage: execguard execpolicy check [OPTIONS] --rules <PATH> <COMMAND>...

Arguments:
  <COMMAND>...
          Command tokens to check against the policy

Options:
  -r, --rules <PATH>
          Paths to execpolicy rule files to evaluate (repeatable)

      --pretty
          Pretty-print the JSON output

      --resolve-host-executables
          Resolve absolute program paths against basename rules, gated by any `host_executable()`
          definitions in the loaded policy files

  -c, --config <key=value>, --enable <FEATURE>, --disable <FEATURE>
          Accepted for compatibility with Codex; ignored

  -h, --help
          Print help
"""

_FLAGS = ("--pretty", "--resolve-host-executables")
_IGNORED_WITH_VALUE = {"-c": "--config <key=value>", "--config": "--config <key=value>",
                       "--enable": "--enable <FEATURE>", "--disable": "--disable <FEATURE>"}


class UsageError(Exception):
    def __init__(self, message: str, *, usage: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage


class CheckArgs:
    def __init__(self) -> None:
        self.rules: list[str] = []
        self.flags: set[str] = set()
        self.command: list[str] = []


def parse_check_args(argv: list[str]) -> CheckArgs | None:
    """Parse ``check``'s arguments; ``None`` means help was asked for."""
    args = CheckArgs()
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            args.command = argv[i + 1 :]
            break
        if token in ("-h", "--help"):
            return None
        if token in _FLAGS:
            if token in args.flags:
                raise UsageError(f"the argument '{token}' cannot be used multiple times")
            args.flags.add(token)
            i += 1
            continue
        flag, eq, value = token.partition("=")
        if eq and flag in _FLAGS:
            raise UsageError(
                f"unexpected value '{value}' for '{flag}' found; no more were expected")
        option, inline = _split_option(token)
        if option is not None:
            if inline is None:
                if i + 1 >= len(argv) or (argv[i + 1].startswith("-") and argv[i + 1] != "-"):
                    shown = "--rules <PATH>" if option == "-r" else _IGNORED_WITH_VALUE[option]
                    raise UsageError(
                        f"a value is required for '{shown}' but none was supplied", usage=False)
                inline = argv[i + 1]
                i += 1
            if option == "-r":
                args.rules.append(inline)
            i += 1
            continue
        args.command = argv[i:]
        break
    missing = []
    if not args.rules:
        missing.append("--rules <PATH>")
    if not args.command:
        missing.append("<COMMAND>...")
    if missing:
        raise UsageError("the following required arguments were not provided:\n"
                         + "".join(f"  {m}\n" for m in missing).rstrip("\n"))
    return args


def _split_option(token: str) -> tuple[str | None, str | None]:
    """Recognise ``-r X``/``-rX``/``-r=X``/``--rules[=X]`` and the ignored
    Codex options; returns the option's key and any inline value."""
    for long, key in (("--rules", "-r"), *((k, k) for k in _IGNORED_WITH_VALUE if k[1] == "-")):
        if token == long:
            return key, None
        if token.startswith(long + "="):
            return key, token[len(long) + 1 :]
    for short in ("-r", "-c"):
        if token == short:
            return short, None
        if token.startswith(short):
            return short, token[2:].removeprefix("=")
    return None, None


def render_result(matches: list[RuleMatch], pretty: bool) -> str:
    """The reference's output object: every match, then the strictest decision."""
    from .decision import strictest

    result: dict[str, object] = {"matchedRules": [m.to_json() for m in matches]}
    decision = strictest([m.decision for m in matches])
    if decision is not None:
        result["decision"] = decision.value
    if pretty:
        return json.dumps(result, ensure_ascii=False, indent=2)
    return json.dumps(result, ensure_ascii=False, separators=(",", ":"))


def check_main(argv: list[str], stdout: TextIO | None = None,
               stderr: TextIO | None = None) -> int:
    """Run ``execpolicy check``; returns the exit code."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    if any(_has_surrogate(a) for a in argv):
        err.write("error: invalid UTF-8 was detected in one or more arguments\n\n"
                  f"{USAGE}\n\nFor more information, try '--help'.\n")
        return 2
    try:
        args = parse_check_args(argv)
    except UsageError as error:
        usage = f"\n{USAGE}\n" if error.usage else ""
        err.write(f"error: {error.message}\n{usage}\nFor more information, try '--help'.\n")
        return 2
    if args is None:
        out.write(HELP)
        return 0

    from .error import PolicyParseError, PolicyReadError
    from .load import load_policy

    try:
        policy = load_policy(args.rules)
    except PolicyReadError as error:
        _write_error(err, f"failed to read policy at {error.path}", error.cause)
        return 1
    except PolicyParseError as error:
        detail = f"starlark error: {error.detail}" if error.from_starlark else error.detail
        _write_error(err, f"failed to parse policy at {error.path}", detail)
        return 1
    matches = policy.matches(
        args.command, resolve_host_executables="--resolve-host-executables" in args.flags)
    out.write(render_result(matches, "--pretty" in args.flags) + "\n")
    return 0


def _write_error(err: TextIO, context: str, cause: str) -> None:
    indented = "\n".join("    " + line for line in cause.split("\n"))
    err.write(f"Error: {context}\n\nCaused by:\n{indented}\n")


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
