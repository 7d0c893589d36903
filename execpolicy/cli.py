"""`execguard execpolicy check`: the reference's CLI, same JSON and exit codes.

The argument grammar follows the reference's (clap): options first, then a
trailing command that takes everything after its first token verbatim, so
``check -r a.rules git --pretty`` checks ``git --pretty``.
"""

from __future__ import annotations

import sys

# Not `typing.TYPE_CHECKING`: importing `typing` costs this short process more
# than its whole check.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

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

      --discover
          Also load the discovered rules, before any --rules files: the shipped default policy,
          the user's rules (~/.config/execguard/rules/*.rules) and, for a trusted project, every
          .execguard/rules/*.rules from the project root down to the current directory
          (`execguard execpolicy rules` lists them)

      --codex-home
          With --discover: also load an existing Codex home's rules ($CODEX_HOME/rules or
          ~/.codex/rules), before the user's

      --trust-project
          With --discover: load this project's rules even if it is not listed as trusted

  -c, --config <key=value>, --enable <FEATURE>, --disable <FEATURE>
          Accepted for compatibility with Codex; ignored

  -h, --help
          Print help
"""

# Discovery flags are execguard's own: with one of them, --rules is optional.
_DISCOVERY_FLAGS = frozenset(("--discover", "--codex-home", "--trust-project"))
_FLAGS = ("--pretty", "--resolve-host-executables", *sorted(_DISCOVERY_FLAGS))
# Options taking a value, as clap shows them in messages.
_OPTIONS = {"--rules": "--rules <PATH>", "--config": "--config <key=value>",
            "--enable": "--enable <FEATURE>", "--disable": "--disable <FEATURE>"}
_LONGS = frozenset((*_FLAGS, *_OPTIONS, "--help"))
_SHORTS = {"r": "--rules", "c": "--config", "h": "--help"}
_FULL_USAGE = "Usage: execguard execpolicy check [OPTIONS] --rules <PATH> <COMMAND>..."


class UsageError(Exception):
    def __init__(self, message: str, usage: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage


class CheckArgs:
    def __init__(self) -> None:
        self.rules: list[str] = []
        self.flags: set[str] = set()
        self.command: list[str] = []


def _usage(used: list[str]) -> str:
    """clap's usage line for an error: the required arguments, with the ones
    used so far (each once, in order of use) before the command."""
    shown = dict.fromkeys(_OPTIONS.get(u, u) for u in used if u != "--rules")
    return " ".join(("Usage: execguard execpolicy check --rules <PATH>", *shown, "<COMMAND>..."))


def _value_required(option: str) -> UsageError:
    return UsageError(f"a value is required for '{_OPTIONS[option]}' but none was supplied", None)


def _unexpected_value(flag: str, value: str, used: list[str]) -> UsageError:
    return UsageError(f"unexpected value '{value}' for '{flag}' found; no more were expected",
                      _usage([*used, flag]))


def _is_short_cluster(token: str) -> bool:
    """``-r``, ``-rc``, ``-hr``: every letter a known short option. clap takes
    any other ``-x...`` as (the start of) the command, since that accepts
    values starting with a hyphen; so ``-ra.rules`` is not ``-r a.rules``."""
    return (len(token) > 1 and token[0] == "-" and token[1] != "-"
            and all(c in _SHORTS for c in token[1:]))


def _option_value(argv: list[str], index: int, option: str, used: list[str]) -> str:
    """The separate value of ``option`` at ``argv[index]``: anything but an
    argument clap recognises (``--``, a known long option, a short cluster)."""
    if index >= len(argv) or argv[index] == "--" or _is_short_cluster(argv[index]):
        raise _value_required(option)
    value = argv[index]
    if value.startswith("--"):
        name, eq, inline = value.partition("=")
        if name in _FLAGS and eq:
            raise _unexpected_value(name, inline, used)
        if name in _LONGS:
            raise _value_required(option)
    return value


def parse_check_args(argv: list[str]) -> CheckArgs | None:
    """Parse ``check``'s arguments; ``None`` means help was asked for."""
    args = CheckArgs()
    used: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            args.command = argv[i + 1 :]
            break
        value: str | None
        if token.startswith("--") and token.partition("=")[0] in _LONGS:
            name, eq, inline = token.partition("=")
            value = inline if eq else None
        elif _is_short_cluster(token):
            name, value = _SHORTS[token[1]], token[2:] or None
        else:
            args.command = argv[i:]
            break
        if name == "--help":
            return None
        if name in _FLAGS:
            if value is not None:
                raise _unexpected_value(name, value, used)
            if name in args.flags:
                raise UsageError(f"the argument '{name}' cannot be used multiple times",
                                 _FULL_USAGE)
            args.flags.add(name)
        else:
            if value is None:
                i += 1
                value = _option_value(argv, i, name, used)
            if name == "--rules":
                if not value:  # clap's path parser rejects an empty value
                    raise _value_required(name)
                args.rules.append(value)
        used.append(name)
        i += 1
    missing = []
    if not args.rules and not args.flags & _DISCOVERY_FLAGS:
        missing.append("--rules <PATH>")
    if not args.command:
        missing.append("<COMMAND>...")
    if missing:
        raise UsageError("the following required arguments were not provided:\n"
                         + "\n".join(f"  {m}" for m in missing), _usage(used))
    return args


def render_result(matches: list[RuleMatch], pretty: bool) -> str:
    """The reference's output object: every match, then the strictest decision."""
    from .decision import strictest

    result: dict[str, object] = {"matchedRules": [m.to_json() for m in matches]}
    decision = strictest([m.decision for m in matches])
    if decision is not None:
        result["decision"] = decision.value
    return to_json(result, indent=2 if pretty else None)


# serde_json's string escapes (identical to `json.dumps(ensure_ascii=False)`):
# short forms where JSON has them, `\u00xx` for other controls, the rest raw.
_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in range(0x20)} | {
    ord('"'): '\\"', ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r",
    ord("\t"): "\\t", ord("\b"): "\\b", ord("\f"): "\\f",
}


def to_json(value: object, indent: int | None = None, level: int = 0) -> str:
    """JSON text of strings, lists and dicts, byte-identical to
    ``json.dumps(value, ensure_ascii=False)`` compact (``indent=None``) or
    pretty. Hand-written: importing `json` costs this process ~1.5 ms."""
    if isinstance(value, str):
        return '"' + value.translate(_JSON_ESCAPES) + '"'
    if isinstance(value, dict):
        items = [f"{to_json(k)}:{' ' if indent else ''}{to_json(v, indent, level + 1)}"
                 for k, v in value.items()]
        return _container("{", items, "}", indent, level)
    if isinstance(value, list):
        return _container("[", [to_json(v, indent, level + 1) for v in value], "]", indent, level)
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


def _container(open_: str, items: list[str], close: str, indent: int | None, level: int) -> str:
    if not items:
        return open_ + close
    if indent is None:
        return open_ + ",".join(items) + close
    inner = "\n" + " " * (indent * (level + 1))
    return open_ + inner + ("," + inner).join(items) + "\n" + " " * (indent * level) + close


def check_main(argv: list[str], stdout: TextIO | None = None,
               stderr: TextIO | None = None) -> int:
    """Run ``execpolicy check``; returns the exit code."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    from .render import has_lone_surrogate

    if any(has_lone_surrogate(a) for a in argv):
        err.write("error: invalid UTF-8 was detected in one or more arguments\n\n"
                  f"{USAGE}\n\nFor more information, try '--help'.\n")
        return 2
    try:
        args = parse_check_args(argv)
    except UsageError as error:
        usage = f"\n{error.usage}\n" if error.usage else ""
        err.write(f"error: {error.message}\n{usage}\nFor more information, try '--help'.\n")
        return 2
    if args is None:
        out.write(HELP)
        return 0

    from .error import PolicyError, PolicyParseError, PolicyReadError
    from .load import load_policy

    try:
        files = args.rules
        if args.flags & _DISCOVERY_FLAGS:
            files = [*_discovered_files(args.flags), *files]
        policy = load_policy(files)
    except PolicyReadError as error:
        _write_error(err, f"failed to read policy at {error.path}", error.cause)
        return 1
    except PolicyParseError as error:
        detail = f"starlark error: {error.detail}" if error.from_starlark else error.detail
        _write_error(err, f"failed to parse policy at {error.path}", detail)
        return 1
    except PolicyError as error:  # discovery could not list a rules directory
        err.write(f"Error: {error}\n")
        return 1
    matches = policy.matches(
        args.command, resolve_host_executables="--resolve-host-executables" in args.flags)
    out.write(render_result(matches, "--pretty" in args.flags) + "\n")
    return 0


def _discovered_files(flags: set[str]) -> list[str]:
    from .discovery import discovered_files

    return discovered_files(include_codex_home="--codex-home" in flags,
                            trust_project="--trust-project" in flags)


def rules_main(argv: list[str]) -> int:
    """``execguard execpolicy rules``: list the discovered rules files."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="execguard execpolicy rules",
        description="List the rules files `check --discover` loads, in load order.")
    parser.add_argument("--codex-home", action="store_true",
                        help="include an existing Codex home's rules")
    parser.add_argument("--trust-project", action="store_true",
                        help="include this project's rules even if it is not trusted")
    options = parser.parse_args(argv)

    from .discovery import discover_rule_files, is_trusted_project, project_root
    from .error import PolicyError

    try:
        layers = discover_rule_files(include_codex_home=options.codex_home,
                                     trust_project=options.trust_project)
        root = project_root()
        trusted = options.trust_project or is_trusted_project(root)
    except PolicyError as error:
        sys.stderr.write(f"Error: {error}\n")
        return 1
    for layer in layers:
        for path in layer.files:
            sys.stdout.write(f"{layer.kind}\t{path}\n")
    if not trusted:
        sys.stderr.write(f"note: project {root} is not trusted, its .execguard/rules are "
                         "not loaded (`execguard execpolicy trust` trusts it)\n")
    return 0


def trust_main(argv: list[str]) -> int:
    """``execguard execpolicy trust [DIR]``: trust a project's own rules."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="execguard execpolicy trust",
        description="Trust a project (default: the one containing the current directory), so "
                    "its .execguard/rules are loaded. Its rules can allow commands to run "
                    "outside the sandbox: trust only checkouts whose rules you have read.")
    parser.add_argument("directory", nargs="?", default=None)
    options = parser.parse_args(argv)

    from .discovery import project_root, trust_project, trusted_projects_file

    root = trust_project(project_root(options.directory))
    sys.stdout.write(f"trusted {root} (in {trusted_projects_file()})\n")
    return 0


def _write_error(err: TextIO, context: str, cause: str) -> None:
    indented = "\n".join("    " + line for line in cause.split("\n"))
    err.write(f"Error: {context}\n\nCaused by:\n{indented}\n")

