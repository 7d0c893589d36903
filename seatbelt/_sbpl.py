"""A reader and a checker for the SBPL this package writes (private: tests
and debugging). No Scheme: only the subset our profiles use.

:func:`parse` reads forms: lists, symbols, integers, strings (``"…"``
with ``\\"`` and ``\\\\`` escapes) and regex literals (``#"…"``), and
``;`` comments. A regex literal is read raw up to the next quote; one that
would read differently under a reader that folds backslash pairs (it holds
``\\\\`` or ends with a backslash) is refused as ambiguous, so anything
that parses here means the same to Seatbelt whichever way it reads ``#"``.

:func:`check_profile` accepts only ``(version 1)`` first, ``(deny
default)``, and ``(allow|deny OPERATION… FILTER…)`` with operations and
filters from :data:`OPERATIONS` and :data:`FILTERS`, and returns the
parameter names the profile refers to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "FILTERS",
    "OPERATIONS",
    "SYMBOLS",
    "Regex",
    "SbplError",
    "String",
    "Symbol",
    "check_profile",
    "parse",
]


class SbplError(ValueError):
    """Not well-formed, or a form outside the known subset."""


@dataclass(frozen=True)
class Symbol:
    name: str


@dataclass(frozen=True)
class String:
    value: str


@dataclass(frozen=True)
class Regex:
    source: str


Node: TypeAlias = "Symbol | String | Regex | int | tuple[Node, ...]"

OPERATIONS = frozenset({
    "default",
    "file-read*", "file-write*", "file-write-data", "file-write-unlink", "file-ioctl",
    "process-exec", "process-fork", "signal", "process-info*",
    "sysctl-read", "sysctl-write", "mach-lookup", "iokit-open",
    "ipc-posix-sem", "ipc-posix-shm-read-data", "ipc-posix-shm-write-create",
    "ipc-posix-shm-write-unlink", "ipc-posix-shm-read*",
    "pseudo-tty", "user-preference-read",
    "network-outbound", "network-inbound", "network-bind", "system-socket",
})
FILTERS = frozenset({
    "subpath", "literal", "path", "regex", "param",
    "require-all", "require-any", "require-not",
    "remote", "local", "socket-domain", "socket-protocol",
    "sysctl-name", "sysctl-name-prefix", "global-name", "local-name",
    "ipc-posix-name-regex", "ipc-posix-name-prefix", "iokit-registry-entry-class",
    "vnode-type", "target", "with", "extension",
})
# Bare symbols a filter may take as an argument.
SYMBOLS = frozenset({"same-sandbox", "no-sandbox", "AF_UNIX", "AF_SYSTEM",
                     "CHARACTER-DEVICE", "DIRECTORY", "ip", "unix-socket"})
_DELIMITERS = frozenset(' \t\n\r\f\v();"')
_STRING_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}


def _string(text: str, start: int) -> tuple[String, int]:
    chars: list[str] = []
    index = start
    while index < len(text):
        char = text[index]
        if char == '"':
            return String("".join(chars)), index + 1
        if char == "\\":
            escaped = _STRING_ESCAPES.get(text[index + 1:index + 2])
            if escaped is None:
                raise SbplError(f"unknown string escape at offset {index}")
            chars.append(escaped)
            index += 2
            continue
        chars.append(char)
        index += 1
    raise SbplError(f"unterminated string starting at offset {start - 1}")


def _regex(text: str, start: int) -> tuple[Regex, int]:
    end = text.find('"', start)
    if end < 0:
        raise SbplError(f"unterminated regex literal starting at offset {start - 2}")
    source = text[start:end]
    if "\\\\" in source or source.endswith("\\"):
        raise SbplError(f"ambiguous regex literal #\"{source}\" (a backslash pair, or a "
                        "backslash before the closing quote)")
    return Regex(source), end + 1


def parse(text: str) -> list[Node]:
    """The top-level forms of ``text``."""
    stack: list[list[Node]] = [[]]
    index = 0
    while index < len(text):
        char = text[index]
        if char in " \t\n\r\f\v":
            index += 1
        elif char == ";":
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline + 1
        elif char == "(":
            stack.append([])
            index += 1
        elif char == ")":
            if len(stack) == 1:
                raise SbplError(f"unbalanced ')' at offset {index}")
            done = tuple(stack.pop())
            stack[-1].append(done)
            index += 1
        elif char == '"':
            node, index = _string(text, index + 1)
            stack[-1].append(node)
        elif text.startswith('#"', index):
            regex, index = _regex(text, index + 2)
            stack[-1].append(regex)
        else:
            end = index
            while end < len(text) and text[end] not in _DELIMITERS:
                end += 1
            atom = text[index:end]
            if atom.startswith("#"):
                raise SbplError(f"unsupported reader syntax {atom!r} at offset {index}")
            stack[-1].append(int(atom) if atom.lstrip("-").isdigit() else Symbol(atom))
            index = end
    if len(stack) != 1:
        raise SbplError("unbalanced '(': the text ends inside a form")
    return stack[0]


def _check_filter(node: Node, params: set[str]) -> None:
    if not isinstance(node, tuple) or not node or not isinstance(node[0], Symbol):
        raise SbplError(f"expected a filter, got {node!r}")
    head = node[0].name
    if head not in FILTERS:
        raise SbplError(f"unknown filter {head!r}")
    if head == "param":
        if len(node) != 2 or not isinstance(node[1], String):
            raise SbplError(f"(param ...) takes one string: {node!r}")
        params.add(node[1].value)
        return
    for argument in node[1:]:
        if isinstance(argument, tuple):
            _check_filter(argument, params)
        elif isinstance(argument, Symbol):
            if argument.name not in SYMBOLS:
                raise SbplError(f"unknown symbol {argument.name!r} in ({head} ...)")
        elif not isinstance(argument, String | Regex | int):
            raise SbplError(f"unexpected {argument!r} in ({head} ...)")


def check_profile(forms: list[Node]) -> set[str]:
    """Check every form (see the module docstring); the parameters used."""
    if not forms or forms[0] != (Symbol("version"), 1):
        raise SbplError("a profile starts with (version 1)")
    params: set[str] = set()
    for form in forms[1:]:
        if not isinstance(form, tuple) or not form or not isinstance(form[0], Symbol):
            raise SbplError(f"expected a rule, got {form!r}")
        action = form[0].name
        if action not in ("allow", "deny"):
            raise SbplError(f"unknown top-level form {action!r}")
        operations = []
        rest = list(form[1:])
        while rest and isinstance(rest[0], Symbol):
            operations.append(rest.pop(0).name)  # type: ignore[union-attr]
        if not operations:
            raise SbplError(f"a rule without an operation: {form!r}")
        for operation in operations:
            if operation not in OPERATIONS:
                raise SbplError(f"unknown operation {operation!r}")
        if "default" in operations and (form != (Symbol("deny"), Symbol("default"))):
            raise SbplError(f"only (deny default) may name the default: {form!r}")
        for node in rest:
            _check_filter(node, params)
    return params
