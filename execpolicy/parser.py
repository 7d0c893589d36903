"""Evaluating `.rules` files (Starlark) into a :class:`Policy`.

One :class:`PolicyParser` accumulates several files in order, as the
reference does: rules and network rules add up, `host_executable` entries
replace earlier ones. Each file is all-or-nothing: if it fails (syntax,
a builtin's validation, an example check), nothing it defined is kept.

The builtins are Python callables. starlark-pyo3 hands them arguments after
converting Starlark values to Python ones, so parameter binding and type
checks are done here, with the interpreter's own wording.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import starlark

from .decision import Decision
from .error import PolicyError, PolicyParseError, PolicyReadError
from .limits import check_source_limits, run_on_large_stack
from .load import decode_rules_source
from .policy import Policy, normalize_lexically, resolution_can_match
from .render import debug_match, debug_rule, join_example, rust_debug_list, split_example
from .rule import (
    NetworkRule,
    PatternToken,
    PrefixRule,
    RuleMatch,
    validate_justification,
)

_REQUIRED = object()


def _dialect() -> starlark.Dialect:
    dialect = starlark.Dialect.extended()
    dialect.enable_f_strings = True
    return dialect


_DIALECT = _dialect()
_GLOBALS = starlark.Globals.standard()


# -- Starlark-flavoured binding -------------------------------------------------

_TYPE_NAMES: dict[type, str] = {
    str: "string", bool: "bool", int: "int", float: "float", list: "list", dict: "dict",
    type(None): "NoneType",
}
_EXPECTED_NAMES: dict[type, str] = {str: "str", bool: "bool", list: "list"}


def starlark_type(value: object) -> str:
    """The Starlark type name of a converted value."""
    return _TYPE_NAMES.get(type(value), type(value).__name__)


_REPR_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\", '"': '\\"'}


def _repr_char(c: str) -> str:
    # starlark-rust: controls, DEL..U+00FF and non-alphanumerics are escaped.
    code = ord(c)
    if c in _REPR_ESCAPES:
        return _REPR_ESCAPES[c]
    if 0x20 <= code < 0x7F or (code > 0xFF and c.isalnum()):
        return c
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def starlark_repr(value: object) -> str:
    if isinstance(value, str):
        return '"' + "".join(map(_repr_char, value)) + '"'
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(starlark_repr, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(
            f"{starlark_repr(k)}: {starlark_repr(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _truncate_repr(text: str) -> str:
    """Error messages shorten a repr longer than 60 characters to its first
    34 and last 17 bytes (whole characters only) around ``<<...>>``."""
    if len(text) <= 60:
        return text
    data = text.encode()
    head = data[:34].decode(errors="ignore")
    tail = data[-17:].decode(errors="ignore")
    return f"{head}<<...>>{tail}"


Param = tuple[str, type, object]


def _bind(function: str, params: Sequence[Param], args: tuple[Any, ...],
          kwargs: dict[str, Any]) -> list[Any]:
    # The interpreter's order: a repeated argument, too many positionals, a
    # missing parameter, unknown names; types are checked only after binding.
    values: dict[str, Any] = dict(zip((p[0] for p in params), args, strict=False))
    names = {p[0] for p in params}
    extra = []
    for key, value in kwargs.items():
        if key in values:
            raise PolicyError(f"Argument `{key}` occurs more than once")
        if key in names:
            values[key] = value
        else:
            extra.append(key)
    if len(args) > len(params):
        raise PolicyError(
            f"Found {len(args) - len(params)} extra positional argument(s) for call to {function}"
        )
    for name, _, default in params:
        if name not in values and default is _REQUIRED:
            raise PolicyError(f"Missing parameter `{name}` for call to `{function}`")
    if extra:
        listed = " ".join(f"`{k}`" for k in extra)
        raise PolicyError(f"Found {listed} extra named parameter(s) for call to {function}")
    bound = []
    for name, expected, default in params:
        if name not in values:
            bound.append(default)
            continue
        value = values[name]
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            raise PolicyError(
                f"Type of parameter `{name}` doesn't match, expected "
                f"`{_EXPECTED_NAMES[expected]}`, actual "
                f"`{starlark_type(value)} (repr: {_truncate_repr(starlark_repr(value))})`"
            )
        bound.append(value)
    return bound


# -- parsing the builtins' arguments ---------------------------------------------


def parse_pattern(pattern: list[Any]) -> tuple[list[str], tuple[PatternToken, ...]]:
    """Validate a `prefix_rule` pattern; returns the program alternatives and
    the remaining tokens."""
    tokens: list[tuple[str, ...]] = []
    for element in pattern:
        if isinstance(element, str):
            tokens.append((element,))
        elif isinstance(element, list):
            for alt in element:
                if not isinstance(alt, str):
                    raise PolicyError(
                        "invalid pattern element: pattern alternative must be a string "
                        f"(got {starlark_type(alt)})"
                    )
            if not element:
                raise PolicyError(
                    "invalid pattern element: pattern alternatives cannot be empty")
            tokens.append(tuple(element))
        else:
            raise PolicyError(
                "invalid pattern element: pattern element must be a string or list of "
                f"strings (got {starlark_type(element)})"
            )
    if not tokens:
        raise PolicyError("invalid pattern element: pattern cannot be empty")
    rest = tuple(t[0] if len(t) == 1 else t for t in tokens[1:])
    return list(tokens[0]), rest


def parse_example(example: Any) -> list[str]:
    """A `match`/`not_match` example: a shell-like string or a token list."""
    if isinstance(example, str):
        tokens = split_example(example)
        if tokens is None:
            raise PolicyError("invalid example: example string has invalid shell syntax")
        if not tokens:
            raise PolicyError("invalid example: example cannot be an empty string")
        return tokens
    if isinstance(example, list):
        for token in example:
            if not isinstance(token, str):
                raise PolicyError(
                    f"invalid example: example tokens must be strings (got {starlark_type(token)})"
                )
        if not example:
            raise PolicyError("invalid example: example cannot be an empty list")
        return list(example)
    raise PolicyError(
        "invalid example: example must be a string or list of strings "
        f"(got {starlark_type(example)})"
    )


def parse_host_executable(name: str, paths: list[Any]) -> tuple[str, ...]:
    """Validate a `host_executable` entry; returns its normalised paths."""
    if not name:
        raise PolicyError("invalid rule: host_executable name cannot be empty")
    if "/" in name or name in (".", ".."):
        raise PolicyError(
            f"invalid rule: host_executable name must be a bare executable name (got {name})")
    normalized: list[str] = []
    for path in paths:
        if not isinstance(path, str):
            raise PolicyError(
                f"invalid rule: host_executable paths must be strings (got {starlark_type(path)})")
        if not path.startswith("/"):
            raise PolicyError(f"invalid rule: host_executable paths must be absolute (got {path})")
        clean = normalize_lexically(path)
        if clean.rsplit("/", 1)[1] != name:
            raise PolicyError(
                f"invalid rule: host_executable path `{path}` must have basename `{name}`")
        normalized.append(clean)
    return tuple(dict.fromkeys(normalized))


# -- one file's staged definitions ------------------------------------------------


@dataclass
class _ExampleCheck:
    rules: list[PrefixRule]
    matches: list[list[str]]
    not_matches: list[list[str]]


@dataclass
class _FileDefinitions:
    rules: list[PrefixRule] = field(default_factory=list)
    host_executables: dict[str, tuple[str, ...]] = field(default_factory=dict)
    network_rules: list[NetworkRule] = field(default_factory=list)
    example_checks: list[_ExampleCheck] = field(default_factory=list)


class _BuiltinFailure(Exception):
    """Raised out of a builtin into Starlark; the interpreter names the class in
    its report, which the loader strips again to print the bare message."""


class PolicyParser:
    """Accumulates rules files, in order, into one :class:`Policy`."""

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy if policy is not None else Policy()
        # Set when an example was checked through host-executable resolution
        # of a relative or `~` program, which depends on the cwd and $HOME.
        self.depends_on_environment = False

    def parse_file(self, path: str | os.PathLike[str]) -> None:
        """Read and evaluate one rules file (``path`` is shown as given)."""
        shown = os.fspath(path)
        self.parse(shown, read_rules_file(shown))

    def parse(self, name: str, source: str) -> None:
        """Evaluate one rules file's text; ``name`` is used in error locations."""
        staged = _FileDefinitions()
        failure: list[_BuiltinFailure] = []
        module = starlark.Module()
        for builtin, function in self._builtins(staged).items():
            module.add_callable(builtin, _reporting(function, failure))
        check_source_limits(name, source)

        def evaluate() -> None:
            starlark.eval(module, starlark.parse(name, source, _DIALECT), _GLOBALS)

        try:
            run_on_large_stack(evaluate)
        except starlark.StarlarkError as error:
            detail = str(error)
            if failure:
                raised = failure[-1]
                detail = detail.replace(f"error: _BuiltinFailure: {raised}", f"error: {raised}", 1)
            raise PolicyParseError(name, detail) from None
        host_executables = {**self.policy.host_executables, **staged.host_executables}
        for check in staged.example_checks:
            try:
                self._check_examples(check, host_executables)
            except PolicyError as error:
                raise PolicyParseError(name, error.message, from_starlark=False) from None
        for rule in staged.rules:
            self.policy.add_rule(rule)
        self.policy.host_executables.update(staged.host_executables)
        self.policy.network_rules.extend(staged.network_rules)

    def _builtins(self, staged: _FileDefinitions) -> dict[str, Callable[..., None]]:
        def prefix_rule(*args: Any, **kwargs: Any) -> None:
            pattern, decision, match, not_match, justification, canonical = _bind(
                "prefix_rule", _PREFIX_RULE_PARAMS, args, kwargs)
            parsed_decision = Decision.parse(decision)
            validate_justification(justification)
            programs, rest = parse_pattern(pattern)
            matches = [parse_example(e) for e in match]
            not_matches = [parse_example(e) for e in not_match]
            rules = [PrefixRule(p, rest, parsed_decision, justification, canonical)
                     for p in programs]
            staged.rules.extend(rules)
            if matches or not_matches:
                staged.example_checks.append(_ExampleCheck(rules, matches, not_matches))

        def host_executable(*args: Any, **kwargs: Any) -> None:
            name, paths = _bind("host_executable", _HOST_EXECUTABLE_PARAMS, args, kwargs)
            staged.host_executables[name] = parse_host_executable(name, paths)

        def network_rule(*args: Any, **kwargs: Any) -> None:
            host, protocol, decision, justification = _bind(
                "network_rule", _NETWORK_RULE_PARAMS, args, kwargs)
            staged.network_rules.append(
                NetworkRule.parse(host, protocol, decision, justification))

        return {"prefix_rule": prefix_rule, "host_executable": host_executable,
                "network_rule": network_rule}

    def _check_examples(self, check: _ExampleCheck,
                        host_executables: dict[str, tuple[str, ...]]) -> None:
        # Each call is checked against its own rules only, with resolution on.
        scratch = Policy(host_executables=host_executables)
        for rule in check.rules:
            scratch.add_rule(rule)
        for example in check.not_matches:
            found = self._example_matches(scratch, example)
            if found:
                raise PolicyError(
                    f"expected example to not match rule `{debug_match(found[0])}`: "
                    f"{join_example(example)}"
                )
        unmatched = [e for e in check.matches if not self._example_matches(scratch, e)]
        if unmatched:
            rules = rust_debug_list(debug_rule(r) for r in check.rules)
            examples = rust_debug_list(join_example(e) for e in unmatched)
            raise PolicyError(
                "expected every example to match at least one rule. "
                f"rules: {rules}; unmatched examples: {examples}"
            )

    def _example_matches(self, scratch: Policy, example: list[str]) -> list[RuleMatch]:
        found = scratch.matches(example)
        if not found:
            # Absolute paths resolve the same everywhere; other programs that
            # resolution can match at all depend on the cwd or $HOME.
            if not example[0].startswith("/") and resolution_can_match(example[0]):
                self.depends_on_environment = True
            found = scratch.matches(example, resolve_host_executables=True)
        return found


_PREFIX_RULE_PARAMS: tuple[Param, ...] = (
    ("pattern", list, _REQUIRED),
    ("decision", str, "allow"),
    ("match", list, []),
    ("not_match", list, []),
    ("justification", str, None),
    ("canonical_matching", bool, False),
)
_HOST_EXECUTABLE_PARAMS: tuple[Param, ...] = (("name", str, _REQUIRED), ("paths", list, _REQUIRED))
_NETWORK_RULE_PARAMS: tuple[Param, ...] = (
    ("host", str, _REQUIRED),
    ("protocol", str, _REQUIRED),
    ("decision", str, _REQUIRED),
    ("justification", str, None),
)


def _reporting(function: Callable[..., None], failures: list[_BuiltinFailure]
               ) -> Callable[..., None]:
    def call(*args: Any, **kwargs: Any) -> None:
        try:
            function(*args, **kwargs)
        except PolicyError as error:
            failure = _BuiltinFailure(error.message)
            failures.append(failure)
            raise failure from None

    return call


def read_rules_file(path: str) -> str:
    """Read a rules file as strict UTF-8, with the reference's error causes."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise PolicyReadError(path, f"{error.strerror} (os error {error.errno})") from None
    return decode_rules_source(path, data)
